"""The layers of the design hold: nothing below the front ends imports textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = [
    "endpoint_desk",
    "endpoint_desk.core.models",
    "endpoint_desk.core.config",
    "endpoint_desk.store.repo",
    "endpoint_desk.adapters.openai",
    "endpoint_desk.discovery.probe",
    "endpoint_desk.engine.desk",
    "endpoint_desk.sim",
]


@pytest.mark.parametrize("module", MODULES)
def test_no_textual_below_the_front_ends(module: str) -> None:
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_server_does_not_import_textual() -> None:
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.find_spec('endpoint_desk.server.app')\n"
        "if spec: importlib.import_module('endpoint_desk.server.app')\n"
        "print('textual' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_core_does_no_io_at_import(tmp_path: object) -> None:
    code = (
        "import os; os.environ['DESK_HOME'] = '/nonexistent/never'\n"
        "import endpoint_desk.core.config, endpoint_desk.core.paths, endpoint_desk.engine.desk\n"
        "print(os.path.exists('/nonexistent/never'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


SQL_MODULES = ("sqlalchemy", "sqlmodel", "endpoint_desk.store.tables")
ABOVE_THE_STORE = ("engine", "discovery", "server", "tui", "cli")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("folder", ABOVE_THE_STORE)
def test_only_the_store_speaks_sql(folder: str) -> None:
    """The engine and the front ends ask the store (``Store.rollup_totals``...); none of
    them imports sqlalchemy or the store's tables, even inside a function."""
    root = Path(__file__).resolve().parents[2] / "endpoint_desk" / folder
    files = sorted(root.rglob("*.py"))
    assert files
    offenders = [
        f"{path.relative_to(root.parent)}:{line} imports {name}"
        for path in files
        for line, name in _imports(path)
        if name.startswith(SQL_MODULES)
    ]
    assert offenders == []
