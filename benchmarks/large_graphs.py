"""The large-graph benchmark: one training epoch over ``synthetic-large`` (200 graphs of 10⁴–5·10⁴
nodes), the product's model beside PyG's dense one; results as JSON lines.

Cases, each in its own subprocess, so that its peak memory is its own:

``ours``
    the model ``diffpool train --dataset synthetic-large`` trains: the data set's run defaults
    (``RunConfig.for_dataset``), ``build_model``, its loader, batch size, loss weights and gradient
    clipping, the product's Adam; a plain PyTorch loop (no Lightning, no validation).
``pyg``
    PyG's ``dense_diff_pool`` in its example's architecture (:class:`~.reference.PygDiffPoolNet`)
    with one level at the data set's cluster ratio, as ours (so K is as small as ours: the difference
    is the dense adjacency), batch size 1, inputs padded to the largest graph as the example's
    ``T.ToDense`` does (``--pyg-padding batch``: each graph to its own size, PyG's best case).

On the CPU each case runs under an address-space cap (:func:`~.environment.apply_memory_cap`,
16 GB by default), so a model that cannot fit is reported as "out of memory" with what it did
before, not killed by the kernel; on CUDA the cap is not applied (the driver maps far more address
space than it uses) and the peak GPU memory is recorded too. Timers are synchronised with the
device. The data set is generated once and saved (``--cache``): a case loads it, so its peak memory
is the loaded data plus training, not the generator's.

``--max-batches`` times only the first batches of the epoch and adds ``epoch_s_extrapolated``: the
time scaled by the epoch's nodes over the nodes timed, labelled as such.

Run ``python -m benchmarks.large_graphs --help``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["CASES", "CHILD_FLAG", "prepare_data", "run_case", "run_large_benchmark", "main"]

CHILD_FLAG = "--child-case"
CASES = ("ours", "pyg")
KIND = "large-graphs"


def _emit(record: dict, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(record) + "\n")
    stream.flush()


# --------------------------------------------------------------------------- data
def _settings(num_graphs: int, seed: int, overrides: dict | None) -> dict:
    return {"num_graphs": num_graphs, "seed": seed, **(overrides or {})}


def data_file(
    cache_dir: str | os.PathLike, num_graphs: int, seed: int, overrides: dict | None = None
) -> Path:
    """Where the generated set with these settings is saved (named by them)."""
    key = hashlib.sha256(
        json.dumps(_settings(num_graphs, seed, overrides), sort_keys=True).encode()
    ).hexdigest()
    return Path(cache_dir) / f"synthetic-large-{num_graphs}-{seed}-{key[:10]}.pt"


def prepare_data(path: Path, num_graphs: int, seed: int, overrides: dict | None = None) -> dict:
    """Generate the set (:func:`diffpool.data.synthetic.synthetic_large`) and save it to ``path``
    unless it is there; returns the generation's time (None when it was there) and the settings."""
    from diffpool.data.synthetic import synthetic_large

    if path.exists():
        return {"generated": False, "generate_s": None, "file": path.name}
    started = time.perf_counter()
    dataset = synthetic_large(num_graphs=num_graphs, seed=seed, **(overrides or {}))
    seconds = time.perf_counter() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_to(path)
    return {"generated": True, "generate_s": seconds, "file": path.name}


def _workload(path: str):
    """The saved set as a :class:`~.workloads.Workload` (the data set itself as its graphs) and its
    description. Sizes are read from the collated offsets: ``graph_sizes`` counts distinct edges
    with a ``np.unique`` of every edge (here two minutes and 6 GB at its peak), and indexing each
    graph would cache a copy of the set; the generator stores every edge once in each direction."""
    from diffpool.data import GraphDataset

    from .workloads import Workload

    dataset = GraphDataset.load_from(path)
    nodes = (dataset.slices["x"][1:] - dataset.slices["x"][:-1]).numpy()
    edges = (dataset.slices["edge_index"][1:] - dataset.slices["edge_index"][:-1]).numpy() // 2
    workload = Workload(
        "synthetic-large", dataset, dataset.num_features, dataset.num_classes, int(nodes.max())
    )
    described = {
        "graphs": len(dataset),
        "min_nodes": int(nodes.min()),
        "max_nodes": int(nodes.max()),
        "avg_nodes": float(nodes.mean()),
        "total_nodes": int(nodes.sum()),
        "avg_edges": float(edges.mean()),
        "total_edges": int(edges.sum()),
        "features": dataset.num_features,
        "classes": dataset.num_classes,
    }
    return dataset, workload, described


