"""A loopback stand-in for Microsoft Defender for Endpoint's API and the Entra ID token endpoint.

What it serves, as the real services do (facts: ../shared/reference/signal-sources.md §3 and the
MicrosoftDocs/defender-docs pages get-alerts.md, get-machines.md, common-errors.md,
exposed-apis-odata-samples.md; payloads in tests/fixtures/defender/):

* ``POST /{tenant}/oauth2/v2.0/token`` (form ``grant_type=client_credentials``, ``client_id``,
  ``client_secret``, ``scope``) → ``{"token_type": "Bearer", "expires_in", "access_token"}``; a
  wrong secret → 401 ``{"error": "invalid_client", "error_description": "AADSTS7000215: …"}``.
* ``GET /api/alerts`` and ``GET /api/machines`` with ``Authorization: Bearer``: ``$filter`` (the
  ``lastUpdateTime ge <time>`` form for alerts), ``$top`` ≤ 10,000, ``$skip``, ``$expand=evidence``
  (without it, alerts come without ``evidence``); the reply is ``{"@odata.context", "value"}``
  plus ``@odata.nextLink`` while more remain (``links=False`` leaves it out: paging by ``$skip``).
* ``GET /api/incidents`` (Defender XDR's "List incidents": the same ``$filter``, ``$top`` ≤ 100,
  ``$skip``, ``@odata.nextLink``) with a token for its own audience, ``XDR_SCOPE``: a token for
  the Defender for Endpoint API is refused with 401 there, and the other way round.
* Errors in the documented ``{"error": {"code", "message", "target"}}`` shape: 401 for a missing
  or unknown token, 400 ``ODataError`` for a ``$filter`` it does not understand; queued replies
  (:class:`Scripted`) play 429 with ``Retry-After``, 5xx or a proxy's HTML page.
"""

from __future__ import annotations

import copy
import json
import secrets
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from standins._server import Loopback, Scripted, StandInHandler, add_numbered, moment

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "defender"
TENANT = "a839b112-1253-6432-9bf6-94542403f21c"
CLIENT_ID = "5f0e1c3a-0000-4000-8000-00000000c1e7"
CLIENT_SECRET = "Zq8~Defender-standin.secret_0123456789abcdefXYZ"
SCOPE = "https://api.securitycenter.microsoft.com/.default"
XDR_SCOPE = "https://api.security.microsoft.com/.default"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def numbered_alert(n: int, updated: datetime) -> dict[str, Any]:
    """The real docs alert with its own id, machine and update time (for paging)."""
    alert: dict[str, Any] = copy.deepcopy(
        fixture("alerts.list-expand-evidence.docs.json")["value"][0]
    )
    alert["id"] = f"da{637472900382838869 + n}_{1364969609 + n}"
    alert["incidentId"] = 1126093 + n
    alert["machineId"] = f"{n:040x}"
    alert["computerDnsName"] = f"host{n % 50}.middleeast.corp.microsoft.com"
    alert["lastUpdateTime"] = updated.isoformat().replace("+00:00", "Z")
    return alert


def numbered_machine(n: int) -> dict[str, Any]:
    machine: dict[str, Any] = copy.deepcopy(fixture("machines.odata-samples.docs.json")["value"][0])
    machine["id"] = f"{n:040x}"
    machine["computerDnsName"] = f"host{n % 50}.middleeast.corp.microsoft.com"
    machine["lastIpAddress"] = f"10.166.{n // 250}.{n % 250 + 1}"
    machine["ipAddresses"][0]["ipAddress"] = machine["lastIpAddress"]
    # Each its own adapter: a shared MAC would make every numbered machine one identity.
    mac = f"8CEC4B{n:06X}"
    for address in machine["ipAddresses"]:
        address["macAddress"] = mac
    return machine


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "target": str(uuid.uuid4())}}


def numbered_incident(n: int, updated: datetime, device: str | None = None) -> dict[str, Any]:
    """The docs' Mimikatz incident with its own id, device and update time."""
    incident: dict[str, Any] = copy.deepcopy(fixture("incidents.list.docs.json")["value"][1])
    incident["incidentId"] = 924600 + n
    incident["lastUpdateTime"] = updated.isoformat().replace("+00:00", "Z")
    for alert in incident["alerts"]:
        alert["incidentId"] = incident["incidentId"]
        for found in alert["devices"]:
            found["deviceDnsName"] = device or f"host{n % 50}.middleeast.corp.microsoft.com"
    return incident


