"""Run configuration: one flat dataclass, saved with every checkpoint and result as plain data.

The model options in it take their defaults from :class:`~diffpool.models.ModelConfig`; the one
difference is :data:`RUN_DEFAULTS_OVER_MODEL`.

Every field is also a command-line option (``--batch-size`` for ``batch_size``; ``--logger``, once
per logger, for ``loggers``) and a key of the YAML config file; command-line options override the
file, which overrides the preset, which overrides these defaults.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from ..models import LINK_NORMALIZATIONS, ConfigError, ModelConfig, _pool_problem

__all__ = [
    "BATCHING",
    "DATASET_DEFAULTS",
    "DEFAULT_MIN_CLUSTERS",
    "LOGGERS",
    "LR_SCHEDULES",
    "PAPER_PRESET_SOURCE",
    "RUN_DEFAULTS_OVER_MODEL",
    "RunConfig",
    "defaults_for",
    "load_config_file",
    "paper_preset",
]

# Settings that belong to a data set rather than to a run, below presets, files and options.
# The built-in synthetic set has at most 6 communities per graph. With the general default (two
# levels at 25% of the largest graph: 17 clusters) the learned clusters split communities and the
# test accuracy stayed at 0.42, near flat GraphSAGE's 0.46; one level with ceil(0.12 · 67) = 9
# clusters recovered the communities (NMI 1.0) and reached 0.95–0.98 (40 epochs, seed 0). Its pooling
# learns a lookup from node colour to cluster; with the entropy term at full weight S saturates
# before the 8 colours have 8 clusters, and colours that share one merge their communities: seeds
# 0–5 gave validation accuracy 76.9 on average (8 distinct clusters in 1 seed of 6); at 0.1, 95.2
# (4 of 6). docs/RESULTS.md, the main job across seeds.
# synthetic-large: the same classes and colours in graphs of 10⁴–5·10⁴ nodes. Its ratio sets the cluster
# count by the number of communities (at most 6) and colours (8), not by the node count: 0.12 would
# give up to 6,000 clusters and S of 5·10⁴ × 6·10³ floats (1.2 GB) per graph; at 0.0004 a graph gets
# max(ceil(0.0004 · n), 8) = 8–20 clusters. Batches of 4 graphs (up to 2·10⁵ nodes): training took
# 2.4 GB above the data at its peak on the CPU (docs/PERFORMANCE.md, Large graphs). Epochs and the
# entropy weight as the small set's, not tuned here (an epoch takes minutes on a CPU).
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "synthetic": dict(levels=1, ratio=0.12, epochs=40, entropy_weight=0.1),
    "synthetic-large": dict(levels=1, ratio=0.0004, batch_size=4, epochs=40, entropy_weight=0.1),
}


def defaults_for(dataset: str) -> dict[str, Any]:
    """The data set's own defaults (empty for TU sets: they use the general defaults or a preset)."""
    return dict(DATASET_DEFAULTS.get(dataset, {}))


#: The floor of per-graph cluster counts unless --min-clusters says otherwise: without one, the
#: paper's 10% gives a 33-node ENZYMES graph 4 clusters and the synthetic set's small graphs fewer
#: clusters than node colours (docs/RESULTS.md, findings).
DEFAULT_MIN_CLUSTERS = 8

# How training batches are drawn (RunConfig.batching, --batching, make_loader).
BATCHING = ("random", "size", "pooled")
# "pooled" sorts by size within random pools of this many batches' worth of graphs: on PROTEINS its
# epochs ran 0.79–0.95× the random batches' time (pools of 2 batches: 0.91×); an option, not the
# default, as it cost ENZYMES 2 points (docs/RESULTS.md).
POOL_BATCHES = 4
#: constant: --lr throughout; cosine: annealed from --lr towards 0 over --epochs (one step per epoch).
LR_SCHEDULES = ("constant", "cosine")
#: Where training writes its per-epoch metrics (RunConfig.loggers, --logger). The CSV log,
#: logs/metrics.csv, is always written: the others are experiment trackers added to it.
LOGGERS = ("csv", "tensorboard", "wandb", "mlflow")

# The cluster options only shape a learned assignment: DET's clusters come from Graclus, GraphSAGE
# and the baseline do not pool. Given to those variants they would be saved and silently ignored.
ASSIGNMENT_OPTIONS = ("per_graph_clusters", "min_clusters")
LEARNED_ASSIGNMENT_VARIANTS = ("diffpool", "nolp")


