"""``desk scan``: find what the user could add, without adding anything by itself.

Two sources:

- **API keys of known providers in the environment** (``OPENAI_API_KEY``,
  ``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY``...). A key is reported by the *name* of its
  variable only; its value is never read into a report, printed or logged. The ready
  ``desk add`` line refers to the variable (``--api-key-env NAME``), so the key stays
  in the environment. ``<PROVIDER>_BASE_URL`` (the SDKs' own convention, e.g.
  ``OPENAI_BASE_URL``) overrides a provider's address.
- **Local model servers on their usual localhost ports** (Ollama 11434, LM Studio 1234,
  llama.cpp / Open WebUI / LocalAI 8080, vLLM 8000, text-generation-webui 5000, Open
  WebUI 3000, Jan 1337...). A port counts only when the server answers its own API
  (:func:`endpoint_desk.discovery.probe.detect`); a refused connection costs
  microseconds, so the whole scan takes about one probe timeout at worst.

The port list is configurable: ``scan(ports=...)``, ``desk scan --port N`` or the
``DESK_SCAN_PORTS`` variable (``"11434,1234,8080"``).
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from endpoint_desk.adapters.http import shared_session
from endpoint_desk.core.errors import AuthFailed, BadRequest, DeskError, Unreachable
from endpoint_desk.core.models import EndpointKind, slugify
from endpoint_desk.discovery.probe import detect

__all__ = [
    "DEFAULT_PORTS",
    "KNOWN_PROVIDERS",
    "KeyFinding",
    "Provider",
    "ScanReport",
    "ServerFinding",
    "find_keys",
    "ports_from_env",
    "scan",
    "scan_ports",
]


@dataclass(frozen=True, slots=True)
class Provider:
    """A hosted AI provider whose key may sit in the environment."""

    name: str
    label: str
    kind: EndpointKind
    base_url: str
    env_vars: tuple[str, ...]
    base_url_env: str | None = None


KNOWN_PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "openai",
        "OpenAI",
        EndpointKind.OPENAI,
        "https://api.openai.com/v1",
        ("OPENAI_API_KEY",),
        "OPENAI_BASE_URL",
    ),
    Provider(
        "anthropic",
        "Anthropic",
        EndpointKind.ANTHROPIC,
        "https://api.anthropic.com",
        ("ANTHROPIC_API_KEY",),
        "ANTHROPIC_BASE_URL",
    ),
    Provider(
        "gemini",
        "Google Gemini",
        EndpointKind.GEMINI,
        "https://generativelanguage.googleapis.com",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENERATIVE_AI_API_KEY"),
        "GEMINI_BASE_URL",
    ),
    Provider(
        "deepseek",
        "DeepSeek",
        EndpointKind.OPENAI,
        "https://api.deepseek.com/v1",
        ("DEEPSEEK_API_KEY",),
        "DEEPSEEK_BASE_URL",
    ),
    Provider(
        "deepinfra",
        "DeepInfra",
        EndpointKind.OPENAI,
        "https://api.deepinfra.com/v1/openai",
        ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN"),
        "DEEPINFRA_BASE_URL",
    ),
    Provider(
        "openrouter",
        "OpenRouter",
        EndpointKind.OPENAI,
        "https://openrouter.ai/api/v1",
        ("OPENROUTER_API_KEY",),
        "OPENROUTER_BASE_URL",
    ),
    Provider(
        "groq",
        "Groq",
        EndpointKind.OPENAI,
        "https://api.groq.com/openai/v1",
        ("GROQ_API_KEY",),
        "GROQ_BASE_URL",
    ),
    Provider(
        "zai",
        "Z.ai",
        EndpointKind.OPENAI,
        "https://api.z.ai/api/paas/v4",
        ("ZAI_API_KEY", "Z_AI_API_KEY"),
        "ZAI_BASE_URL",
    ),
    Provider(
        "zhipu",
        "Zhipu AI (BigModel)",
        EndpointKind.OPENAI,
        "https://open.bigmodel.cn/api/paas/v4",
        ("ZHIPUAI_API_KEY", "ZHIPU_API_KEY"),
        "ZHIPU_BASE_URL",
    ),
    Provider(
        "mistral",
        "Mistral",
        EndpointKind.OPENAI,
        "https://api.mistral.ai/v1",
        ("MISTRAL_API_KEY",),
        "MISTRAL_BASE_URL",
    ),
    Provider(
        "together",
        "Together AI",
        EndpointKind.OPENAI,
        "https://api.together.xyz/v1",
        ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
        "TOGETHER_BASE_URL",
    ),
    Provider(
        "fireworks",
        "Fireworks AI",
        EndpointKind.OPENAI,
        "https://api.fireworks.ai/inference/v1",
        ("FIREWORKS_API_KEY",),
        "FIREWORKS_BASE_URL",
    ),
    Provider(
        "xai",
        "xAI",
        EndpointKind.OPENAI,
        "https://api.x.ai/v1",
        ("XAI_API_KEY",),
        "XAI_BASE_URL",
    ),
    Provider(
        "cerebras",
        "Cerebras",
        EndpointKind.OPENAI,
        "https://api.cerebras.ai/v1",
        ("CEREBRAS_API_KEY",),
        "CEREBRAS_BASE_URL",
    ),
    Provider(
        "perplexity",
        "Perplexity",
        EndpointKind.OPENAI,
        "https://api.perplexity.ai",
        ("PERPLEXITY_API_KEY", "PPLX_API_KEY"),
        "PERPLEXITY_BASE_URL",
    ),
    Provider(
        "moonshot",
        "Moonshot (Kimi)",
        EndpointKind.OPENAI,
        "https://api.moonshot.ai/v1",
        ("MOONSHOT_API_KEY",),
        "MOONSHOT_BASE_URL",
    ),
    Provider(
        "dashscope",
        "Alibaba DashScope (Qwen)",
        EndpointKind.OPENAI,
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        ("DASHSCOPE_API_KEY",),
        "DASHSCOPE_BASE_URL",
    ),
    Provider(
        "nvidia",
        "NVIDIA NIM",
        EndpointKind.OPENAI,
        "https://integrate.api.nvidia.com/v1",
        ("NVIDIA_API_KEY",),
        "NVIDIA_BASE_URL",
    ),
    Provider(
        "sambanova",
        "SambaNova",
        EndpointKind.OPENAI,
        "https://api.sambanova.ai/v1",
        ("SAMBANOVA_API_KEY",),
        "SAMBANOVA_BASE_URL",
    ),
    Provider(
        "huggingface",
        "Hugging Face router",
        EndpointKind.OPENAI,
        "https://router.huggingface.co/v1",
        ("HF_TOKEN", "HUGGINGFACE_API_KEY"),
        None,
    ),
)
"""Providers the scanner knows, in the order it reports them."""


DEFAULT_PORTS: dict[int, tuple[str, ...]] = {
    11434: ("Ollama",),
    1234: ("LM Studio",),
    8080: ("llama.cpp server", "Open WebUI", "LocalAI", "llamafile"),
    8000: ("vLLM", "SGLang (alt)", "Lemonade"),
    5000: ("text-generation-webui", "TabbyAPI"),
    5001: ("KoboldCpp",),
    3000: ("Open WebUI",),
    1337: ("Jan",),
    4891: ("GPT4All",),
    30000: ("SGLang",),
    4000: ("LiteLLM proxy",),
    9997: ("Xinference",),
    7860: ("Gradio app",),
}
"""Usual localhost ports of local model servers and what usually listens there."""


@dataclass(slots=True)
class KeyFinding:
    """A provider key found in the environment (by variable name; never its value)."""

    provider: str
    label: str
    env_var: str
    kind: EndpointKind
    base_url: str
    command: str
    also_set: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no secret: only the variable's name)."""
        return {
            "provider": self.provider,
            "label": self.label,
            "env_var": self.env_var,
            "kind": self.kind.value,
            "base_url": self.base_url,
            "command": self.command,
            "also_set": list(self.also_set),
        }


