"""A process's memory as the kernel counts it for that process image alone.

``getrusage``'s ``ru_maxrss`` is not that: a process started by a large one (``make bench``
after its replay sections) inherits its parent's peak through fork and exec, so two children
of a 1 GB bench process both reported 1 GB.
"""

from __future__ import annotations


def _status_kb(pid: int | str, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith(field)).split()[1])


def peak_rss_kb(pid: int | str = "self") -> int:
    """The peak resident set of ``pid`` since it was exec'd (``VmHWM``), in KiB."""
    return _status_kb(pid, "VmHWM:")


def rss_kb(pid: int | str = "self") -> int:
    """The resident set of ``pid`` now (``VmRSS``), in KiB."""
    return _status_kb(pid, "VmRSS:")
