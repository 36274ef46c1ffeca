"""The runtime self-repair hook of the web chat adapter.

When a saved selector stops matching (the page changed), the adapter first tries the
alternates it learned (``options.alternates``), then asks the registered repair hook.
Discovery sits above the adapters and registers the hook (the engine installs it when
a desk opens: ``endpoint_desk.discovery.repair.make_repair_hook``); without one the
adapter reports the broken selector as before.

A hook gets the endpoint's spec, the option that failed (``"input"``, ``"send"``) and
the live page, and returns the repaired ``options`` (or ``None``). It records the
repair itself (store, pattern library, an alert).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from endpoint_desk.core.models import EndpointSpec

__all__ = ["RepairHook", "repair_hook", "set_repair_hook"]

RepairHook = Callable[[EndpointSpec, str, Any], Awaitable[dict[str, Any] | None]]
"""``hook(spec, failed_option, page) -> repaired options or None``."""

_HOOK: list[RepairHook] = []


def set_repair_hook(hook: RepairHook | None) -> RepairHook | None:
    """Register ``hook`` (``None`` removes it); returns the one it replaced."""
    old = _HOOK[0] if _HOOK else None
    _HOOK.clear()
    if hook is not None:
        _HOOK.append(hook)
    return old


def repair_hook() -> RepairHook | None:
    """The registered hook, if any."""
    return _HOOK[0] if _HOOK else None
