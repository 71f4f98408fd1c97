"""Server-rendered SVG charts, readable on a projector: value/effort matrix, KPI trend, cumulative flow, maturity.

Each builder takes plain data and returns markup (text escaped); every chart has a <title> and <desc> for screen
readers and a table of the same numbers beside it in the page.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Iterable, Mapping, Sequence

from markupsafe import Markup, escape

from govern.queries.states import ACTIVE, EVALUATION, FINAL, PARKED

PALETTE = ["#1565c0", "#6a1b9a", "#b26a00", "#2e7d32", "#455a64", "#8d6e63", "#c62828", "#00838f", "#ad1457"]
# Colours by what a state *is* (its kind in the lifecycle definition), never by its name: the n-th state of a kind
# in lifecycle order takes the n-th colour of that kind, so any organisation's lifecycle gets distinct, meaningful
# colours (work in progress in blues/purples/ambers, evaluation green, parked brown, final greys and red). Each has
# at least 4.5:1 contrast with white text; app.css keys the state badges on the same kinds and positions.
KIND_COLOURS: dict[str, tuple[str, ...]] = {
    ACTIVE: ("#1565c0", "#6a1b9a", "#8a4b00", "#00695c", "#283593", "#ad1457"),
    EVALUATION: ("#1e6b30", "#33691e"),
    PARKED: ("#6d4c41", "#5d4037"),
    FINAL: ("#37474f", "#b3261e", "#4e342e"),
}
FONT = "font-family='system-ui, sans-serif'"


def kind_position(state: str, kinds: Mapping[str, str]) -> tuple[str, int]:
    """A state's kind and its position among the states of that kind, in lifecycle order (`kinds` is ordered)."""
    kind = kinds.get(state, ACTIVE)
    same = [name for name, k in kinds.items() if k == kind]
    return kind, (same.index(state) if state in same else 0)


def state_colour(state: str, kinds: Mapping[str, str]) -> str:
    """The colour of a state from its kind and position (see KIND_COLOURS)."""
    kind, position = kind_position(state, kinds)
    palette = KIND_COLOURS.get(kind, KIND_COLOURS[ACTIVE])
    return palette[position % len(palette)]


def _kinds(states: Sequence[str], kinds: Mapping[str, str] | None) -> Mapping[str, str]:
    """The kinds of the states; without a definition at hand every state counts as active, in the given order."""
    return kinds if kinds is not None else {state: ACTIVE for state in states}


def _fmt(value: float) -> str:
    """A value for a label: as many decimals as it has, up to two (4.25 stays 4.25, never '4.2')."""
    if abs(value) >= 10000:
        return f"{value / 1000:.0f}k" if value % 1000 == 0 or abs(value) >= 100000 else f"{value / 1000:.1f}k"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    if abs(value) < 1:
        return f"{value:.2g}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _tick_labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels with the decimals their spacing needs, the same for every tick (3.75, 4.00, 4.25)."""
    if not ticks:
        return []
    if max(abs(t) for t in ticks) >= 10000:
        return [_fmt(t) for t in ticks]
    decimals = 0
    for t in ticks:
        while decimals < 4 and abs(round(t, decimals) - t) > 1e-9:
            decimals += 1
    return [f"{t:,.{decimals}f}" for t in ticks]


SHAPES = ("circle", "square", "triangle", "diamond", "down", "cross", "star")


