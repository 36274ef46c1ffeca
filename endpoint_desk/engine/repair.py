"""Runtime self-repair of web chat endpoints, wired to a desk: when a saved selector
stops matching, the adapter asks discovery (``discovery/repair.py``) for a new one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from endpoint_desk.core.models import EndpointSpec

if TYPE_CHECKING:
    from endpoint_desk.engine.desk import Desk


def install_web_chat_repair(desk: Desk) -> Callable[[], None]:
    """Register discovery's runtime self-repair for the desk's web chat endpoints
    (``adapters.webchat.repair``); returns the function that removes it again.

    A repair is saved to the store (the endpoint keeps working after a restart), shown
    as an alert, and learned by the pattern library.
    """
    from endpoint_desk.adapters.webchat.repair import repair_hook, set_repair_hook
    from endpoint_desk.discovery.repair import make_repair_hook
    from endpoint_desk.engine.events import Alert

    async def record(spec: EndpointSpec, key: str, how: str, detail: str) -> None:
        pos = desk.portfolio.positions.get(spec.name)
        if pos is None:
            return
        pos.spec = spec
        await desk.store.update_endpoint(spec)
        desk.bus.publish(
            Alert(
                "warning",
                spec.name,
                "Web chat repaired",
                f"{spec.name}: the {key} selector stopped matching; repaired by {how}: {detail}",
                {"option": key, "how": how},
            )
        )

    hook = make_repair_hook(store=desk.store, resolve_secret=desk.secrets.resolve, on_repair=record)
    previous = set_repair_hook(hook)

    def remove() -> None:
        if repair_hook() is hook:
            set_repair_hook(previous)

    return remove
