"""The store: SQLModel tables, the async repository, the write-behind recorder, secrets.

Nothing here opens a database at import time: ``await Store.open(settings, paths)``.
"""

from endpoint_desk.store.database import resolve_database_url
from endpoint_desk.store.recorder import Recorder
from endpoint_desk.store.records import (
    AlertRecord,
    EndpointRecord,
    HealthRecord,
    PatternRecord,
    RequestRecord,
    Rollup,
    RollupTotals,
)
from endpoint_desk.store.repo import Store
from endpoint_desk.store.secrets import SecretRedactor, SecretStore, default_redactor, mask
from endpoint_desk.store.tables import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "AlertRecord",
    "EndpointRecord",
    "HealthRecord",
    "PatternRecord",
    "Recorder",
    "RequestRecord",
    "Rollup",
    "RollupTotals",
    "SecretRedactor",
    "SecretStore",
    "Store",
    "default_redactor",
    "mask",
    "resolve_database_url",
]
