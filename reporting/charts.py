"""Inline SVG for the summary page: a timeline per scenario, what the faults cost users and
sparklines for the trends.

Plain SVG text with no scripts or external assets, so the page works offline and in any
viewer, and <title> elements give the exact figures on hover.
"""

from __future__ import annotations

import math
from html import escape

from gameday.journal import Figure, Journal, Phase
from gameday.prober import ENDPOINTS
from reporting import cost, journals

PHASE_COLOURS: dict[Phase, str] = {
    Phase.STEADY_STATE: "#8fa7c4", Phase.INJECT: "#6b4fa0", Phase.DETECT: "#d08c2f",
    Phase.ALERT: "#d0612f", Phase.RECOVER: "#3f8f5a", Phase.VALIDATE: "#3c7aa8",
    Phase.RESIDUE: "#7a7a7a", Phase.SUITE: "#999"}
MARKS = (("firing", Figure.TIME_TO_ALERT, "#c60"), ("delivered", Figure.TIME_TO_DELIVERED, "#c60"),
         ("recovered", Figure.TIME_TO_RESOLVE, "#282"),
         ("healed by itself", Figure.TIME_TO_SELF_HEAL, "#282"),
         ("alert resolved", Figure.TIME_TO_ALERT_RESOLVED, "#36c"))
FAIL, OK = "#d33", "#3a3"


def _nice_step(span: float, ticks: int = 8) -> float:
    raw = max(span, 1e-6) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _probe_runs(journal: Journal, endpoint: str, end: float) -> list[tuple[float, float, bool]]:
    """(from, to, ok) stretches of one endpoint; the timeline only records the changes."""
    changes = [o for o in journal.timeline if o["endpoint"] == endpoint]
    runs = []
    for i, o in enumerate(changes):
        until = changes[i + 1]["at"] if i + 1 < len(changes) else end
        runs.append((o["at"], max(until, o["at"]), o["ok"]))
    return runs


def timeline_svg(journal: Journal, width: int = 1040) -> str:
    """Phases as bars on a time axis (0 = injection), probe failures marked in red."""
    injected = journals.injected_at(journal)
    start, end = journal.started_at, journal.ended_at
    if start is None or end is None:
        return '<p class="muted">no phases recorded</p>'
    zero = injected if injected is not None else start
    lo, hi = start - zero, max(end - zero, start - zero + 1.0)
    left, right, row = 120, width - 16, 20
    phases = journal.phases
    rows = len(phases) + len(ENDPOINTS)
    top = 26
    height = top + rows * row + 34

    def x(t: float) -> float:
        return left + (t - lo) / (hi - lo) * (right - left)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="timeline of {escape(journal.scenario)}">']
    step = _nice_step(hi - lo)
    tick = math.ceil(lo / step) * step
    while tick <= hi + 1e-9:
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" '
                     f'y2="{height - 28}" stroke="#e4e4e4"/>'
                     f'<text x="{x(tick):.1f}" y="{height - 14}" class="tick">{tick:g}s</text>')
        tick += step
    for i, p in enumerate(phases):
        y = top + i * row
        a, b = p.started - zero, (p.ended or end) - zero  # a phase cut short has no end
        colour = FAIL if p.ok is False else PHASE_COLOURS[p.name]
        w = max(x(b) - x(a), 2.0)
        label = f"{p.name.value}: {b - a:.2f} s" + (" (failed)" if p.ok is False else "")
        parts.append(f'<text x="{left - 6}" y="{y + 13}" class="lane">{escape(p.name.value)}'
                     f'</text><rect x="{x(a):.1f}" y="{y + 3}" width="{w:.1f}" height="13" '
                     f'rx="2" fill="{colour}"><title>{escape(label)}</title></rect>')
        text_x = x(a) + w + 4 if w < 60 else x(a) + 4
        fill = "#333" if w < 60 else "#fff"
        if text_x < right - 30:
            parts.append(f'<text x="{text_x:.1f}" y="{y + 13}" class="bar" fill="{fill}">'
                         f'{b - a:.1f}s</text>')
    for k, endpoint in enumerate(ENDPOINTS):
        y = top + (len(phases) + k) * row
        parts.append(f'<text x="{left - 6}" y="{y + 13}" class="lane">/{endpoint}</text>')
        for a, b, ok in _probe_runs(journal, endpoint, end):
            colour = OK if ok else FAIL
            state = "ok" if ok else "failing"
            parts.append(f'<rect x="{x(a - zero):.1f}" y="{y + 7}" '
                         f'width="{max(x(b - zero) - x(a - zero), 1.5):.1f}" height="5" '
                         f'fill="{colour}" opacity="{0.45 if ok else 0.9}"><title>/{endpoint} '
                         f'{state} from {a - zero:+.2f} s to {b - zero:+.2f} s</title></rect>')
            if not ok:  # the probe failure itself, as a marker
                cx = x(a - zero)
                parts.append(f'<path d="M{cx - 5:.1f},{y + 1} L{cx + 5:.1f},{y + 1} '
                             f'L{cx:.1f},{y + 8} Z" fill="{FAIL}" class="probe-failure">'
                             f'<title>/{endpoint} failed at {a - zero:+.2f} s</title></path>')
    parts += _markers(journal, zero, x, top, height - 28, right)
    parts.append("</svg>")
    return "".join(parts)


