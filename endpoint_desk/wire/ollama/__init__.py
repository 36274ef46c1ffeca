"""Ollama's native chat API wire format (``POST /api/chat``, ``/api/embed``)."""
