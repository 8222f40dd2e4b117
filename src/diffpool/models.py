r"""Graph classifiers: the hierarchical DiffPool network and the baselines it is compared with.

:class:`DiffPoolNet` (the paper's architecture)::

    GNN block ─► DiffPool (sparse, level 1) ─► GNN block ─► DiffPool (dense) ─► … ─► GNN block
        └─ readout         └─ readout                         └─ readout            └─ readout
                               concatenate ─► MLP ─► logits

Level 1 runs on PyG's sparse mini-batch; levels ≥ 2 run on the small padded coarsened graphs.
``ModelConfig(pool=...)`` picks the pooling of every level: DiffPool (the paper's), MinCutPool or
DMoN (:data:`POOL_METHODS`); each brings its own auxiliary losses (:data:`POOL_LOSS_TERMS`).
Cluster counts follow the paper: ``K_1 = ceil(ratio · max_nodes)`` and
``K_{l+1} = ceil(ratio · K_l)``, the same for every graph (as the paper's code). With
``per_graph_clusters`` graph ``g`` uses only ``k_g = max(ceil(ratio · n_g), min_clusters)`` of
them, at most K (surplus logits masked), so small graphs do not pay for the largest one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool
from torch_geometric.utils import to_dense_batch

from .functional import Partition, dense_diff_pool, sparse_diff_pool
from .nn import (
    AttributeNorm,
    DenseDiffPool,
    DenseDMoNPool,
    DenseMinCutPool,
    DiffPool,
    DMoNPool,
    GNNBlock,
    MinCutPool,
    dense_readout,
    sparse_readout,
)
from .nn.blocks import CONV_KINDS, READOUTS, ConvKind, Readout
from .nn.pool import _LearnedPool

__all__ = [
    "ConfigError",
    "ModelConfig",
    "ModelOutput",
    "DiffPoolNet",
    "DETDiffPoolNet",
    "GraphSAGENet",
    "SumMLP",
    "build_model",
    "classification_loss",
    "attach_det_clusters",
    "loss_terms",
    "POOL_LOSS_TERMS",
    "POOL_METHODS",
    "VARIANTS",
]

VARIANTS: tuple[str, ...] = ("diffpool", "nolp", "det", "graphsage", "baseline")
LINK_NORMALIZATIONS: tuple[str, ...] = ("none", "nodes")
#: The pooling of DiffPoolNet's levels: DiffPool (Ying et al. 2018), MinCutPool (Bianchi et al. 2020),
#: DMoN (Tsitsulin et al. 2023).
POOL_METHODS: tuple[str, ...] = ("diffpool", "mincut", "dmon")
#: The auxiliary losses of each pooling, by the names classification_loss returns them under.
POOL_LOSS_TERMS: dict[str, tuple[str, ...]] = {
    "diffpool": ("link", "entropy"),
    "mincut": ("cut", "ortho"),
    "dmon": ("spectral", "ortho", "cluster"),
}
# The sparse (level 1) and dense (levels ≥ 2) layer of each pooling.
_POOL_LAYERS: dict[str, tuple[type[_LearnedPool[Any]], type[_LearnedPool[Any]]]] = {
    "diffpool": (DiffPool, DenseDiffPool),
    "mincut": (MinCutPool, DenseMinCutPool),
    "dmon": (DMoNPool, DenseDMoNPool),
}


class ConfigError(ValueError):
    """A model or run configuration (options, config file) is invalid."""


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved with every checkpoint as plain data."""

    in_channels: int
    num_classes: int
    max_nodes: int
    variant: str = "diffpool"
    # The pooling of every level (POOL_METHODS); saved models without the field are DiffPool.
    pool: str = "diffpool"
    hidden: int = 64
    layers_per_block: int = 3
    levels: int = 2
    ratio: float = 0.25
    conv: ConvKind = "sage"
    readout: Readout = "max"
    batch_norm: bool = True
    normalize: bool = True
    concat: bool = True
    # The model on its own keeps the paper's fixed K; runs default to per-graph counts with a floor
    # (diffpool.training.config.RUN_DEFAULTS_OVER_MODEL).
    per_graph_clusters: bool = False
    min_clusters: int = 1
    mlp_hidden: int = 64
    dropout: float = 0.0
    # Batch norm of the first ``normalized_attributes`` feature columns, the continuous node
    # attributes, before the first layer (see AttributeNorm). 0 (off) by default, as in the paper;
    # saved models without the field load with it off.
    normalized_attributes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"variant {self.variant!r} is not one of {', '.join(VARIANTS)}")
        pool = _pool_problem(self.variant, self.pool)
        if pool:
            problems.append(pool)
        if self.conv not in CONV_KINDS:
            problems.append(f"conv {self.conv!r} is not one of {', '.join(CONV_KINDS)}")
        if self.readout not in READOUTS:
            problems.append(f"readout {self.readout!r} is not one of {', '.join(READOUTS)}")
        if not 0 < self.ratio <= 1:
            problems.append(f"ratio must lie in (0, 1], got {self.ratio}")
        for name in (
            "in_channels",
            "num_classes",
            "max_nodes",
            "hidden",
            "layers_per_block",
            "mlp_hidden",
            "min_clusters",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.normalized_attributes <= self.in_channels:
            problems.append(
                f"normalized_attributes must lie in 0..in_channels ({self.in_channels}), "
                f"got {self.normalized_attributes}"
            )
        if self.levels < 1 and self.variant in ("diffpool", "nolp", "det"):
            problems.append(f"levels must be at least 1 for DiffPool, got {self.levels}")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must lie in [0, 1), got {self.dropout}")
        if problems:
            raise ConfigError("invalid model configuration: " + "; ".join(problems))

    def cluster_counts(self) -> list[int]:
        """K per level: ``ceil(ratio · max_nodes)``, then ``ceil(ratio · K)`` for each further level."""
        counts, size = [], self.max_nodes
        for _ in range(self.levels):
            size = max(1, math.ceil(self.ratio * size))
            counts.append(size)
        return counts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def clusters_per_graph(self, level: int, sizes: Tensor) -> Tensor | None:
        """With ``per_graph_clusters``: ``ceil(ratio · n_g)`` clusters for each graph at ``level``,
        at least ``min_clusters`` and at most the level's K; otherwise ``None`` (every graph uses all K)."""
        if not self.per_graph_clusters:
            return None
        most = self.cluster_counts()[level]
        wanted = torch.ceil(sizes.to(torch.float64) * self.ratio).long()
        return wanted.clamp(min(self.min_clusters, most), most)

    def block_options(self) -> dict[str, Any]:
        """Keyword arguments of every :class:`~diffpool.nn.GNNBlock` of the model."""
        return dict(
            num_layers=self.layers_per_block,
            conv=self.conv,
            batch_norm=self.batch_norm,
            normalize=self.normalize,
            concat=self.concat,
        )


# Why a variant cannot take another pooling (ModelConfig's message).
_NO_LEARNED_POOLING = {
    "nolp": "DiffPool's pooling without its link loss",
    "det": "clusters fixed by Graclus",
    "graphsage": "no pooling",
    "baseline": "no pooling",
}


def _pool_problem(variant: str, pool: str) -> str | None:
    """What is wrong with the pooling ``pool`` for ``variant`` (None: nothing)."""
    if pool not in POOL_METHODS:
        return f"pool {pool!r} is not one of {', '.join(POOL_METHODS)}"
    if pool != "diffpool" and variant != "diffpool":
        return (
            f"pool {pool} is the pooling of the learned hierarchy, variant diffpool; "
            f"variant {variant} has {_NO_LEARNED_POOLING.get(variant, 'no other')}"
        )
    return None


def loss_terms(config: ModelConfig) -> tuple[str, ...]:
    """The auxiliary losses the model of ``config`` returns (and :func:`classification_loss` names):
    its pooling's; DiffPool's (0 without pooling levels) for the variants that do not learn one."""
    return POOL_LOSS_TERMS[config.pool]


class ModelOutput(NamedTuple):
    """Logits plus what the auxiliary losses and the pictures need, one entry per pooling level."""

    logits: Tensor
    """[B, C] class scores."""
    aux_losses: dict[str, list[Tensor]]
    """per loss of the pooling (:data:`POOL_LOSS_TERMS`), per level, [B] that loss of each graph;
    ``link`` and ``entropy`` (no levels) for models without pooling."""
    assignments: list[Tensor]
    """per level, S: [N_total, K_1] for level 1 (rows of the sparse batch), [B, K_{l-1}, K_l] after."""
    node_counts: list[Tensor]
    """per level, [B] number of nodes each graph had on entering that level."""

    @property
    def link_losses(self) -> list[Tensor]:
        """per level, [B] ‖A − SSᵀ‖_F of each graph (DiffPool; empty for the other poolings)."""
        return self.aux_losses.get("link", [])

    @property
    def entropies(self) -> list[Tensor]:
        """per level, [B] mean assignment entropy of each graph (DiffPool; empty for the others)."""
        return self.aux_losses.get("entropy", [])


def _without_pooling(logits: Tensor) -> ModelOutput:
    """The output of a model without pooling levels: no assignments, DiffPool's terms with no levels."""
    return ModelOutput(logits, {name: [] for name in POOL_LOSS_TERMS["diffpool"]}, [], [])


def _input_norm(config: ModelConfig) -> nn.Module:
    return AttributeNorm(config.normalized_attributes) if config.normalized_attributes else nn.Identity()


def _mlp(in_channels: int, hidden: int, out_channels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_channels, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_channels)
    )


