"""What is this URL? Probe known API shapes, cheapest and most likely first.

Each probe is one GET whose answer only a given protocol gives:

- Ollama: ``GET /api/tags`` -> ``{"models": [...]}``.
- OpenAI-style: ``GET {api}/models`` -> ``{"data": [...]}`` (``/v1`` added to a bare
  host), or 401/403 in OpenAI's error shape.
- Anthropic: ``GET /v1/models`` with ``anthropic-version`` -> ``{"data": [{"type":
  "model"}...]}``, or 401/403 ``{"type": "error"}``.
- Gemini: ``GET /v1beta/models`` -> ``{"models": [...]}``, or 400/401/403 in Google's
  error shape (``error.status``).

Order: when the URL itself says what it is (host ``api.anthropic.com``, port 11434, a
path such as ``/v1beta`` or ``/api/tags``), that one probe goes first, alone, and when
it answers nothing else is asked. Otherwise the probes run at once and, when several
protocols answer (Ollama also serves an OpenAI-compatible ``/v1``; the sim serves
everything), the first of OpenAI, Anthropic, Gemini, Ollama wins. A refused connection
ends detection at once (``Unreachable``). Only when no API shape answers is the URL
fetched as a page (an HTML page is a web chat candidate).

With a key, the probes carry it the way each protocol wants, so a 2xx answer verifies
the key (``Detection.key_verified``) and a refusal raises ``AuthFailed`` saying the key
was refused. Every probe's outcome is kept (``Detection.tried``), and the reasons for
the verdict (``Detection.evidence``) so ``desk add`` can tell the user what it found
and why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from endpoint_desk.adapters.http import translate_exception
from endpoint_desk.adapters.transport import default_route, request
from endpoint_desk.core.errors import AuthFailed, DeskError, Unreachable, UpstreamTimeout
from endpoint_desk.core.models import EndpointKind

ANTHROPIC_VERSION = "2023-06-01"
PRIORITY = (EndpointKind.OPENAI, EndpointKind.ANTHROPIC, EndpointKind.GEMINI, EndpointKind.OLLAMA)
"""Which protocol wins when several answer."""

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
        head = f"{self.base_url} is {_LABELS[self.kind]}"
        if self.models:
            shown = ", ".join(self.models[:5]) + (
                f" (+{len(self.models) - 5} more)" if len(self.models) > 5 else ""
            )
            head += f" serving {len(self.models)} model(s): {shown}"
        return "\n".join([head, *(f"  why: {line}" for line in self.evidence)])


_LABELS = {
    EndpointKind.OPENAI: "an OpenAI-style API",
    EndpointKind.ANTHROPIC: "an Anthropic Messages API",
    EndpointKind.GEMINI: "a Gemini API",
    EndpointKind.OLLAMA: "an Ollama server",
    EndpointKind.TEMPLATE: "a REST API",
    EndpointKind.WEB_CHAT: "a web page (web chat candidate)",
}


@dataclass(slots=True)
class _Answer:
    status: int
    ctype: str
    body: bytes
    json: Any = None


class _NoAnswer(Exception):
    """A probe got no HTTP answer (timeout, reset); the reason is the message."""


class _NotListening(Exception):
    """Nothing takes a connection at the probed address (the transport's reason)."""


MAX_PROBE_BODY = 2_000_000
"""The most bytes of an answer a probe reads."""


def _strip(url: str, *suffixes: str) -> str:
    url = url.rstrip("/")
    for s in suffixes:
        if url.endswith(s):
            return url[: -len(s)].rstrip("/")
    return url


async def _get(url: str, headers: dict[str, str], timeout: float) -> _Answer:
    """One GET through the transport (the desk-wide proxy and CA settings, and its
    redirect policy: a key never follows a redirect to another origin); raises
    ``_NotListening`` (nothing listens) or ``_NoAnswer``."""
    try:
        async with asyncio.timeout(timeout):
            resp = await request(
                "GET", url, endpoint=url, route=default_route(), headers=headers, timeout=timeout
            )
            async with resp:
                body = b""
                async for block in resp.iter_any():
                    body += block
                    if len(body) >= MAX_PROBE_BODY:
                        body = body[:MAX_PROBE_BODY]
                        break
                ans = _Answer(resp.status, resp.headers.get("Content-Type", ""), body)
    except TimeoutError:
        raise _NoAnswer(f"no answer within {timeout:g} s") from None
    except UpstreamTimeout:
        raise _NoAnswer(f"no answer within {timeout:g} s") from None
    except Unreachable as exc:
        raise _NotListening(str(exc)) from exc
    except DeskError as exc:
        raise _NoAnswer(exc.one_line()) from None
    if "json" in ans.ctype or body[:1] in (b"{", b"["):
        try:
            ans.json = orjson.loads(body)
        except orjson.JSONDecodeError:
            ans.json = None
    return ans


_HOST_HINTS = (
    ("anthropic.com", EndpointKind.ANTHROPIC),
    ("generativelanguage.googleapis.com", EndpointKind.GEMINI),
    ("api.openai.com", EndpointKind.OPENAI),
    ("openrouter.ai", EndpointKind.OPENAI),
    ("api.groq.com", EndpointKind.OPENAI),
    ("api.deepseek.com", EndpointKind.OPENAI),
    ("api.deepinfra.com", EndpointKind.OPENAI),
    ("api.mistral.ai", EndpointKind.OPENAI),
)
_PATH_HINTS = (
    ("/api/tags", EndpointKind.OLLAMA),
    ("/api/chat", EndpointKind.OLLAMA),
    ("/api", EndpointKind.OLLAMA),
    ("/v1/messages", EndpointKind.ANTHROPIC),
    ("/v1beta", EndpointKind.GEMINI),
    ("/v1beta/models", EndpointKind.GEMINI),
    ("/chat/completions", EndpointKind.OPENAI),
)


def hint_for(url: str) -> tuple[EndpointKind, str] | None:
    """What the URL itself suggests, and why (host, port or path), or ``None``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for needle, kind in _HOST_HINTS:
        if host == needle or host.endswith("." + needle) or needle in host:
            return kind, f"the host name {host} belongs to {kind.value}"
    path = parts.path.rstrip("/")
    for suffix, kind in _PATH_HINTS:
        if path.endswith(suffix):
            return kind, f"the path {path} is {kind.value}'s"
    if parts.port == 11434:
        return EndpointKind.OLLAMA, "port 11434 is Ollama's default port"
    return None


def _model_ids(items: Any, key: str = "id") -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(m[key]) for m in items if isinstance(m, dict) and key in m]


def _said(data: Any) -> str:
    """``: <the upstream's error message>`` (short), or nothing."""
    err = data.get("error") if isinstance(data, dict) else None
    msg = err.get("message") if isinstance(err, dict) else err
    if not isinstance(msg, str) or not msg.strip():
        return ""
    text = " ".join(msg.split())
    return f' ("{text[:120]}")'


def _status_text(ans: _Answer) -> str:
    shape = "JSON" if ans.json is not None else (ans.ctype.split(";")[0] or "no content type")
    return f"{ans.status} ({shape})"


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
    hint = hinted[0] if hinted else None
    reasons: list[str] = [hinted[1]] if hinted else []
    tried: list[str] = []

    def found(kind: EndpointKind, base: str, models: list[str], why: str) -> Detection:
        evidence = [*reasons, why]
        verified: bool | None = None
        if api_key:
            verified = True
            evidence.append("the key was accepted (the probe carried it and got a 2xx answer)")
        return Detection(kind, base, models, evidence, tried=tried, key_verified=verified)

    def refused(kind: EndpointKind, base: str, why: str) -> Detection:
        return Detection(
            kind,
            base,
            [],
            [*reasons, why],
            needs_key=True,
            tried=tried,
            key_verified=False if api_key else None,
        )

    async def ask(probe: str, target: str, headers: dict[str, str]) -> _Answer | None:
        try:
            ans = await _get(target, headers, timeout)
        except _NoAnswer as exc:
            step(f"{probe}: GET {target} -> {exc}")
            return None
        step(f"{probe}: GET {target} -> {_status_text(ans)}")
        return ans

    def step(line: str) -> None:
        tried.append(line)
        if progress is not None:
            try:
                progress(line)
            except Exception:  # a UI's callback must not break detection
                log.warning("detect progress callback failed", exc_info=True)

    async def ollama() -> Detection | None:
        base = _strip(url, "/api/tags", "/api/chat", "/api", "/v1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        ans = await ask("ollama", base + "/api/tags", headers)
        if ans is None:
            return None
        data = ans.json
        if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("models"), list):
            models = _model_ids(data["models"], "name") or _model_ids(data["models"], "model")
            return found(
                EndpointKind.OLLAMA,
                base,
                models,
                f"GET {base}/api/tags answered with an Ollama model list ({len(models)} models)",
            )
        if ans.status in (401, 403) and (
            hint == EndpointKind.OLLAMA
            or (isinstance(data, dict) and isinstance(data.get("error"), str))
        ):
            return refused(
                EndpointKind.OLLAMA,
                base,
                f"GET {base}/api/tags answered {ans.status}"
                + (" in Ollama's error shape" if isinstance(data, dict) else "")
                + _said(data),
            )
        return None

    async def openai() -> Detection | None:
        base = _strip(url, "/models", "/chat/completions")
        api = base if urlsplit(base).path not in ("", "/") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        ans = await ask("openai", api + "/models", headers)
        if ans is None:
            return None
        data = ans.json
        if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("data"), list):
            items = data["data"]
            if items and isinstance(items[0], dict) and items[0].get("type") == "model":
                return None  # Anthropic's list shape
            models = _model_ids(items)
            return found(
                EndpointKind.OPENAI,
                base,
                models,
                f"GET {api}/models answered with an OpenAI model list ({len(models)} models)",
            )
        if (
            ans.status in (401, 403)
            and isinstance(data, dict)
            and isinstance(data.get("error"), dict)
            and data.get("type") != "error"  # Anthropic's error shape
            and "status" not in data["error"]  # Google's error shape
        ):
            return refused(
                EndpointKind.OPENAI,
                base,
                f"GET {api}/models answered {ans.status} in OpenAI's error shape" + _said(data),
            )
        return None

    async def anthropic() -> Detection | None:
        base = _strip(url, "/v1/messages", "/v1/models", "/v1")
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        ans = await ask("anthropic", base + "/v1/models", headers)
        if ans is None:
            return None
        data = ans.json
        if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("data"), list):
            items = data["data"]
            if (items and isinstance(items[0], dict) and items[0].get("type") == "model") or (
                hint == EndpointKind.ANTHROPIC
            ):
                models = _model_ids(items)
                return found(
                    EndpointKind.ANTHROPIC,
                    base,
                    models,
                    f"GET {base}/v1/models with anthropic-version answered with Anthropic's "
                    f"model list ({len(models)} models)",
                )
        if ans.status in (401, 403) and isinstance(data, dict) and data.get("type") == "error":
            return refused(
                EndpointKind.ANTHROPIC,
                base,
                f"GET {base}/v1/models answered {ans.status} in Anthropic's error shape"
                + _said(data),
            )
        return None

    async def gemini() -> Detection | None:
        base = _strip(url, "/v1beta/models", "/v1beta", "/v1")
        headers = {"x-goog-api-key": api_key} if api_key else {}
        ans = await ask("gemini", base + "/v1beta/models", headers)
        if ans is None:
            return None
        data = ans.json
        if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("models"), list):
            names = [n.removeprefix("models/") for n in _model_ids(data["models"], "name")]
            return found(
                EndpointKind.GEMINI,
                base,
                names,
                f"GET {base}/v1beta/models answered with a Gemini model list ({len(names)} models)",
            )
        if ans.status in (400, 401, 403) and isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict) and "status" in err:
                return refused(
                    EndpointKind.GEMINI,
                    base,
                    f"GET {base}/v1beta/models answered {ans.status} {err.get('status')} "
                    "in Google's error shape" + _said(data),
                )
        return None

    probes: dict[EndpointKind, Callable[[], Awaitable[Detection | None]]] = {
        EndpointKind.OPENAI: openai,
        EndpointKind.ANTHROPIC: anthropic,
        EndpointKind.GEMINI: gemini,
        EndpointKind.OLLAMA: ollama,
    }
    results: list[Detection] = []
    try:
        if hint in probes:
            assert hint is not None
            first = await probes[hint]()
            if first is not None:
                if first.needs_key:
                    raise _refusal(url, first, api_key)
                return first
        rest = [k for k in PRIORITY if k != hint]
        answers = await asyncio.gather(*(probes[k]() for k in rest), return_exceptions=True)
    except _NotListening as exc:
        raise Unreachable(f"cannot connect to {url} ({exc})") from exc
    for res in answers:
        if isinstance(res, _NotListening):
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
        page = await ask("page", url, {})
    except _NotListening as exc:
        raise Unreachable(f"cannot connect to {url} ({exc})") from exc
    if page is not None and "html" in page.ctype:
        return Detection(
            EndpointKind.WEB_CHAT,
            url,
            [],
            [
                *reasons,
                f"no API shape answered; GET {url} answered with an HTML page "
                f"({page.status}), a web chat candidate",
            ],
            tried=tried,
        )
    if all("no answer within" in t for t in tried):
        raise UpstreamTimeout(
            f"{url} accepts connections but answered no probe within {timeout:g} s"
        )
    raise DeskError(
        f"{url} answers, but not as an API the desk knows (tried: "
        + "; ".join(tried)
        + "); use --kind to say what it is (template for any other REST API)"
    )


def _refusal(url: str, det: Detection, api_key: str | None) -> AuthFailed:
    return AuthFailed(
        f"{url} looks like {_LABELS[det.kind]} but "
        + ("refused the key" if api_key else "needs an API key (--api-key-env NAME)")
        + f": {det.evidence[-1]}"
    )
