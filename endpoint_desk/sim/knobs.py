"""Knobs of the simulated upstream: the server-level :class:`SimConfig` and their parsing.

A knob is set, from weakest to strongest, by the server config (constructor, CLI
``--knob name=value``, ``POST /sim/config``), by an ``x-sim-<name>`` request header,
or by a model-name suffix ``model@name=value,name=value`` (a bare ``name`` means true).
Names accept ``-`` or ``_``. See :mod:`endpoint_desk.sim` for the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KNOB_NAMES",
    "PROTOCOL_NAMES",
    "KnobError",
    "Knobs",
    "ScriptFn",
    "SimConfig",
    "parse_knob_text",
    "split_model",
]

ScriptFn = Callable[[list[dict[str, str]]], str]
"""A script callable: gets the request's messages as ``{"role", "content"}`` dicts."""

_TRUE = {"1", "true", "yes", "on", ""}
_FALSE = {"0", "false", "no", "off"}
_SAFETY = {"", "prompt", "response"}


class KnobError(ValueError):
    """A knob name or value that the sim does not understand (answered with HTTP 400)."""


@dataclass
class Knobs:
    """The behaviour knobs; each may be set per server or per request.

    Attributes:
        latency: seconds to wait before sending the response headers.
        ttft: seconds between the headers and the first body byte (streams); added to
            ``latency`` for non-stream answers.
        chunks: number of content chunks a reply is split into (0: one chunk per word).
        chunk_delay: seconds between two content chunks (non-stream answers wait the
            total generation time before replying).
        fail_rate: probability (0..1) that a request fails with ``fail_status``.
        fail_status: HTTP status of a simulated failure (default 500).
        seed: seed of the random generator deciding failures (reproducible runs).
        truncate: cut the body off half-way (stream: after half of the content chunks,
            no ``[DONE]``/``done``/``message_stop``) and close the connection.
        hang: never answer (the client's timeout ends the request).
        garbage: status 200 with a body that is not valid JSON (half a JSON document; in
            a stream, one content event is cut in half).
        rate_limit: when > 0, answer 429 with ``Retry-After: <rate_limit>`` seconds.
        drip: seconds between single bytes of the body (slow drip); 0 disables.
        safety: Gemini only: ``"prompt"`` blocks the prompt (``promptFeedback.blockReason``
            SAFETY), ``"response"`` ends the candidate with ``finishReason`` SAFETY.
        job_delay: seconds a ``/jobs`` job stays ``running`` before it is ``done``.
        job_fail: a ``/jobs`` job ends ``failed`` instead of ``done``.
        reply: fixed reply text for the request (overrides echo/script/canned replies).
    """

    latency: float = 0.0
    ttft: float = 0.0
    chunks: int = 0
    chunk_delay: float = 0.0
    fail_rate: float = 0.0
    fail_status: int = 500
    seed: int | None = None
    truncate: bool = False
    hang: bool = False
    garbage: bool = False
    rate_limit: int = 0
    drip: float = 0.0
    safety: str = ""
    job_delay: float = 0.0
    job_fail: bool = False
    reply: str | None = None

    def knob_values(self) -> dict[str, Any]:
        """The knob fields only, as a plain dict."""
        return {name: getattr(self, name) for name in KNOB_NAMES}

    def with_overrides(self, overrides: Mapping[str, Any]) -> Knobs:
        """A new :class:`Knobs` from these values plus ``overrides`` (already parsed)."""
        values = self.knob_values()
        values.update(overrides)
        return Knobs(**values)

    def validate(self) -> None:
        """Raise :class:`KnobError` for an out-of-range value."""
        for name in ("latency", "ttft", "chunk_delay", "drip", "job_delay"):
            if getattr(self, name) < 0:
                raise KnobError(f"sim knob {name!r} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise KnobError(f"sim knob 'fail_rate' must be within 0..1, got {self.fail_rate}")
        if not 100 <= self.fail_status <= 599:
            raise KnobError(
                f"sim knob 'fail_status' must be an HTTP status, got {self.fail_status}"
            )
        if self.chunks < 0:
            raise KnobError(f"sim knob 'chunks' must be >= 0, got {self.chunks}")
        if self.rate_limit < 0:
            raise KnobError(f"sim knob 'rate_limit' must be >= 0, got {self.rate_limit}")
        if self.safety not in _SAFETY:
            raise KnobError(
                f"sim knob 'safety' must be 'prompt' or 'response', got {self.safety!r}"
            )


KNOB_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Knobs))
_KNOB_TYPES: dict[str, str] = {
    "latency": "float",
    "ttft": "float",
    "chunks": "int",
    "chunk_delay": "float",
    "fail_rate": "float",
    "fail_status": "int",
    "seed": "int?",
    "truncate": "bool",
    "hang": "bool",
    "garbage": "bool",
    "rate_limit": "int",
    "drip": "float",
    "safety": "str",
    "job_delay": "float",
    "job_fail": "bool",
    "reply": "str?",
}
_SIM_DEFAULT_MODELS = ["sim-model", "sim-large", "scripted"]
PROTOCOL_NAMES: tuple[str, ...] = ("openai", "anthropic", "gemini", "ollama", "jobs", "custom")