def marker(shape: str, cx: float, cy: float, r: float, fill: str) -> str:
    """A point drawn as a shape, so a state reads without its colour (printed in black and white, or colour-blind)."""
    if shape == "square":
        return (f"<rect x='{cx - r * .85:.1f}' y='{cy - r * .85:.1f}' width='{r * 1.7:.1f}' height='{r * 1.7:.1f}' "
                f"fill='{fill}' stroke='#fff' stroke-width='2'/>")
    if shape in ("triangle", "down", "diamond", "star", "cross"):
        if shape == "triangle":
            pts = [(cx, cy - r * 1.1), (cx + r, cy + r * .8), (cx - r, cy + r * .8)]
        elif shape == "down":
            pts = [(cx, cy + r * 1.1), (cx + r, cy - r * .8), (cx - r, cy - r * .8)]
        elif shape == "diamond":
            pts = [(cx, cy - r * 1.2), (cx + r * 1.1, cy), (cx, cy + r * 1.2), (cx - r * 1.1, cy)]
        elif shape == "cross":
            a, b = r * .4, r * 1.1
            pts = [(cx - a, cy - b), (cx + a, cy - b), (cx + a, cy - a), (cx + b, cy - a), (cx + b, cy + a),
                   (cx + a, cy + a), (cx + a, cy + b), (cx - a, cy + b), (cx - a, cy + a), (cx - b, cy + a),
                   (cx - b, cy - a), (cx - a, cy - a)]
        else:
            pts = [(cx + (r * 1.2 if i % 2 == 0 else r * .5) * math.sin(i * math.pi / 5),
                    cy - (r * 1.2 if i % 2 == 0 else r * .5) * math.cos(i * math.pi / 5)) for i in range(10)]
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        return f"<polygon points='{points}' fill='{fill}' stroke='#fff' stroke-width='2'/>"
    return f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='{r}' fill='{fill}' stroke='#fff' stroke-width='2'/>"


def state_shape(state: str, states: Sequence[str] = ()) -> str:
    index = list(states).index(state) if state in states else 0
    return SHAPES[index % len(SHAPES)]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^n apart) covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    out, value = [], first
    while value <= high + 1e-9 * step:
        out.append(round(value, 10))
        value += step
    return out


def _spread_labels(anchors: list[tuple[float, float]], height: float = 17, width: float = 62) -> list[float]:
    """Label y positions nudged apart so that labels of nearby points do not overlap (order kept)."""
    placed: list[tuple[float, float]] = []
    out = []
    for x, y in anchors:
        ly = y
        for _ in range(12):
            clash = next((py for px, py in placed if abs(px - x) < width and abs(py - ly) < height), None)
            if clash is None:
                break
            ly = clash + height
        placed.append((x, ly))
        out.append(ly)
    return out


def _open(width: int, height: int, title: str, desc: str, label: str) -> list[str]:
    return [f"<svg viewBox='0 0 {width} {height}' role='img' aria-labelledby='{label}-t {label}-d' "
            f"class='chart' xmlns='http://www.w3.org/2000/svg' {FONT}>",
            f"<title id='{label}-t'>{escape(title)}</title><desc id='{label}-d'>{escape(desc)}</desc>"]


