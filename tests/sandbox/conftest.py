"""Fixtures for the sandbox tests: a fake ``docker`` on PATH."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import attrs
import pytest


@attrs.frozen
class FakeDocker:
    """The fake's directory, with what it was asked and what it holds."""

    home: Path

    def calls(self) -> list[list[str]]:
        path = self.home / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []

    def state(self) -> dict:
        path = self.home / "state.json"
        return json.loads(path.read_text()) if path.exists() else \
            {"containers": {}, "networks": {}}


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    """A ``docker`` executable on PATH that records its argv (see fake_docker.py)."""
    home = tmp_path / "fake-docker"
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "docker"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} '
                      f'{Path(__file__).with_name("fake_docker.py")} "$@"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_DIR", str(home))
    return FakeDocker(home)
