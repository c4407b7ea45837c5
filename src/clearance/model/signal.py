"""Signal: one normalized finding from a security platform, aligned with OCSF where it can be."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, NewType, TypeVar

from clearance.errors import InvalidSignalError
from clearance.model.assets import AssetRef, parse_asset
from clearance.model.canonical import canonical_json

SignalUid = NewType("SignalUid", str)

# Bounds every stored signal holds, so that nothing stored can break a decision: every value
# must survive canonical JSON (RFC 8785: integers within ±2^53-1, finite numbers, valid UTF-8)
# and no field may grow without bound. They sit far above what any platform sends.
MAX_COUNT = 2**53 - 1
MAX_UID = 512  # the store's column
MAX_SOURCE = 200
MAX_TITLE = 2000
MAX_RULE = 500
MAX_URL = 2000
MAX_ASSETS = 1000
MAX_TECHNIQUES = 100
MAX_TECHNIQUE = 64


class Severity(IntEnum):
    """OCSF ``severity_id``. 99 (Other) is mapped by adapters, never stored."""

    UNKNOWN = 0
    INFORMATIONAL = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5
    FATAL = 6

    @property
    def label(self) -> str:
        return self.name.lower()


class SignalKind(StrEnum):
    DETECTION = "detection"
    VULNERABILITY = "vulnerability"
    POSTURE = "posture"
    INCIDENT = "incident"
    ANOMALY = "anomaly"
    # A vulnerability listed in CISA's Known Exploited Vulnerabilities catalog: exploited in the
    # wild, so it weighs and decays unlike an ordinary scanner finding.
    KNOWN_EXPLOITED = "known_exploited"
    # Evidence about the change itself, not the runtime (model/reports.py): a test of the commit
    # that failed, and a code scanner's (SAST) result on it.
    TEST = "test"
    CODE_SCAN = "code_scan"

    # The target itself is unwell (a crash-looping pod, a node under pressure, a firing alert,
    # a burning error budget): not a threat, but a reason not to change it right now.
    HEALTH = "health"


# Kinds that come with the deploy request (reports about the change) rather than from a source:
# stamped at the decision's time, so they never decay and a policy need not give them half-lives.
CHANGE_KINDS = frozenset({SignalKind.TEST, SignalKind.CODE_SCAN})


class SignalStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"

    @property
    def active(self) -> bool:
        # A set built once: naming members (SignalStatus.OPEN) costs an enum look-up each time,
        # and this is asked of every matched signal of every decision.
        return self in _ACTIVE_STATUSES


_ACTIVE_STATUSES = frozenset({SignalStatus.OPEN, SignalStatus.IN_PROGRESS})


def utc(moment: datetime) -> datetime:
    """Require an aware datetime and express it in UTC; naive times are ambiguous evidence."""
    if moment.tzinfo is UTC:
        # Already UTC (what every parser here returns): astimezone would return it unchanged.
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidSignalError(f"timestamp {moment.isoformat()} has no time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise InvalidSignalError(f"timestamp {moment.isoformat()} is out of range in UTC") from exc


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset) into UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as exc:
        raise InvalidSignalError(f"invalid RFC 3339 timestamp {text!r}") from exc
    return utc(moment)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` and no more precision than the value has."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Signal:
    """A finding on one or more assets. Invariants hold for every instance (see ``__post_init__``).

    ``rule`` is the vendor's detection or rule name (Falco rule, CrowdStrike pattern, GuardDuty
    finding type): suppressions and exceptions match on it, since titles are often templated.
    ``count`` is how many vendor events were folded into this signal. ``tracked`` says whether
    the platform keeps the finding's status current (a Falcon alert is closed by the SOC; a Falco
    or Wazuh event never is): a policy bounds an untracked finding by its age, since no one will
    ever mark it resolved.

    Exploitability, for vulnerability findings, where it is known (None otherwise): ``epss`` and
    ``epss_percentile`` (FIRST EPSS: the probability of exploitation in the next 30 days, and its
    rank), ``fix_available`` (the scanner names a fixed version), ``cvss_vector`` (the CVSS base
    vector the scanner reported, e.g. ``CVSS:3.1/AV:N/AC:L/PR:N/…``). ``vex`` names the VEX
    statement that says the finding does not apply to its image (``not_affected`` or ``fixed``):
    it then contributes nothing, and decisions say which statement waived it.
    """

    uid: SignalUid
    source: str
    kind: SignalKind
    title: str
    severity: Severity
    confidence: float
    status: SignalStatus
    first_seen: datetime
    last_seen: datetime
    assets: tuple[AssetRef, ...]
    rule: str | None = None
    techniques: tuple[str, ...] = ()
    url: str | None = None
    raw_digest: str | None = None
    count: int = 1
    tracked: bool = True
    epss: float | None = None
    epss_percentile: float | None = None
    fix_available: bool | None = None
    cvss_vector: str | None = None
    vex: str | None = None
    _digest: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Locals and no re-assignment of an unchanged time: built once per vendor item, so this
        # is on every normalizer's hot path (bench/bench_normalize_push.py).
        source, uid = self.source, self.uid
        if not (type(uid) is str and len(uid) <= MAX_UID and uid.isascii()):
            _text(uid, "uid", MAX_UID, "?")
        if not (type(source) is str and len(source) <= MAX_SOURCE and source.isascii()):
            _text(source, "source", MAX_SOURCE, uid)
        if not source or ":" in source:
            raise InvalidSignalError(f"signal source {source!r} must be a plain name")
        if not uid.startswith(source + ":") or len(uid) <= len(source) + 1:
            raise InvalidSignalError(f"signal uid {uid!r} must be '{source}:<id>'")
        confidence = self.confidence
        if not (0.0 <= confidence <= 1.0) or math.isnan(confidence):
            raise InvalidSignalError(f"signal {uid}: confidence {confidence} not in 0..1")
        assets, count = self.assets, self.count
        if not assets:
            raise InvalidSignalError(f"signal {uid}: names no asset")
        if type(count) is not int or not 1 <= count <= MAX_COUNT:
            raise InvalidSignalError(f"signal {uid}: count {count!r} not in 1..{MAX_COUNT}")
        if len(assets) > MAX_ASSETS or len(self.techniques) > MAX_TECHNIQUES:
            raise InvalidSignalError(
                f"signal {uid}: at most {MAX_ASSETS} assets and {MAX_TECHNIQUES} techniques"
            )
        # One C-level pass over every text (all ASCII, all strings) and a few length checks;
        # only a signal that fails it is walked field by field, to name the culprit.
        title, rule, url, digest, techniques = (
            self.title, self.rule, self.url, self.raw_digest, self.techniques
        )  # fmt: skip
        values = [a.value for a in assets]
        try:
            plain = "".join(
                (
                    title, rule or "", url or "", digest or "", self.cvss_vector or "",
                    self.vex or "", *techniques, *values,
                )
            )  # fmt: skip
        except TypeError:
            plain = "\x80"  # a value that is not a string: the slow path names it
        if (
            not plain.isascii()
            or len(title) > MAX_TITLE
            or (rule is not None and len(rule) > MAX_RULE)
            or (url is not None and len(url) > MAX_URL)
            or (digest is not None and len(digest) > MAX_SOURCE)
            or len(self.cvss_vector or "") > MAX_SOURCE
            or len(self.vex or "") > MAX_URL
            or (techniques and max(map(len, techniques)) > MAX_TECHNIQUE)
            or max(map(len, values)) > MAX_UID
        ):
            self._check_texts()
        first, last = utc(self.first_seen), utc(self.last_seen)
        if first is not self.first_seen:
            object.__setattr__(self, "first_seen", first)
        if last is not self.last_seen:
            object.__setattr__(self, "last_seen", last)
        if last < first:
            raise InvalidSignalError(f"signal {uid}: last_seen is before first_seen")
        for name, value in (("epss", self.epss), ("epss_percentile", self.epss_percentile)):
            if value is not None and not 0.0 <= value <= 1.0:  # NaN fails too
                raise InvalidSignalError(f"signal {uid}: {name} {value} not in 0..1")

    def _check_texts(self) -> None:
        """Every text field, one by one: raises InvalidSignalError naming the first bad one."""
        uid = self.uid
        _text(self.title, "title", MAX_TITLE, uid)
        if self.rule is not None:
            _text(self.rule, "rule", MAX_RULE, uid)
        if self.url is not None:
            _text(self.url, "url", MAX_URL, uid)
        if self.raw_digest is not None:
            _text(self.raw_digest, "raw_digest", MAX_SOURCE, uid)
        if self.cvss_vector is not None:
            _text(self.cvss_vector, "cvss_vector", MAX_SOURCE, uid)
        if self.vex is not None:
            _text(self.vex, "vex", MAX_URL, uid)
        for technique in self.techniques:
            _text(technique, "techniques", MAX_TECHNIQUE, uid)
        for ref in self.assets:
            _text(ref.value, "assets", MAX_UID, uid)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as stored, exported and recorded in decisions."""
        data: dict[str, Any] = {
            "uid": self.uid,
            "source": self.source,
            "kind": self.kind.value,
            "title": self.title,
            "severity": int(self.severity),
            "confidence": self.confidence,
            "status": self.status.value,
            "first_seen": format_time(self.first_seen),
            "last_seen": format_time(self.last_seen),
            "assets": [str(a) for a in self.assets],
            "count": self.count,
        }
        if self.rule is not None:
            data["rule"] = self.rule
        if self.techniques:
            data["techniques"] = list(self.techniques)
        if self.url is not None:
            data["url"] = self.url
        if self.raw_digest is not None:
            data["raw_digest"] = self.raw_digest
        if not self.tracked:
            data["tracked"] = False
        if self.epss is not None:
            data["epss"] = self.epss
        if self.epss_percentile is not None:
            data["epss_percentile"] = self.epss_percentile
        if self.fix_available is not None:
            data["fix_available"] = self.fix_available
        if self.cvss_vector is not None:
            data["cvss_vector"] = self.cvss_vector
        if self.vex is not None:
            data["vex"] = self.vex
        return data

    def content_digest(self) -> str:
        """sha256 of the canonical JSON form, computed once: decisions digest their inputs often."""
        if not self._digest:
            self._digest.append(hashlib.sha256(canonical_json(self.to_dict())).hexdigest())
        return self._digest[0]


