"""The size-bucketed batch sampler: coverage, determinism, similar sizes per batch, loader use."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from diffpool.data.sampler import SizeBucketSampler


def sizes_of(n=503, seed=0):
    gen = torch.Generator().manual_seed(seed)
    # A long-tailed mix like REDDIT-BINARY: many small graphs, a few very large ones.
    return (torch.rand(n, generator=gen) ** 4 * 3000).long() + 2


@pytest.mark.parametrize("pool", [None, 1, 4])
@pytest.mark.parametrize(
    "n,batch_size",
    [(503, 20), (40, 20), (41, 20), (21, 20), (7, 20), (1, 1), (10, 1), (5, 2), (81, 20), (161, 20)],
)
def test_every_graph_exactly_once_per_epoch(n, batch_size, pool):
    sampler = SizeBucketSampler(sizes_of(n), batch_size, seed=3, pool=pool)
    for _epoch in range(4):
        batches = list(sampler)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(n))
        assert all(1 <= len(b) <= batch_size + (batch_size >= 2) for b in batches)
        assert sum(len(b) > batch_size for b in batches) <= 1
        if n >= 2 and batch_size >= 2:
            assert all(len(b) >= 2 for b in batches), "a single-graph batch breaks batch norm"


@pytest.mark.parametrize("pool", [None, 4])
@pytest.mark.parametrize("min_batch", [2, 3])
@pytest.mark.parametrize("batch_size", [2, 5, 10, 20])
def test_every_epoch_has_the_same_number_of_batches(batch_size, min_batch, pool):
    """Lightning reads len() once and stops every epoch there: a longer epoch would skip batches."""
    for n in range(1, 130):
        sampler = SizeBucketSampler(sizes_of(n), batch_size, seed=n, pool=pool, min_batch=min_batch)
        counts = {len(sampler.batches(epoch)) for epoch in range(12)}
        assert counts == {len(sampler)}, (n, counts)


@pytest.mark.parametrize("pool", [None, 4])
def test_deterministic_per_seed_and_varies_between_epochs_and_seeds(pool):
    sizes = sizes_of()
    a, b = SizeBucketSampler(sizes, 20, seed=1, pool=pool), SizeBucketSampler(sizes, 20, seed=1, pool=pool)
    epochs_a = [list(a) for _ in range(3)]
    epochs_b = [list(b) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1]
    assert list(SizeBucketSampler(sizes, 20, seed=2, pool=pool)) != epochs_a[0]
    # set_epoch replays an epoch.
    a.set_epoch(1)
    assert list(a) == epochs_a[1]


def test_batches_hold_graphs_of_similar_size():
    sizes = sizes_of()
    sampler = SizeBucketSampler(sizes, 20, seed=0)
    batches = list(sampler)
    # Padded cost B·max² of the bucketed batches is close to the true Σ n², far below random batches.
    true_cost = float((sizes.double() ** 2).sum())
    bucketed = sum(len(b) * float(sizes[b].max()) ** 2 for b in batches)
    perm = torch.randperm(len(sizes), generator=torch.Generator().manual_seed(0))
    random_cost = sum(len(c) * float(sizes[c].max()) ** 2 for c in perm.split(20))
    assert bucketed < 1.5 * true_cost
    assert random_cost > 3 * bucketed
    # Batches come in shuffled order, not sorted by size.
    maxima = [int(sizes[b].max()) for b in batches]
    assert maxima != sorted(maxima)


def padded_cost(sizes, batches):
    return sum(len(b) * float(sizes[b].max()) ** 2 for b in batches)


def test_pooled_batches_are_sorted_within_random_pools():
    sizes = sizes_of(1000)
    whole = SizeBucketSampler(sizes, 20, seed=0).batches(0)
    pooled = SizeBucketSampler(sizes, 20, seed=0, pool=4).batches(0)
    perm = torch.randperm(len(sizes), generator=torch.Generator().manual_seed(0))
    random = list(perm.split(20))
    # Between whole-epoch sorting and random batches in padding cost ...
    assert padded_cost(sizes, whole) < padded_cost(sizes, pooled) < 0.7 * padded_cost(sizes, random)

    # ... and in how mixed the batches are: size ranges within a batch are wider than the sorted ones'.
    def spread(batches):
        return sum(float(sizes[b].max() - sizes[b].min()) for b in batches)

    assert spread(pooled) > 2 * spread(whole)
    # Each pool (4 batches' worth of one random permutation) is cut in size order: of any 4·20 graphs
    # of one pool, the batches partition them into contiguous size ranges.
    gen = torch.Generator().manual_seed(0 * 1_000_003 + 0)
    first_pool = set(torch.randperm(len(sizes), generator=gen)[:80].tolist())
    batches_of_pool = [b for b in pooled if set(b) <= first_pool]
    assert len(batches_of_pool) == 4
    ranges = sorted((int(sizes[b].min()), int(sizes[b].max())) for b in batches_of_pool)
    assert all(hi <= lo_next for (_, hi), (lo_next, _) in zip(ranges, ranges[1:]))


@pytest.mark.parametrize("n", [80, 45])
def test_a_set_that_fits_in_one_pool_still_changes_batch_mates_between_epochs(n):
    """One pool sorted by size would give the same batches every epoch; such a set is batched as
    without pools, whose random first-batch length moves the cuts."""
    sizes = sizes_of(n)
    pooled = SizeBucketSampler(sizes, 20, seed=4, pool=4)
    groupings = {frozenset(frozenset(b) for b in pooled.batches(epoch)) for epoch in range(6)}
    assert len(groupings) >= 3
    assert pooled.batches(2) == SizeBucketSampler(sizes, 20, seed=4).batches(2)


def test_unshuffled_gives_sorted_batches():
    sizes = sizes_of(45)
    batches = list(SizeBucketSampler(sizes, 20, shuffle=False))
    assert [len(b) for b in batches] == [20, 20, 5]
    flat = [int(sizes[i]) for b in batches for i in b]
    assert flat == sorted(flat)


def test_works_as_a_pyg_batch_sampler():
    graphs = [
        Data(x=torch.ones(n, 1), edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=n)
        for n in sizes_of(57).tolist()
    ]
    sampler = SizeBucketSampler([g.num_nodes for g in graphs], 10, seed=0)
    loader = DataLoader(graphs, batch_sampler=sampler)
    seen = sum(batch.num_graphs for batch in loader)
    assert seen == len(graphs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(sizes=[], batch_size=2), "at least one graph"),
        (dict(sizes=[3, 4], batch_size=0), "batch_size"),
        (dict(sizes=[3, -1], batch_size=2), "non-negative"),
        (dict(sizes=[3, 4], batch_size=2, pool=0), "pool must be at least 1"),
        (dict(sizes=[3, 4], batch_size=2, min_batch=0), "min_batch must be at least 1"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SizeBucketSampler(**kwargs)
