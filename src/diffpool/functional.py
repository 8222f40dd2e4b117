r"""The pooling math of DiffPool (Ying et al., NeurIPS 2018), in a dense and a sparse form.

For one graph with adjacency :math:`A` (n×n), node embeddings :math:`Z` (n×F) and assignment
logits :math:`s` (n×K):

.. math::
    S = \mathrm{softmax}(s) \quad
    X' = S^\top Z \quad
    A' = S^\top A S \quad
    L_{LP} = \lVert A - S S^\top \rVert_F \quad
    L_E = \tfrac{1}{n} \textstyle\sum_i H(S_i)

:func:`dense_diff_pool` works on padded batches ([B, N, ·] with a node mask), as PyG's layer does.
:func:`sparse_diff_pool` works on a PyG mini-batch (nodes of all graphs stacked, ``edge_index``,
``batch``) and never forms an n×n tensor: :math:`A S` is a scatter over edges and the link loss
uses :math:`\lVert A - SS^\top\rVert_F^2 = \lVert A\rVert_F^2 - 2\,\mathrm{tr}(S^\top A S)
+ \lVert S^\top S\rVert_F^2`, so cost is linear in edges and nodes.

Both accept ``num_clusters`` [B]: graph ``b`` then uses only its first ``num_clusters[b]``
clusters (per-graph cluster counts); the surplus logits are masked out of the softmax and the
returned ``mask`` marks the clusters in use.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "PoolOutput",
    "dense_diff_pool",
    "sparse_diff_pool",
    "assignment_softmax_entropy",
    "cluster_mask",
    "check_sparse_batch",
    "sparse_pool_with_assignment",
    "sparse_pool_parts",
    "dense_pool_with_assignment",
]


class PoolOutput(NamedTuple):
    """Result of one DiffPool coarsening.

    Attributes:
        x: pooled features :math:`S^\\top Z`, [B, K, F].
        adj: pooled adjacency :math:`S^\\top A S`, [B, K, K].
        mask: [B, K] bool, the clusters in use (all True unless ``num_clusters`` was given).
        link_loss: [B], :math:`\\lVert A_g - S_g S_g^\\top\\rVert_F` per graph (not squared,
            not normalised).
        entropy: [B], mean over the graph's real nodes of :math:`H(S_i)`.
    """

    x: Tensor
    adj: Tensor
    mask: Tensor
    link_loss: Tensor
    entropy: Tensor


def cluster_mask(num_clusters: Tensor, max_clusters: int) -> Tensor:
    """[B, max_clusters] bool: True for the first ``num_clusters[b]`` clusters of graph ``b``."""
    return torch.arange(max_clusters, device=num_clusters.device) < num_clusters.unsqueeze(-1)


# Below this, exp(log S) is exactly 0 in every float dtype (float64 underflows at about -745).
_LOG_ZERO = -1e4


class _SoftmaxEntropy(torch.autograd.Function):
    r"""Row-wise softmax :math:`S` of logits and each row's entropy :math:`H = -\sum_k S_k \log S_k`.

    One function with a hand-written backward because on large graphs these [N, K] element-wise
    passes were about a third of the pooling step. Forward: :math:`H = \mathrm{lse} - \sum_k S_k s_k`
    (``lse`` the row's log-sum-exp). Backward:
    :math:`\partial/\partial s_k = S_k\,(g_{S,k} - \langle S, g_S\rangle - g_H(\log S_k + H))`.
    Blocked entries have :math:`S_k = 0` exactly and zero gradient.
    """

    @staticmethod
    def forward(ctx, s: Tensor, blocked: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        masked = s if blocked is None else s.masked_fill(blocked, float("-inf"))
        lse = torch.logsumexp(masked, dim=-1, keepdim=True)
        prob = torch.sub(masked, lse).exp_()  # exp(-inf) is exactly 0 for blocked entries
        # Blocked entries add 0 · s_k = 0 (their logits are finite).
        entropy = lse.squeeze(-1) - (prob.unsqueeze(-2) @ s.unsqueeze(-1)).view(-1)
        ctx.save_for_backward(s, prob, lse, entropy)
        return prob, entropy

    @staticmethod
    def backward(ctx, grad_prob: Tensor, grad_entropy: Tensor) -> tuple[Tensor, None]:
        s, prob, lse, entropy = ctx.saved_tensors
        # log S where S > 0; where S is 0 (blocked, or beyond the float range) the value only
        # needs to be finite, as it is multiplied by S at the end.
        log_prob = torch.sub(s, lse).clamp_min_(_LOG_ZERO)
        g_entropy = grad_entropy.unsqueeze(-1)
        along_s = (prob.unsqueeze(-2) @ grad_prob.unsqueeze(-1)).view(-1, 1)
        grad = torch.addcmul(grad_prob, log_prob, g_entropy, value=-1.0)
        grad.sub_(along_s + g_entropy * entropy.unsqueeze(-1))
        return grad.mul_(prob), None


def assignment_softmax_entropy(s: Tensor, allowed: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """Row-wise softmax of assignment logits and the entropy of every row.

    ``s`` is [..., K]; ``allowed`` (broadcastable bool) marks the clusters a row may use: the others
    get probability exactly 0. Returns ``(S, H)`` with ``H`` of shape ``s.shape[:-1]``, finite with
    finite gradients even for one-hot rows and logits beyond the float range of their difference.
    """
    shape = s.shape
    flat = s.reshape(-1, shape[-1])
    blocked = None if allowed is None else (~allowed).expand(shape).reshape(-1, shape[-1])
    prob, entropy = _SoftmaxEntropy.apply(flat, blocked)
    return prob.view(shape), entropy.view(shape[:-1])


def _safe_sqrt(squared: Tensor) -> Tensor:
    """sqrt(max(x, 0)) with gradient 0, not inf/NaN, where x <= 0 (round-off can make it < 0)."""
    positive = squared > 0
    return torch.where(positive, squared.clamp_min(1e-30).sqrt(), torch.zeros_like(squared))




# --------------------------------------------------------------------------- validation
def _check_finite(name: str, t: Tensor) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); check the input features")


def _check_clusters(k: int) -> None:
    if k < 1:
        raise ValueError(f"the assignment has K={k} clusters; K must be at least 1")


def _check_num_clusters(num_clusters: Optional[Tensor], batch_size: int, k: int) -> Optional[Tensor]:
    if num_clusters is None:
        return None
    num_clusters = torch.as_tensor(num_clusters)
    if num_clusters.shape != (batch_size,):
        raise ValueError(f"num_clusters must have shape [{batch_size}] (one per graph), got {list(num_clusters.shape)}")
    if bool((num_clusters < 1).any()) or bool((num_clusters > k).any()):
        raise ValueError(f"num_clusters must lie in 1..{k} (the assignment's K), got values "
                         f"{int(num_clusters.min())}..{int(num_clusters.max())}")
    return num_clusters


# --------------------------------------------------------------------------- dense form
def dense_diff_pool(
    x: Tensor,
    adj: Tensor,
    s: Tensor,
    mask: Optional[Tensor] = None,
    num_clusters: Optional[Tensor] = None,
) -> PoolOutput:
    r"""DiffPool on a padded batch.

    Args:
        x: node embeddings :math:`Z`, [B, N, F] (or [N, F] for one graph).
        adj: adjacency, [B, N, N] (or [N, N]); may be weighted.
        s: assignment logits, [B, N, K] (or [N, K]); softmax is taken here.
        mask: [B, N] bool, real nodes. Padded nodes contribute nothing anywhere.
        num_clusters: optional [B] long, clusters used by each graph (surplus logits masked).

    Returns:
        :class:`PoolOutput`.
    """
    return dense_pool_with_assignment(x, adj, s, mask, num_clusters)[0]


def dense_pool_with_assignment(x: Tensor, adj: Tensor, s: Tensor, mask: Optional[Tensor] = None,
                               num_clusters: Optional[Tensor] = None, *,
                               check_finite: bool = True) -> tuple[PoolOutput, Tensor]:
    """:func:`dense_diff_pool` plus the assignment S it computed ([B, N, K], padded rows 0).

    For :class:`~diffpool.nn.DenseDiffPool`, which returns S too: taking it from here instead of a
    second softmax saves that work and the autograd graph it would keep alive.
    ``check_finite=False`` skips the NaN/inf scan of the inputs (shapes are always checked).
    """
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if adj.dim() == 2:
        adj = adj.unsqueeze(0)
    if s.dim() == 2:
        s = s.unsqueeze(0)
    if x.dim() != 3 or adj.dim() != 3 or s.dim() != 3:
        raise ValueError("dense_diff_pool expects x [B, N, F], adj [B, N, N] and s [B, N, K]")
    batch_size, num_nodes, _ = x.shape
    if adj.shape != (batch_size, num_nodes, num_nodes):
        raise ValueError(f"adj has shape {list(adj.shape)}, expected [{batch_size}, {num_nodes}, {num_nodes}] to match x")
    if s.shape[:2] != (batch_size, num_nodes):
        raise ValueError(f"s has shape {list(s.shape)}, expected [{batch_size}, {num_nodes}, K] to match x")
    k = s.size(-1)
    _check_clusters(k)
    if check_finite:
        for name, t in (("x", x), ("adj", adj), ("s", s)):
            _check_finite(name, t)
    if mask is None:
        mask = torch.ones(batch_size, num_nodes, dtype=torch.bool, device=x.device)
    elif mask.shape != (batch_size, num_nodes):
        raise ValueError(f"mask has shape {list(mask.shape)}, expected [{batch_size}, {num_nodes}]")
    mask = mask.bool()
    num_clusters = _check_num_clusters(num_clusters, batch_size, k)

    allowed = None if num_clusters is None else cluster_mask(num_clusters, k).unsqueeze(1)
    s_prob, node_entropy = assignment_softmax_entropy(s, allowed)
    if not bool(mask.all()):
        # Padded nodes contribute nothing: their rows of S, Z and A become 0. Without padding (every
        # level ≥ 2 with fixed K) these products would only copy S, Z and A, and autograd keep the copies.
        node = mask.unsqueeze(-1).to(x.dtype)
        s_prob = s_prob * node
        x = x * node
        adj = adj * node * node.transpose(1, 2)

    s_t = s_prob.transpose(1, 2)
    out_x = s_t @ x
    out_adj = s_t @ adj @ s_prob
    # By the Frobenius identity, as in the sparse form: no [B, N, N] product SSᵀ nor its difference
    # with A to compute and keep, and tr(SᵀAS) comes with A'.
    link_loss = _link_loss(_wide(adj).pow(2).sum(dim=(1, 2)), out_adj, _GramSquaredNorm.apply(s_prob))
    entropy = (node_entropy * mask.to(x.dtype)).sum(-1) / mask.sum(-1).clamp_min(1)
    out_mask = (torch.ones(batch_size, k, dtype=torch.bool, device=x.device) if num_clusters is None
                else cluster_mask(num_clusters, k))
    return PoolOutput(out_x, out_adj, out_mask, link_loss, entropy), s_prob


# --------------------------------------------------------------------------- sparse form
def check_sparse_batch(x: Tensor, edge_index: Tensor, batch: Tensor, edge_weight: Optional[Tensor] = None) -> None:
    """Raises ``ValueError`` naming the problem unless ``x, edge_index, batch`` form a valid PyG mini-batch.

    :class:`~diffpool.nn.DiffPool` calls this before its GNNs, so bad input fails with this message
    rather than deep inside a convolution.
    """
    if x.dim() != 2:
        raise ValueError(f"x must be [N, F] (nodes of all graphs stacked), got shape {list(x.shape)}")
    n = x.size(0)
    if batch.dim() != 1 or batch.numel() != n:
        raise ValueError(f"batch must be [N] with one graph id per node: x has {n} nodes, batch has shape {list(batch.shape)}")
    if n == 0:
        raise ValueError("the batch has no nodes")
    if batch.is_floating_point():
        raise ValueError("batch must hold integer graph ids")
    if bool((batch[1:] < batch[:-1]).any()) or int(batch[0]) != 0:
        raise ValueError("batch must be sorted graph ids starting at 0, as PyG's DataLoader makes them")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must be [2, E], got shape {list(edge_index.shape)}")
    if edge_index.is_floating_point():
        raise ValueError("edge_index must hold integer node ids")
    if edge_index.numel():
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= n:
            raise ValueError(f"edge_index refers to node ids {lo}..{hi}, but the batch has nodes 0..{n - 1}")
        if bool((batch[edge_index[0]] != batch[edge_index[1]]).any()):
            raise ValueError("edge_index has edges between nodes of different graphs")
    if edge_weight is not None:
        if edge_weight.shape != (edge_index.size(1),):
            raise ValueError(f"edge_weight must be [E] = [{edge_index.size(1)}], got {list(edge_weight.shape)}")
        _check_finite("edge_weight", edge_weight)
    _check_finite("x", x)


def _check_assignment_logits(s: Tensor, num_nodes: int) -> None:
    if s.dim() != 2:
        raise ValueError(f"s must be [N, K] assignment logits, got shape {list(s.shape)}")
    if s.size(0) != num_nodes:
        raise ValueError(f"s has {s.size(0)} rows but x has {num_nodes} nodes")
    _check_clusters(s.size(1))
    _check_finite("s", s)


def _squared_norm_per_graph(edge_index: Tensor, edge_weight: Tensor, batch: Tensor,
                            num_nodes: int, batch_size: int) -> Tensor:
    """‖A_g‖²_F per graph, with duplicate edges summed first (as ``to_dense_adj`` does)."""
    key = edge_index[0] * num_nodes + edge_index[1]
    unique_key, inverse = torch.unique(key, return_inverse=True)
    summed = torch.zeros(unique_key.numel(), dtype=edge_weight.dtype, device=edge_weight.device)
    summed = summed.index_add(0, inverse, edge_weight)
    graph = batch[torch.div(unique_key, num_nodes, rounding_mode="floor")]
    out = torch.zeros(batch_size, dtype=edge_weight.dtype, device=edge_weight.device)
    return out.index_add(0, graph, summed * summed)


def _wide(t: Tensor) -> Tensor:
    """``t`` in float32 if it is in a narrower float type (bf16/fp16 under autocast), else as it is."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


class _GramSquaredNorm(torch.autograd.Function):
    r"""``‖SᵀS‖²_F`` of assignments S [n, K] (a scalar) or [B, n, K] (one per graph, padded rows 0),
    with a hand-written backward.

    The link loss needs only this. Autograd through ``(Sᵀ S) ** 2`` would run two n×K×K products in
    the backward pass (one per operand of the product); the gradient is :math:`4\,S\,(S^\top S)`, a
    single product with the Gram matrix kept from the forward pass. With per-graph K = n/4 these
    products dominate a level-1 step, so this saves ~1/6 of its matrix work. It runs in float32
    whatever autocast says: the link loss is a small difference of large terms.
    """

    @staticmethod
    def forward(ctx, s: Tensor) -> Tensor:
        with torch.autocast(device_type=s.device.type, enabled=False):
            wide = _wide(s)
            gram = wide.transpose(-1, -2) @ wide
        ctx.save_for_backward(s, gram)
        return (gram * gram).sum(dim=(-2, -1))

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        s, gram = ctx.saved_tensors
        with torch.autocast(device_type=s.device.type, enabled=False):
            return ((_wide(s) @ gram) * (4 * grad)[..., None, None]).to(s.dtype)


def _link_loss(norm_a: Tensor, out_adj: Tensor, gram_norm: Tensor) -> Tensor:
    """``‖A − SSᵀ‖_F`` per graph by ``‖A‖²_F − 2·tr(SᵀAS) + ‖SᵀS‖²_F``, from ``‖A‖²_F`` [B], the pooled
    ``SᵀAS`` [B, K, K] and ``‖SᵀS‖²_F`` [B]: no n×n matrix. Combined in float32 (bf16 terms would
    cancel to noise)."""
    trace = out_adj.diagonal(dim1=1, dim2=2).sum(-1)
    return _safe_sqrt(_wide(norm_a) - 2 * _wide(trace) + _wide(gram_norm))


# The per-graph products run as one batched product over graphs padded to the batch's largest
# when padding adds at most PAD_ROWS_FACTOR times the rows and the padded S stays below
# PAD_MAX_ELEMENTS: small graphs then cost 3 kernels, not 3 per graph (on ENZYMES the loop was
# ~240 tiny matrix products per step). Otherwise graphs of similar size (the largest less than
# twice the smallest) are padded together, group by group, under GROUP_PAD_MAX_ELEMENTS: a random
# batch with one large graph then pays a few batched products, not one per graph (on PROTEINS the
# per-graph loop was ~160 of a step's ~245 matrix products). Groups of one graph and groups above
# that bound (large graphs) use views of S, which copy nothing (padded copies of S and A·S with
# their gradients would add ~1 GB on REDDIT-BINARY's largest graphs) and whose per-product
# overhead is negligible next to the products there.
PAD_ROWS_FACTOR = 2.0
PAD_MAX_ELEMENTS = 1 << 22
# A group of graphs is padded together only while its padded S stays this small: beyond it the
# products are large enough to run at full speed one graph at a time, and the padded copies of S,
# Z and A·S (and their backward) cost more than the calls they save (REDDIT-BINARY's groups of
# graphs of hundreds of nodes: 83 s CPU an epoch padded under the 4M bound, 70 s as views).
GROUP_PAD_MAX_ELEMENTS = 1 << 16


def similar_size_groups(sizes: list[int]) -> list[list[int]]:
    """Indices of ``sizes`` from the largest down, in groups whose largest is less than twice the
    smallest: padding a group to its largest at most doubles its rows (with cluster counts that
    grow with the size, its columns too)."""
    groups: list[list[int]] = []
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        if not groups or 2 * max(sizes[i], 1) <= max(sizes[groups[-1][0]], 1):
            groups.append([])
        groups[-1].append(i)
    return groups


def _products_padded(s_prob: Tensor, x: Tensor, a_s: Tensor, batch: Tensor, size_tensor: Tensor,
                     max_nodes: int) -> tuple[Tensor, Tensor, Tensor]:
    """``SᵀZ``, ``SᵀAS`` and ``‖SᵀS‖²_F`` of every graph, as batched products over the graphs
    zero-padded to ``max_nodes`` rows (padded rows of S are 0, so they add nothing)."""
    batch_size = size_tensor.numel()
    index = _pad_index(batch, size_tensor, max_nodes)
    s_pad = _dense_rows(s_prob, index, batch_size, max_nodes)
    s_pad_t = s_pad.transpose(1, 2)
    return (s_pad_t @ _dense_rows(x, index, batch_size, max_nodes),
            s_pad_t @ _dense_rows(a_s, index, batch_size, max_nodes), _GramSquaredNorm.apply(s_pad))


def _products_grouped(s_prob: Tensor, x: Tensor, a_s: Tensor, batch: Tensor, size_tensor: Tensor,
                      used: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """As :func:`_products_padded`, by :func:`_products_parts` over groups of similar-sized graphs
    (:func:`similar_size_groups`), every output padded to the batch's K and put back in batch order."""
    k = s_prob.size(1)
    groups = similar_size_groups(size_tensor.tolist())
    parts = _products_parts(s_prob, x, a_s, batch, size_tensor, used, groups, width=k)
    back = torch.argsort(torch.tensor([g for group in groups for g in group], device=batch.device))
    return tuple(torch.cat(values)[back] for values in zip(*parts))


def _products_parts(s_prob: Tensor, x: Tensor, a_s: Tensor, batch: Tensor, size_tensor: Tensor,
                    used: list[int], parts: list[list[int]],
                    width: Optional[int] = None) -> list[tuple[Tensor, Tensor, Tensor]]:
    """``SᵀZ`` [B_p, w, F], ``SᵀAS`` [B_p, w, w] and ``‖SᵀS‖²_F`` [B_p] of each part of graphs (graph
    indices, in that order), padded to ``width`` clusters or else to the part's largest ``used``.

    A part of several graphs whose padded S has at most :data:`GROUP_PAD_MAX_ELEMENTS` elements runs
    as batched products over its graphs zero-padded to its largest (rows) and its largest cluster
    count (columns); the rows of all such parts are gathered by one index per tensor (the gradient of
    each index is zero-filled at the size of its source: [N, K] for S and A·S, [N, F] for Z). Other
    parts run one graph at a time on views of S, which copy nothing. Graph g's columns beyond its
    ``used[g]`` are exactly 0, so they are left out and padded back as zeros.
    """
    sizes = size_tensor.tolist()
    device = batch.device
    part_rows = [max(sizes[g] for g in part) for part in parts]  # its largest graph
    part_cols = [max(used[g] for g in part) for part in parts]  # its largest cluster count
    widths = [width or cols for cols in part_cols]
    padded = [len(part) > 1 and len(part) * rows * cols <= GROUP_PAD_MAX_ELEMENTS
              for part, rows, cols in zip(parts, part_rows, part_cols)]
    small = [g for part, pad in zip(parts, padded) if pad for g in part]
    if small:
        # The nodes of every padded part's graphs, part after part: one gather per tensor, of the
        # columns those graphs use (small graphs: a few of the batch's K).
        cols_used = max(used[g] for g in small)
        members = torch.tensor(small, device=device)
        lengths = size_tensor[members]
        first = torch.cumsum(lengths, 0) - lengths  # each graph's first row among the gathered
        position = torch.arange(int(lengths.sum()), device=device) - torch.repeat_interleave(first, lengths)
        starts = torch.cumsum(size_tensor, 0) - size_tensor
        nodes = torch.repeat_interleave(starts[members], lengths) + position
        node_counts = [sum(sizes[g] for g in part) for part, pad in zip(parts, padded) if pad]
        gathered = zip(s_prob[nodes, :cols_used].split(node_counts), x[nodes].split(node_counts),
                       a_s[nodes, :cols_used].split(node_counts), position.split(node_counts))
    # Per-graph views by one split each (the backward of a split is one concatenation).
    s_parts, x_parts, as_parts = s_prob.split(sizes), x.split(sizes), a_s.split(sizes)
    out = []
    for part, pad, w, rows, cols in zip(parts, padded, widths, part_rows, part_cols):
        if pad:
            s_rows, x_rows, as_rows, pos = next(gathered)
            slot = torch.repeat_interleave(torch.arange(len(part), device=device), size_tensor[part])
            index = slot * rows + pos
            s_pad = _dense_rows(s_rows[:, :cols], index, len(part), rows)
            s_pad_t = s_pad.transpose(1, 2)
            out.append((_pad_clusters(s_pad_t @ _dense_rows(x_rows, index, len(part), rows), w, False),
                        _pad_clusters(s_pad_t @ _dense_rows(as_rows[:, :cols], index, len(part), rows), w, True),
                        _GramSquaredNorm.apply(s_pad)))
            continue
        xs, adjs, grams = [], [], []
        for g in part:
            c = used[g]
            s_g = s_parts[g][:, :c]
            xs.append(_pad_clusters(s_g.t() @ x_parts[g], w, False))
            adjs.append(_pad_clusters(s_g.t() @ as_parts[g][:, :c], w, True))
            grams.append(_GramSquaredNorm.apply(s_g))
        out.append(tuple(torch.stack(v) if len(v) > 1 else v[0].unsqueeze(0) for v in (xs, adjs, grams)))
    return out


def _pad_clusters(t: Tensor, width: int, square: bool) -> Tensor:
    """``t`` [..., c, F] (or [..., c, c] if ``square``) zero-padded to ``width`` clusters; as it is if it has them."""
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


def _propagate(edge_index: Tensor, edge_weight: Tensor, s_prob: Tensor) -> Tensor:
    r"""(A S)_i = Σ_j A_ij S_j over the edges (i, j): O(E·K) time, O(N·K) memory.

    A gather-multiply-scatter (``index_add`` of ``S[dst] · w``) materialises [E, K] tensors in the
    forward and again in the backward pass (E ≈ 2.3·N on REDDIT-BINARY). ``embedding_bag`` in sum
    mode with per-edge weights does the same sum row by row without them: on REDDIT-BINARY's 20
    largest graphs (N = 65,012, K = 946) forward + backward take 1.2 s instead of 4.1 s. It needs
    the edges grouped by source node, hence one sort of the E source ids.
    """
    num_nodes = s_prob.size(0)
    src, dst = edge_index
    order = torch.argsort(src, stable=True)
    counts = torch.bincount(src, minlength=num_nodes)
    offsets = torch.cumsum(counts, 0) - counts  # start of every node's edges; empty bags give 0
    return F.embedding_bag(dst[order], s_prob, offsets, mode="sum", per_sample_weights=edge_weight[order])


def sparse_diff_pool(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Optional[Tensor] = None,
    num_clusters: Optional[Tensor] = None,
) -> PoolOutput:
    r"""DiffPool on a PyG mini-batch, without any n×n tensor.

    Args:
        x: node embeddings :math:`Z`, [N_total, F] (nodes of all graphs stacked).
        edge_index: [2, E] edges (source, target); an edge (i, j) is the entry A[i, j].
        s: assignment logits, [N_total, K].
        batch: [N_total] sorted graph id of every node (PyG's ``batch``).
        edge_weight: optional [E]; duplicate edges add their weights.
        num_clusters: optional [B] long, clusters used by each graph (surplus logits masked).

    Returns:
        :class:`PoolOutput` with dense [B, K, F] / [B, K, K] outputs and per-graph losses.

    Cost: O(E·K + N·K·(F + K)) time and O(N·K + B·K·(F + K)) memory.
    """
    return sparse_pool_with_assignment(x, edge_index, s, batch, edge_weight, num_clusters)[0]


class _Assigned(NamedTuple):
    """What both sparse forms compute before the per-graph products."""

    x: Tensor
    s_prob: Tensor
    a_s: Tensor
    size_tensor: Tensor
    num_clusters: Optional[Tensor]
    norm_a: Tensor
    entropy: Tensor


def _assign(x: Tensor, edge_index: Tensor, s: Tensor, batch: Tensor, edge_weight: Optional[Tensor],
            num_clusters: Optional[Tensor], validate: bool) -> _Assigned:
    """Checks, S = softmax(s) with its entropies, A·S, ‖A_g‖²_F and the per-graph mean entropy."""
    if validate:
        check_sparse_batch(x, edge_index, batch, edge_weight)
        _check_assignment_logits(s, x.size(0))
    num_nodes, k = s.shape
    batch_size = int(batch[-1]) + 1
    num_clusters = _check_num_clusters(num_clusters, batch_size, k)
    if x.dtype != s.dtype:
        # Under autocast a GNN may return Z in float32 (GCN's scatter) and logits in bf16 (a
        # linear head); the products below need one dtype: the wider.
        dtype = torch.promote_types(x.dtype, s.dtype)
        x, s = x.to(dtype), s.to(dtype)
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1), dtype=x.dtype, device=x.device)
    else:
        edge_weight = edge_weight.to(x.dtype)

    # One comparison builds the [N, K] mask (cheaper than gathering rows of a [B, K] one).
    allowed = (None if num_clusters is None else
               torch.arange(k, device=s.device) < num_clusters.to(s.device)[batch].unsqueeze(-1))
    s_prob, node_entropy = assignment_softmax_entropy(s, allowed)
    a_s = _propagate(edge_index, edge_weight, s_prob)
    size_tensor = torch.bincount(batch, minlength=batch_size)
    norm_a = _squared_norm_per_graph(edge_index, edge_weight, batch, num_nodes, batch_size)
    counts = size_tensor.to(x.dtype).clamp_min(1)
    entropy = torch.zeros(batch_size, dtype=x.dtype, device=x.device).index_add(0, batch, node_entropy) / counts
    return _Assigned(x, s_prob, a_s, size_tensor, num_clusters, norm_a, entropy)


