"""Pieces every protocol's wire module shares: data URLs, tool-call ids, schema
conversion for APIs that accept only a subset of JSON schema, text of mixed content."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)$", re.S)


def data_url(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,AAA`` -> ``("image/png", "AAA")``; other URLs -> None."""
    match = _DATA_URL.match(url.strip())
    if match is None:
        return None
    data = match.group("data")
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        return None
    return match.group("mime"), data


def to_data_url(mime: str, data_b64: str) -> str:
    """``("image/png", "AAA")`` -> ``data:image/png;base64,AAA``."""
    return f"data:{mime};base64,{data_b64}"


def new_call_id(prefix: str = "call_") -> str:
    """A fresh tool-call id, for protocols whose calls carry none (Gemini, Ollama)."""
    return prefix + secrets.token_hex(12)


def text_of(content: Any) -> str:
    """The text of a content value: a string, or a list of parts/blocks with ``text``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    return str(content)


_OPENAPI_KEYS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "properties",
        "required", "items", "minItems", "maxItems", "minimum", "maximum", "anyOf",
        "propertyOrdering", "minLength", "maxLength", "pattern", "minProperties",
        "maxProperties", "example",
    }
)  # fmt: skip
"""The JSON-schema keywords Gemini's OpenAPI-style ``Schema`` object accepts."""


def openapi_schema(schema: Any, *, _defs: dict[str, Any] | None = None, _depth: int = 0) -> Any:
    """A JSON schema reduced to the OpenAPI subset Gemini accepts in ``parameters`` and
    ``responseSchema``: local ``$ref``s inlined (bounded depth), ``["T", "null"]`` types
    as ``nullable``, ``const`` as a one-value ``enum``, unknown keywords dropped."""
    if not isinstance(schema, dict) or _depth > 16:
        return {} if not isinstance(schema, dict) else {"type": "object"}
    defs = (
        _defs if _defs is not None else {**schema.get("definitions", {}), **schema.get("$defs", {})}
    )
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = defs.get(ref.rsplit("/", 1)[-1])
        if isinstance(target, dict):
            return openapi_schema(target, _defs=defs, _depth=_depth + 1)
        return {"type": "object"}
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if kinds else "string"
    if isinstance(kind, str):
        out["type"] = kind
    if "const" in schema:
        out["enum"] = [schema["const"]]
    for key, value in schema.items():
        if key not in _OPENAPI_KEYS or key == "type":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                k: openapi_schema(v, _defs=defs, _depth=_depth + 1) for k, v in value.items()
            }
        elif key == "items":
            out[key] = openapi_schema(value, _defs=defs, _depth=_depth + 1)
        elif key == "anyOf" and isinstance(value, list):
            subs = [s for s in value if not (isinstance(s, dict) and s.get("type") == "null")]
            if len(subs) < len(value):
                out["nullable"] = True
            if len(subs) == 1:
                out.update(openapi_schema(subs[0], _defs=defs, _depth=_depth + 1))
            else:
                out[key] = [openapi_schema(s, _defs=defs, _depth=_depth + 1) for s in subs]
        elif key == "enum" and isinstance(value, list):
            out[key] = [str(v) for v in value if v is not None]
        else:
            out[key] = value
    if "enum" in out and out.get("type") not in (None, "string"):
        out["type"] = "string"  # Gemini's enums are strings
    if "enum" in out:
        out.setdefault("type", "string")
    if out.get("type") == "object" and "properties" in out:
        names = set(out["properties"])
        if "required" in out:
            out["required"] = [r for r in out["required"] if r in names]
    return out


def example_of(schema: Any, *, hint: str = "", _depth: int = 0) -> Any:
    """A small value that satisfies ``schema`` (the simulated upstream's tool arguments
    and structured replies): enums take their first value, strings ``hint`` or the
    property's name, numbers their minimum or 1, objects every property."""
    if not isinstance(schema, dict) or _depth > 8:
        return {}
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _example(schema, defs, hint, _depth)


def _example(schema: dict[str, Any], defs: dict[str, Any], hint: str, depth: int) -> Any:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return _example(target, defs, hint, depth + 1) if isinstance(target, dict) else {}
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        subs = schema.get(key)
        if isinstance(subs, list) and subs and isinstance(subs[0], dict):
            return _example(subs[0], defs, hint, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict) or depth > 6:
            return {}
        return {
            name: _example(sub, defs, name, depth + 1) if isinstance(sub, dict) else "x"
            for name, sub in props.items()
        }
    if kind == "array":
        items = schema.get("items")
        count = max(1, int(schema.get("minItems") or 1))
        item = _example(items, defs, hint, depth + 1) if isinstance(items, dict) else "x"
        return [item] * min(count, 3)
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = hint or "x"
    min_len = int(schema.get("minLength") or 0)
    return text if len(text) >= min_len else text + "x" * (min_len - len(text))
