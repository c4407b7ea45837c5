"""VEX documents (OpenVEX and CycloneDX VEX) read into statements about images.

A VEX statement says a vulnerability does not affect (``not_affected``), no longer affects
(``fixed``), affects (``affected``) or may affect (``under_investigation``) a product
(https://openvex.dev, OPENVEX-SPEC.md; CycloneDX ``vulnerabilities[].analysis.state``). Clearance
decides about images, so a statement counts when its product is an image it can name:

* a ``pkg:oci`` purl (``pkg:oci/checkout@sha256%3A…?repository_url=ghcr.io/acme/checkout&tag=1.8``)
  or a ``pkg:docker`` purl (``pkg:docker/acme/checkout@1.8?repository_url=ghcr.io``);
* an OpenVEX product's ``hashes.sha-256`` (the image digest);
* CycloneDX: an ``affects[].ref`` naming a component (``bom-ref``) whose ``purl`` is one of the
  above, or the document's ``metadata.component``.

A statement naming only packages (``pkg:apk/…``), or nothing Clearance can read as an image, is
kept and counted but never matches. Statements whose shape is wrong are quarantined with their
index; a body that is not a VEX document at all raises :class:`SourceError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from clearance.errors import InvalidAssetError, SourceError
from clearance.model.assets import parse_image
from clearance.model.signal import parse_time
from clearance.sources._mapping import canonical_bytes, parse_json
from clearance.sources.interface import Batch, Quarantined, payload_digest

__all__ = [
    "STATUSES",
    "VexDocument",
    "VexNormalizer",
    "VexStatement",
    "image_keys",
    "load_document",
]

STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
_CVE = re.compile(r"^(CVE-\d{4}-\d{4,19}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})$", re.IGNORECASE)
# CycloneDX analysis.state → the VEX status it means (CycloneDX 1.4+ "Vulnerability Analysis").
_CYCLONEDX_STATES = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "resolved": "fixed",
    "resolved_with_pedigree": "fixed",
    "exploitable": "affected",
    "in_triage": "under_investigation",
}
_LIMIT = 300  # characters kept of a justification or impact statement


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One status of one vulnerability for the images a statement names (``image_keys``)."""

    vulnerability: str
    images: tuple[str, ...]  # "digest:sha256:…" or "ref:repository:tag"
    status: str
    justification: str
    document: str  # the document's @id (or serial number, or content digest)
    author: str
    timestamp: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "vulnerability": self.vulnerability,
            "images": list(self.images),
            "status": self.status,
            "justification": self.justification,
            "document": self.document,
            "author": self.author,
            "timestamp": self.timestamp.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VexStatement:
        return cls(
            vulnerability=str(data["vulnerability"]),
            images=tuple(str(i) for i in data["images"]),
            status=str(data["status"]),
            justification=str(data["justification"]),
            document=str(data["document"]),
            author=str(data["author"]),
            timestamp=parse_time(str(data["timestamp"])),
        )

    def describe(self) -> str:
        """``not_affected (vulnerable_code_not_present) per <document> by <author>``."""
        why = f" ({self.justification})" if self.justification else ""
        return f"{self.status}{why} per VEX {self.document} by {self.author}"


@dataclass(frozen=True, slots=True)
class VexDocument:
    key: str
    statements: tuple[VexStatement, ...]
    quarantined: tuple[Quarantined, ...] = ()


def image_keys(reference: str) -> tuple[str, ...]:
    """The keys a statement and an image asset meet on: its digest, and its repository:tag."""
    try:
        image = parse_image(reference)
    except (InvalidAssetError, ValueError):
        return ()
    keys = []
    if image.digest:
        keys.append(f"digest:{image.digest}")
    if image.tag:
        keys.append(f"ref:{image.repository}:{image.tag}")
    return tuple(keys)


