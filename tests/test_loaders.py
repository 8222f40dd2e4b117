"""Training and evaluation loaders: size batching, its DDP sharding, and Lightning's epoch hand-off."""

from __future__ import annotations

import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch
from torch_geometric.data import Data

from diffpool.data.sampler import SizeBucketSampler
from diffpool.training.loaders import ShardedSizeBatches, make_loader


def graphs_of(sizes):
    return [
        Data(x=torch.full((n, 1), float(i)), edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=n)
        for i, n in enumerate(sizes)
    ]


SIZES = [(7 * i) % 53 + 1 for i in range(83)]


@pytest.mark.parametrize("pool", [None, 4])
@pytest.mark.parametrize("world_size", [2, 3])
def test_size_batches_dealt_across_processes_are_the_single_process_batches(world_size, pool):
    shards = [
        ShardedSizeBatches(SIZES, 5, seed=1, rank=r, world_size=world_size, pool=pool)
        for r in range(world_size)
    ]
    whole = SizeBucketSampler(SIZES, 5 * world_size, seed=1, pool=pool, min_batch=world_size).batches(4)
    for shard in shards:
        shard.set_epoch(4)
    steps = [list(shard) for shard in shards]
    assert all(len(s) == len(whole) for s in steps)
    for step, batch in enumerate(whole):
        parts = [s[step] for s in steps]
        assert all(parts), "every process needs a batch in every step"
        if len(batch) >= world_size:
            assert sorted(i for part in parts for i in part) == sorted(batch)


@pytest.mark.parametrize("pool", [None, 4])
@pytest.mark.parametrize("world_size", [2, 3, 4])
@pytest.mark.parametrize("num_graphs", range(40, 70))
def test_processes_share_out_every_graph_exactly_once_per_epoch(num_graphs, world_size, pool):
    """No batch is cut shorter than the number of processes (it would be padded with repeated graphs)."""
    sizes = SIZES[:num_graphs]
    shards = [
        ShardedSizeBatches(sizes, 3, seed=num_graphs, rank=r, world_size=world_size, pool=pool)
        for r in range(world_size)
    ]
    for epoch in range(3):
        for shard in shards:
            shard.set_epoch(epoch)
        seen = sorted(i for shard in shards for batch in shard for i in batch)
        assert seen == list(range(num_graphs)), (epoch, len(seen))


@pytest.mark.parametrize("batching", ["size", "pooled"])
def test_lightning_sets_the_epoch_of_size_batches(batching):
    loader = make_loader(graphs_of(SIZES), range(len(SIZES)), 6, shuffle=True, seed=0, batching=batching)
    _set_sampler_epoch(loader, 0)
    first = [b.x[:, 0].unique().tolist() for b in loader]
    _set_sampler_epoch(loader, 1)
    second = [b.x[:, 0].unique().tolist() for b in loader]
    _set_sampler_epoch(loader, 0)
    again = [b.x[:, 0].unique().tolist() for b in loader]
    assert first == again and first != second
    seen = sorted(int(i) for batch in first for i in batch)
    assert seen == list(range(len(SIZES)))


@pytest.mark.parametrize("batching", ["size", "pooled"])
def test_size_batched_evaluation_sees_every_graph_once_in_size_order(batching):
    loader = make_loader(graphs_of(SIZES), range(len(SIZES)), 10, shuffle=False, batching=batching)
    ids, sizes = [], []
    for batch in loader:
        ids += batch.x[batch.ptr[:-1], 0].long().tolist()
        sizes += (batch.ptr[1:] - batch.ptr[:-1]).tolist()
    assert sorted(ids) == list(range(len(SIZES)))
    assert sizes == sorted(SIZES)


def test_pooled_training_batches_are_size_sorted_pools_of_the_seeded_permutation():
    from diffpool.training.config import POOL_BATCHES

    loader = make_loader(graphs_of(SIZES), range(len(SIZES)), 5, shuffle=True, seed=2, batching="pooled")
    _set_sampler_epoch(loader, 3)
    batches = [sorted(b.x[:, 0].unique().long().tolist()) for b in loader]
    expected = SizeBucketSampler(SIZES, 5, seed=2, pool=POOL_BATCHES).batches(3)
    assert batches == [sorted(b) for b in expected]


@pytest.mark.parametrize("batching", ["random", "size", "pooled"])
def test_a_lightning_fit_trains_every_graph_once_in_every_epoch(batching):
    """Through a real Trainer, which reads the number of batches once, not through the sampler alone."""
    import lightning as L

    class Recorder(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.seen: dict[int, list[int]] = {}

        def training_step(self, batch, batch_idx):
            self.seen.setdefault(self.current_epoch, []).extend(batch.x[batch.ptr[:-1], 0].long().tolist())
            return self.weight.sum() * 0.0

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    sizes = SIZES[:37]  # 37 graphs in batches of 10: a random first-batch length gives 4 or 5 batches
    loader = make_loader(graphs_of(sizes), range(len(sizes)), 10, shuffle=True, seed=3, batching=batching)
    model = Recorder()
    trainer = L.Trainer(
        max_epochs=8,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    trainer.fit(model, loader)
    assert sorted(model.seen) == list(range(8))
    for epoch, ids in model.seen.items():
        assert sorted(ids) == list(range(len(sizes))), (
            f"epoch {epoch} trained {len(ids)} of {len(sizes)} graphs"
        )


def test_unknown_batching_is_refused():
    with pytest.raises(ValueError, match="batching must be one of random, size, pooled, got 'sorted'"):
        make_loader(graphs_of([3, 4]), [0, 1], 2, shuffle=True, batching="sorted")
