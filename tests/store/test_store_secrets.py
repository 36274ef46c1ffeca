"""Secret references, the 0600 file, the keyring path, masking and log redaction."""

from __future__ import annotations

import io
import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.errors import AuthFailed, ConfigError
from endpoint_desk.core.paths import Paths
from endpoint_desk.store.repo import Store
from endpoint_desk.store.secrets import (
    KEYRING_SERVICE,
    SecretRedactor,
    SecretStore,
    default_redactor,
    mask,
)

from .conftest import spec

SECRET = "sk-test-0123456789abcdefXYZ9a1b2"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def secrets(paths: Paths) -> SecretStore:
    return SecretStore(paths, use_keyring=False, redactor=SecretRedactor())


def test_file_store_is_owner_only_and_round_trips(secrets: SecretStore, paths: Paths) -> None:
    ref = secrets.put("openai", SECRET)
    assert ref == "file:openai"
    assert mode(paths.secrets_file) == 0o600
    assert mode(paths.secrets_file.parent) == 0o700
    assert secrets.resolve(ref) == SECRET
    assert json.loads(paths.secrets_file.read_text())["secrets"] == {"openai": SECRET}
    secrets.put("other", "second-value-1234")
    assert mode(paths.secrets_file) == 0o600
    assert secrets.resolve("file:openai") == SECRET
    assert [p.name for p in paths.secrets_file.parent.iterdir()] == ["secrets.json"]
    assert secrets.delete(ref) is True
    assert secrets.delete(ref) is False
    with pytest.raises(AuthFailed, match="secret file:openai is missing"):
        secrets.resolve(ref)
    assert secrets.resolve("file:other") == "second-value-1234"


def test_loose_permissions_are_tightened(secrets: SecretStore, paths: Paths) -> None:
    secrets.put("k", SECRET)
    paths.secrets_file.chmod(0o644)
    assert secrets.resolve("file:k") == SECRET
    assert mode(paths.secrets_file) == 0o600


