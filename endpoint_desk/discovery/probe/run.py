"""One detection run: its record of probes, and the verdicts a probe may reach.

:class:`ProbeRun` carries what every API probe needs (the URL, the key, the timeout,
the URL's hint), sends probe GETs and logs each as a step (``Detection.tried``, and the
``progress`` callback), and builds a :class:`Detection` when a probe recognizes its
protocol (:meth:`ProbeRun.found`) or is refused (:meth:`ProbeRun.refused`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from endpoint_desk.core.models import EndpointKind
from endpoint_desk.discovery.probe.answer import Answer, NoAnswer, get_answer, status_text

__all__ = ["LABELS", "Detection", "ProbeRun"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Detection:
    """The outcome of probing a URL.

    Attributes:
        kind: the protocol found.
        base_url: what to store as the endpoint's ``base_url``.
        models: model names the upstream listed (may be empty).
        evidence: why this verdict, one sentence each (the last is the deciding one).
        needs_key: the API answered but wants a (valid) key.
        tried: every probe sent and what it answered, in order.
        key_verified: ``True`` when a key was given and an authenticated probe
            succeeded with it; ``None`` when no key was given.
    """

    kind: EndpointKind
    base_url: str
    models: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    needs_key: bool = False
    tried: list[str] = field(default_factory=list)
    key_verified: bool | None = None

    def explain(self) -> str:
        """A few lines for a person: what was found and why."""
        head = f"{self.base_url} is {LABELS[self.kind]}"
        if self.models:
            shown = ", ".join(self.models[:5]) + (
                f" (+{len(self.models) - 5} more)" if len(self.models) > 5 else ""
            )
            head += f" serving {len(self.models)} model(s): {shown}"
        return "\n".join([head, *(f"  why: {line}" for line in self.evidence)])


LABELS = {
    EndpointKind.OPENAI: "an OpenAI-style API",
    EndpointKind.ANTHROPIC: "an Anthropic Messages API",
    EndpointKind.GEMINI: "a Gemini API",
    EndpointKind.OLLAMA: "an Ollama server",
    EndpointKind.TEMPLATE: "a REST API",
    EndpointKind.WEB_CHAT: "a web page (web chat candidate)",
}


@dataclass(slots=True)
class ProbeRun:
    """The state of one :func:`~endpoint_desk.discovery.probe.detector.detect` call.

    Attributes:
        url: the normalized URL being detected.
        api_key: the key sent with the probes, if any.
        timeout: seconds for each probe.
        progress: called with each step line as it happens.
        hint: the protocol the URL itself suggests (it is probed first).
        reasons: evidence known before any probe (the hint's reason).
        tried: every step so far; shared with every ``Detection`` this run builds.
    """

    url: str
    api_key: str | None
    timeout: float
    progress: Callable[[str], None] | None = None
    hint: EndpointKind | None = None
    reasons: list[str] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)

    def found(self, kind: EndpointKind, base: str, models: list[str], why: str) -> Detection:
        """The verdict of a probe that recognized its protocol."""
        evidence = [*self.reasons, why]
        verified: bool | None = None
        if self.api_key:
            verified = True
            evidence.append("the key was accepted (the probe carried it and got a 2xx answer)")
        return Detection(kind, base, models, evidence, tried=self.tried, key_verified=verified)

    def refused(self, kind: EndpointKind, base: str, why: str) -> Detection:
        """The verdict of a probe whose protocol answered but wants a (valid) key."""
        return Detection(
            kind,
            base,
            [],
            [*self.reasons, why],
            needs_key=True,
            tried=self.tried,
            key_verified=False if self.api_key else None,
        )

    async def ask(self, probe: str, target: str, headers: dict[str, str]) -> Answer | None:
        """GET ``target`` as step ``probe``; ``None`` when no answer came (also a step).

        Raises:
            NotListening: nothing listens there.
        """
        try:
            ans = await get_answer(target, headers, self.timeout)
        except NoAnswer as exc:
            self.step(f"{probe}: GET {target} -> {exc}")
            return None
        self.step(f"{probe}: GET {target} -> {status_text(ans)}")
        return ans

    def step(self, line: str) -> None:
        """Record one step and report it to ``progress``."""
        self.tried.append(line)
        if self.progress is not None:
            try:
                self.progress(line)
            except Exception:  # a UI's callback must not break detection
                log.warning("detect progress callback failed", exc_info=True)
