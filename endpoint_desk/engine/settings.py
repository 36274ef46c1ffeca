"""Changing an endpoint's settings: the one place ``desk set``, ``PATCH
/api/endpoints/NAME`` and the TUI's settings form go through.

A change is a list of ``key = value`` pairs. Keys are the spec's own field names,
dotted for nested ones (``limits.timeout_seconds``, ``prices.input_per_mtok``,
``browser_config.headless``) and for entries of its tables (``model_mapping.gpt-4``,
``options.reply_timeout``, ``headers.X-Title``), or a short alias (:data:`ALIASES`:
``timeout``, ``rpm``, ``concurrency``...); a limit's own name works too
(``timeout_seconds``). Values come as text (the CLI, the TUI: :func:`parse_text` reads
JSON when the text looks like JSON, a comma list for a list, ``a=b, c=d`` for a table
of names) or as JSON values (the API). An empty text (or JSON ``null``) unsets an
optional value, removes a table entry, or empties a list or table.

All pairs are applied together or not at all: every key is checked, the new spec is
validated (and, when adapter settings changed, the adapter is built from it), and only
then are secret values stored (as references, like ``desk add`` does) and the spec
saved. A bad key or value raises ``ConfigError`` with one line naming it. The keys
and the reading of values live in ``engine/setting_keys.py``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from endpoint_desk.adapters.base import create_adapter
from endpoint_desk.core.errors import BadRequest, ConfigError, DeskError
from endpoint_desk.core.models import EndpointSpec, slugify
from endpoint_desk.engine.credentials import SECRET_FIELDS, StoredSecrets
from endpoint_desk.engine.portfolio import Portfolio
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.engine.setting_keys import (
    UNSET,
    SettingKey,
    parse_text,
    put_value,
    resolve_key,
)
from endpoint_desk.engine.spec_view import (
    differences,
    flatten,
    mask_url,
    masked_spec,
)
from endpoint_desk.store.secrets import SecretStore

_ADAPTER_FIELDS = frozenset({"kind", "base_url", "options", "headers", "browser_config"})
"""Top-level fields whose change is checked by building the adapter."""


@dataclass(frozen=True, slots=True)
class Configured:
    """What a change did.

    Attributes:
        view: the endpoint as it is now.
        changes: (key, old value, new value) of every setting that changed, secrets
            masked (a stored secret shows its reference).
    """

    view: EndpointView
    changes: list[tuple[str, str, str]]


def _validation_error(exc: ValidationError, targets: list[SettingKey]) -> ConfigError:
    """One line naming the key the user wrote and what is wrong with its value."""
    first = exc.errors()[0]
    loc = tuple(str(p) for p in first.get("loc", ()))
    msg = _plain_message(first)
    target = _target_at(loc, targets)
    where = target.named() if target is not None else ".".join(loc) or "settings"
    secret = any(part in SECRET_FIELDS or part == "headers" for part in loc)
    got = first.get("input")
    if isinstance(got, str):
        got = mask_url(got)  # a password in a URL (a proxy's) is never echoed
    shown = "" if secret or isinstance(got, dict | list) else f", got {got!r}"
    if shown and repr(got) in msg:
        shown = ""
    return ConfigError(f"bad value for {where}: {msg}{shown}", param=target.key if target else None)


_MESSAGES = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be a table (a JSON object)",
    "model_type": "must be a table (a JSON object)",
    "list_type": "must be a list",
}


def _plain_message(error: Any) -> str:
    """Pydantic's message for one error, in the words of a settings line."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    for name, words in (("ge", "at least"), ("gt", "more than"), ("le", "at most")):
        if name in ctx and kind.startswith(("greater", "less")):
            return f"must be {words} {ctx[name]}"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return msg.replace("Input should be", "must be")


# ---------------------------------------------------------------------- plan


