r"""Pictures of the hierarchy a DiffPool model learns for one graph (with any of its poolings:
DiffPool, MinCutPool, DMoN).

:func:`assignment_view` runs the model on one graph and returns an :class:`AssignmentView`, the
data behind the figure (no pixels): every node's level-1 cluster (argmax of :math:`S^{(1)}`) and
confidence, and for every level the clusters in use, their mass and the coarsened adjacency
:math:`A^{(l)} = S^{(l)\top} A^{(l-1)} S^{(l)}`. :func:`draw_assignments` turns a view into a
matplotlib figure with

1. the input graph, laid out once, nodes coloured by level-1 cluster, opacity = confidence;
2. the coarsened graph of each level: one node per used cluster, area ∝ mass, edge width ∝ the
   weight in :math:`A^{(l)}`; unused clusters (mass ≈ 0) are left out and counted in the title.
   Level-1 nodes take their cluster's colour; deeper levels are pies of the level-1 colours they
   are made of, so colours mean the same in every panel;
3. a heat map of :math:`S^{(1)}`: rows (nodes) grouped by cluster, columns = used clusters.

Mass of a cluster at level ``l`` is the number of input nodes it stands for: the column sum of
:math:`S^{(1)} S^{(2)} \cdots S^{(l)}` (at level 1 simply the column sum of :math:`S^{(1)}`).
The plain column sum of :math:`S^{(l)}` is kept too (``column_sum``); at levels ≥ 2 it counts the
rows of unused level-1 clusters as if they were real, so it is not used for sizes. MinCutPool and DMoN
pass the next level a normalised adjacency without self-loops; the picture weighs edges by
:math:`S^\top A S` of the input graph all the same, in units of input edges, for every pooling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AssignmentView",
    "LevelView",
    "assignment_view",
    "draw_assignments",
    "write_assignment_png",
    "cluster_colours",
    "graph_layout",
    "FIGURE_SIZE",
    "FIGURE_DPI",
]

#: Size of the assignment figure in inches and its resolution: 1920 × 960 pixels.
FIGURE_SIZE = (16.0, 8.0)
FIGURE_DPI = 120

#: A cluster is "used" if it stands for at least this many input nodes (or is some node's argmax).
MIN_MASS = 0.05
#: Coarsened edges lighter than this (in units of input edges) are not drawn.
MIN_EDGE_WEIGHT = 0.05


@dataclass
class LevelView:
    """One pooling level of one graph."""

    level: int
    """1 for the first pooling (input nodes → clusters), 2 for the next, ..."""
    num_clusters: int
    """K of this level: the columns of S (with per-graph clusters, those this graph may use)."""
    assignment: np.ndarray
    """S of this level, [rows, K]: rows are input nodes (level 1) or the previous level's clusters."""
    column_sum: np.ndarray
    """[K], column sums of this level's S."""
    mass: np.ndarray
    """[K], input nodes each cluster stands for (column sums of S1·…·Sl)."""
    used: np.ndarray
    """ids of the clusters drawn (mass ≥ MIN_MASS or some node's argmax), ascending."""
    adjacency: np.ndarray
    """[K, K] coarsened adjacency SᵀA S of this level (diagonal: edge weight inside a cluster)."""
    edges: list[tuple[int, int, float]]
    """(i, j, weight) between used clusters, i < j, weight ≥ MIN_EDGE_WEIGHT, heaviest first."""
    composition: np.ndarray
    """[K, K1]: how many input nodes of each level-1 cluster (argmax) this level's cluster holds."""
    positions: np.ndarray
    """[K, 2] where each cluster is drawn (centre of its input nodes, spread apart); NaN if unused."""

    @property
    def unused(self) -> int:
        return int(self.num_clusters - len(self.used))


