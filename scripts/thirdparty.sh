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
VENVS="$ROOT/.venvs"
mkdir -p "$VENVS"

ensure_venv() {
    # ensure_venv NAME IMPORT PIP_SPEC...
    local name="$1" module="$2"
    shift 2
    local venv="$VENVS/$name"
    if [[ -x "$venv/bin/python" ]] \
        && "$venv/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" 2>/dev/null; then
        echo "$name: already installed in $venv"
        return 0
    fi
    echo "$name: creating $venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    GRADIO_ANALYTICS_ENABLED=False "$venv/bin/python" -c "import $module; print('$name', $module.__version__)"
}

ensure_venv gradio gradio "gradio>=5,<7"
# a second third-party chat UI (discovery tests): Streamlit's st.chat_input/st.chat_message
ensure_venv streamlit streamlit "streamlit>=1.32,<2"
