"""How a spec's containers are wired up on docker; the docker backend and compose share it.

Every container joins ``internal``, an internal network: it reaches the spec's other containers
by name and nothing else. A container with ``:network :internet`` also joins ``egress``, an
ordinary bridge with NAT to the outside. A container with ``:ports`` and ``:network :none``
also joins ``ports``: docker publishes no port of a container whose only network is internal,
so this bridge is there to carry its published ports; it does no NAT
(``enable_ip_masquerade=false``), so a packet to the outside finds no way back. Ports are
published on 127.0.0.1 only, at the spec's ``:host`` port or, without one, a free one.
"""

from __future__ import annotations

from .spec import Container, ContainerSpec, Port

INTERNAL, EGRESS, PORTS = "internal", "egress", "ports"
NO_NAT = {"com.docker.network.bridge.enable_ip_masquerade": "false"}
"""Driver options of the ``ports`` network."""


def extra_network(c: Container) -> str | None:
    """The network ``c`` joins besides ``internal``, if any."""
    if c.network == "internet":
        return EGRESS
    return PORTS if c.ports else None


def spec_networks(spec: ContainerSpec) -> list[str]:
    """The networks a spec's containers need, ``internal`` first."""
    extras = {extra_network(c) for c in spec.containers}
    return [INTERNAL, *(n for n in (EGRESS, PORTS) if n in extras)]


def port_binding(port: Port) -> str:
    """``port`` as docker's ``-p`` (and compose's short syntax), on 127.0.0.1 only."""
    return f"127.0.0.1:{port.host or ''}:{port.container}"
