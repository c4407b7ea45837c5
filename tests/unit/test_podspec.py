"""The compared subset of a pod template (model/podspec.py) and the drift it finds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clearance.model.drift import find_drift, template_changes
from clearance.model.podspec import manifest_pod_spec, pod_spec_view
from clearance.model.target import Exposure, Target

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def spec(**container: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "app", "image": "ghcr.io/acme/app:1.0"}
    return {"containers": [{**base, **container}]}


def test_two_spellings_of_one_template_are_one_digest_and_images_are_not_compared() -> None:
    a = pod_spec_view(
        {
            "containers": [
                {"name": "b", "env": [{"name": "Y"}, {"name": "X", "value": "secret"}]},
                {"name": "a", "image": "x:1", "resources": {"limits": {"cpu": "1"}}},
            ],
            "volumes": [{"name": "v", "hostPath": {"path": "/etc"}}, {"name": "e", "emptyDir": {}}],
        }
    )
    b = pod_spec_view(
        {
            "volumes": [{"name": "w", "hostPath": {"path": "/etc", "type": "Directory"}}],
            "containers": [
                {"name": "a", "image": "x:2"},
                {"name": "b", "env": [{"name": "X", "value": "other"}, {"name": "Y"}]},
            ],
        }
    )
    assert a is not None
    assert b is not None
    assert a.digest == b.digest
    assert "secret" not in str(a.to_dict())


def test_each_change_is_named() -> None:
    before = pod_spec_view(spec(command=["run"], env=[{"name": "A"}]))
    after = pod_spec_view(
        {
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [
                {
                    "name": "app",
                    "command": ["sh", "-c", "run"],
                    "args": ["--debug"],
                    "env": [{"name": "B"}],
                    "securityContext": {"privileged": True},
                }
            ],
            "volumes": [{"name": "s", "hostPath": {"path": "/var/run/docker.sock"}}],
        }
    )
    assert before is not None
    assert after is not None
    assert after.changes(before) == (
        "container init:setup added",
        "container app command run -> sh -c run",
        "container app args (image default) -> --debug",
        "container app env added: B",
        "container app env removed: A",
        "container app privileged",
        "hostPath volume(s) added: /var/run/docker.sock",
    )
    assert before.changes(before) == ()


def test_manifests_of_each_shape_give_their_pod_template() -> None:
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": spec(args=["a"])}}}
    cronjob = {
        "kind": "CronJob",
        "spec": {"jobTemplate": {"spec": {"template": {"spec": spec(args=["a"])}}}},
    }
    pod = {"kind": "Pod", "spec": spec(args=["a"])}
    views = {manifest_pod_spec(m) for m in (deployment, cronjob, pod)}
    assert len(views) == 1
    assert manifest_pod_spec({"kind": "ConfigMap", "data": {}}) is None
    assert pod_spec_view({"containers": "not a list of containers"}) is None


def test_drift_compares_with_the_closer_template_the_last_decision_saw() -> None:
    seen = pod_spec_view(spec(env=[{"name": "A"}]))
    brought = pod_spec_view(spec(env=[{"name": "A"}, {"name": "B"}]))
    assert seen is not None
    assert brought is not None
    recorded = {
        "pod_spec": {
            "live": {**seen.to_dict(), "digest": seen.digest},
            "deploying": {**brought.to_dict(), "digest": brought.digest},
        }
    }
    assert template_changes(seen, recorded) == ()  # as it was: the deploy did not happen
    assert template_changes(brought, recorded) == ()  # as the gate let through
    edited = pod_spec_view(spec(env=[{"name": "A"}, {"name": "B"}, {"name": "C"}]))
    assert template_changes(edited, recorded) == ("container app env added: C",)
    assert template_changes(edited, {}) == ()  # a decision from before templates: nothing
    target = Target.of("production", "prod-eu", "shop", "deployment/app")
    exposure = Exposure(target, (), "k8s", template=edited)
    drift = find_drift(exposure, (), "dec_1", NOW, recorded)
    assert drift is not None
    assert drift.undecided == ()
    title = drift.signal(target, NOW).title
    assert "pod template changed outside the gate: container app env added: C" in title
    assert drift.to_dict()["changed"] == ["container app env added: C"]
