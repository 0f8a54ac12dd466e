"""Importing this module registers every built-in tool in :data:`REGISTRY`."""

from ..tool_names import TOOL_NAMES
from . import agents, fs, lock_tools, outputs, sh
from .base import REGISTRY

__all__ = ["REGISTRY", "agents", "fs", "lock_tools", "outputs", "sh"]

if set(REGISTRY) != TOOL_NAMES:
    raise ImportError(f"built-in tools and TOOL_NAMES differ: {set(REGISTRY) ^ TOOL_NAMES}")
