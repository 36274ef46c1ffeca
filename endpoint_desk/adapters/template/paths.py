"""Reading values out of an answer by dot paths (``"choices.0.message.content"``).

Numbers index arrays (``-1`` is the last item); ``""`` is the whole answer. A path that
leads nowhere says where it stopped and what was there instead.
"""

from __future__ import annotations

from typing import Any

from endpoint_desk.core.errors import ProtocolError

__all__ = ["PathError", "get_path", "read_path"]


class PathError(LookupError):
    """A path that does not lead to a value; the message says where it stopped."""


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` (``"a.0.b"``; ``""`` is ``data`` itself).

    Raises:
        PathError: naming the segment that is missing and what was there instead.
    """
    if not path:
        return data
    current = data
    walked: list[str] = []
    for segment in path.split("."):
        if isinstance(current, list):
            try:
                current = current[int(segment)]
            except (ValueError, IndexError):
                raise PathError(
                    f"{'.'.join(walked) or 'the answer'} is an array of {len(current)}; "
                    f"no item {segment!r}"
                ) from None
        elif isinstance(current, dict):
            if segment not in current:
                keys = ", ".join(sorted(map(str, current))[:12]) or "none"
                raise PathError(
                    f"{'.'.join(walked) or 'the answer'} has no {segment!r} (keys: {keys})"
                )
            current = current[segment]
        else:
            raise PathError(
                f"{'.'.join(walked) or 'the answer'} is {type(current).__name__}, "
                f"not an object; cannot read {segment!r}"
            )
        walked.append(segment)
    return current


def read_path(doc: Any, path: str, what: str, *, endpoint: str) -> Any:
    """The value at ``path``, which must be there.

    Raises:
        ProtocolError: naming the endpoint, ``what`` was read and where the path stopped.
    """
    try:
        return get_path(doc, path)
    except PathError as exc:
        raise ProtocolError(
            f"{endpoint}: cannot read the {what} at {path!r}: {exc}",
            endpoint=endpoint,
        ) from None