@dataclass(slots=True)
class ServerFinding:
    """A local server that answered on one of the scanned ports."""

    port: int
    url: str
    kind: EndpointKind
    product: str
    models: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    needs_key: bool = False
    command: str = ""
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "port": self.port,
            "url": self.url,
            "kind": self.kind.value,
            "product": self.product,
            "models": list(self.models),
            "evidence": list(self.evidence),
            "needs_key": self.needs_key,
            "command": self.command,
            "name": self.name,
        }


@dataclass(slots=True)
class ScanReport:
    """What ``desk scan`` found."""

    keys: list[KeyFinding] = field(default_factory=list)
    servers: list[ServerFinding] = field(default_factory=list)
    scanned_ports: list[int] = field(default_factory=list)
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (never a secret value)."""
        return {
            "keys": [k.to_dict() for k in self.keys],
            "servers": [s.to_dict() for s in self.servers],
            "scanned_ports": list(self.scanned_ports),
            "elapsed_ms": round(self.elapsed_ms, 1),
        }

    @property
    def commands(self) -> list[str]:
        """Every ready ``desk add`` line, keys first."""
        return [k.command for k in self.keys] + [s.command for s in self.servers if s.command]


# ---------------------------------------------------------------------------- keys


def find_keys(env: Mapping[str, str] | None = None) -> list[KeyFinding]:
    """Provider keys present (non-empty) in ``env`` (default: ``os.environ``).

    Only variable names are looked at and reported; values are tested for being
    non-empty and never copied anywhere.
    """
    env = os.environ if env is None else env
    found: list[KeyFinding] = []
    for p in KNOWN_PROVIDERS:
        present = [v for v in p.env_vars if env.get(v, "").strip()]
        if not present:
            continue
        base = p.base_url
        if p.base_url_env and env.get(p.base_url_env, "").strip():
            base = env[p.base_url_env].strip().rstrip("/")
        var = present[0]
        command = _add_line(base, p.name, kind=p.kind, key_env=var)
        found.append(KeyFinding(p.name, p.label, var, p.kind, base, command, present[1:]))
    return found


# ---------------------------------------------------------------------------- ports


def ports_from_env(env: Mapping[str, str] | None = None) -> list[int] | None:
    """``DESK_SCAN_PORTS="11434,1234"`` -> ``[11434, 1234]``; ``None`` when unset.

    Raises:
        BadRequest: the variable holds something that is not a port list.
    """
    env = os.environ if env is None else env
    raw = env.get("DESK_SCAN_PORTS", "").strip()
    if not raw:
        return None
    return parse_ports(raw.replace(",", " ").split(), source="DESK_SCAN_PORTS")


def parse_ports(items: Sequence[str | int], source: str = "--port") -> list[int]:
    """Validate port numbers (1..65535), keeping their order and dropping repeats.

    Raises:
        BadRequest: naming the bad item.
    """
    ports: list[int] = []
    for item in items:
        try:
            port = int(item)
        except (TypeError, ValueError):
            raise BadRequest(f"{source}: {item!r} is not a port number") from None
        if not 0 < port < 65536:
            raise BadRequest(f"{source}: {port} is not a port number (1..65535)")
        if port not in ports:
            ports.append(port)
    return ports


async def _json_get(url: str, timeout: float) -> Any:
    try:
        async with shared_session().get(
            url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
        ) as resp:
            if resp.status != 200:
                return None
            body = await resp.content.read(200_000)
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


async def _identify(root: str, port: int, kind: EndpointKind, timeout: float) -> str:
    """Name the product behind a server by its own endpoints; else the port's usual one."""
    checks: list[tuple[str, str, Any]] = [
        (
            "/api/config",
            "Open WebUI",
            lambda d: isinstance(d, dict) and "Open WebUI" in str(d.get("name", "")),
        ),
        (
            "/props",
            "llama.cpp server",
            lambda d: (
                isinstance(d, dict) and ("default_generation_settings" in d or "total_slots" in d)
            ),
        ),
        (
            "/v1/internal/model/info",
            "text-generation-webui",
            lambda d: isinstance(d, dict) and "model_name" in d and "lora_names" in d,
        ),
        (
            "/api/v1/model",
            "KoboldCpp",
            lambda d: isinstance(d, dict) and str(d.get("result", "")).startswith("koboldcpp"),
        ),
    ]
    if kind == EndpointKind.OLLAMA:
        data = await _json_get(root + "/api/version", timeout)
        if isinstance(data, dict) and "version" in data:
            return f"Ollama {data['version']}"
        return "Ollama-compatible server"
    results = await asyncio.gather(*(_json_get(root + path, timeout) for path, _, _ in checks))
    for (_, product, test), data in zip(checks, results, strict=True):
        if data is not None and test(data):
            return product
    usual = DEFAULT_PORTS.get(port)
    if usual:
        return f"{kind.value} server (port {port} is usually {' or '.join(usual)})"
    return f"{kind.value} server"


