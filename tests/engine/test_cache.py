"""Unit tests of the reply cache."""

from __future__ import annotations

from endpoint_desk.core.models import ChatMessage, ChatRequest, ChatResult, Usage
from endpoint_desk.engine.cache import ReplyCache, cache_key, wants_cache


def _result(text: str = "hi") -> ChatResult:
    return ChatResult(
        id="r1",
        provider="openai",
        model="m",
        content=text,
        endpoint="a",
        usage=Usage(3, 4, cost=0.01),
        latency_ms=50.0,
    )


def test_key_is_exact_and_ignores_stream() -> None:
    a = ChatRequest.from_text("hello", model="m")
    b = ChatRequest.from_text("hello", model="m", stream=True)
    c = ChatRequest.from_text("hello!", model="m")
    d = ChatRequest.from_text("hello", model="m", temperature=0.0)
    e = ChatRequest([ChatMessage("system", "hello")], model="m")
    assert cache_key(a) == cache_key(b)
    assert len({cache_key(a), cache_key(c), cache_key(d), cache_key(e)}) == 4


def test_who_may_use_the_cache() -> None:
    plain = ChatRequest.from_text("x")
    assert not wants_cache(plain, endpoint_opt_in=False)
    assert wants_cache(plain, endpoint_opt_in=True)
    sampled = ChatRequest.from_text("x", temperature=0.7)
    assert not wants_cache(sampled, endpoint_opt_in=True)
    assert wants_cache(ChatRequest.from_text("x", temperature=0.7, cache=True), False)
    assert not wants_cache(ChatRequest.from_text("x", cache=False), True)
    assert wants_cache(ChatRequest.from_text("x", temperature=0.0), True)


def test_hits_are_copies_marked_cached_and_free() -> None:
    cache = ReplyCache(ttl=10.0, max_entries=10)
    key = cache_key(ChatRequest.from_text("x"))
    assert cache.get(key, now=0.0) is None
    cache.put(key, _result(), now=0.0)
    hit = cache.get(key, now=1.0)
    assert hit is not None
    assert hit.cached and hit.content == "hi" and hit.usage.cost == 0.0
    assert hit.usage.input_tokens == 3 and hit.id != "r1"
    assert cache.hits == 1 and cache.misses == 1 and cache.hit_rate == 0.5


def test_ttl_and_size_bound() -> None:
    cache = ReplyCache(ttl=10.0, max_entries=2)
    keys = [cache_key(ChatRequest.from_text(str(i))) for i in range(3)]
    cache.put(keys[0], _result("0"), now=0.0)
    cache.put(keys[1], _result("1"), now=0.0)
    assert cache.get(keys[0], now=1.0) is not None  # 0 is now the most recent
    cache.put(keys[2], _result("2"), now=1.0)  # evicts 1, the least recently used
    assert len(cache) == 2
    assert cache.get(keys[1], now=1.0) is None
    assert cache.get(keys[0], now=9.9) is not None
    assert cache.get(keys[0], now=10.0) is None  # expired
    assert cache.get(keys[2], now=10.0) is not None
