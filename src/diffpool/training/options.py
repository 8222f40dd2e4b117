"""Command-line options of ``train`` and ``cv``: one per :class:`RunConfig` field, with help text.

Precedence: RunConfig defaults < the data set's own defaults (``DATASET_DEFAULTS``) < ``--preset paper``
< ``--config FILE`` (YAML) < explicit options.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from ..models import POOL_METHODS, VARIANTS, ConfigError
from ..nn.blocks import CONV_KINDS, READOUTS
from .config import (
    BATCHING,
    DATASET_DEFAULTS,
    DEFAULT_MIN_CLUSTERS,
    LOGGERS,
    LR_SCHEDULES,
    PAPER_PRESET_SOURCE,
    POOL_BATCHES,
    RunConfig,
    check_assignment_options,
    defaults_for,
    load_config_file,
    paper_preset,
)

__all__ = ["add_run_options", "run_config_from_args", "parse_settings"]

HELP: dict[str, str] = {
    "dataset": "'synthetic' or 'synthetic-large' (built-in, offline) or a TU data set name "
    "such as ENZYMES, PROTEINS",
    "data_dir": "folder holding NAME/ in the official TU layout, or NAME.zip; without it the official "
    "archive is downloaded once into $DIFFPOOL_DATA (default ~/.cache/diffpool)",
    "features": "node features: auto (attributes + one-hot labels where present, else degree), labels, "
    "attributes, degree, constant (default: auto; the synthetic set's auto is its one-hot node colours)",
    "max_nodes": "drop graphs with more than N nodes (the count is reported); default keeps all",
    "variant": "diffpool; nolp (no link-prediction loss); det (deterministic normalised-cut clusters instead "
    "of learned S); graphsage (flat GNN of the same depth); baseline (sum of node features → MLP)",
    "pool": "pooling of every level of the diffpool variant: diffpool (link and entropy losses); mincut, "
    "MinCutPool (Bianchi et al. 2020: cut and orthogonality losses, normalised coarsened adjacency); "
    "dmon, DMoN (Tsitsulin et al. 2023: modularity, orthogonality and cluster-size losses); all "
    "weighed 1 but DiffPool's, which --link-weight and --entropy-weight weigh",
    "hidden": "width of every GNN layer",
    "layers_per_block": "GNN layers per block (paper: 3)",
    "levels": "number of DiffPool levels (paper: 2, or 1 for ENZYMES/COLLAB)",
    "ratio": "clusters per level as a fraction of the nodes before it (paper: 0.25, or 0.1 with one level)",
    "conv": f"message-passing layer: {', '.join(CONV_KINDS)} (paper: sage, GraphSAGE mean)",
    "readout": f"graph readout per level: {', '.join(READOUTS)}",
    "batch_norm": "batch norm after every GNN layer but the last (over real nodes only)",
    "normalize": "L2-normalise every GNN layer's output (paper)",
    "concat": "concatenate the outputs of a block's layers (paper)",
    "per_graph_clusters": "give graph g max(ceil(ratio · n_g), --min-clusters) clusters; "
    "--no-per-graph-clusters gives every graph K = ceil(ratio · largest graph), "
    "as the paper and --preset paper do "
    "(much slower on large graphs; accuracy of both in docs/RESULTS.md)",
    "min_clusters": "with per-graph cluster counts, at least this many clusters per graph and level "
    "(at most K): small graphs keep room for a hierarchy",
    "mlp_hidden": "width of the classifier MLP",
    "dropout": "dropout in the classifier MLP",
    "input_norm": "batch norm of the continuous node attributes before the first layer, "
    "so attributes on large scales (ENZYMES, PROTEINS) do not swamp the one-hot labels, "
    "which are left as they are; "
    "statistics from training batches only; needs data with node attributes",
    "epochs": "maximum number of epochs",
    "batch_size": "graphs per mini-batch",
    "batching": "random: shuffled batches; size: graphs of similar size batched together "
    "(much cheaper with --per-graph-clusters on sets with a long tail of sizes, "
    "but it cost accuracy on PROTEINS: docs/RESULTS.md); "
    f"pooled: random pools of {POOL_BATCHES} batches' worth of graphs, "
    "each sorted by size and cut into batches",
    "lr": "Adam learning rate",
    "lr_schedule": "constant: --lr throughout; cosine: annealed from --lr towards 0 over --epochs, "
    "one step per epoch (early stopping, --patience, may end the run before the rate is low)",
    "weight_decay": "Adam weight decay",
    "grad_clip": "clip the gradient norm at this value (0: no clipping)",
    "link_weight": "weight of the link-prediction loss ‖A − SSᵀ‖_F (0 = DiffPool-NOLP; --pool diffpool)",
    "entropy_weight": "weight of the assignment-entropy loss (--pool diffpool)",
    "link_normalization": "'nodes': divide each graph's ‖A − SSᵀ‖_F by its node count (size-independent); "
    "'none': the paper's raw norm",
    "patience": "early stopping: epochs without a better validation accuracy before stopping (0: never)",
    "repeats": "fair protocol (diffpool cv): train this many models per outer fold, "
    "with different seeds on the same splits, "
    "and score the fold by their mean validation and test accuracy (Errica et al. use 3)",
    "seed": "random seed (splits, initialisation, batch order)",
    "device": "auto, cpu, cuda or mps (falls back to the CPU with a message when no GPU is present)",
    "devices": "processes/devices for data-parallel training (DDP)",
    "num_nodes": "machines for multi-node DDP",
    "strategy": "Lightning strategy: auto, ddp, ddp_spawn, ...",
    "precision": "Lightning precision, e.g. 32-true, bf16-mixed",
    "sync_batchnorm": "synchronise batch-norm statistics across DDP processes",
    "num_workers": "data-loader worker processes",
    "threads": "torch intra-op threads (1 is fastest for small graphs on a shared CPU)",
    "loggers": "also log the per-epoch metrics to this experiment tracker: tensorboard, wandb or "
    "mlflow (repeat for several; install with pip install 'diffpool[NAME]'); the CSV log, "
    "logs/metrics.csv, is always written",
}

# Options whose flag is not the field's name: one --logger per tracker fills the list loggers.
FLAGS = {"loggers": "--logger"}


# Defaults that depend on other options, as --help states them.
SHOWN_DEFAULTS = {
    "min_clusters": f"{DEFAULT_MIN_CLUSTERS} with per-graph cluster counts, 1 with fixed K "
    "(--no-per-graph-clusters, --preset paper)"
}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """One option per RunConfig field; unset options stay absent so files and presets can fill them."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML file of options (names as below, with _ or -); options given here override it",
    )
    parser.add_argument(
        "--preset", choices=("paper",), help=f"the paper's settings for the data set ({PAPER_PRESET_SOURCE})"
    )
    group = parser.add_argument_group("run options")
    defaults = RunConfig()
    for f in fields(RunConfig):
        flag = FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        default = getattr(defaults, f.name)
        own = {name: values[f.name] for name, values in DATASET_DEFAULTS.items() if f.name in values}
        also = "".join(f"; {value} for the {name} set" for name, value in own.items())
        shown = SHOWN_DEFAULTS.get(f.name, default)
        # an unset default is described in the option's own text
        help_text = HELP[f.name] if shown is None and not also else f"{HELP[f.name]} (default: {shown}{also})"
        kwargs: dict[str, Any] = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text)
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if f.name == "loggers":
            kwargs["help"] = f"{HELP[f.name]} (default: {', '.join(default)})"
            group.add_argument(flag, action="append", choices=LOGGERS, metavar="NAME", **kwargs)
            continue
        kind = {int: int, float: float}.get(type(default), str)
        if f.name in ("max_nodes", "min_clusters"):
            kind = int
        if f.name == "variant":
            kwargs["choices"] = VARIANTS
        if f.name == "pool":
            kwargs["choices"] = POOL_METHODS
        if f.name == "batching":
            kwargs["choices"] = BATCHING
        if f.name == "lr_schedule":
            kwargs["choices"] = LR_SCHEDULES
        if f.name == "features":
            kwargs["choices"] = ("auto", "labels", "attributes", "degree", "constant")
        group.add_argument(flag, type=kind, metavar=f.name.upper(), **kwargs)


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if hasattr(args, f.name)}
    from_file = load_config_file(args.config) if getattr(args, "config", None) else {}
    dataset = given.get("dataset", from_file.get("dataset", RunConfig.dataset))
    preset = paper_preset(dataset) if getattr(args, "preset", None) == "paper" else {}
    config = RunConfig.from_dict(
        {**defaults_for(dataset), **preset, **from_file, **given},
        source=getattr(args, "config", None) or "options",
    )
    check_assignment_options(config.variant, given)
    if "variant" not in given:  # a file shared by several variants may carry DiffPool's cluster options
        check_assignment_options(config.variant, from_file, where=f"{args.config}: ")
    return config


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):  # a ConfigError for the caller to place, not an exit
        raise ConfigError(message)


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def parse_settings(text: str) -> dict[str, Any]:
    """Run options written ``NAME=VALUE,NAME=VALUE`` (e.g. ``levels=1,ratio=0.1``; ``true``/``false``
    for switches), typed and checked exactly as the command-line options are. ``none`` gives an
    option whose default is unset (``max_nodes``, ``min_clusters``) back its default, e.g. a grid
    point ``per_graph_clusters=false,min_clusters=none`` against a base run with ``--min-clusters 5``."""
    parser = _RaisingParser(add_help=False)
    add_run_options(parser)
    argv: list[str] = []
    given: set[str] = set()
    unset: dict[str, Any] = {}
    options = {f.name for f in fields(RunConfig)}
    switches = {f.name for f in fields(RunConfig) if isinstance(f.default, bool)}
    optional = {f.name for f in fields(RunConfig) if f.default is None}
    for item in (part.strip() for part in text.split(",")):
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ConfigError(f"{text!r}: expected NAME=VALUE pairs separated by commas, got {item!r}")
        if name not in options:
            raise ConfigError(f"{text!r}: unknown option {name!r}")
        if name in given:
            raise ConfigError(f"{text!r}: {name} is given twice")
        given.add(name)
        if name in optional and value.strip().lower() == "none":
            unset[name] = None
        elif name in switches:
            if value.strip().lower() not in _TRUE + _FALSE:
                raise ConfigError(f"{text!r}: {name} is a switch, give true or false, not {value!r}")
            argv.append(("--" if value.strip().lower() in _TRUE else "--no-") + name.replace("_", "-"))
        else:
            argv += [FLAGS.get(name, "--" + name.replace("_", "-")), value.strip()]
    try:
        parsed = parser.parse_args(argv)
    except ConfigError as err:
        raise ConfigError(f"{text!r}: {err}") from None
    return {
        **{f.name: getattr(parsed, f.name) for f in fields(RunConfig) if hasattr(parsed, f.name)},
        **unset,
    }
