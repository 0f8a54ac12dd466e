"""Hypothesis strategies for container specs: EDN text for any valid spec."""

from __future__ import annotations

import edn_format
from edn_format import Keyword
from hypothesis import strategies as st

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
CONTAINER = st.fixed_dictionaries({
    "image": st.sampled_from(["redis:7", "python:3.11", "ghcr.io/x/y@sha256:" + "a" * 64]),
}, optional={
    "cmd": st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3),
    "workdir": st.sampled_from(["/work", "/srv/app"]),
    "env": st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,6}", fullmatch=True),
                           st.text(max_size=8), max_size=3),
    "ports": st.lists(st.integers(1, 65535), max_size=3, unique=True),
    "mounts": st.lists(st.fixed_dictionaries({
        "host": st.sampled_from([".", "src", "a/b"]),
        "container": st.sampled_from(["/work", "/data", "/x/y"]),
        "read-only": st.booleans()}), max_size=2, unique_by=lambda m: m["container"]),
    "health": st.fixed_dictionaries({"cmd": st.just(["true"])}, optional={
        "interval-ms": st.integers(1, 5000), "retries": st.integers(1, 50),
        "timeout-ms": st.integers(1, 9000), "start-period-ms": st.integers(0, 9000)}),
    "resources": st.fixed_dictionaries({}, optional={
        "cpus": st.sampled_from([0.25, 1, 2.5]),
        "memory": st.sampled_from(["64Mi", "2Gi", "1G", "500k"])}),
    "network": st.sampled_from(["none", "internet"]),
})


def _edn(value) -> str:
    if isinstance(value, Keyword):
        return f":{value.name}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return edn_format.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + " ".join(_edn(v) for v in value) + "]"
    # Spec keys (lower case) are keywords; environment variable names are strings.
    return "{" + " ".join(f"{':' + k if k != k.upper() else _edn(k)} {_edn(v)}"
                          for k, v in value.items()) + "}"


@st.composite
def specs(draw) -> str:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    containers = []
    for i, name in enumerate(names):
        c = dict(draw(CONTAINER), name=name)
        if "network" in c:
            c["network"] = Keyword(c["network"])
        c["depends-on"] = draw(st.lists(st.sampled_from(names[i + 1:]), unique=True)) \
            if i + 1 < len(names) else []
        containers.append(c)
    return "{:containers [" + " ".join(_edn(c) for c in containers) + "]}"