@dataclass
class AssignmentView:
    """Everything the assignment figure shows, as arrays (see the module docstring)."""

    num_nodes: int
    edges: np.ndarray
    """[E, 2] undirected input edges, i < j."""
    probabilities: np.ndarray
    """[n, K1] S of level 1 (rows sum to 1)."""
    cluster: np.ndarray
    """[n] level-1 cluster of every node: argmax of its row of S."""
    confidence: np.ndarray
    """[n] the largest entry of every node's row of S."""
    levels: list[LevelView]
    positions: np.ndarray
    """[n, 2] layout of the input graph, in [0, 1]²."""
    colour_order: list[int]
    """level-1 used clusters, heaviest first: cluster ``colour_order[r]`` gets palette colour ``r``."""
    node_names: list[str]
    title: str = ""
    community: np.ndarray | None = None
    """true community of every node when the data has one (the synthetic set)."""
    nmi: float | None = None
    """NMI between ``cluster`` and ``community``."""
    predicted: int | None = None
    label: int | None = None
    class_probabilities: list[float] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    pooling: str = "DiffPool"
    """the model's pooling, as the title names it."""

    def colour(self, cluster: int) -> tuple[float, float, float]:
        return cluster_colours(len(self.colour_order))[self.colour_order.index(int(cluster))]

    def colours(self) -> dict[int, tuple[float, float, float]]:
        """RGB of every used level-1 cluster."""
        palette = cluster_colours(len(self.colour_order))
        return {c: palette[r] for r, c in enumerate(self.colour_order)}

    def heatmap_order(self) -> np.ndarray:
        """Node order of the heat map rows: by cluster (in colour order), most confident first."""
        rank = {c: r for r, c in enumerate(self.colour_order)}
        ranks = np.array([rank[int(c)] for c in self.cluster], dtype=np.int64)
        return np.lexsort((-self.confidence, ranks)) if self.num_nodes else np.zeros(0, dtype=np.int64)

    def summary(self) -> dict[str, Any]:
        """Plain-data digest (for JSON and the command line)."""
        out: dict[str, Any] = {
            "title": self.title,
            "num_nodes": self.num_nodes,
            "num_edges": int(len(self.edges)),
            "levels": [
                {
                    "level": lv.level,
                    "clusters": lv.num_clusters,
                    "used": len(lv.used),
                    "unused": lv.unused,
                    "mass": {int(c): round(float(lv.mass[c]), 3) for c in lv.used},
                }
                for lv in self.levels
            ],
            "mean_confidence": float(self.confidence.mean()) if self.num_nodes else float("nan"),
        }
        if self.nmi is not None:
            out["nmi"] = self.nmi
        if self.predicted is not None:
            out["predicted"] = self.predicted
        if self.label is not None:
            out["label"] = self.label
        return out


# --------------------------------------------------------------------------- colours and layout
def cluster_colours(count: int) -> list[tuple[float, float, float]]:
    """``count`` distinct RGB colours: tab10, then tab20/tab20b/tab20c, then evenly spaced hues."""
    from matplotlib import colormaps
    from matplotlib.colors import hsv_to_rgb

    base: list[tuple[float, float, float]] = [_rgb(c) for c in colormaps["tab10"].colors]  # type: ignore[attr-defined]
    if count <= len(base):
        return base[:count]
    extra = [_rgb(c) for name in ("tab20", "tab20b", "tab20c") for c in colormaps[name].colors]  # type: ignore[attr-defined]
    colours = base + [c for c in extra if c not in base]
    while len(colours) < count:
        i = len(colours)
        hue = (i * 0.618033988749895) % 1.0
        colours.append(_rgb(hsv_to_rgb((hue, 0.55 + 0.35 * (i % 2), 0.85 - 0.25 * (i % 3 == 0)))))
    return colours[:count]


def _rgb(colour: Any) -> tuple[float, float, float]:
    return float(colour[0]), float(colour[1]), float(colour[2])


