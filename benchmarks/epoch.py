"""The epoch benchmark: one child process per (data set, implementation), results as JSON lines.

Each case runs in its own subprocess so peak RSS is that implementation's alone, under a memory cap
(:func:`~.environment.apply_memory_cap`) and a wall-clock timeout, so a dense model that cannot fit
is reported as "out of memory" or "timeout" rather than taking the machine down. The training loop
is the same plain PyTorch loop for every implementation: the product's Adam
(:func:`diffpool.optim.adam`, lr 1e-3,
fused), ``zero_grad``, loss,
``backward``, ``step``; the batch conversion each implementation needs is inside the timed epoch.

On a CUDA device (``--device cuda``) the model and optimiser live on the GPU and each batch is
copied there inside the timed epoch, as a training loop does; the clock is read after
``torch.cuda.synchronize()``, memory is the allocator's peak (``torch.cuda.max_memory_allocated``)
and no address-space cap applies.

Run ``python -m benchmarks.epoch --help``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable

__all__ = [
    "forward_matmul_gflop",
    "merge_rounds",
    "operations_per_step",
    "run_case",
    "run_epoch_benchmark",
    "ratios",
    "reference_of",
    "CHILD_FLAG",
    "PYG_REFERENCE",
]

CHILD_FLAG = "--child-case"
# A case given less than this would only start its interpreter: it is skipped instead.
MIN_CASE_S = 10.0

#: The PyG model each of our implementations is compared with (its ``speed_vs_pyg`` and other
#: ``*_vs_pyg`` ratios); an implementation not named here is compared with ``pyg`` (DiffPool).
PYG_REFERENCE = {"mincut": "pyg-mincut", "dmon": "pyg-dmon"}


def reference_of(impl: str) -> str | None:
    """The PyG implementation ``impl`` is compared with; None for a PyG reference itself."""
    if is_pyg(impl):
        return None
    return PYG_REFERENCE.get(impl, "pyg")


def is_pyg(impl: str) -> bool:
    """Whether ``impl`` is one of PyG's dense models (padded, ``pyg_padding`` applies)."""
    return impl == "pyg" or impl.startswith("pyg-")


def _emit(record: dict, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(record) + "\n")
    stream.flush()


def saved_activation_bytes(compute):
    """Run ``compute()`` and return ``(its result, bytes autograd saved for the backward pass)``.

    Each storage counts once however many ops save it. This is the activation memory a training
    step holds at its peak (the backward pass frees it), free of what the allocator and the
    interpreter add to RSS, so implementations compare on what their models keep. Limits: a saved
    view counts its whole storage, saved parameters count too, and storages are told apart by
    address (one freed during the forward pass and its address reused would count once).
    """
    import torch

    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = compute()
    return result, sum(storages.values())


def forward_matmul_gflop(model, impl, workload) -> float:
    """GFLOP of the matrix products (mm, bmm, addmm, …: what ``torch.utils.flop_counter`` counts) in
    one forward pass over a training epoch's batches, untimed.

    The arithmetic an implementation cannot avoid, whatever its overheads. Gathers and scatters
    (GraphSAGE's and A·S's aggregation over edges) are not counted, the dense levels' aggregation
    (a batched product) is: a ratio against flat GraphSAGE leans towards GraphSAGE.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            for batch in impl.train_batches(workload, 0):
                impl.predict(model, batch)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9


def operations_per_step(model, impl, workload, batches: int = 10) -> float:
    """ATen operations a training step (loss, forward and backward) dispatches, averaged over the
    first ``batches`` training batches, untimed (batch norm's running statistics move with these
    steps, so it runs after every measurement); the model's gradients are cleared after.

    On small graphs an operation's fixed cost (dispatch, autograd bookkeeping: microseconds) can
    outweigh its arithmetic, so two models' epoch times can differ far more, or less, than their
    arithmetic (:func:`forward_matmul_gflop`) does.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    was_training = model.training
    model.train()
    done = 0
    try:
        for batch in impl.train_batches(workload, 0):
            with Count():
                impl.loss(model, batch).backward()
            done += 1
            if done >= batches:
                break
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return Count.calls / max(done, 1)


