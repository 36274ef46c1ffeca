"""What is this URL? Probe known API shapes, cheapest and most likely first.

Each API probe is one GET whose answer only a given protocol gives (the four are in
``apis``: Ollama, OpenAI-style, Anthropic, Gemini).

Order: when the URL itself says what it is (host ``api.anthropic.com``, port 11434, a
path such as ``/v1beta`` or ``/api/tags``), that one probe goes first, alone, and when
it answers nothing else is asked. Otherwise the probes run at once and, when several
protocols answer (Ollama also serves an OpenAI-compatible ``/v1``; the sim serves
everything), the first of OpenAI, Anthropic, Gemini, Ollama wins. A refused connection
ends detection at once (``Unreachable``). Only when no API shape answers is the URL
fetched as a page (an HTML page is a web chat candidate).

With a key, the probes carry it the way each protocol wants, so a 2xx answer verifies
the key (``Detection.key_verified``) and a refusal raises ``AuthFailed`` saying the key
was refused. Every probe's outcome is kept (``Detection.tried``), and the reasons for
the verdict (``Detection.evidence``) so ``desk add`` can tell the user what it found
and why.

Where each part lives: ``detector`` (:func:`detect`: the order and the verdict),
``hints`` (what the URL says about itself), ``apis`` (the probes), ``run`` (one
detection's record and :class:`Detection`), ``answer`` (one probe GET and its readers).
"""

from endpoint_desk.discovery.probe.apis import ANTHROPIC_VERSION
from endpoint_desk.discovery.probe.detector import PRIORITY, detect
from endpoint_desk.discovery.probe.hints import hint_for
from endpoint_desk.discovery.probe.run import Detection

__all__ = ["ANTHROPIC_VERSION", "PRIORITY", "Detection", "detect", "hint_for"]
