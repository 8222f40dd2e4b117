r"""How fast can a fixed-k DiffPool epoch get against PyG's, given what its GNN layers cost?

The epoch benchmark's fixed-k model (``sparse``) and PyG's reference (``pyg``) run the same levels 2
and 3 on the same [B, K_1, ·] tensors; only level 1 differs (ours sparse, PyG padded to the set's
largest graph). In one process, epochs of the cases interleaved, this measures:

- PyG's training epoch, and the same steps cut at level 1's output (:func:`split_pyg_step`): level 1
  forward + backward (``pyg_level1_s``) and everything after it (``pyg_rest_s``: levels 2–3,
  readout, MLP, loss);
- our fixed-k epoch and flat GraphSAGE's (9 PyG ``SAGEConv`` layers, as in the epoch benchmark).

Our level 1 runs two GNNs of 3 ``SAGEConv`` layers over the rows on which flat GraphSAGE runs 9, so it
costs at least 6/9 of a GraphSAGE epoch (which also charges 6/9 of GraphSAGE's data loading and
Adam steps, less than our own: the floor leans low). With level 1's pooling math free and levels
≥ 2 no cheaper than PyG's (ours do the same on the same tensors, plus the paper's L2 normalisation
and per-level readouts), our epoch takes at least ``pyg_rest_s + 6/9 · graphsage_s``, so
``best_possible_speedup = pyg_s / floor``: a speed target above it needs faster GNN layers, not
faster pooling.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["split_pyg_step", "run_headroom", "add_headroom_arguments", "run_headroom_command", "main"]

LEVEL1_LAYERS, GRAPHSAGE_LAYERS = 6, 9


def split_pyg_step(model, x: Tensor, adj: Tensor, mask: Tensor, y: Tensor) -> tuple[float, float]:
    """Forward and backward of one training step of :class:`~.reference.PygDiffPoolNet`, cut at
    level 1's output by a detach so each side is timed alone; accumulates the same gradients as
    ``loss.backward()`` on the uncut step. Returns (level 1 seconds, rest seconds)."""
    t0 = time.perf_counter()
    pooled_x, pooled_adj, link1, entropy1 = model.level1(x, adj, mask)
    x1, adj1 = pooled_x.detach().requires_grad_(), pooled_adj.detach().requires_grad_()
    t1 = time.perf_counter()
    log_probs, link2, entropy2 = model.rest(x1, adj1)
    (F.nll_loss(log_probs, y) + link2 + entropy2).backward()
    t2 = time.perf_counter()
    torch.autograd.backward(
        [pooled_x, pooled_adj, link1 + entropy1], [x1.grad, adj1.grad, torch.ones_like(link1)]
    )
    t3 = time.perf_counter()
    return (t1 - t0) + (t3 - t2), t2 - t1


def _epoch(impl, model, optimizer, workload, epoch: int, split: bool = False) -> tuple[float, float, float]:
    level1_s = rest_s = 0.0
    model.train()
    started = time.perf_counter()
    for batch in impl.train_batches(workload, epoch):
        optimizer.zero_grad(set_to_none=True)
        if split:
            a, b = split_pyg_step(model, *batch)
            level1_s, rest_s = level1_s + a, rest_s + b
        else:
            impl.loss(model, batch).backward()
        optimizer.step()
    return time.perf_counter() - started, level1_s, rest_s


def run_headroom(
    dataset: str,
    *,
    epochs: int = 5,
    threads: int = 1,
    batch_size: int = 20,
    data_root: str | None = None,
    workload=None,
) -> dict:
    """Measure the cases above (one warm-up epoch each, then ``epochs`` interleaved) and return the record."""
    from diffpool.optim import adam

    from .environment import environment
    from .implementations import get_implementation
    from .workloads import load_workload

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    workload = workload or load_workload(dataset, data_root, None)
    cases = {}
    for name in ("pyg", "sparse", "graphsage"):
        impl = get_implementation(name, batch_size=batch_size)
        model = impl.build(workload)
        cases[name] = (impl, model, adam(model.parameters(), lr=1e-3))
    times: dict[str, list[float]] = {
        k: [] for k in ("pyg", "sparse", "graphsage", "pyg_split", "pyg_level1", "pyg_rest")
    }
    for epoch in range(-1, epochs):  # epoch -1 warms every case up
        for name, case in cases.items():
            seconds = _epoch(*case, workload, epoch)[0]
            if epoch >= 0:
                times[name].append(seconds)
        total, level1_s, rest_s = _epoch(*cases["pyg"], workload, epoch, split=True)
        if epoch >= 0:
            times["pyg_split"].append(total)
            times["pyg_level1"].append(level1_s)
            times["pyg_rest"].append(rest_s)
    median = {key: statistics.median(values) for key, values in times.items()}
    floor = median["pyg_rest"] + LEVEL1_LAYERS / GRAPHSAGE_LAYERS * median["graphsage"]
    return {
        "kind": "headroom",
        "dataset": dataset,
        "epochs": epochs,
        "batch_size": batch_size,
        "cluster_counts": cases["pyg"][1].cluster_counts,
        "pyg_s": median["pyg"],
        "pyg_split_s": median["pyg_split"],
        "pyg_level1_s": median["pyg_level1"],
        "pyg_rest_s": median["pyg_rest"],
        "ours_fixed_k_s": median["sparse"],
        "graphsage_s": median["graphsage"],
        "ours_floor_s": floor,
        "speedup_measured": median["pyg"] / median["sparse"],
        "best_possible_speedup": median["pyg"] / floor,
        "env": environment(),
    }


def add_headroom_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="ENZYMES")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per case, interleaved (median)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument(
        "--data-root", default=None, help="TU data sets' folder (default: ../shared/datasets/tu)"
    )
    parser.add_argument("--out", default=None, help="append the JSON line to this file too")


def run_headroom_command(args: argparse.Namespace) -> int:
    from .epoch import _emit

    record = run_headroom(
        args.dataset,
        epochs=args.epochs,
        threads=args.threads,
        batch_size=args.batch_size,
        data_root=args.data_root,
    )
    _emit(record)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as stream:
            _emit(record, stream)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.headroom", description=__doc__.splitlines()[0]
    )
    add_headroom_arguments(parser)
    return run_headroom_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
