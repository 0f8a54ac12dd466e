"""Shared fixtures for the engine tests (pytest-trio's trio_mode is on for this tree)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio.testing

from . import realmodel
from .clock import virtual_clock


@pytest.fixture
def autojump_clock() -> Iterator[trio.testing.MockClock]:
    """Virtual time that jumps ahead whenever every task is blocked (not while a worker thread
    runs or a process the run started is alive: see :mod:`tests.clock`)."""
    with virtual_clock() as clock:
        yield clock


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``realmodel`` skip, saying how to enable them, unless they are enabled."""
    if realmodel.enabled():
        return
    skip = pytest.mark.skip(reason=realmodel.HOW_TO_ENABLE)
    for item in items:
        if "realmodel" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def llama() -> Iterator[realmodel.LlamaServer]:
    """llama.cpp's server with SmolLM2-135M, started once for the session (``realmodel``
    tests only; enabled but not installed is an error, never a silent skip)."""
    with realmodel.llama_server() as server:
        yield server
