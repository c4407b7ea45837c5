"""The ``ingest:`` key of ``clearance.yaml``: push receivers and the Falco NATS consumer.

Falco does not say which cluster it runs in, so each receiver names its cluster: an HTTP endpoint
(``POST /v1/ingest/falco/<endpoint>``; ``default`` also answers ``POST /v1/ingest/falco``) or a
NATS subject filter. Pydantic models, no I/O, no optional dependency: the configuration is
validated before anything connects, and a bad key fails at start-up naming the field::

    ingest:
      falco:
        default: {cluster: prod-eu}                 # POST /v1/ingest/falco
        edge:    {cluster: edge-1, hostname_is_node: true, source: falco-edge}
      ocsf:
        default: {source: ocsf}                     # POST /v1/ingest/ocsf
      falco_nats:
        url: nats://nats.falco:4222
        stream: FALCO
        subjects:
          - {subject: "prod-eu.falco.>", cluster: prod-eu}
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from clearance.sources.falco.settings import FalcoConfig, NatsFalcoConfig, SubjectConfig

__all__ = [
    "FalcoEndpoint",
    "IngestSettings",
    "NatsFalcoConfig",
    "OcsfEndpoint",
    "SubjectConfig",
]

_SOURCE_NAME = r"^[A-Za-z0-9_.-]+$"
_ENDPOINT = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# An endpoint name is a URL path segment: lower-case letters, digits, - and _.
EndpointName = Annotated[str, StringConstraints(pattern=_ENDPOINT)]


class FalcoEndpoint(FalcoConfig):
    """One Falco HTTP endpoint: its cluster settings and the source name its signals carry."""

    source: str = Field(default="falco", min_length=1, pattern=_SOURCE_NAME)


class OcsfEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(default="ocsf", min_length=1, pattern=_SOURCE_NAME)
    cluster: str | None = None


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    falco: dict[EndpointName, FalcoEndpoint] = Field(default_factory=dict)
    ocsf: dict[EndpointName, OcsfEndpoint] = Field(default_factory=dict)
    falco_nats: NatsFalcoConfig | None = None

    def falco_endpoint(self, name: str) -> FalcoEndpoint | None:
        """The endpoint's settings; ``default`` falls back to no cluster when not configured."""
        found = self.falco.get(name)
        return FalcoEndpoint() if found is None and name == "default" else found

    def ocsf_endpoint(self, name: str) -> OcsfEndpoint | None:
        found = self.ocsf.get(name)
        return OcsfEndpoint() if found is None and name == "default" else found
