"""Hypothesis: garbage anywhere in a payload is refused by name or answered by stance, never
raised as anything else (which the routes would turn into a 500)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.errors import PayloadError
from clearance.integrations import admission, argo, flagger, github
from clearance.integrations.settings import (
    AdmissionSettings,
    ArgoSettings,
    FlaggerSettings,
    GitHubSettings,
)
from clearance.model.target import Target
from integration.integrations.integrations_harness import FIXTURES

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
REVIEW = json.loads(
    (FIXTURES / "admission/admissionreview.v1.deployment-create.kube-review.json").read_text()
)
ADMISSION = AdmissionSettings(cluster="prod-eu", default_environment="development")


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(paths(REVIEW)), JSON)
def test_admission_garbage_is_refused_by_name_or_answered(
    path: tuple[Any, ...], value: Any
) -> None:
    body = replaced(REVIEW, path, value)
    refused: str | None = None
    try:
        review = admission.parse_review(body)
    except PayloadError as exc:
        refused = exc.field
    if refused is not None:
        assert refused
        return
    target = admission.target_of(review, ADMISSION)
    assert isinstance(target, Target | admission.Unreadable)
    if isinstance(target, admission.Unreadable):
        answer = admission.stance_answer(review, False, target.why)
        assert answer["response"]["uid"] == review.uid
        json.dumps(answer)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "namespace", "metadata", "checksum"]), JSON))
def test_flagger_garbage_is_refused_by_name(data: dict[str, Any]) -> None:
    try:
        payload = flagger.FlaggerPayload.model_validate(data)
        flagger.target_of(payload, FlaggerSettings(cluster="c", default_environment="dev"))
        refused = "-"
    except PayloadError as exc:
        refused = exc.field
    except ValueError:  # pydantic's ValidationError: the route names its field (400)
        refused = "validation"
    assert refused


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["namespace", "workload", "images", "environment"]), JSON))
def test_argo_garbage_is_refused_by_name(data: dict[str, Any]) -> None:
    try:
        query = argo.ArgoQuery.model_validate(data)
        argo.target_of(query, ArgoSettings(cluster="c", environment="production"))
        refused = "-"
    except PayloadError as exc:
        refused = exc.field
    except ValueError:
        refused = "validation"
    assert refused


PAYLOAD = json.loads(
    (FIXTURES / "github/deployment_protection_rule.requested.payload.json").read_text()
)
GITHUB = GitHubSettings.model_validate(
    {
        "app_id": "1",
        "environments": {
            "my-environment": {
                "environment": "production",
                "cluster": "c",
                "namespace": "n",
                "workload": "deployment/w",
                "images": ["ghcr.io/acme/w:{sha}"],
            }
        },
    }
)
TOP = [(k,) for k in PAYLOAD] + [("deployment", k) for k in PAYLOAD["deployment"]]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TOP), JSON)
def test_github_garbage_is_refused_by_name_or_rejected_with_reason(
    path: tuple[Any, ...], value: Any
) -> None:
    refused: str | None = None
    try:
        request = github.parse_request(replaced(PAYLOAD, path, value), GITHUB)
    except PayloadError as exc:
        refused = exc.field
    else:
        assert request.target is not None or request.unmapped_reason
    assert refused is None or refused
