"""The docker backend: the ``docker`` command line, one container per spec container.

``open`` checks that every image is on the engine (pulling what is missing; without a registry,
:mod:`.images` builds images from Debian packages), removes whatever an earlier attempt left
under the same deterministic name (found by label), creates the networks of :mod:`.networks`
(internal; egress for ``:network :internet``; a NAT-less one carrying published ports), starts
the containers in dependency order -- ``docker create``, ``network connect``, ``docker start``,
so a command starts with all its networks -- with the container name as network alias, ports
published on 127.0.0.1 and an init process (``--init``: the command is not PID 1, so SIGTERM
stops it and its orphans are reaped), waits on each health check with ``docker exec``, and in
``finally`` -- shielded and bounded, also on cancel -- saves every container's log into the run
directory and removes every container (with its anonymous volumes), network and volume carrying
the sandbox's label. Every docker command has a timeout and is retried (with backoff) when it
fails; creates are safe to retry because a ``docker create`` is always preceded by ``docker rm
-f`` of the same name. A command run with :meth:`exec` is killed inside the container when it
times out or is cancelled, not just its ``docker exec`` client.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from .. import events as ev
from .base import (
    DEFAULT_LIMITS,
    SANDBOX_LABEL,
    ContainerEnvironment,
    Emit,
    Environment,
    Events,
    ExecResult,
    Limits,
    SandboxError,
    labels,
    run_shell,
    sandbox_name,
    save_log,
    wait_healthy,
)
from .cli_exec import CliExecSandbox
from .networks import INTERNAL, NO_NAT, PORTS, extra_network, port_binding, spec_networks
from .spec import Container, ContainerSpec, memory_bytes, require_images, resolve_mount


@attrs.frozen(kw_only=True)
class DockerCli:
    """Runs ``docker`` commands with a timeout and retries."""

    docker: str = "docker"
    timeout_s: float = 120.0
    retries: int = 2
    backoff_s: float = 0.5

    async def run(self, *args: str, check: bool = True, retry: bool = True,
                  timeout_s: float | None = None) -> ExecResult:
        """``docker *args``; retried on failure (unless ``retry`` is false).

        Raises:
            SandboxError: it failed on every try and ``check`` is set.
        """
        command = shlex.join([self.docker, *args])
        tries = self.retries + 1 if retry else 1
        for attempt in range(tries):
            result = await run_shell(command, cwd=".", timeout=timeout_s or self.timeout_s)
            if result.ok:
                return result
            if attempt + 1 < tries:
                await trio.sleep(self.backoff_s * 2**attempt)
        if check:
            what = "timed out" if result.timed_out else f"exit {result.exit_code}"
            verb = " ".join(args[:2]) if args[0] in ("network", "image", "volume") else args[0]
            raise SandboxError(f"docker {verb} failed ({what}, {tries} tries): "
                               f"{result.output.strip()[-300:]}")
        return result


def network_name(name: str, network: str) -> str:
    """The docker network of sandbox ``name`` for one of :mod:`.networks`' networks."""
    return f"{name}-net" if network == INTERNAL else f"{name}-{network}"


def network_argv(spec: ContainerSpec, name: str, network: str) -> list[str]:
    """The ``docker network create`` arguments (without ``docker``) for ``network``."""
    argv = ["network", "create"]
    if network == INTERNAL:
        argv.append("--internal")
    elif network == PORTS:
        for key, value in NO_NAT.items():
            argv += ["-o", f"{key}={value}"]
    for key, value in labels(spec, name).items():
        argv += ["--label", f"{key}={value}"]
    return [*argv, network_name(name, network)]


def create_argv(spec: ContainerSpec, c: Container, name: str, project: Path) -> list[str]:
    """The ``docker create`` arguments (without ``docker``) for container ``c``."""
    argv = ["create", "--init", "--name", f"{name}-{c.name}",
            "--network", network_name(name, INTERNAL), "--network-alias", c.name]
    for key, value in labels(spec, name).items():
        argv += ["--label", f"{key}={value}"]
    for key, value in c.environment().items():
        argv += ["-e", f"{key}={value}"]
    if c.workdir is not None:
        argv += ["-w", c.workdir]
    for m in c.mounts:
        source = project / m.host if m.host != "." else project
        argv += ["-v", f"{source}:{m.container}{':ro' if m.read_only else ''}"]
    for p in c.ports:
        argv += ["-p", port_binding(p)]
    if c.resources.cpus is not None:
        argv += ["--cpus", str(c.resources.cpus)]
    if c.resources.memory is not None:
        argv += ["--memory", str(memory_bytes(c.resources.memory))]
    argv.append(c.image)
    if c.cmd is not None:
        argv += list(c.cmd)
    return argv


