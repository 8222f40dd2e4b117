"""The scaling benchmark: one pooling layer, forward + backward, on one synthetic graph of n nodes.

Methods (``method``): ``diffpool``, ``mincut`` (MinCutPool) and ``dmon`` (DMoN). Implementations:
``sparse`` (our sparse layer of the method, :class:`~diffpool.nn.DiffPool`,
:class:`~diffpool.nn.MinCutPool` or :class:`~diffpool.nn.DMoNPool`: edge list in, never an n×n
tensor), ``dense`` (our dense layer of the method on the n×n adjacency) and ``pyg`` (PyG's dense
pooling of the method, ``dense_diff_pool``, ``dense_mincut_pool`` or ``DMoNPooling`` with the
assignment given as in :mod:`.dense_model`, on its example's DenseSAGE blocks). The step's loss is
the pooled features' and adjacency's means plus the method's auxiliary losses. Graphs have average degree ~5;
K is ``0.25·n`` capped at 512 (``ratio``) or fixed (e.g. 64). Each (implementation, n, K) runs in
its own subprocess under the memory cap, so peak memory is its own and a dense layer that cannot
fit is recorded as "out of memory" (and larger n are then skipped for it).

Time: median over ``repeats`` forward+backward passes after one warm-up pass (inputs already in
the implementation's own format), wall clock (``seconds``) and process CPU time (``cpu_seconds``:
with one torch thread, the work, whatever else the machine runs). Memory: peak RSS minus the RSS
before the inputs were built.

On a CUDA device (``--device cuda``) the graph is built on the CPU and copied to the GPU before the
clock starts; the clock is read after ``torch.cuda.synchronize()`` and memory is the allocator's
peak (``torch.cuda.max_memory_allocated``) minus what it held before the inputs were copied. The
sizes can differ per implementation (``impl_sizes``: e.g. ours up to n = 10⁶) and an
implementation can keep doubling n past its list until it fails (``grow``: how far PyG's dense
layer goes before the GPU runs out of memory).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable

__all__ = ["run_layer", "run_scaling_benchmark", "loglog_slope", "CHILD_FLAG", "METHODS"]

#: The pooling methods a layer can run.
METHODS = ("diffpool", "mincut", "dmon")

CHILD_FLAG = "--child-layer"
# A case given less than this would only start its interpreter: it is skipped instead.
MIN_CASE_S = 10.0


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
    device: str = "cpu",
    method: str = "diffpool",
) -> dict:
    """Time and memory of one layer's forward + backward in this process."""
    import torch

    from diffpool.nn import DenseDiffPool, DenseDMoNPool, DenseMinCutPool, DiffPool, DMoNPool, MinCutPool

    from .environment import (
        current_rss_mb,
        environment,
        peak_device_mb,
        peak_rss_mb,
        reset_peak_memory,
        synchronize,
    )
    from .reference import PygGNN
    from .workloads import random_graph

    if method not in METHODS:
        raise ValueError(f"unknown pooling method {method!r}; choose from {', '.join(METHODS)}")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    sparse_layer, dense_layer = {
        "diffpool": (DiffPool, DenseDiffPool),
        "mincut": (MinCutPool, DenseMinCutPool),
        "dmon": (DMoNPool, DenseDMoNPool),
    }[method]

    def aux(losses) -> torch.Tensor:
        return sum((loss.sum() for loss in losses), torch.zeros((), device=device))

    baseline = current_rss_mb()
    graph = random_graph(n, degree, features, seed)
    on_cuda = device == "cuda"
    if on_cuda:
        reset_peak_memory(device)
        cuda_baseline = torch.cuda.memory_allocated() / 2**20
        graph = graph.to(device)
    if impl == "sparse":
        layer = sparse_layer(features, hidden, k)
        batch = torch.zeros(n, dtype=torch.long, device=device)

        def step():
            out = layer(graph.x, graph.edge_index, batch)
            return out.pooled.x.mean() + out.pooled.adj.mean() + aux(out.losses.values())
    elif impl == "dense":
        from torch_geometric.utils import to_dense_adj

        layer = dense_layer(features, hidden, k)
        x, adj = graph.x.unsqueeze(0), to_dense_adj(graph.edge_index, max_num_nodes=n)
        mask = torch.ones(1, n, dtype=torch.bool, device=device)

        def step():
            out = layer(x, adj, mask)
            return out.pooled.x.mean() + out.pooled.adj.mean() + aux(out.losses.values())
    elif impl == "pyg":
        from torch_geometric.nn import dense_diff_pool
        from torch_geometric.utils import to_dense_adj

        from .dense_model import dmon_pooling, pyg_pool

        pool_gnn, embed_gnn = PygGNN(features, hidden, k), PygGNN(features, hidden, hidden, lin=False)
        dmon = dmon_pooling(k) if method == "dmon" else None
        layer = torch.nn.ModuleList([pool_gnn, embed_gnn] + ([dmon] if dmon is not None else []))
        x, adj = graph.x.unsqueeze(0), to_dense_adj(graph.edge_index, max_num_nodes=n)

        def step():
            z, logits = embed_gnn(x, adj), pool_gnn(x, adj)
            if method == "diffpool":
                out_x, out_adj, link, entropy = dense_diff_pool(z, adj, logits)
                return out_x.mean() + out_adj.mean() + link + entropy
            out_x, out_adj, losses = pyg_pool(method, dmon, z, adj, logits)
            return out_x.mean() + out_adj.mean() + aux(losses)
    else:
        raise ValueError(f"unknown implementation {impl!r}; choose sparse, dense or pyg")
    layer.to(device)

    cpu_times: list[float] = []  # process CPU seconds per pass: the work, whatever the machine's load

    def once() -> float:
        layer.zero_grad(set_to_none=True)
        synchronize(device)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        step().backward()
        synchronize(device)
        cpu_times.append(time.process_time() - cpu0)
        return time.perf_counter() - t0

    warm = once()
    times = [once() for _ in range(repeats if warm < 30 else 1)]
    peak = peak_rss_mb()
    env = environment(device)
    record = {
        "kind": "layer",
        "impl": impl,
        "method": method,
        "n": n,
        "k": k,
        "edges": int(graph.edge_index.size(1)) // 2,
        "degree": degree,
        "device": device,
        "device_name": env["device_name"],
        "status": "ok",
        "seconds": statistics.median(times),
        "times_s": times,
        "cpu_seconds": statistics.median(cpu_times[1:]),
        "cpu_times_s": cpu_times[1:],
        "warmup_s": warm,
        "peak_rss_mb": peak,
        "memory_mb": max(0.0, peak - baseline),
        "baseline_rss_mb": baseline,
        "env": env,
    }
    if on_cuda:
        record["peak_cuda_mb"] = peak_device_mb(device)
        record["memory_mb"] = max(0.0, record["peak_cuda_mb"] - cuda_baseline)
    return record


