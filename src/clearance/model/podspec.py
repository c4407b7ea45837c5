"""The part of a pod template that drift compares: a canonical, hashed subset.

A workload's pod template says what its containers run and with which powers. Clearance
records, with every decision, this subset of the live template (and of the manifest the
deploy brings, when it brings one):

- per container (init containers as ``init:<name>``): ``command``, ``args``, the *names* of
  its ``env`` variables (never their values: they may hold secrets), and
  ``securityContext.privileged``;
- the pod's ``hostPath`` volumes (their paths).

Images are not in it: the image drift check (:mod:`clearance.model.drift`) already compares
them, and knows a tag from its digest. Everything else (resources, probes, labels, the
defaults the API server fills in) changes too often, or means too little, to call drift.
The subset is canonical (sorted, only what is set) and hashed, so two spellings of one
template are one digest, and a change in it is named field by field (:meth:`PodSpecView.changes`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

from clearance.model.canonical import canonical_json


class ContainerView(msgspec.Struct, frozen=True):
    name: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # variable names, sorted
    privileged: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.command:
            data["command"] = list(self.command)
        if self.args:
            data["args"] = list(self.args)
        if self.env:
            data["env"] = list(self.env)
        if self.privileged:
            data["privileged"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContainerView:
        return cls(
            name=str(data["name"]),
            command=tuple(data.get("command", ())),
            args=tuple(data.get("args", ())),
            env=tuple(data.get("env", ())),
            privileged=bool(data.get("privileged", False)),
        )


class PodSpecView(msgspec.Struct, frozen=True):
    """The compared subset of one pod template; ``containers`` sorted by name."""

    containers: tuple[ContainerView, ...]
    host_paths: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(self.to_dict())).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"containers": [c.to_dict() for c in self.containers]}
        if self.host_paths:
            data["host_paths"] = list(self.host_paths)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PodSpecView:
        return cls(
            containers=tuple(ContainerView.from_dict(c) for c in data.get("containers", ())),
            host_paths=tuple(data.get("host_paths", ())),
        )

    def changes(self, before: PodSpecView) -> tuple[str, ...]:
        """What differs from ``before``, one short phrase each, in a stable order."""
        out: list[str] = []
        old = {c.name: c for c in before.containers}
        new = {c.name: c for c in self.containers}
        for name in sorted(new.keys() - old.keys()):
            out.append(f"container {name} added")
        for name in sorted(old.keys() - new.keys()):
            out.append(f"container {name} removed")
        for name in sorted(new.keys() & old.keys()):
            a, b = old[name], new[name]
            if a.command != b.command:
                out.append(f"container {name} command {_words(a.command)} -> {_words(b.command)}")
            if a.args != b.args:
                out.append(f"container {name} args {_words(a.args)} -> {_words(b.args)}")
            if added := sorted(set(b.env) - set(a.env)):
                out.append(f"container {name} env added: {', '.join(added)}")
            if removed := sorted(set(a.env) - set(b.env)):
                out.append(f"container {name} env removed: {', '.join(removed)}")
            if a.privileged != b.privileged:
                now = "privileged" if b.privileged else "no longer privileged"
                out.append(f"container {name} {now}")
        if added := sorted(set(self.host_paths) - set(before.host_paths)):
            out.append(f"hostPath volume(s) added: {', '.join(added)}")
        if removed := sorted(set(before.host_paths) - set(self.host_paths)):
            out.append(f"hostPath volume(s) removed: {', '.join(removed)}")
        return tuple(out)


def pod_spec_view(spec: Any) -> PodSpecView | None:
    """The subset of a pod spec (``spec.template.spec`` of a workload, ``spec`` of a pod), or
    None when ``spec`` is not a pod spec with containers. Tolerant: a field of the wrong type
    is left out (the API server would not have stored it)."""
    if not isinstance(spec, Mapping):
        return None
    containers: list[ContainerView] = []
    for group, prefix in (("initContainers", "init:"), ("containers", "")):
        for c in spec.get(group) or ():
            if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
                continue
            security = c.get("securityContext")
            containers.append(
                ContainerView(
                    name=prefix + c["name"],
                    command=_strings(c.get("command")),
                    args=_strings(c.get("args")),
                    env=tuple(
                        sorted(
                            {
                                str(e["name"])
                                for e in c.get("env") or ()
                                if isinstance(e, Mapping) and isinstance(e.get("name"), str)
                            }
                        )
                    ),
                    privileged=isinstance(security, Mapping) and security.get("privileged") is True,
                )
            )
    if not containers:
        return None
    paths = {
        str(v["hostPath"]["path"])
        for v in spec.get("volumes") or ()
        if isinstance(v, Mapping)
        and isinstance(v.get("hostPath"), Mapping)
        and isinstance(v["hostPath"].get("path"), str)
    }
    return PodSpecView(tuple(sorted(containers, key=lambda c: c.name)), tuple(sorted(paths)))


def manifest_pod_spec(manifest: Mapping[str, Any]) -> PodSpecView | None:
    """The subset of a workload manifest's pod template (a CronJob's job template's, a pod's
    own spec)."""
    spec: Any = manifest.get("spec") or {}
    if isinstance(spec, Mapping) and "jobTemplate" in spec:  # CronJob
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if isinstance(spec, Mapping) and "template" in spec:
        spec = (spec.get("template") or {}).get("spec") or {}
    return pod_spec_view(spec)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _words(words: tuple[str, ...]) -> str:
    text = " ".join(words) if words else "(image default)"
    return text if len(text) <= 60 else text[:57] + "..."
