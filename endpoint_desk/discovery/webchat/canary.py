"""Canaries: questions whose answer does not appear in them, so a reply can be told
apart from the prompt on the page (and an echo bot's reply by the nonce it repeats)."""

from __future__ import annotations

import random
import re
import secrets as pysecrets
from dataclasses import dataclass

__all__ = ["Canary", "has_number"]


@dataclass(slots=True)
class Canary:
    """A question whose answer does not appear in it, tagged with a unique nonce."""

    prompt: str
    answer: str
    nonce: str

    @classmethod
    def make(cls, rng: random.Random | None = None) -> Canary:
        """A fresh canary (``What is 17 + 25? ...`` -> ``42``)."""
        rng = rng or random.Random(pysecrets.randbits(32))
        while True:
            a, b = rng.randint(12, 89), rng.randint(12, 89)
            nonce = f"k{pysecrets.token_hex(3)}"
            prompt = f"What is {a} + {b}? Reply with just the number. (check {nonce})"
            answer = str(a + b)
            if answer not in prompt:
                return cls(prompt, answer, nonce)

    def answered(self, text: str) -> bool:
        """The reply holds the answer (a model) or repeats the prompt (an echo bot)."""
        return has_number(text, self.answer) or self.nonce in text


def has_number(text: str, number: str) -> bool:
    """``number`` appears in ``text`` as a whole number (not inside a longer one)."""
    return re.search(rf"(?<!\d){re.escape(number)}(?!\d)", text) is not None
