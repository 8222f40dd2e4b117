"""Data loaders whose order depends only on (seed, epoch), sharded across DDP processes by us.

A resumed run replays the same batches. Under DDP every process draws the same permutation and
takes every ``world_size``-th graph of it, so the processes' batches together are exactly the
single-process batches of ``world_size`` times the size. Training shards are padded (by wrapping)
to equal length, as DDP needs the same number of steps everywhere; evaluation shards are not, so
accuracy counts every graph exactly once.

``batching="size"`` puts graphs of similar size into one batch (:class:`SizeBucketSampler`): with
per-graph cluster counts the padded second level then costs about ``Σ_g k_g²`` instead of
``B · k_max²``. Under DDP each size bucket holds ``world_size`` batches' worth of graphs and is dealt
out across the processes, so the processes' batches together are again the single-process batches
(with three or more processes, those cut with no batch below ``world_size`` graphs, so that every
process gets one: ``SizeBucketSampler(min_batch=world_size)``).
``batching="pooled"`` sorts by size only within random pools of :data:`POOL_BATCHES` batches' worth
of graphs (a bucket iterator): nearly random batch mates, most of the saving in level 2.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import Sampler
from torch_geometric.loader import DataLoader

from ..data.sampler import SizeBucketSampler
from .config import BATCHING, POOL_BATCHES

__all__ = ["SeededShuffleSampler", "ShardSampler", "ShardedSizeBatches", "make_loader", "FoldData"]


class SeededShuffleSampler(Sampler[int]):
    """This process's share of a fresh permutation each epoch, drawn from ``seed`` and ``epoch``."""

    def __init__(self, num_items: int, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.num_items, self.seed, self.rank, self.world_size = num_items, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this at the start of every epoch."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.num_items, generator=gen).tolist()
        padded = (order * (len(self) * self.world_size // max(len(order), 1) + 1))[
            : len(self) * self.world_size
        ]
        return iter(padded[self.rank :: self.world_size])

    def __len__(self) -> int:
        return -(-self.num_items // self.world_size)


class ShardSampler(Sampler[int]):
    """Every ``world_size``-th item of ``order`` from ``rank`` on, without padding."""

    def __init__(self, order: Sequence[int], rank: int = 0, world_size: int = 1) -> None:
        self.items = list(order)[rank::world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class ShardedSizeBatches(Sampler[list[int]]):
    """This process's share of each size-bucketed batch of ``batch_size · world_size`` graphs."""

    def __init__(
        self,
        sizes: Sequence[int],
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pool: int | None = None,
    ) -> None:
        self.buckets = SizeBucketSampler(
            sizes, batch_size * world_size, seed=seed, pool=pool, min_batch=max(2, world_size)
        )
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        # Lightning calls set_epoch on ``loader.batch_sampler.sampler``, not on the batch sampler.
        self.sampler = self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.buckets.batches(self.epoch):
            if len(batch) < self.world_size:  # fewer graphs than processes: every process needs a batch
                batch = (batch * self.world_size)[: self.world_size]
            yield batch[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self.buckets.batches(self.epoch))


def graph_sizes(graphs) -> list[int]:
    """Node count of every graph in a PyG data set or list of graphs."""
    return [int(graph.num_nodes) for graph in graphs]


def make_loader(
    dataset,
    indices: Sequence[int],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    batching: str = "random",
) -> DataLoader:
    """A PyG loader over ``dataset[indices]`` (this process's shard when ``world_size`` > 1).

    ``batching="size"`` batches graphs of similar size together: shuffled size buckets for
    training, graphs in order of size for evaluation. ``batching="pooled"`` trains on size-sorted
    batches of random pools and evaluates in order of size.
    """
    if batching not in BATCHING:
        raise ValueError(f"batching must be one of {', '.join(BATCHING)}, got {batching!r}")
    indices = list(indices)
    # A PyG data set takes an index list; a plain list of graphs (e.g. with DET clusters) does not.
    subset = [dataset[i] for i in indices] if isinstance(dataset, list) else dataset[indices]
    workers = dict(num_workers=num_workers, persistent_workers=num_workers > 0)
    if batching in ("size", "pooled"):
        sizes = graph_sizes(subset)
        if shuffle:
            pool = POOL_BATCHES if batching == "pooled" else None
            return DataLoader(
                subset,
                batch_sampler=ShardedSizeBatches(sizes, batch_size, seed, rank, world_size, pool=pool),
                **workers,
            )
        order = sorted(range(len(sizes)), key=sizes.__getitem__)
        return DataLoader(
            subset, batch_size=batch_size, sampler=ShardSampler(order, rank, world_size), **workers
        )
    sampler = (
        SeededShuffleSampler(len(subset), seed, rank, world_size)
        if shuffle
        else ShardSampler(range(len(subset)), rank, world_size)
    )
    return DataLoader(subset, batch_size=batch_size, sampler=sampler, **workers)


class FoldData(L.LightningDataModule):
    """Training and evaluation graphs of one fold; loaders are made once the process rank is known."""

    def __init__(
        self,
        dataset,
        train_idx: Sequence[int],
        eval_idx: Sequence[int],
        batch_size: int,
        seed: int,
        num_workers: int = 0,
        batching: str = "random",
    ) -> None:
        super().__init__()
        self.dataset, self.train_idx, self.eval_idx = dataset, list(train_idx), list(eval_idx)
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.batching = batching

    def _shard(self) -> dict[str, Any]:
        trainer = self.trainer
        shard = {"rank": trainer.global_rank, "world_size": trainer.world_size} if trainer else {}
        return {**shard, "batching": self.batching}

    def train_dataloader(self) -> DataLoader:
        return make_loader(
            self.dataset,
            self.train_idx,
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            num_workers=self.num_workers,
            **self._shard(),
        )

    def val_dataloader(self) -> DataLoader:
        return make_loader(
            self.dataset,
            self.eval_idx,
            self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            **self._shard(),
        )
