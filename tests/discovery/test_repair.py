"""Runtime self-repair: a saved selector stops matching (the page changed), the
adapter's learned alternates do not fit, so the desk's repair hook re-finds it (from
the pattern library, else by re-running discovery), saves it and raises an alert."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from endpoint_desk.adapters.webchat.repair import repair_hook
from endpoint_desk.core.models import BrowserConfig, ChatRequest, EndpointSpec
from endpoint_desk.discovery.webchat import configure_web_chat
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import Alert

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

_REPLY_JS = """
  function answer(text) {
    const m = text.match(/(\\d+)\\s*\\+\\s*(\\d+)/);
    return m ? 'Total ' + (Number(m[1]) + Number(m[2])) + '.' : 'Heard: ' + text;
  }
  function post(who, text) {
    const d = document.createElement('div');
    d.className = 'line'; d.dataset.author = who; d.textContent = text;
    document.getElementById('thread').appendChild(d);
  }
  function submit(text) {
    post('person', text);
    setTimeout(() => post('assistant', answer(text)), 120);
  }
"""

_BODY = '<body style="margin:0;height:100vh;display:flex;flex-direction:column">'
V1 = f"""<!doctype html><html>{_BODY}
<div id="thread" style="flex:1"></div>
<form id="bar"><textarea id="ask" placeholder="Ask me" style="width:500px"></textarea>
<button id="go" type="submit">Send</button></form>
<script>{_REPLY_JS}
  document.getElementById('bar').addEventListener('submit', (e) => {{
    e.preventDefault();
    const box = document.getElementById('ask');
    if (box.value.trim()) {{ submit(box.value.trim()); box.value = ''; }}
  }});
</script></body></html>"""

# the site's redesign: a contenteditable composer, Enter sends, no button
V2 = f"""<!doctype html><html>{_BODY}
<div id="thread" style="flex:1"></div>
<div class="composer-v2" contenteditable="true" role="textbox" aria-label="Message"
     style="width:500px;min-height:40px;border:1px solid #999"></div>
<script>{_REPLY_JS}
  const c = document.querySelector('.composer-v2');
  c.addEventListener('keydown', (e) => {{
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const t = c.innerText.trim();
    if (t) {{ submit(t); c.textContent = ''; }}
  }});
</script></body></html>"""


@pytest.fixture
async def site() -> AsyncIterator[dict[str, Any]]:
    state: dict[str, Any] = {"html": V1}
    app = web.Application()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=state["html"], content_type="text/html")

    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    s = web.TCPSite(runner, "127.0.0.1", 0)
    await s.start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    yield state
    await runner.cleanup()


def _quick(spec: EndpointSpec) -> EndpointSpec:
    """The adapter waits ``browser_config.timeout`` for a selector before repairing:
    short here, so the test does not wait a minute."""
    return spec.model_copy(update={"browser_config": BrowserConfig(timeout=6)})


async def _until(cond: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


async def _ask(desk: Desk, name: str, text: str) -> str:
    return (await desk.chat(ChatRequest.from_text(text), endpoint=name)).content


async def test_a_redesigned_page_is_rediscovered_saved_and_alerted(
    desk: Desk, site: dict[str, Any]
) -> None:
    assert repair_hook() is not None  # the open desk installed it
    found = await configure_web_chat(site["url"], name="redesign", store=desk.store)
    assert found.options["input"] == "#ask" and found.options["send"] == "#go"
    await desk.add(_quick(found.spec))
    assert await _ask(desk, "redesign", "What is 2 + 2?") == "Total 4."
    alerts: list[Alert] = []

    async def watch() -> None:
        async for ev in desk.events():
            if isinstance(ev, Alert) and ev.title == "Web chat repaired":
                alerts.append(ev)

    watcher = asyncio.create_task(watch())
    await _until(lambda: desk.bus.subscriber_count > 0)
    site["html"] = V2  # the site changes under the desk
    await desk.stop("redesign")
    await desk.start("redesign")  # fresh pages: the old input is gone
    assert await _ask(desk, "redesign", "What is 3 + 4?") == "Total 7."
    saved = {r.spec.name: r.spec for r in await desk.store.list_endpoints()}["redesign"]
    assert saved.options["input"] != "#ask"
    assert "#ask" in saved.options["alternates"]["input"]
    repairs = saved.options["meta"]["repairs"]
    assert repairs[-1]["option"] == "input" and repairs[-1]["how"] == "rediscovery"
    assert desk.endpoint("redesign").spec.options["input"] == saved.options["input"]
    await _until(lambda: bool(alerts))
    watcher.cancel()
    assert alerts[0].name == "redesign" and "rediscovery" in alerts[0].message


async def test_the_pattern_library_repairs_without_rediscovery(
    desk: Desk, site: dict[str, Any]
) -> None:
    """A selector another verified pattern of the same kind of page uses is tried on
    the live page first: no new discovery run is needed."""
    found = await configure_web_chat(site["url"], name="lib", store=desk.store)
    spec = found.spec
    broken = dict(spec.options, input="textarea#old-name", alternates={})
    await desk.add(_quick(spec).model_copy(update={"options": broken}), prove=False)
    assert await _ask(desk, "lib", "What is 5 + 5?") == "Total 10."
    saved = {r.spec.name: r.spec for r in await desk.store.list_endpoints()}["lib"]
    assert saved.options["input"] == "#ask"
    assert saved.options["meta"]["repairs"][-1]["how"] == "alternate"
