"""OpenAI's chat completions wire format (the desk's canonical shape)."""