def plan_settings(
    spec: EndpointSpec, changes: Iterable[tuple[str, Any]], *, text: bool
) -> tuple[EndpointSpec, set[str]]:
    """The spec with ``changes`` applied and validated, and the top-level fields they
    touch; nothing is stored. With ``text``, string values are read by
    :func:`parse_text`; else values are JSON (``None`` unsets).

    Raises:
        ConfigError: one line naming the bad key or value.
    """
    data = spec.model_dump()
    targets: list[SettingKey] = []
    for key, value in changes:
        if key == "name":  # the API's bodies carry it; renaming is not a setting
            if slugify(str(value)) != spec.name:
                raise ConfigError(
                    "an endpoint cannot be renamed; add a new one instead", param="name"
                )
            continue
        target = resolve_key(key)
        if text and isinstance(value, str):
            value = parse_text(value, target)
        elif value is None:
            value = UNSET
        put_value(data, target, value)
        targets.append(target)
    try:
        new = EndpointSpec.model_validate(data)
        bad = _non_finite(new.model_dump())
        if bad is not None:
            at = _target_at(bad, targets)
            where = at.named() if at else ".".join(bad)
            raise ConfigError(
                f"bad value for {where}: must be a finite number", param=at.key if at else None
            )
        # the spec must read back as it is stored (JSON)
        EndpointSpec.model_validate_json(new.model_dump_json())
    except ValidationError as exc:
        raise _validation_error(exc, targets) from None
    touched = {t.path[0] for t in targets}
    return new, touched


def _non_finite(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """The path of the first infinite or NaN number in ``value``, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        found = _non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


def _target_at(loc: tuple[str, ...], targets: list[SettingKey]) -> SettingKey | None:
    """The (last) target a validation error's location falls in."""
    return next(
        (t for t in reversed(targets) if loc[: len(t.path)] == t.path or t.path[: len(loc)] == loc),
        None,
    )


def check_adapter(spec: EndpointSpec) -> None:
    """Build the endpoint's adapter from ``spec`` (no I/O): its own settings
    (a template, web chat selectors) are checked the way opening it would.

    Raises:
        ConfigError: the adapter refuses its settings.
    """

    def no_secrets(ref: str) -> str:
        raise ConfigError("secrets are not resolved while checking settings")

    try:
        create_adapter(spec, no_secrets)
    except DeskError as exc:
        raise ConfigError(f"bad adapter settings: {exc.message}", param="options") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad adapter settings: {exc}", param="options") from None


def secret_values_into_refs(
    secrets: SecretStore, fields: dict[str, Any], slug: str, created_refs: list[str]
) -> None:
    """Store secret values (``api_key``, ``username``, ``password``, credential
    headers, a browser proxy's password) and keep only their references in
    ``fields`` (a spec's data); an empty value means none. The references made are
    appended to ``created_refs`` (the add flow's :class:`StoredSecrets` does the work).

    Raises:
        ConfigError: a secret field that is not a string, an unset ``env:`` variable,
            or a store that fails.
    """
    stored = StoredSecrets(secrets, slug)
    try:
        stored.into_refs(fields)
    except BadRequest as exc:
        raise ConfigError(exc.message, param=exc.param) from None
    finally:
        created_refs.extend(stored.refs)


# ---------------------------------------------------------------------- apply


async def configure(
    portfolio: Portfolio,
    name: str,
    changes: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    text: bool,
) -> Configured:
    """Apply ``changes`` to the endpoint ``name``, all or nothing (see the module's
    docstring): validate, store secret values as references, save, restart its
    adapter when it runs.

    Raises:
        NotFound: no such endpoint.
        ConfigError: a bad key or value (nothing is changed).
    """
    pos = portfolio.position(name)
    pairs = list(changes.items()) if isinstance(changes, Mapping) else list(changes)
    if not pairs:
        raise ConfigError("nothing to change: give KEY=VALUE pairs")
    old = pos.spec
    new, touched = plan_settings(old, pairs, text=text)
    if touched & _ADAPTER_FIELDS:
        check_adapter(new)
    data = new.model_dump()
    created: list[str] = []
    secrets = portfolio.secrets
    try:
        secret_values_into_refs(secrets, data, pos.name, created)
        stored = EndpointSpec.model_validate(data)
        shown = differences(old, stored)
        if stored == old and not created:
            return Configured(pos.view(), [])
        view = await portfolio.update(pos.name, **{k: data[k] for k in touched})
    except BaseException:
        for ref in created:
            if ref not in _refs(old):
                with contextlib.suppress(DeskError):
                    secrets.delete(ref)
        raise
    changed_keys = {key for key, _, _ in shown}
    for ref in created:  # a secret replaced under the same reference still changed
        key = next((k for k, v in flatten(masked_spec(stored)).items() if v == ref), ref)
        if key not in changed_keys:
            shown.append((key, ref, f"{ref} (new value stored)"))
    return Configured(view, shown)


def _refs(spec: EndpointSpec) -> set[str]:
    return {str(v) for v in flatten(spec.model_dump(mode="json")).values() if isinstance(v, str)}


__all__ = [
    "Configured",
    "check_adapter",
    "configure",
    "plan_settings",
    "secret_values_into_refs",
]
