"""Kubernetes: a spec as one Job per case (``agenttree containers k8s SPEC``), and its runner.

The SUT is the Job's main container; every dependency is a native sidecar (an init container
with ``restartPolicy: Always``, Kubernetes 1.29+) whose health check becomes its startup and
readiness probes, so the SUT starts only once they pass. All containers share the pod's network
namespace, so ``hostAliases`` map every container name to 127.0.0.1 and a dependency is reached
at ``name:port`` as with compose. ``backoffLimit: 0`` (a failed case is not retried behind our
back), ``activeDeadlineSeconds`` from the spec's ``:timeout-s``, ``ttlSecondsAfterFinished`` so
finished Jobs are collected. With no container on ``:network :internet`` a NetworkPolicy denies
the pod all ingress and egress (a pod-level rule: one ``:internet`` container opens egress for
the pod). Mounts come from a PersistentVolumeClaim holding the project (``project_claim``), at
the mount's path inside it.
"""

from __future__ import annotations

import math
from typing import Any

from .base import SANDBOX_LABEL, labels, sandbox_name
from .spec import Container, ContainerSpec, require_images

DEFAULT_TTL_S = 3600
PROJECT_CLAIM = "agenttree-project"


def _probe(c: Container) -> dict[str, Any] | None:
    if c.health is None:
        return None
    h = c.health
    return {"exec": {"command": list(h.cmd)},
            "periodSeconds": max(1, math.ceil(h.interval_ms / 1000)),
            "timeoutSeconds": max(1, math.ceil(h.timeout_ms / 1000)),
            "failureThreshold": h.retries,
            "initialDelaySeconds": math.ceil(h.start_period_ms / 1000)}


def _container(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "image": c.image}
    if c.cmd is not None:
        out["command"] = list(c.cmd)
    if c.workdir is not None:
        out["workingDir"] = c.workdir
    out["env"] = [{"name": k, "value": v} for k, v in c.environment().items()]
    if c.ports:
        out["ports"] = [{"containerPort": p.container} for p in c.ports]
    quantities: dict[str, Any] = {}
    if c.resources.cpus is not None:
        quantities["cpu"] = str(c.resources.cpus)
    if c.resources.memory is not None:
        quantities["memory"] = c.resources.memory
    if quantities:
        out["resources"] = {"requests": dict(quantities), "limits": dict(quantities)}
    if c.mounts:
        out["volumeMounts"] = [{"name": "project", "mountPath": m.container, "readOnly":
                                m.read_only, **({} if m.host == "." else {"subPath": m.host})}
                               for m in c.mounts]
    return out


def render(spec: ContainerSpec, case: str = "case", *, namespace: str = "default",
           ttl_s: int = DEFAULT_TTL_S,
           project_claim: str = PROJECT_CLAIM) -> list[dict[str, Any]]:
    """The objects for one case: the Job, then a NetworkPolicy when the network is off. Pure.

    Raises:
        SpecError: a container has no image.
    """
    require_images(spec, "kubernetes")
    name = sandbox_name(spec, case)
    meta = {"name": name, "namespace": namespace, "labels": labels(spec, name),
            "annotations": {"agenttree.io/case": case}}
    sut = spec.container(spec.sut)
    sidecars = []
    for c in spec.dependencies:
        sidecar = _container(c)
        sidecar["restartPolicy"] = "Always"
        if (probe := _probe(c)) is not None:
            sidecar["startupProbe"] = probe
            sidecar["readinessProbe"] = {**probe, "failureThreshold": 3}
        sidecars.append(sidecar)
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": [c.name for c in spec.containers]}],
        "containers": [_container(sut)],
    }
    if sidecars:
        pod["initContainers"] = sidecars
    if any(c.mounts for c in spec.containers):
        pod["volumes"] = [{"name": "project",
                           "persistentVolumeClaim": {"claimName": project_claim}}]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
           "spec": {"backoffLimit": 0, "activeDeadlineSeconds": math.ceil(spec.timeout_s),
                    "ttlSecondsAfterFinished": ttl_s,
                    "template": {"metadata": {"labels": labels(spec, name)}, "spec": pod}}}
    objects = [job]
    if not any(c.network == "internet" for c in spec.containers):
        objects.append({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {**meta, "name": f"{name}-isolated"},
            "spec": {"podSelector": {"matchLabels": {SANDBOX_LABEL: name}},
                     "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}})
    return objects
