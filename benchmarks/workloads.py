"""What the benchmarks run on: TU data sets as lists of graphs, and synthetic random graphs."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch_geometric.data import Data

__all__ = ["Workload", "load_workload", "default_data_root", "random_graph"]


@dataclass
class Workload:
    """A data set ready for benchmarking: graphs as a plain list (cheap indexing for every loader)."""

    name: str
    graphs: list
    num_features: int
    num_classes: int
    max_nodes: int

    @property
    def sizes(self) -> list[int]:
        return [int(g.num_nodes) for g in self.graphs]

    def subset(self, count: int, seed: int = 0) -> Workload:
        """``count`` graphs drawn at random (a smoke run's data set: every class, not the first
        one's graphs as in a TU set's order); the classes and features stay the full set's."""
        if count >= len(self.graphs):
            return self
        order = torch.randperm(len(self.graphs), generator=torch.Generator().manual_seed(seed))
        graphs = [self.graphs[i] for i in order[:count].tolist()]
        return Workload(
            self.name, graphs, self.num_features, self.num_classes, max(int(g.num_nodes) for g in graphs)
        )

    def describe(self) -> dict:
        sizes = self.sizes
        edges = [int(g.edge_index.size(1)) for g in self.graphs]
        return {
            "graphs": len(self.graphs),
            "max_nodes": self.max_nodes,
            "avg_nodes": sum(sizes) / len(sizes),
            "avg_edges": sum(edges) / len(edges) / 2,
            "features": self.num_features,
            "classes": self.num_classes,
        }


def default_data_root() -> Path | None:
    """``$DIFFPOOL_TU_ROOT``, else ``shared/datasets/tu`` beside the checkout, else None."""
    env = os.environ.get("DIFFPOOL_TU_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "datasets" / "tu"
        if candidate.is_dir():
            return candidate
    return None


def load_workload(name: str, root: str | None = None, cache: str | None = None) -> Workload:
    """Load TU set ``name`` (unfiltered) with the project's loader and default features."""
    from diffpool.data import load_tu

    root = root if root is not None else default_data_root()
    dataset = load_tu(name, root, cache=cache)
    graphs = [dataset[i] for i in range(len(dataset))]
    max_nodes = max(int(g.num_nodes) for g in graphs)
    num_classes = int(torch.cat([g.y.view(-1) for g in graphs]).max()) + 1
    return Workload(name, graphs, int(graphs[0].x.size(1)), num_classes, max_nodes)


def random_graph(num_nodes: int, avg_degree: float = 5.0, num_features: int = 16, seed: int = 0) -> Data:
    """An Erdős–Rényi-like graph with ``num_nodes`` nodes and average degree ~``avg_degree``.

    Edges are stored in both directions without duplicates or self-loops; features are Gaussian.
    """
    gen = torch.Generator().manual_seed(seed)
    m = int(math.ceil(avg_degree * num_nodes / 2))
    edge = torch.randint(0, num_nodes, (2, m), generator=gen)
    edge = edge[:, edge[0] != edge[1]]
    edge = torch.cat([edge, edge.flip(0)], dim=1)
    key = torch.unique(edge[0] * num_nodes + edge[1])
    edge_index = torch.stack([key // num_nodes, key % num_nodes])
    x = torch.randn(num_nodes, num_features, generator=gen)
    return Data(x=x, edge_index=edge_index, num_nodes=num_nodes)
