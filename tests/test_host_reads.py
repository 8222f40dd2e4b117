"""Reads from the device to the host in a training step of the model: each one stalls a GPU until
its queue drains. The ones that remain (shapes that depend on data) are listed in
docs/PERFORMANCE.md, "Reads from the device"; this test counts them, on the CPU too, so that a new
one is a deliberate change."""

from __future__ import annotations

import collections

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch_geometric.data import Batch, Data

from diffpool.functional import _partition
from diffpool.models import ModelConfig, build_model, classification_loss

# aten operations that read a tensor's values on the host: a scalar, or a size that depends on data.
_READS = {
    "_local_scalar_dense",
    "nonzero",
    "_unique2",
    "unique_dim",
    "unique_consecutive",
    "masked_select",
    "bincount",
}


class HostReads(TorchDispatchMode):
    """Counts the operations that read device values on the host (``.tolist()`` included)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        # repeat_interleave(repeats) sums the repeats on the host unless given output_size
        if name in _READS or (
            name == "repeat_interleave"
            and func._overloadname == "Tensor"
            and kwargs.get("output_size") is None
        ):
            self.counts[name] += 1
        return func(*args, **kwargs)

    def __enter__(self):
        self._tolist = torch.Tensor.tolist
        counts = self.counts
        original = self._tolist

        def tolist(tensor):
            counts["tolist"] += 1
            return original(tensor)

        torch.Tensor.tolist = tolist
        return super().__enter__()

    def __exit__(self, *exc):
        torch.Tensor.tolist = self._tolist
        return super().__exit__(*exc)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _batch(sizes: list[int], seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for n in sizes:
        edges = torch.randint(0, n, (2, 3 * n), generator=gen)
        graphs.append(
            Data(
                x=torch.randn(n, 6, generator=gen),
                edge_index=torch.cat([edges, edges.flip(0)], 1),
                y=torch.tensor([n % 3]),
            )
        )
    return Batch.from_data_list(graphs)


def _reads_per_step(model, batch) -> HostReads:
    classification_loss(model(batch), batch.y)["loss"].backward()  # warm-up outside the count
    model.zero_grad()
    with HostReads() as reads:
        classification_loss(model(batch), batch.y)["loss"].backward()
    return reads


# Per training step of the two-level model (see docs/PERFORMANCE.md, "Reads from the device"):
# the batch size, the input checks, level 1's graph sizes and its link-loss check; per dense
# level with one part, the real rows and the link-loss check; the final block's real rows. With
# per-graph cluster counts add the partition and each level's largest cluster count.
@pytest.mark.parametrize(
    "per_graph, parts, expected", [(False, False, 7), (True, False, 10), (True, True, 12)]
)
def test_reads_from_the_device_per_training_step(monkeypatch, per_graph, parts, expected):
    monkeypatch.setattr(_partition, "MIN_PADDED_CELLS", 0 if parts else float("inf"))
    sizes = [150, 3, 40, 9, 90, 1, 20, 60, 12, 30]
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(
            in_channels=6,
            num_classes=3,
            max_nodes=150,
            hidden=8,
            mlp_hidden=8,
            per_graph_clusters=per_graph,
            min_clusters=2 if per_graph else 1,
        )
    )
    batch = _batch(sizes)
    if parts:
        counts = model.config.clusters_per_graph(0, torch.tensor(sizes))
        assert len(_partition.Partition.by_size(counts, len(sizes))) > 1
    reads = _reads_per_step(model, batch)
    assert reads.total == expected, dict(reads.counts)


def test_the_counter_sees_each_kind_of_read():
    t = torch.tensor([1, 0, 2])
    with HostReads() as reads:
        int(t[0])
        t.nonzero()
        t.tolist()
        torch.unique(t)
        torch.repeat_interleave(t, t)
        torch.repeat_interleave(t, t, output_size=3)  # the size given: no read
    assert reads.total == 5, dict(reads.counts)
