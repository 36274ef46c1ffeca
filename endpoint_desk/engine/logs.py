"""Logging: to a file in the log folder (the TUI owns the terminal), at ``LOG_LEVEL``,
with every known secret value redacted from every record."""

from __future__ import annotations

import logging
import logging.handlers

from endpoint_desk.core.config import Settings
from endpoint_desk.core.paths import Paths
from endpoint_desk.store.secrets import SecretStore

_HANDLER_NAME = "endpoint-desk-file"


def setup_logging(settings: Settings, paths: Paths, secrets: SecretStore) -> None:
    """Install (once per log file) a rotating file handler on the package logger."""
    root = logging.getLogger("endpoint_desk")
    level = logging.getLevelName(settings.log.level.upper())
    root.setLevel(level if isinstance(level, int) else logging.WARNING)
    if settings.store.echo:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    for handler in root.handlers:
        if handler.get_name() == _HANDLER_NAME:
            if getattr(handler, "baseFilename", None) == str(paths.log_file):
                return
            root.removeHandler(handler)
            handler.close()
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            paths.log_file, maxBytes=5_000_000, backupCount=3, encoding="utf-8", delay=True
        )
    except OSError:
        return
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(secrets.redactor)
    root.addHandler(handler)
    if settings.store.echo:
        sa = logging.getLogger("sqlalchemy.engine")
        if handler not in sa.handlers:
            sa.addHandler(handler)
