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

:class:`KubernetesBackend` runs those objects through the API server with lightkube's async
client (it works under Trio), and reaches containers with ``kubectl exec``.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from .. import events as ev
from .base import (
    DEFAULT_LIMITS,
    SANDBOX_LABEL,
    Emit,
    Environment,
    Events,
    ExecResult,
    Limits,
    SandboxError,
    labels,
    sandbox_name,
    save_log,
)
from .cli_exec import CliExecSandbox
from .names import DEFAULT_TTL_S, PROJECT_CLAIM
from .spec import Container, ContainerSpec, require_images


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


# --- the runner ------------------------------------------------------------------------------


def _import_lightkube() -> Any:
    try:
        import lightkube
    except ImportError:  # pragma: no cover - depends on the install
        raise SandboxError("the kubernetes backend needs lightkube: pip install "
                           "'agenttree[kubernetes]'") from None
    return lightkube


def client_for(server: str, *, namespace: str = "default", token: str | None = None) -> Any:
    """A lightkube ``AsyncClient`` for an API server URL (tests, or a known endpoint)."""
    lightkube = _import_lightkube()
    from lightkube.config.models import Cluster, User
    config = lightkube.KubeConfig.from_one(cluster=Cluster(server=server),
                                           user=User(token=token), namespace=namespace)
    return lightkube.AsyncClient(config, namespace=namespace)


@attrs.define
class KubeSandbox(CliExecSandbox):
    """A container of the case's pod, reached with ``kubectl exec`` (which must be on PATH
    and configured for the same cluster, e.g. through ``KUBECONFIG``)."""

    pod: str = ""
    namespace: str = "default"
    kubectl: tuple[str, ...] = ("kubectl",)

    def in_container_cwd(self) -> bool:
        """``kubectl exec`` has no working-directory flag: the command changes directory."""
        return True

    def target(self, cwd: str, env: Mapping[str, str], interactive: bool) -> list[str]:
        """``kubectl exec [-i] -n NS POD -c CONTAINER -- [env K=V...]``."""
        argv = [*self.kubectl, "exec", *(["-i"] if interactive else []), "-n", self.namespace,
                self.pod, "-c", self.name, "--"]
        return [*argv, "env", *(f"{k}={v}" for k, v in env.items())] if env else argv


@attrs.define
class KubeEnvironment:
    """One case's Job."""

    spec: ContainerSpec
    case: str
    name: str
    backend: KubernetesBackend
    client: Any
    pod: str
    output_cap: int

    def sandbox(self, name: str | None = None) -> KubeSandbox:
        """The container ``name`` (default: the SUT), reached with ``kubectl exec``."""
        name = name or self.spec.sut
        if name not in {c.name for c in self.spec.containers}:
            raise SandboxError(f"no container {name!r} in this spec")
        return KubeSandbox(name=name, container=self.spec.container(name), pod=self.pod,
                           output_cap=self.output_cap,
                           namespace=self.backend.namespace, kubectl=self.backend.kubectl)

    async def wait(self, name: str | None = None) -> ExecResult:
        """Watch the Job until it is Complete or Failed: the SUT's exit code and log."""
        if name not in (None, self.spec.sut):
            raise SandboxError("the kubernetes backend waits for the SUT only")
        started = trio.current_time()
        condition = await self.backend.wait_job(self.client, self.name, _finished)
        code = await self.backend.exit_code(self.client, self.name, self.spec.sut)
        if code is None:
            code = 0 if condition == "Complete" else 1
        return ExecResult(exit_code=code, output=await self.logs(),
                          duration_s=trio.current_time() - started)

    async def logs(self, name: str | None = None) -> str:
        """The container's log from its pod (empty if there is no pod yet)."""
        return await self.backend.pod_log(self.client, self.name, name or self.spec.sut)


def _finished(status: Any) -> str | None:
    for condition in (status.conditions or []) if status else []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition.type
    return None


def _running(status: Any) -> str | None:
    if status and (status.ready or 0) >= 1:
        return "Ready"
    return _finished(status)


