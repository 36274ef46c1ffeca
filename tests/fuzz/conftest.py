"""The hypothesis profile of the fuzz suites (bounded examples, no deadline) and the
live desk they talk to."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from .live import LiveDesk, live_desk

settings.register_profile(
    "desk-fuzz",
    max_examples=int(os.environ.get("DESK_FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.load_profile("desk-fuzz")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDesk]:
    """A desk with endpoints ``sim`` (sim-model, sim-large) and ``victim`` (other)."""
    yield from live_desk(tmp_path_factory)
