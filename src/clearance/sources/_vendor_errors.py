"""A vendor's own words about a failed request, read from the error shapes the REST sources speak:
Microsoft/OData ``{"error": {"code", "message"}}``, OpenSearch ``{"error": {"type", "reason"}}``,
SentinelOne ``{"errors": [{"title", "detail"}]}``, an OAuth 2.0 ``error_description``; an HTML
page means a proxy or gateway answered instead of the API."""

from __future__ import annotations

from typing import Any

import httpx

from clearance.sources._mapping import parse_json

__all__ = ["is_html", "vendor_message"]

_MESSAGE_LIMIT = 200


def is_html(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "").lower()
    return "html" in ctype or response.content.lstrip()[:1] == b"<"


def vendor_message(response: httpx.Response) -> str:
    """The vendor's own words about the failure, short and on one line."""
    if is_html(response):
        return "an HTML page answered (a proxy or gateway, not the API)"
    try:
        body = parse_json(response.content)
    except ValueError:
        text = response.text.strip()
        return _short(text) if text else ""
    return _short(_message_in(body))


def _message_in(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # Microsoft / OData, OpenSearch
            for key in ("message", "reason"):
                if isinstance(error.get(key), str):
                    code = error.get("code") or error.get("type")
                    return f"{code}: {error[key]}" if isinstance(code, str) else error[key]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # SentinelOne
            first = errors[0]
            parts = [str(first[k]) for k in ("title", "detail") if first.get(k)]
            return " - ".join(parts)
        if isinstance(body.get("error_description"), str):  # OAuth 2.0 token endpoint
            return str(body["error_description"]).splitlines()[0]
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"
