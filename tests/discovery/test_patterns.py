"""The pattern library over the store's ``patterns`` table (real SQLite)."""

from __future__ import annotations

import time
from typing import Any

from endpoint_desk.discovery.patterns import (
    Fingerprint,
    PatternLibrary,
    pattern_config,
    rank_patterns,
)
from endpoint_desk.engine.desk import Desk
from endpoint_desk.store.records import PatternRecord

GRADIO_RAW: dict[str, Any] = {
    "markers": ["gradio", "svelte"],
    "shape": {"custom_elements": ["gradio-app"], "textareas": 1},
}


def _fp(raw: dict[str, Any], kind: str = "textarea", shadow: bool = False) -> Fingerprint:
    return Fingerprint.from_page(raw, {"kind": kind, "in_shadow": shadow})


def _rec(pid: int, fp: str, framework: str, ok: int = 0, bad: int = 0) -> PatternRecord:
    now = time.time()
    return PatternRecord(pid, fp, framework, {"input": "x"}, ok, bad, now - pid, now - pid, None)


def test_fingerprint_names_the_framework_and_the_shape() -> None:
    g = _fp(GRADIO_RAW)
    assert g.framework == "gradio"
    assert g.key.startswith("gradio|textarea|light|")
    assert _fp(GRADIO_RAW).key == g.key  # stable
    assert _fp(GRADIO_RAW, "contenteditable").key != g.key
    assert _fp(GRADIO_RAW, shadow=True).key != g.key
    plain = _fp({"markers": ["spa-root"], "shape": {}})
    assert plain.framework == "generic" and plain.key == "generic|textarea|light|-"
    assert g.to_dict()["markers"] == ["gradio", "svelte"]


def test_pattern_config_keeps_only_site_independent_keys() -> None:
    opts = {
        "url": "http://x/",
        "input": "#in",
        "assistant": ".bot",
        "send": None,
        "meta": {"fingerprint": "f"},
        "login_wall": "input[type=password]",
        "busy_input": True,
        "alternates": {"input": ["textarea"]},
    }
    assert pattern_config(opts) == {
        "input": "#in",
        "assistant": ".bot",
        "busy_input": True,
        "alternates": {"input": ["textarea"]},
    }


def test_ranking_exact_fingerprint_first_then_record() -> None:
    fp = _fp(GRADIO_RAW)
    pats = [
        _rec(1, "gradio|textarea|light|other", "gradio", ok=9),
        _rec(2, fp.key, "gradio", ok=1),
        _rec(3, "streamlit|textarea|light|-", "streamlit", ok=50),
        _rec(4, fp.key, "gradio", ok=1, bad=5),  # fails more than it works: left out
        _rec(5, "gradio|textarea|light|x2", "gradio", ok=3),
    ]
    assert [p.id for p in rank_patterns(pats, fp)] == [2, 1, 5]
    assert [p.id for p in rank_patterns(pats, fp, limit=1)] == [2]
    generic = _fp({"markers": []})
    pats.append(_rec(6, generic.key, "generic", ok=1))
    pats.append(_rec(7, "generic|textarea|shadow|-", "generic", ok=7))
    assert [p.id for p in rank_patterns(pats, generic)] == [6]  # generic: exact only


async def test_library_learns_counts_and_offers_alternates(desk: Desk) -> None:
    lib = PatternLibrary(desk.store)
    fp = _fp(GRADIO_RAW)
    opts = {"input": "#a", "assistant": ".bot", "alternates": {"assistant": [".msg.bot"]}}
    pid = await lib.learn(fp, {**opts, "url": "http://site-one/"})
    again = await lib.learn(fp, {**opts, "url": "http://site-two/"})
    assert again == pid  # same configuration: counted, not duplicated
    other = await lib.learn(fp, {"input": "#b", "assistant": ".reply"})
    assert other != pid
    await lib.record(other, False)
    cands = await lib.candidates(fp)
    assert [c.id for c in cands] == [pid, other]
    assert cands[0].successes == 2 and cands[1].failures == 1
    assert "url" not in cands[0].config
    alts = await lib.alternates("gradio", "assistant", exclude=".bot")
    assert alts == [".msg.bot", ".reply"]
    assert await lib.candidates(_fp({"markers": ["streamlit"], "shape": {}})) == []