def _normalise(points: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return points.reshape(0, 2)
    low, high = points.min(0), points.max(0)
    span = np.where(high - low > 1e-12, high - low, 1.0)
    out = (points - low) / span.max()
    return out + (1 - (high - low) / span.max()) / 2  # centred in the unit square


def _fruchterman_reingold(n: int, edges: np.ndarray, seed: int, iterations: int = 50) -> np.ndarray:
    """Force-directed layout: dense repulsion, attraction along the edges only (networkx's sparse
    version is a Python loop, ~30 s for 2,000 nodes; this takes about a second)."""
    rng = np.random.default_rng(seed)
    pos = rng.random((n, 2)).astype(np.float32)
    k2 = np.float32(1.0 / n)
    k = np.float32(math.sqrt(k2))
    src, dst = (edges[:, 0], edges[:, 1]) if len(edges) else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    temperature = 0.1
    cooling = temperature / (iterations + 1)
    for _ in range(iterations):
        x, y = pos[:, 0], pos[:, 1]
        dx = x[:, None] - x[None, :]
        dy = y[:, None] - y[None, :]
        inv = dx * dx
        inv += dy * dy
        np.maximum(inv, np.float32(1e-4), out=inv)
        np.divide(k2, inv, out=inv)  # repulsion k²/d along the unit vector = k²·delta/d²
        disp_x = (dx * inv).sum(1)
        disp_y = (dy * inv).sum(1)
        if len(src):  # attraction d²/k along the unit vector = delta·d/k
            ex, ey = x[src] - x[dst], y[src] - y[dst]
            pull = np.sqrt(ex * ex + ey * ey) / k
            disp_x -= np.bincount(src, ex * pull, n) - np.bincount(dst, ex * pull, n)
            disp_y -= np.bincount(src, ey * pull, n) - np.bincount(dst, ey * pull, n)
        length = np.maximum(np.sqrt(disp_x**2 + disp_y**2), 0.01)
        pos[:, 0] += disp_x * temperature / length
        pos[:, 1] += disp_y * temperature / length
        temperature -= cooling
    return pos.astype(np.float64)


def graph_layout(num_nodes: int, edges: np.ndarray, seed: int = 0) -> np.ndarray:
    """[n, 2] positions in the unit square: networkx spring layout (a fast dense one above 400 nodes)."""
    import networkx as nx

    if num_nodes == 0:
        return np.zeros((0, 2))
    if num_nodes == 1:
        return np.full((1, 2), 0.5)
    if num_nodes > 400:
        return _normalise(_fruchterman_reingold(num_nodes, edges, seed))
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    graph.add_edges_from(map(tuple, edges.tolist()))
    layout = nx.spring_layout(graph, seed=seed, iterations=100)
    return _normalise(np.array([layout[i] for i in range(num_nodes)], dtype=np.float64))


def _spread(points: np.ndarray, radii: np.ndarray, iterations: int = 200) -> np.ndarray:
    """Push apart points closer than the sum of their radii (cluster nodes must not overlap)."""
    points = points.copy()
    n = len(points)
    if n < 2:
        return points
    rng = np.random.default_rng(0)
    for _ in range(iterations):
        delta = points[:, None, :] - points[None, :, :]
        distance = np.sqrt((delta**2).sum(-1)) + np.eye(n)
        wanted = (radii[:, None] + radii[None, :]) * 1.15
        overlap = np.clip(wanted - distance, 0, None) * (1 - np.eye(n))
        if overlap.max() < 1e-4:
            break
        same = distance < 1e-9
        if same.any():  # identical centres: nudge apart in a random direction
            delta = delta + same[:, :, None] * rng.normal(scale=1e-3, size=delta.shape)
            distance = np.sqrt((delta**2).sum(-1)) + np.eye(n)
        points += 0.5 * (delta / distance[:, :, None] * overlap[:, :, None]).sum(1)
    return points


# --------------------------------------------------------------------------- the data behind the figure
POOLING_NAMES = {"diffpool": "DiffPool", "mincut": "MinCutPool", "dmon": "DMoN"}


def _batch_of(data, model):
    from torch_geometric.data import Batch

    config = getattr(model, "config", None)
    if config is not None and getattr(config, "variant", None) == "det" and not hasattr(data, "det_sizes"):
        from ..models import attach_det_clusters

        data = attach_det_clusters([data], config)[0]
    return Batch.from_data_list([data])


def _undirected_edges(edge_index, num_nodes: int) -> np.ndarray:
    if edge_index is None or edge_index.numel() == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = edge_index.t().cpu().numpy().astype(np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def assignment_view(
    model,
    data,
    *,
    node_names: Sequence[str] | None = None,
    title: str | None = None,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
) -> AssignmentView:
    """Run ``model`` (a DiffPool network) on one graph ``data`` and collect the figure's data.

    ``data`` is a PyG ``Data`` featured as the model was trained (``x``, ``edge_index``; a
    ``community`` per node adds the NMI). ``node_names`` label the nodes (default: their index).
    """
    import torch

    if getattr(data, "x", None) is None:
        raise ValueError("the graph has no node features (data.x); feature it as the model was trained")
    n = int(data.num_nodes)
    if n < 1:
        raise ValueError("the graph has no nodes")
    config = getattr(model, "config", None)
    in_channels = getattr(config, "in_channels", None)
    if in_channels is not None and data.x.size(-1) != in_channels:
        raise ValueError(
            f"the graph has {data.x.size(-1)} node features but the model expects {in_channels}; "
            "feature it as the training data was"
        )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(_batch_of(data, model))
    finally:
        model.train(was_training)
    if not output.assignments:
        variant = getattr(config, "variant", type(model).__name__)
        raise ValueError(
            f"the model ({variant}) has no pooling levels, so there are no assignments to draw; "
            "use a diffpool, nolp or det model"
        )

    edges = _undirected_edges(data.edge_index, n)
    s1 = output.assignments[0].detach().double().cpu().numpy()
    # With per-graph clusters only the first k_g columns can be non-zero; keep them.
    per_graph = bool(getattr(config, "per_graph_clusters", False))
    k1 = _clusters_in_use(s1) if per_graph else s1.shape[1]
    s1 = s1[:, :k1]
    cluster = s1.argmax(1)
    confidence = s1.max(1)
    positions = graph_layout(n, edges, seed)

    levels: list[LevelView] = []
    composite = None
    previous_adj = None
    hard = np.zeros((n, k1))
    hard[np.arange(n), cluster] = 1.0
    for level, s in enumerate(output.assignments, start=1):
        s = s.detach().double().cpu().numpy()
        if level == 1:
            s = s1
        else:
            s = s[0]  # [K_{l-1}, K_l] of the one graph in the batch
            rows = levels[-1].num_clusters
            s = s[:rows]
            if per_graph:
                s = s[:, : _clusters_in_use(s)]
        if level == 1:  # Sᵀ A S over the edge list: A is never formed
            composite = s
            a_s = np.zeros_like(s)
            if len(edges):
                np.add.at(a_s, edges[:, 0], s[edges[:, 1]])
                np.add.at(a_s, edges[:, 1], s[edges[:, 0]])
            coarse = s.T @ a_s
        else:
            composite = composite @ s
            coarse = s.T @ previous_adj @ s
        mass = composite.sum(0)
        used_mask = mass >= MIN_MASS
        used_mask[np.unique(composite.argmax(1))] = True
        used = np.flatnonzero(used_mask)
        composition = composite.T @ hard  # [K_l, K1]: input nodes of each level-1 cluster held
        edge_list = [
            (int(i), int(j), float(coarse[i, j]))
            for a, i in enumerate(used)
            for j in used[a + 1 :]
            if coarse[i, j] >= MIN_EDGE_WEIGHT
        ]
        edge_list.sort(key=lambda e: -e[2])
        levels.append(
            LevelView(
                level=level,
                num_clusters=s.shape[1],
                assignment=s,
                column_sum=s.sum(0),
                mass=mass,
                used=used,
                adjacency=coarse,
                edges=edge_list,
                composition=composition,
                positions=_cluster_positions(composite, positions, mass, used),
            )
        )
        previous_adj = coarse

    level1 = levels[0]
    members = np.bincount(cluster, minlength=k1)  # clusters some node belongs to come first
    colour_order = [int(c) for c in sorted(level1.used, key=lambda c: (-members[c], -level1.mass[c], c))]
    community = getattr(data, "community", None)
    community = community.cpu().numpy() if community is not None else None
    nmi = None
    if community is not None and len(community) == n:
        from sklearn.metrics import normalized_mutual_info_score

        nmi = float(normalized_mutual_info_score(community, cluster))
    probs = torch.softmax(output.logits[0].detach().double(), -1).cpu().numpy()
    label = getattr(data, "y", None)
    label = int(label.view(-1)[0]) if label is not None and label.numel() == 1 else None
    names = [str(v) for v in node_names] if node_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} node names for a graph of {n} nodes")
    if title is None:
        title = str(getattr(data, "source", "") or "graph")
    return AssignmentView(
        num_nodes=n,
        edges=edges,
        probabilities=s1,
        cluster=cluster,
        confidence=confidence,
        levels=levels,
        positions=positions,
        colour_order=colour_order,
        node_names=names,
        title=title,
        community=community,
        nmi=nmi,
        predicted=int(probs.argmax()),
        label=label,
        class_probabilities=[float(p) for p in probs],
        class_names=[str(c) for c in class_names] if class_names is not None else [],
        pooling=POOLING_NAMES.get(getattr(config, "pool", "diffpool"), "DiffPool"),
    )


def _clusters_in_use(s: np.ndarray) -> int:
    """Columns up to the last one any row can use (per-graph clusters leave trailing zero columns)."""
    nonzero = np.flatnonzero((s > 0).any(0))
    return int(nonzero[-1]) + 1 if len(nonzero) else s.shape[1]


def _cluster_positions(
    composite: np.ndarray, positions: np.ndarray, mass: np.ndarray, used: np.ndarray
) -> np.ndarray:
    """Each used cluster at the centre of the input nodes it holds (hard members first), spread apart."""
    k = composite.shape[1]
    out = np.full((k, 2), np.nan)
    if len(used) == 0:
        return out
    owner = composite.argmax(1)
    centres = []
    for c in used:
        members = owner == c
        if members.any():
            centres.append(positions[members].mean(0))
        else:
            weights = composite[:, c]
            centres.append((weights[:, None] * positions).sum(0) / max(weights.sum(), 1e-12))
    radii = _radius(mass[used], mass[used].sum())
    if len(used) <= 40:  # room for the label under each node
        radii = radii + 0.035
    out[used] = _spread(np.array(centres), radii)
    return out


def _radius(mass: np.ndarray, total: float) -> np.ndarray:
    """Radius of a cluster node in layout units: area ∝ mass, all nodes together cover ~15%."""
    total = max(float(total), 1e-12)
    return np.sqrt(np.clip(mass, 0, None) / total * 0.15 / math.pi) * 0.9 + 0.012


# --------------------------------------------------------------------------- drawing
def _draw_input(ax, view: AssignmentView) -> None:
    from matplotlib.collections import LineCollection

    n = view.num_nodes
    colours = view.colours()
    pos = view.positions
    edges = view.edges
    max_edges = 4000
    if len(edges) > max_edges:  # thinned: a fixed random sample keeps the density picture
        keep = np.random.default_rng(0).choice(len(edges), max_edges, replace=False)
        edges = edges[np.sort(keep)]
    edge_alpha = 0.5 if n <= 100 else (0.25 if n <= 500 else 0.12)
    edge_width = 1.0 if n <= 100 else (0.6 if n <= 500 else 0.35)
    if len(edges):
        same = view.cluster[edges[:, 0]] == view.cluster[edges[:, 1]]
        colour = [
            (*colours[int(view.cluster[i])], edge_alpha) if s else (0.45, 0.45, 0.45, edge_alpha)
            for (i, _), s in zip(edges, same)
        ]
        ax.add_collection(LineCollection(pos[edges], colors=colour, linewidths=edge_width, zorder=1))
    size = float(np.clip(9000 / max(n, 1), 6, 260))
    alpha = np.clip(view.confidence, 0.15, 1.0)
    face = np.array([(*colours[int(c)], a) for c, a in zip(view.cluster, alpha)])
    ax.scatter(
        pos[:, 0],
        pos[:, 1],
        s=size,
        c=face,
        edgecolors=(0.15, 0.15, 0.15, 0.7),
        linewidths=0.6 if n <= 500 else 0.2,
        zorder=2,
    )
    if n <= 40:
        for i in range(n):
            ax.text(
                pos[i, 0], pos[i, 1], view.node_names[i][:8], ha="center", va="center", fontsize=7, zorder=3
            )
    nmi = f", NMI vs true communities {view.nmi:.2f}" if view.nmi is not None else ""
    ax.set_title(
        f"input graph: {n} nodes, {len(view.edges)} edges"
        + (f" ({len(edges)} drawn)" if len(edges) < len(view.edges) else "")
        + "\ncolour = level-1 cluster (argmax S), opacity = confidence max S"
        + f"\nmean confidence {view.confidence.mean():.2f}{nmi}",
        fontsize=9,
    )
    _frame(ax)


def _frame(ax, pad: float = 0.06) -> None:
    ax.set_xlim(-pad, 1 + pad)
    ax.set_ylim(-pad, 1 + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _pie(ax, centre, radius, fractions, colours, zorder: int = 3) -> None:
    from matplotlib.patches import Circle, Wedge

    total = float(sum(fractions))
    if total <= 0:
        ax.add_patch(Circle(centre, radius, facecolor="0.8", edgecolor="0.2", linewidth=0.8, zorder=zorder))
        return
    start = 90.0
    for fraction, colour in zip(fractions, colours):
        sweep = 360.0 * fraction / total
        if sweep <= 0:
            continue
        ax.add_patch(
            Wedge(centre, radius, start, start + sweep, facecolor=colour, edgecolor="none", zorder=zorder)
        )
        start += sweep
    ax.add_patch(Circle(centre, radius, facecolor="none", edgecolor="0.2", linewidth=0.8, zorder=zorder + 1))


def _draw_level(ax, view: AssignmentView, level: LevelView) -> None:
    from matplotlib.collections import LineCollection

    colours = view.colours()
    used = level.used
    pos = level.positions
    radii = np.full(level.num_clusters, np.nan)
    radii[used] = _radius(level.mass[used], level.mass[used].sum())
    edges = _drawn_edges(level)
    if edges:
        heaviest = edges[0][2]
        segments = [pos[[i, j]] for i, j, _ in edges]
        widths = [0.6 + 7.0 * w / heaviest for _, _, w in edges]
        alphas = [0.25 + 0.6 * w / heaviest for _, _, w in edges]
        ax.add_collection(
            LineCollection(segments, linewidths=widths, colors=[(0.3, 0.3, 0.3, a) for a in alphas], zorder=1)
        )
    label = len(used) <= 40
    for c in used:
        centre, radius = pos[c], radii[c]
        if level.level == 1:
            _pie(ax, centre, radius, [1.0], [colours.get(int(c), (0.8, 0.8, 0.8))])
        else:
            fractions = [level.composition[c, k] for k in view.colour_order]
            _pie(ax, centre, radius, fractions, [colours[k] for k in view.colour_order])
        if label:
            ax.text(
                centre[0],
                centre[1] - radius - 0.012,
                f"{_cluster_name(level.level, c)}\n{level.mass[c]:.1f}",
                ha="center",
                va="top",
                fontsize=7,
                zorder=5,
                linespacing=0.9,
            )
    drawn = f" ({len(edges)} heaviest drawn)" if len(level.edges) > len(edges) else ""
    colour_note = "colour = its cluster" if level.level == 1 else "pie = level-1 clusters inside"
    ax.set_title(
        f"level {level.level}: {len(used)} of {level.num_clusters} clusters used, {level.unused} unused "
        f"(mass ≈ 0) left out\narea ∝ mass (input nodes), width ∝ A' weight{drawn}; {colour_note}",
        fontsize=8,
    )
    _frame(ax, pad=0.1)


def _drawn_edges(level: LevelView) -> list[tuple[int, int, float]]:
    """Thinned coarsened edges: at most 3 per used cluster (≥ 20), none under 5% of the heaviest."""
    edges = level.edges[: max(20, 3 * len(level.used))]
    return [e for e in edges if e[2] >= 0.05 * edges[0][2]] if edges else []


def _cluster_name(level: int, cluster: int) -> str:
    return f"c{cluster}" if level == 1 else f"L{level}·c{cluster}"


def _draw_heatmap(ax, view: AssignmentView, fig=None) -> None:
    from matplotlib.colors import LinearSegmentedColormap

    order = view.heatmap_order()
    columns = view.colour_order
    matrix = view.probabilities[order][:, columns]
    cmap = LinearSegmentedColormap.from_list("white_navy", ["#ffffff", "#1f3a93"])
    image = ax.imshow(
        matrix,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        vmin=0,
        vmax=1,
        extent=(-0.5, len(columns) - 0.5, len(order) - 0.5, -0.5),
    )
    colours = view.colours()
    # a colour strip on the left: each row's cluster
    strip = np.array([[colours[int(view.cluster[i])] for i in order]]).transpose(1, 0, 2)
    width = max(0.3, 0.04 * len(columns))
    ax.imshow(
        strip, aspect="auto", interpolation="nearest", extent=(-0.5 - width, -0.5, len(order) - 0.5, -0.5)
    )
    ranks = {c: r for r, c in enumerate(columns)}
    grouped = [ranks[int(view.cluster[i])] for i in order]
    boundaries = [r for r in range(1, len(grouped)) if grouped[r] != grouped[r - 1]]
    for b in boundaries:
        ax.axhline(b - 0.5, color="0.35", linewidth=0.5 if len(order) > 200 else 0.8)
    ax.set_xlim(-0.5 - width, len(columns) - 0.5)
    if len(columns) <= 40:
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([f"c{c}" for c in columns], rotation=90, fontsize=7)
        for tick, c in zip(ax.get_xticklabels(), columns):
            tick.set_color(colours[c])
    else:
        ax.set_xticks([])
    if len(order) <= 40:
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels([view.node_names[i][:10] for i in order], fontsize=6)
    else:
        ax.set_yticks([])
    ax.set_xlabel("used level-1 clusters (largest first)", fontsize=8)
    ax.set_ylabel(f"{view.num_nodes} nodes, grouped by cluster", fontsize=8, labelpad=2)
    unused = view.levels[0].unused
    ax.set_title(f"S of level 1 (assignment probabilities)\n{unused} unused column(s) omitted", fontsize=9)
    if fig is not None:
        bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
        bar.ax.tick_params(labelsize=7)
        bar.set_label("S[node, cluster]", fontsize=7)


def _legend(fig, view: AssignmentView) -> None:
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    colours = view.colours()
    level1 = view.levels[0]
    shown = view.colour_order[:20]
    handles: list[Artist] = [
        Patch(facecolor=colours[c], edgecolor="0.2", label=f"c{c} ({level1.mass[c]:.1f})") for c in shown
    ]
    if len(view.colour_order) > len(shown):
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="white",
                label=f"+ {len(view.colour_order) - len(shown)} more clusters",
            )
        )
    for alpha, text in ((1.0, "confident (S≈1)"), (0.3, "uncertain")):
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=8,
                markerfacecolor=(0.3, 0.3, 0.3, alpha),
                markeredgecolor="0.2",
                label=text,
            )
        )
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(len(handles), 12),
        fontsize=8,
        frameon=False,
        title="level-1 clusters (mass = input nodes)",
        title_fontsize=8,
    )