def _used_clusters(assigned: _Assigned) -> list[int]:
    k, batch_size = assigned.s_prob.size(1), assigned.size_tensor.numel()
    return [k] * batch_size if assigned.num_clusters is None else assigned.num_clusters.tolist()


def sparse_pool_with_assignment(x: Tensor, edge_index: Tensor, s: Tensor, batch: Tensor,
                                edge_weight: Optional[Tensor] = None,
                                num_clusters: Optional[Tensor] = None, *,
                                validate: bool = True) -> tuple[PoolOutput, Tensor]:
    """:func:`sparse_diff_pool` plus the assignment S it computed ([N_total, K]).

    For :class:`~diffpool.nn.DiffPool`, which returns S too: a second softmax would cost several
    passes over an [N, K] tensor and keep its autograd graph alive as long as the output lives.
    ``validate=False`` skips the input checks, for a caller that made ``x`` and ``s`` itself from
    a batch it has checked (they cost ~10 % of a small-graph training step).
    """
    a = _assign(x, edge_index, s, batch, edge_weight, num_clusters, validate)
    batch_size, k = a.size_tensor.numel(), a.s_prob.size(1)
    # Per-graph products over each graph's own rows only (batch is sorted): O(N·K·(F + K)).
    max_nodes = int(a.size_tensor.max())
    padded_rows = batch_size * max_nodes
    if padded_rows <= PAD_ROWS_FACTOR * a.s_prob.size(0) and padded_rows * k <= PAD_MAX_ELEMENTS:
        out_x, out_adj, gram_norm = _products_padded(a.s_prob, a.x, a.a_s, batch, a.size_tensor, max_nodes)
    else:
        out_x, out_adj, gram_norm = _products_grouped(a.s_prob, a.x, a.a_s, batch, a.size_tensor,
                                                      _used_clusters(a))
    out_mask = (torch.ones(batch_size, k, dtype=torch.bool, device=x.device) if a.num_clusters is None
                else cluster_mask(a.num_clusters, k))
    link_loss = _link_loss(a.norm_a, out_adj, gram_norm)
    return PoolOutput(out_x, out_adj, out_mask, link_loss, a.entropy), a.s_prob


