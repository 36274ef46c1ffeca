"""The pattern library: verified web chat configurations, keyed by page fingerprint.

Every configuration discovery verifies is kept in the store's ``patterns`` table with
the page's fingerprint (framework markers and DOM shape) and success/failure counts.
``desk add`` on a page tries the best-ranked fitting patterns first and verifies each
with a canary, so a second site built on the same framework configures without the
full analysis. A pattern that fails its canary is counted as a failure and sinks.

Only site-independent keys are kept (selectors and timings; never the URL, the
credentials or discovery's notes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from endpoint_desk.store.records import PatternRecord

__all__ = ["FRAMEWORKS", "Fingerprint", "PatternLibrary", "pattern_config", "rank_patterns"]

FRAMEWORKS = (
    "gradio",
    "streamlit",
    "chainlit",
    "open-webui-like",
    "nextjs",
    "nuxt",
    "angular",
    "vue",
    "svelte",
)
"""Framework markers, most specific first; the first present names the framework."""

_KEEP = (
    "input",
    "assistant",
    "assistant_text",
    "ignore",
    "send",
    "send_key",
    "user_message",
    "busy",
    "busy_input",
    "new_chat",
    "input_mode",
    "quiet_ms",
    "idle_quiet_ms",
    "pause_factor",
    "alternates",
)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What kind of page this is: framework markers plus a coarse DOM shape.

    ``key`` is stable across sites built the same way (same framework, same kind of
    input, shadow DOM or not, same custom elements) and differs otherwise.
    """

    framework: str
    markers: tuple[str, ...] = ()
    input_kind: str = ""
    in_shadow: bool = False
    custom_elements: tuple[str, ...] = ()
    shape: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``framework|input kind|shadow|custom-elements hash``."""
        ce = ",".join(self.custom_elements[:6])
        digest = hashlib.sha1(ce.encode()).hexdigest()[:8] if ce else "-"
        return (
            f"{self.framework}|{self.input_kind}|{'shadow' if self.in_shadow else 'light'}|{digest}"
        )

    @classmethod
    def from_page(cls, raw: dict[str, Any], top_input: dict[str, Any] | None) -> Fingerprint:
        """From ``__deskDiscover.fingerprint()`` and the best input candidate."""
        markers = tuple(str(m) for m in raw.get("markers", []))
        framework = next((f for f in FRAMEWORKS if f in markers), "generic")
        shape = dict(raw.get("shape", {}))
        custom = tuple(
            c for c in shape.get("custom_elements", []) if not str(c).startswith("desk-")
        )
        return cls(
            framework=framework,
            markers=markers,
            input_kind=str(top_input.get("kind", "")) if top_input else "",
            in_shadow=bool(top_input.get("in_shadow")) if top_input else False,
            custom_elements=custom,
            shape=shape,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "key": self.key,
            "framework": self.framework,
            "markers": list(self.markers),
            "input_kind": self.input_kind,
            "in_shadow": self.in_shadow,
            "custom_elements": list(self.custom_elements),
            "shape": self.shape,
        }


def pattern_config(options: dict[str, Any]) -> dict[str, Any]:
    """The site-independent part of a web chat configuration."""
    return {k: options[k] for k in _KEEP if k in options and options[k] not in (None, "")}


def rank_patterns(
    patterns: list[PatternRecord], fp: Fingerprint, limit: int = 3
) -> list[PatternRecord]:
    """Patterns worth trying on a page with fingerprint ``fp``, best first.

    Same fingerprint beats same framework; then the track record (successes minus
    twice the failures), then the most recently used. A generic page only tries
    patterns with its exact fingerprint (nothing else says they would fit). Patterns
    that failed more often than they worked are left out.
    """
    scored: list[tuple[float, float, PatternRecord]] = []
    for p in patterns:
        exact = p.fingerprint == fp.key
        if not exact and (fp.framework == "generic" or p.framework != fp.framework):
            continue
        if p.failures > p.successes + 1:
            continue
        score = (100.0 if exact else 0.0) + p.successes - 2 * p.failures
        scored.append((score, p.last_used_at or p.created_at, p))
    scored.sort(key=lambda x: (-x[0], -x[1]))
    return [p for _, _, p in scored[:limit]]


class PatternLibrary:
    """The learned patterns in one store (``Store.save_pattern`` / ``list_patterns`` /
    ``record_pattern_result``)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def candidates(self, fp: Fingerprint, limit: int = 3) -> list[PatternRecord]:
        """The best-ranked patterns to try on a page with fingerprint ``fp``."""
        return rank_patterns(await self.store.list_patterns(), fp, limit)

    async def learn(self, fp: Fingerprint, options: dict[str, Any]) -> int:
        """Keep a verified configuration (counted as one success); returns its id.

        The same configuration for the same fingerprint is counted, not duplicated.
        """
        return await self.learn_for(fp.key, fp.framework, options)

    async def learn_for(self, key: str, framework: str, options: dict[str, Any]) -> int:
        """:meth:`learn` by fingerprint key and framework (a repair knows only these)."""
        config = pattern_config(options)
        canon = json.dumps(config, sort_keys=True)
        for p in await self.store.list_patterns(fingerprint=key):
            if json.dumps(p.config, sort_keys=True) == canon:
                await self.store.record_pattern_result(p.id, True)
                return int(p.id)
        pid = int(await self.store.save_pattern(key, framework, config))
        await self.store.record_pattern_result(pid, True)
        return pid

    async def record(self, pattern_id: int, ok: bool) -> None:
        """Count one verified use (``ok``) or failure of a pattern."""
        await self.store.record_pattern_result(pattern_id, ok)

    async def alternates(self, framework: str, key: str, exclude: str | None = None) -> list[str]:
        """Selectors other patterns of ``framework`` use for option ``key`` (for repairs)."""
        seen: list[str] = []
        for p in await self.store.list_patterns(framework=framework):
            value = p.config.get(key)
            if isinstance(value, str) and value != exclude and value not in seen:
                seen.append(value)
            for alt in p.config.get("alternates", {}).get(key, []):
                if alt != exclude and alt not in seen:
                    seen.append(alt)
        return seen
