"""A container spec as a docker compose file (``agenttree containers compose SPEC``).

Every container becomes a service on the networks of :mod:`.networks` (``internal``; ``egress``
for ``:network :internet``; ``ports``, without NAT, for published ports), ports published on
127.0.0.1, under an init process (as the docker backend's ``--init``). Health checks become
compose healthchecks, dependencies ``depends_on`` with ``condition: service_healthy`` (or
``service_started`` for a dependency without one), and every service and network carries the
agenttree labels so ``docker ... --filter label=agenttree.io/sandbox=NAME`` finds leftovers.
Every ``$`` is written ``$$`` so compose takes the spec's strings literally. The file is one
Debian's Compose 1.29 accepts as well as Compose v2: the project name goes on the command line
(``-p``), not in the file.
"""

from __future__ import annotations

import posixpath
from typing import Any

from .base import duration, labels, sandbox_name
from .networks import INTERNAL, NO_NAT, PORTS, extra_network, port_binding, spec_networks
from .spec import Container, ContainerSpec, memory_bytes, require_images


def _source(project: str, host: str) -> str:
    # A relative source must start with "." or compose takes it for a named volume.
    path = posixpath.normpath(posixpath.join(project, host))
    return path if path.startswith((".", "/")) else f"./{path}"


def _service(spec: ContainerSpec, c: Container, name: str, project: str) -> dict[str, Any]:
    service: dict[str, Any] = {"image": c.image, "init": True}
    if c.cmd is not None:
        service["command"] = list(c.cmd)
    if c.workdir is not None:
        service["working_dir"] = c.workdir
    service["environment"] = c.environment()
    if c.mounts:
        service["volumes"] = [{"type": "bind", "source": _source(project, m.host),
                               "target": m.container, "read_only": m.read_only}
                              for m in c.mounts]
    if c.ports:
        service["ports"] = [port_binding(p) for p in c.ports]
    if c.health is not None:
        h = c.health
        service["healthcheck"] = {"test": ["CMD", *h.cmd], "interval": duration(h.interval_ms),
                                  "timeout": duration(h.timeout_ms), "retries": h.retries,
                                  "start_period": duration(h.start_period_ms)}
    if c.depends_on:
        service["depends_on"] = {
            dep: {"condition": "service_healthy" if spec.container(dep).health
                  else "service_started"} for dep in c.depends_on}
    if c.resources.cpus is not None:
        service["cpus"] = float(c.resources.cpus)
    if c.resources.memory is not None:
        service["mem_limit"] = memory_bytes(c.resources.memory)
    extra = extra_network(c)
    service["networks"] = [INTERNAL] if extra is None else [INTERNAL, extra]
    service["labels"] = labels(spec, name)
    return service


def render(spec: ContainerSpec, case: str = "case", project: str = ".") -> dict[str, Any]:
    """The compose file for ``spec`` as data; mount sources are ``project`` joined with the
    mount's path. Pure: no I/O.

    Raises:
        SpecError: a container has no image.
    """
    require_images(spec, "compose")
    name = sandbox_name(spec, case)
    networks: dict[str, Any] = {}
    for network in spec_networks(spec):
        networks[network] = {"internal": True} if network == INTERNAL else {}
        if network == PORTS:
            networks[network]["driver_opts"] = dict(NO_NAT)
        networks[network]["labels"] = labels(spec, name)
    return _literal({"services": {c.name: _service(spec, c, name, project)
                                  for c in spec.containers},
                     "networks": networks})


def _literal(value: Any) -> Any:
    """``value`` with every ``$`` in its strings doubled: compose substitutes ``$NAME`` and
    ``${NAME}`` (and refuses a lone ``${``); the spec means its strings as written."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value


def usage(spec: ContainerSpec, case: str = "case") -> str:
    """Comment lines for the top of a rendered file: how to run it under its project name."""
    name = sandbox_name(spec, case)
    return (f"# Compose project {name} (no top-level name: Compose 1.x refuses one), e.g.\n"
            f"#   docker-compose -p {name} -f FILE up --abort-on-container-exit "
            f"--exit-code-from {spec.sut}\n"
            f"#   docker-compose -p {name} -f FILE down -v\n")