def _text(value: object, name: str, limit: int, uid: str) -> None:
    """A string of at most ``limit`` characters that encodes as UTF-8 (no lone surrogate)."""
    if type(value) is not str:
        raise InvalidSignalError(f"signal {uid!r}: field {name!r} must be a string")
    if len(value) > limit:
        raise InvalidSignalError(f"signal {uid[:80]!r}: field {name!r} is over {limit} characters")
    if not value.isascii():  # the common case costs one C scan; only non-ASCII is encoded
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidSignalError(
                f"signal {uid[:80]!r}: field {name!r} holds a lone "
                f"surrogate at {exc.start} (not valid Unicode)"
            ) from exc


def fold(old: Signal, incoming: Signal) -> Signal:
    """Two copies of one signal (same uid) as one: the one way copies meet, in every mode.

    The newer copy's content (by ``last_seen``; the incoming one on a tie), the earliest
    ``first_seen``. The count: events that all came after the older copy's (a later Falco push of
    the same rule on the same pod) add to it; copies whose times overlap are the same events read
    again (a re-ingested file, a vendor alert whose first_seen never moves), so the larger count
    stands and re-reading is idempotent. The store folds what it keeps with what arrives; a local
    check folds what its sources read; both call this.
    """
    newer, older = (incoming, old) if incoming.last_seen >= old.last_seen else (old, incoming)
    first_seen = min(newer.first_seen, older.first_seen)
    if newer.first_seen > older.last_seen:
        count = newer.count + older.count
    else:
        count = max(newer.count, older.count)
    if first_seen == newer.first_seen and count == newer.count:
        return newer
    return replace(newer, first_seen=first_seen, count=count)


