"""The Falco NATS consumer's settings (``ingest.falco_nats`` in ``clearance.yaml``).

Plain pydantic, no optional dependency: ``clearance.yaml`` is validated before nats-py is imported.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from clearance.sources.falco.normalize import FalcoConfig

_SOURCE_NAME = r"^[A-Za-z0-9_.-]+$"


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
