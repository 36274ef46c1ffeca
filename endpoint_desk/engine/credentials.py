"""An endpoint's credentials as secrets: stored when it is added or changed, rolled back
when that fails, and every one of them found again when it is removed.

A spec keeps only references (``env:NAME``, ``keyring:NAME``, ``file:NAME``). Values a
person typed (a key, a login, a password, a credential header such as
``Authorization``) are stored under ``{endpoint}.{field}`` (``{endpoint}.header.{name}``
for a header) by :class:`StoredSecrets`, which remembers what it stored so a failed
add deletes it again. :func:`stored_refs` finds every stored reference anywhere in a
spec (whatever field holds it, also the password of a proxy URL), so removing an
endpoint leaves none of its secrets behind.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from endpoint_desk.core.errors import AuthFailed, BadRequest, ConfigError, DeskError
from endpoint_desk.core.models import slugify
from endpoint_desk.store.secrets import SecretStore

__all__ = ["CREDENTIAL_HEADERS", "SECRET_FIELDS", "StoredSecrets", "env_ref", "stored_refs"]

SECRET_FIELDS = ("api_key", "username", "password")
"""Spec fields that hold a secret reference."""

CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "proxy-authorization"}
)
"""Headers whose values are credentials (stored as ``header.*`` secrets)."""

_STORED_SCHEMES = ("file:", "keyring:")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_ref(variable: str, *, param: str) -> str:
    """``env:NAME`` for the environment variable a person named.

    Raises:
        BadRequest: not a variable name (``param`` names the field).
    """
    if not isinstance(variable, str) or not _ENV_NAME.match(variable):
        raise BadRequest(f"{variable!r} is not an environment variable name", param=param)
    return f"env:{variable}"


class StoredSecrets:
    """The secrets one change of an endpoint stores, so the change can be rolled back.

    Args:
        secrets: the desk's secret store.
        endpoint: the endpoint's name (secrets are stored as ``{endpoint}.{field}``).
    """

    def __init__(self, secrets: SecretStore, endpoint: str) -> None:
        self.secrets = secrets
        self.endpoint = endpoint
        self.refs: list[str] = []
        """References stored by this change (deleted by :meth:`rollback`)."""

    def ref_for(self, field: str, value: str | None) -> str | None:
        """A reference for ``value``: kept when it already is one (an ``env:``
        reference must resolve), else the value is stored as a secret.

        Raises:
            BadRequest: not a string.  ConfigError: an ``env:`` variable that is unset.
        """
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise BadRequest(f"'{field}' must be a string", param=field)
        if self.secrets.is_ref(value):
            if value.startswith("env:"):
                self._check_env(field, value)
            return value
        ref = self.secrets.put(f"{self.endpoint}.{field}", value)
        self.refs.append(ref)
        return ref

    def _check_env(self, field: str, ref: str) -> None:
        try:
            self.secrets.resolve(ref)
        except AuthFailed:
            raise ConfigError(
                f"environment variable {ref.removeprefix('env:')} is not set", param=field
            ) from None

    def into_refs(self, fields: dict[str, Any]) -> None:
        """Replace secret values in spec ``fields`` (``api_key``, ``username``,
        ``password``, credential headers, a browser proxy's password) by references,
        in place."""
        for field in SECRET_FIELDS:
            if field not in fields:
                continue
            ref = self.ref_for(field, fields[field])
            if ref is None:
                fields.pop(field)
            else:
                fields[field] = ref
        headers = fields.get("headers")
        if isinstance(headers, dict):
            fields["headers"] = {name: self._header(name, value) for name, value in headers.items()}
        proxy = (fields.get("browser_config") or {}).get("proxy")
        if isinstance(proxy, dict) and proxy.get("password"):
            proxy["password"] = self.ref_for("proxy.password", proxy["password"])

    def _header(self, name: Any, value: Any) -> Any:
        if (
            isinstance(name, str)
            and name.lower() in CREDENTIAL_HEADERS
            and isinstance(value, str)
            and value
        ):
            return self.ref_for(f"header.{slugify(name)}", value)
        return value

    def rollback(self) -> None:
        """Delete every secret this change stored (a failed add or update)."""
        refs, self.refs = self.refs, []
        for ref in refs:
            with contextlib.suppress(DeskError):
                self.secrets.delete(ref)


def stored_refs(spec: BaseModel | Any) -> set[str]:
    """Every reference to a stored secret (``file:`` or ``keyring:``) anywhere in a
    spec: in any field, nested object or list, and the password of a URL such as a
    proxy's (``http://user:file:NAME@host:port``). ``env:`` references are the
    environment's, not the desk's, and are not returned."""
    data = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else spec
    return {ref for ref in _refs(data) if ref.startswith(_STORED_SCHEMES)}


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _refs(item)
    elif isinstance(value, str):
        if SecretStore.is_ref(value):
            yield value
        elif "@" in value and "://" in value:
            with contextlib.suppress(ValueError):
                password = urlsplit(value).password
                if password and SecretStore.is_ref(unquote(password)):
                    yield unquote(password)