# --------------------------------------------------------------------------- the two models
def _implementations():
    """The two cases on :class:`~.implementations.Implementation`'s interface, device-aware."""
    import torch
    from torch.nn.utils import clip_grad_norm_

    from diffpool.models import build_model, classification_loss
    from diffpool.training.config import RunConfig
    from diffpool.training.loaders import make_loader

    from .implementations import Implementation, PygReference
    from .reference import PygDiffPoolNet

    class PygOneLevel(PygDiffPoolNet):
        """PyG's example with one pooling level, as the data set's defaults have: level 1, the last
        GNN on the pooled graph, mean readout, the two linear layers (its second level would pool
        ceil(ratio · K_1) = 1 cluster, whose batch norm fails on one row at batch size 1)."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            del self.gnn2_pool, self.gnn2_embed
            self.cluster_counts = self.cluster_counts[:1]

        def forward(self, x, adj, mask=None):
            x, adj, link, entropy = self.level1(x, adj, mask)
            x = self.gnn3_embed(x, adj).mean(dim=1)
            return torch.log_softmax(self.lin2(torch.relu(self.lin1(x))), dim=-1), link, entropy

    class Ours(Implementation):
        name = "ours"
        description = "ours, the product default for synthetic-large (diffpool train's model)"

        def __init__(self, device, seed: int = 0, batch_size: int | None = None, ratio: float | None = None):
            given = {"batch_size": batch_size, "ratio": ratio}
            self.run = RunConfig.for_dataset(
                "synthetic-large", seed=seed, **{k: v for k, v in given.items() if v is not None}
            )
            super().__init__(self.run.batch_size, seed)
            self.device = device

        def build(self, workload):
            self.config = self.run.model_config(
                workload.num_features, workload.num_classes, workload.max_nodes
            )
            return build_model(self.config)

        def train_batches(self, workload, epoch: int):
            loader = make_loader(
                workload.graphs,
                range(len(workload.graphs)),
                self.batch_size,
                shuffle=True,
                seed=self.seed * 7919 + epoch,
                batching=self.run.batching,
            )
            for batch in loader:
                yield batch.to(self.device)

        def loss(self, model, batch):
            return classification_loss(
                model(batch),
                batch.y.view(-1),
                link_weight=self.run.link_weight,
                entropy_weight=self.run.entropy_weight,
                link_normalization=self.run.link_normalization,
            )["loss"]

        def clip(self, model) -> None:
            if self.run.grad_clip:
                clip_grad_norm_(model.parameters(), self.run.grad_clip)

        def config_summary(self, workload) -> dict:
            run = self.run
            return {
                "cluster_counts": self.config.cluster_counts(),
                "ratio": run.ratio,
                "levels": run.levels,
                "min_clusters": run.cluster_floor,
                "per_graph_clusters": run.per_graph_clusters,
                "hidden": run.hidden,
                "batching": run.batching,
                "grad_clip": run.grad_clip,
            }

    class Pyg(PygReference):
        description = (
            "PyG dense_diff_pool, proteins_diff_pool.py architecture, one level at the data set's ratio"
        )

        def __init__(
            self,
            device,
            seed: int = 0,
            batch_size: int | None = None,
            ratio: float | None = None,
            padding: str = "dataset",
        ) -> None:
            super().__init__(batch_size or 1, seed, padding=padding)
            self.device = device
            self.ratio = ratio or RunConfig.for_dataset("synthetic-large").ratio

        def build(self, workload):
            self.model = PygOneLevel(
                workload.num_features, workload.num_classes, workload.max_nodes, ratio=self.ratio
            )
            return self.model

        def train_batches(self, workload, epoch: int):
            # densified on the device, as a GPU run would: the [B, N, N] adjacency is made there
            for batch in super(PygReference, self).train_batches(workload, epoch):
                batch = batch.to(self.device)
                yield (*self._dense(batch, workload), batch.y.view(-1))

        def clip(self, model) -> None:
            pass  # PyG's example does not clip

        def config_summary(self, workload) -> dict:
            return {**super().config_summary(workload), "ratio": self.ratio}

    return {"ours": Ours, "pyg": Pyg}


def _nodes(batch) -> int:
    """Nodes of a batch (the padded inputs of the dense model: its real nodes, from the mask)."""
    if isinstance(batch, tuple):
        return int(batch[2].sum())
    return int(batch.num_nodes)


# --------------------------------------------------------------------------- one case
def run_case(
    case: str,
    data_path: str,
    *,
    device: str = "cpu",
    seed: int = 0,
    threads: int = 1,
    batch_size: int | None = None,
    ratio: float | None = None,
    warmup_batches: int = 1,
    max_batches: int = 0,
    pyg_padding: str = "dataset",
    progress=None,
) -> dict:
    """Train ``case`` for one epoch over the saved set in this process; returns the measurements.

    ``warmup_batches`` untimed batches first (first calls: CUDA context, kernels, allocator), then
    the timed epoch (its first ``max_batches`` batches if > 0). ``progress(dict)`` is called after
    every timed batch, so a case stopped by memory or time still tells its pace.
    """
    import torch

    from diffpool.optim import adam

    from .environment import current_rss_mb, environment, peak_rss_mb

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    progress = progress or (lambda record: None)
    dev = torch.device(device)
    cuda = dev.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    started = time.perf_counter()
    dataset, workload, described = _workload(data_path)
    load_s = time.perf_counter() - started
    total_nodes = described["total_nodes"]
    options = {"padding": pyg_padding} if case == "pyg" else {}
    impl = _implementations()[case](dev, seed=seed, batch_size=batch_size, ratio=ratio, **options)
    model = impl.build(workload).to(dev)
    optimizer = adam(model.parameters(), lr=1e-3)
    record = {
        "kind": KIND,
        "case": case,
        "description": impl.description,
        "device": device,
        "device_name": torch.cuda.get_device_name(dev) if cuda else None,
        "batch_size": impl.batch_size,
        "seed": seed,
        "workload": {**described, "settings": dataset.info.get("settings")},
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": impl.config_summary(workload),
        "env": environment(),
        "data_load_s": load_s,
        "rss_after_data_mb": current_rss_mb(),
    }

    def step(batch, phase: str, index: int) -> None:
        # said before the step, so that a case that fails in it says where and on what
        padded = int(batch[0].size(1)) if isinstance(batch, tuple) else None
        progress(
            {
                "kind": "step",
                "case": case,
                "phase": phase,
                "batch": index,
                "nodes": _nodes(batch),
                "padded_nodes": padded,
            }
        )
        optimizer.zero_grad(set_to_none=True)
        impl.loss(model, batch).backward()
        impl.clip(model)
        optimizer.step()

    model.train()
    if warmup_batches:
        sync()
        t0 = time.perf_counter()
        for done, batch in enumerate(impl.train_batches(workload, -1), start=1):
            step(batch, "warm-up", done)
            if done >= warmup_batches:
                break
        sync()
        record["warmup_s"] = time.perf_counter() - t0
        record["warmup_batches"] = done
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)

    batches = graphs = nodes = 0
    cpu0 = time.process_time()
    sync()
    t0 = time.perf_counter()
    for batch in impl.train_batches(workload, 0):
        step(batch, "epoch", batches + 1)
        batches += 1
        graphs += int(batch[3].numel()) if isinstance(batch, tuple) else int(batch.num_graphs)
        nodes += _nodes(batch)
        sync()
        progress(
            {
                "kind": "batch",
                "case": case,
                "batch": batches,
                "graphs": graphs,
                "nodes": nodes,
                "elapsed_s": time.perf_counter() - t0,
                "cpu_s": time.process_time() - cpu0,
                "peak_rss_mb": peak_rss_mb(),
                "cuda_peak_mb": torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else None,
            }
        )
        if max_batches and batches >= max_batches:
            break
    sync()
    seconds = time.perf_counter() - t0
    record.update(
        epoch_s=seconds,
        epoch_cpu_s=time.process_time() - cpu0,
        batches=batches,
        graphs=graphs,
        nodes=nodes,
        whole_epoch=graphs == len(workload.graphs),
        graphs_per_s=graphs / seconds,
        peak_rss_mb=peak_rss_mb(),
    )
    if not record["whole_epoch"]:
        record["epoch_s_extrapolated"] = seconds * total_nodes / nodes
        record["extrapolation"] = (
            f"{seconds:.1f} s for {graphs} of {len(workload.graphs)} graphs, "
            "× the epoch's nodes / the nodes timed"
        )
    if cuda:
        record["cuda_peak_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    record["status"] = "ok"
    record["env"]["loadavg_end"] = list(os.getloadavg())
    return record


# --------------------------------------------------------------------------- child process
def _child(spec: dict) -> int:
    from .environment import apply_memory_cap, environment, is_out_of_memory, peak_rss_mb

    cap = spec.pop("memory_cap_gb", None)
    base = {"kind": KIND, "case": spec["case"], "device": spec.get("device", "cpu")}
    last: dict = {}  # the last record of each kind: "batch" (done), "step" (begun)

    def progress(record: dict) -> None:
        last[record["kind"]] = record
        _emit(record)

    try:
        import torch  # noqa: F401  (imported before the cap: its own mappings are not the benchmark's)
        import torch_geometric  # noqa: F401

        if cap and spec.get("device", "cpu") == "cpu":
            apply_memory_cap(cap)
        else:
            cap = None
        record = run_case(spec.pop("case"), spec.pop("data_path"), progress=progress, **spec)
        record["memory_cap_gb"] = cap
        _emit(record)
        return 0
    except BaseException as error:  # every failure as a record, the memory cap's included
        status = "out of memory" if is_out_of_memory(error) else "error"
        _emit(
            {
                **base,
                "status": status,
                "error": f"{type(error).__name__}: {str(error)[:300]}",
                "done_before": last.get("batch"),
                "failed_at": last.get("step"),
                "peak_rss_mb": peak_rss_mb(),
                "memory_cap_gb": cap,
                "env": environment(),
            }
        )
        return 0 if status == "out of memory" else 1


def _spawn(spec: dict, timeout: float) -> dict:
    """One case in a fresh interpreter; its last record, or one saying why there is none."""
    from .environment import child_env
    from .epoch import parse_json_lines

    cmd = [sys.executable, "-m", "benchmarks.large_graphs", CHILD_FLAG, json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    lines = parse_json_lines(out)
    batches = [r for r in lines if r.get("kind") == "batch"]
    steps = [r for r in lines if r.get("kind") == "step"]
    finals = [r for r in lines if r.get("kind") == KIND]
    if finals and not timed_out:
        record = finals[-1]
        if proc.returncode not in (0, None) and record.get("status") == "ok":
            record["status"] = "error"
        return record
    record = {
        "kind": KIND,
        "case": spec["case"],
        "device": spec.get("device", "cpu"),
        "memory_cap_gb": spec.get("memory_cap_gb"),
        "done_before": batches[-1] if batches else None,
        "failed_at": steps[-1] if steps else None,
    }
    if timed_out:
        record.update(status="timeout", timeout_s=timeout)
    else:
        record.update(
            status="out of memory" if proc.returncode in (-9, 137) else "error",
            error=f"exit code {proc.returncode}: {err.strip()[-500:]}",
        )
    return record


# --------------------------------------------------------------------------- orchestration
def run_large_benchmark(
    cases: list[str],
    *,
    num_graphs: int = 200,
    seed: int = 0,
    cache_dir: str | None = None,
    overrides: dict | None = None,
    memory_cap_gb: float = 16.0,
    timeout: float = 1800.0,
    out_path: str | None = None,
    **options,
) -> list[dict]:
    """Generate (or reuse) the set, run every case in its own subprocess, print and return the
    records, and append them to ``out_path``. ``options`` go to :func:`run_case` (device, threads,
    batch_size, ratio, warmup_batches, max_batches, pyg_padding)."""
    path = data_file(cache_dir or tempfile.gettempdir(), num_graphs, seed, overrides)
    data = prepare_data(path, num_graphs, seed, overrides)
    _emit({"kind": "data", **data})
    records = []
    for case in cases:
        spec = {"case": case, "data_path": str(path), "seed": seed, "memory_cap_gb": memory_cap_gb, **options}
        if case != "pyg":
            spec.pop("pyg_padding", None)
        record = _spawn(spec, timeout)
        record["timeout_s"] = timeout
        if case == "pyg":
            record["pyg_padding"] = options.get("pyg_padding", "dataset")
        record["data"] = data
        records.append(record)
        _emit(record)
        if out_path:
            with open(out_path, "a") as sink:
                _emit(record, sink)
    return records


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _pair(text: str) -> tuple[int, int]:
    low, _, high = text.partition(",")
    return int(low), int(high or low)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cases", type=_csv, default=list(CASES), help="comma-separated: ours, pyg (default: %(default)s)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--num-graphs", type=int, default=200, help="graphs in the set (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="the set's and the training's seed (default: 0)")
    parser.add_argument(
        "--community-size",
        type=_pair,
        default=None,
        metavar="MIN,MAX",
        help="nodes per community (default: the large setting's, 2500,8333); smaller "
        "for a quick check, with --links",
    )
    parser.add_argument(
        "--links",
        type=_pair,
        default=None,
        metavar="MIN,MAX",
        help="links between adjacent communities (default: the large setting's, 100,500)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="ours: default the data set's (4); pyg: default 1"
    )
    parser.add_argument(
        "--ratio",
        type=float,
        default=None,
        help="cluster ratio of both models (default: the data set's, 0.0004: K = 1 for "
        "graphs under 2,500 nodes; larger for a quick check on small graphs)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per case (default: 1, as diffpool train)"
    )
    parser.add_argument("--warmup-batches", type=int, default=1, help="untimed batches first (default: 1)")
    parser.add_argument(
        "--max-batches",
        type=int,
        default=0,
        help="time only the epoch's first N batches and extrapolate (default: 0, the whole epoch)",
    )
    parser.add_argument(
        "--pyg-padding",
        choices=("dataset", "batch"),
        default="dataset",
        help="pad PyG's inputs to the largest graph (dataset, as its example) or to the "
        "batch's (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-cap-gb",
        type=float,
        default=16.0,
        help="address-space cap per case on the CPU (default: 16)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case (default: 1800)")
    parser.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="folder for the generated set (default: the system's temporary folder)",
    )
    parser.add_argument("--out", default=None, metavar="FILE", help="append the records to FILE (JSON lines)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == CHILD_FLAG:
        return _child(json.loads(argv[1]))
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.large_graphs", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    records = run_large_benchmark(
        args.cases,
        num_graphs=args.num_graphs,
        seed=args.seed,
        cache_dir=args.cache,
        overrides={
            name: value
            for name, value in (("community_size", args.community_size), ("links", args.links))
            if value
        }
        or None,
        memory_cap_gb=args.memory_cap_gb,
        timeout=args.timeout,
        out_path=args.out,
        device=args.device,
        threads=args.threads,
        batch_size=args.batch_size,
        ratio=args.ratio,
        warmup_batches=args.warmup_batches,
        max_batches=args.max_batches,
        pyg_padding=args.pyg_padding,
    )
    return 0 if all(r.get("status") in ("ok", "out of memory") for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
