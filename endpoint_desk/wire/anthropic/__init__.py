"""Anthropic's Messages API wire format (``POST /v1/messages``)."""
