"""The scaling benchmark: one DiffPool layer, forward + backward, on one synthetic graph of n nodes.

Implementations: ``sparse`` (our :class:`~diffpool.nn.DiffPool`: edge list in, never an n×n
tensor), ``dense`` (our :class:`~diffpool.nn.DenseDiffPool` on the n×n adjacency) and ``pyg``
(PyG's ``dense_diff_pool`` with its example's DenseSAGE blocks). Graphs have average degree ~5;
K is ``0.25·n`` capped at 512 (``ratio``) or fixed (e.g. 64). Each (implementation, n, K) runs in
its own subprocess under the memory cap, so peak memory is its own and a dense layer that cannot
fit is recorded as "out of memory" (and larger n are then skipped for it).

Time: median over ``repeats`` forward+backward passes after one warm-up pass (inputs already in
the implementation's own format). Memory: peak RSS minus the RSS before the inputs were built.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time

__all__ = ["run_layer", "run_scaling_benchmark", "loglog_slope", "CHILD_FLAG"]

CHILD_FLAG = "--child-layer"


def _clusters(mode: str, n: int, max_clusters: int) -> int:
    return min(max_clusters, math.ceil(0.25 * n)) if mode == "ratio" else int(mode)


def run_layer(
    impl: str,
    n: int,
    k: int,
    *,
    degree: float = 5.0,
    features: int = 16,
    hidden: int = 64,
    repeats: int = 3,
    threads: int | None = 1,
    seed: int = 0,
) -> dict:
    """Time and memory of one layer's forward + backward in this process."""
    import torch

    from diffpool.nn import DenseDiffPool, DiffPool

    from .environment import current_rss_mb, environment, peak_rss_mb
    from .reference import PygGNN
    from .workloads import random_graph

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    baseline = current_rss_mb()
    graph = random_graph(n, degree, features, seed)
    if impl == "sparse":
        layer = DiffPool(features, hidden, k)
        batch = torch.zeros(n, dtype=torch.long)

        def step():
            out = layer(graph.x, graph.edge_index, batch)
            return out.pooled.x.mean() + out.pooled.adj.mean() + out.link_loss.sum() + out.entropy.sum()
    elif impl == "dense":
        from torch_geometric.utils import to_dense_adj

        layer = DenseDiffPool(features, hidden, k)
        x, adj = graph.x.unsqueeze(0), to_dense_adj(graph.edge_index, max_num_nodes=n)
        mask = torch.ones(1, n, dtype=torch.bool)

        def step():
            out = layer(x, adj, mask)
            return out.pooled.x.mean() + out.pooled.adj.mean() + out.link_loss.sum() + out.entropy.sum()
    elif impl == "pyg":
        from torch_geometric.nn import dense_diff_pool
        from torch_geometric.utils import to_dense_adj

        pool_gnn, embed_gnn = PygGNN(features, hidden, k), PygGNN(features, hidden, hidden, lin=False)
        layer = torch.nn.ModuleList([pool_gnn, embed_gnn])
        x, adj = graph.x.unsqueeze(0), to_dense_adj(graph.edge_index, max_num_nodes=n)

        def step():
            out_x, out_adj, link, entropy = dense_diff_pool(embed_gnn(x, adj), adj, pool_gnn(x, adj))
            return out_x.mean() + out_adj.mean() + link + entropy
    else:
        raise ValueError(f"unknown implementation {impl!r}; choose sparse, dense or pyg")

    def once() -> float:
        layer.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        step().backward()
        return time.perf_counter() - t0

    warm = once()
    times = [once() for _ in range(repeats if warm < 30 else 1)]
    peak = peak_rss_mb()
    return {
        "kind": "layer",
        "impl": impl,
        "n": n,
        "k": k,
        "edges": int(graph.edge_index.size(1)) // 2,
        "status": "ok",
        "seconds": statistics.median(times),
        "times_s": times,
        "warmup_s": warm,
        "peak_rss_mb": peak,
        "memory_mb": max(0.0, peak - baseline),
        "baseline_rss_mb": baseline,
        "env": environment(),
    }


