"""The reply cache: exact-match, in memory, with a TTL and a size bound.

A request is cacheable when it asks for it (``ChatRequest.cache = True``, whatever its
temperature), or when it does not say (``cache = None``), the endpoint opted in
(``EndpointSpec.cache``) and the request is not sampled (temperature unset or 0).
``cache = False`` never touches the cache. Hits are served without the upstream,
marked ``ChatResult.cached``, and cost nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import orjson

from endpoint_desk.core.models import ChatRequest, ChatResult, Usage, new_id


def cache_key(request: ChatRequest, scope: str = "") -> bytes:
    """A digest of everything that shapes the reply: model, messages, sampling, extras
    (not ``stream``: a streamed and a plain request get the same answer). ``scope``
    separates requests pinned to an endpoint."""
    data: list[Any] = [
        scope,
        request.model,
        [(m.role, m.content, m.name) for m in request.messages],
        request.temperature,
        request.max_tokens,
        request.top_p,
        request.stop,
        request.extra,
    ]
    raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(raw, digest_size=16).digest()


def wants_cache(request: ChatRequest, endpoint_opt_in: bool) -> bool:
    """Whether ``request`` may be served from (and stored in) the cache."""
    if request.cache is not None:
        return request.cache
    if not endpoint_opt_in:
        return False
    return request.temperature is None or request.temperature <= 0


class ReplyCache:
    """Request digest -> standardized result, least recently used out first.

    Args:
        ttl: seconds an entry lives.
        max_entries: entries kept at most.
    """

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: OrderedDict[bytes, tuple[float, ChatResult]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: bytes, now: float | None = None) -> ChatResult | None:
        """A fresh copy of the cached result marked as a hit (cost 0), or ``None``."""
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        now = time.monotonic() if now is None else now
        expires, result = item
        if expires <= now:
            del self._items[key]
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        usage = Usage(
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            cost=0.0,
            estimated=result.usage.estimated,
        )
        return replace(
            result,
            id=new_id(),
            usage=usage,
            cached=True,
            latency_ms=0.0,
            ttft_ms=0.0,
            created=time.time(),
            attempts=[],
            metadata=dict(result.metadata),
        )

    def put(self, key: bytes, result: ChatResult, now: float | None = None) -> None:
        """Keep ``result`` (a finished, successful reply) for ``ttl`` seconds."""
        now = time.monotonic() if now is None else now
        self._items[key] = (now + self.ttl, result)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        self._items.clear()

    @property
    def hit_rate(self) -> float | None:
        """Hits / lookups, ``None`` before the first lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else None