def _markers(journal: Journal, zero: float, x, top: int, bottom: int,
             right: float) -> list[str]:
    injected = journals.injected_at(journal)
    marks = [("injected", None if injected is None else injected - zero, "#222")]
    for label, name, colour in MARKS:
        moment = journals.at(journal, name)
        if moment is not None:
            marks.append((label, moment - zero, colour))
    parts = []
    for n, (label, t, colour) in enumerate(marks):
        if t is None:
            continue
        # Labels that would run past the right edge go left of their line instead.
        text = f"{label} {t:+.1f}s"
        at_edge = x(t) + 3 + len(text) * 5.6 > right + 12
        text_x, anchor = (x(t) - 3, "end") if at_edge else (x(t) + 3, "start")
        parts.append(f'<line x1="{x(t):.1f}" y1="{top - 6}" x2="{x(t):.1f}" y2="{bottom}" '
                     f'stroke="{colour}" stroke-dasharray="4 3"><title>{escape(label)} at '
                     f'{t:+.2f} s</title></line><text x="{text_x:.1f}" y="{10 + (n % 2) * 10}" '
                     f'class="mark" text-anchor="{anchor}" fill="{colour}">{escape(text)}</text>')
    return parts


def sparkline_svg(values: list[float | None], width: int = 120, height: int = 26,
                  label: str = "") -> str:
    """A small line of the last runs' values (oldest left); the newest is a dot."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return '<span class="muted">-</span>'
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span = (high - low) or 1.0
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 3 + i / n * (width - 6), height - 3 - (v - low) / span * (height - 6)

    coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in (xy(i, v) for i, v in points))
    last = xy(*points[-1])
    title = escape(f"{label}: " + ", ".join("-" if v is None else f"{v:.2f}" for v in values))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}"><title>{title}</title>'
            f'<polyline points="{coords}" fill="none" stroke="#3c7aa8" stroke-width="1.5"/>'
            f'<circle cx="{last[0]:.1f}" cy="{last[1]:.1f}" r="2.5" fill="#3c7aa8"/></svg>')


WINDOW_COLOURS = {"before": "#8fa7c4", "during": "#d0612f", "after": "#3f8f5a"}


def impact_svg(rows: list[tuple[str, dict]], width: int = 1040) -> str:
    """Per scenario a bar per window (before, during and after the fault): the availability of
    its inferences on the left, their p95 latency on the right; "no load ran" where none did."""
    left, gap, bar, top = 130, 60, 11, 34
    group = len(cost.WINDOWS) * (bar + 2) + 12
    height = top + len(rows) * group + 22
    panel = (width - left - gap - 70) / 2
    slowest = max((i["windows"][w]["p95_ms"] or 0.0 for _, i in rows if i for w in cost.WINDOWS),
                  default=0.0)
    step = _nice_step(slowest or 1.0, 4)
    scales = (("availability", left, 1.0, 0.25, cost.percent, "availability",
               lambda v: f"{v:.0%}"),
              ("p95 latency", left + panel + gap, math.ceil(slowest / step) * step or step,
               step, cost.ms, "p95_ms", lambda v: f"{v:g} ms"))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="impact" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="what the faults cost users">']
    for title, x0, top_value, tick_step, _, _, tick in scales:
        parts.append(f'<text x="{x0}" y="12" class="mark" fill="#444">{title}</text>')
        for n in range(round(top_value / tick_step) + 1):
            x = x0 + n * tick_step / top_value * panel
            parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" '
                         f'stroke="#e4e4e4"/><text x="{x:.1f}" y="{height - 6}" class="tick">'
                         f'{tick(n * tick_step)}</text>')
    for n, (name, colour) in enumerate(WINDOW_COLOURS.items()):
        x = width - 250 + n * 80
        parts.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="13" class="mark">{name}</text>')
    for k, (scenario, impact) in enumerate(rows):
        y0 = top + k * group
        parts.append(f'<text x="{left - 6}" y="{y0 + group / 2:.1f}" class="lane">'
                     f'{escape(scenario)}</text>')
        if not impact:
            parts.append(f'<text x="{left + 4}" y="{y0 + group / 2:.1f}" class="no-load" '
                         f'fill="#777">{cost.NO_LOAD}</text>')
            continue
        for n, window in enumerate(cost.WINDOWS):
            w, y = impact["windows"][window], y0 + n * (bar + 2)
            for title, x0, top_value, _, show, key, _ in scales:
                value = w[key]
                size = 0.0 if value is None else min(value / top_value, 1.0) * panel
                text = (f"{scenario} {window} the fault: {title} {show(value)} "
                        f"({w['inferences']} inferences, {w['failed']} failed)")
                # A long bar carries its figure inside its end, a short one beside it.
                inside = size > 70
                label_x, anchor = (x0 + size - 4, "end") if inside else (x0 + size + 4, "start")
                parts.append(f'<rect x="{x0}" y="{y}" width="{max(size, 1.0):.1f}" '
                             f'height="{bar}" fill="{WINDOW_COLOURS[window]}">'
                             f'<title>{escape(text)}</title></rect><text x="{label_x:.1f}" '
                             f'y="{y + bar - 2}" class="mark" text-anchor="{anchor}" '
                             f'fill="{"#fff" if inside else "#333"}">{show(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)
