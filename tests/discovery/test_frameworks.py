"""Issue 12: a bare discovery on every framework fixture configures the page, and the
desk then answers right, follows up in the same conversation, starts a new one when
asked, and returns only the answer.

Each fixture (``tests/thirdparty/frameworks.py``: Gradio, Streamlit, Panel, Mesop,
NiceGUI, Chainlit from their venvs; our React/MUI, Vue/Quasar and hard-case pages) is
evaluated once per module by the same harness as ``bench/discovery.py``: a real
``desk add URL`` process with its own ``DESK_HOME``, then the engine in this process
(first message, follow-up with the conversation so far, a new single message), each
reply judged against what the page itself answered. A fixture whose venv is missing is
skipped.

Every fixture passes every check; a regression fails the check it breaks, by name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.thirdparty.frameworks import FRAMEWORKS
from tests.thirdparty.harness import Check, Outcome, evaluate

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CHECKS: dict[str, str] = {
    "configured": "a bare desk add URL configures it",
    "reply": "the first reply is the page's reply",
    "follow_up": "a follow-up (the conversation so far + a message) is the page's next turn",
    "new_conversation": "a new single message starts a new conversation (turn 1)",
    "only_answer": "the content is only the answer: no author label, avatar text, time "
    "stamp or button text; a markdown reply keeps its blocks as lines",
}


"""(test, fixture) -> what fails today (issue 12); each mark goes once its test passes."""

_OUTCOMES: dict[str, Outcome] = {}


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("frameworks")


def _outcome(name: str, homes: Path) -> Outcome:
    """The fixture's evaluation (run once per module, by the first test that needs it)."""
    if name not in _OUTCOMES:
        _OUTCOMES[name] = evaluate(name, homes / name, cold_runs=0, warm=False)
    outcome = _OUTCOMES[name]
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    return outcome


def _params() -> list[object]:
    out: list[object] = []
    for fw in FRAMEWORKS:
        for check in CHECKS:
            marks: list[pytest.MarkDecorator] = [pytest.mark.thirdparty] if fw.venv else []
            out.append(pytest.param(fw.name, check, marks=marks, id=f"{fw.name}-{check}"))
    return out


def _holds(check: Check, what: str) -> None:
    assert check.ok is True, f"{what}: {check.detail}"


@pytest.mark.parametrize(("name", "check"), _params())
def test_bare_discovery(name: str, check: str, homes: Path) -> None:
    """One of ``CHECKS`` on one framework fixture."""
    outcome = _outcome(name, homes)
    _holds(outcome.configured, "not configured")
    if check == "configured":
        return
    if check == "only_answer":
        _holds(outcome.only_answer, "the first reply")
        if outcome.markdown.ok is not None:
            _holds(outcome.markdown, "the markdown reply")
        return
    _holds(getattr(outcome, check), CHECKS[check])
