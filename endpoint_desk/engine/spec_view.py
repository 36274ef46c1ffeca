"""An endpoint's configuration as people may see it: secrets masked, flattened to the
keys ``desk set`` takes.

Secret fields (``api_key``, ``username``, ``password``, a proxy's password) hold
references (``env:NAME``, ``keyring:NAME``, ``file:NAME``); a reference is shown as it
is, anything else is masked. Header values that look like credentials are masked unless
they are references, and a password inside a URL (``https://user:pass@host``) is masked
wherever a URL appears. ``desk show``, the settings changes ``desk set`` reports and
the management API's ``PATCH`` answer all read their values from here.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from endpoint_desk.core.models import EndpointSpec
from endpoint_desk.engine.credentials import CREDENTIAL_HEADERS, SECRET_FIELDS
from endpoint_desk.store.secrets import SecretStore, mask

_SECRETISH = re.compile(r"auth|key|token|secret|cookie|session|passw", re.IGNORECASE)

NOT_SET: dict[str, str] = {
    "limits.max_requests_per_minute": "no limit",
    "limits.max_concurrent_requests": "no limit",
    "limits.queue_seconds": "the desk's [routing] queue_seconds",
    "limits.daily_budget": "no cap",
    "prices": "the price table",
    "default_model": "the first model",
    "api_key": "none",
    "browser_config": "the defaults",
}
"""What an unset optional setting means, for ``desk show``."""


def shown_secret(value: object) -> object:
    """A secret field's value for display: a reference as it is, a value masked."""
    if value is None or SecretStore.is_ref(value):
        return value
    return mask(str(value))


def secret_header(name: str) -> bool:
    """Whether a header's value is a credential (masked unless a reference)."""
    return name.lower() in CREDENTIAL_HEADERS or _SECRETISH.search(name) is not None


def mask_url(value: str) -> str:
    """``https://user:pass@host/x`` -> ``https://user:••••••••@host/x``."""
    if "@" not in value or "://" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if parts.password is None:
        return value
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:{'•' * 8}@{host}{port}"))


def _mask_urls(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, dict):
        return {k: _mask_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_urls(v) for v in value]
    return value


def masked_spec(spec: EndpointSpec) -> dict[str, Any]:
    """The whole configuration as JSON-ready data, every secret masked."""
    data: dict[str, Any] = _mask_urls(spec.model_dump(mode="json"))
    for field in SECRET_FIELDS:
        data[field] = shown_secret(data.get(field))
    data["headers"] = {
        k: (shown_secret(v) if secret_header(k) else v) for k, v in data["headers"].items()
    }
    proxy = (data.get("browser_config") or {}).get("proxy")
    if isinstance(proxy, dict) and proxy.get("password") is not None:
        proxy["password"] = shown_secret(proxy["password"])
    return data


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"limits.timeout_seconds": 30.0, ...}`` (the keys ``desk
    set`` takes); empty tables stay whole (``{}``), lists are leaves."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def show_value(key: str, value: Any) -> str:
    """One flattened setting as text: JSON for lists and tables, the meaning of an
    unset optional value."""
    if value is None:
        meaning = NOT_SET.get(key)
        return f"(not set: {meaning})" if meaning else "(not set)"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, ensure_ascii=False)


def setting_lines(spec: EndpointSpec) -> list[tuple[str, str]]:
    """(key, value) of every setting, secrets masked, in the spec's field order."""
    return [(k, show_value(k, v)) for k, v in flatten(masked_spec(spec)).items()]


def differences(old: EndpointSpec, new: EndpointSpec) -> list[tuple[str, str, str]]:
    """(key, old value, new value) of every setting that differs, secrets masked."""
    before = flatten(masked_spec(old))
    after = flatten(masked_spec(new))
    out: list[tuple[str, str, str]] = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if old == new or _opened(key, old, after) or _opened(key, new, before):
            continue
        out.append((key, _shown(key, before), _shown(key, after)))
    return out


_ABSENT = object()


def _opened(key: str, value: object, other: dict[str, Any]) -> bool:
    """Whether an empty (or unset) table on one side is only the parent of entries the
    other side has (``model_mapping = {}`` -> ``model_mapping.gpt-4 = x``): no line."""
    return value in ({}, None) and any(k.startswith(key + ".") for k in other)


def _shown(key: str, values: dict[str, Any]) -> str:
    return show_value(key, values[key]) if key in values else "(not set)"