def _batch_vector(data: Any) -> tuple[Tensor, int]:
    """The graph id of every node (PyG's ``batch``; a single graph has none) and the number of graphs."""
    batch = data.batch
    if batch is None:
        batch = torch.zeros(data.x.size(0), dtype=torch.long, device=data.x.device)
    return batch, int(batch[-1]) + 1 if batch.numel() else 0


class DiffPoolNet(nn.Module):
    """The paper's hierarchical classifier, with the pooling ``config.pool`` at every level.
    ``forward(batch)`` takes a PyG ``Batch``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.input_norm = _input_norm(c)
        block = c.block_options()
        self.cluster_counts = c.cluster_counts()
        self.loss_terms = loss_terms(c)
        sparse_layer, dense_layer = _POOL_LAYERS[c.pool]
        pools: list[_LearnedPool[Any]] = []
        channels = c.in_channels
        for level, k in enumerate(self.cluster_counts):
            layer_cls = sparse_layer if level == 0 else dense_layer
            pools.append(layer_cls(channels, c.hidden, k, **block))
            channels = pools[-1].out_channels
        self.pools = nn.ModuleList(pools)
        self.final = GNNBlock(channels, c.hidden, dense=True, **block)
        readout_size = sum(p.out_channels for p in pools) + self.final.out_channels
        self.classifier = _mlp(readout_size, c.mlp_hidden, c.num_classes, c.dropout)

    def forward(self, data: Any) -> ModelOutput:
        x, edge_index = self.input_norm(data.x), data.edge_index
        batch, batch_size = _batch_vector(data)
        sizes = torch.zeros(batch_size, dtype=torch.long, device=batch.device).index_add_(
            0, batch, torch.ones_like(batch)
        )
        kind = self.config.readout
        readouts, levels, counts = [], [], []

        # With per-graph cluster counts, the coarsened graphs of a batch of mixed sizes stay in parts
        # of similar size, each padded to its own largest (Partition.by_size decides).
        num_clusters = self.config.clusters_per_graph(0, sizes)
        partition = Partition.by_size(num_clusters, batch_size, x.device)
        out = self.pools[0](x, edge_index, batch, num_clusters, partition)  # embed and pool, level 1
        readouts.append(sparse_readout(out.embedding, batch, kind, batch_size))
        levels.append(out)
        counts.append(sizes)

        for level, pool in enumerate(self.pools[1:], start=1):
            graphs = out.pooled
            sizes = graphs.sizes
            out = pool(graphs, num_clusters=self.config.clusters_per_graph(level, sizes))  # embed and pool
            readouts.append(out.embedding.per_graph(lambda z, mask: dense_readout(z, mask, kind)))
            levels.append(out)
            counts.append(sizes)

        final = self.final(out.pooled)
        readouts.append(final.per_graph(lambda z, mask: dense_readout(z, mask, kind)))
        logits = self.classifier(torch.cat(readouts, dim=-1))
        losses = {name: [level.losses[name] for level in levels] for name in self.loss_terms}
        return ModelOutput(logits, losses, [level.assignment for level in levels], counts)


# A hard assignment as logits: softmax gives exactly 1 and 0 (exp(-1e4) underflows), entropy 0.
_HARD_LOGIT = 1e4


class DETDiffPoolNet(nn.Module):
    """DiffPool-DET: the same network with S fixed to a deterministic normalised-cut clustering.

    Each graph must carry ``det_level_1 … det_level_L`` (cluster id of every node at each level)
    and ``det_sizes`` ([1, L + 1]: node count per level), as :func:`attach_det_clusters` adds.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.input_norm = _input_norm(c)
        block = c.block_options()
        self.cluster_counts = c.cluster_counts()
        blocks, channels = [], c.in_channels
        for level in range(c.levels + 1):
            blocks.append(GNNBlock(channels, c.hidden, dense=level > 0, **block))
            channels = blocks[-1].out_channels
        self.blocks = nn.ModuleList(blocks)
        self.classifier = _mlp(sum(b.out_channels for b in blocks), c.mlp_hidden, c.num_classes, c.dropout)

    def forward(self, data: Any) -> ModelOutput:
        if not hasattr(data, "det_sizes"):
            raise ValueError(
                "DiffPool-DET needs precomputed clusters: pass the data set through "
                "diffpool.models.attach_det_clusters first"
            )
        batch, batch_size = _batch_vector(data)
        sizes = data.det_sizes.view(-1, self.config.levels + 1)
        z = self.blocks[0](self.input_norm(data.x), data.edge_index)
        readouts = [sparse_readout(z, batch, self.config.readout, batch_size)]
        links, entropies, assignments, counts = [], [], [], []
        adj = mask = torch.empty(0)  # the coarsened graph: made by level 1, pooled again from level 2 on
        for level in range(self.config.levels):
            k = int(sizes[:, level + 1].max())
            hard = F.one_hot(getattr(data, f"det_level_{level + 1}"), k).to(z.dtype)
            logits = (hard * 2 - 1) * _HARD_LOGIT
            if level == 0:
                out = sparse_diff_pool(z, data.edge_index, logits, batch, num_clusters=sizes[:, 1])
                assignments.append(hard)
            else:
                owner = torch.repeat_interleave(torch.arange(batch_size, device=z.device), sizes[:, level])
                logits = to_dense_batch(logits, owner, batch_size=batch_size)[0]
                out = dense_diff_pool(z, adj, logits, mask, num_clusters=sizes[:, level + 1])
                assignments.append(to_dense_batch(hard, owner, batch_size=batch_size)[0])
            links.append(out.link_loss)
            entropies.append(out.entropy)
            counts.append(sizes[:, level])
            x, adj, mask = out.x, out.adj, out.mask
            z = self.blocks[level + 1](x, adj, mask)
            readouts.append(dense_readout(z, mask, self.config.readout))
        losses = {"link": links, "entropy": entropies}
        return ModelOutput(self.classifier(torch.cat(readouts, dim=-1)), losses, assignments, counts)


