"""Client certificates: tell the app which verified certificate, if any, a connection presented.

uvicorn verifies a client certificate against ``ssl_ca_certs`` when ``ssl_cert_reqs`` asks it
to (``clearance serve --tls-client-ca``: ``CERT_OPTIONAL``, so callers with a bearer token need
no certificate), but puts nothing about it in the ASGI scope. :class:`ClientCertProtocol` is
uvicorn's h11 protocol that, once the handshake is done, adds the ASGI TLS extension's
``client_subject`` (the certificate's common name) and ``client_names`` (common name and DNS
subject alternative names) to every request of that connection. The guard
(:mod:`clearance.server.guard`) accepts an admission request whose certificate names an allowed
subject (``admission.client_subjects``). Only a certificate the CA verified is reported:
``getpeercert()`` returns an empty value for any other.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

PROTOCOL = "clearance.server.mtls:ClientCertProtocol"  # uvicorn's ``http=`` for serve


def certificate_names(cert: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The common name of ``cert`` (``ssl.SSLSocket.getpeercert()``'s form) and every name it
    carries (the common name, then its DNS subject alternative names)."""
    common = ""
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                common = str(value)
    names = [common] if common else []
    names += [str(v) for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
    return common, tuple(names)


class _WithCertificate:
    def __init__(self, app: ASGIApp, common: str, names: tuple[str, ...]) -> None:
        self.app = app
        self.tls = {"client_subject": common or names[0], "client_names": names}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": self.tls}
        await self.app(scope, receive, send)


class ClientCertProtocol(H11Protocol):
    """uvicorn's h11 protocol, reporting a verified client certificate to the app."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if ssl_object is not None else None
        if cert:
            common, names = certificate_names(cert)
            if names:
                self.app = _WithCertificate(self.app, common, names)
