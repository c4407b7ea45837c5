"""The Kubernetes API, read as raw JSON: paginated list and streamed watch, with named errors.

lightkube supplies what is hard to get right (kubeconfig contexts, in-cluster service accounts,
exec credential plugins, client certificates, CA bundles) and its HTTP client; objects stay raw
dicts so that one malformed object is skipped alone (see ``objects``).

Wire format: https://kubernetes.io/docs/reference/using-api/api-concepts/ — ``?limit=&continue=``
pagination, ``?watch=1&resourceVersion=`` streams of ``{"type", "object"}`` lines, ``410 Gone``
(or a watch ``ERROR`` event with code 410) when the version is too old to resume from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import msgspec
from lightkube.config import client_adapter
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from clearance.errors import ConfigError, KubeApiError, KubeFailure
from clearance.http_client import KUBERNETES_TIMEOUT, WATCH_GRACE
from clearance.inventory.kubernetes.wire import decode_page

CONNECTED = "CONNECTED"  # pseudo event: a watch stream was opened


_TIPS = {
    KubeFailure.UNAUTHORIZED: "the credential was rejected (expired or revoked?); refresh the "
    "kubeconfig or the service account token",
    KubeFailure.FORBIDDEN: "RBAC forbids it; grant get/list/watch on it to Clearance's identity",
}


def load_config(
    inventory: str, cluster: str, *, kubeconfig: Path | None, context: str | None, in_cluster: bool
) -> SingleConfig:
    """The connection settings of one cluster: a kubeconfig context or the pod's service account."""
    try:
        if in_cluster:
            config = KubeConfig.from_service_account().get()
        else:
            path = kubeconfig or Path("~/.kube/config")
            config = KubeConfig.from_file(path).get(context_name=context or cluster)
    except (LightkubeConfigError, KeyError, OSError) as exc:
        # A missing kubeconfig or context is a mistake in the configuration, not a failing
        # cluster: it is reported (and exits) as one.
        raise ConfigError(
            f"inventory {inventory!r}: cluster {cluster!r}: cannot load config: {exc}",
            tip="check kubeconfig, context and in_cluster in the inventory settings "
            "(docs/inventory.md)",
        ) from exc
    if config is None:  # pragma: no cover - get() without a default never returns None
        raise KubeApiError(inventory, cluster, KubeFailure.CONFIG, "no context")
    return config


