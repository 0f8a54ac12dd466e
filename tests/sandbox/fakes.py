"""Fake ``docker`` and ``kubectl`` executables put on PATH for the sandbox tests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import attrs
import pytest

HERE = Path(__file__).parent


def install(bin_dir: Path, name: str, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put an executable ``name`` running ``python script`` first on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\nexec {sys.executable} {HERE / script} "$@"\n')
    path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def _lines(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@attrs.frozen
class FakeDocker:
    """The fake's directory, with what it was asked and what it holds."""

    home: Path

    def calls(self) -> list[list[str]]:
        return _lines(self.home / "calls.jsonl")

    def state(self) -> dict:
        path = self.home / "state.json"
        return json.loads(path.read_text()) if path.exists() else \
            {"containers": {}, "networks": {}}


def use_fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_url: str):
    """Put a ``kubectl`` on PATH whose ``exec`` runs commands here; returns its calls."""
    log = tmp_path / "kubectl-calls.jsonl"
    install(tmp_path / "fake-kubectl", "kubectl", "fake_kubectl.py", monkeypatch)
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    monkeypatch.setenv("FAKE_KUBE_URL", api_url)
    return lambda: _lines(log)
