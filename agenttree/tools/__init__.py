"""Built-in tools. Importing this package registers them all in :data:`REGISTRY`."""

from . import agents, fs, sh
from .base import REGISTRY, Param, Tool, check_args, tool

__all__ = ["REGISTRY", "Param", "Tool", "agents", "check_args", "fs", "sh", "tool"]
