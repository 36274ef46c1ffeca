"""Pure formatting helpers for the desk's panes (no widgets, easy to test).

Every state is shown with a colour *and* a word (and a glyph), never colour alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Text

from endpoint_desk.core.models import EndpointState

Clock = Callable[[], float]

#: glyph, word and theme colour role of each endpoint state
STATE_LOOK: dict[str, tuple[str, str, str]] = {
    EndpointState.ON.value: ("●", "on", "success"),
    EndpointState.OFF.value: ("○", "off", "muted"),
    EndpointState.STARTING.value: ("◌", "starting", "accent"),
    EndpointState.DEGRADED.value: ("▲", "degraded", "warning"),
    EndpointState.TRIPPED.value: ("✖", "tripped", "error"),
    EndpointState.ERROR.value: ("!", "error", "error"),
}

LEVEL_LOOK: dict[str, tuple[str, str]] = {
    "info": ("info", "accent"),
    "ok": ("ok", "success"),
    "warning": ("warn", "warning"),
    "error": ("error", "error"),
}

SPARK = "▁▂▃▄▅▆▇█"


def role_color(colors: dict[str, str], role: str) -> str:
    """The colour of a role (``success``, ``error``...) in a colour table."""
    return colors.get(role) or colors.get("foreground", "default")


def state_text(state: str, colors: dict[str, str]) -> Text:
    """``● on`` in the success colour, ``✖ tripped`` in the error colour..."""
    glyph, word, role = STATE_LOOK.get(state, ("?", state, "foreground"))
    return Text(f"{glyph} {word}", style=role_color(colors, role))


def level_text(level: str, colors: dict[str, str]) -> Text:
    word, role = LEVEL_LOOK.get(level, (level, "foreground"))
    return Text(word, style=role_color(colors, role))


def switch_text(enabled: bool, colors: dict[str, str]) -> Text:
    """The ON/OFF switch a person controls (the state column shows what the desk did)."""
    if enabled:
        return Text("ON ", style=f"bold {role_color(colors, 'success')}")
    return Text("OFF", style=role_color(colors, "muted"))


def fmt_ms(value: float | None) -> str:
    """``123 ms``, ``1.2 s``, ``–`` for no data."""
    if value is None:
        return "–"
    if value >= 10_000:
        return f"{value / 1000:.0f} s"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms"


def fmt_pct(value: float | None) -> str:
    """A share 0..1 as ``97.5%``; ``–`` for no data."""
    if value is None:
        return "–"
    if value >= 0.9995:
        return "100%"
    return f"{value * 100:.1f}%"


def fmt_money(value: float | None) -> str:
    """USD with enough digits for per-request prices."""
    if value is None:
        return "–"
    if value == 0:
        return "$0"
    if value < 0.0001:
        return "<$0.0001"
    if value < 0.01:
        return f"${value:.4f}"
    if value < 100:
        return f"${value:.2f}"
    return f"${value:,.0f}"


def fmt_count(value: int) -> str:
    """``999``, ``1.2k``, ``3.4M``."""
    if value < 1000:
        return str(value)
    if value < 1_000_000:
        return f"{value / 1000:.1f}k"
    return f"{value / 1_000_000:.1f}M"


def fmt_duration(seconds: float) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def fmt_clock(ts: float) -> str:
    """Local wall-clock time ``HH:MM:SS`` of an epoch timestamp."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def fmt_day_clock(ts: float) -> str:
    """``HH:MM:SS`` for today, ``Mon DD HH:MM`` for an older timestamp."""
    here = time.localtime(ts)
    if time.strftime("%Y-%m-%d", here) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", here)
    return time.strftime("%b %d %H:%M", here)


def sparkline(values: Sequence[float], width: int = 8) -> str:
    """The last ``width`` values as block characters scaled to their own range."""
    vals = list(values)[-width:]
    if not vals:
        return "·" * width
    lo, hi = min(vals), max(vals)
    span = hi - lo
    out = []
    for v in vals:
        idx = 0 if span <= 0 else round((v - lo) / span * (len(SPARK) - 1))
        out.append(SPARK[idx])
    return "".join(out).rjust(width, " ")


def truncate(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters with an ellipsis."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def mask_secret_ref(value: str | None) -> str:
    """Show a secret reference (``env:NAME``, ``file:...``) but never a plain value."""
    if not value:
        return "–"
    if value.startswith(("env:", "keyring:", "file:")):
        return value
    return mask_value(value)


def mask_value(value: str) -> str:
    """``sk-abc…wxyz`` style mask: at most 4 leading and 2 trailing characters."""
    if len(value) <= 8:
        return "•" * len(value)
    return value[:4] + "…" + "•" * 4 + value[-2:]


def models_summary(models: Sequence[str], width: int = 24) -> str:
    """``a, b (+3)`` within ``width``; ``any`` when the endpoint lists none."""
    if not models:
        return "any"
    shown: list[str] = []
    for i, name in enumerate(models):
        rest = len(models) - i - 1
        candidate = ", ".join([*shown, name]) + (f" (+{rest})" if rest else "")
        if len(candidate) > width and shown:
            return ", ".join(shown) + f" (+{len(models) - len(shown)})"
        shown.append(name)
    return truncate(", ".join(shown), width)