@dataclass
class DefenderState:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    machines: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    xdr_tokens: set[str] = field(default_factory=set)  # tokens for the incidents API
    client_secret: str = CLIENT_SECRET
    links: bool = True
    expires_in: int = 3599
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    scripted: Scripted = field(default_factory=Scripted)
    clock: datetime = field(default_factory=lambda: datetime(2025, 6, 1, tzinfo=UTC))

    def add_incidents(self, count: int, device: str | None = None) -> list[dict[str, Any]]:
        """``count`` incidents, each updated a second after the newest one held."""
        first = len(self.incidents)
        self.clock = add_numbered(
            self.incidents, count, self.clock, lambda n, t: numbered_incident(n, t, device)
        )
        return self.incidents[first:]

    def add_alerts(self, count: int) -> list[dict[str, Any]]:
        """``count`` alerts, each updated a second after the newest one held."""
        first = len(self.alerts)
        self.clock = add_numbered(self.alerts, count, self.clock, numbered_alert)
        return self.alerts[first:]


class DefenderHandler(StandInHandler):
    state: ClassVar[DefenderState]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.record()
        if self.path_only.endswith("/oauth2/v2.0/token"):
            self._token(self.form_body())
        else:
            self.send_json(404, _error("NotFound", "General Not Found error message."))

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.record()
        auth = self.headers.get("Authorization", "")
        held = self.state.xdr_tokens if self.path_only == "/api/incidents" else self.state.tokens
        if not auth.startswith("Bearer ") or auth[7:] not in held:
            self.send_json(401, _error("Unauthorized", "Unauthorized"))
            return
        if self.play_queued():
            return
        if self.path_only == "/api/incidents":
            self._collection("Incidents", self.state.incidents)
        elif self.path_only == "/api/alerts":
            self._collection("Alerts", self.state.alerts)
        elif self.path_only == "/api/machines":
            self._collection("Machines", self.state.machines)
        else:
            self.send_json(
                404, _error("ResourceNotFound", f"Resource {self.path_only} wasn't found")
            )

    def _token(self, form: dict[str, str]) -> None:
        self.state.token_requests += 1
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != self.state.client_secret
            or form.get("scope") not in (SCOPE, XDR_SCOPE)
        ):
            self.send_json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure "
                    "the secret being sent in the request is the client secret value, not the "
                    "client secret ID, for a secret added to app '" + CLIENT_ID + "'.",
                    "error_codes": [7000215],
                },
            )
            return
        token = secrets.token_urlsafe(24)
        (self.state.xdr_tokens if form["scope"] == XDR_SCOPE else self.state.tokens).add(token)
        body = {"token_type": "Bearer", "expires_in": self.state.expires_in, "access_token": token}
        self.send_json(200, {**body, "ext_expires_in": self.state.expires_in})

    def _collection(self, kind: str, items: list[dict[str, Any]]) -> None:
        query = self.query
        selected = items
        flt = query.get("$filter")
        if flt is not None:
            field_name, op, value = [*flt.split(" ", 2), "", ""][:3]
            if kind == "Machines" or field_name != "lastUpdateTime" or op != "ge":
                self.send_json(400, _error("ODataError", f"Invalid OData URI query: {flt}"))
                return
            since = datetime.fromisoformat(value.replace("Z", "+00:00"))
            selected = [i for i in items if _updated(i) >= since]
        most = 100 if kind == "Incidents" else 10000
        top, skip = int(query.get("$top", most)), int(query.get("$skip", 0))
        if top > most:
            self.send_json(
                400, _error("ODataError", f"Invalid OData URI query: $top max is {most}")
            )
            return
        page = [copy.deepcopy(i) for i in selected[skip : skip + top]]
        if kind == "Alerts" and query.get("$expand") != "evidence":
            for alert in page:
                alert.pop("evidence", None)
        host = self.headers.get("Host", "127.0.0.1")
        body: dict[str, Any] = {
            "@odata.context": f"http://{host}/api/$metadata#{kind}",
            "value": page,
        }
        if self.state.links and skip + top < len(selected):
            following = {**query, "$skip": str(skip + top)}
            body["@odata.nextLink"] = (
                f"http://{host}{self.path_only}?{urllib.parse.urlencode(following)}"
            )
        self.send_json(200, body)


def _updated(alert: dict[str, Any]) -> datetime:
    return moment(alert.get("lastUpdateTime"))


def serve(state: DefenderState) -> Loopback:
    return Loopback(DefenderHandler, state)