def signal_from_dict(data: dict[str, Any]) -> Signal:
    """Build a Signal from its JSON form; raises :class:`InvalidSignalError` naming the field."""
    if not isinstance(data, dict):
        raise InvalidSignalError("a signal must be a JSON object")

    def need(name: str) -> Any:
        if name not in data:
            raise InvalidSignalError(f"missing field {name!r}")
        return data[name]

    try:
        assets = need("assets")
        if not isinstance(assets, list):
            raise InvalidSignalError("field 'assets' must be a list of 'kind:value' strings")
        techniques = data.get("techniques", [])
        if not isinstance(techniques, list):
            raise InvalidSignalError("field 'techniques' must be a list")
        confidence = need("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise InvalidSignalError("field 'confidence' must be a number in 0..1")
        count = data.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidSignalError("field 'count' must be an integer")
        tracked = data.get("tracked", True)
        if not isinstance(tracked, bool):
            raise InvalidSignalError("field 'tracked' must be true or false")
        epss = _probability(data, "epss")
        epss_percentile = _probability(data, "epss_percentile")
        fix_available = data.get("fix_available")
        if fix_available is not None and not isinstance(fix_available, bool):
            raise InvalidSignalError("field 'fix_available' must be true or false")
        severity = need("severity")
        if isinstance(severity, bool) or not isinstance(severity, int):
            raise InvalidSignalError("field 'severity' must be an OCSF severity_id 0..6")
        return Signal(
            uid=SignalUid(_scalar(need("uid"), "uid")),
            source=_scalar(need("source"), "source"),
            kind=_enum(SignalKind, need("kind"), "kind"),
            title=_scalar(need("title"), "title"),
            severity=_enum(Severity, severity, "severity"),
            confidence=float(confidence),
            status=_enum(SignalStatus, data.get("status", "open"), "status"),
            first_seen=parse_time(_scalar(need("first_seen"), "first_seen")),
            last_seen=parse_time(_scalar(data.get("last_seen", need("first_seen")), "last_seen")),
            assets=tuple(parse_asset(_scalar(a, "assets")) for a in assets[: MAX_ASSETS + 1]),
            rule=None if data.get("rule") is None else _scalar(data["rule"], "rule"),
            techniques=tuple(_scalar(t, "techniques") for t in techniques[: MAX_TECHNIQUES + 1]),
            url=None if data.get("url") is None else _scalar(data["url"], "url"),
            raw_digest=None
            if data.get("raw_digest") is None
            else _scalar(data["raw_digest"], "raw_digest"),
            count=count,
            tracked=tracked,
            epss=epss,
            epss_percentile=epss_percentile,
            fix_available=fix_available,
            cvss_vector=None
            if data.get("cvss_vector") is None
            else _scalar(data["cvss_vector"], "cvss_vector"),
            vex=None if data.get("vex") is None else _scalar(data["vex"], "vex"),
        )
    except InvalidSignalError:
        raise
    except ValueError as exc:  # InvalidAssetError is a ValueError too, and says which asset
        raise InvalidSignalError(str(exc)) from exc


def _scalar(value: object, name: str) -> str:
    """A text field: a string (a number is taken as its decimal form), never a list or map."""
    if type(value) is str:
        return value
    if type(value) is int or type(value) is float:
        return str(value)
    raise InvalidSignalError(f"field {name!r} must be a string")


def _probability(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSignalError(f"field {name!r} must be a number in 0..1")
    return float(value)


_E = TypeVar("_E", Severity, SignalKind, SignalStatus)


def _enum(cls: type[_E], value: Any, name: str) -> _E:
    try:
        return cls(value)
    except ValueError as exc:
        allowed = ", ".join(str(m.value) for m in cls)
        raise InvalidSignalError(f"field {name!r}: {value!r} is not one of {allowed}") from exc
