"""The control protocol: typed commands for a running engine, and the one client that sends
them (:mod:`.commands`: the records and their wire format; :mod:`.client`: append, find the
answer, wait for it, stage a plan). It sits beside :mod:`agenttree.events`: whoever reads or
steers a run directory (the CLI, the terminal UI, the web view) needs it without importing the
engine, whose side of the file is :mod:`agenttree.runtime.control`. See docs/control.md.
"""

from .client import Answer, ControlClient, Sent, append_command, stage_plan
from .commands import (
    MAX_COMMAND,
    Approve,
    Cancel,
    Command,
    CommandError,
    Deny,
    Grant,
    Message,
    Reassign,
    Reconcile,
    decode_command,
    encode_command,
    parse_command,
)

__all__ = ["MAX_COMMAND", "Answer", "Approve", "Cancel", "Command", "CommandError",
           "ControlClient", "Deny", "Grant", "Message", "Reassign", "Reconcile", "Sent",
           "append_command", "decode_command", "encode_command", "parse_command", "stage_plan"]
