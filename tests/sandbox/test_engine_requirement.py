"""The rule every real-engine test follows: skipped locally, saying how to enable it; a failure
in CI, where ``AGENTTREE_REQUIRE_DOCKER`` is set."""

from __future__ import annotations

import pytest

from .engine import REQUIRE, require


def test_a_missing_engine_skips_locally_with_the_reason(monkeypatch) -> None:
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no engine; to enable: run x"):
        require("no engine; to enable: run x")


def test_a_missing_engine_fails_in_ci(monkeypatch) -> None:
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match="AGENTTREE_REQUIRE_DOCKER is set, but no en"):
        require("no engine; to enable: run x")


def test_nothing_missing_runs_the_test(monkeypatch) -> None:
    monkeypatch.setenv(REQUIRE, "1")
    require(None)
