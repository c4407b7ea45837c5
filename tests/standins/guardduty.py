"""A loopback stand-in for the AWS GuardDuty API, speaking its REST-JSON wire protocol.

moto (5.x) implements GuardDuty detectors and filters but not findings (no ListFindings or
GetFindings in ``moto/guardduty/responses.py``), so this server plays the three calls Clearance
makes, as botocore's service model ``guardduty-2017-11-28`` defines them:

* ``GET /detector`` (ListDetectors) → ``{"detectorIds": [...]}``
* ``POST /detector/{detectorId}/findings`` (ListFindings): ``findingCriteria.criterion`` on
  ``updatedAt`` (epoch ms), ``service.archived``, ``severity``; ``sortCriteria``; ``maxResults``
  ≤ 50; an opaque ``nextToken`` → ``{"findingIds", "nextToken"}``.
* ``POST /detector/{detectorId}/findings/get`` (GetFindings, ≤ 50 ids) → ``{"findings": [...]}``
  in the wire's camelCase.
* ``POST /detector/{detectorId}/coverage`` (ListCoverage): ``filterCriteria.filterCriterion``
  ``RESOURCE_TYPE`` ``equals``, ``maxResults`` ≤ 50, ``nextToken`` → ``{"resources": [...],
  "nextToken"}``, each a ``CoverageResource`` in wire spelling (:func:`eks_coverage`).

Every request must carry a valid SigV4 signature (checked with botocore's own signer); errors
use the REST-JSON shape, an ``x-amzn-ErrorType`` header and a ``{"message", "__type"}`` body.
Findings come from tests/fixtures/guardduty/ (the CLI's PascalCase output is put back into wire
spelling through botocore's shapes).
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import botocore.session  # type: ignore[import-untyped]
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from botocore.model import ListShape, MapShape, Shape, StructureShape  # type: ignore[import-untyped]

from standins._server import Loopback

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "guardduty"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
DETECTOR = "94c3858788bc1444ceedab472bab5d7e"


def _to_wire(value: Any, shape: Shape) -> Any:
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        out = {}
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                out[key[:1].lower() + key[1:]] = item
            else:
                out[member.serialization.get("name", key)] = _to_wire(item, member)
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_to_wire(v, shape.member) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: _to_wire(v, shape.value) for k, v in value.items()}
    return value


def wire_finding(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding as the CLI prints it (PascalCase) → as the wire carries it (camelCase)."""
    model = botocore.session.get_session().get_service_model("guardduty")
    wire = _to_wire(finding, model.shape_for("Finding"))
    assert isinstance(wire, dict)
    return wire


def fixture_findings() -> list[dict[str, Any]]:
    """The two real findings in wire form: the EKS one (from the CLI) and the EC2 one."""
    cli = json.loads((FIXTURES / "get-findings.eks-privileged-container.cli.json").read_text())
    ec2 = json.loads((FIXTURES / "finding.ec2-instance.eventbridge-detail.json").read_text())
    return [wire_finding(cli["Findings"][0]), ec2]


def numbered(template: dict[str, Any], n: int, updated: str) -> dict[str, Any]:
    """A copy of a wire finding with its own id and update time (for paging)."""
    copy: dict[str, Any] = json.loads(json.dumps(template))
    copy["id"] = f"{n:032x}"
    copy["arn"] = copy["arn"].rsplit("/", 1)[0] + f"/{copy['id']}"
    copy["updatedAt"] = updated
    return copy


def _error(code: str, message: str) -> tuple[dict[str, str], bytes]:
    headers = {
        "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.guardduty/"
    }
    return headers, json.dumps({"message": message, "__type": code}).encode()


def eks_coverage(
    cluster: str, status: str, updated: datetime, covered: int = 3, compatible: int = 3
) -> dict[str, Any]:
    """One EKS cluster's ``CoverageResource`` as the wire carries it (botocore's
    ``guardduty-2017-11-28`` shape; ``updatedAt`` in epoch seconds, REST-JSON's default)."""
    resource: dict[str, Any] = {
        "resourceId": cluster,
        "detectorId": DETECTOR,
        "accountId": "123456789012",
        "resourceDetails": {
            "eksClusterDetails": {
                "clusterName": cluster,
                "coveredNodes": covered,
                "compatibleNodes": compatible,
                "addonDetails": {"addonVersion": "v1.6.1-eksbuild.1", "addonStatus": "ACTIVE"},
                "managementType": "AUTO_MANAGED",
            },
            "resourceType": "EKS",
        },
        "coverageStatus": status,
        "updatedAt": updated.timestamp(),
    }
    if status == "UNHEALTHY":
        resource["issue"] = "No agent reporting from the cluster's nodes"
    return resource


