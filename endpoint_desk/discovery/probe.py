"""What is this URL? Probe known API shapes, cheapest and most likely first.

Each probe is one GET whose answer only a given protocol gives; the evidence is kept
so ``desk add`` can tell the user what it found and why.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from endpoint_desk.adapters.http import shared_session, translate_exception
from endpoint_desk.core.errors import AuthFailed, DeskError, Unreachable
from endpoint_desk.core.models import EndpointKind


@dataclass(slots=True)
class Detection:
    """The outcome of probing a URL."""

    kind: EndpointKind
    base_url: str
    models: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    needs_key: bool = False


@dataclass(slots=True)
class _Answer:
    status: int
    ctype: str
    body: bytes
    json: Any = None


def _strip(url: str, *suffixes: str) -> str:
    url = url.rstrip("/")
    for s in suffixes:
        if url.endswith(s):
            return url[: -len(s)]
    return url


async def _get(url: str, headers: dict[str, str], timeout: float) -> _Answer | None:
    try:
        async with shared_session().get(
            url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=True,
        ) as resp:
            body = await resp.content.read(2_000_000)
            ans = _Answer(resp.status, resp.headers.get("Content-Type", ""), body)
    except aiohttp.ClientConnectorError:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
    if "json" in ans.ctype or body[:1] in (b"{", b"["):
        try:
            ans.json = orjson.loads(body)
        except orjson.JSONDecodeError:
            ans.json = None
    return ans


def _hint(url: str) -> EndpointKind | None:
    host = urlsplit(url).netloc.lower()
    if "anthropic.com" in host:
        return EndpointKind.ANTHROPIC
    if "generativelanguage.googleapis.com" in host:
        return EndpointKind.GEMINI
    if host.endswith(":11434"):
        return EndpointKind.OLLAMA
    return None


def _model_ids(items: Any, key: str = "id") -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(m[key]) for m in items if isinstance(m, dict) and key in m]


async def detect(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = 10.0,
) -> Detection:
    """Find the protocol behind ``url``.

    Raises:
        Unreachable: nothing answers at the URL.
        AuthFailed: an API answered but refused the key (or wants one).
        DeskError: something answers, but it is no API or page the desk knows.
    """
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    evidence: list[str] = []
    hint = _hint(url)
    if hint:
        evidence.append(f"the host name suggests {hint.value}")
    auth_refusals: list[str] = []

    async def ollama() -> Detection | None:
        base = _strip(url, "/api/tags", "/api", "/v1")
        ans = await _get(base + "/api/tags", {}, timeout)
        if ans and ans.status == 200 and isinstance(ans.json, dict) and "models" in ans.json:
            models = _model_ids(ans.json["models"], "name") or _model_ids(
                ans.json["models"], "model"
            )
            return Detection(
                EndpointKind.OLLAMA,
                base,
                models,
                [*evidence, f"GET {base}/api/tags answered with an Ollama model list"],
            )
        return None

    async def openai() -> Detection | None:
        base = _strip(url, "/models", "/chat/completions")
        api = base if urlsplit(base).path not in ("", "/") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        ans = await _get(api + "/models", headers, timeout)
        if ans is None:
            return None
        data = ans.json
        if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("data"), list):
            items = data["data"]
            if items and isinstance(items[0], dict) and items[0].get("type") == "model":
                return None  # Anthropic's list shape
            return Detection(
                EndpointKind.OPENAI,
                base,
                _model_ids(items),
                [*evidence, f"GET {api}/models answered with an OpenAI model list"],
            )
        if ans.status in (401, 403) and isinstance(data, dict) and "error" in data:
            auth_refusals.append(f"{api}/models answered {ans.status} (OpenAI-style)")
            return Detection(
                EndpointKind.OPENAI,
                base,
                [],
                [*evidence, f"GET {api}/models answered {ans.status} in OpenAI's error shape"],
                needs_key=True,
            )
        return None

    async def anthropic() -> Detection | None:
        base = _strip(url, "/v1/messages", "/v1/models", "/v1")
        headers = {"anthropic-version": "2023-06-01"}
        if api_key:
            headers["x-api-key"] = api_key
        ans = await _get(base + "/v1/models", headers, timeout)
        if ans is None:
            return None
        data = ans.json
        if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("data"), list):
            items = data["data"]
            if (items and isinstance(items[0], dict) and items[0].get("type") == "model") or (
                hint == EndpointKind.ANTHROPIC
            ):
                return Detection(
                    EndpointKind.ANTHROPIC,
                    base,
                    _model_ids(items),
                    [*evidence, f"GET {base}/v1/models answered with Anthropic's model list"],
                )
        if ans.status in (401, 403) and isinstance(data, dict) and data.get("type") == "error":
            return Detection(
                EndpointKind.ANTHROPIC,
                base,
                [],
                [*evidence, f"GET {base}/v1/models answered {ans.status} in Anthropic's shape"],
                needs_key=True,
            )
        return None

    async def gemini() -> Detection | None:
        base = _strip(url, "/v1beta/models", "/v1beta", "/v1")
        headers = {"x-goog-api-key": api_key} if api_key else {}
        ans = await _get(base + "/v1beta/models", headers, timeout)
        if ans is None:
            return None
        data = ans.json
        if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("models"), list):
            names = [n.removeprefix("models/") for n in _model_ids(data["models"], "name")]
            return Detection(
                EndpointKind.GEMINI,
                base,
                names,
                [*evidence, f"GET {base}/v1beta/models answered with a Gemini model list"],
            )
        if ans.status in (400, 401, 403) and isinstance(data, dict) and "error" in data:
            err = data["error"]
            if isinstance(err, dict) and "status" in err:
                return Detection(
                    EndpointKind.GEMINI,
                    base,
                    [],
                    [*evidence, f"GET {base}/v1beta/models answered {ans.status} (Google shape)"],
                    needs_key=True,
                )
        return None

    # All probes run at once; when several protocols answer (Ollama also serves an
    # OpenAI-compatible /v1, the sim serves everything), the first in this order wins.
    probes = [openai, anthropic, gemini, ollama]
    if hint == EndpointKind.ANTHROPIC:
        probes = [anthropic, openai]
    elif hint == EndpointKind.GEMINI:
        probes = [gemini, openai]
    elif hint == EndpointKind.OLLAMA:
        probes = [ollama, openai]
    try:
        results = await asyncio.gather(*(p() for p in probes), return_exceptions=True)
    except DeskError:
        raise
    unreachable: aiohttp.ClientConnectorError | None = None
    found: list[Detection] = []
    for res in results:
        if isinstance(res, Detection):
            found.append(res)
        elif isinstance(res, aiohttp.ClientConnectorError):
            unreachable = res
        elif isinstance(res, BaseException):
            raise translate_exception(res, endpoint=url)
    good = [d for d in found if not d.needs_key]
    if good:
        best = good[0]
        others = [d.kind.value for d in good[1:] if d.kind != best.kind]
        if others:
            best.evidence.append(
                f"it also answers as {', '.join(others)}; use --kind to choose another"
            )
        return best
    if found:
        det = found[0]
        raise AuthFailed(
            f"{url} looks like a {det.kind.value} API but "
            + ("refused the key" if api_key else "needs an API key (--api-key-env NAME)")
            + f": {det.evidence[-1]}"
        )
    if unreachable is not None:
        raise Unreachable(f"cannot connect to {url} ({unreachable.os_error or unreachable})")
    page = await _get(url, {}, timeout)
    if page is not None and "html" in page.ctype:
        return Detection(
            EndpointKind.WEB_CHAT,
            url,
            [],
            [*evidence, f"GET {url} answered with an HTML page ({page.status})"],
        )
    raise DeskError(
        f"{url} answers, but not as an API the desk knows (tried Ollama /api/tags, "
        "OpenAI /v1/models, Anthropic /v1/models, Gemini /v1beta/models); "
        "use --kind to say what it is"
    )
