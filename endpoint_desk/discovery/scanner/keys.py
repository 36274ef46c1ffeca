"""The environment half of ``desk scan``: API keys of known providers.

A key is reported by the *name* of its variable only; its value is never read into a
report, printed or logged. The ready ``desk add`` line refers to the variable
(``--api-key-env NAME``), so the key stays in the environment. ``<PROVIDER>_BASE_URL``
(the SDKs' own convention, e.g. ``OPENAI_BASE_URL``) overrides a provider's address.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from endpoint_desk.core.models import EndpointKind
from endpoint_desk.discovery.scanner.report import KeyFinding, add_line

__all__ = ["KNOWN_PROVIDERS", "Provider", "find_keys"]


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
        command = add_line(base, p.name, kind=p.kind, key_env=var)
        found.append(KeyFinding(p.name, p.label, var, p.kind, base, command, present[1:]))
    return found
