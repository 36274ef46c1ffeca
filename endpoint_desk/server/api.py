"""The management API: ``/api/endpoints`` (the portfolio over HTTP).

Endpoints are addressed by the slug of their name (``DeepSeek Web Chat`` ->
``deepseek-web-chat``). Create accepts the body people already write::

    {"name": "DeepSeek Web Chat", "provider_type": "web_chat",
     "base_url": "https://chat.deepseek.com", "login_url": "https://chat.deepseek.com/login",
     "username": "me@example.com", "password": "...",
     "browser_config": {"headless": true, "anti_detection": true}}

``provider_type`` (``rest_api``, ``api_token`` or ``web_chat``) becomes the exact kind by
probing the URL when ``kind`` is not given. Passwords, user names, keys and credential
headers are stored as secrets at once; responses carry only their references.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import ValidationError

from endpoint_desk.core.errors import BadRequest, ConfigError, DeskError
from endpoint_desk.core.models import EndpointKind, EndpointSpec, Limits, slugify
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.position import EndpointView

T = TypeVar("T")

PROVIDER_TYPES = ("rest_api", "api_token", "web_chat")
SECRET_FIELDS = ("api_key", "username", "password")
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "proxy-authorization"}
)
_LIMIT_FIELDS = frozenset(Limits.model_fields)
_SPEC_FIELDS = frozenset(EndpointSpec.model_fields)
_CREATE_ONLY = frozenset({"provider_type", "selectors", "prove", "start", "api_key_env"})


class Unprocessable(BadRequest):
    """A body whose fields are missing or wrong (HTTP 422)."""

    http_status = 422


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, headers={"Content-Type": "application/json"}
    )


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def _validation_error(exc: ValidationError) -> Unprocessable:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ()))
    msg = first.get("msg", "invalid value")
    return Unprocessable(f"{loc}: {msg}" if loc else str(msg), param=loc or None)


class EndpointsAPI:
    """Handlers of ``/api/endpoints``.

    Args:
        desk: the open engine.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self._changes: set[asyncio.Task[Any]] = set()

    async def _complete(self, change: Coroutine[Any, Any, T]) -> T:
        """Run a change of the portfolio to its end even if the client goes away (a
        half-done create or update would leave secrets or state behind)."""
        task = asyncio.ensure_future(change)
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)
        return await asyncio.shield(task)

    # ---------------------------------------------------------------- read

    async def list_all(self, request: web.Request) -> web.Response:
        """``GET /api/endpoints``: every endpoint with state and metrics."""
        views = self.desk.endpoints()
        return _json(
            {
                "endpoints": [v.to_dict() for v in views],
                "totals": self.desk.totals.snapshot().to_dict(),
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        """``GET /api/endpoints/{name}``."""
        return _json(self.desk.endpoint(request.match_info["name"]).to_dict())

    # ---------------------------------------------------------------- create

    async def create(self, request: web.Request) -> web.Response:
        """``POST /api/endpoints``: configure, prove (unless ``"prove": false``), save,
        and switch ON (unless ``"start": false``)."""
        body = await _body(request)
        return await self._complete(self._create(body))

    async def _create(self, body: dict[str, Any]) -> web.Response:
        name = body.get("name")
        if not isinstance(name, str) or not slugify(name):
            raise Unprocessable("'name' is required: a name with a letter or a digit", param="name")
        slug = slugify(name)
        if slug in {v.name for v in self.desk.endpoints()}:
            from endpoint_desk.core.errors import Duplicate

            raise Duplicate(f"an endpoint named {slug!r} already exists")
        base_url = body.get("base_url") or body.get("url")
        if not isinstance(base_url, str) or not base_url.strip():
            raise Unprocessable("'base_url' is required", param="base_url")
        unknown = sorted(
            k
            for k in body
            if k not in _SPEC_FIELDS
            and k not in _CREATE_ONLY
            and k not in _LIMIT_FIELDS
            and k != "url"
        )
        if unknown:
            raise Unprocessable(f"unknown field(s): {', '.join(unknown)}", param=unknown[0])
        prove = _flag(body, "prove", True)
        start = _flag(body, "start", bool(body.get("enabled", True)))
        created_refs: list[str] = []
        try:
            fields = self._spec_fields(body, slug, created_refs)
            kind = await self._kind(body, base_url, fields)
            fields["kind"] = kind
            try:
                spec = EndpointSpec.model_validate(fields)
            except ValidationError as exc:
                raise _validation_error(exc) from None
            if kind == EndpointKind.WEB_CHAT and not _has_selectors(spec):
                spec = await self._discover_web_chat(spec)
            view = await self.desk.add(spec, prove=prove, start=start)
        except BaseException:
            for ref in created_refs:
                with contextlib.suppress(DeskError):
                    self.desk.secrets.delete(ref)
            raise
        return _json(view.to_dict(), status=201)

    def _spec_fields(
        self, body: dict[str, Any], slug: str, created_refs: list[str]
    ) -> dict[str, Any]:
        """EndpointSpec fields from a create body; secret values become references."""
        fields: dict[str, Any] = {
            k: v for k, v in body.items() if k in _SPEC_FIELDS and k not in ("kind",)
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
        for key in _LIMIT_FIELDS:
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
        self._secrets_into_refs(fields, slug, created_refs)
        return fields

    def _secrets_into_refs(
        self, fields: dict[str, Any], slug: str, created_refs: list[str]
    ) -> None:
        """Store secret values (``api_key``, ``username``, ``password``, credential
        headers) and keep only their references in ``fields``."""
        secrets = self.desk.secrets
        for field in SECRET_FIELDS:
            value = fields.get(field)
            if value is None or value == "":
                fields.pop(field, None)
                continue
            if not isinstance(value, str):
                raise Unprocessable(f"'{field}' must be a string", param=field)
            if secrets.is_ref(value):
                continue
            ref = self.desk.store_secret(slug, field, value)
            created_refs.append(ref)
            fields[field] = ref
        headers = fields.get("headers")
        if isinstance(headers, dict):
            safe: dict[str, Any] = {}
            for hname, hvalue in headers.items():
                if (
                    isinstance(hname, str)
                    and hname.lower() in _CREDENTIAL_HEADERS
                    and isinstance(hvalue, str)
                    and hvalue
                    and not secrets.is_ref(hvalue)
                ):
                    ref = self.desk.store_secret(slug, f"header.{slugify(hname)}", hvalue)
                    created_refs.append(ref)
                    safe[hname] = ref
                else:
                    safe[hname] = hvalue
            fields["headers"] = safe

    async def _kind(
        self, body: dict[str, Any], base_url: str, fields: dict[str, Any]
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
        key = self.desk.secrets.resolve(key_ref) if key_ref else None
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

    async def _discover_web_chat(self, spec: EndpointSpec) -> EndpointSpec:
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
            "store": self.desk.store,
            "browser_config": spec.browser_config,
            "username": spec.username,
            "password": spec.password,
            "resolve_secret": self.desk.secrets.resolve,
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

    # ---------------------------------------------------------------- change

    async def update(self, request: web.Request) -> web.Response:
        """``PATCH``/``PUT /api/endpoints/{name}``: change fields (validated)."""
        view = self.desk.endpoint(request.match_info["name"])
        body = await _body(request)
        return await self._complete(self._update(view, body))

    async def _update(self, view: EndpointView, body: dict[str, Any]) -> web.Response:
        if not body:
            raise Unprocessable("nothing to change: send the fields to change")
        unknown = sorted(k for k in body if k not in _SPEC_FIELDS and k not in _LIMIT_FIELDS)
        if unknown:
            raise Unprocessable(f"unknown field(s): {', '.join(unknown)}", param=unknown[0])
        changes = {k: v for k, v in body.items() if k in _SPEC_FIELDS}
        if "name" in changes and slugify(str(changes.pop("name"))) != view.name:
            raise Unprocessable(
                "an endpoint cannot be renamed; add a new one instead", param="name"
            )
        limits = view.spec.limits.model_dump()
        touched = False
        if isinstance(body.get("limits"), dict):
            limits.update(body["limits"])
            touched = True
        for key in _LIMIT_FIELDS:
            if key in body:
                limits[key] = body[key]
                touched = True
        if touched:
            changes["limits"] = limits
        if "selectors" in body:
            if not isinstance(body["selectors"], dict):
                raise Unprocessable("'selectors' must be an object", param="selectors")
            changes["options"] = {**view.spec.options, **body["selectors"]}
        # a replaced secret keeps its name ({endpoint}.{field}): nothing stale is left
        self._secrets_into_refs(changes, view.name, [])
        try:
            updated = await self.desk.update(view.name, **changes)
        except ConfigError as exc:
            raise Unprocessable(exc.message) from None
        return _json(updated.to_dict())

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /api/endpoints/{name}`` (its stored secrets go too)."""
        view = self.desk.endpoint(request.match_info["name"])
        await self._complete(self.desk.remove(view.name))
        return _json({"deleted": view.name})

    async def start(self, request: web.Request) -> web.Response:
        """``POST /api/endpoints/{name}/start``: switch ON."""
        view = await self._complete(self.desk.start(request.match_info["name"]))
        return _json(view.to_dict())

    async def stop(self, request: web.Request) -> web.Response:
        """``POST /api/endpoints/{name}/stop``: switch OFF."""
        view = await self._complete(self.desk.stop(request.match_info["name"]))
        return _json(view.to_dict())

    # ---------------------------------------------------------------- use

    async def test(self, request: web.Request) -> web.Response:
        """``POST /api/endpoints/{name}/test`` ``{"message", "model"}``: the
        standardized result."""
        view = self.desk.endpoint(request.match_info["name"])
        body = await _body(request)
        message = body.get("message", "Say hello.")
        if not isinstance(message, str) or not message.strip():
            raise Unprocessable("'message' must be a non-empty string", param="message")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise Unprocessable("'model' must be a string", param="model")
        result = await self.desk.test(view.name, message, model or None)
        return _json(result.to_dict())

    async def health(self, request: web.Request) -> web.Response:
        """``GET /api/endpoints/{name}/health[?deep=1]``: probe now. A failing probe is
        an answer (``ok: false`` with the error), not an HTTP error."""
        view = self.desk.endpoint(request.match_info["name"])
        deep = request.query.get("deep", "").lower() in ("1", "true", "yes")
        data: dict[str, Any] = {"name": view.name, "state": view.state.value, "deep": deep}
        try:
            probe = await self.desk.probe(view.name, deep=deep)
        except DeskError as exc:
            data.update(ok=False, error=exc.to_dict(), detail=exc.one_line())
        else:
            data.update(
                ok=probe.ok,
                latency_ms=round(probe.latency_ms, 2),
                models=probe.models,
                detail=probe.detail,
                error_kind=probe.error_kind,
            )
        return _json(data)


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise Unprocessable(f"'{key}' must be true or false", param=key)
    return value


def _has_selectors(spec: EndpointSpec) -> bool:
    """Whether a web chat spec names at least its input and its assistant messages."""
    return bool(spec.options.get("input")) and bool(spec.options.get("assistant"))


def add_api_routes(app: web.Application, desk: Desk) -> None:
    """Register the ``/api/endpoints`` routes on ``app``."""
    api = EndpointsAPI(desk)
    r = app.router
    r.add_get("/api/endpoints", api.list_all)
    r.add_get("/api/endpoints/", api.list_all)
    r.add_post("/api/endpoints", api.create)
    r.add_post("/api/endpoints/", api.create)
    r.add_get("/api/endpoints/{name}", api.get)
    r.add_patch("/api/endpoints/{name}", api.update)
    r.add_put("/api/endpoints/{name}", api.update)
    r.add_delete("/api/endpoints/{name}", api.delete)
    r.add_post("/api/endpoints/{name}/start", api.start)
    r.add_post("/api/endpoints/{name}/stop", api.stop)
    r.add_post("/api/endpoints/{name}/test", api.test)
    r.add_get("/api/endpoints/{name}/health", api.health)
