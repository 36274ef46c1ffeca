"""The adapter contract: one class per wire protocol.

An adapter turns an upstream's own protocol into the desk's ``ChatChunk`` stream.
It never decides routing, never retries on another endpoint and never logs
secrets; it translates every library error into a ``DeskError`` subclass.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
from endpoint_desk.core.errors import ConfigError, ProtocolError
from endpoint_desk.core.models import (
    ChatChunk,
    ChatRequest,
    EndpointKind,
    EndpointSpec,
    ProbeResult,
    Usage,
)
from endpoint_desk.core.tools import CAPABILITIES

if TYPE_CHECKING:
    from endpoint_desk.adapters.transport import Route

SecretResolver = Callable[[str], str]
"""Turns a secret reference (``env:NAME``...) into its value, at request time only.

Raises ``ConfigError`` (or ``AuthFailed``) when the reference cannot be resolved.
"""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter can do; front ends and the router read these.

    The router sends a request only where every capability it needs
    (``ChatRequest.needs()``: ``tools``, ``vision``, ``json_schema``; ``embeddings`` for
    ``/v1/embeddings``) is on. An endpoint's ``capabilities`` setting overrides its
    adapter's declaration where the user knows better (a model without vision behind
    an OpenAI-style API, say).
    """

    streaming: bool = True
    list_models: bool = True
    usage: bool = True
    sessions: bool = False
    vision: bool = False
    needs_browser: bool = False
    tools: bool = False
    json_schema: bool = False
    embeddings: bool = False

    def names(self) -> frozenset[str]:
        """The capabilities (of ``core.tools.CAPABILITIES``) that are on."""
        return frozenset(name for name in CAPABILITIES if getattr(self, name))

    def overridden(self, overrides: Mapping[str, bool]) -> Capabilities:
        """These capabilities with an endpoint's own settings applied."""
        known = {k: bool(v) for k, v in overrides.items() if k in CAPABILITIES}
        return replace(self, **known) if known else self


