"""Starting a run from the command line: warn about an unsandboxed shell beside networked
models, and show progress while the engine runs (``run`` and ``resume`` share both)."""

from __future__ import annotations

import trio
from rich.console import Console
from rich.live import Live

from .console import progress_line, render_live
from .events import Entry
from .models.check import models_in_use
from .plan import is_scripted
from .runtime.engine import Engine

REFRESH_S = 0.25
"""How often the live tree is redrawn."""


def unsandboxed_warning(engine: Engine) -> str | None:
    """One line for a run whose models are on the network while ``sh`` would run without the
    OS sandbox: a command a model runs could read the engine's environment (API keys in it)
    through ``/proc``. ``None`` when that is not the case."""
    plan = engine.plan
    networked = [m for m in sorted(models_in_use(plan, engine.model_override))
                 if not is_scripted(m)]
    shell = any(t.tools is None or "sh" in t.tools for t in plan.tiers)
    if not networked or not shell or engine.confinement.kind != "none":
        return None
    why = ":sandbox :off" if plan.sandbox == "off" else "bubblewrap is not installed"
    return (f"warning: sh runs without a sandbox here ({why}) while {networked[0]} drives "
            "agents: a command it runs can read this process's environment, API keys "
            "included (/proc/PID/environ); install bubblewrap (apt-get install bubblewrap) "
            "and set :sandbox :required to refuse such runs")


async def run_with_view(engine: Engine, console: Console, quiet: bool) -> str:
    """Run the engine to its end with progress on ``console``: a live tree on a terminal, a
    line per notable event in a log, nothing with ``quiet``. Returns the root's status."""
    if quiet:
        return await engine.run()
    if not console.is_terminal:

        def print_progress(entry: Entry) -> None:  # a line per notable event, as written
            line = progress_line(entry)
            if line is not None:
                console.print(line, soft_wrap=True)

        engine.on_event = print_progress
        return await engine.run()
    with Live(render_live(engine.state), console=console, auto_refresh=False,
              transient=True) as live:
        async with trio.open_nursery() as nursery:

            async def refresh() -> None:
                while True:
                    now_t = int(engine.wall_clock() * 1000)
                    live.update(render_live(engine.state, now_t), refresh=True)
                    await trio.sleep(REFRESH_S)

            nursery.start_soon(refresh)
            status = await engine.run()
            nursery.cancel_scope.cancel()
    return status