def sparse_pool_parts(x: Tensor, edge_index: Tensor, s: Tensor, batch: Tensor,
                      parts: Sequence[Sequence[int] | Tensor], edge_weight: Optional[Tensor] = None,
                      num_clusters: Optional[Tensor] = None, *,
                      validate: bool = True) -> tuple[list[PoolOutput], Tensor]:
    """:func:`sparse_pool_with_assignment` with the pooled graphs returned in ``parts``.

    ``parts`` lists graph indices (lists or tensors; a partition of the batch into non-empty parts,
    e.g. graphs of similar cluster counts). Part ``p`` gets a :class:`PoolOutput` of its graphs, in
    its order, padded to its own largest cluster count ``w_p`` (K without ``num_clusters``):
    ``x`` [B_p, w_p, F], ``adj`` [B_p, w_p, w_p], and its graphs' losses.
    For the levels after the first, which run in such parts: the batch padded to its largest K is
    never built, nor its gradient (on REDDIT-BINARY seven zero-filled [20, K, K] tensors a step,
    K in the hundreds, and one index per part whose gradient is another).
    """
    lists = [part.tolist() if isinstance(part, Tensor) else list(part) for part in parts]
    batch_size = int(batch[-1]) + 1 if batch.numel() else 0
    if sorted(g for part in lists for g in part) != list(range(batch_size)) or not all(lists):
        raise ValueError(f"parts must list every graph of the batch (0..{batch_size - 1}) exactly once, "
                         f"in non-empty parts; got {lists}")
    a = _assign(x, edge_index, s, batch, edge_weight, num_clusters, validate)
    used = _used_clusters(a)
    outputs = []
    for part, (out_x, out_adj, gram_norm) in zip(
            lists, _products_parts(a.s_prob, a.x, a.a_s, batch, a.size_tensor, used, lists)):
        index = torch.tensor(part, device=x.device)
        counts = torch.tensor([used[g] for g in part], device=x.device)
        outputs.append(PoolOutput(out_x, out_adj, cluster_mask(counts, out_adj.size(-1)),
                                  _link_loss(a.norm_a[index], out_adj, gram_norm), a.entropy[index]))
    return outputs, a.s_prob