def check_assignment_options(variant: str, given: dict[str, Any], where: str = "") -> None:
    """Raises ConfigError if ``given`` (options as the user wrote them, in ``where`` if that is
    not the command line) turns on a cluster option that ``variant`` learns no assignment to use
    (``--min-clusters 1`` and ``--no-per-graph-clusters`` describe what such a variant does, and pass)."""
    if variant in LEARNED_ASSIGNMENT_VARIANTS:
        return
    unused = [
        name
        for name, value in given.items()
        if name in ASSIGNMENT_OPTIONS
        and (bool(value) if name == "per_graph_clusters" else value not in (None, 1))
    ]
    if unused:
        flags = " and ".join("--" + name.replace("_", "-") for name in unused)
        raise ConfigError(
            f"{where}{flags} only shape{'s' if len(unused) == 1 else ''} a learned assignment "
            f"(--variant {' or '.join(LEARNED_ASSIGNMENT_VARIANTS)}); --variant {variant} "
            + ("takes its clusters from Graclus" if variant == "det" else "does not pool")
            + ": leave it out"
        )


def _check_types(config: RunConfig) -> None:
    """Every option of its annotated type (``None`` where it is ``Optional``), so that a config
    file's ``epochs: "two"`` or quoted ``"no"`` is refused rather than misread."""
    problems = []
    hints = get_type_hints(type(config))
    for f in fields(config):
        value = getattr(config, f.name)
        kinds = [k for k in get_args(hints[f.name]) or (hints[f.name],) if k is not type(None)]
        if value is None and type(None) in get_args(hints[f.name]):
            continue
        kind = kinds[0]
        if get_origin(hints[f.name]) is tuple:
            ok = isinstance(value, tuple) and all(isinstance(v, kind) for v in value)
            if not ok:
                problems.append(f"{f.name} must be a list of names, got {value!r}")
            continue
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            hint = ""
            if kind is float and isinstance(value, str) and _is_number(value):
                hint = f" (YAML reads {value} as text: write it with a point, e.g. {float(value)!r})"
            problems.append(f"{f.name} must be {_TYPE_NAMES.get(kind, kind.__name__)}, got {value!r}{hint}")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))


_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lightning_precisions() -> set[str]:
    """The precision names Lightning's Trainer takes (empty if this Lightning does not say)."""
    try:
        from lightning.fabric.connector import _PRECISION_INPUT
    except ImportError:
        return set()
    return {str(value) for part in get_args(_PRECISION_INPUT) for value in get_args(part)}


def _lightning_strategies() -> set[str]:
    try:
        from lightning.pytorch.strategies import StrategyRegistry
    except ImportError:
        return set()
    return {"auto", *StrategyRegistry.available_strategies()}


#: Where a run's defaults (:class:`RunConfig`: the Python API's ``train``/``cross_validate`` and the
#: command) differ from the model's own (:class:`~diffpool.models.ModelConfig`, the paper's fixed K):
#: runs give every graph its own cluster count, ``max(ceil(ratio · n_g), DEFAULT_MIN_CLUSTERS)``,
#: which matched fixed K on accuracy at a fraction of the cost (docs/RESULTS.md); ``--preset paper``
#: gives the paper's fixed K. Every other model option has the model's default.
RUN_DEFAULTS_OVER_MODEL: dict[str, Any] = {"per_graph_clusters": True}


def _model_default(name: str) -> Any:
    """The default of a model option in runs: :data:`RUN_DEFAULTS_OVER_MODEL`, else ModelConfig's."""
    if name in RUN_DEFAULTS_OVER_MODEL:
        return RUN_DEFAULTS_OVER_MODEL[name]
    return next(f.default for f in fields(ModelConfig) if f.name == name)