@dataclass
class SimConfig(Knobs):
    """Server-level configuration of the sim: every :class:`Knobs` field plus these.

    Attributes:
        models: model names served by every protocol (unknown names get 404).
        api_key: when set, every API request must carry it (``Authorization: Bearer``,
            ``x-api-key`` or ``x-goog-api-key``/``?key=`` as the protocol wants).
        script: replies of models whose name starts with ``scripted``: a list (answered
            in order, cycling) or a callable ``fn(messages) -> str``.
        replies: canned reply text per model name.
        protocols: the route groups served (``openai``, ``anthropic``, ``gemini``,
            ``ollama``, ``jobs``, ``custom``); ``None`` serves all. Fixed at start, so a
            discovery test can run a sim that looks like exactly one kind of upstream.
    """

    models: list[str] = field(default_factory=lambda: list(_SIM_DEFAULT_MODELS))
    api_key: str | None = None
    script: list[str] | ScriptFn | None = None
    replies: dict[str, str] = field(default_factory=dict)
    protocols: list[str] | None = None

    def served(self) -> list[str]:
        """The protocols this config serves; raises :class:`KnobError` for unknown names."""
        if self.protocols is None:
            return list(PROTOCOL_NAMES)
        unknown = [p for p in self.protocols if p not in PROTOCOL_NAMES]
        if unknown:
            raise KnobError(
                f"unknown sim protocol(s) {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(PROTOCOL_NAMES)})"
            )
        return [p for p in PROTOCOL_NAMES if p in self.protocols]

    def update(self, values: Mapping[str, Any]) -> None:
        """Change knobs (and ``models``/``api_key``/``replies``/``script`` list) in place.

        Values may be strings (parsed like a header) or already typed JSON values.
        Raises :class:`KnobError` naming the first bad field; nothing changes then.
        """
        new: dict[str, Any] = {}
        for raw_name, value in values.items():
            name = _norm(raw_name)
            if name in KNOB_NAMES:
                new[name] = _coerce(name, value)
            elif name == "models":
                if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
                    raise KnobError("sim config 'models' must be a list of strings")
                new[name] = list(value)
            elif name == "api_key":
                if value is not None and not isinstance(value, str):
                    raise KnobError("sim config 'api_key' must be a string or null")
                new[name] = value or None
            elif name == "replies":
                if not isinstance(value, dict):
                    raise KnobError("sim config 'replies' must be an object model -> text")
                new[name] = {str(k): str(v) for k, v in value.items()}
            elif name == "script":
                if value is not None and not (
                    isinstance(value, list) and all(isinstance(s, str) for s in value)
                ):
                    raise KnobError("sim config 'script' must be a list of strings or null")
                new[name] = value
            elif name == "protocols":
                raise KnobError("sim config 'protocols' is fixed when the sim starts")
            else:
                raise KnobError(f"unknown sim config field {raw_name!r}")
        Knobs(
            **{**self.knob_values(), **{k: v for k, v in new.items() if k in KNOB_NAMES}}
        ).validate()
        for name, value in new.items():
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-able values (api_key masked, a script callable named)."""
        out = self.knob_values()
        out["models"] = list(self.models)
        out["api_key"] = "***" if self.api_key else None
        out["replies"] = dict(self.replies)
        out["protocols"] = self.served()
        if callable(self.script):
            out["script"] = f"<callable {getattr(self.script, '__name__', 'script')}>"
        else:
            out["script"] = self.script
        return out

    @classmethod
    def from_text(cls, text: str, **kwargs: Any) -> SimConfig:
        """A config from ``"name=value,name=value"`` knob text (e.g. a CLI flag)."""
        config = cls(**kwargs)
        config.update(parse_knob_text(text))
        return config


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _coerce(name: str, value: Any) -> Any:
    kind = _KNOB_TYPES[name]
    if value is None:
        if kind.endswith("?"):
            return None
        raise KnobError(f"sim knob {name!r} cannot be null")
    try:
        if kind.startswith("str"):
            return str(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(text)
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise ValueError(value)
            if isinstance(value, str) and not value.strip() and kind.endswith("?"):
                return None
            return int(value)
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    except (TypeError, ValueError):
        raise KnobError(f"sim knob {name!r} needs a {kind.rstrip('?')}, got {value!r}") from None


def parse_knob_text(text: str) -> dict[str, Any]:
    """Parse ``"name=value,name,name=value"`` into typed knob values.

    Raises :class:`KnobError` for an unknown name or a bad value.
    """
    out: dict[str, Any] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        raw_name, _, value = part.partition("=")
        name = _norm(raw_name)
        if name not in KNOB_NAMES:
            raise KnobError(
                f"unknown sim knob {raw_name.strip()!r} (known: {', '.join(KNOB_NAMES)})"
            )
        out[name] = _coerce(name, value.strip())
    return out


def split_model(model: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name@knob=value,..."`` into the model name and its parsed knobs."""
    if "@" not in model:
        return model, {}
    name, _, text = model.partition("@")
    return name, parse_knob_text(text)


def header_knobs(headers: Mapping[str, str]) -> dict[str, Any]:
    """Parse the ``x-sim-<knob>`` headers of a request."""
    out: dict[str, Any] = {}
    for key, value in headers.items():
        if len(key) > 6 and key[:6].lower() == "x-sim-":
            name = _norm(key[6:])
            if name not in KNOB_NAMES:
                raise KnobError(f"unknown sim knob header {key!r}")
            out[name] = _coerce(name, value)
    return out