def attach_det_clusters(graphs, config: ModelConfig) -> list:
    """Copies of ``graphs`` carrying their DiffPool-DET clusters for every level (computed once each)."""
    from .graclus import det_hierarchy

    counts = config.cluster_counts()
    out = []
    for data in graphs:
        ids = det_hierarchy(
            data.edge_index, int(data.num_nodes), config.ratio, config.levels, counts, x=data.x
        )
        data = data.clone()
        sizes = [int(data.num_nodes)] + [int(level.max()) + 1 if level.numel() else 1 for level in ids]
        for level, cluster in enumerate(ids, start=1):
            setattr(data, f"det_level_{level}", cluster)
        data.det_sizes = torch.tensor([sizes])
        out.append(data)
    return out


class GraphSAGENet(nn.Module):
    """Flat baseline of the same depth and width: ``levels + 1`` GNN blocks, readout, MLP."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.input_norm = _input_norm(c)
        block = c.block_options()
        blocks, channels = [], c.in_channels
        for _ in range(max(c.levels, 0) + 1):
            blocks.append(GNNBlock(channels, c.hidden, **block))
            channels = blocks[-1].out_channels
        self.blocks = nn.ModuleList(blocks)
        self.classifier = _mlp(sum(b.out_channels for b in blocks), c.mlp_hidden, c.num_classes, c.dropout)

    def forward(self, data: Any) -> ModelOutput:
        x, edge_index = self.input_norm(data.x), data.edge_index
        batch, batch_size = _batch_vector(data)
        readouts = []
        for block in self.blocks:
            x = block(x, edge_index)
            readouts.append(sparse_readout(x, batch, self.config.readout, batch_size))
        return _without_pooling(self.classifier(torch.cat(readouts, dim=-1)))


class SumMLP(nn.Module):
    """Errica et al.'s structure-agnostic baseline: sum of node features → MLP (no edges used)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.input_norm = _input_norm(config)
        self.classifier = _mlp(config.in_channels, config.mlp_hidden, config.num_classes, config.dropout)

    def forward(self, data: Any) -> ModelOutput:
        batch, batch_size = _batch_vector(data)
        x = self.input_norm(data.x)
        return _without_pooling(self.classifier(global_add_pool(x, batch, batch_size)))


