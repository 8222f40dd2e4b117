"""How the graphs of a batch are grouped for the dense work of pooling: one place for every
threshold and the one grouping function.

Two decisions use it:

* :class:`Partition` — which graphs the pooled levels (≥ 2) pad together. With per-graph cluster
  counts a random batch mixes coarsened graphs of very different sizes; padding all of them to the
  largest costs ``B·k_max²`` per level, parts of similar size ``Σ_p B_p·k_p²``.
* :func:`product_plan` — how level 1 computes its per-graph products ``SᵀZ``, ``SᵀAS``, ``SᵀS``:
  one batched product over the whole padded batch, batched products over groups of similar size,
  or one graph at a time on views of S.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["PaddedBatch", "Partition", "product_plan", "similar_size_groups"]

# Level 1's products run as one batched product over the graphs padded to the batch's largest when
# padding adds at most PAD_ROWS_FACTOR times the rows and the padded S stays below PAD_MAX_ELEMENTS:
# small graphs then cost 3 kernels, not 3 per graph. Otherwise graphs of similar size are padded
# together, group by group, while a group's padded S stays below GROUP_PAD_MAX_ELEMENTS; larger
# groups and single graphs use views of S, which copy nothing (padded copies of S and A·S of large
# graphs and their gradients cost more than the calls they save).
PAD_ROWS_FACTOR = 2.0
PAD_MAX_ELEMENTS = 1 << 22
GROUP_PAD_MAX_ELEMENTS = 1 << 16

# The pooled levels split a batch into parts only when padding it to its largest graph would cost
# at least MIN_PART_SAVING times the parts' padded work and the padded level has at least
# MIN_PADDED_CELLS cells: for small graphs each extra part's fixed cost per operation outweighs the
# padding it saves.
MIN_PART_SAVING = 2.0
MIN_PADDED_CELLS = 1 << 16


def similar_size_groups(sizes: Sequence[int]) -> list[list[int]]:
    """Indices of ``sizes`` from the largest down, in groups whose largest is less than twice the
    smallest: padding a group to its largest at most doubles its rows (and, with cluster counts that
    grow with the size, its columns)."""
    groups: list[list[int]] = []
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        if not groups or 2 * max(sizes[i], 1) <= max(sizes[groups[-1][0]], 1):
            groups.append([])
        groups[-1].append(i)
    return groups


ProductPlan = Literal["padded", "groups"]


def product_plan(sizes: Sequence[int], num_nodes: int, num_clusters: int) -> ProductPlan:
    """``"padded"``: level 1's per-graph products as one batched product over the whole batch padded
    to its largest graph; ``"groups"``: over groups of similar size (:func:`similar_size_groups`),
    large graphs one at a time."""
    padded_rows = len(sizes) * max(sizes)
    if padded_rows <= PAD_ROWS_FACTOR * num_nodes and padded_rows * num_clusters <= PAD_MAX_ELEMENTS:
        return "padded"
    return "groups"


def pad_group(num_graphs: int, rows: int, cols: int) -> bool:
    """Whether a group of graphs runs as one batched product over its graphs padded to ``rows`` nodes
    and ``cols`` clusters (else one graph at a time on views)."""
    return num_graphs > 1 and num_graphs * rows * cols <= GROUP_PAD_MAX_ELEMENTS


class Partition:
    """The graphs of a batch in parts (lists of graph indices) that the pooled levels pad separately.

    Every part is padded only to its own largest graph; batch norm still sees all parts together,
    so the result equals one batch padded to its largest graph. :meth:`merge` puts per-part values
    back into batch order.

    Build one with :meth:`whole` (one part: the plain padded batch) or :meth:`by_size` (parts of
    similar size when that saves enough padding).
    """

    def __init__(self, parts: Sequence[Sequence[int]], device: torch.device | str | None = None) -> None:
        lists = [list(map(int, part)) for part in parts]
        batch_size = sum(len(part) for part in lists)
        if sorted(g for part in lists for g in part) != list(range(batch_size)) or not all(lists):
            raise ValueError(
                f"a partition must list every graph of the batch (0..{batch_size - 1}) exactly "
                f"once, in non-empty parts; got {lists}"
            )
        self.parts = lists
        self.batch_size = batch_size
        self._whole = len(lists) == 1 and lists[0] == list(range(batch_size))
        self._index = [torch.tensor(part, dtype=torch.long, device=device) for part in lists]
        self._order = None if self._whole else torch.argsort(torch.cat(self._index))

    @classmethod
    def whole(cls, batch_size: int, device: torch.device | str | None = None) -> Partition:
        """One part holding every graph in batch order."""
        return cls([range(batch_size)], device)

    @classmethod
    def by_size(
        cls, sizes: Tensor | None, batch_size: int, device: torch.device | str | None = None
    ) -> Partition:
        """Parts of similar ``sizes`` (per graph, e.g. cluster counts: the next level's node counts),
        or :meth:`whole` when ``sizes`` is None or one padded batch is about as cheap."""
        if sizes is None or batch_size == 0:
            return cls.whole(batch_size, device)
        k = [max(int(v), 1) for v in sizes.tolist()]
        groups = similar_size_groups(k)
        padded = len(k) * max(k) ** 2
        parted = sum(len(g) * k[g[0]] ** 2 for g in groups)
        if len(groups) == 1 or padded < MIN_PADDED_CELLS or padded < MIN_PART_SAVING * parted:
            return cls.whole(batch_size, device)
        return cls(groups, device)

    @property
    def is_whole(self) -> bool:
        """One part, in batch order: nothing to split or merge."""
        return self._whole

    def __len__(self) -> int:
        return len(self.parts)

    def index(self, part: int) -> Tensor:
        """The graph indices of ``part`` as a long tensor."""
        return self._index[part]

    def split(self, values: Tensor) -> list[Tensor]:
        """Per-graph ``values`` [B, ...] in batch order → one [B_p, ...] tensor per part."""
        if self._whole:
            return [values]
        return [values.index_select(0, index.to(values.device)) for index in self._index]

    def merge(self, values: Sequence[Tensor]) -> Tensor:
        """One [B_p, ...] tensor per part → [B, ...] in batch order."""
        if self._whole:
            return values[0]
        assert self._order is not None
        return torch.cat(list(values))[self._order.to(values[0].device)]

    def merge_padded(self, values: Sequence[Tensor]) -> Tensor:
        """One [B_p, N_p, ...] tensor per part, zero-padded to the largest N_p (and, for [B_p, N_p, K_p],
        the largest K_p), in batch order."""
        if self._whole:
            return values[0]
        shape = [max(v.size(d) for v in values) for d in range(1, values[0].dim())]
        return self.merge([_zero_padded(v, shape) for v in values])


def _zero_padded(t: Tensor, shape: Sequence[int]) -> Tensor:
    """``t`` [B, *dims] zero-padded (False for bool) at the end of every dim to [B, *shape]."""
    if list(t.shape[1:]) == list(shape):
        return t
    if t.is_floating_point():
        pad = [amount for d in reversed(range(1, t.dim())) for amount in (0, shape[d - 1] - t.size(d))]
        return F.pad(t, pad)
    out = t.new_zeros(t.size(0), *shape)
    out[(slice(None),) + tuple(slice(0, n) for n in t.shape[1:])] = t
    return out


class PaddedBatch:
    """Small dense graphs of a batch in the parts of a :class:`Partition`, each part padded to its own
    largest graph: part ``p`` holds ``x`` [B_p, N_p, F], ``adj`` [B_p, N_p, N_p] and ``mask``
    [B_p, N_p] (True for real nodes).

    What the pooled levels pass on: :class:`~diffpool.nn.DenseDiffPool` and dense
    :class:`~diffpool.nn.GNNBlock` take it and return it. The properties :attr:`x`, :attr:`adj` and
    :attr:`mask` give the batch in batch order padded to its largest graph (free for one part).
    """

    def __init__(
        self, x: Sequence[Tensor], adj: Sequence[Tensor], mask: Sequence[Tensor], partition: Partition
    ) -> None:
        if not len(x) == len(adj) == len(mask) == len(partition):
            raise ValueError(
                f"a PaddedBatch needs x, adj and mask for each of the partition's {len(partition)} "
                f"parts, got {len(x)}, {len(adj)} and {len(mask)}"
            )
        self.parts = [(xp, ap, mp) for xp, ap, mp in zip(x, adj, mask)]
        self.partition = partition
        self._cache: dict[str, list[Any]] = {}

    @classmethod
    def padded(cls, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> PaddedBatch:
        """One part: ``x`` [B, N, F], ``adj`` [B, N, N], ``mask`` [B, N] (None: every node real)."""
        if x.dim() != 3 or adj.dim() != 3:
            raise ValueError(
                f"expected a padded batch x [B, N, F] and adj [B, N, N], got shapes "
                f"{list(x.shape)} and {list(adj.shape)}"
            )
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return cls([x], [adj], [mask.bool()], Partition.whole(x.size(0), x.device))

    def with_features(self, x: Sequence[Tensor]) -> PaddedBatch:
        """The same graphs with new node features (one tensor per part)."""
        out = PaddedBatch(x, [a for _, a, _ in self.parts], [m for _, _, m in self.parts], self.partition)
        out._cache = self._cache
        return out

    def cached(self, key: str, make: Callable[[list[tuple[Tensor, Tensor, Tensor]]], list[Any]]) -> list[Any]:
        """``make(parts)`` (one value per part), computed once per ``key`` and kept for later callers
        (and for this batch with other features, :meth:`with_features`): what dense layers derive
        from the graphs alone, such as their neighbourhoods or which rows are real."""
        if key not in self._cache:
            self._cache[key] = make(self.parts)
        return self._cache[key]

    def per_graph(self, fn) -> Tensor:
        """``fn(x, mask)`` of every part ([B_p, ...] each), in batch order."""
        return self.partition.merge([fn(x, mask) for x, _, mask in self.parts])

    @property
    def part_sizes(self) -> list[Tensor]:
        """Per part, [B_p] node counts."""
        return [mask.sum(-1) for _, _, mask in self.parts]

    @property
    def sizes(self) -> Tensor:
        """[B] node count of every graph, in batch order."""
        return self.partition.merge(self.part_sizes)

    @property
    def x(self) -> Tensor:
        return self.partition.merge_padded([x for x, _, _ in self.parts])

    @property
    def adj(self) -> Tensor:
        return self.partition.merge_padded([adj for _, adj, _ in self.parts])

    @property
    def mask(self) -> Tensor:
        return self.partition.merge_padded([mask for _, _, mask in self.parts])
