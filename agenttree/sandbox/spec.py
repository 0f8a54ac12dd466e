"""Container specs: an EDN file describing a system under test and its dependencies.

:func:`load_spec` / :func:`parse_spec` turn EDN like this into a :class:`ContainerSpec`::

    {:containers
     [{:name "sut" :image "python:3.11" :workdir "/work" :mounts [{:host "." :container "/work"}]
       :cmd ["bash" "-lc" "python -m pytest"] :env {"CI" "1"} :depends-on ["redis"]
       :resources {:cpus 2 :memory "2Gi"} :network :none}
      {:name "redis" :image "redis:7" :ports [{:container 6379 :host 6379}]
       :health {:cmd ["redis-cli" "ping"] :interval-ms 500 :retries 20}}]}

or raise :class:`SpecError` naming the file, line and key (unknown keys, bad ports, dependency
cycles, mounts outside the project, bad health checks...). The backends (local, docker, compose,
kubernetes) all read the same validated record. The format is documented in docs/sandboxes.md.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from edn_format import Keyword

from ..edn_source import (
    VECTOR,
    Context,
    Locator,
    check_keys,
    expect,
    get,
    kind_of,
    name_of,
    read_edn,
    read_source,
)
from ..errors import PlanError

PINNED_ENV = {"TZ": "UTC", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
"""Set in every container (a spec's ``:env`` may override them) so runs are reproducible."""
NETWORKS = ("none", "internet")
"""``:none`` (default): only the spec's own containers are reachable; ``:internet``: egress too."""
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A DNS label: what docker, compose and Kubernetes all accept as a name."""
MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_TIMEOUT_S = 3600


class SpecError(PlanError):
    """A container spec that does not validate (file, line and key in the message).

    The message is kept to one line even when it quotes a value with line breaks in it.
    """

    def __init__(self, message: str, **where: Any) -> None:
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"), **where)


@attrs.frozen(kw_only=True)
class Port:
    """A port the container listens on, and the host port it is published on (if any)."""

    container: int
    host: int | None = None


@attrs.frozen(kw_only=True)
class Mount:
    """A project directory (``host``, relative to the project) seen at ``container``."""

    host: str
    container: str
    read_only: bool = False


@attrs.frozen(kw_only=True)
class Health:
    """A readiness check: ``cmd`` run inside the container until it exits 0."""

    cmd: tuple[str, ...]
    interval_ms: int = 500
    retries: int = 20
    timeout_ms: int = 5000
    start_period_ms: int = 0

    @property
    def budget_s(self) -> float:
        """The longest a container may take to become healthy."""
        return (self.start_period_ms + self.retries * (self.interval_ms + self.timeout_ms)) / 1000


@attrs.frozen(kw_only=True)
class Resources:
    """CPU (cores) and memory (a Kubernetes quantity like ``"2Gi"``) for one container."""

    cpus: float | None = None
    memory: str | None = None


@attrs.frozen(kw_only=True)
class Container:
    """One container of a spec."""

    name: str
    image: str = ""
    workdir: str | None = None
    cmd: tuple[str, ...] | None = None
    env: Mapping[str, str] = attrs.Factory(dict)
    mounts: tuple[Mount, ...] = ()
    ports: tuple[Port, ...] = ()
    depends_on: tuple[str, ...] = ()
    resources: Resources = Resources()
    network: str = "none"
    health: Health | None = None
    line: int | None = attrs.field(default=None, eq=False)

    def environment(self) -> dict[str, str]:
        """The container's environment: the pinned variables, then its own ``:env``."""
        return {**PINNED_ENV, **self.env}


@attrs.frozen(kw_only=True)
class ContainerSpec:
    """A validated spec: containers in dependency order (dependencies first), and the SUT."""

    name: str
    sut: str
    containers: tuple[Container, ...]
    timeout_s: float = DEFAULT_TIMEOUT_S
    source: str = attrs.field(default="<spec>", eq=False)

    def container(self, name: str) -> Container:
        """The container called ``name`` (KeyError if none)."""
        for container in self.containers:
            if container.name == name:
                return container
        raise KeyError(name)

    @property
    def dependencies(self) -> tuple[Container, ...]:
        """Every container but the SUT, dependencies first."""
        return tuple(c for c in self.containers if c.name != self.sut)


# --- parsing ---------------------------------------------------------------------------------

_SPEC_KEYS = {"name", "sut", "containers", "timeout-s"}
_CONTAINER_KEYS = {"name", "image", "workdir", "cmd", "env", "mounts", "ports", "depends-on",
                   "resources", "network", "health"}
_HEALTH_KEYS = {"cmd", "interval-ms", "retries", "timeout-ms", "start-period-ms"}


def _strings(ctx: Context, raw: Any, key: str, *, empty: bool = False) -> tuple[str, ...]:
    expect(ctx, raw, VECTOR, 'a vector of strings like ["python" "-m" "pytest"]', key)
    if not raw and not empty:
        raise ctx.fail("must not be empty", key)
    for item in raw:
        expect(ctx, item, str, "strings only", key)
    return tuple(raw)


def _positive(ctx: Context, raw: Any, key: str, *, zero: bool = False) -> int:
    expect(ctx, raw, int, "a whole number", key)
    if raw < 0 or (raw == 0 and not zero):
        raise ctx.fail(f"must be {'at least 0' if zero else 'positive'}, got {raw}", key)
    return raw


def _abs_path(ctx: Context, raw: Any, key: str) -> str:
    expect(ctx, raw, str, 'an absolute path like "/work"', key)
    if not raw.startswith("/") or "\0" in raw:
        raise ctx.fail(f'must be an absolute path in the container, got "{raw}"', key)
    return posixpath.normpath(raw)


def _port_number(ctx: Context, raw: Any, key: str) -> int:
    expect(ctx, raw, int, "a port number", key)
    if not 1 <= raw <= 65535:
        raise ctx.fail(f"port must be 1-65535, got {raw}", key)
    return raw


def _ports(ctx: Context, raw: Any) -> tuple[Port, ...]:
    expect(ctx, raw, VECTOR, "a vector of {:container N :host M} maps", "ports")
    ports, seen = [], set()
    for item in raw:
        if isinstance(item, int) and not isinstance(item, bool):
            item = {Keyword("container"): item}
        expect(ctx, item, Mapping, "a map like {:container 6379 :host 6379}", "ports")
        check_keys(ctx, item, {"container", "host"}, "a port")
        if get(item, "container") is None:
            raise ctx.fail("each port needs :container", "ports")
        port = Port(container=_port_number(ctx, get(item, "container"), "container"),
                    host=(None if get(item, "host") is None
                          else _port_number(ctx, get(item, "host"), "host")))
        if port.container in seen:
            raise ctx.fail(f"container port {port.container} listed twice", "ports")
        seen.add(port.container)
        ports.append(port)
    return tuple(ports)


def _mounts(ctx: Context, raw: Any) -> tuple[Mount, ...]:
    expect(ctx, raw, VECTOR, 'a vector of {:host "." :container "/work"} maps', "mounts")
    mounts = []
    for item in raw:
        expect(ctx, item, Mapping, 'a map like {:host "." :container "/work"}', "mounts")
        check_keys(ctx, item, {"host", "container", "read-only"}, "a mount")
        host = get(item, "host")
        expect(ctx, host, str, 'a path relative to the project like "."', "host")
        normal = posixpath.normpath(host)
        if host.startswith("/") or normal == ".." or normal.startswith("../") or "\0" in host:
            raise ctx.fail(f'mount "{host}" is outside the project (use a path inside it, '
                           'relative to the project directory)', "host")
        read_only = get(item, "read-only", False)
        expect(ctx, read_only, bool, "true or false", "read-only")
        mounts.append(Mount(host=normal, container=_abs_path(ctx, get(item, "container"),
                                                             "container"),
                            read_only=read_only))
    return tuple(mounts)


def _health(ctx: Context, raw: Any) -> Health:
    expect(ctx, raw, Mapping, 'a map like {:cmd ["redis-cli" "ping"] :retries 20}', "health")
    check_keys(ctx, raw, _HEALTH_KEYS, ":health")
    if get(raw, "cmd") is None:
        raise ctx.fail("a health check needs :cmd", "health")
    values: dict[str, Any] = {"cmd": _strings(ctx, get(raw, "cmd"), "cmd")}
    for key in ("interval-ms", "retries", "timeout-ms", "start-period-ms"):
        if get(raw, key) is not None:
            values[key.replace("-", "_")] = _positive(ctx, get(raw, key), key,
                                                      zero=key == "start-period-ms")
    return Health(**values)


def _resources(ctx: Context, raw: Any) -> Resources:
    expect(ctx, raw, Mapping, 'a map like {:cpus 2 :memory "2Gi"}', "resources")
    check_keys(ctx, raw, {"cpus", "memory"}, ":resources")
    cpus, memory = get(raw, "cpus"), get(raw, "memory")
    if cpus is not None:
        expect(ctx, cpus, (int, float), "a number of cores", "cpus")
        if cpus <= 0:
            raise ctx.fail(f"must be positive, got {cpus}", "cpus")
    if memory is not None:
        expect(ctx, memory, str, 'a quantity like "512Mi" or "2Gi"', "memory")
        if not MEMORY.match(memory) or float(re.sub(r"[A-Za-z]+$", "", memory)) <= 0:
            raise ctx.fail(f'expected a quantity like "512Mi" or "2Gi", got "{memory}"',
                           "memory")
    return Resources(cpus=cpus, memory=memory)


def _env(ctx: Context, raw: Any) -> dict[str, str]:
    expect(ctx, raw, Mapping, 'a map of strings like {"CI" "1"}', "env")
    env = {}
    for k, v in raw.items():
        name = name_of(k)
        if not ENV_NAME.match(name):
            raise ctx.fail(f'"{name}" is not a valid environment variable name', "env")
        expect(ctx, v, str, f"a string value for {name}", "env")
        env[name] = v
    return env


def _container(ctx: Context, raw: Any, index: int) -> Container:
    expect(ctx, raw, Mapping, "a map per container", "containers")
    name = get(raw, "name")
    if name is None:
        raise ctx.fail(f"container {index + 1} needs :name", "containers")
    expect(ctx, name, str, 'a string like "redis"', "name")
    # The previous container's line is the anchor: this one starts after it (or on it).
    ctx.anchor = (ctx.locate.search(re.compile(r':name\s+"' + re.escape(name) + '"'),
                                    (ctx.anchor or 0) + 1) or ctx.anchor)
    if not NAME.match(name):
        raise ctx.fail(f'"{name}" is not a valid container name (lower-case letters, digits '
                       'and "-", at most 63)', "name")
    check_keys(ctx, raw, _CONTAINER_KEYS, "a container")
    image = get(raw, "image", "")
    expect(ctx, image, str, 'an image like "redis:7"', "image")
    network = get(raw, "network", Keyword("none"))
    if not isinstance(network, Keyword) or network.name not in NETWORKS:
        raise ctx.fail(f"expected one of {' '.join(':' + n for n in NETWORKS)}, got "
                       f"{kind_of(network)}", "network")
    depends = _strings(ctx, get(raw, "depends-on", []), "depends-on", empty=True)
    if len(set(depends)) != len(depends):
        raise ctx.fail("a dependency is listed twice", "depends-on")
    return Container(
        name=name, image=image, network=network.name, depends_on=depends, line=ctx.anchor,
        workdir=(None if get(raw, "workdir") is None
                 else _abs_path(ctx, get(raw, "workdir"), "workdir")),
        cmd=None if get(raw, "cmd") is None else _strings(ctx, get(raw, "cmd"), "cmd"),
        env=_env(ctx, get(raw, "env", {})),
        mounts=_mounts(ctx, get(raw, "mounts", [])),
        ports=_ports(ctx, get(raw, "ports", [])),
        resources=_resources(ctx, get(raw, "resources", {})),
        health=None if get(raw, "health") is None else _health(ctx, get(raw, "health")))


def _dependency_order(ctx: Context, containers: list[Container]) -> tuple[Container, ...]:
    """Containers with every dependency before its dependants (stable); cycles are errors."""
    by_name = {c.name: c for c in containers}
    for c in containers:
        ctx.anchor = c.line
        for dep in c.depends_on:
            if dep == c.name:
                raise ctx.fail(f'"{c.name}" depends on itself', "depends-on")
            if dep not in by_name:
                raise ctx.fail(f'"{c.name}" depends on "{dep}", which is not a container of '
                               f"this spec", "depends-on")
    order: list[Container] = []
    state: dict[str, str] = {}

    def visit(c: Container, path: list[str]) -> None:
        if state.get(c.name) == "done":
            return
        if state.get(c.name) == "visiting":
            cycle = [*path[path.index(c.name):], c.name]
            ctx.anchor = c.line
            raise ctx.fail(f"dependency cycle: {' -> '.join(cycle)}", "depends-on")
        state[c.name] = "visiting"
        for dep in c.depends_on:
            visit(by_name[dep], [*path, c.name])
        state[c.name] = "done"
        order.append(c)

    for c in containers:
        visit(c, [])
    return tuple(order)


def parse_spec(text: str, source: str = "<spec>") -> ContainerSpec:
    """Parse and validate EDN container-spec text.

    Raises:
        SpecError: the first problem found, with file, line and key.
    """
    ctx = Context(source=source, locate=Locator(text), error=SpecError)
    return _spec(ctx, read_edn(ctx, text), source)


def _spec(ctx: Context, data: Any, source: str) -> ContainerSpec:
    if not isinstance(data, Mapping):
        raise ctx.fail(f"a container spec must be a map, got {kind_of(data)}", line=1)
    check_keys(ctx, data, _SPEC_KEYS, "the spec")
    name = get(data, "name", Path(source).stem if source != "<spec>" else "spec")
    expect(ctx, name, str, "a string", "name")
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "spec"
    timeout = get(data, "timeout-s", DEFAULT_TIMEOUT_S)
    expect(ctx, timeout, (int, float), "a number of seconds", "timeout-s")
    if timeout <= 0:
        raise ctx.fail(f"must be positive, got {timeout}", "timeout-s")
    raw = get(data, "containers")
    if raw is None:
        raise ctx.fail("a spec needs :containers (a vector of container maps)", line=1)
    expect(ctx, raw, VECTOR, "a vector of container maps", "containers")
    if not raw:
        raise ctx.fail("needs at least one container", "containers")
    containers: list[Container] = []
    for index, item in enumerate(raw):
        ctx.anchor = containers[-1].line if containers else None
        container = _container(ctx, item, index)
        if any(c.name == container.name for c in containers):
            raise ctx.fail(f'duplicate container name "{container.name}"', "name")
        containers.append(container)
    _check_host_ports(ctx, containers)
    ctx.anchor = None
    sut = get(data, "sut", containers[0].name)
    expect(ctx, sut, str, "the name of a container", "sut")
    if sut not in {c.name for c in containers}:
        raise ctx.fail(f'"{sut}" is not a container of this spec', "sut")
    return ContainerSpec(name=slug, sut=sut, containers=_dependency_order(ctx, containers),
                         timeout_s=timeout, source=source)


def _check_host_ports(ctx: Context, containers: list[Container]) -> None:
    owner: dict[int, str] = {}
    for c in containers:
        for port in c.ports:
            if port.host is None:
                continue
            if port.host in owner:
                ctx.anchor = c.line
                raise ctx.fail(f"host port {port.host} is published by both "
                               f'"{owner[port.host]}" and "{c.name}"', "ports")
            owner[port.host] = c.name


_UNITS = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
          "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def memory_bytes(quantity: str) -> int:
    """A validated memory quantity (``"512Mi"``, ``"2G"``) in bytes."""
    number = re.match(r"[0-9.]+", quantity)
    assert number is not None
    return int(float(number.group()) * _UNITS[quantity[number.end():]])


def require_images(spec: ContainerSpec, backend: str) -> None:
    """Check every container names an image (the local backend alone does without).

    Raises:
        SpecError: the first container without ``:image``.
    """
    for c in spec.containers:
        if not c.image:
            raise SpecError(f'container "{c.name}" has no :image (the {backend} backend needs '
                            "one)", source=spec.source, line=c.line, key=":image")


def load_spec(path: str | Path) -> ContainerSpec:
    """Read and validate a spec file (its name defaults to the file's stem).

    Raises:
        SpecError: unreadable or invalid.
    """
    return parse_spec(read_source(path, SpecError), source=str(path))


def resolve_mount(project: Path, mount: Mount) -> Path:
    """The host directory of ``mount`` under ``project``, symlinks resolved.

    Raises:
        SpecError: it resolves outside the project (through a symlink).
    """
    root = project.resolve()
    path = (root / mount.host).resolve()
    if path != root and root not in path.parents:
        raise SpecError(f'mount "{mount.host}" resolves outside the project ({path})',
                        source=str(project), key=":host")
    return path