async def _probe_port(host: str, port: int, timeout: float) -> ServerFinding | None:
    root = f"http://{host}:{port}"
    try:
        det = await asyncio.wait_for(detect(root, timeout=timeout), timeout * 2 + 1)
    except AuthFailed as exc:
        finding = ServerFinding(port, root, EndpointKind.OPENAI, "server that wants an API key")
        finding.needs_key = True
        finding.evidence.append(exc.one_line())
        return finding
    except (Unreachable, TimeoutError):
        return None
    except DeskError:
        return None  # something answers, but no API or page the desk knows
    product = await _identify(root, port, det.kind, timeout)
    if det.kind == EndpointKind.WEB_CHAT and "usually" in product:
        product = (
            f"a web page (port {port} is usually {' or '.join(DEFAULT_PORTS[port])})"
            if (port in DEFAULT_PORTS)
            else "a web page"
        )
    return ServerFinding(
        port=port,
        url=det.base_url,
        kind=det.kind,
        product=product,
        models=list(det.models),
        evidence=list(det.evidence),
        needs_key=det.needs_key,
    )


async def scan_ports(
    ports: Sequence[int] | None = None,
    *,
    host: str = "127.0.0.1",
    timeout: float = 2.0,
) -> list[ServerFinding]:
    """Probe ``ports`` on ``host`` at once; servers that answered, in port-list order."""
    if ports is None:
        ports = ports_from_env() or list(DEFAULT_PORTS)
    results = await asyncio.gather(
        *(_probe_port(host, p, timeout) for p in ports), return_exceptions=True
    )
    found: list[ServerFinding] = []
    taken: set[str] = set()
    for res in results:
        if not isinstance(res, ServerFinding):
            continue
        base = _short_name(res)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        res.name = name
        if res.kind == EndpointKind.WEB_CHAT:
            res.command = _add_line(res.url, name)
        elif res.needs_key:
            res.command = _add_line(res.url, name, key_env="YOUR_KEY_VARIABLE")
        else:
            res.command = _add_line(res.url, name, kind=res.kind)
        found.append(res)
    return found


