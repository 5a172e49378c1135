"""Small formatting helpers shared by the markdown and HTML writers."""

from __future__ import annotations

import datetime as dt


def utc(moment: float | None, millis: bool = True) -> str:
    """A unix time as UTC, e.g. 2025-11-27 19:00:01.861Z."""
    if moment is None:
        return "-"
    when = dt.datetime.fromtimestamp(moment, dt.UTC)
    text = when.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{when.microsecond // 1000:03d}Z" if millis else f"{text}Z"


def seconds(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f} s"


def offset(value: float | None) -> str:
    """Seconds relative to the injection, signed: +12.40 s."""
    return "-" if value is None else f"{value:+.2f} s"


def ratio(value: float | None, budget: float | None) -> float | None:
    if value is None or not budget:
        return None
    return round(value / budget, 2)


def trim(text: str, lines: int = 12, chars: int = 1200) -> str:
    """The end of a command's output: the last lines are the ones that say what happened."""
    text = (text or "").rstrip()
    kept = text.splitlines()[-lines:]
    out = "\n".join(kept)
    if len(out) > chars:
        out = out[-chars:]
    if out != text:
        out = "...\n" + out
    return out


def fence(text: str, lang: str = "") -> str:
    """A markdown code block that survives backticks inside `text`."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text}\n{ticks}"


def md_cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def spark(values: list[float | None]) -> str:
    """A unicode sparkline; a missing value is a space."""
    bars = "▁▂▃▄▅▆▇█"
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(" " if v is None else bars[round((v - low) / span * (len(bars) - 1))]
                   for v in values)
