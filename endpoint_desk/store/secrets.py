"""Secrets live outside the database; specs and settings hold only references.

References:

- ``env:NAME``: the environment variable ``NAME`` at resolve time, or ``NAME`` in a
  ``.env`` file in the working folder.
- ``keyring:NAME``: the OS keyring, service ``endpoint-desk``; used only when the
  ``keyring`` package imports and a real backend passes a set/get round trip (the
  fail, null and chainer backends do not count).
- ``file:NAME``: a JSON file (``paths.secrets_file``) only its owner may read (0600,
  folder 0700), written atomically.

Values are never logged: every value the ``SecretStore`` resolves or stores is
registered with a ``SecretRedactor`` (a ``logging.Filter`` the engine installs on its
log handlers), which replaces it with ``mask(value)`` in any record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets as _random
import tempfile
import threading
from pathlib import Path
from typing import Any

from endpoint_desk.core.errors import AuthFailed, ConfigError
from endpoint_desk.core.paths import Paths

log = logging.getLogger(__name__)

KEYRING_SERVICE = "endpoint-desk"
SCHEMES = ("env", "keyring", "file")

_REF_RE = re.compile(r"^(env|keyring|file):([A-Za-z0-9_.\-]+)$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIN_REDACT = 4  # shorter values would blank out ordinary words in logs


def mask(value: str) -> str:
    """A value safe to show: ``sk-...a1b2`` for long values, stars for short ones.

    At most a 3-character prefix and the last 4 characters are kept, and only when
    the value is long enough that most of it stays hidden.
    """
    n = len(value)
    if n == 0:
        return ""
    if n < 12:
        return "*" * 8
    if n < 20:
        return f"***...{value[-4:]}"
    return f"{value[:3]}...{value[-4:]}"


class SecretRedactor(logging.Filter):
    """A logging filter that replaces every known secret value with its mask.

    Install it on log handlers (``handler.addFilter(redactor)``); ``SecretStore``
    registers each value it resolves or stores. It never drops a record.
    """

    def __init__(self) -> None:
        super().__init__()
        self._values: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        """Remember ``value`` as a secret (values under 4 characters are ignored)."""
        if len(value) < _MIN_REDACT or value in self._values:
            return
        with self._lock:
            self._values = self._values | {value}

    def forget(self, value: str) -> None:
        """Stop redacting ``value``."""
        with self._lock:
            self._values = self._values - {value}

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by its mask (longest first)."""
        values = self._values
        if not values:
            return text
        for v in sorted(values, key=len, reverse=True):
            if v in text:
                text = text.replace(v, mask(v))
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._values:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg = clean
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


default_redactor = SecretRedactor()
"""The process-wide redactor every ``SecretStore`` registers with by default."""


