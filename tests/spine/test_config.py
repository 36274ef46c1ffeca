from __future__ import annotations

from pathlib import Path

import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.errors import ConfigError
from endpoint_desk.core.paths import get_paths


def test_defaults(desk_home: Path) -> None:
    s = load_settings()
    assert s.server.host == "127.0.0.1"
    assert s.defaults.health_check_interval == 300
    assert s.store.database_url is None
    assert get_paths().database_file == desk_home / "data" / "desk.sqlite3"


def test_file_env_and_dotenv(desk_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = get_paths().config_file
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[server]\nport = 9001\nhost = "127.0.0.1"\n[routing]\nstrategy = "latency"\n')
    assert load_settings().server.port == 9001
    monkeypatch.setenv("DESK_SERVER__PORT", "9002")
    s = load_settings()
    assert s.server.port == 9002
    assert s.routing.strategy == "latency"
    Path(".env").write_text("LOG_LEVEL=debug\nDB_ECHO=true\nDATABASE_URL=sqlite:///x.db\n")
    s = load_settings()
    assert s.log.level == "DEBUG"
    assert s.store.echo is True
    assert s.store.database_url == "sqlite:///x.db"


def test_desk_config_points_elsewhere(desk_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = desk_home.parent / "other.toml"
    other.write_text("[server]\nport = 7777\n")
    monkeypatch.setenv("DESK_CONFIG", str(other))
    assert load_settings().server.port == 7777


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[server\nport=1", "not valid TOML"),
        ('[server]\nport = "abc"\n', "server.port"),
        ("[server]\nport = 99999\n", "server.port"),
        ('[routing]\nstrategy = "magic"\n', "routing.strategy"),
        ("[server]\nbogus = 1\n", "server.bogus"),
    ],
)
def test_broken_config_names_the_problem(desk_home: Path, text: str, words: str) -> None:
    cfg = get_paths().config_file
    cfg.parent.mkdir(parents=True)
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert words in str(info.value)
    assert "\n" not in info.value.one_line()


def test_config_file_not_utf8(desk_home: Path) -> None:
    cfg = get_paths().config_file
    cfg.parent.mkdir(parents=True)
    cfg.write_bytes(b"\xff\xfe[server]")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings()


def test_example_config_is_current_and_valid() -> None:
    import subprocess
    import sys
    import tomllib

    root = Path(__file__).resolve().parents[2]
    generated = subprocess.run(
        [sys.executable, "scripts/gen_config_example.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (root / "config.example.toml").read_text()
    assert committed == generated, "run: python scripts/gen_config_example.py > config.example.toml"
    tomllib.loads(committed)
