"""Filling request templates with a request's values, as data (never string splicing).

A string that is exactly one placeholder (``"{{messages}}"``) becomes the value itself
(an array, a number, null...); placeholders inside longer strings insert their text;
object members whose whole-placeholder value is ``None`` are left out. URL templates
percent-encode what they insert.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

__all__ = ["as_text", "fill_text", "placeholders", "render", "render_url"]

_PH = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def placeholders(template: Any) -> set[str]:
    """Every placeholder name used anywhere in ``template`` (strings, lists, tables)."""
    found: set[str] = set()
    if isinstance(template, str):
        found.update(m.group(1) for m in _PH.finditer(template))
    elif isinstance(template, dict):
        for value in template.values():
            found |= placeholders(value)
    elif isinstance(template, list):
        for value in template:
            found |= placeholders(value)
    return found


def as_text(value: Any) -> str:
    """A value as inserted into text: ``""`` for null, strings as they are, else JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _whole(template: str) -> str | None:
    """The name when ``template`` is exactly one placeholder, else ``None``."""
    match = _PH.fullmatch(template.strip())
    return match.group(1) if match else None


def fill_text(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with each placeholder replaced by its value's text."""
    return _PH.sub(lambda m: as_text(values.get(m.group(1))), template)


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """Fill ``template`` with ``values`` as data (see the module docstring).

    A string that is exactly one placeholder becomes the value itself; placeholders
    inside longer strings insert text; object members whose whole-placeholder value is
    ``None`` are left out.
    """
    if isinstance(template, str):
        name = _whole(template)
        if name is not None:
            return values.get(name)
        return fill_text(template, values)
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if isinstance(value, str):
                name = _whole(value)
                if name is not None and values.get(name) is None:
                    continue
            out[str(key)] = render(value, values)
        return out
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


def render_url(template: str, values: Mapping[str, Any]) -> str:
    """Fill a URL template; inserted values are percent-encoded."""
    return _PH.sub(lambda m: quote(as_text(values.get(m.group(1))), safe=""), template)