@attrs.define
class DockerSandbox(CliExecSandbox):
    """One running container, reached with ``docker exec``."""

    ref: str = ""
    cli: DockerCli = DockerCli()

    def target(self, cwd: str, env: Mapping[str, str], interactive: bool) -> list[str]:
        """``docker exec [-i] -w CWD -e K=V... CONTAINER``."""
        args = [self.cli.docker, "exec", *(["-i"] if interactive else []), "-w", cwd]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        return [*args, self.ref]

    async def aclose(self) -> None:
        """Remove the container (and its anonymous volumes)."""
        with trio.move_on_after(30, shield=True):
            await self.cli.run("rm", "-f", "-v", self.ref, check=False)

    async def dead(self) -> str | None:
        """Why the container cannot become healthy any more (``None`` while it runs)."""
        status, code = await self.state()
        if status in ("running", "created", "restarting"):
            return None
        return f"container {self.name!r} is {status} (exit code {code})"

    async def state(self) -> tuple[str, int | None]:
        """The container's status (``running``, ``exited``...) and exit code."""
        result = await self.cli.run("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                                    self.ref, check=False)
        parts = result.output.split()
        if not result.ok or len(parts) != 2:
            return "gone", None
        return parts[0], int(parts[1]) if parts[1].lstrip("-").isdigit() else None


class DockerEnvironment(ContainerEnvironment):
    """The containers of a spec running under docker for one case."""

    sandboxes: dict[str, DockerSandbox]

    async def wait(self, name: str | None = None) -> ExecResult:
        """``docker wait`` for the container: its exit code and the end of its log."""
        box = self.sandbox(name)
        started = trio.current_time()
        result = await box.cli.run("wait", box.ref, timeout_s=float("inf"), retry=False)
        code = int(result.output.split()[-1]) if result.output.split() else None
        return ExecResult(exit_code=code, output=await self.logs(name),
                          duration_s=trio.current_time() - started)

    async def logs(self, name: str | None = None) -> str:
        """``docker logs`` of the container."""
        box = self.sandbox(name)
        result = await box.cli.run("logs", box.ref, check=False)
        return result.output


class DockerBackend:
    """Runs specs with the docker command line.

    Args:
        run_dir: where logs go (``run_dir/containers/<name>/<container>.log``).
        project: the directory mounts are relative to.
        emit: where ``container/*`` events go.
        max_creates: how many environments may be starting at once.
        docker: the docker executable; command timeout and retries via ``cli``.
    """

    name = "docker"

    def __init__(self, run_dir: str | os.PathLike[str] = ".",
                 project: str | os.PathLike[str] = ".", emit: Emit | None = None,
                 max_creates: int = 4, cli: DockerCli | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.project = Path(project)
        self.emit = emit
        self.cli = cli or DockerCli()
        self.creates = trio.CapacityLimiter(max_creates)

    def render(self, spec: ContainerSpec, case: str = "case") -> list[list[str]]:
        """The docker commands ``open`` runs to create ``case`` (pure; mounts not resolved)."""
        require_images(spec, "docker")
        name = sandbox_name(spec, case)
        project = self.project.absolute()
        commands = [network_argv(spec, name, network) for network in spec_networks(spec)]
        for c in spec.containers:
            ref = f"{name}-{c.name}"
            commands.append(create_argv(spec, c, name, project))
            if (extra := extra_network(c)) is not None:  # before its command starts
                commands.append(["network", "connect", network_name(name, extra), ref])
            commands.append(["start", ref])
        return commands

    async def down(self, name: str) -> None:
        """Remove every container (with its anonymous volumes), network and volume labelled
        with sandbox ``name``."""
        label = f"label={SANDBOX_LABEL}={name}"
        found = await self.cli.run("ps", "-aq", "--filter", label)
        if ids := found.output.split():
            await self.cli.run("rm", "-f", "-v", *ids, check=False)
        for kind in ("network", "volume"):
            listed = await self.cli.run(kind, "ls", "-q", "--filter", label)
            if ids := listed.output.split():
                await self.cli.run(kind, "rm", *ids, check=False)

    async def ensure_images(self, spec: ContainerSpec) -> None:
        """Make sure every image of ``spec`` is on the engine, pulling what is missing.

        Raises:
            SandboxError: an image is missing and cannot be pulled (saying how to build one).
        """
        for image in dict.fromkeys(c.image for c in spec.containers):
            found = await self.cli.run("image", "inspect", "--format", "{{.Id}}", image,
                                       check=False, retry=False)
            if found.ok:
                continue
            pulled = await self.cli.run("pull", "--quiet", image, check=False, retry=False)
            if not pulled.ok:
                why = pulled.output.strip().splitlines()[-1:] or ["no output"]
                raise SandboxError(
                    f"image {image!r} is not on this docker engine and cannot be pulled "
                    f"({why[0][-200:]}); without a registry, build it from Debian packages: "
                    "agenttree containers image NAME --packages ... (docs/sandboxes.md)")

    @asynccontextmanager
    async def open(self, spec: ContainerSpec, *, case: str = "case",
                   limits: Limits = DEFAULT_LIMITS) -> AsyncIterator[Environment]:
        """Create the case's network and containers; yield; remove them all (see module doc).

        Raises:
            SandboxError: a docker command failed, or a container was not healthy in time.
        """
        commands = self.render(spec, case)
        for c in spec.containers:
            for m in c.mounts:
                resolve_mount(self.project, m)
        name = sandbox_name(spec, case)
        events = Events(self.emit, case)
        directory = self.run_dir / "containers" / name
        directory.mkdir(parents=True, exist_ok=True)
        boxes = {c.name: DockerSandbox(name=c.name, ref=f"{name}-{c.name}", container=c,
                                       cli=self.cli, output_cap=limits.output_cap)
                 for c in spec.containers}
        env = DockerEnvironment(spec=spec, case=case, name=name, directory=directory,
                                sandboxes=boxes)
        started: list[DockerSandbox] = []
        try:
            async with self.creates:
                try:
                    with trio.fail_after(limits.start_s):
                        await self.ensure_images(spec)
                        await self.down(name)  # leftovers of an earlier attempt
                        await self._create(commands, spec, boxes, started, events)
                except trio.TooSlowError:
                    raise SandboxError(f"{spec.name}: containers not started and healthy "
                                       f"within {limits.start_s:g} s") from None
            yield env
        finally:
            with trio.move_on_after(limits.teardown_s, shield=True):
                await self._teardown(name, started, events, directory)

    async def _create(self, commands: list[list[str]], spec: ContainerSpec,
                      boxes: dict[str, DockerSandbox], started: list[DockerSandbox],
                      events: Events) -> None:
        by_ref = {box.ref: box for box in boxes.values()}
        for argv in commands:
            if argv[0] == "create":
                box = by_ref[argv[argv.index("--name") + 1]]
                await self.cli.run("rm", "-f", "-v", box.ref, check=False, retry=False)
                started.append(box)
                await self.cli.run(*argv)
            elif argv[0] == "start":
                box = by_ref[argv[1]]
                await self.cli.run(*argv)
                events.send(ev.ContainerStarted, name=box.name, backend="docker", ref=box.ref,
                            image=box.container.image)
                await wait_healthy(box, box.container, events, box.dead)
            else:
                result = await self.cli.run(*argv, check=False)
                if not result.ok and "already exists" not in result.output:
                    raise SandboxError(f"docker {' '.join(argv[:2])} failed: "
                                       f"{result.output.strip()[-300:]}")

    async def _teardown(self, name: str, started: list[DockerSandbox], events: Events,
                        directory: Path) -> None:
        for box in started:
            status, code = await box.state()
            log = await box.cli.run("logs", box.ref, check=False, retry=False)
            events.send(ev.ContainerExited, name=box.name, exit_code=code,
                        reason="exited" if status == "exited" else "stopped")
            save_log(events, directory, box.name, log.output)
        await self.down(name)
