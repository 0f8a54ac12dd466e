"""Starting a run from the command line: refuse unusable models up front, and show progress
while the engine runs (``run`` and ``resume`` share both)."""

from __future__ import annotations

import trio
from rich.console import Console
from rich.live import Live

from .console import progress_line, render_live
from .errors import UserError
from .events import Entry
from .models.base import ModelError
from .models.openai import api_key_for
from .models.spec import parse_model_spec
from .plan import Plan, Settings, is_scripted
from .runtime.engine import Engine

REFRESH_S = 0.25
"""How often the live tree is redrawn."""


def models_in_use(plan: Plan, override: str | None) -> set[str]:
    """The model specs a run of ``plan`` starts its agents on."""
    if override is not None:
        return {override}
    wanted = {plan.tier_for(d).models[0] for _, _, d in plan.walk()}
    return wanted | {t.model for t, _, _ in plan.walk() if t.model is not None}


def check_models(plan: Plan, override: str | None) -> None:
    """Refuse, before anything starts, the plan's model specs that cannot work."""
    for name in sorted(models_in_use(plan, override)):
        check_model(name, plan, "--model" if override else plan.source)


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


def check_model(name: str, plan: Plan | Settings | None = None, where: str = "") -> None:
    """Refuse a model spec that cannot work (bad syntax, no API key), naming ``where`` it came
    from; the scripted model always works. ``plan`` (or settings) supplies providers' key
    variables."""
    if is_scripted(name):
        return
    try:
        spec = parse_model_spec(name)
        key_env = plan.provider(spec.base_url, spec.provider).api_key_env if plan else None
        api_key_for(spec, key_env)
    except (UserError, ModelError) as exc:
        raise UserError(f"{where}: {exc}" if where else str(exc)) from None


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