@dataclass
class RunConfig:
    """Everything a run needs: data, model, optimisation and runtime options.

    Every field is a command-line option and a key of a YAML config file; the model options take
    their defaults from :class:`~diffpool.models.ModelConfig` except where
    :data:`RUN_DEFAULTS_OVER_MODEL` says otherwise.
    """

    # data
    dataset: str = "synthetic"
    data_dir: str | None = None
    features: str | None = None  # None: auto (the synthetic set's auto: its one-hot node colours)
    max_nodes: int | None = None
    # model
    variant: str = _model_default("variant")
    pool: str = _model_default("pool")
    hidden: int = _model_default("hidden")
    layers_per_block: int = _model_default("layers_per_block")
    levels: int = _model_default("levels")
    ratio: float = _model_default("ratio")
    conv: str = _model_default("conv")
    readout: str = _model_default("readout")
    batch_norm: bool = _model_default("batch_norm")
    normalize: bool = _model_default("normalize")
    concat: bool = _model_default("concat")
    per_graph_clusters: bool = _model_default("per_graph_clusters")
    # None: DEFAULT_MIN_CLUSTERS with per-graph counts (see cluster_floor). Kept unresolved, so that
    # settings merged over a saved configuration (a grid point --no-per-graph-clusters) resolve anew.
    min_clusters: int | None = None
    mlp_hidden: int = _model_default("mlp_hidden")
    dropout: float = _model_default("dropout")
    input_norm: bool = False
    # optimisation
    epochs: int = 100
    batch_size: int = 20
    # "size": graphs of similar size share a batch (shuffled size buckets), so the padded second
    # level costs about Σ k_g² rather than B·k_max² with per-graph cluster counts.
    batching: str = "random"
    lr: float = 1e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    grad_clip: float = 2.0
    link_weight: float = 1.0
    entropy_weight: float = 1.0
    link_normalization: str = "nodes"
    patience: int = 50
    # Fair protocol: models trained per outer fold (different seeds, same splits); the fold scores
    # their mean. Errica et al. train 3, to smooth out unlucky initialisations.
    repeats: int = 1
    # runtime
    seed: int = 0
    device: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    sync_batchnorm: bool = False
    num_workers: int = 0
    # Intra-op threads. Mini-batches of small graphs are many tiny ops, where more threads gain
    # little and, when other processes share the cores, OpenMP spin-waiting made an epoch 10×
    # slower here (2 threads: 66 s, 1 thread: 5.9 s). Raise it for very large graphs.
    threads: int = 1
    # Always "csv" first, then the trackers asked for (see LOGGERS).
    loggers: tuple[str, ...] = ("csv",)

    def __post_init__(self) -> None:
        if (
            type(self.precision) is int
        ):  # Lightning takes 32, 16, 64 as numbers too (a config file's precision: 32)
            self.precision = str(self.precision)
        # A config file's "loggers: tensorboard" or list, and config.json's list, as a tuple.
        if isinstance(self.loggers, str):
            self.loggers = (self.loggers,)
        elif isinstance(self.loggers, list):
            self.loggers = tuple(self.loggers)
        _check_types(self)
        problems = []
        unknown = [name for name in self.loggers if name not in LOGGERS]
        if unknown:
            problems.append(
                f"loggers must be among {', '.join(LOGGERS)}, got {', '.join(map(repr, unknown))}"
            )
        else:
            self.loggers = tuple(dict.fromkeys(("csv", *self.loggers)))
        for name in ("epochs", "batch_size", "devices", "num_nodes", "threads", "min_clusters", "repeats"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr",):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("weight_decay", "grad_clip", "link_weight", "entropy_weight", "patience", "num_workers"):
            value = getattr(self, name)
            if value < 0 or (isinstance(value, float) and math.isnan(value)):
                problems.append(f"{name} must be >= 0, got {value}")
        if any(part in self.dataset for part in ("/", "\\", "..")) or not self.dataset.strip():
            problems.append(
                f"dataset must be a data set name (e.g. ENZYMES), not a path: {self.dataset!r}; "
                "point --data-dir at the folder"
            )
        if self.max_nodes is not None and self.max_nodes < 1:
            problems.append(f"max_nodes must be at least 1, got {self.max_nodes}")
        if self.min_clusters is not None and self.min_clusters > 1 and not self.per_graph_clusters:
            problems.append(
                f"min_clusters ({self.min_clusters}) only applies with per-graph cluster counts: "
                "add --per-graph-clusters, or leave --min-clusters out"
            )
        pool = _pool_problem(self.variant, self.pool)
        if pool:
            problems.append(pool)
        if self.batching not in BATCHING:
            problems.append(f"batching must be one of {', '.join(BATCHING)}, got {self.batching!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.device not in ("auto", "cpu", "cuda", "gpu", "mps"):
            problems.append(f"device must be auto, cpu, cuda or mps, got {self.device!r}")
        if self.link_normalization not in LINK_NORMALIZATIONS:
            problems.append(
                f"link_normalization must be one of {', '.join(LINK_NORMALIZATIONS)} (none: the "
                f"paper's raw norm), got {self.link_normalization!r}"
            )
        if not 0 <= self.seed < 2**32:
            problems.append(f"seed must lie in 0..2**32 - 1, got {self.seed}")
        precisions = _lightning_precisions()
        if precisions and self.precision not in precisions:
            problems.append(
                f"precision must be one of {', '.join(sorted(precisions))}, got {self.precision!r}"
            )
        strategies = _lightning_strategies()
        if strategies and self.strategy not in strategies:
            problems.append(
                f"strategy {self.strategy!r} is not one of Lightning's: auto, "
                + ", ".join(s for s in sorted(strategies) if s != "auto")
            )
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))

    def model_config(
        self, in_channels: int, num_classes: int, max_nodes: int, num_attributes: int = 0
    ) -> ModelConfig:
        """The model this run trains, for data with these dimensions (``num_attributes``: how many of the
        feature columns, the first ones, are continuous node attributes)."""
        if self.input_norm and num_attributes < 1:
            raise ConfigError(
                f"--input-norm normalises continuous node attributes, and the {self.dataset} "
                "features have none (one-hot labels and degrees are on one scale already): "
                "leave it out, or use --features auto/attributes on data with attributes"
            )
        # Every model option is a run option of the same name; max_nodes is not one of them: here it
        # is a data filter, for the model it is the largest graph (given).
        settings = self.to_dict()
        shared = {
            f.name: settings[f.name]
            for f in fields(ModelConfig)
            if f.name in settings and f.name != "max_nodes"
        }
        return ModelConfig(
            in_channels=in_channels,
            num_classes=num_classes,
            max_nodes=max_nodes,
            normalized_attributes=num_attributes if self.input_norm else 0,
            **shared,
        )

    @property
    def cluster_floor(self) -> int:
        """The fewest clusters a graph gets per level: ``min_clusters``, or by default
        :data:`DEFAULT_MIN_CLUSTERS` with per-graph cluster counts and 1 (no floor) with fixed K."""
        if self.min_clusters is not None:
            return self.min_clusters
        return DEFAULT_MIN_CLUSTERS if self.per_graph_clusters else 1

    def to_dict(self) -> dict[str, Any]:
        """The options as saved with a run, saying what it computes: the cluster floor resolved, and
        no per-graph cluster counts for the variants that learn no assignment (DET's clusters come
        from Graclus; GraphSAGE and the baseline do not pool), so their runs compare equal whatever
        the default."""
        # loggers as a list: plain data in JSON and YAML alike
        values = {**asdict(self), "loggers": list(self.loggers)}
        if self.variant in LEARNED_ASSIGNMENT_VARIANTS:
            return {**values, "min_clusters": self.cluster_floor}
        return {**values, "per_graph_clusters": False, "min_clusters": 1}

    @classmethod
    def for_dataset(cls, dataset: str = "synthetic", **options: Any) -> RunConfig:
        """The configuration for ``dataset``: its own defaults (see :data:`DATASET_DEFAULTS`), then
        ``options``."""
        return cls.from_dict({**defaults_for(dataset), "dataset": dataset, **options})

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "configuration") -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown option(s) {', '.join(unknown)}; known options are "
                f"{', '.join(sorted(known))}"
            )
        return cls(**values)


