"""Refusing, before a run starts, model specs that cannot work (bad syntax, no API key)."""

from __future__ import annotations

from ..errors import UserError
from ..plan import Plan, Settings, is_scripted
from .base import ModelError
from .keys import api_key_for
from .spec import parse_model_spec


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
