"""Cost of a request: per-endpoint price overrides first, then the maintained price
table of the ``genai-prices`` package; unknown models cost nothing (and say so).

Embeddings (:func:`embedding_cost`) turn the order round: an endpoint's prices are
set for its chat models, so the table's price of the embedding model wins when the
table knows it."""

from __future__ import annotations

import functools
import logging

from endpoint_desk.core.models import Prices, Usage

log = logging.getLogger(__name__)

_MTOK = 1_000_000

PROVIDER_OF_KIND = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}
"""The ``genai-prices`` provider an endpoint kind hints at (some models, OpenAI's
embedding models among them, are found only with their provider named)."""


@functools.lru_cache(maxsize=1024)
def table_prices(model: str, provider: str | None = None) -> tuple[float, float] | None:
    """USD per million input and output tokens for ``model`` (of ``provider``, a
    ``genai-prices`` provider id, when given), or ``None`` if unknown."""
    if not model:
        return None
    try:
        from genai_prices import Usage as GUsage
        from genai_prices import calc_price
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    try:
        inp = calc_price(
            GUsage(input_tokens=_MTOK, output_tokens=0), model_ref=model, provider_id=provider
        )
        out = calc_price(
            GUsage(input_tokens=0, output_tokens=_MTOK), model_ref=model, provider_id=provider
        )
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


def embedding_cost(usage: Usage, model: str, kind: str, override: Prices | None = None) -> float:
    """Fill ``usage.cost`` of an embedding request and return it: the table's input
    price of ``model`` (also looked up under the provider ``kind`` hints at), else the
    endpoint's ``override``, else nothing."""
    prices = table_prices(model)
    if prices is None and kind in PROVIDER_OF_KIND:
        prices = table_prices(model, PROVIDER_OF_KIND[kind])
    if prices is None and override is not None:
        prices = override.input_per_mtok, override.output_per_mtok
    usage.cost = usage.input_tokens * prices[0] / _MTOK if prices else 0.0
    return usage.cost


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for upstreams that give none."""
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)
