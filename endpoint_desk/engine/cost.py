"""Cost of a request: per-endpoint price overrides first, then the maintained price
table of the ``genai-prices`` package; unknown models cost nothing (and say so)."""

from __future__ import annotations

import functools
import logging

from endpoint_desk.core.models import Prices, Usage

log = logging.getLogger(__name__)

_MTOK = 1_000_000


@functools.lru_cache(maxsize=1024)
def table_prices(model: str) -> tuple[float, float] | None:
    """USD per million input and output tokens for ``model``, or ``None`` if unknown."""
    if not model:
        return None
    try:
        from genai_prices import Usage as GUsage
        from genai_prices import calc_price
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    try:
        inp = calc_price(GUsage(input_tokens=_MTOK, output_tokens=0), model_ref=model)
        out = calc_price(GUsage(input_tokens=0, output_tokens=_MTOK), model_ref=model)
    except Exception:  # genai-prices raises LookupError and friends for unknown models
        return None
    return float(inp.total_price), float(out.total_price)


def prices_for(model: str, override: Prices | None) -> tuple[float, float] | None:
    if override is not None:
        return override.input_per_mtok, override.output_per_mtok
    return table_prices(model)


def cost_of(usage: Usage, model: str, override: Prices | None = None) -> float:
    """Fill ``usage.cost`` and return it."""
    prices = prices_for(model, override)
    if prices is None:
        usage.cost = 0.0
    else:
        usage.cost = (usage.input_tokens * prices[0] + usage.output_tokens * prices[1]) / _MTOK
    return usage.cost


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for upstreams that give none."""
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)