def _child(spec: dict) -> int:
    from .environment import apply_memory_cap, environment, is_out_of_memory, peak_rss_mb

    cap = spec.pop("memory_cap_gb", None)
    base = {"kind": "layer", "impl": spec["impl"], "n": spec["n"], "k": spec["k"], "memory_cap_gb": cap}
    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401

        if cap:
            apply_memory_cap(cap)
        record = run_layer(**spec)
        record["memory_cap_gb"] = cap
        print(json.dumps(record), flush=True)
        return 0
    except BaseException as error:
        status = "out of memory" if is_out_of_memory(error) else "error"
        print(
            json.dumps(
                {
                    **base,
                    "status": status,
                    "error": f"{type(error).__name__}: {str(error)[:300]}",
                    "peak_rss_mb": peak_rss_mb(),
                    "env": environment(),
                }
            ),
            flush=True,
        )
        return 0 if status == "out of memory" else 1


def _spawn(spec: dict, timeout: float) -> dict:
    from .environment import child_env

    cmd = [sys.executable, "-m", "benchmarks.scaling", CHILD_FLAG, json.dumps(spec)]
    base = {
        "kind": "layer",
        "impl": spec["impl"],
        "n": spec["n"],
        "k": spec["k"],
        "memory_cap_gb": spec.get("memory_cap_gb"),
    }
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env())
    except subprocess.TimeoutExpired:
        return {**base, "status": "timeout", "timeout_s": timeout}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    status = "out of memory" if proc.returncode in (-9, 137) else "error"
    return {**base, "status": status, "error": f"exit code {proc.returncode}: {proc.stderr.strip()[-500:]}"}


def loglog_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) against log(x); None with fewer than two points."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


def summarize(records: list[dict]) -> list[dict]:
    """Per (implementation, cluster mode): log-log slopes of time and memory over the sizes that ran."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("kind") == "layer":
            groups.setdefault((r["impl"], r.get("clusters")), []).append(r)
    out = []
    for (impl, mode), rows in groups.items():
        ok = sorted((r for r in rows if r.get("status") == "ok"), key=lambda r: r["n"])
        failed = sorted((r for r in rows if r.get("status") not in ("ok", "skipped")), key=lambda r: r["n"])
        out.append(
            {
                "kind": "slope",
                "impl": impl,
                "clusters": mode,
                "time_slope": loglog_slope([(r["n"], r["seconds"]) for r in ok]),
                "memory_slope": loglog_slope([(r["n"], max(r["memory_mb"], 1e-3)) for r in ok]),
                "largest_n_ok": ok[-1]["n"] if ok else None,
                "first_failure": ({"n": failed[0]["n"], "status": failed[0]["status"]} if failed else None),
            }
        )
    return out


def run_scaling_benchmark(
    sizes: list[int],
    impls: list[str],
    *,
    clusters: list[str] = ("ratio", "64"),
    max_clusters: int = 512,
    degree: float = 5.0,
    features: int = 16,
    hidden: int = 64,
    repeats: int = 3,
    threads: int = 1,
    memory_cap_gb: float = 8.0,
    timeout: float = 600.0,
    out_path: str | None = None,
) -> list[dict]:
    records = []
    sink = open(out_path, "a") if out_path else None

    def emit(record):
        print(json.dumps(record), flush=True)
        if sink:
            sink.write(json.dumps(record) + "\n")
            sink.flush()

    try:
        for mode in clusters:
            for impl in impls:
                failed_at = None
                for n in sorted(sizes):
                    k = _clusters(mode, n, max_clusters)
                    if failed_at is not None:
                        record = {
                            "kind": "layer",
                            "impl": impl,
                            "n": n,
                            "k": k,
                            "status": "skipped",
                            "reason": f"{failed_at[1]} at n={failed_at[0]}",
                        }
                    else:
                        spec = {
                            "impl": impl,
                            "n": n,
                            "k": k,
                            "degree": degree,
                            "features": features,
                            "hidden": hidden,
                            "repeats": repeats,
                            "threads": threads,
                            "memory_cap_gb": memory_cap_gb,
                        }
                        record = _spawn(spec, timeout)
                        if record["status"] != "ok":
                            failed_at = (n, record["status"])
                    record["clusters"] = mode
                    records.append(record)
                    emit(record)
        for row in summarize(records):
            emit(row)
    finally:
        if sink:
            sink.close()
    return records


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == CHILD_FLAG:
        sys.exit(_child(json.loads(sys.argv[2])))
    import argparse

    from .cli import add_scaling_arguments, run_scaling

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.splitlines()[0])
    add_scaling_arguments(parser)
    sys.exit(run_scaling(parser.parse_args()))
