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
  (:func:`endpoint_desk.discovery.probe.detector.detect`); a refused connection costs
  microseconds, so the whole scan takes about one probe timeout at worst.

The port list is configurable: ``scan(ports=...)``, ``desk scan --port N`` or the
``DESK_SCAN_PORTS`` variable (``"11434,1234,8080"``).

:func:`scan` runs both halves: ``keys`` (the environment), ``ports`` (the local
servers); ``report`` holds what a scan found (``ScanReport``) and its ``desk add`` lines.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from endpoint_desk.discovery.scanner.keys import KNOWN_PROVIDERS, Provider, find_keys
from endpoint_desk.discovery.scanner.ports import (
    DEFAULT_PORTS,
    parse_ports,
    ports_from_env,
    scan_ports,
)
from endpoint_desk.discovery.scanner.report import KeyFinding, ScanReport, ServerFinding

__all__ = [
    "DEFAULT_PORTS",
    "KNOWN_PROVIDERS",
    "KeyFinding",
    "Provider",
    "ScanReport",
    "ServerFinding",
    "find_keys",
    "parse_ports",
    "ports_from_env",
    "scan",
    "scan_ports",
]


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
