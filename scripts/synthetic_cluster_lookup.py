#!/usr/bin/env python3
"""Does a synthetic-set model pool by a lookup from node colour to cluster? (docs/RESULTS.md, findings)

For each run folder of `diffpool train` on the synthetic set: on its test graphs, the share of nodes
whose level-1 cluster (argmax of S) is their colour's most common cluster (purity 1.0: the cluster
is a function of the colour), and how many distinct clusters the 8 colours go to (fewer than 8:
colours share a cluster, so communities of those colours merge when they meet in one graph).

Usage: python scripts/synthetic_cluster_lookup.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict

import torch
from torch_geometric.loader import DataLoader

from diffpool.data.splits import load_splits
from diffpool.training import RunConfig
from diffpool.training.checkpoints import read_checkpoint
from diffpool.training.predict import model_from_checkpoint
from diffpool.training.protocols import load_dataset


def colour_lookup(run_dir: str) -> dict:
    checkpoint = f"{run_dir}/checkpoints/best.ckpt"
    model, hparams = model_from_checkpoint(read_checkpoint(checkpoint), checkpoint)
    dataset = load_dataset(RunConfig.from_dict(hparams["run_config"]))
    test = load_splits(f"{run_dir}/splits.json", len(dataset))[0]["test"]
    clusters_by_colour: dict[int, Counter] = defaultdict(Counter)
    with torch.no_grad():
        for batch in DataLoader([dataset[i] for i in test], batch_size=20):
            cluster = model(batch).assignments[0].argmax(-1)
            for colour, k in zip(batch.x.argmax(-1).tolist(), cluster.tolist()):
                clusters_by_colour[colour][k] += 1
    nodes = sum(sum(c.values()) for c in clusters_by_colour.values())
    return {
        "run": run_dir,
        "purity": round(sum(max(c.values()) for c in clusters_by_colour.values()) / nodes, 3),
        "colours": len(clusters_by_colour),
        "distinct_clusters": len({c.most_common(1)[0][0] for c in clusters_by_colour.values()}),
    }


if __name__ == "__main__":
    for run in sys.argv[1:]:
        print(json.dumps(colour_lookup(run)))
