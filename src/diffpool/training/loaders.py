"""Data loaders whose order depends only on (seed, epoch), sharded across DDP processes by us.

A resumed run replays the same batches. Under DDP every process draws the same permutation and
takes every ``world_size``-th graph of it, so the processes' batches together are exactly the
single-process batches of ``world_size`` times the size. Training shards are padded (by wrapping)
to equal length, as DDP needs the same number of steps everywhere; evaluation shards are not, so
accuracy counts every graph exactly once.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import lightning as L
import torch
from torch.utils.data import Sampler
from torch_geometric.loader import DataLoader

__all__ = ["SeededShuffleSampler", "ShardSampler", "make_loader", "FoldData"]


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
        padded = (order * (len(self) * self.world_size // max(len(order), 1) + 1))[: len(self) * self.world_size]
        return iter(padded[self.rank:: self.world_size])

    def __len__(self) -> int:
        return -(-self.num_items // self.world_size)


class ShardSampler(Sampler[int]):
    """Every ``world_size``-th item from ``rank`` on, in order, without padding."""

    def __init__(self, num_items: int, rank: int = 0, world_size: int = 1) -> None:
        self.items = range(rank, num_items, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def make_loader(dataset, indices: Sequence[int], batch_size: int, *, shuffle: bool, seed: int = 0,
                num_workers: int = 0, rank: int = 0, world_size: int = 1) -> DataLoader:
    """A PyG loader over ``dataset[indices]`` (this process's shard when ``world_size`` > 1)."""
    subset = dataset[list(indices)]
    sampler = (SeededShuffleSampler(len(subset), seed, rank, world_size) if shuffle
               else ShardSampler(len(subset), rank, world_size))
    return DataLoader(subset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      persistent_workers=num_workers > 0)


class FoldData(L.LightningDataModule):
    """Training and evaluation graphs of one fold; loaders are made once the process rank is known."""

    def __init__(self, dataset, train_idx: Sequence[int], eval_idx: Sequence[int], batch_size: int,
                 seed: int, num_workers: int = 0) -> None:
        super().__init__()
        self.dataset, self.train_idx, self.eval_idx = dataset, list(train_idx), list(eval_idx)
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers

    def _shard(self) -> dict[str, int]:
        trainer = self.trainer
        return {"rank": trainer.global_rank, "world_size": trainer.world_size} if trainer else {}

    def train_dataloader(self) -> DataLoader:
        return make_loader(self.dataset, self.train_idx, self.batch_size, shuffle=True, seed=self.seed,
                           num_workers=self.num_workers, **self._shard())

    def val_dataloader(self) -> DataLoader:
        return make_loader(self.dataset, self.eval_idx, self.batch_size, shuffle=False,
                           num_workers=self.num_workers, **self._shard())
