"""Data loaders whose order depends only on (seed, epoch), so a resumed run replays the same batches."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler
from torch_geometric.loader import DataLoader

__all__ = ["SeededShuffleSampler", "make_loader"]


class SeededShuffleSampler(Sampler[int]):
    """A fresh permutation each epoch, drawn from ``seed + epoch`` (Lightning calls ``set_epoch``)."""

    def __init__(self, num_items: int, seed: int = 0) -> None:
        self.num_items = num_items
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.num_items, generator=gen).tolist())

    def __len__(self) -> int:
        return self.num_items


def make_loader(dataset, indices: Sequence[int], batch_size: int, *, shuffle: bool, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    """A PyG loader over ``dataset[indices]``: shuffled per (seed, epoch) for training, in order otherwise."""
    subset = dataset[list(indices)]
    sampler = SeededShuffleSampler(len(subset), seed) if shuffle else None
    return DataLoader(subset, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=num_workers,
                      persistent_workers=num_workers > 0)
