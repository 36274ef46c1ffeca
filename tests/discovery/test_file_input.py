"""Discovery records the page's file input (``file_input``) when it takes images, and
the endpoint it makes then answers an image through it (real Chromium, fixture pages)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.discovery.webchat import Step, configure_web_chat
from endpoint_desk.discovery.webchat.files import accepts_images
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim.chatpages import ChatPagesServer
from tests.agentkit import PNG_B64, PNG_URL


def test_which_accept_attributes_take_images() -> None:
    for accept in ("", "image/*", "image/png,image/jpeg", ".png, .pdf", "*/*"):
        assert accepts_images(accept), accept
    for accept in (".pdf", "application/pdf,.docx", "text/*"):
        assert not accepts_images(accept), accept


@pytest.mark.browser
@pytest.mark.timeout(180)
async def test_a_file_input_is_found_and_used_for_images(
    desk: Desk, pages: ChatPagesServer
) -> None:
    steps: list[Step] = []
    found = await configure_web_chat(
        pages.url_for("upload"), name="fx-upload", progress=steps.append
    )
    assert found.options["file_input"] == "#file"
    assert any(s.name == "file_input" and s.ok for s in steps)
    assert any("file input #file" in e for e in found.evidence)
    view = await desk.add(found.spec)
    assert "vision" in view.capabilities
    content = [
        {"type": "text", "text": "What is 6 + 7?"},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
    ]
    result = await desk.chat(ChatRequest([ChatMessage("user", content)]), endpoint=view.name)
    png = base64.b64decode(PNG_B64)
    digest = hashlib.sha256(png).hexdigest()[:12]
    assert result.content == (
        f"I received image-1.png (image/png, {len(png)} bytes, sha256 {digest}). The answer is 13."
    )
    # a page without a file input gets no such option, so no vision
    plain = await configure_web_chat(pages.url_for("textarea"), name="fx-plain")
    assert "file_input" not in plain.options
