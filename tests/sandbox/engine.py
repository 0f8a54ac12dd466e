"""The real docker engine for the tests: whether it answers, the images the tests use, and
what a test that needs them does when they are missing.

Locally such a test is skipped, and the reason gives the exact commands that enable it. In CI
(``AGENTTREE_REQUIRE_DOCKER=1``, set by ``.ci/run``) it fails instead: nothing about
docker is skipped there.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

from agenttree.errors import UserError
from agenttree.sandbox.base import SANDBOX_LABEL
from agenttree.sandbox.images import EXAMPLE_IMAGES, is_current

REQUIRE = "AGENTTREE_REQUIRE_DOCKER"
SETUP = ("as root, run .ci/docker.sh, which does: apt-get install -y docker.io docker-compose "
         "debootstrap; nohup dockerd >/var/log/agenttree-dockerd.log 2>&1 & (until `docker "
         "info` answers); " + "; ".join(image.command() for image in EXAMPLE_IMAGES))


def _answers(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def engine_problem() -> str | None:
    """Why the real-engine tests cannot run here (``None``: they can)."""
    if shutil.which("docker") is None or not _answers(["docker", "info"]):
        return f"no docker engine answers `docker info`; to enable: {SETUP}"
    try:
        stale = [image for image in EXAMPLE_IMAGES if not is_current(image)]
    except UserError as exc:
        return f"{exc}; to enable: {SETUP}"
    if stale:
        return (f"image {stale[0].name} is missing or was built from other packages; to "
                f"enable: {'; '.join(image.command() for image in stale)}")
    return None


def compose_problem() -> str | None:
    """Why ``docker-compose`` cannot be used here (``None``: it can)."""
    if shutil.which("docker-compose") is None:
        return f"docker-compose is not installed; to enable: {SETUP}"
    return None


def require(problem: str | None) -> None:
    """Skip the test for ``problem`` -- or, in CI, fail it."""
    if problem is None:
        return
    if os.environ.get(REQUIRE):
        pytest.fail(f"{REQUIRE} is set, but {problem}", pytrace=False)
    pytest.skip(problem)


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    """``docker *args``, output captured, failing the test if it fails."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done


def leftovers(name: str) -> dict[str, list[str]]:
    """Containers, networks and volumes still labelled with sandbox ``name`` (empty lists:
    nothing left)."""
    label = f"label={SANDBOX_LABEL}={name}"
    return {kind: docker(*argv, "--filter", label).stdout.split()
            for kind, argv in (("containers", ["ps", "-aq"]),
                               ("networks", ["network", "ls", "-q"]),
                               ("volumes", ["volume", "ls", "-q"]))}


NOTHING = {"containers": [], "networks": [], "volumes": []}


def unique_case(prefix: str) -> str:
    """A case name no concurrent test session uses (sandbox names derive from it)."""
    return f"{prefix}-{os.getpid()}"

