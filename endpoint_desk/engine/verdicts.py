"""Verdicts: what the desk does with the outcome of a request.

Every attempt's outcome goes to its position's breaker (``engine/guards.py``); the
verdict changes the position's state (degraded, tripped, cooling down, error, back ON)
and raises an alert. Budget refusals raise one "Budget reached" alert per scope and day.
The health loop's own verdicts on probes live in ``engine/health.py``.
"""

from __future__ import annotations

import time

from endpoint_desk.core.errors import BudgetExceeded, DeskError
from endpoint_desk.core.models import EndpointState
from endpoint_desk.engine.events import Alert, EventBus
from endpoint_desk.engine.metrics import day_start
from endpoint_desk.engine.portfolio import Portfolio
from endpoint_desk.engine.position import Position


class Verdicts:
    """Acts on outcomes: breaker verdicts into states and alerts, budget alerts."""

    def __init__(self, portfolio: Portfolio, bus: EventBus) -> None:
        self.portfolio = portfolio
        self.bus = bus
        self._budget_alerts: set[tuple[str, float]] = set()

    def judge(self, pos: Position, error: DeskError | None) -> None:
        """Feed one outcome to the position's breaker and act on its verdict."""
        guard = self.portfolio.guard(pos)
        state = pos.state
        if error is None:
            guard.breaker.record(None)
            if state == EndpointState.DEGRADED:
                if guard.breaker.healthy():
                    self.portfolio.set_state_soon(pos, EndpointState.ON, "")
                return
            if state == EndpointState.TRIPPED and pos.spec.enabled:
                # the fallback request to a cooling endpoint passed: it is back
                guard.breaker.reset()
                self.portfolio.set_state_soon(pos, EndpointState.ON, "")
                self.bus.publish(
                    Alert("info", pos.name, "Recovered", f"{pos.name} served a request; back ON")
                )
            return
        verdict = guard.breaker.record(error)
        if verdict is None or not pos.spec.enabled or state == EndpointState.OFF:
            return
        if verdict.action == "error":
            if state != EndpointState.ERROR:
                self.portfolio.set_state_soon(pos, EndpointState.ERROR, verdict.reason)
                self.bus.publish(Alert("error", pos.name, error.title, verdict.reason))
            return
        if state == EndpointState.TRIPPED or state == EndpointState.ERROR:
            return
        if verdict.action == "degrade":
            if state == EndpointState.ON:
                self.portfolio.set_state_soon(pos, EndpointState.DEGRADED, verdict.reason)
                self.bus.publish(
                    Alert("warning", pos.name, "Degraded", f"{pos.name}: {verdict.reason}")
                )
            return
        until = time.time() + verdict.cooldown
        self.portfolio.set_state_soon(pos, EndpointState.TRIPPED, verdict.reason, until)
        title = "Tripped" if verdict.action == "trip" else "Cooling down"
        self.bus.publish(
            Alert(
                "warning",
                pos.name,
                title,
                f"{pos.name} taken out for {verdict.cooldown:g} s: {verdict.reason}",
                {"cooldown": verdict.cooldown},
            )
        )

    def budget_alert(self, scope: str, error: BudgetExceeded) -> None:
        """One "budget reached" alert per scope and day."""
        key = (scope, day_start())
        if key not in self._budget_alerts:
            self._budget_alerts.add(key)
            self.bus.publish(
                Alert("warning", error.endpoint, "Budget reached", error.message, {"scope": scope})
            )
