"""Which GuardDuty findings are anomalies rather than detections.

GuardDuty names each finding ``ThreatPurpose:ResourceTypeAffected/ThreatFamilyName…``
(https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-format.html). Two families
say "this differs from the baseline GuardDuty learned", not "this is an attack":

- the threat purpose ``Behavior`` ("activity or activity patterns that are different from the
  established baseline for a particular AWS resource": ``Behavior:EC2/NetworkPortUnusual``,
  ``Behavior:EC2/TrafficVolumeUnusual``);
- the anomaly-detection (machine learning) family ``AnomalousBehavior``
  (``CredentialAccess:IAMUser/AnomalousBehavior``, ``Discovery:IAMUser/AnomalousBehavior``, …),
  whose findings carry ``Service.Detection.Anomaly`` (API_Detection, API_Anomaly).

Those become ``anomaly`` signals — weighed and ruled by the policy's ``anomaly`` kind, which the
shipped policy counts for less and forgets sooner than a detection — and every other finding
stays a ``detection``. Pure.
"""

from __future__ import annotations

from clearance.model.signal import SignalKind

__all__ = ["finding_kind"]

ANOMALY_PURPOSE = "Behavior"
ANOMALY_FAMILY = "AnomalousBehavior"


def finding_kind(finding_type: str | None, *, anomaly: bool = False) -> SignalKind:
    """``anomaly`` for a ``Behavior:`` or ``…/AnomalousBehavior`` type, or a finding whose
    ``Service.Detection.Anomaly`` is set (``anomaly``); ``detection`` otherwise."""
    if anomaly:
        return SignalKind.ANOMALY
    purpose, _, rest = (finding_type or "").partition(":")
    family = rest.partition("/")[2].split(".", 1)[0].split("!", 1)[0]
    if purpose == ANOMALY_PURPOSE or family == ANOMALY_FAMILY:
        return SignalKind.ANOMALY
    return SignalKind.DETECTION
