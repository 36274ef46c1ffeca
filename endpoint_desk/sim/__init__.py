"""``desk sim``: a simulated AI upstream for tests, demos and benchmarks (real HTTP).

One aiohttp app speaks every protocol the desk talks to, on one port:

- OpenAI: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions``
  (stream: ``data: {chat.completion.chunk}`` lines then ``data: [DONE]``; with
  ``stream_options.include_usage`` every chunk has ``usage: null`` and a last chunk with
  ``choices: []`` carries the usage). Bearer key. Unknown model: 404 ``model_not_found``.
- Anthropic: ``POST /v1/messages`` (``x-api-key``; ``anthropic-version`` and ``max_tokens``
  required, as upstream) and ``GET /v1/models`` in Anthropic's list shape *when the
  request carries* ``anthropic-version`` (otherwise OpenAI's shape).
- Gemini: ``GET /v1beta/models[/{m}]``, ``POST /v1beta/models/{m}:generateContent`` and
  ``:streamGenerateContent`` (``?alt=sse``: SSE; without it one JSON array). Key in
  ``x-goog-api-key`` or ``?key=``; as upstream, a missing key is 403 PERMISSION_DENIED and
  a wrong key is 400 INVALID_ARGUMENT with ErrorInfo reason ``API_KEY_INVALID``.
- Ollama: ``GET /api/tags``, ``GET /api/version``, ``POST /api/chat`` (NDJSON stream by
  default; ``stream: false`` one JSON). Names resolve with or without ``:latest``.
- Jobs: ``POST /jobs {"prompt"|"messages", "model"?}`` -> ``{"id", "status": "running"}``;
  ``GET /jobs/{id}`` -> ``running`` until ``job_delay`` passed, then ``{"status": "done",
  "result": {"text", "usage": {input_tokens, output_tokens, total_tokens}}}`` (or
  ``failed`` with ``job_fail``).
- Custom: ``POST /custom/generate {"input", "model"?}`` -> ``{"output": {"text"},
  "meta": {"tokens": {"in", "out"}, "model"}}``. Jobs/custom take a Bearer or x-api-key.
- ``SimConfig(protocols=[...])`` (CLI ``--protocols``) serves only some route groups
  (``openai``, ``anthropic``, ``gemini``, ``ollama`` (plus ``GET /`` "Ollama is
  running"), ``jobs``, ``custom``), so a sim can look like exactly one kind of upstream;
  an Anthropic-only sim answers ``GET /v1/models`` in Anthropic's shape (400 without
  ``anthropic-version``).
- Control (no auth, not counted, no knobs): ``GET /sim`` (what is served),
  ``GET /sim/stats``, ``POST /sim/reset``, ``GET /sim/config``, ``POST /sim/config``
  (JSON object of knobs and/or ``models``, ``api_key``, ``replies``, ``script`` list).

Stats (``GET /sim/stats``, ``SimServer.stats``): ``total``, ``requests`` per route (e.g.
``"POST /v1/chat/completions"``, ``"POST /v1beta/models:streamGenerateContent"``),
``statuses`` (``"599"`` = ended without an answer, e.g. a hang cut by the client),
``simulated_failures``, ``in_flight``, ``max_in_flight``, and ``last`` (per route: the
model, JSON body, query and headers, keys masked) so a test can check what was sent.

Replies: ``Echo: <last user message>``; ``SimConfig.replies[model]`` gives a canned text;
models whose name starts with ``scripted`` answer from ``SimConfig.script`` (a list used in
order, cycling; or ``fn(messages) -> str`` with ``{"role", "content"}`` dicts); the
``reply`` knob overrides all. ``max_tokens`` / ``maxOutputTokens`` / ``num_predict`` cut
the reply (finish ``length`` / ``max_tokens`` / ``MAX_TOKENS``). Tokens: ``ceil(len/4)``.

Tools, in every protocol's own shape (OpenAI ``tools``, Anthropic ``tools`` with
``input_schema``, Gemini ``functionDeclarations``, Ollama ``tools``), plain and streamed:
when tools are offered (and ``tool_choice`` is not ``none``) and the conversation does
not end in tool results, the sim calls one tool (the forced one, else the first) with
arguments made from its JSON schema (the first free string argument gets the last word
of the user's message); when it ends in tool results, it answers with text that uses
them (``get_weather returned: 18 C, sunny.``). A JSON ``response_format`` (Gemini
``responseSchema``, Ollama ``format``) gets an instance of the schema. See
:mod:`endpoint_desk.sim.script`; the ``reply`` knob overrides tools too. Embeddings
(``POST /v1/embeddings``, Gemini ``:embedContent`` / ``:batchEmbedContents``, ``POST
/api/embed``) are deterministic unit vectors (:mod:`endpoint_desk.sim.embeddings`).

Knobs (fields of :class:`Knobs`; server level via ``SimConfig(...)``, ``--knobs`` or
``POST /sim/config``; per request via header ``x-sim-<name>: <value>`` (``-`` or ``_``)
or a model suffix ``<model>@<name>=<value>,<name>,...`` (bare name = true); suffix beats
header beats server)::

    latency=S      seconds before the response headers
    ttft=S         seconds after the headers before the first body byte
    chunks=N       content chunks per reply (0 = one per word)
    chunk_delay=S  seconds between content chunks (non-stream waits ttft+(N-1)*delay)
    fail_rate=P    probability 0..1 of a simulated failure ...
    fail_status=C  ... answered with this HTTP status (default 500), protocol error shape
    seed=N         seed of the failure dice (reproducible; POST /sim/reset re-seeds)
    truncate       stop half-way (stream: after half the content chunks, no end marker),
                   close the connection
    hang           never answer (the client's timeout ends it)
    garbage        status 200, half a JSON body (stream: one content event cut in half)
    rate_limit=N   429 with Retry-After: N
    drip=S         write the body one byte every S seconds
    safety=prompt|response   Gemini SAFETY block (promptFeedback.blockReason / finishReason)
    job_delay=S    /jobs: seconds a job stays running
    job_fail       /jobs: the job ends failed
    reply=TEXT     fixed reply text (header form for text with commas)

Example: ``model="sim-model@fail_rate=1,fail_status=503"`` or header ``x-sim-latency: 0.2``.

Python API: :class:`SimConfig`, :func:`create_app`, :class:`SimServer`,
:func:`start_sim_in_thread`, :func:`run_sim`; ``python -m endpoint_desk.sim --help``.
"""

from endpoint_desk.sim.app import create_app
from endpoint_desk.sim.knobs import (
    KNOB_NAMES,
    PROTOCOL_NAMES,
    KnobError,
    Knobs,
    SimConfig,
    parse_knob_text,
)
from endpoint_desk.sim.runner import SimServer, run_sim, start_sim_in_thread
from endpoint_desk.sim.state import SimStats
from endpoint_desk.sim.text import count_tokens, split_chunks

__all__ = [
    "KNOB_NAMES",
    "PROTOCOL_NAMES",
    "KnobError",
    "Knobs",
    "SimConfig",
    "SimServer",
    "SimStats",
    "count_tokens",
    "create_app",
    "parse_knob_text",
    "run_sim",
    "split_chunks",
    "start_sim_in_thread",
]
