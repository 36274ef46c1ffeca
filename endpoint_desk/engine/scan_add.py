"""What a scan found, as add requests: ``desk scan --add`` adds them and the TUI's scan
list plans the one a person selects, both through the one add flow
(``engine/onboard.py``).

A provider key in the environment becomes an endpoint of that provider's kind whose
key stays in the environment (``env:NAME``); a local model server becomes an endpoint
of the kind the scan found, with its models. A web page, or a server that wants a
key, needs a person: it is planned from its URL (detection, discovery) but never added
unattended.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import EndpointKind, slugify
from endpoint_desk.engine.onboard import AddRequest, onboard
from endpoint_desk.engine.position import EndpointView

if TYPE_CHECKING:
    from endpoint_desk.discovery.scanner import KeyFinding, ScanReport, ServerFinding
    from endpoint_desk.engine.desk import Desk

__all__ = ["ScanCandidate", "ScanOutcome", "add_candidate", "scan_candidates"]


@dataclass(slots=True)
class ScanCandidate:
    """One thing a scan found, ready to add.

    Attributes:
        label: what a list shows (``OpenAI``, ``Ollama``).
        kind: what the scan found it to be.
        where: its URL, or the variable holding its key (``$OPENAI_API_KEY``).
        request: the add request for it.
        unattended: whether it may be added without a person (``desk scan --add``).
        reason: why not, when it may not (the ``desk add`` line to run).
    """

    label: str
    kind: EndpointKind
    where: str
    request: AddRequest
    unattended: bool = True
    reason: str = ""


@dataclass(slots=True)
class ScanOutcome:
    """What ``desk scan --add`` did with one candidate."""

    name: str
    ok: bool
    skipped: bool = False
    reason: str = ""
    view: EndpointView | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``name``, ``ok``, and ``state`` or ``skipped``/``reason``."""
        data: dict[str, Any] = {"name": self.name, "ok": self.ok}
        if self.view is not None:
            data["state"] = self.view.state.value
        if self.skipped:
            data["skipped"] = True
        if self.reason:
            data["reason"] = self.reason
        return data


def key_candidate(found: KeyFinding) -> ScanCandidate:
    """A provider key in the environment: the provider's API with ``env:NAME``."""
    request = AddRequest(
        url=found.base_url,
        name=found.provider,
        kind=found.kind,
        api_key_env=found.env_var,
        evidence=[f"API key in ${found.env_var}"],
    )
    return ScanCandidate(found.label, found.kind, f"${found.env_var}", request)


def server_candidate(found: ServerFinding) -> ScanCandidate:
    """A local server: its API as the scan found it, or (a page, a server that wants
    a key) its URL for a person to add."""
    label = found.product or "server"
    if found.kind == EndpointKind.WEB_CHAT or found.needs_key:
        request = AddRequest(url=found.url, name=found.name or None)
        return ScanCandidate(
            label, found.kind, found.url, request, unattended=False, reason=f"run: {found.command}"
        )
    request = AddRequest(
        url=found.url,
        name=found.name or None,
        kind=found.kind,
        models=list(found.models),
        evidence=list(found.evidence),
    )
    return ScanCandidate(label, found.kind, found.url, request)


def scan_candidates(report: ScanReport) -> list[ScanCandidate]:
    """Every finding of a scan as a candidate: the keys, then the servers."""
    return [
        *(key_candidate(k) for k in report.keys),
        *(server_candidate(s) for s in report.servers),
    ]


def already_added(desk: Desk, request: AddRequest) -> bool:
    """Whether the portfolio has an endpoint of that name or at that URL."""
    views = desk.endpoints()
    urls = {v.spec.base_url.rstrip("/") for v in views}
    names = {v.name for v in views}
    name = slugify(request.name or "")
    return request.url.rstrip("/") in urls or (bool(name) and name in names)


async def add_candidate(desk: Desk, candidate: ScanCandidate) -> ScanOutcome:
    """Add one candidate unattended (proved with a live call, switched ON); what needs
    a person, or is there already, is skipped."""
    name = slugify(candidate.request.name or "") or candidate.label
    if not candidate.unattended:
        return ScanOutcome(name, False, skipped=True, reason=candidate.reason)
    if already_added(desk, candidate.request):
        return ScanOutcome(name, True, skipped=True, reason="already in the portfolio")
    try:
        added = await onboard(desk, replace(candidate.request, prove=True, start=True))
    except DeskError as exc:
        return ScanOutcome(name, False, reason=exc.one_line())
    return ScanOutcome(added.view.name, True, view=added.view)
