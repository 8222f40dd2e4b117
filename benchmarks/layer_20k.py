#!/usr/bin/env python3
"""One pooling layer, forward + backward, on one graph of 20,000 nodes and 100,000 edges with K = 50:
sparse_diff_pool vs dense_diff_pool, each in its own process (peak RSS does not mix). Prints JSON lines.

Usage: python -m benchmarks.layer_20k [--memory-cap-gb 16]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time


def _case(form: str, cap_gb: float, queue) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (int(cap_gb * 2**30), int(cap_gb * 2**30)))
    import torch

    from diffpool.functional import dense_diff_pool, sparse_diff_pool

    torch.set_num_threads(1)
    n, e, k, f = 20_000, 100_000, 50, 16
    gen = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, n, (2, e), generator=gen)
    x = torch.randn(n, f, generator=gen, requires_grad=True)
    s = torch.randn(n, k, generator=gen, requires_grad=True)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    started = time.perf_counter()
    try:
        if form == "sparse":
            out = sparse_diff_pool(x, edge_index, s, torch.zeros(n, dtype=torch.long))
        else:
            from torch_geometric.utils import to_dense_adj

            out = dense_diff_pool(x.unsqueeze(0), to_dense_adj(edge_index, max_num_nodes=n), s.unsqueeze(0))
        (out.link_loss.sum() + out.entropy.sum() + out.x.sum() + out.adj.sum()).backward()
        status = "ok"
    except (RuntimeError, MemoryError) as err:
        status = f"out of memory under a {cap_gb:g} GB cap ({type(err).__name__})"
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    queue.put(
        {
            "form": form,
            "nodes": n,
            "edges": e,
            "clusters": k,
            "status": status,
            "seconds": round(elapsed, 3),
            "peak_rss_gb": round(peak, 3),
            "rss_before_gb": round(base, 3),
            "torch": torch.__version__,
            "threads": 1,
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.layer_20k", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--memory-cap-gb", type=float, default=16.0, help="address-space cap per case")
    cap = parser.parse_args(argv).memory_cap_gb
    ctx = mp.get_context("spawn")
    for form in ("sparse", "dense"):
        queue = ctx.Queue()
        proc = ctx.Process(target=_case, args=(form, cap, queue))
        proc.start()
        proc.join()
        print(
            json.dumps(
                queue.get()
                if not queue.empty()
                else {"form": form, "status": f"process died ({proc.exitcode})"}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
