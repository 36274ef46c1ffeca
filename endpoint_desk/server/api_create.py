"""``POST /api/endpoints``: from the body people write to a proven, saved endpoint.

The body's fields become ``EndpointSpec`` fields (limits at the top level or under
``limits``, ``selectors`` into the options); ``provider_type`` (``rest_api``,
``api_token`` or ``web_chat``) becomes the exact kind by probing the URL when ``kind`` is
not given; a web chat without selectors is configured by discovery. Passwords, user
names, keys and credential headers are stored as secrets at once (also on ``PATCH``:
:func:`secrets_into_refs`); the spec keeps only their references.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from typing import Any

from pydantic import ValidationError

from endpoint_desk.core.errors import BadRequest, ConfigError, DeskError, Duplicate
from endpoint_desk.core.models import EndpointKind, EndpointSpec, Limits, slugify
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.engine.settings import secret_values_into_refs

PROVIDER_TYPES = ("rest_api", "api_token", "web_chat")
LIMIT_FIELDS = frozenset(Limits.model_fields)
SPEC_FIELDS = frozenset(EndpointSpec.model_fields)
_CREATE_ONLY = frozenset({"provider_type", "selectors", "prove", "start", "api_key_env"})


class Unprocessable(BadRequest):
    """A body whose fields are missing or wrong (HTTP 422)."""

    http_status = 422


def _validation_error(exc: ValidationError) -> Unprocessable:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ()))
    msg = first.get("msg", "invalid value")
    return Unprocessable(f"{loc}: {msg}" if loc else str(msg), param=loc or None)


async def create_endpoint(desk: Desk, body: dict[str, Any]) -> EndpointView:
    """Configure an endpoint from a create body, prove it (unless ``"prove": false``),
    save it and switch it ON (unless ``"start": false``). Secret values stored on the
    way are deleted again when anything fails."""
    name = body.get("name")
    if not isinstance(name, str) or not slugify(name):
        raise Unprocessable("'name' is required: a name with a letter or a digit", param="name")
    slug = slugify(name)
    if slug in {v.name for v in desk.endpoints()}:
        raise Duplicate(f"an endpoint named {slug!r} already exists")
    base_url = body.get("base_url") or body.get("url")
    if not isinstance(base_url, str) or not base_url.strip():
        raise Unprocessable("'base_url' is required", param="base_url")
    unknown = sorted(
        k
        for k in body
        if k not in SPEC_FIELDS and k not in _CREATE_ONLY and k not in LIMIT_FIELDS and k != "url"
    )
    if unknown:
        raise Unprocessable(f"unknown field(s): {', '.join(unknown)}", param=unknown[0])
    prove = _flag(body, "prove", True)
    start = _flag(body, "start", bool(body.get("enabled", True)))
    created_refs: list[str] = []
    try:
        fields = _spec_fields(desk, body, slug, created_refs)
        kind = await _kind(desk, body, base_url, fields)
        fields["kind"] = kind
        try:
            spec = EndpointSpec.model_validate(fields)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        if kind == EndpointKind.WEB_CHAT and not _has_selectors(spec):
            spec = await _discover_web_chat(desk, spec)
        return await desk.add(spec, prove=prove, start=start)
    except BaseException:
        for ref in created_refs:
            with contextlib.suppress(DeskError):
                desk.secrets.delete(ref)
        raise


def _spec_fields(
    desk: Desk, body: dict[str, Any], slug: str, created_refs: list[str]
) -> dict[str, Any]:
    """EndpointSpec fields from a create body; secret values become references."""
    fields: dict[str, Any] = {
        k: v for k, v in body.items() if k in SPEC_FIELDS and k not in ("kind",)
    }
    fields["name"] = slug
    if isinstance(body.get("name"), str) and body["name"].strip() != slug:
        fields.setdefault("display_name", body["name"].strip())
    fields["base_url"] = str(body.get("base_url") or body.get("url")).strip()
    env_name = body.get("api_key_env")
    if env_name is not None:
        if not isinstance(env_name, str) or not env_name:
            raise Unprocessable("'api_key_env' must be a variable name", param="api_key_env")
        if body.get("api_key"):
            raise Unprocessable("give either 'api_key' or 'api_key_env'", param="api_key")
        fields["api_key"] = f"env:{env_name}"
    limits = dict(body.get("limits") or {})
    for key in LIMIT_FIELDS:
        if key in body:
            limits[key] = body[key]
    if limits:
        fields["limits"] = limits
    selectors = body.get("selectors")
    if selectors is not None:
        if not isinstance(selectors, dict):
            raise Unprocessable("'selectors' must be an object", param="selectors")
        # the web chat adapter reads its selectors as top-level option keys
        fields["options"] = {**(fields.get("options") or {}), **selectors}
    secrets_into_refs(desk, fields, slug, created_refs)
    return fields


def secrets_into_refs(
    desk: Desk, fields: dict[str, Any], slug: str, created_refs: list[str]
) -> None:
    """Store secret values (``api_key``, ``username``, ``password``, credential
    headers) and keep only their references in ``fields`` (the engine's
    ``secret_values_into_refs``, which ``desk set`` and ``PATCH`` use too)."""
    try:
        secret_values_into_refs(desk.secrets, fields, slug, created_refs)
    except ConfigError as exc:
        raise Unprocessable(exc.message, param=exc.param) from None


async def _kind(
    desk: Desk, body: dict[str, Any], base_url: str, fields: dict[str, Any]
) -> EndpointKind:
    """The exact kind: given, implied by ``provider_type: web_chat``, or detected."""
    kind = body.get("kind")
    if kind is not None:
        try:
            return EndpointKind(kind)
        except ValueError:
            raise Unprocessable(
                f"unknown kind {kind!r}; one of: {', '.join(k.value for k in EndpointKind)}",
                param="kind",
            ) from None
    provider = body.get("provider_type")
    if provider is not None and provider not in PROVIDER_TYPES:
        raise Unprocessable(
            f"unknown provider_type {provider!r}; one of: {', '.join(PROVIDER_TYPES)}",
            param="provider_type",
        )
    if provider == "web_chat":
        return EndpointKind.WEB_CHAT
    from endpoint_desk.discovery.probe import detect

    key_ref = fields.get("api_key")
    key = desk.secrets.resolve(key_ref) if key_ref else None
    detection = await detect(base_url, api_key=key)
    if detection.kind == EndpointKind.WEB_CHAT and provider in ("rest_api", "api_token"):
        raise Unprocessable(
            f"{base_url} answers with a web page, not an API the desk knows; "
            "use provider_type 'web_chat' or give 'kind'",
            param="provider_type",
        )
    fields["base_url"] = detection.base_url
    if detection.models and not fields.get("models"):
        fields["models"] = detection.models[:200]
    return detection.kind


async def _discover_web_chat(desk: Desk, spec: EndpointSpec) -> EndpointSpec:
    """Let discovery find a web chat's selectors, once that module exists."""
    try:
        module = importlib.import_module("endpoint_desk.discovery.webchat")
    except ImportError:
        module = None
    configure = getattr(module, "configure_web_chat", None) if module else None
    if configure is None:
        raise Unprocessable(
            "web chat discovery not available yet: give 'selectors' "
            '({"input": ..., "send": ..., "assistant": ...}) for a web_chat endpoint',
            param="selectors",
        )
    offered: dict[str, Any] = {
        "name": spec.name,
        "description": spec.note or None,
        "store": desk.store,
        "browser_config": spec.browser_config,
        "username": spec.username,
        "password": spec.password,
        "resolve_secret": desk.secrets.resolve,
        "login_url": spec.login_url,
    }
    params = inspect.signature(configure).parameters
    kwargs = {k: v for k, v in offered.items() if k in params and v is not None}
    outcome = configure(spec.base_url, **kwargs)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    found = getattr(outcome, "spec", outcome)
    if not isinstance(found, EndpointSpec):
        raise ConfigError("web chat discovery returned no configuration")
    # what the user gave explicitly wins, except the selectors discovery verified
    given = {k: getattr(spec, k) for k in spec.model_fields_set if k not in ("kind", "name")}
    given["options"] = {**spec.options, **found.options}
    given.pop("base_url", None)
    return found.model_copy(update=given)


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise Unprocessable(f"'{key}' must be true or false", param=key)
    return value


def _has_selectors(spec: EndpointSpec) -> bool:
    """Whether a web chat spec names at least its input and its assistant messages."""
    return bool(spec.options.get("input")) and bool(spec.options.get("assistant"))
