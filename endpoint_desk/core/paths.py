"""Where the desk keeps things. The one seam tests patch: set ``DESK_HOME``.

Nothing here touches the disk at import time; ``ensure()`` creates folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "endpoint-desk"


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        """The TOML settings file (``DESK_CONFIG`` points elsewhere)."""
        override = os.environ.get("DESK_CONFIG")
        return Path(override).expanduser() if override else self.config_dir / "config.toml"

    @property
    def database_file(self) -> Path:
        return self.data_dir / "desk.sqlite3"

    @property
    def secrets_file(self) -> Path:
        """Owner-only (0600) file of secrets when no OS keyring works."""
        return self.config_dir / "secrets.json"

    @property
    def sessions_dir(self) -> Path:
        """Saved browser sessions (``storage_state``) of web chat endpoints."""
        return self.data_dir / "sessions"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "desk.log"

    def ensure(self) -> Paths:
        for d in (self.config_dir, self.data_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def as_dict(self) -> dict[str, str]:
        return {
            "config": str(self.config_file),
            "config_dir": str(self.config_dir),
            "data": str(self.data_dir),
            "database": str(self.database_file),
            "secrets": str(self.secrets_file),
            "sessions": str(self.sessions_dir),
            "logs": str(self.log_file),
        }


def get_paths() -> Paths:
    """Paths for this process: ``DESK_HOME`` puts everything under one folder,
    otherwise the platform's folders (platformdirs)."""
    home = os.environ.get("DESK_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root / "config", root / "data", root / "logs")
    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )
