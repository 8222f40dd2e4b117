"""The implementations the epoch benchmark compares, behind one small interface.

Each :class:`Implementation` builds its model for a :class:`~.workloads.Workload`, yields the
training batches of an epoch in its own input format on its device (the copy and the conversion
are part of the measured time), and returns the training loss or the logits of a batch. The
training loop around them (:func:`benchmarks.epoch.run_case`) is identical for all.

=============  ============================================================================
name           what it is
=============  ============================================================================
``sparse``     ours, sparse first level, fixed K per level as in PyG's example, random batches
``pergraph``   ours, per-graph k (``k_g = max(ceil(ratio·n_g), min_clusters)``), size-bucketed batches
``pergraph-random``  ours, per-graph k, random batches (level 2 in parts of similar-sized graphs)
``default``    ours as ``diffpool train`` runs it by default: per-graph k with a floor of 8, random batches
``pooled``     ours, per-graph k with a floor of 8, pooled batches (size-sorted within random pools)
``dense``      ours with every level dense (:class:`~.dense_model.DenseDiffPoolNet`), random batches
``pyg``        PyG's ``dense_diff_pool`` in its example's architecture, padded to the set's max nodes
``graphsage``  ours, flat GraphSAGE of the same depth and width (``variant="graphsage"``)
``mincut``     ours as ``sparse`` with MinCutPool (``pool="mincut"``): sparse level 1, fixed K
``dmon``       ours as ``sparse`` with DMoN (``pool="dmon"``): sparse level 1, fixed K
``mincut-default``, ``dmon-default``  ours as ``default`` (per-graph k >= 8) with MinCutPool, DMoN
``pyg-mincut``  the ``pyg`` architecture with PyG's ``dense_mincut_pool``, padded as ``pyg``
``pyg-dmon``   the ``pyg`` architecture with PyG's ``DMoNPooling`` (S from the same GNN: see
               :mod:`.dense_model`), padded as ``pyg``
=============  ============================================================================

Each trains on its method's losses plus the classification loss: DiffPool's link and entropy,
MinCutPool's cut and orthogonality, DMoN's spectral, orthogonality and cluster losses (weight 1).
:data:`PYG_REFERENCE` names the PyG model each of ours is compared with.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.loader import DataLoader
from torch_geometric.utils import to_dense_adj, to_dense_batch

from diffpool.data.sampler import SizeBucketSampler
from diffpool.models import ModelConfig, build_model, classification_loss

from .dense_model import DenseDiffPoolNet, PygPoolFamilyNet
from .epoch import PYG_REFERENCE
from .reference import PygDiffPoolNet
from .workloads import Workload

__all__ = ["Implementation", "IMPLEMENTATIONS", "PYG_REFERENCE", "get_implementation", "model_config"]


def _training_defaults() -> tuple[int, int]:
    """The product's ``(DEFAULT_MIN_CLUSTERS, POOL_BATCHES)``, read when a case needs them:
    ``diffpool.training`` imports Lightning, seconds of every other case's start-up."""
    from diffpool.training.config import DEFAULT_MIN_CLUSTERS, POOL_BATCHES

    return DEFAULT_MIN_CLUSTERS, POOL_BATCHES


def model_config(
    workload: Workload,
    *,
    per_graph: bool = False,
    variant: str = "diffpool",
    min_clusters: int = 1,
    pool: str = "diffpool",
) -> ModelConfig:
    """The shared architecture: hidden 64, 3 layers per block, 2 levels at 25 %, mean readout;
    ``pool`` the pooling of every level."""
    return ModelConfig(
        in_channels=workload.num_features,
        num_classes=workload.num_classes,
        max_nodes=workload.max_nodes,
        variant=variant,
        pool=pool,
        hidden=64,
        layers_per_block=3,
        levels=2,
        ratio=0.25,
        readout="mean",
        per_graph_clusters=per_graph,
        mlp_hidden=64,
        min_clusters=min_clusters,
    )


class Implementation:
    name = ""
    description = ""

    def __init__(self, batch_size: int = 20, seed: int = 0, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)

    def build(self, workload: Workload) -> nn.Module:
        """The model, on the CPU: the caller moves it to the device."""
        raise NotImplementedError

    def train_batches(self, workload: Workload, epoch: int) -> Iterable:
        return self._on_device(self.train_loader(workload, epoch))

    def eval_batches(self, workload: Workload) -> Iterable:
        return self._on_device(self.eval_loader(workload))

    def train_loader(self, workload: Workload, epoch: int) -> Iterable:
        """An epoch's training batches, on the CPU."""
        gen = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        return DataLoader(workload.graphs, batch_size=self.batch_size, shuffle=True, generator=gen)

    def eval_loader(self, workload: Workload) -> Iterable:
        return DataLoader(workload.graphs, batch_size=self.batch_size, shuffle=False)

    def _on_device(self, batches: Iterable) -> Iterable:
        if self.device.type == "cpu":
            return batches
        return (batch.to(self.device) for batch in batches)

    def loss(self, model: nn.Module, batch) -> Tensor:
        return classification_loss(model(batch), batch.y.view(-1))["loss"]

    def predict(self, model: nn.Module, batch) -> Tensor:
        return model(batch).logits

    def config_summary(self, workload: Workload) -> dict:
        return {}


class OursSparse(Implementation):
    name = "sparse"
    description = "ours, sparse level 1, fixed K"
    per_graph = False
    min_clusters = 1
    pool = "diffpool"

    def build(self, workload):
        self.config = model_config(
            workload, per_graph=self.per_graph, min_clusters=self.min_clusters, pool=self.pool
        )
        return build_model(self.config)

    def config_summary(self, workload):
        return {
            "cluster_counts": self.config.cluster_counts(),
            "per_graph_clusters": self.per_graph,
            "min_clusters": self.config.min_clusters if self.per_graph else None,
            "pool": self.config.pool,
        }


class OursMinCut(OursSparse):
    name = "mincut"
    description = "ours, MinCutPool, sparse level 1, fixed K"
    pool = "mincut"


class OursDMoN(OursSparse):
    name = "dmon"
    description = "ours, DMoN, sparse level 1, fixed K"
    pool = "dmon"


class OursPerGraph(OursSparse):
    name = "pergraph"
    description = "ours, per-graph k, size-bucketed batches"
    per_graph = True
    bucket_pool: int | None = None  # size-sort the whole epoch

    def train_loader(self, workload, epoch):
        sampler = SizeBucketSampler(workload.sizes, self.batch_size, seed=self.seed, pool=self.bucket_pool)
        sampler.set_epoch(epoch)
        return DataLoader(workload.graphs, batch_sampler=sampler)

    def eval_loader(self, workload):
        sampler = SizeBucketSampler(workload.sizes, self.batch_size, shuffle=False)
        return DataLoader(workload.graphs, batch_sampler=sampler)


class OursPerGraphRandom(OursSparse):
    name = "pergraph-random"
    description = "ours, per-graph k, random batches"
    per_graph = True


class OursDefault(OursSparse):
    name = "default"
    description = "ours, product default: per-graph k >= 8, random batches"
    per_graph = True

    @property
    def min_clusters(self) -> int:
        return _training_defaults()[0]


class OursMinCutDefault(OursDefault):
    name = "mincut-default"
    description = "ours, MinCutPool, product default: per-graph k >= 8, random batches"
    pool = "mincut"


class OursDMoNDefault(OursDefault):
    name = "dmon-default"
    description = "ours, DMoN, product default: per-graph k >= 8, random batches"
    pool = "dmon"


class OursPooled(OursPerGraph):
    name = "pooled"
    description = "ours, per-graph k >= 8, pooled batches (size-sorted within random pools)"

    @property
    def min_clusters(self) -> int:
        return _training_defaults()[0]

    @property
    def bucket_pool(self) -> int:
        return _training_defaults()[1]