def test_env_refs(secrets: SecretStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESK_TEST_KEY", SECRET)
    assert secrets.resolve("env:DESK_TEST_KEY") == SECRET
    monkeypatch.setenv("DESK_TEST_KEY", "changed-at-resolve-time")
    assert secrets.resolve("env:DESK_TEST_KEY") == "changed-at-resolve-time"
    # .env in the working folder (the paths fixture chdirs into tmp_path).
    monkeypatch.delenv("DESK_FROM_DOTENV", raising=False)
    (tmp_path / ".env").write_text("DESK_FROM_DOTENV=dotenv-secret-value\n")
    assert secrets.resolve("env:DESK_FROM_DOTENV") == "dotenv-secret-value"
    with pytest.raises(ConfigError, match="unset DESK_TEST_KEY"):
        secrets.delete("env:DESK_TEST_KEY")


def test_resolve_errors_name_the_reference_never_a_value(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESK_MISSING_KEY", raising=False)
    with pytest.raises(AuthFailed) as info:
        secrets.resolve("env:DESK_MISSING_KEY")
    assert "env:DESK_MISSING_KEY" in str(info.value)
    assert "set the environment variable DESK_MISSING_KEY" in str(info.value)
    with pytest.raises(AuthFailed, match="file:nothing"):
        secrets.resolve("file:nothing")
    with pytest.raises(ConfigError) as bad:
        secrets.resolve(SECRET)  # a plain value where a reference belongs
    assert SECRET not in str(bad.value)
    assert "not a secret reference" in str(bad.value)
    with pytest.raises(ConfigError) as bad2:
        secrets.resolve("vault:" + SECRET)
    assert SECRET not in str(bad2.value)
    with pytest.raises(ConfigError, match="not a variable name"):
        secrets.resolve("env:1BAD")
    with pytest.raises(ConfigError, match="keyring"):
        secrets.resolve("keyring:openai")  # keyring switched off
    with pytest.raises(ConfigError, match="empty"):
        secrets.put("x", "")
    with pytest.raises(ConfigError, match="may use only"):
        secrets.put("bad name", SECRET)


def test_corrupt_secrets_file(secrets: SecretStore, paths: Paths) -> None:
    paths.secrets_file.parent.mkdir(parents=True)
    paths.secrets_file.write_text("{not json")
    with pytest.raises(ConfigError, match=f"secrets file {paths.secrets_file} is not valid JSON"):
        secrets.resolve("file:k")


def test_is_ref() -> None:
    assert SecretStore.is_ref("env:OPENAI_API_KEY")
    assert SecretStore.is_ref("keyring:openai")
    assert SecretStore.is_ref("file:my-key.v2")
    assert not SecretStore.is_ref(SECRET)
    assert not SecretStore.is_ref("env:")
    assert not SecretStore.is_ref("http://example")
    assert not SecretStore.is_ref(None)


def test_mask() -> None:
    assert mask(SECRET) == "sk-...a1b2"
    assert mask("abcdefghijklmn") == "***...klmn"
    assert mask("short") == "********"
    assert mask("") == ""
    for value in (SECRET, "abcdefghijklmn", "short", "x" * 11):
        shown = mask(value).replace("*", "").replace("...", "")
        assert len(shown) <= 7
        assert len(value) - len(shown) >= 5 or shown == ""


def _logger_with(redactor: SecretRedactor) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(redactor)
    logger = logging.getLogger(f"test.redactor.{id(out)}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_redactor_removes_values_from_formatted_records(secrets: SecretStore) -> None:
    logger, out = _logger_with(secrets.redactor)
    ref = secrets.put("k", SECRET)
    logger.warning("calling with key %s (ref %s)", SECRET, ref)
    logger.info(f"header Authorization: Bearer {SECRET}")
    try:
        raise RuntimeError(f"upstream echoed {SECRET}")
    except RuntimeError:
        logger.exception("failed")
    text = out.getvalue()
    assert SECRET not in text
    assert text.count("sk-...a1b2") == 3
    assert "ref file:k" in text
    assert "RuntimeError: upstream echoed sk-...a1b2" in text


def test_resolved_values_are_registered(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    redactor = SecretRedactor()
    store = SecretStore(paths, use_keyring=False, redactor=redactor)
    monkeypatch.setenv("DESK_RESOLVED", "resolved-secret-value-42")
    logger, out = _logger_with(redactor)
    logger.warning("before %s", "resolved-secret-value-42")
    store.resolve("env:DESK_RESOLVED")
    logger.warning("after %s", "resolved-secret-value-42")
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("resolved-secret-value-42")  # not known yet
    assert lines[1] == "WARNING after res...e-42"
    assert SecretStore(paths).redactor is default_redactor


async def test_no_secret_in_the_database_file(paths: Paths, secrets: SecretStore) -> None:
    ref = secrets.put("openai-main", SECRET)
    store = await Store.open(StoreSettings(), paths)
    try:
        await store.add_endpoint(spec("openai-main", api_key=ref, headers={"X-Key": ref}))
        rec = await store.get_endpoint("openai-main")
        assert secrets.resolve(rec.spec.api_key or "") == SECRET
    finally:
        await store.close()
    blobs = b"".join(
        p.read_bytes() for p in paths.data_dir.iterdir() if p.name.startswith("desk.sqlite3")
    )
    assert b"file:openai-main" in blobs
    assert SECRET.encode() not in blobs


# ---- the keyring path --------------------------------------------------------------


class MemoryKeyring(KeyringBackend):
    """A real keyring backend (the keyring package's own API) kept in memory."""

    priority = 10

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.data[(service, username)]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def test_working_keyring_is_used(memory_keyring: MemoryKeyring, paths: Paths) -> None:
    store = SecretStore(paths, redactor=SecretRedactor())
    assert store.keyring_available
    assert memory_keyring.data == {}  # the round-trip probe cleaned up after itself
    ref = store.put("openai", SECRET)
    assert ref == "keyring:openai"
    assert memory_keyring.data == {(KEYRING_SERVICE, "openai"): SECRET}
    assert store.resolve(ref) == SECRET
    assert not paths.secrets_file.exists()
    assert store.delete(ref) is True
    with pytest.raises(AuthFailed, match="keyring:openai is missing"):
        store.resolve(ref)


def test_fail_backend_falls_back_to_the_file(paths: Paths) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        store = SecretStore(paths, redactor=SecretRedactor())
        assert not store.keyring_available
        assert store.put("k", SECRET) == "file:k"
        with pytest.raises(ConfigError, match="no working keyring backend"):
            SecretStore(paths, use_keyring=True).put("k", SECRET)
    finally:
        keyring.set_keyring(previous)


def test_keyring_off_never_touches_it(memory_keyring: MemoryKeyring, paths: Paths) -> None:
    store = SecretStore(paths, use_keyring=False, redactor=SecretRedactor())
    assert store.put("k", SECRET) == "file:k"
    assert memory_keyring.data == {}


def test_file_secrets_are_cached_but_rotation_shows(secrets: SecretStore, paths: Paths) -> None:
    ref = secrets.put("ep.api_key", "first-value-0123456789")
    assert secrets.resolve(ref) == "first-value-0123456789"
    assert secrets.resolve(ref) == "first-value-0123456789"  # from the cache
    secrets.put("ep.api_key", "second-value-0123456789")
    assert secrets.resolve(ref) == "second-value-0123456789"
    # a change made by another process (a new file) shows too
    data = json.loads(paths.secrets_file.read_text())
    data["secrets"]["ep.api_key"] = "third-value-0123456789xyz"
    tmp = paths.secrets_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.chmod(0o600)
    tmp.replace(paths.secrets_file)
    assert secrets.resolve(ref) == "third-value-0123456789xyz"