def load_document(data: bytes, *, source: str = "vex", location: str = "") -> VexDocument:
    """An OpenVEX or CycloneDX VEX document, by its shape."""
    where = location or "vex"
    try:
        doc = parse_json(data)
    except ValueError as exc:
        raise SourceError(
            source, f"{where}: not a VEX document (not JSON: {str(exc)[:120]})"
        ) from exc
    if isinstance(doc, dict) and isinstance(doc.get("statements"), list):
        return _openvex(doc, data, source, where)
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
        return _cyclonedx(doc, data, source, where)
    raise SourceError(
        source, f"{where}: not a VEX document (neither OpenVEX 'statements' nor CycloneDX)"
    )


def _openvex(doc: dict[str, Any], data: bytes, source: str, where: str) -> VexDocument:
    key = _text(doc.get("@id")) or payload_digest(data)
    author = _text(doc.get("author")) or "unknown author"
    issued = _time(doc.get("timestamp"))
    doc_products = doc.get("products")

    def statement(item: dict[str, Any]) -> VexStatement:
        vulnerability = item.get("vulnerability")
        name = _text(vulnerability.get("name")) if isinstance(vulnerability, dict) else ""
        name = name or _text(vulnerability)
        status = _text(item.get("status"))
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        products = item.get("products", doc_products) or []
        if not isinstance(products, list):
            raise ValueError("products must be a list")
        return VexStatement(
            vulnerability=_vulnerability(name),
            images=tuple(dict.fromkeys(k for p in products for k in _product_keys(p))),
            status=status,
            justification=(_text(item.get("justification")) or _text(item.get("impact_statement")))[
                :_LIMIT
            ],
            document=key,
            author=author,
            timestamp=_time(item.get("timestamp")) or issued or _EPOCH,
        )

    return _document(key, doc["statements"], "statements", "a statement", statement, source, where)


def _cyclonedx(doc: dict[str, Any], data: bytes, source: str, where: str) -> VexDocument:
    serial = _text(doc.get("serialNumber"))
    key = f"{serial}/{doc.get('version', 1)}" if serial else payload_digest(data)
    metadata: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    issued = _time(metadata.get("timestamp"))
    author = _cyclonedx_author(metadata)
    components: dict[str, dict[str, Any]] = {}
    for component in [metadata.get("component"), *(doc.get("components") or [])]:
        if isinstance(component, dict) and _text(component.get("bom-ref")):
            components[_text(component.get("bom-ref"))] = component

    def statement(item: dict[str, Any]) -> VexStatement:
        analysis: dict[str, Any] = (
            item["analysis"] if isinstance(item.get("analysis"), dict) else {}
        )
        state = _text(analysis.get("state"))
        if state not in _CYCLONEDX_STATES:
            raise ValueError(f"analysis.state {state!r} is not a CycloneDX VEX state")
        keys: list[str] = []
        for affected in item.get("affects") or []:
            ref = _text(affected.get("ref")) if isinstance(affected, dict) else ""
            ref = ref.split("#", 1)[1] if ref.startswith("urn:cdx:") and "#" in ref else ref
            component = components.get(ref)
            purl = _text(component.get("purl")) if component else ref
            keys += _purl_keys(purl)
        return VexStatement(
            vulnerability=_vulnerability(_text(item.get("id"))),
            images=tuple(dict.fromkeys(keys)),
            status=_CYCLONEDX_STATES[state],
            justification=(_text(analysis.get("justification")) or _text(analysis.get("detail")))[
                :_LIMIT
            ],
            document=key,
            author=author,
            timestamp=_time(analysis.get("lastUpdated")) or issued or _EPOCH,
        )

    items = doc.get("vulnerabilities") or []
    return _document(key, items, "vulnerabilities", "a vulnerability", statement, source, where)


def _document(
    key: str,
    items: list[Any],
    field: str,
    noun: str,
    statement: Callable[[dict[str, Any]], VexStatement],
    source: str,
    where: str,
) -> VexDocument:
    """Each of a document's ``items`` (its ``field``) read by ``statement``; one that is not an
    object, or that ``statement`` refuses (ValueError), is quarantined and its neighbours kept."""
    statements: list[VexStatement] = []
    bad: list[Quarantined] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError(f"{noun} must be an object")
            statements.append(statement(item))
        except ValueError as exc:
            at = f"{where}: {field}[{index}]"
            bad.append(_bad(source, str(exc), canonical_bytes(item), at))
    return VexDocument(key, tuple(statements), tuple(bad))


