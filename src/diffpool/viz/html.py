"""The assignment figure as one self-contained HTML page (inline SVG, CSS and JavaScript; no network).

Hovering an input node shows its cluster probabilities (row of S of level 1) and highlights its
cluster; hovering a coarsened node shows its mass and the level-1 clusters it is made of. Every
string that comes from the user (node names from GraphML, file names, titles) is escaped with
:func:`html.escape` where it enters markup, and the JSON the script reads is written with ``<``,
``>`` and ``&`` as unicode escapes so that no name can close the ``<script>`` element.
"""

from __future__ import annotations

import base64
import io
import json
import math
from html import escape
from pathlib import Path

import numpy as np

from .assignments import (
    AssignmentView,
    LevelView,
    _cluster_name,
    _draw_heatmap,
    _drawn_edges,
    _radius,
    _suptitle,
)

__all__ = ["assignment_html", "write_assignment_html"]

_INPUT_SIZE = 640
_LEVEL_SIZE = 380
_TOP_PROBABILITIES = 8
_MAX_EDGES = 4000
# Cluster labels of the level panels: font size, baseline below the circle, and the room they take
# (a generous width per character, the part below the baseline), all in SVG pixels.
_LABEL_FONT = 10
_LABEL_DROP = 11.0
_LABEL_CHAR_WIDTH = 0.65 * _LABEL_FONT
_LABEL_DESCENT = 3.0
_VIEW_MARGIN = 3.0


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(round(255 * float(v))):02x}" for v in rgb[:3])


