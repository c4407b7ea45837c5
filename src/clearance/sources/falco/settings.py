"""Falco's settings: an endpoint's or NATS subject's (``FalcoConfig``) and the NATS consumer's
(``ingest.falco_nats`` in ``clearance.yaml``).

Plain pydantic, no optional dependency and not the normalizer: ``clearance.yaml`` is validated
before nats-py is imported, and reading it does not load the code that maps Falco's events.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_SOURCE_NAME = r"^[A-Za-z0-9_.-]+$"


class FalcoConfig(BaseModel):
    """Settings of one Falco endpoint or NATS subject."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str | None = None
    cluster_field: str | None = None
    hostname_is_node: bool = False


class SubjectConfig(FalcoConfig):
    """One NATS subject filter and the Falco settings of the events published on it."""

    subject: str = Field(min_length=1)


class NatsFalcoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "nats://127.0.0.1:4222"
    source: str = Field(default="falco", min_length=1, pattern=_SOURCE_NAME)
    stream: str = Field(default="FALCO", min_length=1)
    durable: str = Field(default="clearance-falco", min_length=1)
    subjects: tuple[SubjectConfig, ...] = (SubjectConfig(subject="falco.>"),)
    create_stream: bool = False
    batch_size: int = Field(default=256, ge=1, le=10_000)
    fetch_timeout: float = Field(default=5.0, gt=0)
    ack_wait: float = Field(default=30.0, gt=0)
    # Redelivery after a failed store waits this long, so a store that is down is not hammered.
    nak_delay: float = Field(default=1.0, ge=0)
    connect_timeout: float = Field(default=5.0, gt=0)
