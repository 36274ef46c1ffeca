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

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.models import EndpointSpec

if TYPE_CHECKING:
    from endpoint_desk.adapters.webchat.driver import DriverConfig

log = logging.getLogger(__name__)

__all__ = ["RepairHook", "SpecRepair", "repair_hook", "set_repair_hook"]

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


class SpecRepair:
    """The registered hook, bound to one endpoint: a ``RepairFn`` for its pages'
    ``DriverConfig`` that keeps the endpoint's spec and options current.

    Attributes:
        spec: the endpoint's spec, with the repaired options once a repair worked.
    """

    def __init__(
        self,
        spec: EndpointSpec,
        config: DriverConfig,
        on_repaired: Callable[[EndpointSpec], None] | None = None,
    ) -> None:
        self.spec = spec
        self.config = config
        self.on_repaired = on_repaired

    async def __call__(self, key: str, page: Any) -> WebChatOptions | None:
        """Runtime self-repair: the registered hook (discovery) re-finds option ``key``
        on the live page; the repaired options are used from now on."""
        hook = repair_hook()
        if hook is None:
            return None
        name = self.spec.name
        try:
            options = await hook(self.spec, key, page)
            if not options:
                return None
            fixed = WebChatOptions.from_dict(options, default_url=self.spec.base_url, endpoint=name)
        except Exception as exc:  # a failed repair leaves the original error to report
            log.warning("%s: repairing %s failed: %s", name, key, exc)
            return None
        log.warning("%s: %s selector repaired: %r", name, key, getattr(fixed, key, None))
        self.spec = self.spec.model_copy(update={"options": options})
        self.config.options = fixed
        if self.on_repaired is not None:
            self.on_repaired(self.spec)
        return fixed