def run_case(
    dataset: str,
    impl_name: str,
    *,
    epochs: int = 3,
    warmup_epochs: int = 1,
    warmup_batches: int = 0,
    predict_passes: int = 1,
    batch_size: int = 20,
    seed: int = 0,
    threads: int | None = 2,
    data_root: str | None = None,
    cache: str | None = None,
    pyg_padding: str = "dataset",
    device: str = "cpu",
    max_graphs: int | None = None,
    counts: bool = True,
    progress=None,
    workload=None,
) -> dict:
    """Train ``impl_name`` on ``dataset`` in this process and return the measurements.

    Warm-up: ``warmup_batches`` batches if > 0, else ``warmup_epochs`` full epochs; it also records
    the largest batch's saved activations (:func:`saved_activation_bytes`), untimed. Then
    ``epochs`` timed epochs (median reported) and ``predict_passes`` timed inference passes.
    ``progress(dict)`` is called after every timed epoch and for the first few batches.
    ``max_graphs`` keeps a random subset of the data set (smoke runs); ``counts=False`` skips the
    untimed matmul and operation counts (they do not depend on the device).
    """
    import torch

    from diffpool.optim import adam

    from .environment import (
        current_rss_mb,
        environment,
        peak_device_mb,
        peak_rss_mb,
        reset_peak_memory,
        synchronize,
    )
    from .implementations import get_implementation
    from .workloads import load_workload

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    progress = progress or (lambda record: None)
    extra = {"padding": pyg_padding} if is_pyg(impl_name) else {}
    impl = get_implementation(impl_name, batch_size=batch_size, seed=seed, device=device, **extra)
    started = time.perf_counter()
    workload = workload or load_workload(dataset, data_root, cache)
    if max_graphs:
        workload = workload.subset(max_graphs, seed)
    load_s = time.perf_counter() - started
    rss_after_data = current_rss_mb()
    reset_peak_memory(device)
    model = impl.build(workload).to(device)
    optimizer = adam(model.parameters(), lr=1e-3)
    env = environment(device)
    record = {
        "kind": "epoch",
        "dataset": dataset,
        "impl": impl_name,
        "description": impl.description,
        "device": device,
        "device_name": env["device_name"],
        "batch_size": batch_size,
        "seed": seed,
        "workload": workload.describe(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": impl.config_summary(workload),
        "env": env,
        "data_load_s": load_s,
        "rss_after_data_mb": rss_after_data,
    }
    if max_graphs:
        record["max_graphs"] = max_graphs

    saved_bytes: list[int] = []  # per warm-up batch

    def train_epoch(
        epoch: int, max_batches: int = 0, report_batches: int = 0, measure_activations: bool = False
    ) -> tuple[float, int]:
        model.train()
        batches = 0
        synchronize(device)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        for batch in impl.train_batches(workload, epoch):
            optimizer.zero_grad(set_to_none=True)
            if measure_activations:
                loss, saved = saved_activation_bytes(lambda batch=batch: impl.loss(model, batch))
                saved_bytes.append(saved)
            else:
                loss = impl.loss(model, batch)
            loss.backward()
            optimizer.step()
            batches += 1
            if batches <= report_batches:
                # Not synchronised: waiting for the GPU after every batch would change the epoch
                # being timed. The pace it gives a case stopped by its timeout runs ahead of the
                # GPU by at most the queue of launched kernels.
                progress(
                    {
                        "kind": "batch",
                        "epoch": epoch,
                        "batch": batches,
                        "elapsed_s": time.perf_counter() - t0,
                        "peak_rss_mb": peak_rss_mb(),
                        "peak_memory_mb": peak_device_mb(device),
                    }
                )
            if max_batches and batches >= max_batches:
                break
        synchronize(device)
        cpu_times.append(time.process_time() - cpu0)
        return time.perf_counter() - t0, batches

    num_batches = None
    cpu_times: list[float] = []  # process CPU seconds per epoch: the work, whatever the machine's load
    if warmup_batches > 0:
        warm_s, _ = train_epoch(
            -1, max_batches=warmup_batches, report_batches=warmup_batches, measure_activations=True
        )
    else:
        warm_s = 0.0
        for e in range(warmup_epochs):
            s, num_batches = train_epoch(
                -1 - e, report_batches=3 if e == 0 else 0, measure_activations=e == 0
            )
            warm_s += s
    record["warmup_s"] = warm_s
    if saved_bytes:
        record["saved_activations_mb"] = max(saved_bytes) / 2**20  # the largest batch's
        record["saved_activations_batches"] = len(saved_bytes)

    times = []
    for epoch in range(epochs):
        # Every batch of the first timed epoch is reported, so a case stopped by its timeout still
        # yields its pace and memory so far.
        seconds, num_batches = train_epoch(epoch, report_batches=10**9 if not times else 0)
        times.append(seconds)
        progress(
            {
                "kind": "progress",
                "epoch": epoch,
                "epoch_s": seconds,
                "peak_rss_mb": peak_rss_mb(),
                "peak_memory_mb": peak_device_mb(device),
            }
        )
    record["epoch_times_s"] = times
    record["epoch_cpu_times_s"] = cpu_times[-epochs:] if epochs else []
    record["epoch_cpu_s"] = statistics.median(cpu_times[-epochs:]) if epochs else None
    record["epoch_s"] = statistics.median(times)
    record["batches_per_epoch"] = num_batches
    record["graphs_per_s"] = len(workload.graphs) / record["epoch_s"]
    record["train_peak_rss_mb"] = peak_rss_mb()
    if device == "cuda":
        record["train_peak_cuda_mb"] = peak_device_mb(device)

    model.eval()
    predict_times = []
    with torch.no_grad():
        for _ in range(predict_passes):
            synchronize(device)
            t0 = time.perf_counter()
            for batch in impl.eval_batches(workload):
                impl.predict(model, batch)
            synchronize(device)
            predict_times.append(time.perf_counter() - t0)
    if predict_times:
        record["predict_s"] = statistics.median(predict_times)
        record["predict_graphs_per_s"] = len(workload.graphs) / record["predict_s"]
    record["peak_rss_mb"] = peak_rss_mb()
    if device == "cuda":
        record["peak_cuda_mb"] = peak_device_mb(device)
    # What the ratios compare: the memory of the device the case ran on.
    record["peak_memory_mb"] = peak_device_mb(device)
    # Untimed counts, after every measurement: a failure here must not cost the case its timings.
    counters = (("forward_matmul_gflop", forward_matmul_gflop), ("ops_per_step", operations_per_step))
    for key, count in counters if counts else ():
        try:
            record[key] = count(model, impl, workload)
        except Exception as error:  # noqa: BLE001 (reported in the record)
            record[f"{key}_error"] = f"{type(error).__name__}: {str(error)[:200]}"
    record["status"] = "ok"
    record["env"]["loadavg_end"] = list(os.getloadavg())
    return record


# --------------------------------------------------------------------------- child process
def _child(spec: dict) -> int:
    from .environment import (
        apply_memory_cap,
        environment,
        is_out_of_memory,
        memory_cap_for,
        peak_device_mb,
        peak_rss_mb,
    )

    def progress(record):
        _emit(record)

    device = spec.get("device", "cpu")
    cap = memory_cap_for(device, spec.pop("memory_cap_gb", None))
    base = {
        "kind": "epoch",
        "dataset": spec["dataset"],
        "impl": spec["impl_name"],
        "batch_size": spec.get("batch_size", 20),
        "device": device,
    }
    try:
        import torch  # noqa: F401  (imported before the cap: its own mappings are not the benchmark's)
        import torch_geometric  # noqa: F401

        if cap:
            apply_memory_cap(cap)
        record = run_case(spec.pop("dataset"), spec.pop("impl_name"), progress=progress, **spec)
        record["memory_cap_gb"] = cap
        _emit(record)
        return 0
    except BaseException as error:  # report every failure as a record, including the memory cap
        status = "out of memory" if is_out_of_memory(error) else "error"
        failure = {
            **base,
            "status": status,
            "error": f"{type(error).__name__}: {str(error)[:300]}",
            "peak_rss_mb": peak_rss_mb(),
            "memory_cap_gb": cap,
        }
        try:  # the device itself may be what failed
            failure["peak_memory_mb"] = peak_device_mb(device)
            failure["env"] = environment(device)
            failure["device_name"] = failure["env"]["device_name"]
        except Exception:  # noqa: BLE001
            pass
        _emit(failure)
        return 0 if status == "out of memory" else 1


def _spawn(spec: dict, timeout: float) -> dict:
    """Run one case in a fresh interpreter; parse its JSON lines; turn a timeout into a record."""
    from .environment import child_env

    cmd = [sys.executable, "-m", "benchmarks.epoch", CHILD_FLAG, json.dumps(spec)]
    lines: list[dict] = []
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        lines = parse_json_lines(out)
        return _timeout_record(spec, lines, timeout, time.perf_counter() - started)
    lines = parse_json_lines(out)
    finals = [r for r in lines if r.get("kind") == "epoch"]
    if finals:
        record = finals[-1]
        if proc.returncode not in (0, None) and record.get("status") == "ok":
            record["status"] = "error"
        return record
    status = "out of memory" if proc.returncode in (-9, 137) else "error"
    return {
        "kind": "epoch",
        "dataset": spec["dataset"],
        "impl": spec["impl_name"],
        "device": spec.get("device", "cpu"),
        "status": status,
        "error": f"exit code {proc.returncode}: {err.strip()[-500:]}",
        "memory_cap_gb": spec.get("memory_cap_gb"),
    }


def parse_json_lines(text: str) -> list[dict]:
    """The JSON objects among ``text``'s lines; other lines (warnings, progress) are skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def _timeout_record(spec: dict, lines: list[dict], timeout: float, wall: float) -> dict:
    """What a case that ran out of time still tells: finished epochs, or the pace of its first batches."""
    record = {
        "kind": "epoch",
        "dataset": spec["dataset"],
        "impl": spec["impl_name"],
        "device": spec.get("device", "cpu"),
        "status": "timeout",
        "timeout_s": timeout,
        "memory_cap_gb": spec.get("memory_cap_gb"),
    }
    epochs = [r["epoch_s"] for r in lines if r.get("kind") == "progress"]
    batches = [r for r in lines if r.get("kind") == "batch"]
    if epochs:
        record["epoch_times_s"] = epochs
        record["epoch_s"] = statistics.median(epochs)
        record["peak_rss_mb"] = max(r["peak_rss_mb"] for r in lines if r.get("kind") == "progress")
    if batches:
        timed = [r for r in batches if r.get("epoch", -1) >= 0] or batches
        last = timed[-1]
        record["batches_done"] = last["batch"]
        record["seconds_per_batch"] = last["elapsed_s"] / last["batch"]
        record["pace_from"] = "timed epoch" if last.get("epoch", -1) >= 0 else "warm-up"
    rss = [r["peak_rss_mb"] for r in lines if r.get("peak_rss_mb")]
    if rss:
        record["peak_rss_mb_so_far"] = max(rss)
    memory = [r["peak_memory_mb"] for r in lines if r.get("peak_memory_mb")]
    if memory:
        record["peak_memory_mb_so_far"] = max(memory)
    return record


# --------------------------------------------------------------------------- orchestration
def _count_ratios(entry: dict, case: dict, other: dict | None, name: str) -> None:
    """``matmul_vs_NAME`` and ``ops_vs_NAME``: ``case``'s arithmetic and operations per step over
    ``other``'s."""
    if other is None or other.get("status") != "ok":
        return
    for key, label in (("forward_matmul_gflop", "matmul"), ("ops_per_step", "ops")):
        if case.get(key) and other.get(key):
            entry[f"{label}_vs_{name}"] = case[key] / other[key]


def ratios(records: Iterable[dict]) -> list[dict]:
    """Per data set: each implementation against its PyG reference (:func:`reference_of`: PyG's
    DiffPool, MinCutPool or DMoN; named in ``reference``) (speed = its graphs/s ÷ PyG's, memory = its
    peak RSS ÷ PyG's, activations = its largest batch's saved activations ÷ PyG's) and DiffPool's epoch
    time against flat GraphSAGE's, from the same run; and the matrix-product arithmetic
    (:func:`forward_matmul_gflop`) and operations per step (:func:`operations_per_step`) of each
    against both.

    Only cases run with the same number of torch threads on the same device are compared. Memory is
    the device's: peak RSS on the CPU, the allocator's peak on a GPU (where the training memory
    above the data, a host figure, is not reported).
    """

    def threads(r: dict):
        return (r.get("env") or {}).get("threads"), r.get("device", "cpu")

    def memory(r: dict):
        return r.get("peak_memory_mb") or r.get("peak_rss_mb")

    by_set: dict[str, dict[str, dict]] = {}
    for r in records:
        if r.get("kind") == "epoch":
            by_set.setdefault(r["dataset"], {})[r["impl"]] = r
    out = []
    for dataset, cases in by_set.items():
        row: dict = {"kind": "ratios", "dataset": dataset}
        devices = {(r.get("device", "cpu"), r.get("device_name")) for r in cases.values()}
        if len(devices) == 1:
            row["device"], row["device_name"] = devices.pop()
        row["pyg_status"] = None if "pyg" not in cases else cases["pyg"].get("status")
        for name, case in cases.items():
            if is_pyg(name) and name != "pyg":
                row[f"{name}_status"] = case.get("status")
        for name, case in cases.items():
            if is_pyg(name) or case.get("status") != "ok":
                continue
            reference = reference_of(name)
            ref = cases.get(reference) if reference else None
            ref_ok = ref is not None and ref.get("status") == "ok"
            entry: dict = {"reference": reference} if reference != "pyg" else {}
            # Counts of arithmetic and operations do not depend on the threads a case ran with.
            _count_ratios(entry, case, ref, "pyg")
            _count_ratios(entry, case, cases.get("graphsage") if name != "graphsage" else None, "graphsage")
            if ref_ok and threads(ref) == threads(case):
                entry["speed_vs_pyg"] = case["graphs_per_s"] / ref["graphs_per_s"]
                entry["memory_vs_pyg"] = memory(case) / memory(ref)
                if case.get("epoch_cpu_s") and ref.get("epoch_cpu_s"):
                    entry["cpu_speed_vs_pyg"] = ref["epoch_cpu_s"] / case["epoch_cpu_s"]
                on_cpu = case.get("device", "cpu") == "cpu"
                if on_cpu and case.get("rss_after_data_mb") and ref.get("rss_after_data_mb"):
                    entry["training_memory_vs_pyg"] = max(
                        case["peak_rss_mb"] - case["rss_after_data_mb"], 1.0
                    ) / max(ref["peak_rss_mb"] - ref["rss_after_data_mb"], 1.0)
                if case.get("saved_activations_mb") and ref.get("saved_activations_mb"):
                    entry["activations_vs_pyg"] = case["saved_activations_mb"] / ref["saved_activations_mb"]
                if case.get("predict_graphs_per_s") and ref.get("predict_graphs_per_s"):
                    entry["predict_speed_vs_pyg"] = case["predict_graphs_per_s"] / ref["predict_graphs_per_s"]
            sage = cases.get("graphsage")
            if (
                name != "graphsage"
                and sage is not None
                and sage.get("status") == "ok"
                and threads(sage) == threads(case)
            ):
                entry["epoch_vs_graphsage"] = case["epoch_s"] / sage["epoch_s"]
                if case.get("epoch_cpu_s") and sage.get("epoch_cpu_s"):
                    entry["epoch_cpu_vs_graphsage"] = case["epoch_cpu_s"] / sage["epoch_cpu_s"]
            row[name] = entry
        out.append(row)
    return out


def merge_rounds(rounds: list[dict]) -> dict:
    """One case's records from several rounds as one record: the median over all its good rounds'
    timed epochs (wall and CPU), inference the median of the rounds' medians, memory the largest
    round's. Rounds that failed are listed in ``failed_rounds``; a case with no good round is
    reported by its first record."""
    good = [r for r in rounds if r.get("status") == "ok"]
    failed = [
        {"round": i, "status": r.get("status"), "error": r.get("error")}
        for i, r in enumerate(rounds)
        if r.get("status") != "ok"
    ]
    if not good:
        return {**rounds[0], "rounds": len(rounds)}
    if failed:
        return {**merge_rounds(good), "rounds": len(rounds), "failed_rounds": failed}
    if len(rounds) == 1:
        return {**rounds[0], "rounds": 1}
    merged = dict(max(rounds, key=lambda r: r.get("peak_memory_mb") or r.get("peak_rss_mb", 0)))
    merged["rounds"] = len(rounds)
    merged["round_epoch_s"] = [r["epoch_s"] for r in rounds]
    merged["epoch_times_s"] = [t for r in rounds for t in r["epoch_times_s"]]
    merged["epoch_s"] = statistics.median(merged["epoch_times_s"])
    merged["graphs_per_s"] = rounds[0]["graphs_per_s"] * rounds[0]["epoch_s"] / merged["epoch_s"]
    cpu = [t for r in rounds for t in r.get("epoch_cpu_times_s", [])]
    merged["epoch_cpu_times_s"] = cpu
    merged["epoch_cpu_s"] = statistics.median(cpu) if cpu else None
    predict = [r["predict_s"] for r in rounds if r.get("predict_s")]
    if predict:
        merged["predict_s"] = statistics.median(predict)
        merged["predict_graphs_per_s"] = (
            rounds[0]["predict_graphs_per_s"] * rounds[0]["predict_s"] / merged["predict_s"]
        )
    return merged


def run_epoch_benchmark(
    datasets: list[str],
    impls: list[str],
    *,
    out_path: str | None = None,
    memory_cap_gb: float = 8.0,
    timeout: float = 900.0,
    timeouts: dict | None = None,
    case_options: dict | None = None,
    impl_epochs: dict | None = None,
    impl_timeouts: dict | None = None,
    rounds: int = 1,
    budget_s: float | None = None,
    **options,
) -> list[dict]:
    """Run every (data set, implementation) case in its own subprocess; write and return records.

    With ``rounds`` > 1 a data set's cases run that many times, in the given order and reversed in
    turn, and each case's record merges its rounds (:func:`merge_rounds`): a case's time depends on
    its place in a run, and with an even number of rounds every case has the same mean place. A
    case that ran out of memory, out of time or into an error is not run again. Each round's record
    is printed as it ends (``kind`` ``epoch-round``); the file gets the merged records and the ratios.

    ``options`` go to :func:`run_case` (epochs, warmup_epochs, warmup_batches, predict_passes,
    batch_size, seed, threads, data_root, cache, pyg_padding); ``case_options[dataset]`` overrides
    them per data set and ``timeouts[dataset]`` the timeout; ``impl_epochs[impl]`` and
    ``impl_timeouts[impl]`` override the epochs and the timeout per implementation (e.g. one epoch
    for a fixed-k run that takes minutes per epoch).

    ``budget_s`` bounds the whole run: no case's timeout reaches past it, and a case that would
    start with less than :data:`MIN_CASE_S` left is recorded as ``skipped``, so a run with a fixed
    time slot ends by itself with every record written. Every record names the device it ran on.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    from .environment import memory_cap_for, probe_device_name

    device = options.get("device", "cpu")
    deadline = None if budget_s is None else time.monotonic() + budget_s
    names: list[str] = []  # the device's name as the cases reported it

    def tag(record: dict) -> dict:
        record.setdefault("device", device)
        if record.get("device_name"):
            names.append(record["device_name"])
        else:
            record["device_name"] = names[-1] if names else probe_device_name(device)
        return record

    records = []
    sink = open(out_path, "a") if out_path else None
    try:
        for dataset in datasets:
            by_impl: dict[str, list[dict]] = {impl: [] for impl in impls}
            for round_index in range(rounds):
                for impl in impls if round_index % 2 == 0 else impls[::-1]:
                    if by_impl[impl] and by_impl[impl][-1].get("status") != "ok":
                        continue  # a failed case would fail again (or time out again)
                    spec = {
                        "dataset": dataset,
                        "impl_name": impl,
                        "memory_cap_gb": memory_cap_for(device, memory_cap_gb),
                        **options,
                        **((case_options or {}).get(dataset, {})),
                    }
                    if not is_pyg(impl):
                        spec.pop("pyg_padding", None)
                    if impl in (impl_epochs or {}):
                        spec["epochs"] = impl_epochs[impl]
                    limit = (impl_timeouts or {}).get(impl, (timeouts or {}).get(dataset, timeout))
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left < MIN_CASE_S:
                        record = {
                            "kind": "epoch",
                            "dataset": dataset,
                            "impl": impl,
                            "status": "skipped",
                            "reason": f"the run's budget of {budget_s:g} s was spent",
                        }
                    else:
                        limit = limit if left is None else min(limit, left)
                        record = _spawn(spec, limit)
                        record["timeout_s"] = limit
                    tag(record)
                    by_impl[impl].append(record)
                    if rounds > 1:
                        _emit({**record, "kind": "epoch-round", "round": round_index})
            set_records = [merge_rounds(by_impl[impl]) for impl in impls]
            for record in set_records:
                _emit(record)
                if sink:
                    _emit(record, sink)
            for row in ratios(set_records):
                tag(row)
                _emit(row)
                if sink:
                    _emit(row, sink)
            records += set_records
    finally:
        if sink:
            sink.close()
    return records


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == CHILD_FLAG:
        return _child(json.loads(argv[1]))
    import argparse

    from .cli import add_epoch_arguments, run_epoch

    parser = argparse.ArgumentParser(prog="python -m benchmarks.epoch", description=__doc__.splitlines()[0])
    add_epoch_arguments(parser)
    return run_epoch(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