class OursDense(Implementation):
    name = "dense"
    description = "ours, all levels dense (padded to batch max)"

    def build(self, workload):
        self.config = model_config(workload)
        return DenseDiffPoolNet(self.config)

    def config_summary(self, workload):
        return {"cluster_counts": self.config.cluster_counts(), "padding": "batch max"}


class PygReference(Implementation):
    name = "pyg"
    description = "PyG dense_diff_pool, proteins_diff_pool.py architecture"

    def __init__(
        self, batch_size: int = 20, seed: int = 0, device: str = "cpu", padding: str = "dataset"
    ) -> None:
        super().__init__(batch_size, seed, device)
        if padding not in ("dataset", "batch"):
            raise ValueError(
                f"padding must be 'dataset' (as T.ToDense in PyG's example) or 'batch', got {padding!r}"
            )
        self.padding = padding

    def build(self, workload):
        self.model: nn.Module = PygDiffPoolNet(
            workload.num_features, workload.num_classes, workload.max_nodes
        )
        return self.model

    def _dense(self, batch, workload):
        # On the batch's device: a GPU pads and scatters the adjacency itself.
        n = workload.max_nodes if self.padding == "dataset" else None
        x, mask = to_dense_batch(batch.x, batch.batch, max_num_nodes=n)
        adj = to_dense_adj(batch.edge_index, batch.batch, max_num_nodes=x.size(1))
        return x, adj, mask

    def train_batches(self, workload, epoch):
        for batch in super().train_batches(workload, epoch):
            yield (*self._dense(batch, workload), batch.y.view(-1))

    def eval_batches(self, workload):
        for batch in super().eval_batches(workload):
            yield (*self._dense(batch, workload), batch.y.view(-1))

    def loss(self, model, batch):
        x, adj, mask, y = batch
        out, link, entropy = model(x, adj, mask)
        return F.nll_loss(out, y) + link + entropy

    def predict(self, model, batch):
        x, adj, mask, _ = batch
        return model(x, adj, mask)[0]

    def config_summary(self, workload):
        return {"cluster_counts": self.model.cluster_counts, "padding": self.padding}


class PygFamilyReference(PygReference):
    """The ``pyg`` architecture with PyG's pooling of another method (:class:`PygPoolFamilyNet`)."""

    method = ""

    def build(self, workload):
        self.model = PygPoolFamilyNet(
            self.method, workload.num_features, workload.num_classes, workload.max_nodes
        )
        return self.model

    def loss(self, model, batch):
        x, adj, mask, y = batch
        out, pooling_losses = model(x, adj, mask)
        return F.nll_loss(out, y) + pooling_losses

    def config_summary(self, workload):
        return {**super().config_summary(workload), "pool": self.method}


class PygMinCut(PygFamilyReference):
    name = "pyg-mincut"
    description = "PyG dense_mincut_pool, pyg reference architecture"
    method = "mincut"


class PygDMoN(PygFamilyReference):
    name = "pyg-dmon"
    description = "PyG DMoNPooling (S from the assignment GNN), pyg reference architecture"
    method = "dmon"


class OursGraphSAGE(OursSparse):
    name = "graphsage"
    description = "ours, flat GraphSAGE, same depth and width"

    def build(self, workload):
        self.config = model_config(workload, variant="graphsage")
        return build_model(self.config)

    def config_summary(self, workload):
        return {"blocks": self.config.levels + 1}


IMPLEMENTATIONS = {
    cls.name: cls
    for cls in (
        OursSparse,
        OursPerGraph,
        OursPerGraphRandom,
        OursDefault,
        OursPooled,
        OursDense,
        PygReference,
        OursGraphSAGE,
        OursMinCut,
        OursDMoN,
        OursMinCutDefault,
        OursDMoNDefault,
        PygMinCut,
        PygDMoN,
    )
}


def get_implementation(name: str, **kwargs) -> Implementation:
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {name!r}; choose from {', '.join(IMPLEMENTATIONS)}")
    return IMPLEMENTATIONS[name](**kwargs)
