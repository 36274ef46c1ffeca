"""The local half of ``desk scan``: model servers on their usual localhost ports.

A port counts only when the server answers its own API
(:func:`endpoint_desk.discovery.probe.detector.detect`); a refused connection costs
microseconds, so the whole scan takes about one probe timeout at worst. The product
is then named by its own endpoints (Open WebUI, llama.cpp, text-generation-webui...).
The port list is configurable: ``scan_ports(ports=...)``, ``desk scan --port N`` or
``DESK_SCAN_PORTS`` (``"11434,1234,8080"``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from endpoint_desk.adapters.http import shared_session
from endpoint_desk.core.errors import AuthFailed, BadRequest, DeskError, Unreachable
from endpoint_desk.core.models import EndpointKind, slugify
from endpoint_desk.discovery.probe.detector import detect
from endpoint_desk.discovery.scanner.report import ServerFinding, add_line

__all__ = ["DEFAULT_PORTS", "parse_ports", "ports_from_env", "scan_ports"]


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
            res.command = add_line(res.url, name)
        elif res.needs_key:
            res.command = add_line(res.url, name, key_env="YOUR_KEY_VARIABLE")
        else:
            res.command = add_line(res.url, name, kind=res.kind)
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