class Adapter(abc.ABC):
    """Base class of every adapter.

    Args:
        spec: the endpoint's configuration.
        resolve_secret: resolves secret references when a request is made.

    Lifecycle: ``await open()`` once, then any number of concurrent ``chat`` /
    ``embed`` / ``list_models`` / ``probe`` calls, then ``await aclose()``.
    """

    kind: ClassVar[EndpointKind]
    capabilities: ClassVar[Capabilities] = Capabilities()

    @classmethod
    def capabilities_for(cls, spec: EndpointSpec) -> Capabilities:
        """What this adapter can do for ``spec`` (adapters whose abilities depend on
        their options override this). The endpoint's own overrides come on top, in
        :func:`capabilities_for`."""
        return cls.capabilities

    def __init__(self, spec: EndpointSpec, resolve_secret: SecretResolver) -> None:
        self.spec = spec
        self._resolve = resolve_secret

    # ---- lifecycle -------------------------------------------------------

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire connections, browsers, pages. Safe default: nothing."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release everything ``open`` acquired. Must be safe to call twice."""

    async def restart(self) -> None:
        """Throw away broken connections or browsers and open again."""
        await self.aclose()
        await self.open()

    # ---- work ------------------------------------------------------------

    @abc.abstractmethod
    def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Send ``request`` and yield the reply as chunks.

        ``request.model`` is already the upstream model name (mapping applied by the
        engine). The last chunk carries ``finish_reason`` and ``usage`` when known.

        Raises:
            DeskError: a subclass naming what went wrong (``Unreachable``,
                ``AuthFailed``, ``RateLimited``, ``ModelNotFound``, ``UpstreamError``,
                ``ProtocolError``, ``UpstreamTimeout``...).
        """

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """Embed ``request.inputs`` with ``request.model`` (already the upstream name).

        Adapters whose ``capabilities.embeddings`` is on override this; the result has
        one vector per input, in order, and ``Usage(estimated=True)`` when the upstream
        reported no token count (the engine estimates it).

        Raises:
            ConfigError: this kind of endpoint cannot embed (the default), so the
                router's next candidate may take the request.
            DeskError: as :meth:`chat`.
        """
        raise ConfigError(
            f"{self.spec.name}: a {self.kind.value} endpoint cannot serve embeddings "
            "(remove 'embeddings' from its capabilities setting)",
            endpoint=self.spec.name,
        )

    def embedded(
        self,
        request: EmbeddingRequest,
        vectors: list[list[float]],
        usage: Usage | None,
        model: str | None = None,
    ) -> EmbeddingResult:
        """The result of an embedding call, once its vectors are read.

        Raises:
            ProtocolError: the upstream sent a different number of vectors than texts.
        """
        if len(vectors) != len(request.inputs):
            name = self.spec.name
            raise ProtocolError(
                f"{name} sent {len(vectors)} embeddings for {len(request.inputs)} texts",
                endpoint=name,
            )
        return EmbeddingResult(
            vectors=vectors,
            model=model or request.model,
            usage=usage if usage is not None else Usage(estimated=True),
        )

    async def list_models(self) -> list[str]:
        """Model names the upstream serves. Default: the configured list."""
        return list(self.spec.models)

    async def probe(self, deep: bool = False) -> ProbeResult:
        """Check the endpoint is alive.

        Args:
            deep: send a real one-token chat instead of the cheap check.
        Returns:
            A ``ProbeResult``; a failing probe raises ``DeskError`` instead.
        """
        import time

        t0 = time.perf_counter()
        if deep or not self.capabilities.list_models:
            request = ChatRequest.from_text(
                "ping", model=self.spec.upstream_model(None) or "", max_tokens=1
            )
            async for _ in self.chat(request):
                pass
            return ProbeResult(ok=True, latency_ms=(time.perf_counter() - t0) * 1000)
        models = await self.list_models()
        return ProbeResult(ok=True, latency_ms=(time.perf_counter() - t0) * 1000, models=models)

    # ---- helpers ---------------------------------------------------------

    @functools.cached_property
    def route(self) -> Route:
        """How this endpoint's HTTP requests leave: implementation, proxy, TLS trust
        (made on first use; the environment's proxy variables are read then).

        Raises:
            ConfigError: a CA file or proxy URL that cannot be used.
        """
        from endpoint_desk.adapters.transport import route_for

        return route_for(self.spec, self._resolve)

    def secret(self, ref: str | None) -> str | None:
        """Resolve a secret reference; ``None`` stays ``None``."""
        if ref is None:
            return None
        return self._resolve(ref)

    def bearer_json_headers(self) -> dict[str, str]:
        """JSON headers with the API key as a bearer token and the spec's extra headers."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.secret(self.spec.api_key)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if self.spec.headers:
            headers.update(self.resolved_headers())
        return headers

    def resolved_headers(self) -> dict[str, str]:
        """The spec's extra headers with secret references resolved."""
        out: dict[str, str] = {}
        for key, value in self.spec.headers.items():
            out[key] = self._resolve(value) if _is_ref(value) else value
        return out


def _is_ref(value: str) -> bool:
    return value.split(":", 1)[0] in ("env", "keyring", "file") and ":" in value


_REGISTRY: dict[EndpointKind, str] = {
    EndpointKind.OPENAI: "endpoint_desk.adapters.openai:OpenAIAdapter",
    EndpointKind.ANTHROPIC: "endpoint_desk.adapters.anthropic:AnthropicAdapter",
    EndpointKind.GEMINI: "endpoint_desk.adapters.gemini:GeminiAdapter",
    EndpointKind.OLLAMA: "endpoint_desk.adapters.ollama:OllamaAdapter",
    EndpointKind.TEMPLATE: "endpoint_desk.adapters.template.adapter:TemplateAdapter",
    EndpointKind.WEB_CHAT: "endpoint_desk.adapters.webchat.adapter:WebChatAdapter",
}


def adapter_class(kind: EndpointKind) -> type[Adapter]:
    """The adapter class for ``kind``, imported on first use (the web chat adapter
    pulls in Playwright, which REST-only users never pay for)."""
    import importlib

    target = _REGISTRY.get(kind)
    if target is None:
        raise ConfigError(f"no adapter for endpoint kind {kind!r}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the {kind.value} adapter is not available: {exc}") from exc
    cls: type[Adapter] = getattr(module, attr)
    return cls


def capabilities_for(spec: EndpointSpec) -> Capabilities:
    """What an endpoint can do: its adapter's declaration for its options, with the
    endpoint's ``capabilities`` overrides applied."""
    return adapter_class(spec.kind).capabilities_for(spec).overridden(spec.capabilities)


def create_adapter(spec: EndpointSpec, resolve_secret: SecretResolver) -> Adapter:
    return adapter_class(spec.kind)(spec, resolve_secret)


_SHARED_CLOSERS: list[Callable[[], Awaitable[None]]] = []


def register_shared_closer(closer: Callable[[], Awaitable[None]]) -> None:
    """Register a coroutine function that releases a resource adapters share per event
    loop (the HTTP pool, the one Chromium). The engine awaits every closer at shutdown."""
    if closer not in _SHARED_CLOSERS:
        _SHARED_CLOSERS.append(closer)


async def close_shared_resources() -> None:
    """Release every shared resource of the running loop (errors are swallowed)."""
    for closer in list(_SHARED_CLOSERS):
        try:
            await closer()
        except Exception:
            pass
