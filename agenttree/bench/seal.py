"""The sealed bubblewrap view: what a coding agent's ``sh`` and its program see on the local
backend.

Plain bubblewrap (:class:`~agenttree.sandbox.procs.Confinement`) binds the whole file system
read-only and lets the workspace alone be written: a command can still *read* everything, the
suite's hidden tests, earlier reports (whose workspaces hold reference solutions), the project's
``.git``, the run's own log, the docker socket. A sealed command sees an allow-list instead:

* the system, read-only: ``/usr`` and ``/etc`` (and ``/bin``, ``/lib``... as they are here,
  directories or the symbolic links of a merged ``/usr``);
* the Python the bench runs on, read-only (its prefixes: a virtual environment and the
  installation it was made from), so ``python`` has trio, trio-websocket and httpx;
* the workspace, read-write; a fresh ``/tmp`` (also ``HOME``), ``/dev`` and ``/proc`` (of its own
  process namespace: no ``/proc/PID/root`` of a process outside);

and nothing else, with every namespace unshared: no network (the program under test shares the
host's, so the hidden tests can reach its port). Paths to hide that lie inside the allow-list
(a suite installed under ``/usr``) get an empty directory laid over them.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from ..sandbox.procs import Confinement, detect_confinement

SYSTEM = ("usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
"""Top-level directories of the system a sealed command sees (those that exist here)."""
PROBE_TIMEOUT_S = 30


def _inside(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


@functools.cache
def python_roots() -> tuple[str, ...]:
    """The directories the running Python needs (its prefixes, real paths), outside ``/usr``."""
    found: list[str] = []
    candidates = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    for path in sorted({os.path.realpath(p) for p in candidates}, key=len):
        if path != "/" and not _inside(path, ["/usr", *found]):
            found.append(path)
    # A virtual environment's own path (its bin/python links into the real installation).
    for path in (sys.prefix, sys.exec_prefix):
        if path != os.path.realpath(path) and not _inside(path, ["/usr", *found]):
            found.append(path)
    return tuple(found)


@functools.cache
def shown() -> tuple[str, ...]:
    """The host directories a sealed command sees read-only: the system's and the Python's."""
    system = [str(p) for p in (Path("/") / name for name in SYSTEM)
              if p.is_dir() and not p.is_symlink()]
    return (*system, *python_roots())


def system_view() -> list[str]:
    """The bubblewrap arguments that show the system and the Python, read-only."""
    links = [arg for name in SYSTEM if (Path("/") / name).is_symlink()
             for arg in ("--symlink", os.readlink(Path("/") / name), f"/{name}")]
    return [*(arg for path in shown() for arg in ("--ro-bind", path, path)), *links]


@attrs.frozen(kw_only=True)
class SealedConfinement(Confinement):
    """Bubblewrap with the sealed view (see the module docstring).

    Args:
        hidden: host paths covered with an empty directory should the view include them.
        network: share the host's network (the program under test); else none at all.
    """

    kind: str = "bwrap"
    hidden: tuple[str, ...] = ()
    network: bool = False

    def wrap(self, argv: list[str], *, workspace: str | os.PathLike[str],
             cwd: str | os.PathLike[str],
             read_only: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
        """``argv`` run in the sealed view, writing only ``workspace`` (less ``read_only``)."""
        ws = os.fspath(workspace)
        masks = [arg for path in self.hidden if _inside(path, shown())
                 for arg in ("--tmpfs", path)]
        kept = [arg for path in map(os.fspath, read_only) for arg in ("--ro-bind", path, path)]
        # No --new-session: see Confinement.wrap (one killpg must reach everything inside).
        # The fresh /tmp comes first: a Python (a virtual environment) under /tmp is bound on it.
        return ["bwrap", "--unshare-all", *(["--share-net"] if self.network else []),
                "--die-with-parent", "--tmpfs", "/tmp", *system_view(), "--dev", "/dev",
                "--proc", "/proc", *masks, "--bind", ws, ws, *kept, "--setenv", "HOME", "/tmp",
                "--chdir", os.fspath(cwd), "--", *argv]


@functools.cache
def can_seal() -> bool:
    """Whether bubblewrap works here and Python runs in the sealed view (probed once)."""
    if detect_confinement("auto").kind != "bwrap":
        return False
    probe = SealedConfinement().wrap([sys.executable, "-c", "import trio, httpx"],
                                     workspace="/tmp", cwd="/tmp")
    try:
        done = subprocess.run(probe, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