def build_model(config: ModelConfig) -> nn.Module:
    """The model a configuration describes (``nolp`` is DiffPoolNet trained without link loss;
    ``det`` needs its data passed through :func:`attach_det_clusters`)."""
    if config.variant in ("diffpool", "nolp"):
        return DiffPoolNet(config)
    if config.variant == "det":
        return DETDiffPoolNet(config)
    if config.variant == "graphsage":
        return GraphSAGENet(config)
    return SumMLP(config)


def classification_loss(
    output: ModelOutput,
    target: Tensor,
    *,
    link_weight: float = 1.0,
    entropy_weight: float = 1.0,
    link_normalization: str = "none",
    cut_weight: float = 1.0,
    ortho_weight: float = 1.0,
    spectral_weight: float = 1.0,
    cluster_weight: float = 1.0,
) -> dict[str, Tensor]:
    """Cross-entropy plus the weighted auxiliary losses of the model's pooling, each averaged over graphs
    and summed over levels: DiffPool's ``link`` and ``entropy``, MinCutPool's ``cut`` and ``ortho``,
    DMoN's ``spectral``, ``ortho`` and ``cluster`` (:data:`POOL_LOSS_TERMS`); each ``*_weight`` weighs
    the term of its name (1 in both other papers).

    ``link_normalization="nodes"`` divides each graph's ‖A − SSᵀ‖_F by its node count at that
    level (the root-mean-square reconstruction error per node pair), so graphs of every size weigh
    alike; ``"none"`` is the paper's raw norm. ``link_weight=0`` gives DiffPool-NOLP.

    Returns a dict with ``loss`` (to minimise), ``ce`` and every auxiliary term of the output, unweighted
    (``link`` and ``entropy`` for DiffPool and for models without pooling).
    """
    if link_normalization not in LINK_NORMALIZATIONS:
        raise ValueError(
            f"link_normalization must be one of {', '.join(LINK_NORMALIZATIONS)}, got {link_normalization!r}"
        )
    weights = {
        "link": link_weight,
        "entropy": entropy_weight,
        "cut": cut_weight,
        "ortho": ortho_weight,
        "spectral": spectral_weight,
        "cluster": cluster_weight,
    }
    ce = F.cross_entropy(output.logits, target)
    zero = output.logits.new_zeros(())
    terms = {}
    for name, per_level in output.aux_losses.items():
        total = zero
        for level_loss, sizes in zip(per_level, output.node_counts):
            if name == "link" and link_normalization == "nodes":
                level_loss = level_loss / sizes.clamp_min(1).to(level_loss.dtype)
            total = total + level_loss.mean()
        terms[name] = total
    loss = ce
    for name, value in terms.items():
        loss = loss + weights[name] * value
    return {"loss": loss, "ce": ce.detach(), **{name: value.detach() for name, value in terms.items()}}