class KubeApi:
    """Raw list and watch against one cluster. ``close()`` also interrupts a running watch."""

    def __init__(self, inventory: str, cluster: str, client: httpx2.Client) -> None:
        self.inventory = inventory
        self.cluster = cluster
        self._client = client
        self.closed = False

    @classmethod
    def connect(
        cls, inventory: str, cluster: str, config: SingleConfig, *, timeout: float
    ) -> KubeApi:
        try:
            params = ConnectionParams(timeout=httpx2.Timeout(timeout), trust_env=False)
            return cls(inventory, cluster, client_adapter.Client(config, params))
        except (LightkubeConfigError, OSError, ValueError) as exc:
            raise KubeApiError(
                inventory, cluster, KubeFailure.CONFIG, f"cannot connect: {exc}"
            ) from exc

    def close(self) -> None:
        self.closed = True
        self._client.close()

    def release(self) -> None:
        """Close what a request racing :meth:`close` left behind: a connection it opened after
        the pool was closed goes back into that pool when its response ends, and would be freed
        unclosed. A reflector calls this as its thread ends, once nothing of it is in flight."""
        if self.closed:
            self._client._transport.close()

    def _drop_if_closed(self, response: httpx2.Response) -> None:
        """Close the connection of a response that raced :meth:`close`: one still connecting
        when the pool was emptied is tracked by no pool afterwards, so neither the pool's close
        nor :meth:`release` would ever close it."""
        if self.closed:
            stream = response.extensions.get("network_stream")
            if stream is not None:
                stream.close()

    @contextmanager
    def _dropped_if_closed(self, response: httpx2.Response) -> Iterator[None]:
        try:
            yield
        finally:
            self._drop_if_closed(response)

    def _error(self, failure: KubeFailure, what: str, detail: str) -> KubeApiError:
        tip = _TIPS.get(failure)
        return KubeApiError(
            self.inventory,
            self.cluster,
            failure,
            f"{what}: {detail}" + (f" ({tip})" if tip else ""),
        )

    def _status_error(self, response: httpx2.Response, what: str) -> KubeApiError:
        try:
            body = msgspec.json.decode(response.read())
            message = body.get("message") if isinstance(body, dict) else None
        except (msgspec.DecodeError, httpx2.HTTPError):
            message = None
        detail = f"HTTP {response.status_code}" + (f" {message}" if message else "")
        failure = {
            401: KubeFailure.UNAUTHORIZED,
            403: KubeFailure.FORBIDDEN,
            404: KubeFailure.NOT_FOUND,
            410: KubeFailure.GONE,
        }.get(response.status_code, KubeFailure.BAD_RESPONSE)
        return self._error(failure, what, detail)

    def _transport_error(self, exc: Exception, what: str) -> KubeApiError:
        if isinstance(exc, RuntimeError):  # httpx refuses to send on a closed client
            return self._error(KubeFailure.UNREACHABLE, what, "client closed")
        if isinstance(exc, LightkubeConfigError):
            # An exec credential plugin failed (expired SSO session, missing binary).
            return self._error(KubeFailure.UNAUTHORIZED, what, f"credential plugin failed: {exc}")
        return self._error(KubeFailure.UNREACHABLE, what, f"{type(exc).__name__}: {exc}")

    def list_pages(
        self, path: str, *, kind: str = "", limit: int = 500
    ) -> Iterator[tuple[list[Any], str]]:
        """Pages of items at ``path`` (following ``continue``), each with the list's version.

        Pages rather than one list: the caller parses each into slim records and drops the raw
        JSON before the next arrives, so a 100,000-pod list never sits in memory whole.
        """
        what = f"list {path}"
        params: dict[str, str | int] = {"limit": limit}
        while True:
            try:
                response = self._client.get(path, params=params)
            except (httpx2.HTTPError, LightkubeConfigError, OSError, RuntimeError) as exc:
                if isinstance(exc, RuntimeError) and not self.closed:
                    raise
                raise self._transport_error(exc, what) from exc
            try:
                if response.status_code != 200:
                    raise self._status_error(response, what)
                page, version, token = decode_page(kind, response.content)
            except (msgspec.DecodeError, KeyError, TypeError, AttributeError) as exc:
                raise self._error(KubeFailure.BAD_RESPONSE, what, "not a Kubernetes list") from exc
            finally:
                self._drop_if_closed(response)
            yield page, version
            if not token:
                return
            params["continue"] = token

    def watch(
        self, path: str, resource_version: str, *, timeout_seconds: int
    ) -> Iterator[tuple[str, Any]]:
        """Stream ``(type, object)`` events from ``resource_version`` until the server ends it.

        The first event is ``(CONNECTED, {})`` once the server accepted the watch.
        Raises :class:`KubeApiError` with ``KubeFailure.GONE`` when the version expired (HTTP 410 or
        an ``ERROR`` event with code 410), so the caller re-lists.
        """
        what = f"watch {path}"
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        timeout = httpx2.Timeout(KUBERNETES_TIMEOUT, read=timeout_seconds + WATCH_GRACE)
        try:
            with (
                self._client.stream("GET", path, params=params, timeout=timeout) as response,
                self._dropped_if_closed(response),
            ):
                if response.status_code != 200:
                    raise self._status_error(response, what)
                # The stream is open: the cache is current as of now, even if nothing changes.
                yield CONNECTED, {}
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    try:
                        event = msgspec.json.decode(line)
                        kind, obj = event["type"], event["object"]
                    except (msgspec.DecodeError, KeyError, TypeError) as exc:
                        raise self._error(
                            KubeFailure.BAD_RESPONSE, what, "bad watch event"
                        ) from exc
                    if kind == "ERROR":
                        code = obj.get("code") if isinstance(obj, dict) else None
                        failure = KubeFailure.GONE if code == 410 else KubeFailure.BAD_RESPONSE
                        message = obj.get("message") if isinstance(obj, dict) else obj
                        raise self._error(failure, what, f"HTTP {code} {message}")
                    yield kind, obj
        except (httpx2.HTTPError, LightkubeConfigError, OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not self.closed:
                raise
            raise self._transport_error(exc, what) from exc
