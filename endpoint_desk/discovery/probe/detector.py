"""``detect()``: which probes run in which order, and the verdict.

See :mod:`endpoint_desk.discovery.probe` for the order; the probes themselves are in
:mod:`~endpoint_desk.discovery.probe.apis`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from endpoint_desk.adapters.http import translate_exception
from endpoint_desk.core.errors import AuthFailed, DeskError, Unreachable, UpstreamTimeout
from endpoint_desk.core.models import EndpointKind
from endpoint_desk.discovery.probe.answer import NotListening
from endpoint_desk.discovery.probe.apis import PROBES
from endpoint_desk.discovery.probe.hints import hint_for
from endpoint_desk.discovery.probe.run import LABELS, Detection, ProbeRun

__all__ = ["PRIORITY", "detect"]

PRIORITY = (EndpointKind.OPENAI, EndpointKind.ANTHROPIC, EndpointKind.GEMINI, EndpointKind.OLLAMA)
"""Which protocol wins when several answer."""


async def detect(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = 10.0,
    progress: Callable[[str], None] | None = None,
) -> Detection:
    """Find the protocol behind ``url`` (see the module docstring for the order).

    Args:
        url: what the user typed; ``http://`` is added when there is no scheme.
        api_key: a key value to send with the probes (verifies it).
        timeout: seconds for each probe.
        progress: called with one line per probe as it is answered (``probe: GET
            URL -> status``), for a UI that shows the steps as they happen.

    Raises:
        Unreachable: nothing listens at the URL.
        UpstreamTimeout: something listens but no probe got an answer in time.
        AuthFailed: an API answered but refused the key (or wants one).
        DeskError: something answers, but it is no API or page the desk knows.
    """
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    hinted = hint_for(url)
    run = ProbeRun(
        url,
        api_key,
        timeout,
        progress,
        hint=hinted[0] if hinted else None,
        reasons=[hinted[1]] if hinted else [],
    )
    hint = run.hint
    results: list[Detection] = []
    try:
        if hint in PROBES:
            assert hint is not None
            first = await PROBES[hint](run)
            if first is not None:
                if first.needs_key:
                    raise _refusal(url, first, api_key)
                return first
        rest = [k for k in PRIORITY if k != hint]
        answers = await asyncio.gather(*(PROBES[k](run) for k in rest), return_exceptions=True)
    except NotListening as exc:
        raise Unreachable(f"cannot connect to {url} ({exc})") from exc
    for res in answers:
        if isinstance(res, NotListening):
            raise Unreachable(f"cannot connect to {url} ({res})") from res
        if isinstance(res, BaseException):
            raise translate_exception(res, endpoint=url)
        if res is not None:
            results.append(res)
    good = [d for d in results if not d.needs_key]
    if good:
        best = good[0]
        others = [d.kind.value for d in good[1:] if d.kind != best.kind]
        if others:
            best.evidence.append(
                f"it also answers as {', '.join(others)}; use --kind to choose another"
            )
        return best
    if results:
        raise _refusal(url, results[0], api_key)
    try:
        page = await run.ask("page", url, {})
    except NotListening as exc:
        raise Unreachable(f"cannot connect to {url} ({exc})") from exc
    if page is not None and "html" in page.ctype:
        return Detection(
            EndpointKind.WEB_CHAT,
            url,
            [],
            [
                *run.reasons,
                f"no API shape answered; GET {url} answered with an HTML page "
                f"({page.status}), a web chat candidate",
            ],
            tried=run.tried,
        )
    if all("no answer within" in t for t in run.tried):
        raise UpstreamTimeout(
            f"{url} accepts connections but answered no probe within {timeout:g} s"
        )
    raise DeskError(
        f"{url} answers, but not as an API the desk knows (tried: "
        + "; ".join(run.tried)
        + "); use --kind to say what it is (template for any other REST API)"
    )


def _refusal(url: str, det: Detection, api_key: str | None) -> AuthFailed:
    """The error for an API that wants a key, or refused the one given."""
    return AuthFailed(
        f"{url} looks like {LABELS[det.kind]} but "
        + ("refused the key" if api_key else "needs an API key (--api-key-env NAME)")
        + f": {det.evidence[-1]}"
    )
