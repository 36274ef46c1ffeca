"""``POST /api/endpoints``: from the body people write to a proven, saved endpoint.

The body's fields become ``EndpointSpec`` fields (limits at the top level or under
``limits``, ``selectors`` into the options); ``provider_type`` (``rest_api``,
``api_token`` or ``web_chat``) says what to expect when ``kind`` is not given (the
exact kind is found by probing the URL). The engine's one add flow
(``engine/onboard.py``) does the rest: passwords, user names, keys and credential
headers are stored as secrets (the spec keeps only their references; also on
``PATCH``: :func:`secrets_into_refs`), a web chat without selectors is configured by
discovery, and a failed create leaves no secret behind.
"""

from __future__ import annotations

from typing import Any, Literal

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import EndpointSpec, Limits, slugify
from endpoint_desk.engine.credentials import StoredSecrets
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.onboard import AddRequest, onboard
from endpoint_desk.engine.position import EndpointView

PROVIDER_TYPES = ("rest_api", "api_token", "web_chat")
LIMIT_FIELDS = frozenset(Limits.model_fields)
SPEC_FIELDS = frozenset(EndpointSpec.model_fields)
_CREATE_ONLY = frozenset({"provider_type", "selectors", "prove", "start", "api_key_env"})
_GIVEN_APART = frozenset({"name", "kind", "base_url"})


class Unprocessable(BadRequest):
    """A body whose fields are missing or wrong (HTTP 422)."""

    http_status = 422


async def create_endpoint(desk: Desk, body: dict[str, Any]) -> EndpointView:
    """Configure an endpoint from a create body, prove it (unless ``"prove": false``),
    save it and switch it ON (unless ``"start": false``). Secret values stored on the
    way are deleted again when anything fails."""
    try:
        added = await onboard(desk, _request(body))
    except BadRequest as exc:
        if exc.param and not isinstance(exc, Unprocessable):
            raise Unprocessable(exc.message, param=exc.param) from None
        raise
    return added.view


def _request(body: dict[str, Any]) -> AddRequest:
    """The add request of a create body (its fields checked)."""
    name = body.get("name")
    if not isinstance(name, str) or not slugify(name):
        raise Unprocessable("'name' is required: a name with a letter or a digit", param="name")
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
    return AddRequest(
        url=base_url,
        name=name,
        kind=body.get("kind"),
        api_key_env=body.get("api_key_env"),
        fields=_spec_fields(body),
        expect=_expect(body.get("provider_type")),
        prove=_flag(body, "prove", True),
        start=_flag(body, "start", bool(body.get("enabled", True))),
    )


def _spec_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The body's ``EndpointSpec`` fields (limits gathered, selectors into options)."""
    fields: dict[str, Any] = {
        k: v for k, v in body.items() if k in SPEC_FIELDS and k not in _GIVEN_APART
    }
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
    return fields


def _expect(provider: Any) -> Literal["api", "web_chat"] | None:
    if provider is None:
        return None
    if provider not in PROVIDER_TYPES:
        raise Unprocessable(
            f"unknown provider_type {provider!r}; one of: {', '.join(PROVIDER_TYPES)}",
            param="provider_type",
        )
    return "web_chat" if provider == "web_chat" else "api"


def secrets_into_refs(
    desk: Desk, fields: dict[str, Any], slug: str, created_refs: list[str]
) -> None:
    """Store secret values (``api_key``, ``username``, ``password``, credential
    headers) and keep only their references in ``fields`` (``PATCH``)."""
    stored = StoredSecrets(desk.secrets, slug)
    try:
        stored.into_refs(fields)
    except BaseException as exc:
        stored.rollback()
        if isinstance(exc, BadRequest) and not isinstance(exc, Unprocessable):
            raise Unprocessable(exc.message, param=exc.param) from None
        raise
    created_refs.extend(stored.refs)


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise Unprocessable(f"'{key}' must be true or false", param=key)
    return value
