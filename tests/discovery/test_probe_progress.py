"""``detect(progress=...)`` reports each probe as it is answered."""

from __future__ import annotations

from endpoint_desk.core.models import EndpointKind
from endpoint_desk.discovery.probe.detector import detect
from endpoint_desk.sim import SimServer


async def test_progress_reports_every_probe_line() -> None:
    lines: list[str] = []
    async with SimServer() as sim:
        det = await detect(sim.url, progress=lines.append)
    assert det.kind is EndpointKind.OPENAI
    assert lines, "no progress reported"
    assert lines == det.tried  # the same lines, in the order they came
    assert any(line.startswith("openai: GET ") and "-> 200" in line for line in lines)


async def test_a_failing_progress_callback_does_not_break_detection() -> None:
    def broken(_line: str) -> None:
        raise RuntimeError("the UI went away")

    async with SimServer() as sim:
        det = await detect(sim.url, progress=broken)
    assert det.kind is EndpointKind.OPENAI
