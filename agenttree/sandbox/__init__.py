"""Sandboxes: where commands, systems under test and their dependencies run.

One :class:`Sandbox` protocol with local-process, docker and Kubernetes backends, and an EDN
container spec (:mod:`agenttree.sandbox.spec`) compiled to processes, ``docker run``, a docker
compose file or Kubernetes Jobs. See docs/sandboxes.md.
"""

from .base import (
    BACKENDS,
    Environment,
    ExecResult,
    Limits,
    Sandbox,
    SandboxBackend,
    SandboxError,
    open_backend,
    sandbox_name,
)
from .spec import ContainerSpec, SpecError, load_spec, parse_spec

__all__ = ["BACKENDS", "ContainerSpec", "Environment", "ExecResult", "Limits", "Sandbox",
           "SandboxBackend", "SandboxError", "SpecError", "load_spec", "open_backend",
           "parse_spec", "sandbox_name"]
