"""Wire formats: each protocol's field names and mappings, in one place.

One package per protocol (``openai``, ``anthropic``, ``gemini``, ``ollama``), each
with both directions of both halves of an exchange:

- ``request``: the desk's canonical request (``ChatRequest``, OpenAI-shaped) to the
  protocol's body (the adapters, calling an upstream) and back (the simulated upstream
  and the server's front doors, reading what a client sent);
- ``response``: the protocol's reply, whole or streamed, to ``ChatChunk``s (the
  adapters) and ``ChatChunk``s to the protocol's reply (the sim and the front doors).

Pure functions and small stateful encoders/decoders: no I/O, nothing above ``core``.
Because the sim speaks through the same code the adapters read with, a round-trip test
per protocol proves both halves agree.
"""
