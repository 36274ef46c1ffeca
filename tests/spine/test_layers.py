"""The layers of the design hold: nothing below the front ends imports textual."""

from __future__ import annotations

import subprocess
import sys

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
