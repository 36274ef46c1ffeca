"""What a person asked to add (:class:`AddRequest`), and how it becomes a spec.

Every front end describes an add as an ``AddRequest``; the add flow
(``engine/onboard.py``) turns it into the spec's fields (:func:`spec_fields`), validates
them (:func:`validate_spec`), puts what web chat discovery found under what the person
gave (:func:`merge_discovered`) and renames a reviewed plan (:func:`renamed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.inputs import first_error
from endpoint_desk.core.models import EndpointKind, EndpointSpec, slugify
from endpoint_desk.engine.credentials import env_ref

__all__ = [
    "AddRequest",
    "has_selectors",
    "merge_discovered",
    "renamed",
    "spec_fields",
    "validate_spec",
]


@dataclass(slots=True)
class AddRequest:
    """What a person asked to add, from any front end.

    Attributes:
        url: an API base URL or a chat page (``http://`` is added when missing).
        name: the name (slugified); default: from the URL.
        kind: skip detection and take this kind.
        api_key, username, password: values (stored as secrets) or references.
        api_key_env: the environment variable holding the key (kept as ``env:NAME``).
        headers: extra headers; credential headers are stored as secrets.
        models, model_mapping, options, note, login_url: the spec's fields.
        fields: any other ``EndpointSpec`` field (limits, weight, browser_config...).
        evidence: what is known already (a scan's findings).
        expect: ``"api"``: a web page is an error; ``"web_chat"``: no API probing.
        auto_configure: let discovery configure a chat page without selectors.
        prove: prove it with a live call before saving.  start: switch it ON.
    """

    url: str
    name: str | None = None
    kind: EndpointKind | str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    username: str | None = None
    password: str | None = None
    login_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    model_mapping: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    expect: Literal["api", "web_chat"] | None = None
    auto_configure: bool = True
    prove: bool = True
    start: bool = True


def spec_fields(request: AddRequest, name: str) -> dict[str, Any]:
    """The spec's fields from a request, named ``name`` (secrets still as typed; the
    add flow stores them: ``engine/credentials.py``).

    Raises:
        BadRequest: both a key and its variable, or a variable that is no name.
    """
    data: dict[str, Any] = dict(request.fields)
    data["name"] = name
    given = (request.name or "").strip()
    if given and given != name:
        data.setdefault("display_name", given)
    typed: dict[str, Any] = {
        "api_key": request.api_key,
        "username": request.username,
        "password": request.password,
        "login_url": request.login_url,
        "headers": request.headers,
        "models": list(request.models),
        "model_mapping": request.model_mapping,
        "note": request.note,
    }
    data.update({k: v for k, v in typed.items() if v})
    if request.options:
        data["options"] = {**(data.get("options") or {}), **request.options}
    if request.api_key_env is not None:
        if data.get("api_key"):
            raise BadRequest(
                "give either an API key or the variable holding it, not both",
                param="api_key",
            )
        data["api_key"] = env_ref(request.api_key_env, param="api_key_env")
    return data


def has_selectors(options: dict[str, Any]) -> bool:
    """Whether web chat options name at least the input and the assistant messages
    (else discovery configures the page)."""
    return bool(options.get("input")) and bool(options.get("assistant"))


def validate_spec(data: dict[str, Any]) -> EndpointSpec:
    """The spec of ``data``; pydantic's first complaint as a ``BadRequest`` naming the
    field."""
    try:
        return EndpointSpec.model_validate(data)
    except ValidationError as exc:
        loc, msg = first_error(exc)
        text = f"{loc}: {msg}" if loc else msg
        raise BadRequest(f"invalid endpoint: {text}", param=loc or None) from None


def merge_discovered(given: EndpointSpec, found: EndpointSpec) -> EndpointSpec:
    """Discovery's spec with what the person gave explicitly on top, except the
    selectors discovery verified (and the page URL it settled on)."""
    update = {k: getattr(given, k) for k in given.model_fields_set}
    for key in ("kind", "name", "base_url"):
        update.pop(key, None)
    update["options"] = {**given.options, **found.options}
    return found.model_copy(update=update)


def renamed(spec: EndpointSpec, name: str) -> EndpointSpec:
    """``spec`` under another name (a reviewer renamed it before saving)."""
    slug = slugify(name)
    if not slug:
        raise BadRequest("the name must contain a letter or a digit", param="name")
    data = spec.model_dump(exclude_unset=True)
    data["name"] = slug
    if data.get("display_name") == spec.name:
        data.pop("display_name")
    return validate_spec(data)