def _script_json(obj) -> str:
    """JSON safe to place inside ``<script>``: no ``<``, ``>`` or ``&`` characters at all."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _xy(point, size: int, pad: float) -> tuple[float, float]:
    """Layout coordinates ([0, 1]², y up) → SVG pixels (y down)."""
    span = size - 2 * pad
    return round(pad + float(point[0]) * span, 2), round(pad + (1 - float(point[1])) * span, 2)


def _input_svg(view: AssignmentView, colours: dict[int, str]) -> str:
    n, size, pad = view.num_nodes, _INPUT_SIZE, 24.0
    edges = view.edges
    if len(edges) > _MAX_EDGES:
        keep = np.random.default_rng(0).choice(len(edges), _MAX_EDGES, replace=False)
        edges = edges[np.sort(keep)]
    opacity = 0.5 if n <= 100 else (0.25 if n <= 500 else 0.12)
    radius = float(np.clip(170 / math.sqrt(max(n, 1)), 2.0, 11.0))
    out = [
        f'<svg class="panel" id="input" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="input graph">',
        f'<g class="edges" stroke="#777" stroke-opacity="{opacity}" '
        f'stroke-width="{1.0 if n <= 100 else 0.5}">',
    ]
    for i, j in edges:
        (x1, y1), (x2, y2) = _xy(view.positions[i], size, pad), _xy(view.positions[j], size, pad)
        out.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
    out.append('</g><g class="nodes">')
    for i in range(n):
        x, y = _xy(view.positions[i], size, pad)
        c = int(view.cluster[i])
        conf = float(view.confidence[i])
        tip = f"{view.node_names[i]}: cluster c{c} (S = {conf:.2f})"
        out.append(
            f'<circle class="node" data-i="{i}" data-c="{c}" cx="{x}" cy="{y}" r="{radius:.1f}" '
            f'fill="{colours[c]}" fill-opacity="{max(conf, 0.15):.3f}" stroke="#222" stroke-width="0.6">'
            f"<title>{escape(tip)}</title></circle>"
        )
    out.append("</g>")
    if n <= 40:
        out.append('<g class="labels" font-size="9" text-anchor="middle" pointer-events="none">')
        for i in range(n):
            x, y = _xy(view.positions[i], size, pad)
            out.append(f'<text x="{x}" y="{y + 3}">{escape(view.node_names[i][:8])}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _arc(cx: float, cy: float, r: float, start: float, end: float) -> str:
    """SVG path of a pie wedge from angle ``start`` to ``end`` (radians, clockwise from 12 o'clock)."""
    if end - start >= 2 * math.pi - 1e-9:
        return (
            f"M {cx - r:.2f} {cy:.2f} a {r:.2f} {r:.2f} 0 1 0 {2 * r:.2f} 0 "
            f"a {r:.2f} {r:.2f} 0 1 0 {-2 * r:.2f} 0 Z"
        )
    x1, y1 = cx + r * math.sin(start), cy - r * math.cos(start)
    x2, y2 = cx + r * math.sin(end), cy - r * math.cos(end)
    large = 1 if end - start > math.pi else 0
    return f"M {cx:.2f} {cy:.2f} L {x1:.2f} {y1:.2f} A {r:.2f} {r:.2f} 0 {large} 1 {x2:.2f} {y2:.2f} Z"


def _label(level: LevelView, c: int) -> str:
    return f"{_cluster_name(level.level, c)} ({level.mass[c]:.1f})"


def _level_view_box(level: LevelView, radius_of: dict[int, float], size: int, pad: float) -> str:
    """A square viewBox around ``[0, size]²`` widened evenly until every cluster and its label fit.

    Heavy clusters have radii larger than the padding, so a circle near the layout's edge would be
    clipped by a ``0 0 size size`` box; the wider box scales the panel down a little instead.
    """
    labelled = len(level.used) <= 40
    overflow = 0.0
    for c, r in radius_of.items():
        cx, cy = _xy(level.positions[c], size, pad)
        half_width = max(r, _LABEL_CHAR_WIDTH * len(_label(level, c)) / 2 if labelled else 0.0)
        bottom = cy + r + (_LABEL_DROP + _LABEL_DESCENT if labelled else 0.0)
        overflow = max(overflow, half_width - cx, cx + half_width - size, r - cy, bottom - size)
    if overflow <= 0:
        return f"0 0 {size} {size}"
    grow = math.ceil(overflow + _VIEW_MARGIN)
    return f"{-grow} {-grow} {size + 2 * grow} {size + 2 * grow}"


def _level_svg(view: AssignmentView, level: LevelView, colours: dict[int, str]) -> str:
    size, pad = _LEVEL_SIZE, 34.0
    used = level.used
    radii = _radius(level.mass[used], level.mass[used].sum()) * (size - 2 * pad)
    radius_of = dict(zip(used.tolist(), radii.tolist()))
    view_box = _level_view_box(level, radius_of, size, pad)
    out = [
        f'<svg class="panel" id="level{level.level}" viewBox="{view_box}" '
        f'width="{size}" height="{size}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="level {level.level}">',
        '<g class="edges">',
    ]
    edges = _drawn_edges(level)
    if edges:
        heaviest = edges[0][2]
        for i, j, w in edges:
            (x1, y1), (x2, y2) = _xy(level.positions[i], size, pad), _xy(level.positions[j], size, pad)
            out.append(
                f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#444" '
                f'stroke-opacity="{0.25 + 0.6 * w / heaviest:.2f}" '
                f'stroke-width="{0.6 + 7 * w / heaviest:.2f}">'
                f"<title>{escape(_cluster_name(level.level, i))} – {escape(_cluster_name(level.level, j))}: "
                f"A' = {w:.2f}</title></line>"
            )
    out.append('</g><g class="clusters">')
    for c in used.tolist():
        cx, cy = _xy(level.positions[c], size, pad)
        r = radius_of[c]
        name = _cluster_name(level.level, c)
        out.append(
            f'<g class="cluster" data-level="{level.level}" data-k="{c}">'
            f"<title>{escape(name)}: mass {level.mass[c]:.2f} input nodes</title>"
        )
        if level.level == 1:
            fill = colours.get(c, "#cccccc")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="{r:.2f}" fill="{fill}" stroke="#222"/>')
        else:
            fractions = np.array([level.composition[c, k] for k in view.colour_order], dtype=float)
            total = fractions.sum()
            start = 0.0
            for k, f in zip(view.colour_order, fractions):
                if total <= 0 or f <= 0:
                    continue
                end = start + 2 * math.pi * f / total
                out.append(f'<path d="{_arc(cx, cy, r, start, end)}" fill="{colours[k]}"/>')
                start = end
            out.append(f'<circle cx="{cx}" cy="{cy}" r="{r:.2f}" fill="none" stroke="#222"/>')
        if len(used) <= 40:
            out.append(
                f'<text x="{cx}" y="{cy + r + _LABEL_DROP:.2f}" font-size="{_LABEL_FONT}" '
                f'text-anchor="middle">{escape(_label(level, c))}</text>'
            )
        out.append("</g>")
    out.append("</g></svg>")
    return "\n".join(out)


def _heatmap_png(view: AssignmentView) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 6.2), dpi=100)
    ax = fig.add_axes((0.14, 0.1, 0.7, 0.8))
    _draw_heatmap(ax, view, fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# In _STYLE and _SCRIPT a line ending in a backslash goes on at the start of the next line:
# the backslash and the line break are not part of the string.
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; } p.note { font-size: 13px; color: #555; margin: 2px 0 10px; }
.row { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: 12px; color: #444; max-width: 640px; }
.levels { display: flex; flex-direction: column; gap: 8px; }
svg.panel { border: 1px solid #ddd; background: #fff; }
circle.node { cursor: pointer; } svg.dim circle.node:not(.hit) { opacity: 0.15; }
g.cluster { cursor: pointer; }
#tip { position: fixed; pointer-events: none; background: #fff; border: 1px solid #888; border-radius: 4px;
       padding: 6px 8px; font-size: 12px; box-shadow: 0 2px 6px rgba(0,0,0,.2); \
display: none; max-width: 340px; }
#tip .name { font-weight: 600; margin-bottom: 4px; word-break: break-all; }
#tip .bar { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
#tip .swatch { width: 10px; height: 10px; border: 1px solid #333; flex: none; }
#tip .fill { height: 8px; background: #1f3a93; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; }
ul.legend li span { display: inline-block; width: 11px; height: 11px; border: 1px solid #333; \
margin-right: 4px;
                    vertical-align: -1px; }
"""

_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('viz-data').textContent);
  var tip = document.getElementById('tip');
  var input = document.getElementById('input');
  function add(parent, tag, cls, text) {
    var e = document.createElement(tag); if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; parent.appendChild(e); return e;
  }
  function bar(parent, colour, label, value, scale) {
    var row = add(parent, 'div', 'bar');
    var sw = add(row, 'span', 'swatch'); sw.style.background = colour || '#ccc';
    add(row, 'span', '', label);
    var fill = add(row, 'span', 'fill'); \
fill.style.width = Math.max(1, Math.round(120 * value / scale)) + 'px';
    add(row, 'span', '', value.toFixed(scale === 1 ? 3 : 1));
  }
  function place(ev) {  // below right of the pointer; above or left of it where the window ends
    var gap = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    var x = ev.clientX + gap, y = ev.clientY + gap;
    if (x + w > window.innerWidth) x = Math.max(0, ev.clientX - gap - w);
    if (y + h > window.innerHeight) y = Math.max(0, ev.clientY - gap - h);
    tip.style.left = x + 'px'; tip.style.top = y + 'px';
  }
  function showNode(i, ev) {
    var node = data.nodes[i];
    tip.textContent = '';
    add(tip, 'div', 'name', node.name + '  (node ' + i + ')');
    add(tip, 'div', '', 'cluster probabilities (row of S, level 1):');
    node.p.forEach(function (kp) { bar(tip, data.colours[kp[0]], 'c' + kp[0], kp[1], 1); });
    if (node.rest > 0.0005) add(tip, 'div', '', 'other clusters: ' + node.rest.toFixed(3));
    tip.style.display = 'block'; place(ev);
    input.classList.add('dim');
    var hits = input.querySelectorAll('circle.node[data-c="' + node.c + '"]');
    for (var h = 0; h < hits.length; h++) hits[h].classList.add('hit');
  }
  function showCluster(level, k, ev) {
    var c = data.levels[level - 1][k];
    tip.textContent = '';
    add(tip, 'div', 'name', (level === 1 ? 'c' : 'L' + level + '\\u00b7c') + k);
    add(tip, 'div', '', 'mass: ' + c.mass.toFixed(2) + ' input nodes; level-1 clusters inside:');
    c.comp.forEach(function (kv) { bar(tip, data.colours[kv[0]], 'c' + kv[0], kv[1], \
Math.max(c.mass, 1e-9)); });
    tip.style.display = 'block'; place(ev);
  }
  function hide() {
    tip.style.display = 'none'; input.classList.remove('dim');
    var hits = input.querySelectorAll('circle.hit');
    for (var h = 0; h < hits.length; h++) hits[h].classList.remove('hit');
  }
  document.addEventListener('mouseover', function (ev) {
    var t = ev.target;
    if (t.classList && t.classList.contains('node')) { showNode(+t.getAttribute('data-i'), ev); return; }
    var g = t.closest ? t.closest('g.cluster') : null;
    if (g) { showCluster(+g.getAttribute('data-level'), g.getAttribute('data-k'), ev); return; }
  });
  document.addEventListener('mousemove', function (ev) { if (tip.style.display === 'block') place(ev); });
  document.addEventListener('mouseout', function (ev) {
    var t = ev.target;
    if ((t.classList && t.classList.contains('node')) || (t.closest && t.closest('g.cluster'))) hide();
  });
})();
"""


def _page_data(view: AssignmentView, colours: dict[int, str]) -> dict:
    nodes = []
    for i in range(view.num_nodes):
        row = view.probabilities[i]
        top = np.argsort(-row, kind="stable")[:_TOP_PROBABILITIES]
        nodes.append(
            {
                "name": view.node_names[i],
                "c": int(view.cluster[i]),
                "p": [[int(k), round(float(row[k]), 4)] for k in top],
                "rest": round(float(max(0.0, 1.0 - row[top].sum())), 4),
            }
        )
    levels = []
    for level in view.levels:
        entry = {}
        for c in level.used.tolist():
            comp = [
                (k, float(level.composition[c, k]))
                for k in view.colour_order
                if level.composition[c, k] > 0.005
            ]
            comp.sort(key=lambda kv: -kv[1])
            entry[str(c)] = {
                "mass": round(float(level.mass[c]), 4),
                "comp": [[k, round(v, 3)] for k, v in comp[:12]],
            }
        levels.append(entry)
    return {"nodes": nodes, "levels": levels, "colours": {str(k): v for k, v in colours.items()}}


def assignment_html(view: AssignmentView) -> str:
    """The page as a string (see the module docstring)."""
    colours = {c: _hex(rgb) for c, rgb in view.colours().items()}
    title = _suptitle(view)
    nmi = (
        f"; NMI of the level-1 clusters vs the true communities: {view.nmi:.3f}"
        if view.nmi is not None
        else ""
    )
    legend = "".join(
        f'<li><span style="background:{colours[c]}"></span>c{c} ({view.levels[0].mass[c]:.1f})</li>'
        for c in view.colour_order[:60]
    )
    if len(view.colour_order) > 60:
        legend += f"<li>+ {len(view.colour_order) - 60} more</li>"
    level_figures = []
    for level in view.levels:
        level_figures.append(
            f"<figure>{_level_svg(view, level, colours)}"
            f"<figcaption>level {level.level}: {len(level.used)} of "
            f"{level.num_clusters} clusters used, {level.unused} unused (mass ≈ 0) left out; area ∝ mass, "
            f"edge width ∝ A' weight; "
            f"{'colour = the cluster' if level.level == 1 else 'pie = the level-1 clusters inside'}"
            "</figcaption></figure>"
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="note">{view.num_nodes} nodes, {len(view.edges)} edges; mean assignment confidence
{view.confidence.mean():.3f}{escape(nmi)}. Hover a node to see its cluster probabilities.</p>
<ul class="legend">{legend}</ul>
<div class="row">
<figure>{_input_svg(view, colours)}<figcaption>input graph: colour = level-1 cluster (argmax of S), opacity =
confidence (max of S)</figcaption></figure>
<div class="levels">{"".join(level_figures)}</div>
<figure><img alt="heat map of S for level 1" width="520" height="620"
src="data:image/png;base64,{_heatmap_png(view)}"><figcaption>S of level 1: rows = nodes grouped by cluster,
columns = used clusters</figcaption></figure>
</div>
<div id="tip"></div>
<script type="application/json" id="viz-data">{_script_json(_page_data(view, colours))}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write_assignment_html(view: AssignmentView, out_path: str | Path) -> Path:
    from ..atomic import atomic_open

    out_path = Path(out_path)
    page = assignment_html(view)
    with atomic_open(out_path, "w") as handle:  # a full disk leaves no half page; errors name out_path
        handle.write(page)
    return out_path
