"""Prices for ``bench compare --settings FILE``: the ``:prices`` map of a settings file.

A settings file is an EDN map; its ``:prices`` is the same as a plan's (dollars per million
tokens, keyed by model spec or bare model name): ``{:prices {"gpt-5.2" {:prompt 1.25
:completion 10.0}}}``. Only ``:prices`` is read here; the engine reads the rest of the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..edn_source import Context, Locator, expect, get, read_edn, read_source
from ..errors import PlanError
from ..models.spec import price_for
from ..plan import Price
from ..plan import _prices as parse_prices


def settings_prices(path: str | Path) -> dict[str, Price]:
    """The ``:prices`` of the settings file at ``path`` (empty when it names none).

    Raises:
        PlanError: the file is missing, not EDN, or its ``:prices`` is malformed (file, line
            and key named).
    """
    text = read_source(path)
    ctx = Context(source=str(path), locate=Locator(text))
    data = read_edn(ctx, text)
    if not isinstance(data, Mapping):
        raise PlanError("a settings file must be an EDN map", source=str(path), line=1)
    prices = get(data, "prices")
    return {} if prices is None else parse_prices(ctx, expect(ctx, prices, Mapping, "a map",
                                                              "prices"))


def cost(prices: Mapping[str, Price], model: str, prompt: float,
         completion: float) -> float | None:
    """Dollars for ``prompt`` and ``completion`` tokens of ``model`` (``None``: no price)."""
    price = price_for(prices, model)
    return None if price is None else price.dollars(prompt, completion)
