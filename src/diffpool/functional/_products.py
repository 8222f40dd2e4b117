"""The per-graph products of the sparse first level, ``SᵀZ``, ``SᵀAS`` and ``‖SᵀS‖²_F``, over each
graph's own rows only (the batch is sorted), by the plan that :mod:`._partition` picks; and ``A·S``
over the edges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from . import _partition
from ._autograd import gram_squared_norm

__all__ = ["products_in_batch_order", "products_in_parts", "propagate", "squared_norm_per_graph"]

Products = tuple[Tensor, Tensor, Tensor]


def squared_norm_per_graph(
    edge_index: Tensor, edge_weight: Tensor, batch: Tensor, num_nodes: int, batch_size: int
) -> Tensor:
    """‖A_g‖²_F per graph, with duplicate edges summed first (as ``to_dense_adj`` does).

    Duplicates are summed by sorting the edges and numbering runs of equal ones, into a buffer of E
    slots (unused slots stay 0): unlike ``torch.unique`` nothing reads a size back from the device.
    """
    out = torch.zeros(batch_size, dtype=edge_weight.dtype, device=edge_weight.device)
    if edge_index.size(1) == 0:
        return out
    key, order = torch.sort(edge_index[0] * num_nodes + edge_index[1])
    run = torch.cumsum(torch.cat([key.new_zeros(1), (key[1:] != key[:-1]).long()]), 0)
    summed = torch.zeros_like(edge_weight).index_add(0, run, edge_weight[order])
    graph = torch.zeros_like(run).index_copy(0, run, batch[edge_index[0, order]])
    return out.index_add(0, graph, summed * summed)


def _products_padded(
    s_prob: Tensor, x: Tensor, a_s: Tensor, batch: Tensor, size_tensor: Tensor, max_nodes: int
) -> Products:
    """``SᵀZ``, ``SᵀAS`` and ``‖SᵀS‖²_F`` of every graph, as batched products over the graphs
    zero-padded to ``max_nodes`` rows (padded rows of S are 0, so they add nothing)."""
    batch_size = size_tensor.numel()
    index = _pad_index(batch, size_tensor, max_nodes)
    s_pad = _dense_rows(s_prob, index, batch_size, max_nodes)
    s_pad_t = s_pad.transpose(1, 2)
    return (
        s_pad_t @ _dense_rows(x, index, batch_size, max_nodes),
        s_pad_t @ _dense_rows(a_s, index, batch_size, max_nodes),
        gram_squared_norm(s_pad),
    )


def products_in_batch_order(
    s_prob: Tensor,
    x: Tensor,
    a_s: Tensor,
    batch: Tensor,
    size_tensor: Tensor,
    sizes: list[int],
    used: list[int],
) -> Products:
    """``SᵀZ`` [B, K, F], ``SᵀAS`` [B, K, K] and ``‖SᵀS‖²_F`` [B] of every graph in batch order, padded
    to the batch's K, by the plan :func:`~._partition.product_plan` picks: one batched product over
    the padded batch, or :func:`products_in_parts` over groups of similar size, put back in order."""
    if _partition.product_plan(sizes, s_prob.size(0), s_prob.size(1)) == "padded":
        return _products_padded(s_prob, x, a_s, batch, size_tensor, max(sizes))
    k = s_prob.size(1)
    groups = _partition.similar_size_groups(sizes)
    parts = products_in_parts(s_prob, x, a_s, batch, size_tensor, sizes, used, groups, width=k)
    back = torch.argsort(torch.tensor([g for group in groups for g in group], device=batch.device))
    out_x, out_adj, gram = (torch.cat(values)[back] for values in zip(*parts))
    return out_x, out_adj, gram


def products_in_parts(
    s_prob: Tensor,
    x: Tensor,
    a_s: Tensor,
    batch: Tensor,
    size_tensor: Tensor,
    sizes: list[int],
    used: list[int],
    parts: Sequence[Sequence[int]],
    width: int | None = None,
) -> list[Products]:
    """``SᵀZ`` [B_p, w, F], ``SᵀAS`` [B_p, w, w] and ``‖SᵀS‖²_F`` [B_p] of each part of graphs (graph
    indices, in that order), padded to ``width`` clusters or else to the part's largest ``used``.

    A part of several graphs small enough (:func:`~._partition.pad_group`) runs as batched products
    over its graphs zero-padded to its largest (rows) and its largest cluster count (columns); the
    rows of all such parts are gathered by one index per tensor (the gradient of each index is
    zero-filled at the size of its source: [N, K] for S and A·S, [N, F] for Z). Other
    parts run one graph at a time on views of S, which copy nothing. Graph g's columns beyond its
    ``used[g]`` are exactly 0, so they are left out and padded back as zeros.
    ``sizes`` is ``size_tensor`` on the host: the shapes depend on it.
    """
    device = batch.device
    part_rows = [max(sizes[g] for g in part) for part in parts]  # its largest graph
    part_cols = [max(used[g] for g in part) for part in parts]  # its largest cluster count
    widths = [width or cols for cols in part_cols]
    padded = [
        _partition.pad_group(len(part), rows, cols) for part, rows, cols in zip(parts, part_rows, part_cols)
    ]
    small = [g for part, pad in zip(parts, padded) if pad for g in part]
    if small:
        # The nodes of every padded part's graphs, part after part: one gather per tensor, of the
        # columns those graphs use (small graphs: a few of the batch's K).
        cols_used = max(used[g] for g in small)
        members = torch.tensor(small, device=device)
        lengths = size_tensor[members]
        first = torch.cumsum(lengths, 0) - lengths  # each graph's first row among the gathered
        # output_size: repeat_interleave would otherwise read the total back from the device
        total = sum(sizes[g] for g in small)
        position = torch.arange(total, device=device) - torch.repeat_interleave(
            first, lengths, output_size=total
        )
        starts = torch.cumsum(size_tensor, 0) - size_tensor
        nodes = torch.repeat_interleave(starts[members], lengths, output_size=total) + position
        node_counts = [sum(sizes[g] for g in part) for part, pad in zip(parts, padded) if pad]
        gathered = zip(
            s_prob[nodes, :cols_used].split(node_counts),
            x[nodes].split(node_counts),
            a_s[nodes, :cols_used].split(node_counts),
            position.split(node_counts),
        )
    # Per-graph views by one split each (the backward of a split is one concatenation).
    s_parts, x_parts, as_parts = s_prob.split(sizes), x.split(sizes), a_s.split(sizes)
    out = []
    for part, pad, w, rows, cols in zip(parts, padded, widths, part_rows, part_cols):
        if pad:
            s_rows, x_rows, as_rows, pos = next(gathered)
            slot = torch.repeat_interleave(
                torch.arange(len(part), device=device), size_tensor[part], output_size=len(s_rows)
            )
            index = slot * rows + pos
            s_pad = _dense_rows(s_rows[:, :cols], index, len(part), rows)
            s_pad_t = s_pad.transpose(1, 2)
            out.append(
                (
                    _pad_clusters(s_pad_t @ _dense_rows(x_rows, index, len(part), rows), w, False),
                    _pad_clusters(s_pad_t @ _dense_rows(as_rows[:, :cols], index, len(part), rows), w, True),
                    gram_squared_norm(s_pad),
                )
            )
            continue
        xs, adjs, grams = [], [], []
        for g in part:
            c = used[g]
            s_g = s_parts[g][:, :c]
            xs.append(_pad_clusters(s_g.t() @ x_parts[g], w, False))
            adjs.append(_pad_clusters(s_g.t() @ as_parts[g][:, :c], w, True))
            grams.append(gram_squared_norm(s_g))
        stacked = [torch.stack(v) if len(v) > 1 else v[0].unsqueeze(0) for v in (xs, adjs, grams)]
        out.append((stacked[0], stacked[1], stacked[2]))
    return out


def _pad_clusters(t: Tensor, width: int, square: bool) -> Tensor:
    """``t`` [..., c, F] (or [..., c, c] if ``square``) zero-padded to ``width`` clusters (as it is
    if it has them)."""
    c = t.size(-2)
    if c == width:
        return t
    return F.pad(t, (0, width - c if square else 0, 0, width - c))


def _dense_rows(t: Tensor, index: Tensor, batch_size: int, max_nodes: int) -> Tensor:
    """[N, C] rows into [B, max_nodes, C], zero-padded: row i goes to flat row ``index[i]``
    (``b · max_nodes`` + its position in graph b: :func:`_pad_index` for a sorted batch, or a part's own)."""
    out = t.new_zeros(batch_size * max_nodes, t.size(1))
    return out.index_copy(0, index, t).view(batch_size, max_nodes, t.size(1))


def _position_in_graph(batch: Tensor, sizes: Tensor) -> Tensor:
    """Every node's row within its own graph (``batch`` sorted, ``sizes`` its graphs' node counts)."""
    starts = torch.cumsum(sizes, 0) - sizes
    return torch.arange(batch.numel(), device=batch.device) - starts[batch]


def _pad_index(batch: Tensor, sizes: Tensor, max_nodes: int) -> Tensor:
    """Row of every node in the padded [B·max_nodes] layout (``batch`` sorted)."""
    return batch * max_nodes + _position_in_graph(batch, sizes)


def propagate(edge_index: Tensor, edge_weight: Tensor, s_prob: Tensor) -> Tensor:
    r"""(A S)_i = Σ_j A_ij S_j over the edges (i, j): O(E·K) time, O(N·K) memory.

    A gather-multiply-scatter (``index_add`` of ``S[dst] · w``) materialises [E, K] tensors in the
    forward and again in the backward pass. ``embedding_bag`` in sum mode with per-edge weights does
    the same sum row by row without them (docs/PERFORMANCE.md has the figures). It needs the edges
    grouped by source node, hence one sort of the E source ids. ``embedding_bag`` has no second
    derivative in torch; :class:`_Propagate` gives one.
    """
    return _Propagate.apply(edge_index, edge_weight, s_prob)


class _Propagate(torch.autograd.Function):
    """``embedding_bag``'s forward and first derivative (the fast ones, taken from the graph it
    records), and a derivative that can be differentiated again when ``create_graph`` asks for one
    (in gather-scatter form, [E, K] memory)."""

    @staticmethod
    def forward(ctx: Any, edge_index: Tensor, edge_weight: Tensor, s_prob: Tensor) -> Tensor:
        num_nodes = s_prob.size(0)
        src, dst = edge_index
        order = torch.argsort(src, stable=True)
        counts = torch.zeros(num_nodes, dtype=torch.long, device=src.device).index_add_(
            0, src, torch.ones_like(src)
        )
        offsets = torch.cumsum(counts, 0) - counts  # start of every node's edges; empty bags give 0
        with torch.enable_grad():
            leaves = (
                s_prob.detach().requires_grad_(ctx.needs_input_grad[2]),
                edge_weight.detach().requires_grad_(ctx.needs_input_grad[1]),
            )
            out = F.embedding_bag(
                dst[order], leaves[0], offsets, mode="sum", per_sample_weights=leaves[1][order]
            )
        ctx.recorded = (out, leaves)
        ctx.save_for_backward(edge_index, edge_weight, s_prob)
        return out.detach()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor | None, Tensor | None]:
        out, leaves = ctx.recorded
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        if not torch.is_grad_enabled():
            # The recorded graph lives as long as this node (a caller may backward twice, retain_graph).
            found = iter(torch.autograd.grad(out, wanted, grad, retain_graph=True) if wanted else ())
            grad_s, grad_w = (next(found) if leaf.requires_grad else None for leaf in leaves)
            return None, grad_w, grad_s
        # create_graph: the same derivative in operations autograd differentiates again.
        edge_index, edge_weight, s_prob = ctx.saved_tensors
        src, dst = edge_index
        grad_s = grad_w = None
        if ctx.needs_input_grad[2]:
            grad_s = torch.zeros_like(s_prob).index_add(0, dst, grad[src] * edge_weight.unsqueeze(-1))
        if ctx.needs_input_grad[1]:
            grad_w = (grad[src] * s_prob[dst]).sum(-1)
        return None, grad_w, grad_s