# The paper's settings (Ying et al. 2018, Section 4.1 "Experimental setup" and the authors' repository
# github.com/RexYing/diffpool, example commands in its README): GraphSAGE-mean GNN blocks of 3 layers,
# batch norm after every layer, L2-normalised embeddings, layer outputs concatenated; Adam with
# learning rate 1e-3, batch size 20, gradient clipping at 2.0; cluster ratio 25% with two pooling
# levels for larger sets, 10% with one level for ENZYMES and COLLAB; every graph gets the same
# K = ceil(ratio · largest graph) clusters, as the authors' code pads every graph to the largest.
PAPER_PRESET_SOURCE = "Ying et al., NeurIPS 2018, Sec. 4.1, and the authors' repository's example commands"
_PAPER_COMMON = dict(
    variant="diffpool",
    conv="sage",
    layers_per_block=3,
    batch_norm=True,
    normalize=True,
    concat=True,
    lr=1e-3,
    batch_size=20,
    grad_clip=2.0,
    per_graph_clusters=False,
    min_clusters=1,
)  # with --per-graph-clusters: the paper's ceil(ratio · n_g), no floor
_PAPER_LEVELS = {
    "ENZYMES": dict(levels=1, ratio=0.10),
    "COLLAB": dict(levels=1, ratio=0.10),
    "PROTEINS": dict(levels=2, ratio=0.25),
    "DD": dict(levels=2, ratio=0.25),
    "REDDIT-MULTI-12K": dict(levels=2, ratio=0.25),
    "REDDIT-BINARY": dict(levels=2, ratio=0.25),
}


def paper_preset(dataset: str) -> dict[str, Any]:
    """The paper's settings for ``dataset`` (two levels at 25% where the paper names none)."""
    return {**_PAPER_COMMON, **_PAPER_LEVELS.get(dataset.upper(), dict(levels=2, ratio=0.25))}


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Options from a YAML file (a mapping of option names to values), checked against RunConfig."""
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"{path}: expected a mapping of option names to values, got {type(values).__name__}"
        )
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)}")
    return values
