"""Fixtures for the sandbox tests: fake ``docker``, ``kubectl`` and ``debootstrap`` on PATH, a
stub Kubernetes API server. (The real docker engine: engine.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from .fakes import FakeDocker, install, use_fake_kubectl
from .stub_kube import StubKube


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    """A ``docker`` executable on PATH that records its argv (see fake_docker.py)."""
    home = tmp_path / "fake-docker"
    install(home / "bin", "docker", "fake_docker.py", monkeypatch)
    monkeypatch.setenv("FAKE_DOCKER_DIR", str(home))
    return FakeDocker(home)


@pytest.fixture
async def stub_kube(nursery) -> StubKube:
    """A stub Kubernetes API server on 127.0.0.1 (see stub_kube.py)."""
    server = StubKube()
    await nursery.start(server.serve)
    return server


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub_kube: StubKube):
    """A fake ``kubectl`` talking to ``stub_kube`` (see fake_kubectl.py)."""
    return use_fake_kubectl(tmp_path, monkeypatch, stub_kube.url)


@pytest.fixture
def fake_debootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``debootstrap`` on PATH that makes a tiny tree (see fake_debootstrap.py); returns the
    file its calls are logged in, one JSON argv a line."""
    log = tmp_path / "debootstrap-calls.jsonl"
    install(tmp_path / "fake-debootstrap", "debootstrap", "fake_debootstrap.py", monkeypatch)
    monkeypatch.setenv("FAKE_DEBOOTSTRAP_LOG", str(log))
    return log
