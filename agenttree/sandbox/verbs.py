"""What ``agenttree containers up|down|logs|compose|k8s SPEC`` and ``containers image NAME`` do
(their arguments are in :mod:`.cli`, which imports this module only when a verb runs).

``compose`` and ``k8s`` print what the spec renders to (nothing is started). ``image`` builds an
image from Debian packages (:mod:`agenttree.sandbox.images`). ``up`` starts the
containers with a backend (default ``local``), logs ``container/*`` events to
``RUN_DIR/events.jsonl`` and prints them, waits for the SUT's ``:cmd`` to exit (or for Ctrl-C
when it has none) and tears everything down; its exit status is 0 when the SUT exited 0.
Ctrl-C or SIGTERM tear down too (exit 130). ``down`` removes what a killed ``up`` left
behind; ``logs`` prints the saved logs.
"""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import trio

from .. import events as ev
from ..errors import UserError
from ..log_writer import open_event_log
from ..rundir import require_no_run
from . import compose, images, kubernetes
from .base import Limits, SandboxError, dump_yaml, open_backend, sandbox_name
from .spec import ContainerSpec, load_spec, resolve_mount

EXIT_INTERRUPTED = 130


def _spec(args: argparse.Namespace) -> ContainerSpec:
    spec = load_spec(args.spec)
    project = Path(getattr(args, "project", "."))
    if not project.is_dir():
        raise UserError(f"--project {project}: not a directory")
    for c in spec.containers:
        for m in c.mounts:
            resolve_mount(project, m)
    return spec


def cmd_compose(args: argparse.Namespace) -> int:
    """Print the compose file."""
    spec = _spec(args)
    project = str(Path(args.project).resolve())
    sys.stdout.write(compose.usage(spec, args.case))
    sys.stdout.write(dump_yaml(compose.render(spec, case=args.case, project=project)))
    return 0


def cmd_k8s(args: argparse.Namespace) -> int:
    """Print the Kubernetes objects."""
    if args.ttl_s < 0:
        raise UserError(f"--ttl-s must not be negative, got {args.ttl_s}")
    spec = _spec(args)
    sys.stdout.write(dump_yaml(*kubernetes.render(
        spec, case=args.case, namespace=args.namespace, ttl_s=args.ttl_s,
        project_claim=args.project_claim)))
    return 0


def cmd_image(args: argparse.Namespace) -> int:
    """Build the image unless it is up to date; exit 1 when the build fails."""
    image = images.recipe(args.name, args.packages, args.suite)
    mirror = args.mirror or images.debian_mirror(image.suite)
    try:
        images.build_image(image, mirror=mirror, force=args.force)
    except images.ImageError as exc:
        print(f"agenttree: containers image: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_dir(args: argparse.Namespace, spec: ContainerSpec) -> Path:
    if args.run_dir:
        return Path(args.run_dir)
    if args.verb != "up":
        raise UserError(f"containers {args.verb} needs --run-dir (the directory `up` used)")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"containers-{spec.name}-{stamp}"


def _line(event: ev.Event) -> str:
    fields = " ".join(f"{k}={v}" for k, v in ev.converter.unstructure(event).items()
                      if k not in ("case", "name", "tail") and v not in ("", None))
    return f"{event.TYPE} {getattr(event, 'name', '')} {fields}".rstrip()


def cmd_up(args: argparse.Namespace) -> int:
    """Start, wait, tear down; exit 0 when the SUT exited 0."""
    spec = _spec(args)
    if args.start_s <= 0:
        raise UserError(f"--start-s must be positive, got {args.start_s}")
    run_dir = require_no_run(_run_dir(args, spec))
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"up: {len(spec.containers)} container(s) of {spec.name} with the {args.backend} "
          f"backend; events in {run_dir / 'events.jsonl'}", flush=True)
    code = trio.run(_up, args, spec, run_dir)
    print(f"run directory: {run_dir}")
    return code


async def _up(args: argparse.Namespace, spec: ContainerSpec, run_dir: Path) -> int:
    """Run the containers until the SUT exits or a signal comes: the exit status."""
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_on_signal, scope)
            code = await _up_until_done(args, spec, run_dir)
            nursery.cancel_scope.cancel()
            return 0 if code == 0 else 1
    print("interrupted: containers torn down", file=sys.stderr)
    return EXIT_INTERRUPTED


async def _cancel_on_signal(scope: trio.CancelScope) -> None:
    """Ctrl-C or SIGTERM cancel ``scope``: ``up`` then tears down like on any cancel."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def _up_until_done(args: argparse.Namespace, spec: ContainerSpec,
                         run_dir: Path) -> int | None:
    """The SUT's exit code (``None``: it did not get to run)."""
    async with open_event_log(run_dir / "events.jsonl", run=run_dir.name) as log:
        def emit(event: ev.Event) -> None:
            log.emit(event)
            print(_line(event), flush=True)

        backend = open_backend(args.backend, run_dir=run_dir, project=args.project, emit=emit)
        limits = Limits(start_s=args.start_s)
        try:
            async with backend.open(spec, case=args.case, limits=limits) as env:
                if spec.container(spec.sut).cmd is None:
                    print(f"up: {env.name} (no :cmd for {spec.sut}; Ctrl-C to stop)",
                          flush=True)
                    await trio.sleep_forever()
                result = await env.wait()
                print(f"{spec.sut} exited with code {result.exit_code}", flush=True)
                return result.exit_code
        except SandboxError as exc:
            print(f"agenttree: containers: {exc}", file=sys.stderr)
            return None


def cmd_down(args: argparse.Namespace) -> int:
    """Remove leftovers of the sandbox named by SPEC and --case."""
    spec = _spec(args)
    name = sandbox_name(spec, args.case)
    backend = open_backend(args.backend, run_dir=_run_dir(args, spec), project=args.project)
    trio.run(backend.down, name)  # type: ignore[attr-defined]
    print(f"down: {name}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    """Print the logs saved under RUN_DIR/containers/<name>/."""
    spec = _spec(args)
    directory = _run_dir(args, spec) / "containers" / sandbox_name(spec, args.case)
    names = [args.container] if args.container else [c.name for c in spec.containers]
    for name in names:
        if name not in {c.name for c in spec.containers}:
            raise UserError(f"--container {name}: not a container of {args.spec}")
        path = directory / f"{name}.log"
        if not path.exists():
            raise UserError(f"no log for {name} in {directory} (was `up` run with this "
                            "--run-dir and --case?)")
        if len(names) > 1:
            print(f"==> {name} <==")
        sys.stdout.write(path.read_text(errors="replace"))
    return 0
