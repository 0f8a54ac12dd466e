"""A container spec as a docker compose file (``agenttree containers compose SPEC``).

Every container becomes a service on an ``internal`` network (no way out); a container with
``:network :internet`` joins an ``egress`` network too. Health checks become compose
healthchecks, dependencies ``depends_on`` with ``condition: service_healthy`` (or
``service_started`` for a dependency without one), and every service and network carries the
agenttree labels so ``docker ... --filter label=agenttree.io/sandbox=NAME`` finds leftovers.
"""

from __future__ import annotations

import posixpath
from typing import Any

from .base import duration, labels, sandbox_name
from .spec import Container, ContainerSpec, memory_bytes, require_images


def _source(project: str, host: str) -> str:
    # A relative source must start with "." or compose takes it for a named volume.
    path = posixpath.normpath(posixpath.join(project, host))
    return path if path.startswith((".", "/")) else f"./{path}"


def _service(spec: ContainerSpec, c: Container, name: str, project: str) -> dict[str, Any]:
    service: dict[str, Any] = {"image": c.image}
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
        service["ports"] = [f"127.0.0.1:{p.host}:{p.container}" if p.host else str(p.container)
                            for p in c.ports]
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
    service["networks"] = ["internal", "egress"] if c.network == "internet" else ["internal"]
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
    networks: dict[str, Any] = {"internal": {"internal": True, "labels": labels(spec, name)}}
    if any(c.network == "internet" for c in spec.containers):
        networks["egress"] = {"labels": labels(spec, name)}
    return {"name": name,
            "services": {c.name: _service(spec, c, name, project) for c in spec.containers},
            "networks": networks}
