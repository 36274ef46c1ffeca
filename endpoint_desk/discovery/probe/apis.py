"""The API probes, one per protocol: one GET whose answer only that protocol gives.

- Ollama: ``GET /api/tags`` -> ``{"models": [...]}``.
- OpenAI-style: ``GET {api}/models`` -> ``{"data": [...]}`` (``/v1`` added to a bare
  host), or 401/403 in OpenAI's error shape.
- Anthropic: ``GET /v1/models`` with ``anthropic-version`` -> ``{"data": [{"type":
  "model"}...]}``, or 401/403 ``{"type": "error"}``.
- Gemini: ``GET /v1beta/models`` -> ``{"models": [...]}``, or 400/401/403 in Google's
  error shape (``error.status``).

Each returns a :class:`~endpoint_desk.discovery.probe.run.Detection` (found, or refused
for want of a key) or ``None`` when the answer is not its protocol's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from endpoint_desk.core.models import EndpointKind
from endpoint_desk.discovery.probe.answer import model_ids, said, strip_suffix
from endpoint_desk.discovery.probe.run import Detection, ProbeRun

__all__ = ["ANTHROPIC_VERSION", "PROBES", "anthropic", "gemini", "ollama", "openai"]

ANTHROPIC_VERSION = "2023-06-01"


async def ollama(run: ProbeRun) -> Detection | None:
    """``GET /api/tags``: an Ollama model list, or a refusal in Ollama's shape."""
    base = strip_suffix(run.url, "/api/tags", "/api/chat", "/api", "/v1")
    headers = {"Authorization": f"Bearer {run.api_key}"} if run.api_key else {}
    ans = await run.ask("ollama", base + "/api/tags", headers)
    if ans is None:
        return None
    data = ans.json
    if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("models"), list):
        models = model_ids(data["models"], "name") or model_ids(data["models"], "model")
        return run.found(
            EndpointKind.OLLAMA,
            base,
            models,
            f"GET {base}/api/tags answered with an Ollama model list ({len(models)} models)",
        )
    if ans.status in (401, 403) and (
        run.hint == EndpointKind.OLLAMA
        or (isinstance(data, dict) and isinstance(data.get("error"), str))
    ):
        return run.refused(
            EndpointKind.OLLAMA,
            base,
            f"GET {base}/api/tags answered {ans.status}"
            + (" in Ollama's error shape" if isinstance(data, dict) else "")
            + said(data),
        )
    return None


async def openai(run: ProbeRun) -> Detection | None:
    """``GET {api}/models``: an OpenAI model list, or a refusal in OpenAI's shape."""
    base = strip_suffix(run.url, "/models", "/chat/completions")
    api = base if urlsplit(base).path not in ("", "/") else base + "/v1"
    headers = {"Authorization": f"Bearer {run.api_key}"} if run.api_key else {}
    ans = await run.ask("openai", api + "/models", headers)
    if ans is None:
        return None
    data = ans.json
    if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("data"), list):
        items = data["data"]
        if items and isinstance(items[0], dict) and items[0].get("type") == "model":
            return None  # Anthropic's list shape
        models = model_ids(items)
        return run.found(
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
        return run.refused(
            EndpointKind.OPENAI,
            base,
            f"GET {api}/models answered {ans.status} in OpenAI's error shape" + said(data),
        )
    return None


async def anthropic(run: ProbeRun) -> Detection | None:
    """``GET /v1/models`` with ``anthropic-version``: Anthropic's list or refusal."""
    base = strip_suffix(run.url, "/v1/messages", "/v1/models", "/v1")
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if run.api_key:
        headers["x-api-key"] = run.api_key
    ans = await run.ask("anthropic", base + "/v1/models", headers)
    if ans is None:
        return None
    data = ans.json
    if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("data"), list):
        items = data["data"]
        if (items and isinstance(items[0], dict) and items[0].get("type") == "model") or (
            run.hint == EndpointKind.ANTHROPIC
        ):
            models = model_ids(items)
            return run.found(
                EndpointKind.ANTHROPIC,
                base,
                models,
                f"GET {base}/v1/models with anthropic-version answered with Anthropic's "
                f"model list ({len(models)} models)",
            )
    if ans.status in (401, 403) and isinstance(data, dict) and data.get("type") == "error":
        return run.refused(
            EndpointKind.ANTHROPIC,
            base,
            f"GET {base}/v1/models answered {ans.status} in Anthropic's error shape" + said(data),
        )
    return None


async def gemini(run: ProbeRun) -> Detection | None:
    """``GET /v1beta/models``: a Gemini model list, or a refusal in Google's shape."""
    base = strip_suffix(run.url, "/v1beta/models", "/v1beta", "/v1")
    headers = {"x-goog-api-key": run.api_key} if run.api_key else {}
    ans = await run.ask("gemini", base + "/v1beta/models", headers)
    if ans is None:
        return None
    data = ans.json
    if ans.status == 200 and isinstance(data, dict) and isinstance(data.get("models"), list):
        names = [n.removeprefix("models/") for n in model_ids(data["models"], "name")]
        return run.found(
            EndpointKind.GEMINI,
            base,
            names,
            f"GET {base}/v1beta/models answered with a Gemini model list ({len(names)} models)",
        )
    if ans.status in (400, 401, 403) and isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and "status" in err:
            return run.refused(
                EndpointKind.GEMINI,
                base,
                f"GET {base}/v1beta/models answered {ans.status} {err.get('status')} "
                "in Google's error shape" + said(data),
            )
    return None


PROBES: dict[EndpointKind, Callable[[ProbeRun], Awaitable[Detection | None]]] = {
    EndpointKind.OPENAI: openai,
    EndpointKind.ANTHROPIC: anthropic,
    EndpointKind.GEMINI: gemini,
    EndpointKind.OLLAMA: ollama,
}
"""The probe of each API protocol."""
