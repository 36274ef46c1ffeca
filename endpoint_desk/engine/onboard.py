"""One add flow for every front end: plan, prove, save.

``desk add``, ``desk scan --add``, ``POST /api/endpoints``, the terminal UI's discovery
pane and Python's ``add_endpoint`` all describe what a person asked for as an
:class:`AddRequest` and hand it to :class:`Onboarding`:

1. :meth:`Onboarding.plan`: the URL and name are checked (``core/inputs.py``), the
   request becomes the spec's fields (``engine/add_request.py``); values
   a person typed (a key, a login, a password, credential headers) become stored
   secrets (``engine/credentials.py``); the kind is taken as given or found by probing
   the URL; a chat page without selectors is configured by web chat discovery
   (``engine/webchat_setup.py``). The result is an :class:`AddPlan` to review.
2. :meth:`Onboarding.commit`: the live proof (unless told not to) and the save
   (``Desk.add``).

Every secret stored on the way is deleted again when any step fails (or when a plan
is dropped with :meth:`Onboarding.discard`), so a failed add leaves neither an
endpoint row nor a secret. Each step is reported to a ``progress`` callback as an
:class:`AddStep` as it happens, for the CLI to print and the TUI to show.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from endpoint_desk.core.errors import BadRequest, ConfigError, Duplicate
from endpoint_desk.core.inputs import name_from_url, normalize_url, parse_kind
from endpoint_desk.core.models import EndpointKind, EndpointSpec, slugify
from endpoint_desk.engine.add_request import (
    AddRequest,
    has_selectors,
    merge_discovered,
    renamed,
    spec_fields,
    validate_spec,
)
from endpoint_desk.engine.credentials import StoredSecrets
from endpoint_desk.engine.hints import parse_description
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.engine.webchat_setup import configure_web_chat_for

if TYPE_CHECKING:
    from endpoint_desk.discovery.probe import Detection
    from endpoint_desk.engine.desk import Desk

__all__ = ["AddPlan", "AddRequest", "AddStep", "Added", "Onboarding", "Progress", "onboard"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AddStep:
    """One step of an add, reported as it happens.

    ``stage`` is one of: ``probe`` (detection starts; ``text`` is the URL),
    ``probe_step`` (one probe answered), ``evidence`` (one reason for the verdict),
    ``detected`` (the verdict, with ``ms``), ``web_chat`` (web chat discovery starts;
    ``text`` is the URL), ``web_step`` (one discovery step: ``name``, ``ok``, ``ms``,
    ``text`` its detail), ``prove`` (the live call starts; ``text`` is the name).
    """

    stage: str
    text: str
    ok: bool | None = None
    ms: float | None = None
    name: str = ""


Progress = Callable[[AddStep], None]


@dataclass(slots=True)
class AddPlan:
    """An endpoint ready to prove and save, and how it was found.

    Attributes:
        spec: what will be saved (secrets as references).
        evidence: why it is what it is, one sentence each.
        detection: what probing the URL found (``None`` when the kind was given).
        discovery: what web chat discovery found (a ``WebChatDiscovery``), if it ran.
        stored: the secrets stored for it so far (deleted if it is not saved).
    """

    spec: EndpointSpec
    evidence: list[str]
    stored: StoredSecrets
    detection: Detection | None = None
    discovery: Any = None
    prove: bool = True
    start: bool = True

    @property
    def confidence(self) -> str:
        """``high``/``medium`` for an API; discovery's own figure for a web chat."""
        if self.discovery is not None:
            return f"{self.discovery.confidence:.0%}"
        return "high" if self.spec.models and self.evidence else "medium"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (secrets only as references)."""
        return {
            "evidence": list(self.evidence),
            "discovery": self.discovery.to_dict() if self.discovery is not None else None,
        }


@dataclass(slots=True)
class Added:
    """An endpoint the flow saved, and its plan."""

    view: EndpointView
    plan: AddPlan

    def to_dict(self) -> dict[str, Any]:
        """The endpoint as ``desk ls --json`` shows it, with the evidence."""
        return {**self.view.to_dict(), **self.plan.to_dict()}


class Onboarding:
    """The add flow over one open desk.

    Args:
        desk: the open engine.
        progress: called with each :class:`AddStep` as it happens.
    """

    def __init__(self, desk: Desk, progress: Progress | None = None) -> None:
        self.desk = desk
        self.progress = progress

    def _emit(self, step: AddStep) -> None:
        if self.progress is None:
            return
        try:
            self.progress(step)
        except Exception:  # a front end's display must not break the add
            log.warning("add progress callback failed", exc_info=True)

    # ------------------------------------------------------------------ plan

    async def plan(self, request: AddRequest) -> AddPlan:
        """Check, store the credentials, detect (or take the kind), configure a chat page.

        Raises:
            BadRequest: a bad URL, name, kind or field (``param`` names it).
            Duplicate: the name is taken.
            ConfigError: an ``env:`` variable is unset; a chat page without selectors
                and ``auto_configure=False``.
            DeskError: detection or web chat discovery failed (the message says why).
        """
        url = normalize_url(request.url)
        name = slugify(request.name) if request.name is not None else name_from_url(url)
        if not name:
            raise BadRequest("the name must contain a letter or a digit", param="name")
        self._check_free(name)
        stored = StoredSecrets(self.desk.secrets, name)
        try:
            return await self._plan(request, url, name, stored)
        except BaseException:
            stored.rollback()
            raise

    def _check_free(self, name: str) -> None:
        if name in {v.name for v in self.desk.endpoints()}:
            raise Duplicate(f"an endpoint named {name!r} already exists")

    async def _plan(
        self, request: AddRequest, url: str, name: str, stored: StoredSecrets
    ) -> AddPlan:
        data = spec_fields(request, name)
        stored.into_refs(data)
        evidence = list(request.evidence)
        detection: Detection | None = None
        kind = parse_kind(request.kind) if request.kind is not None else None
        if kind is None and request.expect == "web_chat":
            kind = EndpointKind.WEB_CHAT
        if kind is not None:
            base_url = url
            evidence = evidence or [f"kind {kind.value} given, detection skipped"]
        else:
            key_ref = data.get("api_key")
            key = self.desk.secrets.resolve(key_ref) if key_ref else None
            detection = await self._detect(url, key, expect_api=request.expect == "api")
            kind, base_url = detection.kind, detection.base_url
            evidence.extend(detection.evidence)
            if detection.models and not data.get("models"):
                data["models"] = list(detection.models)
        data.update(kind=kind, base_url=base_url)
        spec = validate_spec(data)
        discovery = None
        if spec.kind == EndpointKind.WEB_CHAT and not has_selectors(spec.options):
            if not request.auto_configure:
                raise ConfigError(
                    f"{spec.base_url} is a web chat: give its selectors (input, assistant) "
                    "or let discovery configure it"
                )
            discovery = await self._discover(spec)
            evidence.extend(discovery.evidence)
            spec = merge_discovered(spec, discovery.spec)
        return AddPlan(
            spec,
            evidence,
            stored,
            detection,
            discovery,
            prove=request.prove,
            start=request.start,
        )

    async def _detect(self, url: str, key: str | None, *, expect_api: bool) -> Detection:
        from endpoint_desk.discovery.probe import detect

        self._emit(AddStep("probe", url))
        started = time.perf_counter()
        found = await detect(
            url, api_key=key, progress=lambda line: self._emit(AddStep("probe_step", line))
        )
        for line in found.evidence:
            self._emit(AddStep("evidence", line, ok=True))
        took = (time.perf_counter() - started) * 1000
        verdict = f"it is {found.kind.value} at {found.base_url}"
        self._emit(AddStep("detected", verdict, ok=True, ms=took))
        if expect_api and found.kind == EndpointKind.WEB_CHAT:
            raise BadRequest(
                f"{url} answers with a web page, not an API the desk knows; add it as a "
                "web chat or give its kind",
                param="provider_type",
            )
        return found

    async def _discover(self, spec: EndpointSpec) -> Any:
        def step(found: Any) -> None:
            self._emit(AddStep("web_step", found.detail, found.ok, found.ms, found.name))

        self._emit(AddStep("web_chat", spec.base_url))
        return await configure_web_chat_for(
            self.desk,
            spec.base_url,
            name=spec.name,
            description=spec.note or None,
            username=spec.username,
            password=spec.password,
            login_url=spec.login_url,
            browser_config=spec.browser_config,
            progress=step,
            hints=parse_description(spec.note),
        )

    # ------------------------------------------------------------------ prove, save

    async def commit(self, plan: AddPlan, *, name: str | None = None) -> EndpointView:
        """Prove the planned endpoint with a live call (unless the request said not
        to), save it and switch it ON (unless told not to). The plan's secrets are
        deleted when this fails.

        Args:
            name: save it under this name instead (the TUI's reviewer renamed it).

        Raises:
            Duplicate: the name is taken.  DeskError: the proof failed; nothing saved.
        """
        spec = plan.spec
        try:
            if name is not None and slugify(name) != spec.name:
                spec = renamed(spec, name)
            if plan.prove:
                self._emit(AddStep("prove", spec.name))
            view = await self.desk.add(spec, prove=plan.prove, start=plan.start)
        except Duplicate:
            self.discard(plan)
            raise
        except BaseException:
            if spec.name not in {v.name for v in self.desk.endpoints()}:
                self.discard(plan)
            raise
        plan.stored.refs.clear()  # the saved endpoint owns them now
        return view

    def discard(self, plan: AddPlan) -> None:
        """Drop a plan that will not be saved: delete the secrets stored for it."""
        plan.stored.rollback()


async def onboard(
    desk: Desk,
    request: AddRequest,
    progress: Progress | None = None,
    review: Callable[[AddPlan], None] | None = None,
) -> Added:
    """Plan, prove and save in one call (the CLI, the server, scripts).

    Args:
        review: called with the plan before the proof (the CLI shows what web chat
            discovery found).

    Raises:
        DeskError: any step failed; nothing is saved and no secret is left.
    """
    flow = Onboarding(desk, progress)
    plan = await flow.plan(request)
    if review is not None:
        try:
            review(plan)
        except BaseException:
            flow.discard(plan)
            raise
    view = await flow.commit(plan)
    return Added(view, plan)