@dataclass
class GuardDutyStandIn:
    findings: list[dict[str, Any]] = field(default_factory=list)
    coverage: list[dict[str, Any]] = field(default_factory=list)
    detectors: list[str] = field(default_factory=lambda: [DETECTOR])
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    # Errors for the next calls: (status, error type, message).
    queued: list[tuple[int, str, str]] = field(default_factory=list)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _loopback: Loopback | None = None

    def start(self) -> str:
        self._loopback = Loopback(_Handler, self, attr="standin")
        return self._loopback.start()

    def stop(self) -> None:
        if self._loopback is not None:
            self._loopback.stop()

    def throttle(self, times: int) -> None:
        self.queued += [(429, "ThrottlingException", "Rate exceeded")] * times

    def list_findings(self, body: dict[str, Any]) -> dict[str, Any]:
        criterion = (body.get("findingCriteria") or {}).get("criterion") or {}
        chosen = [f for f in self.findings if _matches(f, criterion)]
        sort = body.get("sortCriteria") or {}
        if sort.get("attributeName") == "updatedAt":
            chosen.sort(key=lambda f: (_epoch_ms(f["updatedAt"]), f["id"]))
            if sort.get("orderBy") == "DESC":
                chosen.reverse()
        start = int(base64.b64decode(body["nextToken"])) if body.get("nextToken") else 0
        size = int(body.get("maxResults") or 50)
        page = chosen[start : start + size]
        more = start + size < len(chosen)
        token = base64.b64encode(str(start + size).encode()).decode() if more else ""
        return {"findingIds": [f["id"] for f in page], "nextToken": token}


def _epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _matches(finding: dict[str, Any], criterion: dict[str, Any]) -> bool:
    values = {
        "updatedAt": _epoch_ms(finding["updatedAt"]),
        "severity": finding.get("severity", 0),
        "service.archived": str(finding.get("service", {}).get("archived", False)).lower(),
    }
    for name, condition in criterion.items():
        value = values[name]
        for op, operand in condition.items():
            if op in ("greaterThanOrEqual", "gte") and not value >= operand:
                return False
            if op in ("greaterThan", "gt") and not value > operand:
                return False
            if op in ("lessThan", "lt") and not value < operand:
                return False
            if op in ("equals", "eq") and str(value) not in operand:
                return False
    return True


class _Handler(BaseHTTPRequestHandler):
    standin: GuardDutyStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-RequestId", "6b1c6f3e-0000-4000-8000-standin000000")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _fail(self, status: int, code: str, message: str) -> None:
        headers, body = _error(code, message)
        self._send(status, body, headers)

    def do_GET(self) -> None:
        self._route("GET", b"")

    def do_POST(self) -> None:
        self._route("POST", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _route(self, method: str, raw: bytes) -> None:
        state = self.standin
        problem = self._signature_problem(method, raw)
        if problem is not None:
            self._fail(403, *problem)
            return
        path = urllib.parse.urlsplit(self.path).path
        body = json.loads(raw) if raw else {}
        state.calls.append((method, path, body))
        if state.queued:
            self._fail(*state.queued.pop(0))
            return
        parts = path.strip("/").split("/")
        if parts == ["detector"]:
            self._send(200, json.dumps({"detectorIds": state.detectors}).encode())
            return
        if len(parts) == 3 and parts[0] == "detector" and parts[2] == "coverage":
            self._coverage(body)
            return
        if len(parts) < 3 or parts[0] != "detector" or parts[2] != "findings":
            self._fail(404, "UnknownOperationException", "Unknown operation")
            return
        if parts[1] not in state.detectors:
            message = (
                "The request is rejected because the input detectorId is not owned by the "
                "current account."
            )
            self._fail(400, "BadRequestException", message)
            return
        if parts[3:] == ["get"]:
            ids = body.get("findingIds") or []
            if len(ids) > 50:
                self._fail(400, "BadRequestException", "findingIds: at most 50 ids")
                return
            found = [f for f in state.findings if f["id"] in ids]
            self._send(200, json.dumps({"findings": found}).encode())
        else:
            if int(body.get("maxResults") or 50) > 50:
                self._fail(400, "BadRequestException", "maxResults must be at most 50")
                return
            self._send(200, json.dumps(state.list_findings(body)).encode())

    def _coverage(self, body: dict[str, Any]) -> None:
        size = int(body.get("maxResults") or 50)
        if size > 50:
            self._fail(400, "BadRequestException", "maxResults must be at most 50")
            return
        selected = self.standin.coverage
        for term in (body.get("filterCriteria") or {}).get("filterCriterion") or []:
            if term.get("criterionKey") == "RESOURCE_TYPE":
                wanted = term.get("filterCondition", {}).get("equals") or []
                selected = [r for r in selected if r["resourceDetails"]["resourceType"] in wanted]
        start = int(base64.b64decode(body["nextToken"])) if body.get("nextToken") else 0
        answer: dict[str, Any] = {"resources": selected[start : start + size]}
        if start + size < len(selected):
            answer["nextToken"] = base64.b64encode(str(start + size).encode()).decode()
        self._send(200, json.dumps(answer).encode())

    def _signature_problem(self, method: str, raw: bytes) -> tuple[str, str] | None:
        """Check SigV4 the way AWS does: recompute the signature with the known secret."""
        state = self.standin
        fields = dict(
            part.strip().split("=", 1)
            for part in self.headers.get("Authorization", "")
            .removeprefix("AWS4-HMAC-SHA256 ")
            .split(",")
            if "=" in part
        )
        access_key, _, scope = fields.get("Credential", "").partition("/")
        if access_key != state.access_key:
            return (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        region = scope.split("/")[1] if scope.count("/") >= 3 else REGION
        signed = fields.get("SignedHeaders", "").split(";")
        request = AWSRequest(
            method=method,
            url=f"http://{self.headers['Host']}{self.path}",
            data=raw,
            headers={h: self.headers[h] for h in signed if self.headers.get(h) is not None},
        )
        request.context["timestamp"] = self.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(state.access_key, state.secret_key), "guardduty", region)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        if expected != fields.get("Signature"):
            return (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.",
            )
        return None