def _child(spec: dict) -> int:
    from .environment import (
        apply_memory_cap,
        environment,
        is_out_of_memory,
        memory_cap_for,
        peak_device_mb,
        peak_rss_mb,
    )

    device = spec.get("device", "cpu")
    cap = memory_cap_for(device, spec.pop("memory_cap_gb", None))
    base = {
        "kind": "layer",
        "impl": spec["impl"],
        "method": spec.get("method", "diffpool"),
        "n": spec["n"],
        "k": spec["k"],
        "device": device,
        "memory_cap_gb": cap,
    }
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
        failure = {
            **base,
            "status": status,
            "error": f"{type(error).__name__}: {str(error)[:300]}",
            "peak_rss_mb": peak_rss_mb(),
        }
        try:  # the device itself may be what failed
            failure["peak_memory_mb"] = peak_device_mb(device)
            failure["env"] = environment(device)
            failure["device_name"] = failure["env"]["device_name"]
        except Exception:  # noqa: BLE001
            pass
        print(json.dumps(failure), flush=True)
        return 0 if status == "out of memory" else 1


def _spawn(spec: dict, timeout: float) -> dict:
    from .environment import child_env

    cmd = [sys.executable, "-m", "benchmarks.scaling", CHILD_FLAG, json.dumps(spec)]
    base = {
        "kind": "layer",
        "impl": spec["impl"],
        "method": spec.get("method", "diffpool"),
        "n": spec["n"],
        "k": spec["k"],
        "device": spec.get("device", "cpu"),
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
    """Per (method, implementation, cluster mode): log-log slopes of time and memory over the sizes
    that ran (a record without ``method`` is DiffPool's)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("kind") == "layer":
            groups.setdefault((r.get("method", "diffpool"), r["impl"], r.get("clusters")), []).append(r)
    out = []
    for (method, impl, mode), rows in groups.items():
        ok = sorted((r for r in rows if r.get("status") == "ok"), key=lambda r: r["n"])
        failed = sorted((r for r in rows if r.get("status") not in ("ok", "skipped")), key=lambda r: r["n"])
        out.append(
            {
                "kind": "slope",
                "method": method,
                "impl": impl,
                "clusters": mode,
                "time_slope": loglog_slope([(r["n"], r["seconds"]) for r in ok]),
                # None unless every size has its CPU time: a slope over fewer sizes would mislead.
                "cpu_time_slope": (
                    loglog_slope([(r["n"], r["cpu_seconds"]) for r in ok])
                    if ok and all(r.get("cpu_seconds") for r in ok)
                    else None
                ),
                "memory_slope": loglog_slope([(r["n"], max(r["memory_mb"], 1e-3)) for r in ok]),
                "largest_n_ok": ok[-1]["n"] if ok else None,
                "first_failure": ({"n": failed[0]["n"], "status": failed[0]["status"]} if failed else None),
            }
        )
    return out


def _sizes(sizes: list[int], grow: bool, factor: float, limit: int):
    """``sizes`` in order, then (``grow``) n × ``factor`` while n ≤ ``limit``: the caller stops
    asking at the first failure."""
    n = 0
    for n in sorted(sizes):
        yield n
    while grow and n and math.ceil(n * factor) <= limit:
        n = math.ceil(n * factor)
        yield n


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
    device: str = "cpu",
    impl_sizes: dict[str, list[int]] | None = None,
    grow: Iterable[str] = (),
    grow_factor: float = 2.0,
    grow_limit: int = 10**7,
    budget_s: float | None = None,
    methods: Iterable[str] = ("diffpool",),
) -> list[dict]:
    """Every (cluster mode, method, implementation, n) in its own subprocess; larger n are skipped for an
    implementation of a method once one fails. ``methods``: the pooling methods (:data:`METHODS`),
    each measured with every implementation. ``impl_sizes[impl]`` replaces ``sizes`` for ``impl``; an
    implementation in ``grow`` goes on past its sizes, n × ``grow_factor`` up to ``grow_limit``, until
    it fails (out of memory, out of time). ``budget_s`` bounds the whole run as in the epoch
    benchmark: no case's timeout reaches past it and cases left when it is spent are ``skipped``.
    Every record names the device."""
    from .environment import memory_cap_for, probe_device_name

    if grow_factor <= 1:
        raise ValueError(f"grow_factor must be above 1, got {grow_factor}")
    grow = set(grow)
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown pooling method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    deadline = None if budget_s is None else time.monotonic() + budget_s
    names: list[str] = []
    records = []
    sink = open(out_path, "a") if out_path else None

    def emit(record):
        record.setdefault("device", device)
        if record.get("device_name"):
            names.append(record["device_name"])
        else:
            record["device_name"] = names[-1] if names else probe_device_name(device)
        print(json.dumps(record), flush=True)
        if sink:
            sink.write(json.dumps(record) + "\n")
            sink.flush()

    try:
        for mode, method, impl in ((m, p, i) for m in clusters for p in methods for i in impls):
            failed_at = None
            own_sizes = (impl_sizes or {}).get(impl, sizes)
            for n in _sizes(own_sizes, impl in grow, grow_factor, grow_limit):
                k = _clusters(mode, n, max_clusters)
                left = None if deadline is None else deadline - time.monotonic()
                if failed_at is not None or (left is not None and left < MIN_CASE_S):
                    reason = (
                        f"{failed_at[1]} at n={failed_at[0]}"
                        if failed_at is not None
                        else f"the run's budget of {budget_s:g} s was spent"
                    )
                    record = {
                        "kind": "layer",
                        "impl": impl,
                        "method": method,
                        "n": n,
                        "k": k,
                        "status": "skipped",
                        "reason": reason,
                    }
                else:
                    spec = {
                        "impl": impl,
                        "method": method,
                        "n": n,
                        "k": k,
                        "degree": degree,
                        "features": features,
                        "hidden": hidden,
                        "repeats": repeats,
                        "threads": threads,
                        "device": device,
                        "memory_cap_gb": memory_cap_for(device, memory_cap_gb),
                    }
                    limit = timeout if left is None else min(timeout, left)
                    record = _spawn(spec, limit)
                    if record["status"] != "ok":
                        failed_at = (n, record["status"])
                record["clusters"] = mode
                records.append(record)
                emit(record)
                if impl in grow and record["status"] != "ok":
                    break  # a growing implementation has no list of sizes left to skip
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