def _bad(source: str, detail: str, raw: bytes, at: str) -> Quarantined:
    """A statement that could not be read, kept with its bytes."""
    return Quarantined(source, "invalid_statement", detail, payload_digest(raw), at, raw)


def _cyclonedx_author(metadata: dict[str, Any]) -> str:
    for field in ("authors", "manufacturer", "supplier"):
        value = metadata.get(field)
        first = value[0] if isinstance(value, list) and value else value
        if isinstance(first, dict) and _text(first.get("name")):
            return _text(first.get("name"))
    return "unknown author"


def _product_keys(product: Any) -> list[str]:
    if not isinstance(product, dict):
        return []
    keys = _purl_keys(_text(product.get("@id")))
    identifiers = product.get("identifiers")
    if isinstance(identifiers, dict):
        keys += _purl_keys(_text(identifiers.get("purl")))
    hashes = product.get("hashes")
    if isinstance(hashes, dict) and re.fullmatch(r"[0-9a-f]{64}", _text(hashes.get("sha-256"))):
        keys.append(f"digest:sha256:{_text(hashes.get('sha-256'))}")
    return keys


def _purl_keys(purl: str) -> list[str]:
    """The image keys of a ``pkg:oci`` or ``pkg:docker`` purl (https://github.com/package-url
    /purl-spec, PURL-TYPES: oci ``repository_url`` and ``tag``; docker namespace/name@version
    with ``repository_url``); nothing for any other type."""
    if not purl.startswith(("pkg:oci/", "pkg:docker/")):
        return []
    parts = urlsplit(purl)
    path, _, version = parts.path.partition("@")
    version = unquote(version)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    kind, _, name = path.partition("/")
    if kind == "oci":
        repository = query.get("repository_url") or unquote(name)
        reference = repository
        if version.startswith("sha256:"):
            reference += f"@{version}"
        if query.get("tag"):
            keys = list(image_keys(f"{repository}:{query['tag']}"))
            return keys + [k for k in image_keys(reference) if k.startswith("digest:")]
        return list(image_keys(reference)) if "@" in reference else []
    registry = query.get("repository_url")
    repository = f"{registry}/{unquote(name)}" if registry else unquote(name)
    separator = "@" if version.startswith("sha256:") else ":"
    return list(image_keys(f"{repository}{separator}{version}")) if version else []


def _vulnerability(name: str) -> str:
    if not _CVE.match(name.strip()):
        raise ValueError(f"vulnerability {name!r} is not a CVE or GHSA id")
    return name.strip().upper() if name.upper().startswith("CVE") else name.strip()


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _time(value: Any) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        return parse_time(text[:26] + text[29:] if _NANOS.match(text) else text)
    except ValueError:
        return None


# RFC 3339 with nanoseconds (OpenVEX's example: 2023-01-08T18:02:03.647787998-06:00): Python
# reads at most microseconds, so the last three digits are dropped.
_NANOS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}")
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


class VexNormalizer:
    """``clearance ingest --format openvex|cyclonedx-vex``: loads the document into
    ``document``; the batch carries no signals (statements waive stored findings), only the
    statements that could not be read."""

    format: ClassVar[str] = "openvex"

    def __init__(self, source: str = "vex") -> None:
        self.source = source
        self.document: VexDocument | None = None

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        try:
            self.document = load_document(data, source=self.source, location=location)
        except SourceError as exc:
            return Batch.unreadable(exc, "invalid_document", data, location or "vex")
        return Batch(quarantined=self.document.quarantined)


class CycloneDxVexNormalizer(VexNormalizer):
    format: ClassVar[str] = "cyclonedx-vex"
