"""The keys and values of an endpoint's settings, as people write them.

A key is a spec field, dotted for nested ones (``limits.timeout_seconds``) and for
entries of a table (``model_mapping.gpt-4``, ``options.reply_timeout``), a limit's own
name (``timeout_seconds``), or a short alias (:data:`ALIASES`). :func:`resolve_key`
finds where it lands and what shape of value it takes (from the spec's own types, so
a field added to ``EndpointSpec`` is settable at once); :func:`parse_text` reads a
value written as text; :func:`put_value` writes it into a spec's data. The rest of
changing settings (validation, secrets, saving) is ``engine/settings.py``.
"""

from __future__ import annotations

import difflib
import enum
import json
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from endpoint_desk.core.errors import BadRequest, ConfigError
from endpoint_desk.core.inputs import parse_model_map
from endpoint_desk.core.models import EndpointSpec, Limits

ALIASES: dict[str, str] = {
    "timeout": "limits.timeout_seconds",
    "rpm": "limits.max_requests_per_minute",
    "concurrency": "limits.max_concurrent_requests",
    "queue": "limits.queue_seconds",
    "retries": "limits.retry_attempts",
    "health_interval": "limits.health_check_interval",
    "budget": "limits.daily_budget",
    "input_price": "prices.input_per_mtok",
    "output_price": "prices.output_per_mtok",
    "model_map": "model_mapping",
    "selectors": "options",
}
"""Short names for the settings people change most."""

LOCKED: dict[str, str] = {
    "enabled": "switch it with `desk start` / `desk stop` (or the API's start and stop)",
    "demo": "demo endpoints are made by `desk demo`",
}
"""Fields ``desk set`` does not change, and what to do instead."""


@dataclass(frozen=True, slots=True)
class SettingKey:
    """Where a key lands in the spec's data, and what shape of value it takes."""

    key: str
    path: tuple[str, ...]
    shape: str  # "model" | "dict" | "strdict" | "list" | "str" | "value"
    nullable: bool
    entry: bool = False  # an entry of a free-form table (removed when unset)
    merge: bool = False  # a table value merges into what is there

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def named(self) -> str:
        """The key as the user wrote it, with its full name when it was an alias."""
        return self.key if self.key == self.dotted else f"{self.key} ({self.dotted})"


class _Unset:
    """The value of ``key=`` (or ``null``): unset, remove, or empty."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# ---------------------------------------------------------------------- keys


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (it, False)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(get_args(annotation))
    return annotation, False


def _shape(tp: Any) -> str:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "model"
    origin = get_origin(tp)
    if origin is dict:
        return "strdict" if get_args(tp)[1] is str else "dict"
    if origin is list:
        return "list"
    if tp is str or origin is Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return "str"
    return "value"


def _known_keys() -> list[str]:
    keys = list(ALIASES)
    keys.extend(Limits.model_fields)
    for name, info in EndpointSpec.model_fields.items():
        keys.append(name)
        tp, _ = _unwrap(info.annotation)
        if _shape(tp) == "model":
            keys.extend(f"{name}.{sub}" for sub in tp.model_fields)
    return keys


def _unknown(key: str) -> ConfigError:
    close = difflib.get_close_matches(key, _known_keys(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return ConfigError(
        f"unknown setting {key!r}{hint} (`desk show NAME` lists every key)", param=key
    )


def resolve_key(key: str) -> SettingKey:
    """Where ``key`` lands in an endpoint's settings.

    Raises:
        ConfigError: an unknown key, or one ``desk set`` does not change.
    """
    if not isinstance(key, str) or not key.strip():
        raise ConfigError("a setting needs a key: KEY=VALUE", param=None)
    key = key.strip()
    canonical = ALIASES.get(key, key)
    parts = canonical.split(".")
    if parts[0] in LOCKED:
        raise ConfigError(f"{key} is not a setting: {LOCKED[parts[0]]}", param=key)
    if parts[0] in Limits.model_fields:
        parts.insert(0, "limits")
    model: type[BaseModel] = EndpointSpec
    for i, part in enumerate(parts):
        info = model.model_fields.get(part)
        if info is None:
            if model.model_config.get("extra") == "allow" and i > 0:
                return SettingKey(key, tuple(parts), "value", True, entry=True)
            raise _unknown(key)
        tp, nullable = _unwrap(info.annotation)
        shape = _shape(tp)
        here, rest = tuple(parts[: i + 1]), parts[i + 1 :]
        if not rest:
            return SettingKey(
                key, here, shape, nullable, merge=shape == "model" or key == "selectors"
            )
        if shape == "model":
            model = tp
            continue
        if shape == "strdict":  # names may hold dots: gpt-4.1
            return SettingKey(key, (*here, ".".join(rest)), "str", True, entry=True)
        if shape == "dict":
            return SettingKey(key, (*here, *rest), "value", True, entry=True)
        raise ConfigError(f"{key}: {'.'.join(here)} has no part {rest[0]!r}", param=key)
    raise _unknown(key)  # pragma: no cover - the loop always returns


# ---------------------------------------------------------------------- values


def parse_assignments(args: Iterable[str]) -> list[tuple[str, str]]:
    """``["rpm=100", "model_mapping.gpt-4=sim-large"]`` -> [(key, text), ...].

    Raises:
        ConfigError: an argument without ``=``.
    """
    out: list[tuple[str, str]] = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected KEY=VALUE, got {arg!r} (KEY= unsets a value)")
        out.append((key.strip(), value))
    return out


def parse_text(text: str, target: SettingKey) -> Any:
    """A value written as text, read for ``target``: JSON when it looks like JSON, a
    comma list for a list, ``a=b, c=d`` for a table of names; empty text unsets.

    Raises:
        ConfigError: text that looks like JSON but is not.
    """
    raw = text.strip()
    if not raw:
        return UNSET
    if target.shape == "str" and not raw.startswith('"'):
        return text
    if target.shape == "list" and not raw.startswith("["):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if target.shape == "strdict" and not raw.startswith("{"):
        try:
            return parse_model_map(raw, what="items look like ASKED=UPSTREAM")
        except BadRequest as exc:
            raise ConfigError(f"{target.named()}: {exc.message}", param=target.key) from None
    try:
        value = json.loads(raw)
    except ValueError:
        if raw[0] in '{["':
            raise ConfigError(
                f"{target.named()}: {raw[:40]!r} looks like JSON but is not valid JSON",
                param=target.key,
            ) from None
        return text
    return UNSET if value is None else value


def put_value(data: dict[str, Any], target: SettingKey, value: Any) -> None:
    """Write one value (or unset it) into the spec's data."""
    node = data
    for part in target.path[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            if value is UNSET:
                return  # nothing there to unset
            nxt = node[part] = {}
        node = nxt
    last = target.path[-1]
    if value is not UNSET:
        current = node.get(last)
        if target.merge and isinstance(value, dict) and isinstance(current, dict):
            value = {**current, **value}
        node[last] = value
    elif target.entry:
        node.pop(last, None)
    elif target.shape in ("dict", "strdict"):
        node[last] = {}
    elif target.shape == "list":
        node[last] = []
    elif target.nullable:
        node[last] = None
    else:
        raise ConfigError(f"{target.named()} cannot be unset; give it a value", param=target.key)


__all__ = [
    "ALIASES",
    "LOCKED",
    "UNSET",
    "SettingKey",
    "parse_assignments",
    "parse_text",
    "put_value",
    "resolve_key",
]
