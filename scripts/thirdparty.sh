#!/usr/bin/env bash
# Installs the third-party chat UIs the web chat tests drive, each in its own venv
# under .venvs/ (never into the desk's own environment). Idempotent: a venv whose
# package already imports is left alone, so a second run takes about a second.
#
#   scripts/thirdparty.sh            # install what is missing
#   PYTHON=python3.11 scripts/thirdparty.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
mkdir -p "$ROOT/.venvs"
# the real path: a worktree's .venvs may be a symlink to the main checkout's, and the
# console scripts' shebangs must not point into a worktree that may go away
VENVS="$(cd -P "$ROOT/.venvs" && pwd)"

ensure_venv() {
    # ensure_venv NAME IMPORT PIP_SPEC...   (NAME: the venv and the distribution's name)
    local name="$1" module="$2"
    shift 2
    local venv="$VENVS/$name"
    if [[ -x "$venv/bin/python" ]] \
        && "$venv/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" 2>/dev/null; then
        echo "$name: already installed in $venv"
        return 0
    fi
    echo "$name: creating $venv"
    local started=$SECONDS
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    # the version from the package metadata (NAME is the distribution's name): importing
    # some of them (Chainlit) writes config files into the working folder
    local ver
    ver="$("$venv/bin/python" -c "from importlib.metadata import version; print(version('$name'))")"
    echo "$name $ver installed in $((SECONDS - started)) s ($(du -sh "$venv" | cut -f1))"
}

ensure_venv gradio gradio "gradio>=5,<7"
# a second third-party chat UI (discovery tests): Streamlit's st.chat_input/st.chat_message
ensure_venv streamlit streamlit "streamlit>=1.32,<2"
# the framework fixtures of bench/discovery.py and tests/discovery/test_frameworks.py
# (issue 12): Panel's ChatInterface (Bokeh web components), Mesop (Angular), NiceGUI
# (Vue/Quasar) and Chainlit (React)
ensure_venv panel panel "panel>=1.5,<2"
ensure_venv mesop mesop "mesop>=1.0,<2"
ensure_venv nicegui nicegui "nicegui>=3,<4"
ensure_venv chainlit chainlit "chainlit>=2,<3"
