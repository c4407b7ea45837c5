"""A stand-in Kubernetes API server on loopback, speaking the real wire format.

What it serves (https://kubernetes.io/docs/reference/using-api/api-concepts/):

* cluster-wide and namespaced lists (``/api/v1/pods``, ``/api/v1/namespaces/{ns}/pods``,
  ``/apis/apps/v1/deployments`` …) with ``limit``/``continue`` pagination and the list's
  ``metadata.resourceVersion``;
* watches (``?watch=1&resourceVersion=N``): a chunked stream of ``{"type", "object"}`` lines,
  bookmarks on request, ended by ``timeoutSeconds``; a version older than the compaction point is
  answered, as the real server does, with HTTP 200 and an ``ERROR`` event carrying a 410 Status;
  an expired ``continue`` token gets HTTP 410;
* bearer-token authentication (401 Status for an unknown or revoked token) and RBAC (403 Status
  naming the resource, per resource kind);
* Argo Rollouts only when its CRD is "installed" (404 otherwise).

Reached through a generated kubeconfig (:meth:`KubeApiServer.write_kubeconfig`), so the code under
test goes through its real configuration path.
"""

from __future__ import annotations

import base64
import itertools
import ssl
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

# plural -> (group/version path prefix, List kind, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "nodes": ("/api/v1", "NodeList", False),
    "pods": ("/api/v1", "PodList", True),
    "replicasets": ("/apis/apps/v1", "ReplicaSetList", True),
    "deployments": ("/apis/apps/v1", "DeploymentList", True),
    "statefulsets": ("/apis/apps/v1", "StatefulSetList", True),
    "daemonsets": ("/apis/apps/v1", "DaemonSetList", True),
    "jobs": ("/apis/batch/v1", "JobList", True),
    "cronjobs": ("/apis/batch/v1", "CronJobList", True),
    "rollouts": ("/apis/argoproj.io/v1alpha1", "RolloutList", True),
}
TOKEN = "clearance-test-token"
USER = "system:serviceaccount:clearance:clearance"


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeCluster:
    """Objects with resource versions, an event history for watches, and failure switches."""

    def __init__(self, objects: Mapping[str, list[dict[str, Any]]] | None = None) -> None:
        self._cond = threading.Condition()
        self._rv = itertools.count(1000)
        self.version = 999
        self.store: dict[str, dict[str, tuple[dict[str, Any], bytes]]] = {p: {} for p in RESOURCES}
        self.events: list[tuple[int, str, bytes]] = []  # (rv, plural, serialized event line)
        self.compacted = 0  # watches from a version below this get 410 Gone
        self.tokens = {TOKEN}
        self.forbidden: set[str] = set()
        self.rollouts_installed = False
        self.list_calls: dict[str, int] = {p: 0 for p in RESOURCES}
        self.lists: list[str] = []  # the path of every list request, in order
        self.compact_after_first_page = False  # expire the continue token of the next list once
        self.stopping = False
        self._sorted: dict[tuple[str, str | None], list[tuple[tuple[str, str], bytes]]] = {}
        for plural, items in (objects or {}).items():
            for obj in items:
                self._put(plural, obj, event=None)

    def _put(self, plural: str, obj: dict[str, Any], event: str | None) -> None:
        rv = next(self._rv)
        obj = dict(obj)
        obj["metadata"] = dict(obj.get("metadata") or {}, resourceVersion=str(rv))
        uid = obj["metadata"]["uid"]
        data = orjson.dumps(obj)
        with self._cond:
            self.version = rv
            self._sorted.clear()
            if event == "DELETED":
                self.store[plural].pop(uid, None)
            else:
                self.store[plural][uid] = (obj, data)
            if event is not None:
                line = b'{"type":"' + event.encode() + b'","object":' + data + b"}\n"
                self.events.append((rv, plural, line))
                self._cond.notify_all()

    def add(self, plural: str, obj: dict[str, Any]) -> None:
        self._put(plural, obj, "ADDED")

    def modify(self, plural: str, obj: dict[str, Any]) -> None:
        self._put(plural, obj, "MODIFIED")

    def delete(self, plural: str, obj: dict[str, Any]) -> None:
        self._put(plural, obj, "DELETED")

    def compact(self) -> None:
        """Writes happen and history is compacted: every watch or continue token from before
        now is 410 Gone; a fresh list (at the new version) is fine."""
        with self._cond:
            self._compact()
            self._cond.notify_all()

    def _compact(self) -> None:
        self.version = next(self._rv)
        self._sorted.clear()
        self.compacted = self.version
        self.events.clear()

    def stop(self) -> None:
        with self._cond:
            self.stopping = True
            self._cond.notify_all()

    def page(
        self, plural: str, namespace: str | None, limit: int, cont: str | None
    ) -> tuple[int, bytes]:
        with self._cond:
            offset, rv = 0, self.version
            if cont and self.compact_after_first_page:
                # etcd compacted while a client paged through a long list.
                self.compact_after_first_page = False
                self._compact()
            if cont:
                state = orjson.loads(base64.urlsafe_b64decode(cont))
                offset, rv = state["offset"], state["rv"]
                if rv < self.compacted:
                    msg = "The provided continue parameter is too old to display a consistent list"
                    return 410, orjson.dumps(_status(410, "Expired", msg))
            items = self._sorted.get((plural, namespace))
            if items is None:  # sorted once per version, not once per page
                items = self._sorted[(plural, namespace)] = sorted(
                    (
                        ((o["metadata"].get("namespace", ""), o["metadata"]["name"]), data)
                        for o, data in self.store[plural].values()
                        if namespace is None or o["metadata"].get("namespace") == namespace
                    ),
                    key=lambda kv: kv[0],
                )
        chunk = items[offset : offset + limit] if limit else items[offset:]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and offset + limit < len(items):
            token = orjson.dumps({"offset": offset + limit, "rv": rv})
            meta["continue"] = base64.urlsafe_b64encode(token).decode()
        prefix, kind, _ = RESOURCES[plural]
        head = {"kind": kind, "apiVersion": prefix.split("/", 2)[-1], "metadata": meta}
        body = orjson.dumps(head)[:-1] + b',"items":[' + b",".join(d for _, d in chunk) + b"]}"
        return 200, body

    def watch(
        self, plural: str, namespace: str | None, since: int, timeout: float, bookmarks: bool
    ) -> Iterator[bytes]:
        if since < self.compacted:
            status = _status(
                410, "Expired", f"too old resource version: {since} ({self.compacted})"
            )
            yield orjson.dumps({"type": "ERROR", "object": status}) + b"\n"
            return
        deadline = threading.Event()

        def expire() -> None:
            deadline.set()
            self._wake()

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        sent = since
        try:
            while not deadline.is_set() and not self.stopping:
                with self._cond:
                    if since < self.compacted:
                        status = _status(410, "Expired", "too old resource version")
                        yield orjson.dumps({"type": "ERROR", "object": status}) + b"\n"
                        return
                    fresh = [
                        line
                        for rv, p, line in self.events
                        if p == plural
                        and rv > sent
                        and (namespace is None or f'"namespace":"{namespace}"'.encode() in line)
                    ]
                    sent = self.version
                    if not fresh:
                        self._cond.wait(timeout=1.0)
                        continue
                yield from fresh
            if bookmarks and not self.stopping:
                mark = {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(sent)},
                }
                yield orjson.dumps({"type": "BOOKMARK", "object": mark}) + b"\n"
        finally:
            timer.cancel()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster: FakeCluster

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        cluster = self.cluster
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in cluster.tokens:
            self._send(401, orjson.dumps(_status(401, "Unauthorized", "Unauthorized")))
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        route = self._route(url.path)
        if route is None:
            self._send(
                404,
                orjson.dumps(
                    _status(404, "NotFound", "the server could not find the requested resource")
                ),
            )
            return
        plural, namespace = route
        if plural in cluster.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            group = RESOURCES[plural][0].split("/")[2] if plural not in {"nodes", "pods"} else ""
            verb = "watch" if query.get("watch") in ("1", "true") else "list"
            message = (
                f'{plural} is forbidden: User "{USER}" cannot {verb} resource "{plural}" '
                f'in API group "{group}" {scope}'
            )
            self._send(403, orjson.dumps(_status(403, "Forbidden", message)))
            return
        if query.get("watch") in ("1", "true"):
            self._watch(plural, namespace, query)
            return
        cluster.list_calls[plural] += 1
        if "continue" not in query:
            cluster.lists.append(url.path)
        code, body = cluster.page(
            plural, namespace, int(query.get("limit", "0")), query.get("continue")
        )
        self._send(code, body)

    def _route(self, path: str) -> tuple[str, str | None] | None:
        for plural, (prefix, _, namespaced) in RESOURCES.items():
            if plural == "rollouts" and not self.cluster.rollouts_installed:
                continue
            if path == f"{prefix}/{plural}":
                return plural, None
            if (
                namespaced
                and path.startswith(f"{prefix}/namespaces/")
                and path.endswith(f"/{plural}")
            ):
                ns = path[len(f"{prefix}/namespaces/") : -len(f"/{plural}")]
                if ns and "/" not in ns:
                    return plural, ns
        return None

    def _watch(self, plural: str, namespace: str | None, query: dict[str, str]) -> None:
        since = int(query.get("resourceVersion") or self.cluster.version)
        timeout = float(query.get("timeoutSeconds", "30"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for line in self.cluster.watch(
                plural, namespace, since, timeout, query.get("allowWatchBookmarks") == "true"
            ):
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients hanging up on a watch is normal, not worth a traceback


class KubeApiServer:
    """Serve a :class:`FakeCluster` on ``127.0.0.1`` in a background thread."""

    def __init__(self, cluster: FakeCluster, tls: ssl.SSLContext | None = None) -> None:
        """With ``tls`` (a server context) it serves HTTPS, as an in-cluster client expects."""
        self.cluster = cluster
        handler = type("Handler", (_Handler,), {"cluster": cluster})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def __enter__(self) -> KubeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.stop()
        self._server.shutdown()
        self._server.server_close()

    def write_kubeconfig(
        self, path: Path, contexts: Mapping[str, str] | None = None, *, token: str = TOKEN
    ) -> Path:
        """A kubeconfig with one context per name (default: ``prod-eu``) pointing here."""
        names = dict(contexts or {"prod-eu": "prod-eu"})
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": n, "cluster": {"server": self.url}} for n in names.values()],
            "users": [{"name": "clearance", "user": {"token": token}}],
            "contexts": [
                {
                    "name": ctx,
                    "context": {"cluster": n, "user": "clearance", "namespace": "default"},
                }
                for ctx, n in names.items()
            ],
            "current-context": next(iter(names)),
        }
        path.write_text(yaml.safe_dump(config))
        return path


def load_cluster(path: Path) -> FakeCluster:
    """A cluster from a ``{plural: [objects]}`` (``tests/fixtures/k8s/*.cluster.json``)."""
    return FakeCluster(orjson.loads(path.read_bytes()))
