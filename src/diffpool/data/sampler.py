"""A batch sampler that puts graphs of similar size into the same mini-batch.

Why: from the second DiffPool level on, a batch is padded to its largest graph. With per-graph
cluster counts (``k_g = ceil(ratio · n_g)``) level 2 then costs ``B · k_max²`` per batch instead of
the ``Σ_g k_g²`` it needs; on REDDIT-BINARY a random batch pays up to ~29× more than needed. Batches
of similar-sized graphs make ``k_max ≈ k_g`` for every graph in the batch.

How: every epoch the graphs are sorted by size (ties broken at random) and cut into consecutive
batches, the first of a random length between ``batch_size / 2`` and ``batch_size`` (so batch
boundaries, and hence batch mates, change from epoch to epoch, while their number does not: Lightning
reads it once); then the order of the batches is shuffled. Every graph appears exactly once per
epoch, no batch holds fewer than ``min_batch`` graphs when that can be avoided (batch norm needs two
values; where it cannot, the short last batch joins the one before it), and the sequence of epochs
depends only on ``seed``.

With ``pool=P`` the sort is local: every epoch the graphs are shuffled, cut into pools of
``P · batch_size`` graphs, and each pool is sorted by size and cut into batches (a bucket
iterator). Batch mates are then near in size only within a random pool, so batches stay close to
random ones while level 2 still pays much less padding. A set that fits in one pool is batched as
without ``pool`` (the random first-batch length then varies the batch mates from epoch to epoch).

Example::

    sampler = SizeBucketSampler(graph_sizes, batch_size=20, seed=0)
    loader = torch_geometric.loader.DataLoader(graphs, batch_sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)    # optional: epochs also advance on their own
        for batch in loader: ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

__all__ = ["SizeBucketSampler"]


class SizeBucketSampler:
    """Yields lists of graph indices; graphs in one list have similar node counts.

    Args:
        sizes: node count of every graph (a sequence or a 1-D tensor).
        batch_size: graphs per batch (the last batch of an epoch may be smaller).
        seed: fixes every epoch's batches and their order.
        shuffle: ``False`` gives the same size-sorted batches, in size order, every epoch
            (useful for inference).
        pool: sort only within random pools of ``pool`` batches' worth of graphs; ``None`` sorts
            the whole epoch.
        min_batch: no batch holds fewer graphs where that can be avoided (2: batch norm needs two
            values; DDP deals a batch out to its processes, so there it is their number).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        pool: int | None = None,
        min_batch: int = 2,
    ) -> None:
        counts = torch.as_tensor(sizes, dtype=torch.long).flatten()
        if counts.numel() == 0:
            raise ValueError("SizeBucketSampler needs at least one graph")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if bool((counts < 0).any()):
            raise ValueError("graph sizes must be non-negative")
        if pool is not None and pool < 1:
            raise ValueError(f"pool must be at least 1 batch, got {pool}")
        if min_batch < 1:
            raise ValueError(f"min_batch must be at least 1, got {min_batch}")
        self.pool = pool
        self.min_batch = int(min_batch)
        self.sizes = counts
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0
        self._epoch_set = False

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s batches on the next iteration (as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)
        self._epoch_set = True

    def __len__(self) -> int:
        return len(self.batches())

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """The batches of ``epoch`` (default: the current one), as lists of graph indices."""
        epoch = self.epoch if epoch is None else epoch
        n, size = self.sizes.numel(), self.batch_size
        if not self.shuffle:
            order = torch.argsort(self.sizes, stable=True)
            return [chunk.tolist() for chunk in order.split(size)]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        # Sort by size with a random tie-break: a random permutation, then a stable sort.
        perm = torch.randperm(n, generator=gen)
        if self.pool is None or n <= self.pool * size:
            order = perm[torch.argsort(self.sizes[perm], stable=True)]
            first = self._first_batch_length(n, gen)
            chunks = [order[:first]] + list(order[first:].split(size)) if first < n else [order]
        else:  # pools are whole batches, so only the epoch's last batch can be short
            chunks = []
            for members in perm.split(self.pool * size):
                chunks += members[torch.argsort(self.sizes[members], stable=True)].split(size)
        if size >= self.min_batch and len(chunks) > 1 and chunks[-1].numel() < self.min_batch:
            # An unavoidably short last batch (e.g. odd n, batch_size 2) joins the batch cut before it.
            chunks[-2:] = [torch.cat(chunks[-2:])]
        batch_order = torch.randperm(len(chunks), generator=gen).tolist()
        return [chunks[i].tolist() for i in batch_order]

    def _first_batch_length(self, n: int, gen: torch.Generator) -> int:
        """A random first-batch length that leaves no batch below ``min_batch`` graphs (if possible)."""
        size, smallest = self.batch_size, self.min_batch
        if size < max(2, smallest) or n <= size:
            return min(size, n)
        candidates = [
            r for r in range(max(smallest, size // 2), size + 1) if not 0 < (n - r) % size < smallest
        ]
        if not candidates:
            return size
        # Lightning reads the number of batches once and ends every epoch there, so a longer epoch
        # would silently skip its last batches: keep the lengths that give the count most give.
        counts = [-(-(n - r) // size) for r in candidates]
        common = max(sorted(set(counts)), key=counts.count)
        candidates = [r for r, count in zip(candidates, counts) if count == common]
        return candidates[int(torch.randint(0, len(candidates), (1,), generator=gen))]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches()
        if not self._epoch_set:
            self.epoch += 1
        self._epoch_set = False
        return iter(batches)
