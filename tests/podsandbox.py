"""Run a command the way a Kubernetes pod runs it, on this machine, without a container engine.

No container engine runs here and no image can be pulled, so the tests start Clearance's image
entrypoint from a virtualenv inside a private mount namespace (``unshare -m``, as root) that
gives the process what the pod gives it: the files of its ConfigMap and Secret volumes at their
exact mount paths (including the service account under /var/run/secrets), empty writable
directories for its emptyDir and PersistentVolume mounts, a read-only root filesystem, the
pod's user id, and only the pod's environment. Nothing outside the namespace changes: new
directories appear in overlays whose upper layers live in a tmpfs.

:func:`unavailable` says why this cannot run (not root, no ``unshare``), so tests can skip.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

TOOLS = ("unshare", "nsenter", "setpriv", "mount", "bash")


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a private mount namespace"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} (util-linux)"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], check=False, capture_output=True
    )
    return None if probe.returncode == 0 else "unshare -m is not permitted here"


@dataclass
class Pod:
    """What the container sees. ``files``: absolute path → bytes; ``writable``: empty dirs."""

    argv: list[str]
    env: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    writable: list[str] = field(default_factory=list)
    uid: int = 10001
    gid: int = 10001
    readable: list[Path] = field(default_factory=list)  # host paths the pod user must reach


def start(pod: Pod, stage: Path, **popen: object) -> subprocess.Popen[bytes]:
    """Start ``pod`` (the returned process is inside the namespace; see :func:`exec_in`)."""
    stage.mkdir(parents=True, exist_ok=True)
    scratch = stage / "scratch"
    scratch.mkdir(exist_ok=True)
    lines = ["set -euo pipefail", f"mount -n -t tmpfs -o mode=755 tmpfs {_q(scratch)}"]
    lines += _reexpose(pod.readable, scratch)
    overlaid: set[str] = set()
    dirs = {str(PurePosixPath(p).parent) for p in pod.files} | set(pod.writable)
    for directory in sorted(dirs):
        anchor = _existing_ancestor(directory)
        if anchor == "/" and not Path(directory).exists():
            raise ValueError(f"{directory}: would be created on the host's root; not supported")
        if anchor not in overlaid and not Path(directory).exists():
            upper, work = scratch / f"up{len(overlaid)}", scratch / f"work{len(overlaid)}"
            lines.append(f"mkdir -p {_q(upper)} {_q(work)}")
            lines.append(
                f"mount -n -t overlay overlay -o lowerdir={anchor},upperdir={upper},"
                f"workdir={work} {_q(anchor)}"
            )
            overlaid.add(anchor)
        lines.append(f"mkdir -p {_q(directory)}")
    files = stage / "files"
    for index, (path, content) in enumerate(sorted(pod.files.items())):
        staged = files / str(index)
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(content)
        lines.append(f"install -m 0644 {_q(staged)} {_q(path)}")
    # emptyDir / PVC: empty and writable. Last, since /tmp may hide the staged files.
    for directory in pod.writable:
        lines.append(f"mount -n -t tmpfs -o mode=1777 tmpfs {_q(directory)}")
    lines.append("mount -n -o remount,bind,ro /")  # readOnlyRootFilesystem
    env = " ".join(_q(f"{k}={v}") for k, v in sorted(pod.env.items()))
    lines.append(f"exec {_setpriv(pod)} env -i {env} {' '.join(_q(a) for a in pod.argv)}")
    script = stage / "pod.sh"
    script.write_text("\n".join(lines) + "\n")
    command = ["unshare", "-m", "--propagation", "private", "bash", str(script)]
    return subprocess.Popen(command, **popen)  # type: ignore[call-overload, no-any-return]


def exec_in(
    pid: int, pod: Pod, argv: list[str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``kubectl exec``: run ``argv`` in the running pod's filesystem, user and environment."""
    env = [f"{k}={v}" for k, v in sorted(pod.env.items())]
    command = ["nsenter", "--mount", f"--target={pid}", *_setpriv(pod).split()]
    command += ["env", "-i", *env, *argv]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)


def _setpriv(pod: Pod) -> str:
    return f"setpriv --reuid={pod.uid} --regid={pod.gid} --clear-groups"


def _existing_ancestor(directory: str) -> str:
    path = Path(directory)
    while not path.exists():
        path = path.parent
    return str(path.resolve())


def _reexpose(paths: list[Path], scratch: Path) -> list[str]:
    """Host directories the pod user cannot traverse (pyenv or a checkout under /root, mode
    700) are bound again below a world-traversable tmpfs, so an unprivileged user reaches the
    interpreter and the installed package."""
    children: dict[Path, set[str]] = {}
    for target in paths:
        real = target.resolve()
        for ancestor in reversed(real.parents):
            if ancestor != Path("/") and not ancestor.stat().st_mode & stat.S_IXOTH:
                children.setdefault(ancestor, set()).add(real.relative_to(ancestor).parts[0])
                break
    lines: list[str] = []
    for number, (ancestor, names) in enumerate(sorted(children.items())):
        kept = [(scratch / f"keep{number}-{i}", ancestor / n) for i, n in enumerate(sorted(names))]
        for keep, original in kept:
            lines += [f"mkdir -p {_q(keep)}", f"mount -n --bind {_q(original)} {_q(keep)}"]
        lines.append(f"mount -n -t tmpfs -o mode=755 tmpfs {_q(ancestor)}")
        for keep, original in kept:
            lines += [f"mkdir -p {_q(original)}", f"mount -n --move {_q(keep)} {_q(original)}"]
    return lines


def _q(value: object) -> str:
    return shlex.quote(str(value))