def _short_name(f: ServerFinding) -> str:
    product = f.product.lower()
    for word, short in (
        ("ollama", "ollama"),
        ("open webui", "open-webui"),
        ("llama.cpp", "llamacpp"),
        ("text-generation-webui", "textgen"),
        ("koboldcpp", "koboldcpp"),
    ):
        if product.startswith(word):
            return short
    usual = DEFAULT_PORTS.get(f.port)
    if usual and len(usual) == 1:
        return slugify(usual[0])
    return slugify(f"local-{f.port}")


def _add_line(
    url: str,
    name: str,
    *,
    kind: EndpointKind | None = None,
    key_env: str | None = None,
) -> str:
    parts = ["desk", "add", url, "--name", name]
    if kind is not None:
        parts += ["--kind", kind.value]
    if key_env:
        parts += ["--api-key-env", key_env]
    return " ".join(shlex.quote(p) for p in parts)


# ---------------------------------------------------------------------------- all


async def scan(
    ports: Sequence[int] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    timeout: float = 2.0,
    keys: bool = True,
    servers: bool = True,
) -> ScanReport:
    """Find provider keys in the environment and local model servers on their ports.

    Args:
        ports: ports to probe; default ``DESK_SCAN_PORTS`` or :data:`DEFAULT_PORTS`.
        env: where keys are looked for; default ``os.environ``.
        host: the host probed (the local machine by default).
        timeout: seconds per probe of one server.
        keys, servers: which half of the scan to run.
    """
    import time

    t0 = time.perf_counter()
    if ports is None:
        ports = ports_from_env(env) or list(DEFAULT_PORTS)
    report = ScanReport(scanned_ports=list(ports) if servers else [])
    if keys:
        report.keys = find_keys(env)
    if servers:
        report.servers = await scan_ports(ports, host=host, timeout=timeout)
    report.elapsed_ms = (time.perf_counter() - t0) * 1000
    return report