def value_effort(points: list[dict[str, Any]], value_mid: float, effort_mid: float, states: Sequence[str] = (),
                 titles: dict[str, str] | None = None, axes: dict[str, str] | None = None,
                 kinds: Mapping[str, str] | None = None) -> Markup:
    """Scatter of opportunities: effort (x, lower is better) against value (y), split at the medians; each state has
    its own shape and colour, named in the legend below the plot."""
    titles = titles or {}
    axes = axes or {}
    kinds = _kinds(states, kinds)
    present = [st for st in states if any(p["state"] == st for p in points)]
    legend_rows = math.ceil(len(present) / 4) if present else 0
    width, height, left, right, top, bottom = 760, 500 + 26 * legend_rows, 80, 20, 20, 80 + 26 * legend_rows
    desc = "; ".join(f"{p['key']} value {_fmt(p['value'])} effort {_fmt(p['effort'])} ({p['quadrant']})"
                     for p in points) or "no opportunity has both value and effort recorded"
    if axes:
        desc += ". " + "; ".join(f"{k}: {v}" for k, v in axes.items())
    out = _open(width, height, "Value against effort", desc, "ve")
    if not points:
        out.append(f"<text x='{width / 2}' y='{height / 2}' text-anchor='middle' font-size='20'>"
                   "No opportunity has both value and effort yet</text></svg>")
        return Markup("".join(out))
    xmax = max(p["effort"] for p in points) * 1.15 or 1
    ymax = max(p["value"] for p in points) * 1.12 or 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(v): return left + plot_w * v / xmax

    def y(v): return top + plot_h * (1 - v / ymax)

    out.append(f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='#fafafa' stroke='#555'/>")
    for label, lx, ly, anchor in (("quick wins", left + 8, top + 22, "start"),
                                  ("big bets", left + plot_w - 8, top + 22, "end"),
                                  ("fill-ins", left + 8, top + plot_h - 10, "start"),
                                  ("money pits", left + plot_w - 8, top + plot_h - 10, "end")):
        out.append(f"<text x='{lx}' y='{ly}' text-anchor='{anchor}' font-size='16' fill='#555'>{label}</text>")
    out.append(f"<line x1='{x(effort_mid):.1f}' x2='{x(effort_mid):.1f}' y1='{top}' y2='{top + plot_h}' "
               "stroke='#888' stroke-dasharray='6 4'/>")
    out.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y(value_mid):.1f}' y2='{y(value_mid):.1f}' "
               "stroke='#888' stroke-dasharray='6 4'/>")
    xticks = _ticks(0, xmax)
    for t, text in zip(xticks, _tick_labels(xticks)):
        out.append(f"<text x='{x(t):.1f}' y='{top + plot_h + 22}' text-anchor='middle' font-size='16'>{text}</text>")
    yticks = _ticks(0, ymax)
    for t, text in zip(yticks, _tick_labels(yticks)):
        out.append(f"<text x='{left - 8}' y='{y(t) + 5:.1f}' text-anchor='end' font-size='16'>{text}</text>")
    # Axis titles stay short; what value and effort are made of is said in <desc> and beside the chart.
    out.append(f"<text x='{left + plot_w / 2}' y='{top + plot_h + 48}' text-anchor='middle' font-size='17' "
               "font-weight='600'>Effort →</text>")
    out.append(f"<text transform='translate(20 {top + plot_h / 2}) rotate(-90)' text-anchor='middle' "
               "font-size='17' font-weight='600'>Value →</text>")
    for i, st in enumerate(present):
        lx = left + (i % 4) * (plot_w / 4)
        ly = top + plot_h + 70 + (i // 4) * 26
        out.append(marker(state_shape(st, states), lx + 9, ly - 5, 8, state_colour(st, kinds))
                   + f"<text x='{lx + 24}' y='{ly + 1}' font-size='16'>{escape(titles.get(st, st))}</text>")
    ordered = sorted(points, key=lambda p: (y(p["value"]), x(p["effort"])))
    label_ys = _spread_labels([(x(p["effort"]), y(p["value"])) for p in ordered])
    for p, label_y in zip(ordered, label_ys):
        colour = state_colour(p["state"], kinds)
        px, py = x(p["effort"]), y(p["value"])
        leader = (f"<line x1='{px + 6:.1f}' y1='{py:.1f}' x2='{px + 12:.1f}' y2='{label_y:.1f}' stroke='#777'/>"
                  if abs(label_y - py) > 2 else "")
        out.append(f"<g><title>{escape(p['key'])} {escape(p['title'])}: value {_fmt(p['value'])}, effort "
                   f"{_fmt(p['effort'])}, {escape(titles.get(p['state'], p['state']))}</title>{leader}"
                   + marker(state_shape(p["state"], states), px, py, 9, colour) +
                   f"<text x='{px + 13:.1f}' y='{label_y + 5:.1f}' font-size='15' "
                   f"font-weight='600'>{escape(p['key'])}</text></g>")
    out.append("</svg>")
    return Markup("".join(out))


def kpi_trend(name: str, points: Sequence[tuple[dt.datetime, float]], target: float | None, unit: str | None,
              direction: str, bounds: tuple[float | None, float | None] = (None, None), label: str = "kpi"
              ) -> Markup:
    """A KPI's measurements over time with its target as a dashed line."""
    width, height, left, right, top, bottom = 480, 300, 74, 16, 30, 56
    desc = (f"{name}: " + ", ".join(f"{at:%d %b %Y} {_fmt(v)}" for at, v in points)
            + (f"; target {_fmt(target)} ({direction} is better)" if target is not None else ""))
    out = _open(width, height, f"{name} over time", desc, label)
    if not points:
        out.append(f"<text x='{width / 2}' y='{height / 2}' text-anchor='middle' font-size='16'>"
                   "No measurements yet</text></svg>")
        return Markup("".join(out))
    values = [v for _, v in points] + ([target] if target is not None else [])
    lo, hi = min(values), max(values)
    if bounds[0] is not None and bounds[1] is not None and (bounds[1] - bounds[0]) <= 3 * max(hi - lo, 1e-9):
        lo, hi = bounds
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1
    lo, hi = lo - pad, hi + pad
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t): return left + plot_w * ((t - t0).total_seconds() / span if len(points) > 1 else 0.5)

    def y(v): return top + plot_h * (1 - (v - lo) / (hi - lo))

    out.append(f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='#fafafa' stroke='#555'/>")
    yticks = [t for t in _ticks(lo, hi, 4) if lo <= t <= hi]
    for t, text in zip(yticks, _tick_labels(yticks)):
        out.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y(t):.1f}' y2='{y(t):.1f}' stroke='#e0e0e0'/>"
                   f"<text x='{left - 6}' y='{y(t) + 5:.1f}' text-anchor='end' font-size='16'>{text}</text>")
    out.append(f"<text transform='translate(16 {top + plot_h / 2}) rotate(-90)' text-anchor='middle' "
               f"font-size='15'>{escape(unit or 'value')}</text>")
    out.append(f"<text x='{left}' y='{top + plot_h + 22}' font-size='16'>{t0:%b %Y}</text>")
    out.append(f"<text x='{left + plot_w}' y='{top + plot_h + 22}' text-anchor='end' font-size='16'>{t1:%b %Y}</text>")
    out.append(f"<text x='{left + plot_w / 2}' y='{height - 8}' text-anchor='middle' font-size='15'>measured</text>")
    # legend: the line with dots is the measurements, the dashed line the target
    out.append(f"<line x1='{left}' x2='{left + 22}' y1='{top - 14}' y2='{top - 14}' stroke='#1565c0' stroke-width='3'/>"
               f"<circle cx='{left + 11}' cy='{top - 14}' r='4' fill='#1565c0'/>"
               f"<text x='{left + 28}' y='{top - 9}' font-size='15'>measured</text>")
    if target is not None:
        out.append(f"<line x1='{left + 130}' x2='{left + 152}' y1='{top - 14}' y2='{top - 14}' stroke='#2e7d32' "
                   f"stroke-width='2' stroke-dasharray='6 4'/><text x='{left + 158}' y='{top - 9}' font-size='15'>"
                   f"target ({'higher' if direction == 'higher' else 'lower'} is better)</text>")
    if target is not None:
        out.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y(target):.1f}' y2='{y(target):.1f}' "
                   "stroke='#2e7d32' stroke-width='2' stroke-dasharray='8 5'/>"
                   f"<text x='{left + plot_w - 4}' y='{y(target) - 6:.1f}' text-anchor='end' font-size='16' "
                   f"fill='#1b5e20'>target {_fmt(target)}{escape(' ' + unit) if unit else ''}</text>")
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(points))
    out.append(f"<path d='{path}' fill='none' stroke='#1565c0' stroke-width='3'/>")
    for t, v in points:
        out.append(f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='4' fill='#1565c0'><title>{t:%d %b %Y}: "
                   f"{_fmt(v)}</title></circle>")
    out.append("</svg>")
    return Markup("".join(out))


