"""For tests that check which secrets are left: the references that still resolve."""

from __future__ import annotations

from collections.abc import Iterable

from endpoint_desk.core.errors import AuthFailed
from endpoint_desk.store.secrets import SecretStore


def secrets_left(secrets: SecretStore, refs: Iterable[str]) -> list[str]:
    """The references in ``refs`` whose secret is still stored (``keyring:`` ones only
    where a keyring works here)."""
    left = []
    for ref in refs:
        if ref.startswith("keyring:") and not secrets.keyring_available:
            continue
        try:
            secrets.resolve(ref)
        except AuthFailed:
            continue
        left.append(ref)
    return left
