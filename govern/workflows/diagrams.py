"""Lifecycle diagrams: Mermaid text and a self-contained SVG (no graphviz), with guards and approvers on the edges.

The SVG layout is layered and meant for a projector: the main path (the longest path from the initial state to a
final state) runs left to right in one row, with each forward step's trigger, guards, approval and effects written
above its arrow; steps back arc over the top; states off the main path (parked, rejected …) sit in a second row with
how to get there written under them. The playbook and the web UI embed the same SVG.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Mapping
from html import escape  # quotes too: titles land in attributes (aria-label) as well as text

from govern.workflows import approvals
from govern.workflows.definition import Definition, TransitionDef
from govern.workflows.engine import Lifecycle


def _definition(lifecycle: Lifecycle | Definition) -> Definition:
    return lifecycle.definition if isinstance(lifecycle, Lifecycle) else lifecycle


def edge_lines(t: TransitionDef, words=None, names: Mapping[str, str] | None = None) -> list[str]:
    """What an edge says, line by line: guards (by title, in the organisation's `words`), approval (named people by
    name from `names`, handle → name), reason, effects (shared by both formats)."""
    lines = [g.label(words) for g in t.guards]
    if t.approval:
        lines.append("approved by " + approvals.short_rule(t.approval, names))
    if t.requires_reason:
        lines.append("reason required")
    if t.auto:
        lines.append("requested automatically")
    if t.effects:
        lines.append("then " + ", ".join(e.label() for e in t.effects))
    return lines


# --- Mermaid -----------------------------------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    # Mermaid state labels end at ':' and ';' and treat '#' specially; keep plain words.
    return (text.replace(":", " -").replace(";", ",").replace("#", "").replace("≥", ">=")
            .replace("<", "&lt;").replace(">=", "≥"))


def _titles(d: Definition, names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(d.states[n].title if n in d.states and d.states[n].title else n for n in names)


def _state_title(d: Definition, name: str) -> str:
    return _titles(d, [name])


def to_mermaid(lifecycle: Lifecycle | Definition, *, words=None, names: Mapping[str, str] | None = None) -> str:
    """A `stateDiagram-v2` for Markdown (the playbook) and the UI: states and transitions by their titles."""
    d = _definition(lifecycle)
    out = ["stateDiagram-v2", "    direction LR"]
    for name, state in d.states.items():
        out.append(f"    {name} : <b>{_mermaid_text(state.title or name)}</b><br/>{_mermaid_text(state.description)}")
    out.append(f"    [*] --> {d.initial}")
    for t in d.transitions:
        label = "<br/>".join([f"<b>{_mermaid_text(t.display_title)}</b>"]
                             + [_mermaid_text(x) for x in edge_lines(t, words, names)])
        for src in t.sources:
            out.append(f"    {src} --> {t.dest} : {label}")
    for name in d.final:
        out.append(f"    {name} --> [*]")
    return "\n".join(out) + "\n"


# --- SVG ---------------------------------------------------------------------------------------------------------------

PITCH = 330  # distance between columns of the main row
BOX_W = 210
NAME_SIZE = 19
TEXT_SIZE = 13
LINE = 17
MARGIN = 40
COLOURS = {
    "box": "#f4f7fb", "stroke": "#2b4c7e", "final": "#1f6f43", "side": "#fbf6ee", "side_stroke": "#9a6a1f",
    "text": "#1b1b1b", "muted": "#4a4a4a", "approval": "#6b2fa3", "effect": "#1f6f43", "edge": "#2b4c7e",
    "back": "#a33b2f",
}


@dataclass
class _Box:
    name: str
    x: float
    y: float
    w: float
    h: float
    side: bool

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


def _main_path(d: Definition) -> list[str]:
    """The longest simple path from the initial state, preferring one that ends in a final state."""
    best: list[str] = [d.initial]
    best_final: list[str] = [d.initial] if d.initial in d.final else []
    budget = [20000]

    def walk(path: list[str]) -> None:
        nonlocal best, best_final
        budget[0] -= 1
        if budget[0] < 0:
            return
        here = path[-1]
        if len(path) > len(best):
            best = list(path)
        if here in d.final and len(path) > len(best_final):
            best_final = list(path)
        for t in d.transitions_from(here):
            if t.dest not in path:
                walk(path + [t.dest])

    walk([d.initial])
    return best_final or best


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width) or [""]


def _text(x: float, y: float, text: str, *, size: int = TEXT_SIZE, colour: str = COLOURS["text"],
          weight: str = "normal", anchor: str = "middle", italic: bool = False) -> str:
    style = ' font-style="italic"' if italic else ""
    return (f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" fill="{colour}" font-weight="{weight}" '
            f'text-anchor="{anchor}"{style}>{escape(text)}</text>')


def _label_block(x: float, y_bottom: float, t: TransitionDef, width_chars: int = 40, words=None,
                 names: Mapping[str, str] | None = None) -> tuple[list[str], float]:
    """An edge label stacked upwards from `y_bottom`, centred on x; returns (svg parts, top y)."""
    rows: list[tuple[str, str, str, int]] = [(t.display_title, COLOURS["text"], "bold", TEXT_SIZE + 2)]
    for g in t.guards:
        rows.append(("• " + g.label(words), COLOURS["muted"], "normal", TEXT_SIZE))
    if t.approval:
        for line in _wrap("✔ approved by " + approvals.short_rule(t.approval, names), width_chars):
            rows.append((line, COLOURS["approval"], "bold", TEXT_SIZE))
    if t.requires_reason:
        rows.append(("reason required", COLOURS["muted"], "normal", TEXT_SIZE))
    if t.auto:
        rows.append(("requested automatically", COLOURS["muted"], "normal", TEXT_SIZE))
    if t.effects:
        for line in _wrap("→ " + ", ".join(e.label() for e in t.effects), width_chars):
            rows.append((line, COLOURS["effect"], "normal", TEXT_SIZE - 1))
    parts = []
    y = y_bottom - LINE * (len(rows) - 1)
    top = y - LINE
    for text, colour, weight, size in rows:
        parts.append(_text(x, y, text, size=size, colour=colour, weight=weight))
        y += LINE
    return parts, top


def to_svg(lifecycle: Lifecycle | Definition, *, words=None, names: Mapping[str, str] | None = None) -> str:
    """A standalone SVG drawing of the lifecycle, readable on a projector."""
    d = _definition(lifecycle)
    spine = _main_path(d)
    side = [s for s in d.states if s not in spine]

    def box_height(name: str) -> float:
        return 44 + LINE * len(_wrap(d.states[name].description, 30))

    spine_h = max(box_height(s) for s in spine)
    side_h = max((box_height(s) for s in side), default=0)

    forward = [t for t in d.transitions for s in t.sources
               if s in spine and t.dest in spine and spine.index(t.dest) == spine.index(s) + 1]
    label_heights = [LINE - _label_block(0, 0, t, width_chars=34)[1] for t in forward] or [0]
    back_edges = [(s, t) for t in d.transitions for s in t.sources
                  if s in spine and t.dest in spine and spine.index(t.dest) <= spine.index(s)]
    skip_edges = [(s, t) for t in d.transitions for s in t.sources
                  if s in spine and t.dest in spine and spine.index(t.dest) > spine.index(s) + 1]
    arc_rows = len(back_edges) + len(skip_edges)

    title_h = 70
    arc_zone = arc_rows * 46 + (20 if arc_rows else 0)
    spine_y = title_h + arc_zone + max(label_heights) + 30
    side_y = spine_y + spine_h + 150
    # Side labels: how to get into each side state (and out of it) under its box.
    side_labels: dict[str, list[TransitionDef]] = {s: [] for s in side}
    for t in d.transitions:
        if t.dest in side_labels:
            side_labels[t.dest].append(t)
    side_label_h = max((sum(LINE * (4 + len(edge_lines(t))) for t in ts) for ts in side_labels.values()), default=0)
    # Transitions out of side states back into the spine are listed under the side box as well.
    out_of_side = {s: [t for t in d.transitions if s in t.sources] for s in side}
    side_out_h = max((LINE * sum(2 + len(edge_lines(t)) for t in ts) for ts in out_of_side.values()), default=0)

    width = MARGIN * 2 + PITCH * (len(spine) - 1) + BOX_W + 40
    if side:
        width = max(width, MARGIN * 2 + len(side) * PITCH)
    height = (side_y + side_h + side_label_h + side_out_h + 60) if side else (spine_y + spine_h + 80)

    boxes: dict[str, _Box] = {}
    x0 = MARGIN + 40
    for i, name in enumerate(spine):
        boxes[name] = _Box(name, x0 + i * PITCH, spine_y, BOX_W, spine_h, False)
    if side:
        # Centre each side state under the spine states it connects to, then spread them out so none overlap.
        wanted = []
        for name in side:
            cols = [spine.index(s) for t in d.transitions for s in t.sources if t.dest == name and s in spine]
            cols += [spine.index(t.dest) for t in d.transitions if name in t.sources and t.dest in spine]
            wanted.append((sum(cols) / len(cols) if cols else 0, name))
        wanted.sort()
        last_x = -1e9
        for col, name in wanted:
            x = max(x0 + col * PITCH, last_x + PITCH)
            boxes[name] = _Box(name, x, side_y, BOX_W, side_h, True)
            last_x = x
        width = max(width, last_x + BOX_W + MARGIN * 2)

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" role="img" '
        f'aria-label="{escape(d.title)} lifecycle">',
        f"<title>{escape(d.title)}</title>",
        "<defs>",
        *(f'<marker id="arrow-{k}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" '
          f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{c}"/></marker>'
          for k, c in (("edge", COLOURS["edge"]), ("back", COLOURS["back"]), ("side", COLOURS["side_stroke"]))),
        "</defs>",
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        _text(MARGIN, 38, f"{d.title}", size=24, weight="bold", anchor="start"),
    ]

    # Forward steps along the main row, labelled above.
    for i in range(len(spine) - 1):
        a, b = boxes[spine[i]], boxes[spine[i + 1]]
        y = a.y + 34
        ts = [t for t in d.transitions if spine[i] in t.sources and t.dest == spine[i + 1]]
        for t in ts:
            dash = ' stroke-dasharray="8 5"' if t.auto else ""
            parts.append(f'<line x1="{a.x + a.w:.0f}" y1="{y:.0f}" x2="{b.x:.0f}" y2="{y:.0f}" '
                         f'stroke="{COLOURS["edge"]}" stroke-width="2.5"{dash} marker-end="url(#arrow-edge)"/>')
            label, _ = _label_block((a.x + a.w + b.x) / 2, a.y - 14, t, width_chars=34, words=words, names=names)
            parts.extend(label)

    # Steps back (and skips ahead) arc over the top, one lane each.
    lane_y = title_h + 20
    for src, t in back_edges + skip_edges:
        a, b = boxes[src], boxes[t.dest]
        back = spine.index(t.dest) <= spine.index(src)
        colour, marker = (COLOURS["back"], "back") if back else (COLOURS["edge"], "edge")
        xa, xb = a.cx + 20, b.cx - 20
        parts.append(f'<path d="M {xa:.0f} {a.y:.0f} L {xa:.0f} {lane_y:.0f} L {xb:.0f} {lane_y:.0f} '
                     f'L {xb:.0f} {b.y:.0f}" fill="none" stroke="{colour}" stroke-width="2.5" '
                     f'marker-end="url(#arrow-{marker})"/>')
        text = " · ".join([t.display_title] + edge_lines(t, words, names))
        parts.append(f'<rect x="{(xa + xb) / 2 - len(text) * 3.6:.0f}" y="{lane_y - 14:.0f}" '
                     f'width="{len(text) * 7.2:.0f}" height="20" fill="white"/>')
        parts.append(_text((xa + xb) / 2, lane_y + 2, text, colour=colour, weight="bold"))
        lane_y += 46

    # Side states: lines from every source, and the way in (and out) written under the box.
    for name in side:
        box = boxes[name]
        for t in side_labels[name]:
            for src in t.sources:
                a = boxes[src]
                parts.append(f'<line x1="{a.cx:.0f}" y1="{a.y + a.h:.0f}" x2="{box.cx:.0f}" y2="{box.y:.0f}" '
                             f'stroke="{COLOURS["side_stroke"]}" stroke-width="1.6" stroke-opacity="0.7" '
                             f'marker-end="url(#arrow-side)"/>')
        for t in out_of_side[name]:
            if t.dest in boxes and not boxes[t.dest].side:
                b = boxes[t.dest]
                parts.append(f'<path d="M {box.x + 20:.0f} {box.y:.0f} L {b.x + 20:.0f} {b.y + b.h:.0f}" fill="none" '
                             f'stroke="{COLOURS["back"]}" stroke-width="2" stroke-dasharray="3 4" '
                             f'marker-end="url(#arrow-back)"/>')
        y = box.y + box.h + 24
        for t in side_labels[name]:
            for w in _wrap(f"in: {t.display_title} (from {_titles(d, t.sources)})", 40):
                parts.append(_text(box.cx, y, w, weight="bold"))
                y += LINE
            for line in edge_lines(t, words, names):
                for w in _wrap(line, 44):
                    colour = COLOURS["approval"] if line.startswith("approved") else COLOURS["muted"]
                    parts.append(_text(box.cx, y, w, colour=colour))
                    y += LINE
            y += 6
        for t in out_of_side[name]:
            parts.append(_text(box.cx, y, f"out: {t.display_title} → {_state_title(d, t.dest)}", weight="bold",
                               colour=COLOURS["back"]))
            y += LINE
            for line in edge_lines(t, words, names):
                parts.append(_text(box.cx, y, line, colour=COLOURS["muted"]))
                y += LINE

    # Boxes last, so they sit on top of the lines.
    for name, box in boxes.items():
        final = name in d.final
        stroke = COLOURS["final"] if final else (COLOURS["side_stroke"] if box.side else COLOURS["stroke"])
        fill = COLOURS["side"] if box.side else COLOURS["box"]
        parts.append(f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="12" '
                     f'fill="{fill}" stroke="{stroke}" stroke-width="{3 if final else 2}"/>')
        if final:
            parts.append(f'<rect x="{box.x + 5:.0f}" y="{box.y + 5:.0f}" width="{box.w - 10:.0f}" '
                         f'height="{box.h - 10:.0f}" rx="9" fill="none" stroke="{stroke}" stroke-width="1.5"/>')
        parts.append(_text(box.cx, box.y + 30, d.states[name].title or name.replace("_", " "), size=NAME_SIZE,
                           weight="bold"))
        y = box.y + 30 + LINE + 4
        for line in _wrap(d.states[name].description, 30):
            parts.append(_text(box.cx, y, line, size=TEXT_SIZE - 1, colour=COLOURS["muted"]))
            y += LINE

    start = boxes[d.initial]
    parts.append(f'<circle cx="{start.x - 26:.0f}" cy="{start.y + 34:.0f}" r="9" fill="{COLOURS["text"]}"/>')
    parts.append(f'<line x1="{start.x - 17:.0f}" y1="{start.y + 34:.0f}" x2="{start.x:.0f}" y2="{start.y + 34:.0f}" '
                 f'stroke="{COLOURS["text"]}" stroke-width="2" marker-end="url(#arrow-edge)"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