PATTERNS = ("", "stripes", "dots", "grid", "back", "", "stripes", "dots", "grid")


def _pattern_defs(states: Sequence[str], kinds: Mapping[str, str]) -> str:
    """Hatching per state, drawn over its colour, so neighbouring bands differ by more than hue."""
    defs = []
    for i, st in enumerate(states):
        kind = PATTERNS[i % len(PATTERNS)]
        colour = state_colour(st, kinds)
        if kind == "stripes":
            body = "<path d='M0,8 L8,0' stroke='#fff' stroke-width='2'/>"
        elif kind == "back":
            body = "<path d='M0,0 L8,8' stroke='#fff' stroke-width='2'/>"
        elif kind == "dots":
            body = "<circle cx='4' cy='4' r='1.6' fill='#fff'/>"
        elif kind == "grid":
            body = "<path d='M0,4 H8 M4,0 V8' stroke='#fff' stroke-width='1.2'/>"
        else:
            body = ""
        defs.append(f"<pattern id='cfd-p{i}' width='8' height='8' patternUnits='userSpaceOnUse'>"
                    f"<rect width='8' height='8' fill='{colour}'/>{body}</pattern>")
    return "<defs>" + "".join(defs) + "</defs>"


def cumulative_flow(days: Sequence[dt.date], counts: dict[str, list[int]], states: Sequence[str],
                    titles: dict[str, str] | None = None, kinds: Mapping[str, str] | None = None,
                    opportunities: str = "opportunities") -> Markup:
    """Opportunities per state over time, stacked (the first state at the bottom); colour and hatching per state.
    `opportunities` is the organisation's word for them (the chart's title)."""
    titles = titles or {}
    kinds = _kinds(states, kinds)
    width, height, left, right, top, bottom = 760, 380, 60, 170, 16, 58
    desc = ("; ".join(f"{titles.get(s) or s.replace('_', ' ').capitalize()}: {counts[s][-1]} now"
                      for s in states if s in counts) if days else "no history yet")
    out = _open(width, height, f"{opportunities[:1].upper()}{opportunities[1:]} per state over time (cumulative flow)",
                desc, "cfd")
    if len(days) < 2:
        out.append(f"<text x='{width / 2}' y='{height / 2}' text-anchor='middle' font-size='16'>"
                   "Not enough history yet</text></svg>")
        return Markup("".join(out))
    total = max(sum(counts[s][i] for s in states if s in counts) for i in range(len(days))) or 1
    plot_w, plot_h = width - left - right, height - top - bottom
    out.append(_pattern_defs(states, kinds))

    def x(i): return left + plot_w * i / (len(days) - 1)

    def y(v): return top + plot_h * (1 - v / total)

    base = [0] * len(days)
    for s in states:
        if s not in counts:
            continue
        upper = [base[i] + counts[s][i] for i in range(len(days))]
        pts = [f"{x(i):.1f},{y(upper[i]):.1f}" for i in range(len(days))]
        pts += [f"{x(i):.1f},{y(base[i]):.1f}" for i in reversed(range(len(days)))]
        out.append(f"<polygon points='{' '.join(pts)}' fill='url(#cfd-p{list(states).index(s)})'>"
                   f"<title>{escape(titles.get(s, s))}</title></polygon>")
        base = upper
    out.append(f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#555'/>")
    for t in _ticks(0, total, min(total, 5)):
        if t != int(t):
            continue
        out.append(f"<text x='{left - 6}' y='{y(t) + 5:.1f}' text-anchor='end' font-size='15'>{t:.0f}</text>")
    out.append(f"<text x='{left}' y='{top + plot_h + 20}' font-size='15'>{days[0]:%d %b %Y}</text>")
    out.append(f"<text x='{left + plot_w}' y='{top + plot_h + 20}' text-anchor='end' font-size='15'>"
               f"{days[-1]:%d %b %Y}</text>")
    out.append(f"<text x='{left + plot_w / 2}' y='{height - 8}' text-anchor='middle' font-size='15'>day</text>")
    out.append(f"<text transform='translate(16 {top + plot_h / 2}) rotate(-90)' text-anchor='middle' "
               "font-size='15'>number in each state</text>")
    for n, s in enumerate(s for s in reversed(states) if s in counts):
        ly = top + 10 + n * 24
        out.append(f"<rect x='{left + plot_w + 14}' y='{ly}' width='18' height='18' "
                   f"fill='url(#cfd-p{list(states).index(s)})' stroke='#333'/>"
                   f"<text x='{left + plot_w + 38}' y='{ly + 14}' font-size='15'>{escape(titles.get(s, s))} "
                   f"({counts[s][-1]})</text>")
    out.append("</svg>")
    return Markup("".join(out))


def flow_series(transitions: Iterable[tuple[int, dt.datetime, str]], states: Sequence[str], today: dt.date,
                samples: int = 40) -> tuple[list[dt.date], dict[str, list[int]]]:
    """From (opportunity id, at, to_state) rows, how many opportunities were in each state at the end of each day."""
    rows = sorted(transitions, key=lambda r: (r[1], r[0]))
    if not rows:
        return [], {}
    start = rows[0][1].date()
    span = max((today - start).days, 1)
    step = max(span // samples, 1)
    days = [start + dt.timedelta(days=d) for d in range(0, span + 1, step)]
    if days[-1] != today:
        days.append(today)
    counts = {s: [0] * len(days) for s in states}
    current: dict[int, str] = {}
    index = 0
    for i, day in enumerate(days):
        end = dt.datetime.combine(day, dt.time.max)
        while index < len(rows) and rows[index][1] <= end:
            current[rows[index][0]] = rows[index][2]
            index += 1
        for state in current.values():
            counts.setdefault(state, [0] * len(days))[i] += 1
    return days, {s: c for s, c in counts.items() if any(c)}


def maturity_bars(signals: list[dict[str, Any]], stage: int) -> Markup:
    """Each maturity signal as a bar (0-100 %) with the next stage's requirement marked."""
    width, row, left = 1060, 44, 530
    height = 30 + row * len(signals)
    desc = f"stage {stage}; " + "; ".join(
        s["label"] + ": " + ("no data" if s["value"] is None else f"{s['value'] * 100:.0f}%") for s in signals)
    out = _open(width, height, "Maturity signals", desc, "mat")
    bar_w = width - left - 80
    for i, s in enumerate(signals):
        y = 16 + i * row
        out.append(f"<text x='{left - 10}' y='{y + 20}' text-anchor='end' font-size='15'>{escape(s['label'])}</text>")
        out.append(f"<rect x='{left}' y='{y + 4}' width='{bar_w}' height='22' fill='#eceff1' stroke='#90a4ae'/>")
        if s["value"] is not None:
            ok = s.get("required") is None or s["value"] >= s["required"]
            out.append(f"<rect x='{left}' y='{y + 4}' width='{bar_w * min(s['value'], 1):.1f}' height='22' "
                       f"fill='{'#2e7d32' if ok else '#b26a00'}'/>")
            out.append(f"<text x='{left + bar_w + 8}' y='{y + 21}' font-size='15'>{s['value'] * 100:.0f}%</text>")
        else:
            out.append(f"<text x='{left + 8}' y='{y + 21}' font-size='14' fill='#455a64'>no data</text>")
        if s.get("required") is not None:
            rx = left + bar_w * s["required"]
            out.append(f"<line x1='{rx:.1f}' x2='{rx:.1f}' y1='{y}' y2='{y + 30}' stroke='#212121' stroke-width='3'>"
                       f"<title>needed for the next stage: {s['required'] * 100:.0f}%</title></line>")
    out.append("</svg>")
    return Markup("".join(out))


# --- the journey map's emotion curve -----------------------------------------------------------------------------------

EMOTION_MIN, EMOTION_MAX = -2.0, 2.0  # the emotion and sentiment scale (-2 very negative … +2 very positive)
PERSONA_DASHES = ("6 4", "2 3", "10 3 2 3", "1 5", "8 2")  # tell persona lines apart without colour


def emotion_word(score: float) -> str:
    """A score on the -2..+2 scale in words."""
    if score <= -1.25:
        return "very negative"
    if score < -0.25:
        return "negative"
    if score <= 0.25:
        return "neutral"
    return "positive" if score < 1.25 else "very positive"


def emotion_curve(steps: Sequence[tuple[str, float | None]], personas: Sequence[tuple[str, Mapping[int, float]]] = (),
                  label: str = "emotion") -> Markup:
    """The emotion curve across a journey's steps: one column of 100 units per step (the map's step columns are
    equal, so the SVG stretches with them: lines keep their width with non-scaling strokes), the steps' emotion
    scores as a solid line with round dots, each persona's line dashed (its scores by step index). Steps without a
    score break the line. Names are escaped; the numbers are also in the page, under each step."""
    n = max(1, len(steps))
    width, height = n * 100, 100

    def y(score: float) -> float:
        score = min(EMOTION_MAX, max(EMOTION_MIN, score))
        return round(10 + (EMOTION_MAX - score) / (EMOTION_MAX - EMOTION_MIN) * 80, 2)

    def runs(values: Mapping[int, float]) -> list[list[tuple[float, float]]]:
        out: list[list[tuple[float, float]]] = []
        for i in range(n):
            if i in values:
                point = (i * 100 + 50, y(values[i]))
                if out and out[-1] and out[-1][-1][0] == (i - 1) * 100 + 50:
                    out[-1].append(point)
                else:
                    out.append([point])
        return out

    def path(points: list[tuple[float, float]]) -> str:
        if len(points) == 1:  # one point: a zero-length segment, drawn as a round dot by its cap
            return f"M{points[0][0]} {points[0][1]}h0"
        return "M" + " L".join(f"{x} {yy}" for x, yy in points)

    scored = {i: s for i, (_name, s) in enumerate(steps) if s is not None}
    said = "; ".join(f"{name}: {'no score' if s is None else f'{s:+.1f} ({emotion_word(s)})'}" for name, s in steps)
    lens = "; ".join(f"{name} (from evidence sentiment): "
                     + ", ".join(f"{steps[i][0]} {v:+.1f}" for i, v in sorted(values.items()))
                     for name, values in personas)
    desc = f"Emotion by step on the scale -2 (very negative) to +2 (very positive). {said}." + (
        f" Per persona: {lens}." if lens else "")
    out = [f"<svg viewBox='0 0 {width} {height}' preserveAspectRatio='none' role='img' "
           f"aria-labelledby='{label}-t {label}-d' class='emotion-curve' xmlns='http://www.w3.org/2000/svg'>",
           f"<title id='{label}-t'>{escape('Emotion curve')}</title><desc id='{label}-d'>{escape(desc)}</desc>"]
    for score, cls in ((EMOTION_MAX, "grid"), (0.0, "grid zero"), (EMOTION_MIN, "grid")):
        out.append(f"<path class='{cls}' d='M0 {y(score)} H{width}' vector-effect='non-scaling-stroke'/>")
    for k, (name, values) in enumerate(personas):
        dash = PERSONA_DASHES[k % len(PERSONA_DASHES)]
        colour = PALETTE[(k + 1) % len(PALETTE)]
        points = {i: v for i, v in values.items() if 0 <= i < n}
        for run in runs(points):
            if len(run) > 1:
                out.append(f"<path class='persona-line' d='{path(run)}' stroke='{colour}' stroke-dasharray='{dash}' "
                           f"vector-effect='non-scaling-stroke'><title>{escape(name)} (from evidence sentiment)"
                           "</title></path>")
        for i, v in sorted(points.items()):  # each point marked, so a step alone between gaps still shows
            out.append(f"<path class='persona-dot' d='M{i * 100 + 50} {y(v)}h0' stroke='{colour}' "
                       f"vector-effect='non-scaling-stroke'><title>{escape(name)} on {escape(steps[i][0])}: "
                       f"{v:+.1f} (from evidence sentiment)</title></path>")
    for run in runs(scored):
        out.append(f"<path class='emotion-line' d='{path(run)}' vector-effect='non-scaling-stroke'/>")
    for i, s in scored.items():
        out.append(f"<path class='emotion-dot' d='M{i * 100 + 50} {y(s)}h0' vector-effect='non-scaling-stroke'>"
                   f"<title>{escape(steps[i][0])}: {s:+.1f} ({emotion_word(s)})</title></path>")
    out.append("</svg>")
    return Markup("".join(out))