def _keyring_backend_works() -> bool:
    """Whether the ``keyring`` package imports and its backend really stores secrets."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except Exception:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:
        return False
    module = type(backend).__module__
    if isinstance(backend, fail.Keyring | chainer.ChainerBackend) or module.startswith(
        ("keyring.backends.null", "keyring.backends.fail", "keyring.backends.chainer")
    ):
        return False
    probe_name = f"__desk_probe_{_random.token_hex(4)}"
    probe_value = _random.token_hex(16)
    try:
        keyring.set_password(KEYRING_SERVICE, probe_name, probe_value)
        ok = keyring.get_password(KEYRING_SERVICE, probe_name) == probe_value
        with contextlib.suppress(Exception):
            keyring.delete_password(KEYRING_SERVICE, probe_name)
        return ok
    except Exception:
        return False


class SecretStore:
    """Stores and resolves secret references.

    Args:
        paths: where the fallback secrets file lives (``paths.secrets_file``).
        use_keyring: None: use the OS keyring when a real backend works; False:
            never; True: require it (``ConfigError`` when none works).
        redactor: the log filter to register values with (the process-wide one by
            default).
    """

    def __init__(
        self,
        paths: Paths,
        use_keyring: bool | None = None,
        redactor: SecretRedactor | None = None,
    ) -> None:
        self.paths = paths
        self._use_keyring = use_keyring
        self._keyring_ok: bool | None = None
        self.redactor = redactor if redactor is not None else default_redactor
        self._file_cache: tuple[tuple[object, ...], dict[str, str]] | None = None
        self._lock = threading.Lock()

    # ---- references --------------------------------------------------------------

    @staticmethod
    def is_ref(s: object) -> bool:
        """Whether ``s`` is a secret reference (``env:``, ``keyring:`` or ``file:``)."""
        return isinstance(s, str) and _REF_RE.match(s) is not None

    @staticmethod
    def parse(ref: str) -> tuple[str, str]:
        """Split a reference into (scheme, name).

        Raises:
            ConfigError: ``ref`` is not a valid reference.
        """
        m = _REF_RE.match(ref.strip()) if isinstance(ref, str) else None
        if m is None:
            shown = ref.split(":", 1)[0] + ":..." if ":" in str(ref) else "(a plain value)"
            raise ConfigError(
                f"not a secret reference: {shown}; use env:NAME, keyring:NAME or file:NAME"
            )
        scheme, name = m.group(1), m.group(2)
        if scheme == "env" and not _ENV_NAME_RE.match(name):
            raise ConfigError(f"secret reference {ref}: {name!r} is not a variable name")
        return scheme, name

    @property
    def keyring_available(self) -> bool:
        """Whether secrets go to the OS keyring (checked once, with a round trip)."""
        if self._use_keyring is False:
            return False
        if self._keyring_ok is None:
            self._keyring_ok = _keyring_backend_works()
        if self._use_keyring and not self._keyring_ok:
            raise ConfigError(
                "the OS keyring was asked for, but no working keyring backend was found "
                "(install and unlock one, or let secrets go to the 0600 secrets file)"
            )
        return self._keyring_ok

    # ---- resolve / put / delete ------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """The value behind a reference.

        Raises:
            ConfigError: ``ref`` is not a valid reference, or its store is unreadable.
            AuthFailed: nothing is stored under the reference (naming it, never a value).
        """
        scheme, name = self.parse(ref)
        value: str | None
        if scheme == "env":
            value = os.environ.get(name)
            if value is None:
                value = _dotenv_value(name)
            if not value:
                raise AuthFailed(
                    f"secret {ref} is missing: set the environment variable {name} "
                    "(or put it in .env in the working folder)"
                )
        elif scheme == "keyring":
            value = self._keyring_get(name, ref)
            if not value:
                raise AuthFailed(f"secret {ref} is missing from the OS keyring")
        else:
            value = self._read_file().get(name)
            if not value:
                raise AuthFailed(
                    f"secret {ref} is missing from {self.paths.secrets_file}; "
                    "store it again (desk add or the endpoint's settings)"
                )
        self.redactor.register(value)
        return value

    def put(self, name: str, value: str) -> str:
        """Store a secret under ``name`` (keyring when it works, else the 0600 file).

        Returns:
            The reference to keep in specs and settings (``keyring:NAME``/``file:NAME``).

        Raises:
            ConfigError: a bad name, an empty value, or a store that cannot be written.
        """
        if not re.match(r"^[A-Za-z0-9_.\-]+$", name or ""):
            raise ConfigError(
                f"secret name {name!r} may use only letters, digits, '_', '-' and '.'"
            )
        if not isinstance(value, str) or not value:
            raise ConfigError(f"secret {name!r}: the value is empty")
        self.redactor.register(value)
        if self.keyring_available:
            import keyring

            try:
                keyring.set_password(KEYRING_SERVICE, name, value)
                return f"keyring:{name}"
            except Exception as exc:
                log.warning(
                    "OS keyring refused secret %s (%s); using the secrets file",
                    name,
                    type(exc).__name__,
                )
        with self._lock:
            data = self._read_file()
            data[name] = value
            self._write_file(data)
        return f"file:{name}"

    def delete(self, ref: str) -> bool:
        """Forget the secret behind a reference; returns whether one was stored.

        Raises:
            ConfigError: an ``env:`` reference (unset the variable instead) or a bad ref.
        """
        scheme, name = self.parse(ref)
        if scheme == "env":
            raise ConfigError(
                f"secret {ref} lives in the environment; unset {name} there to remove it"
            )
        if scheme == "keyring":
            if not self.keyring_available:
                return False
            import keyring

            try:
                keyring.delete_password(KEYRING_SERVICE, name)
                return True
            except Exception:
                return False
        with self._lock:
            data = self._read_file()
            if name not in data:
                return False
            del data[name]
            self._write_file(data)
        return True

    # ---- keyring ----------------------------------------------------------------

    def _keyring_get(self, name: str, ref: str) -> str | None:
        if not self.keyring_available:
            raise ConfigError(
                f"secret {ref} is in the OS keyring, but no working keyring backend "
                "is available here"
            )
        import keyring

        try:
            value = keyring.get_password(KEYRING_SERVICE, name)
        except Exception as exc:
            raise ConfigError(
                f"cannot read secret {ref} from the OS keyring: {type(exc).__name__}"
            ) from None
        return value if isinstance(value, str) else None

    # ---- the 0600 file -----------------------------------------------------------------

    def _read_file(self) -> dict[str, str]:
        """The secrets file's contents; re-read only when the file changed (one ``stat``
        per request instead of a read and a JSON parse, and rotation still shows)."""
        path = self.paths.secrets_file
        try:
            st = path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read secrets file {path}: {exc.strerror or exc}") from None
        stamp = (str(path), st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode)
        cached = self._file_cache
        if cached is not None and cached[0] == stamp:
            return dict(cached[1])
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read secrets file {path}: {exc.strerror or exc}") from None
        _tighten(path, 0o600)
        try:
            data: Any = json.loads(raw)
        except ValueError:
            raise ConfigError(f"secrets file {path} is not valid JSON") from None
        secrets = data.get("secrets") if isinstance(data, dict) else None
        if not isinstance(secrets, dict):
            raise ConfigError(f"secrets file {path} has no 'secrets' object")
        values = {str(k): str(v) for k, v in secrets.items()}
        self._file_cache = (stamp, values)
        return dict(values)

    def _write_file(self, data: dict[str, str]) -> None:
        path = self.paths.secrets_file
        folder = path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _tighten(folder, 0o700)
            fd, tmp = tempfile.mkstemp(prefix=".secrets-", suffix=".tmp", dir=folder)
            try:
                os.fchmod(fd, 0o600)  # before any content is written
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({"version": 1, "secrets": data}, fh, indent=2, sort_keys=True)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise ConfigError(f"cannot write secrets file {path}: {exc.strerror or exc}") from None


def _tighten(path: Path, mode: int) -> None:
    """Remove group/other permissions from ``path`` (best effort, logged)."""
    try:
        current = path.stat().st_mode & 0o777
        if current & 0o077:
            os.chmod(path, mode)
            log.warning("tightened permissions of %s from %o to %o", path, current, mode)
    except OSError:
        pass


def _dotenv_value(name: str) -> str | None:
    env_file = Path(".env")
    if not env_file.is_file():
        return None
    try:
        from dotenv import dotenv_values

        return dotenv_values(env_file).get(name)
    except Exception:
        return None
