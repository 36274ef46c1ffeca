"""Runtime self-repair of web chat endpoints (the hook behind the adapter's
``adapters.webchat.repair``).

When a saved selector stops matching, the adapter tries its own learned alternates
first; then it calls this hook, which

1. tries the selectors the pattern library knows for the same framework (other
   patterns' values and alternates) on the live page, then
2. re-runs discovery on the endpoint's page (with its saved session and stored
   credentials), and
3. records the repair: the repaired options (with the old selector kept as an
   alternate and a note in ``meta.repairs``) go to ``on_repair`` (the engine saves
   them and raises an alert), and the pattern library learns the result.

One repair per endpoint at a time: pages that fail together wait for the first repair
and reuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import EndpointSpec
from endpoint_desk.discovery.patterns import PatternLibrary

log = logging.getLogger(__name__)

__all__ = ["OnRepair", "make_repair_hook"]

OnRepair = Callable[[EndpointSpec, str, str, str], Awaitable[None]]
"""``on_repair(repaired spec, option, how ("alternate" | "rediscovery"), detail)``."""

_KEEP_REPAIRS = 5


def _with_repair(options: dict[str, Any], key: str, old: Any, new: Any, how: str) -> dict[str, Any]:
    out = dict(options)
    alts = {k: list(v) for k, v in dict(out.get("alternates") or {}).items()}
    if isinstance(old, str) and old and old != new:
        alts[key] = [old, *[a for a in alts.get(key, []) if a not in (old, new)]][:4]
    if alts:
        out["alternates"] = alts
    meta = dict(out.get("meta") or {})
    repairs = list(meta.get("repairs") or [])
    repairs.append(
        {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "option": key,
            "old": old,
            "new": new,
            "how": how,
        }
    )
    meta["repairs"] = repairs[-_KEEP_REPAIRS:]
    out["meta"] = meta
    return out


def make_repair_hook(
    *,
    store: Any,
    resolve_secret: Callable[[str], str],
    on_repair: OnRepair | None = None,
    rediscover: bool = True,
) -> Callable[[EndpointSpec, str, Any], Awaitable[dict[str, Any] | None]]:
    """The repair hook for ``adapters.webchat.repair.set_repair_hook``.

    Args:
        store: the desk's store (pattern library).
        resolve_secret: resolves the endpoint's credential references for discovery.
        on_repair: records a repair (the engine saves the spec and raises an alert).
        rediscover: allow re-running discovery when no known selector fits.
    """
    locks: dict[str, asyncio.Lock] = {}
    done: dict[str, tuple[float, dict[str, Any]]] = {}

    async def hook(spec: EndpointSpec, key: str, page: Any) -> dict[str, Any] | None:
        lock = locks.setdefault(spec.name, asyncio.Lock())
        async with lock:
            recent = done.get(spec.name)
            if (
                recent
                and time.monotonic() - recent[0] < 60
                and recent[1].get(key) != spec.options.get(key)
            ):
                return recent[1]  # another page of this endpoint just repaired it
            fixed = await _repair(spec, key, page)
            if fixed is not None:
                done[spec.name] = (time.monotonic(), fixed)
            return fixed

    async def _repair(spec: EndpointSpec, key: str, page: Any) -> dict[str, Any] | None:
        options = dict(spec.options)
        current = options.get(key)
        meta = dict(options.get("meta") or {})
        library = PatternLibrary(store)
        # 1. what the library knows for pages of this framework
        known = await library.alternates(str(meta.get("framework", "generic")), key, current)
        for sel in known:
            hit = False
            with contextlib.suppress(Exception):
                hit = bool(await page.evaluate("sel => !!window.__deskChat.firstVisible(sel)", sel))
            if hit:
                fixed = _with_repair(options, key, current, sel, "alternate")
                fixed[key] = sel
                if meta.get("fingerprint"):
                    with contextlib.suppress(DeskError):
                        await library.learn_for(
                            str(meta["fingerprint"]), str(meta.get("framework", "generic")), fixed
                        )
                await _record(spec, fixed, key, "alternate", f"{current!r} -> {sel!r}")
                return fixed
        if not rediscover:
            return None
        # 2. the page changed more than a selector: work it out again
        from endpoint_desk.discovery.webchat.configure import configure_web_chat

        url = str(options.get("url") or spec.base_url)
        try:
            found = await configure_web_chat(
                url,
                name=spec.name,
                store=store,
                browser_config=spec.browser_config,
                username=spec.username,
                password=spec.password,
                resolve_secret=resolve_secret,
                login_url=spec.login_url,
            )
        except DeskError as exc:
            log.warning("%s: re-running discovery failed: %s", spec.name, exc.one_line())
            return None
        new = dict(found.options)
        for k in ("url", "login_username", "login_password", "login_submit", "pages",
                  "reply_timeout", "save_session", "keep_conversations"):  # fmt: skip
            if k in options and k not in new:
                new[k] = options[k]
        fixed = _with_repair(new, key, current, new.get(key), "rediscovery")
        await _record(
            spec, fixed, key, "rediscovery", f"{current!r} -> {new.get(key)!r} "
            f"(confidence {found.confidence:.0%})",
        )  # fmt: skip
        return fixed

    async def _record(
        spec: EndpointSpec, fixed: dict[str, Any], key: str, how: str, detail: str
    ) -> None:
        log.warning("%s: repaired the %s selector by %s: %s", spec.name, key, how, detail)
        if on_repair is not None:
            try:
                await on_repair(spec.model_copy(update={"options": fixed}), key, how, detail)
            except Exception as exc:  # recording must not undo a working repair
                log.warning("%s: recording the repair failed: %s", spec.name, exc)

    return hook