class KubernetesBackend:
    """Runs each case as a Job through the Kubernetes API (lightkube's async client).

    Args:
        run_dir: where logs go (``run_dir/containers/<name>/<container>.log``).
        emit: where ``container/*`` events go.
        namespace, ttl_s, project_claim: passed to :func:`render`.
        client: a lightkube ``AsyncClient`` (default: from ``KUBECONFIG`` or in-cluster).
        max_creates: how many Jobs may be being created at once.
        retries, request_timeout_s: for every API call.
        poll_s: how often a Job's status is read while waiting on it.
        kubectl: the ``kubectl`` command (with e.g. ``--context``) that ``exec`` goes through.
    """

    name = "kubernetes"

    def __init__(self, run_dir: str | os.PathLike[str] = ".", project: str | os.PathLike[str]
                 = ".", emit: Emit | None = None, max_creates: int = 4,
                 namespace: str = "default", ttl_s: int = DEFAULT_TTL_S,
                 project_claim: str = PROJECT_CLAIM, client: Any = None, retries: int = 2,
                 request_timeout_s: float = 30.0, poll_s: float = 2.0,
                 kubectl: Sequence[str] = ("kubectl",)) -> None:
        self.run_dir = Path(run_dir)
        self.emit = emit
        self.namespace, self.ttl_s, self.project_claim = namespace, ttl_s, project_claim
        self.client = client
        self.retries, self.request_timeout_s = retries, request_timeout_s
        self.poll_s = poll_s
        self.kubectl = tuple(kubectl)
        self.creates = trio.CapacityLimiter(max_creates)
        # ``project`` is accepted like the other backends' but unused: mounts come from the
        # project claim.

    def render(self, spec: ContainerSpec, case: str = "case") -> list[dict[str, Any]]:
        """The Job (and NetworkPolicy) for ``case``; pure."""
        return render(spec, case, namespace=self.namespace, ttl_s=self.ttl_s,
                      project_claim=self.project_claim)

    def _client(self) -> Any:
        if self.client is None:
            lightkube = _import_lightkube()
            self.client = lightkube.AsyncClient(namespace=self.namespace)
        return self.client

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One API call with a timeout, retried on timeouts, 5xx and 429.

        Raises:
            SandboxError: it failed (for good, or on every try).
        """
        import httpx2  # the HTTP library lightkube is built on
        from lightkube.core.exceptions import ApiError
        for attempt in range(self.retries + 1):
            try:
                with trio.fail_after(self.request_timeout_s):
                    return await fn(*args, **kwargs)
            except ApiError as exc:
                code = exc.status.code or 0
                if code < 500 and code != 429:
                    raise  # the caller's to judge (404, 409...)
                problem = f"{code} {exc.status.message}"
                if attempt == self.retries:
                    raise SandboxError(f"kubernetes {what} failed ({self.retries + 1} tries): "
                                       f"{problem}") from None
            except (trio.TooSlowError, OSError, httpx2.HTTPError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if attempt == self.retries:
                    raise SandboxError(f"kubernetes {what} failed ({self.retries + 1} tries): "
                                       f"{problem}") from None
            await trio.sleep(0.5 * 2**attempt)
        raise AssertionError(problem)  # unreachable: the last try returns or raises

    async def _create(self, client: Any, obj: dict[str, Any]) -> None:
        """Create ``obj``; if an earlier attempt left one of the same name, replace it."""
        from lightkube.codecs import from_dict
        from lightkube.core.exceptions import ApiError
        resource = from_dict(obj)
        try:
            await self._call("create", client.create, resource)
        except ApiError as exc:
            if exc.status.code != 409:
                raise SandboxError(f"kubernetes refused {obj['kind']} "
                                   f"{obj['metadata']['name']}: {exc.status.message}") from None
            await self._delete(client, type(resource), obj["metadata"]["name"])
            await self._call("create", client.create, resource)

    async def _delete(self, client: Any, kind: Any, name: str) -> None:
        """Delete (pods too) and wait until it is gone; a missing object is fine."""
        from lightkube.core.exceptions import ApiError
        from lightkube.types import CascadeType
        try:
            await self._call("delete", client.delete, kind, name, namespace=self.namespace,
                             cascade=CascadeType.BACKGROUND)
            while True:
                await self._call("get", client.get, kind, name, namespace=self.namespace)
                await trio.sleep(0.5)
        except ApiError as exc:
            if exc.status.code != 404:
                raise SandboxError(f"kubernetes delete {name}: {exc.status.message}") from None

    async def wait_job(self, client: Any, name: str, done: Any) -> str:
        """Poll Job ``name`` by name until ``done(status)`` names a state; that state.

        Polling, not lightkube's ``watch``: that generator leaves its response's line iterator
        unclosed when it is stopped early, which Trio reports as a leaked async generator.

        Raises:
            SandboxError: the Job disappeared.
        """
        from lightkube.core.exceptions import ApiError
        from lightkube.resources.batch_v1 import Job
        while True:
            try:
                job = await self._call("get", client.get, Job, name, namespace=self.namespace)
            except ApiError as exc:
                raise SandboxError(f"job {name}: {exc.status.message}") from None
            if (state := done(job.status)) is not None:
                return state
            await trio.sleep(self.poll_s)

    async def _pod(self, client: Any, name: str) -> Any:
        from lightkube.resources.core_v1 import Pod
        pods = [pod async for pod in client.list(Pod, namespace=self.namespace,
                                                 labels={"job-name": name})]
        return pods[0] if pods else None

    async def exit_code(self, client: Any, name: str, container: str) -> int | None:
        """The exit code of ``container`` in the Job's pod, if it has terminated."""
        pod = await self._pod(client, name)
        for status in (pod.status.containerStatuses or []) if pod and pod.status else []:
            terminated = status.state.terminated if status.state else None
            if status.name == container and terminated is not None:
                return terminated.exitCode
        return None

    async def pod_log(self, client: Any, name: str, container: str) -> str:
        """The log of ``container`` in the Job's pod."""
        pod = await self._pod(client, name)
        if pod is None:
            return ""
        async with aclosing(client.log(pod.metadata.name, namespace=self.namespace,
                                       container=container)) as lines:
            return "".join([line async for line in lines])

    async def down(self, name: str) -> None:
        """Delete the Job ``name`` (and its pods) and its NetworkPolicy."""
        from lightkube.resources.batch_v1 import Job
        from lightkube.resources.networking_v1 import NetworkPolicy
        client = self._client()
        await self._delete(client, Job, name)
        await self._delete(client, NetworkPolicy, f"{name}-isolated")

    @asynccontextmanager
    async def open(self, spec: ContainerSpec, *, case: str = "case",
                   limits: Limits = DEFAULT_LIMITS) -> AsyncIterator[Environment]:
        """Create the case's Job (NetworkPolicy first), wait until its pod is ready, yield;
        delete it all in ``finally`` (shielded, bounded), saving the logs first.

        Raises:
            SandboxError: the API refused, or the pod was not ready within ``limits.start_s``.
        """
        objects = self.render(spec, case)
        name = sandbox_name(spec, case)
        events = Events(self.emit, case)
        client = self._client()
        created = False
        try:
            async with self.creates:
                try:
                    with trio.fail_after(limits.start_s):
                        for obj in reversed(objects):  # the policy before the pod exists
                            await self._create(client, obj)
                            created = True
                        for c in spec.containers:
                            events.send(ev.ContainerStarted, name=c.name, backend="kubernetes",
                                        ref=f"job/{name}", image=c.image)
                        state = await self.wait_job(client, name, _running)
                except trio.TooSlowError:
                    raise SandboxError(f"job {name}: pod not ready within "
                                       f"{limits.start_s:g} s") from None
            if state == "Ready":
                # The pod is ready only once every sidecar's startup probe passed and the SUT
                # (started after them) is running.
                for c in spec.containers:
                    if c.health is not None or c.name == spec.sut:
                        events.send(ev.ContainerHealthy, name=c.name)
            pod = await self._pod(client, name)
            yield KubeEnvironment(spec=spec, case=case, name=name, backend=self, client=client,
                                  pod=pod.metadata.name if pod else "",
                                  output_cap=limits.output_cap)
        finally:
            with trio.move_on_after(limits.teardown_s, shield=True):
                if created:
                    await self._save_logs(client, spec, name, events)
                await self.down(name)

    async def _save_logs(self, client: Any, spec: ContainerSpec, name: str,
                         events: Events) -> None:
        directory = self.run_dir / "containers" / name
        directory.mkdir(parents=True, exist_ok=True)
        code = await self.exit_code(client, name, spec.sut)
        events.send(ev.ContainerExited, name=spec.sut, exit_code=code,
                    reason="stopped" if code is None else "exited")
        for c in spec.containers:
            save_log(events, directory, c.name, await self.pod_log(client, name, c.name))