def _suptitle(view: AssignmentView) -> str:
    parts = [f"{view.pooling} hierarchy of {view.title}"]
    names = view.class_names
    if view.predicted is not None:
        name = names[view.predicted] if view.predicted < len(names) else str(view.predicted)
        p = view.class_probabilities[view.predicted] if view.class_probabilities else float("nan")
        parts.append(f"predicted class {name} (p = {p:.2f})")
    if view.label is not None:
        name = names[view.label] if view.label < len(names) else str(view.label)
        parts.append(f"true class {name}")
    return " · ".join(parts)


def draw_assignments(view: AssignmentView, *, figsize=FIGURE_SIZE, dpi: int = FIGURE_DPI):
    """The assignment figure (a matplotlib ``Figure``; input graph, each level, heat map)."""
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec

    fig = Figure(figsize=figsize, dpi=dpi)
    levels = len(view.levels)
    grid = GridSpec(
        levels,
        3,
        figure=fig,
        width_ratios=[1.45, 0.8, 1.0],
        left=0.02,
        right=0.97,
        top=0.88,
        bottom=0.14,
        wspace=0.12,
        hspace=0.3,
    )
    _draw_input(fig.add_subplot(grid[:, 0]), view)
    for row, level in enumerate(view.levels):
        _draw_level(fig.add_subplot(grid[row, 1]), view, level)
    _draw_heatmap(fig.add_subplot(grid[:, 2]), view, fig)
    _legend(fig, view)
    fig.suptitle(_suptitle(view), fontsize=12)
    return fig


def write_assignment_png(view: AssignmentView, out_path: str | Path) -> Path:
    """Draw ``view`` and save it as a PNG of FIGURE_SIZE × FIGURE_DPI pixels (or as the suffix of
    ``out_path`` says: ``.pdf``, ``.svg``, ...)."""
    from .files import save_figure

    return save_figure(draw_assignments(view), Path(out_path), FIGURE_DPI)
