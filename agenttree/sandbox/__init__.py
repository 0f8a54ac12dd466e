"""Sandboxes: where commands, systems under test and their dependencies run.

One :class:`Sandbox` protocol with local-process, docker and Kubernetes backends, and an EDN
container spec (:mod:`agenttree.sandbox.spec`) compiled to processes, ``docker run``, a docker
compose file or Kubernetes Jobs. See docs/sandboxes.md.

The names below are imported from their modules when first used, so importing a light module of
this package (the ``containers`` command's parser, :mod:`.names`) loads no backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import (
        Environment,
        ExecResult,
        Limits,
        Sandbox,
        SandboxBackend,
        SandboxError,
        open_backend,
        sandbox_name,
    )
    from .names import BACKENDS
    from .spec import ContainerSpec, SpecError, load_spec, parse_spec

_HOMES = {"BACKENDS": ".names", "ContainerSpec": ".spec", "SpecError": ".spec",
          "load_spec": ".spec", "parse_spec": ".spec", "Environment": ".base",
          "ExecResult": ".base", "Limits": ".base", "Sandbox": ".base",
          "SandboxBackend": ".base", "SandboxError": ".base", "open_backend": ".base",
          "sandbox_name": ".base"}

__all__ = ["BACKENDS", "ContainerSpec", "Environment", "ExecResult", "Limits", "Sandbox",
           "SandboxBackend", "SandboxError", "SpecError", "load_spec", "open_backend",
           "parse_spec", "sandbox_name"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
