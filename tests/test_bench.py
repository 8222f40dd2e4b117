"""Smoke tests of the benchmark runner on tiny inputs: the JSON schema and the ratios, never timings."""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from benchmarks.cli import add_bench_arguments, run_bench
from benchmarks.epoch import merge_rounds, ratios, run_case, run_epoch_benchmark, saved_activation_bytes
from benchmarks.implementations import IMPLEMENTATIONS
from benchmarks.scaling import loglog_slope, run_layer, summarize
from benchmarks.workloads import Workload, default_data_root, random_graph

REPO_ROOT = Path(__file__).resolve().parents[1]

EPOCH_KEYS = {
    "kind",
    "dataset",
    "impl",
    "status",
    "epoch_s",
    "epoch_times_s",
    "graphs_per_s",
    "peak_rss_mb",
    "predict_graphs_per_s",
    "batch_size",
    "env",
    "workload",
    "config",
    "saved_activations_mb",
    "saved_activations_batches",
    "forward_matmul_gflop",
    "ops_per_step",
}


def tiny_workload(num_graphs=12, seed=0) -> Workload:
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for i in range(num_graphs):
        n = int(torch.randint(3, 15, (1,), generator=gen))
        edge_index = torch.randint(0, n, (2, 2 * n), generator=gen)
        edge_index = to_undirected(edge_index[:, edge_index[0] != edge_index[1]], num_nodes=n)
        graphs.append(
            Data(
                x=torch.randn(n, 3, generator=gen),
                edge_index=edge_index,
                y=torch.tensor([i % 2]),
                num_nodes=n,
            )
        )
    return Workload("tiny", graphs, 3, 2, max(int(g.num_nodes) for g in graphs))


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_run_case_reports_the_schema(impl):
    record = run_case(
        "tiny", impl, epochs=2, warmup_epochs=1, batch_size=4, threads=1, workload=tiny_workload()
    )
    assert EPOCH_KEYS <= set(record), EPOCH_KEYS - set(record)
    assert record["status"] == "ok" and record["impl"] == impl
    assert len(record["epoch_times_s"]) == 2 and record["epoch_s"] > 0 and record["graphs_per_s"] > 0
    assert record["peak_rss_mb"] > 0 and record["env"]["threads"] == 1
    assert record["saved_activations_mb"] > 0 and record["saved_activations_batches"] == 3  # 12 graphs / 4
    assert record["forward_matmul_gflop"] > 0 and record["ops_per_step"] > 0
    assert {"torch", "torch_geometric", "loadavg"} <= set(record["env"])
    json.dumps(record)  # serialisable


def test_saved_activations_count_what_backward_keeps_once_per_storage():
    a = torch.randn(100, 10, requires_grad=True)  # 4,000 bytes
    w = torch.randn(10, 1000)  # 40,000 bytes; its product with a: 400,000
    _, exp_saved = saved_activation_bytes(lambda: torch.exp(a).sum())  # exp keeps its result
    _, square_saved = saved_activation_bytes(lambda: (a * a).sum())  # mul keeps a twice: one storage
    _, linear_saved = saved_activation_bytes(lambda: (a @ w).sum())  # a's gradient needs w only
    _, relu_saved = saved_activation_bytes(lambda: (a @ w).relu().sum())  # relu keeps its output too
    with torch.no_grad():
        _, nothing = saved_activation_bytes(lambda: torch.exp(a).sum())
    assert exp_saved == square_saved == 4000
    assert linear_saved == 40000 and relu_saved == 440000 and nothing == 0


def test_matmul_count_is_the_products_arithmetic():
    """The count covers every batch of an epoch's forward pass: a model of one linear map has
    2·rows·in·out FLOPs per batch; DiffPool's pooling adds products a flat GraphSAGE lacks."""
    from benchmarks.epoch import forward_matmul_gflop

    workload = tiny_workload()
    impl = IMPLEMENTATIONS["graphsage"](batch_size=4, seed=0)

    class OneLinear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 7)

        def forward(self, batch):
            return self.lin(batch.x)

    class Wrapper:
        def train_batches(self, workload, epoch):
            return impl.train_batches(workload, epoch)

        def predict(self, model, batch):
            return model(batch)

    nodes = sum(int(g.num_nodes) for g in workload.graphs)
    assert forward_matmul_gflop(OneLinear(), Wrapper(), workload) * 1e9 == pytest.approx(2 * nodes * 3 * 7)
    flat = run_case(
        "tiny", "graphsage", epochs=1, warmup_epochs=0, batch_size=4, threads=1, workload=workload
    )
    pooled = run_case("tiny", "sparse", epochs=1, warmup_epochs=0, batch_size=4, threads=1, workload=workload)
    assert pooled["forward_matmul_gflop"] != flat["forward_matmul_gflop"] > 0
    # A step dispatches each op of the loss and the backward pass: a pooled model has more.
    assert pooled["ops_per_step"] > flat["ops_per_step"] > 0


def test_operations_per_step_count_forward_and_backward_and_leave_no_gradients():
    from benchmarks.epoch import operations_per_step

    workload = tiny_workload()
    impl = IMPLEMENTATIONS["graphsage"](batch_size=4, seed=0)
    model = impl.build(workload)
    model.eval()
    with_backward = operations_per_step(model, impl, workload, batches=2)
    assert not model.training  # the mode it was given back
    assert all(p.grad is None for p in model.parameters())
    forward_only = 0

    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            nonlocal forward_only
            forward_only += 1
            return func(*args, **(kwargs or {}))

    model.train()
    batches = list(impl.train_batches(workload, 0))[:2]
    with Count():
        for batch in batches:
            impl.loss(model, batch)
    assert with_backward > forward_only / len(batches) > 0  # per step, and the backward pass counts too


def test_a_failing_count_keeps_the_case_and_its_timings(monkeypatch):
    import benchmarks.epoch as epoch_module

    def broken(*args, **kwargs):
        raise RuntimeError("counter broke")

    monkeypatch.setattr(epoch_module, "forward_matmul_gflop", broken)
    record = run_case(
        "tiny", "graphsage", epochs=1, warmup_epochs=0, batch_size=4, threads=1, workload=tiny_workload()
    )
    assert record["status"] == "ok" and record["epoch_s"] > 0 and record["ops_per_step"] > 0
    assert "forward_matmul_gflop" not in record and "counter broke" in record["forward_matmul_gflop_error"]


def test_ratios_from_one_run():
    records = [
        {
            "kind": "epoch",
            "dataset": "D",
            "impl": "pyg",
            "status": "ok",
            "graphs_per_s": 10.0,
            "peak_rss_mb": 2000.0,
            "epoch_s": 10.0,
            "predict_graphs_per_s": 50.0,
            "saved_activations_mb": 200.0,
            "forward_matmul_gflop": 10.0,
        },
        {
            "kind": "epoch",
            "dataset": "D",
            "impl": "sparse",
            "status": "ok",
            "graphs_per_s": 50.0,
            "peak_rss_mb": 400.0,
            "epoch_s": 2.0,
            "predict_graphs_per_s": 100.0,
            "saved_activations_mb": 50.0,
            "forward_matmul_gflop": 3.0,
        },
        {
            "kind": "epoch",
            "dataset": "D",
            "impl": "graphsage",
            "status": "ok",
            "graphs_per_s": 100.0,
            "peak_rss_mb": 300.0,
            "epoch_s": 1.0,
            "forward_matmul_gflop": 4.0,
        },
        {"kind": "epoch", "dataset": "E", "impl": "pyg", "status": "out of memory"},
        {
            "kind": "epoch",
            "dataset": "E",
            "impl": "pergraph",
            "status": "ok",
            "graphs_per_s": 5.0,
            "peak_rss_mb": 100.0,
            "epoch_s": 3.0,
        },
    ]
    rows = {r["dataset"]: r for r in ratios(records)}
    assert rows["D"]["sparse"]["speed_vs_pyg"] == pytest.approx(5.0)
    assert rows["D"]["sparse"]["memory_vs_pyg"] == pytest.approx(0.2)
    assert rows["D"]["sparse"]["predict_speed_vs_pyg"] == pytest.approx(2.0)
    assert rows["D"]["sparse"]["activations_vs_pyg"] == pytest.approx(0.25)
    assert "activations_vs_pyg" not in rows["D"]["graphsage"]  # no saved activations in its record
    assert rows["D"]["sparse"]["epoch_vs_graphsage"] == pytest.approx(2.0)
    assert rows["D"]["sparse"]["matmul_vs_graphsage"] == pytest.approx(0.75)
    assert rows["D"]["sparse"]["matmul_vs_pyg"] == pytest.approx(0.3)
    assert "matmul_vs_graphsage" not in rows["E"]["pergraph"]  # no GraphSAGE case in that run
    assert rows["E"]["pyg_status"] == "out of memory" and "speed_vs_pyg" not in rows["E"]["pergraph"]


def _round(epoch_times, cpu_times, peak, predict_s=1.0):
    """A case's record from one round of 100 graphs."""
    epoch_s = statistics.median(epoch_times)
    return {
        "kind": "epoch",
        "dataset": "D",
        "impl": "default",
        "status": "ok",
        "epoch_times_s": epoch_times,
        "epoch_s": epoch_s,
        "graphs_per_s": 100 / epoch_s,
        "epoch_cpu_times_s": cpu_times,
        "epoch_cpu_s": statistics.median(cpu_times),
        "peak_rss_mb": peak,
        "rss_after_data_mb": peak / 2,
        "predict_s": predict_s,
        "predict_graphs_per_s": 100 / predict_s,
    }


def test_rounds_merge_into_the_median_of_all_timed_epochs():
    first = _round([3.0, 2.0, 2.5], [2.9, 1.9, 2.4], 500.0, predict_s=2.0)
    second = _round([1.0, 1.2, 1.1], [0.9, 1.1, 1.0], 600.0, predict_s=1.0)
    merged = merge_rounds([first, second])
    assert merged["rounds"] == 2 and merged["round_epoch_s"] == [2.5, 1.1]
    assert merged["epoch_times_s"] == [3.0, 2.0, 2.5, 1.0, 1.2, 1.1]
    assert merged["epoch_s"] == pytest.approx(1.6) and merged["graphs_per_s"] == pytest.approx(100 / 1.6)
    assert merged["epoch_cpu_s"] == pytest.approx(1.5)
    assert merged["predict_s"] == pytest.approx(1.5) and merged["predict_graphs_per_s"] == pytest.approx(
        100 / 1.5
    )
    # Memory from the round with the larger peak, with its own baseline.
    assert merged["peak_rss_mb"] == 600.0 and merged["rss_after_data_mb"] == 300.0
    assert merge_rounds([first]) == {**first, "rounds": 1}
    # A failed round is listed, and the good ones still count.
    failing = {"kind": "epoch", "dataset": "D", "impl": "default", "status": "timeout"}
    kept = merge_rounds([first, failing])
    assert kept["status"] == "ok" and kept["epoch_s"] == first["epoch_s"] and kept["rounds"] == 2
    assert kept["failed_rounds"] == [{"round": 1, "status": "timeout", "error": None}]
    assert merge_rounds([failing])["status"] == "timeout"


def test_a_case_that_failed_is_not_run_again_in_later_rounds(monkeypatch):
    import benchmarks.epoch as epoch_module

    calls = []

    def fake_spawn(spec, timeout):
        calls.append(spec["impl_name"])
        if spec["impl_name"] == "pyg":
            return {"kind": "epoch", "dataset": spec["dataset"], "impl": "pyg", "status": "timeout"}
        return _round([1.0, 1.1, 1.2], [1.0, 1.1, 1.2], 100.0) | {"impl": spec["impl_name"]}

    monkeypatch.setattr(epoch_module, "_spawn", fake_spawn)
    records = run_epoch_benchmark(["D"], ["default", "graphsage", "pyg"], rounds=3)
    assert calls == ["default", "graphsage", "pyg", "graphsage", "default", "default", "graphsage"]
    assert [(r["impl"], r["status"], r["rounds"]) for r in records] == [
        ("default", "ok", 3),
        ("graphsage", "ok", 3),
        ("pyg", "timeout", 1),
    ]
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        run_epoch_benchmark(["D"], ["default"], rounds=0)


def test_subprocess_runner_on_a_small_tu_set(tmp_path, capsys):
    root = default_data_root()
    if root is None or not (root / "MUTAG").is_dir():
        pytest.skip("the shared TU data (MUTAG) is not beside the checkout")
    out = tmp_path / "epoch.jsonl"
    records = run_epoch_benchmark(
        ["MUTAG"],
        ["pergraph", "pyg"],
        out_path=str(out),
        memory_cap_gb=4.0,
        timeout=300,
        epochs=1,
        warmup_epochs=0,
        warmup_batches=1,
        threads=1,
        cache=str(tmp_path / "cache"),
        rounds=2,
    )
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert [r["rounds"] for r in records] == [2, 2] and all(len(r["epoch_times_s"]) == 2 for r in records)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    # The second round runs the cases in reverse order.
    assert [(r["round"], r["impl"]) for r in printed if r["kind"] == "epoch-round"] == [
        (0, "pergraph"),
        (0, "pyg"),
        (1, "pyg"),
        (1, "pergraph"),
    ]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["epoch", "epoch", "ratios"]
    assert lines[-1]["pergraph"]["speed_vs_pyg"] > 0
    assert lines[0]["memory_cap_gb"] == 4.0


@pytest.mark.parametrize("impl", ["sparse", "dense", "pyg"])
def test_one_layer_record(impl):
    record = run_layer(impl, 60, 8, repeats=1, threads=1)
    assert record["status"] == "ok" and record["seconds"] > 0 and record["memory_mb"] >= 0
    assert record["n"] == 60 and record["k"] == 8


def test_loglog_slope_and_summary():
    assert loglog_slope([(1, 3), (10, 30), (100, 300)]) == pytest.approx(1.0)
    assert loglog_slope([(1, 1), (4, 16)]) == pytest.approx(2.0)
    assert loglog_slope([(5, 1)]) is None
    records = [
        {
            "kind": "layer",
            "impl": "sparse",
            "clusters": "64",
            "n": n,
            "status": "ok",
            "seconds": n / 100,
            "memory_mb": n / 10,
        }
        for n in (250, 500, 1000)
    ]
    records.append({"kind": "layer", "impl": "dense", "clusters": "64", "n": 250, "status": "out of memory"})
    rows = {r["impl"]: r for r in summarize(records)}
    assert rows["sparse"]["time_slope"] == pytest.approx(1.0) and rows["sparse"]["largest_n_ok"] == 1000
    assert rows["dense"]["first_failure"] == {"n": 250, "status": "out of memory"}


def test_random_graph_degree():
    g = random_graph(2000, avg_degree=5.0, num_features=4)
    assert g.x.shape == (2000, 4)
    assert math.isclose(g.edge_index.size(1) / 2000, 5.0, rel_tol=0.05)


def test_cli_parses_and_dispatches(tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    args = parser.parse_args(["epoch", "--datasets", "A,B", "--impls", "sparse", "--timeouts", "B=5"])
    assert args.datasets == ["A", "B"] and args.impls == ["sparse"] and args.timeouts == {"B": 5.0}
    report = [
        "report",
        "--epoch-json",
        str(tmp_path / "epoch.jsonl"),
        "--scaling-json",
        str(tmp_path / "none.jsonl"),
        "--output",
        str(tmp_path / "P.md"),
        "--plot",
        str(tmp_path / "p.png"),
    ]
    capsys.readouterr()
    # no results at all: refused, nothing written
    assert run_bench(parser.parse_args(report)) == 2
    assert "epoch.jsonl and" in capsys.readouterr().err and not (tmp_path / "P.md").exists()
    # epoch results only: the report, no plot, and it says which file was missing
    (tmp_path / "epoch.jsonl").write_text("")
    assert run_bench(parser.parse_args(report)) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["plot"] is None and "none.jsonl not found" in out.err
    text = (tmp_path / "P.md").read_text()
    assert text.startswith("# Performance") and str(tmp_path / "epoch.jsonl") in text
    assert not (tmp_path / "p.png").exists()


def test_headroom_split_step_accumulates_the_uncut_steps_gradients():
    from benchmarks.headroom import split_pyg_step
    from benchmarks.implementations import get_implementation

    workload = tiny_workload()
    impl = get_implementation("pyg", batch_size=6)
    torch.manual_seed(0)
    model = impl.build(workload)
    model.train()
    batch = next(iter(impl.train_batches(workload, 0)))
    state = {k: v.clone() for k, v in model.state_dict().items()}  # batch norm's running stats move per step
    impl.loss(model, batch).backward()
    uncut = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    level1_s, rest_s = split_pyg_step(model, *batch)
    assert level1_s > 0 and rest_s > 0
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, uncut[name], msg=name)
    # Level 1's parameters get their gradient only through the cut: it must carry it.
    assert float(model.gnn1_embed.convs[0].lin_rel.weight.grad.abs().sum()) > 0


def test_headroom_record_bounds_the_speedup_from_its_own_figures():
    from benchmarks.headroom import GRAPHSAGE_LAYERS, LEVEL1_LAYERS, run_headroom

    record = run_headroom("tiny", epochs=2, threads=1, batch_size=4, workload=tiny_workload())
    assert record["kind"] == "headroom" and record["epochs"] == 2
    floor = record["pyg_rest_s"] + LEVEL1_LAYERS / GRAPHSAGE_LAYERS * record["graphsage_s"]
    assert math.isclose(record["ours_floor_s"], floor)
    assert math.isclose(record["best_possible_speedup"], record["pyg_s"] / floor)
    assert math.isclose(record["speedup_measured"], record["pyg_s"] / record["ours_fixed_k_s"])
    assert (
        0 < record["pyg_level1_s"] < record["pyg_split_s"]
        and 0 < record["pyg_rest_s"] < record["pyg_split_s"]
    )
    json.dumps(record)


def test_report_shows_the_headroom_and_names_it_in_the_fixed_k_target(tmp_path):
    from benchmarks.report import write_report

    (tmp_path / "epoch.jsonl").write_text("")
    plain, _ = write_report(
        tmp_path / "epoch.jsonl", tmp_path / "none.jsonl", tmp_path / "plain.md", tmp_path / "p.png"
    )
    assert "No headroom results yet." in plain.read_text() and "at most" not in plain.read_text()
    old = {
        "kind": "headroom",
        "dataset": "ENZYMES",
        "cluster_counts": [32, 8],
        "pyg_s": 2.0,
        "pyg_level1_s": 1.2,
        "pyg_rest_s": 0.7,
        "ours_fixed_k_s": 1.4,
        "graphsage_s": 0.9,
        "ours_floor_s": 1.3,
        "speedup_measured": 2.0 / 1.4,
        "best_possible_speedup": 2.0 / 1.3,
        "env": {"threads": 1, "commit": "abc"},
    }
    new = {**old, "pyg_s": 2.2, "best_possible_speedup": 2.2 / 1.3, "env": {"threads": 1, "commit": "def"}}
    (tmp_path / "headroom.jsonl").write_text(json.dumps(old) + "\n" + json.dumps(new) + "\n")
    path, _ = write_report(
        tmp_path / "epoch.jsonl",
        tmp_path / "none.jsonl",
        tmp_path / "P.md",
        tmp_path / "p.png",
        tmp_path / "headroom.jsonl",
    )
    text = path.read_text()
    assert "## Headroom: how fast fixed k can get" in text
    row = next(line for line in text.splitlines() if line.startswith("| ENZYMES | 32, 8 |"))
    assert "**1.69×**" in row and "| 2.20 |" in row  # the last record wins
    target = next(line for line in text.splitlines() if line.startswith("| ENZYMES, fixed k: ≥ 2× PyG"))
    assert "at most 1.69× with level 1's pooling free" in target


def outside_generated_blocks(text: str) -> str:
    """The hand-written part of a document: everything but its generated blocks."""
    return re.sub(r"<!-- BEGIN GENERATED: (\S+) -->\n.*?<!-- END GENERATED: \1 -->", "", text, flags=re.S)


def test_generated_blocks_keep_the_prose_and_refuse_markers_that_do_not_match():
    from benchmarks.markdown_blocks import MarkerError, block, fill_blocks

    text = "# T\n\nProse *before*.\n\n" + block("a", "stale") + "\n\nBetween.\n" + block("b", "") + "\nEnd.\n"
    blocks = {"a": "| x |\n|---|\n| 1 |", "b": "new\n"}
    filled = fill_blocks(text, blocks)
    assert filled == (
        "# T\n\nProse *before*.\n\n<!-- BEGIN GENERATED: a -->\n\n| x |\n|---|\n| 1 |\n\n"
        "<!-- END GENERATED: a -->\n\nBetween.\n<!-- BEGIN GENERATED: b -->\n\nnew\n\n"
        "<!-- END GENERATED: b -->\nEnd.\n"
    )
    assert fill_blocks(filled, blocks) == filled
    with pytest.raises(MarkerError, match="no markers for c"):
        fill_blocks(text, {**blocks, "c": "x"})
    with pytest.raises(MarkerError, match="unknown generated block 'b'"):
        fill_blocks(text, {"a": "x"})
    with pytest.raises(MarkerError, match="<!-- BEGIN GENERATED: a --> has no <!-- END GENERATED: a -->"):
        fill_blocks("<!-- BEGIN GENERATED: a -->\nx\n", {"a": "x"})
    with pytest.raises(MarkerError, match="block 'a' appears twice"):
        fill_blocks(block("a", "") + "\n" + block("a", ""), {"a": "x"})
    with pytest.raises(MarkerError, match="<!-- END GENERATED: b --> without"):
        fill_blocks(block("a", "") + "\n<!-- END GENERATED: b -->\n", {"a": "x", "b": "y"})


def test_report_rewrites_only_the_tables_of_the_performance_document_and_twice_changes_nothing(tmp_path):
    from benchmarks.report import write_report

    committed = (REPO_ROOT / "docs" / "PERFORMANCE.md").read_text()
    document = tmp_path / "PERFORMANCE.md"
    shutil.copy(REPO_ROOT / "docs" / "PERFORMANCE.md", document)
    perf = REPO_ROOT / "docs" / "perf"
    args = (
        perf / "epoch.jsonl",
        perf / "scaling.jsonl",
        document,
        tmp_path / "scaling.png",
        perf / "headroom.jsonl",
    )
    write_report(*args)
    once = document.read_text()
    write_report(*args)
    assert document.read_text() == once
    assert outside_generated_blocks(once) == outside_generated_blocks(committed)
    assert "## Notes on the figures" in once and "| target | measured | verdict |" in once


# --------------------------------------------------------------------------- devices
@pytest.mark.parametrize("impl", ["sparse", "default", "pyg", "graphsage"])
def test_epoch_case_on_each_device(impl, device):
    """The training loop on the device: its record names the device and reports its memory (the
    allocator's peak on CUDA); a random subset of the data keeps the full set's classes."""
    record = run_case(
        "tiny",
        impl,
        epochs=1,
        warmup_epochs=1,
        batch_size=4,
        threads=1,
        device=device.type,
        max_graphs=8,
        counts=False,
        workload=tiny_workload(),
    )
    assert record["status"] == "ok" and record["device"] == device.type and record["device_name"]
    assert record["env"]["device"] == device.type and record["workload"]["graphs"] == 8
    assert record["max_graphs"] == 8 and record["batches_per_epoch"] == 2
    assert record["peak_memory_mb"] > 0 and "forward_matmul_gflop" not in record
    if device.type == "cuda":
        assert record["peak_memory_mb"] == record["peak_cuda_mb"] >= record["train_peak_cuda_mb"] > 0
        assert record["env"]["cuda"] and "float32_matmul_precision" in record["env"]
    else:
        assert record["peak_memory_mb"] == record["peak_rss_mb"] and "peak_cuda_mb" not in record


@pytest.mark.parametrize("impl", ["sparse", "pyg"])
def test_one_layer_on_each_device(impl, device):
    record = run_layer(impl, 60, 8, degree=10.0, repeats=1, threads=1, device=device.type)
    assert record["status"] == "ok" and record["device"] == device.type and record["device_name"]
    assert record["degree"] == 10.0 and record["seconds"] > 0 and record["memory_mb"] >= 0
    if device.type == "cuda":
        assert record["peak_cuda_mb"] >= record["memory_mb"] > 0


def test_workload_subset_draws_from_every_part_of_the_set():
    workload = tiny_workload(num_graphs=12)
    part = workload.subset(6, seed=1)
    assert len(part.graphs) == 6 and part.num_classes == 2 and part.num_features == 3
    assert part.max_nodes == max(part.sizes) and {int(g.y) for g in part.graphs} == {0, 1}
    assert part.graphs != workload.graphs[:6] and workload.subset(50) is workload


def test_cuda_failures_count_as_out_of_memory_and_cuda_runs_uncapped():
    from benchmarks.environment import is_out_of_memory, memory_cap_for

    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 64 GiB"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_out_of_memory(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"))
    assert not is_out_of_memory(RuntimeError("CUDA error: device-side assert triggered"))
    assert memory_cap_for("cuda", 8.0) is None and memory_cap_for("cpu", 8.0) == 8.0


@pytest.mark.parametrize("module", ["epoch", "scaling"])
def test_a_cuda_child_takes_no_address_space_cap(module, monkeypatch, capsys):
    """CUDA reserves far more virtual address space than any cap: a CUDA case must run without one."""
    import importlib

    import benchmarks.environment as environment

    bench = importlib.import_module(f"benchmarks.{module}")
    capped = []
    monkeypatch.setattr(environment, "apply_memory_cap", lambda gb: capped.append(gb))
    fake = {"kind": "x", "status": "ok"}
    if module == "epoch":
        monkeypatch.setattr(bench, "run_case", lambda *a, **k: dict(fake))
        spec = {"dataset": "D", "impl_name": "sparse"}
    else:
        monkeypatch.setattr(bench, "run_layer", lambda **k: dict(fake))
        spec = {"impl": "sparse", "n": 10, "k": 2}
    for device, cap in (("cuda", None), ("cpu", 4.0)):
        assert bench._child({**spec, "device": device, "memory_cap_gb": 4.0}) == 0
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["memory_cap_gb"] == cap
    assert capped == [4.0]


def test_ratios_compare_each_devices_own_memory_and_never_two_devices():
    def case(impl, device, memory, rss=1000.0, threads=1):
        return {
            "kind": "epoch",
            "dataset": "D",
            "impl": impl,
            "device": device,
            "device_name": "GPU" if device == "cuda" else "CPU",
            "status": "ok",
            "graphs_per_s": 10.0,
            "epoch_s": 1.0,
            "peak_memory_mb": memory,
            "peak_rss_mb": rss,
            "rss_after_data_mb": 500.0,
            "env": {"threads": threads},
        }

    rows = ratios([case("pyg", "cuda", 4000.0), case("sparse", "cuda", 1000.0, rss=3000.0)])
    assert rows[0]["sparse"]["memory_vs_pyg"] == pytest.approx(0.25)  # the GPU's, not the host's
    assert "training_memory_vs_pyg" not in rows[0]["sparse"]  # a host figure: not on a GPU
    assert rows[0]["device"] == "cuda" and rows[0]["device_name"] == "GPU"
    mixed = ratios([case("pyg", "cpu", 4000.0), case("sparse", "cuda", 1000.0)])
    assert "speed_vs_pyg" not in mixed[0]["sparse"] and "device" not in mixed[0]


def test_the_budget_caps_every_case_and_skips_the_rest(monkeypatch):
    """A run with a time slot ends by itself: timeouts never reach past the budget, and the cases
    left when it is spent are recorded as skipped, every record naming the device."""
    import benchmarks.epoch as epoch_module
    import benchmarks.scaling as scaling_module

    clock = [1000.0]
    monkeypatch.setattr(epoch_module.time, "monotonic", lambda: clock[0])
    limits = []

    def fake_spawn(spec, timeout):
        limits.append(timeout)
        clock[0] += 20.0
        record = {"kind": "epoch", "dataset": spec["dataset"], "impl": spec["impl_name"], "status": "ok"}
        return record | {"device_name": "Fake GPU", "graphs_per_s": 1.0, "epoch_s": 1.0, "peak_rss_mb": 1.0}

    monkeypatch.setattr(epoch_module, "_spawn", fake_spawn)
    records = run_epoch_benchmark(
        ["D"], ["sparse", "pyg", "graphsage"], timeout=30.0, budget_s=45.0, device="cuda"
    )
    assert limits == [30.0, 25.0]  # the second case: what the budget had left
    assert [r["status"] for r in records] == ["ok", "ok", "skipped"]
    assert "budget of 45 s" in records[2]["reason"]
    assert all(r["device"] == "cuda" and r["device_name"] == "Fake GPU" for r in records)

    clock[0] = 0.0
    layer_limits = []

    def fake_layer(spec, timeout):
        layer_limits.append(timeout)
        clock[0] += 20.0
        record = {"kind": "layer", **{k: spec[k] for k in ("impl", "n", "k")}, "status": "ok"}
        return record | {"seconds": 1.0, "memory_mb": 1.0, "device_name": "CPU"}

    monkeypatch.setattr(scaling_module, "_spawn", fake_layer)
    rows = scaling_module.run_scaling_benchmark(
        [100, 200, 400], ["sparse"], clusters=["64"], timeout=30.0, budget_s=45.0, device="cpu"
    )
    layers = [r for r in rows if r["kind"] == "layer"]
    assert layer_limits == [30.0, 25.0] and [r["status"] for r in layers] == ["ok", "ok", "skipped"]
    assert all(r["device"] == "cpu" and r["device_name"] == "CPU" for r in rows)


def test_scaling_takes_sizes_per_implementation_and_grows_one_until_it_fails(monkeypatch):
    import benchmarks.scaling as scaling_module

    runs = []

    def fake_spawn(spec, timeout):
        runs.append((spec["impl"], spec["n"], spec["device"], spec["memory_cap_gb"]))
        status = "out of memory" if spec["impl"] == "pyg" and spec["n"] >= 8000 else "ok"
        record = {"kind": "layer", **{k: spec[k] for k in ("impl", "n", "k")}, "status": status}
        return (
            record | {"device_name": "GPU"} | ({"seconds": 1.0, "memory_mb": 1.0} if status == "ok" else {})
        )

    monkeypatch.setattr(scaling_module, "_spawn", fake_spawn)
    rows = scaling_module.run_scaling_benchmark(
        [500],
        ["sparse", "pyg"],
        clusters=["64"],
        impl_sizes={"sparse": [1000, 1_000_000], "pyg": [1000, 2000]},
        grow=["pyg"],
        grow_limit=100_000,
        device="cuda",
    )
    assert runs == [
        ("sparse", 1000, "cuda", None),
        ("sparse", 1_000_000, "cuda", None),
        ("pyg", 1000, "cuda", None),
        ("pyg", 2000, "cuda", None),
        ("pyg", 4000, "cuda", None),
        ("pyg", 8000, "cuda", None),  # out of memory: no larger n is tried or listed
    ]
    assert all(r["device"] == "cuda" and r["device_name"] == "GPU" for r in rows)
    slopes = {r["impl"]: r for r in summarize(rows)}
    assert slopes["pyg"]["largest_n_ok"] == 4000
    assert slopes["pyg"]["first_failure"] == {"n": 8000, "status": "out of memory"}
    assert slopes["sparse"]["largest_n_ok"] == 1_000_000
    assert list(scaling_module._sizes([3, 1], True, 2.0, 10)) == [1, 3, 6]
    with pytest.raises(ValueError, match="grow_factor"):
        scaling_module.run_scaling_benchmark([1], ["pyg"], grow=["pyg"], grow_factor=1.0)


def test_cli_takes_the_device_budget_and_sizes_per_implementation():
    import argparse

    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    args = parser.parse_args(
        ["epoch", "--device", "cpu", "--budget-s", "200", "--max-graphs", "60", "--no-counts"]
    )
    assert (args.device, args.budget_s, args.max_graphs, args.counts) == ("cpu", 200.0, 60, False)
    assert parser.parse_args(["epoch"]).device == "auto" and parser.parse_args(["epoch"]).counts
    args = parser.parse_args(
        ["scaling", "--impl-sizes", "sparse=1000:1000000;pyg=1000", "--grow", "pyg", "--device", "cuda"]
    )
    assert args.impl_sizes == {"sparse": [1000, 1_000_000], "pyg": [1000]} and args.grow == ["pyg"]
    for bad in ("sparse", "sparse=", "sparse=1:x", "=10", "pyg=0"):
        with pytest.raises(SystemExit):
            parser.parse_args(["scaling", "--impl-sizes", bad])
    with pytest.raises(SystemExit):
        parser.parse_args(["epoch", "--device", "tpu"])


# --------------------------------------------------------------------------- the pooling family
FAMILY = {"mincut": "pyg-mincut", "dmon": "pyg-dmon"}


@pytest.mark.parametrize("method", sorted(FAMILY))
def test_pyg_pooling_given_our_logits_is_our_dense_pooling(method):
    """PyG's layer of the method, fed the assignment logits (DMoNPooling through GivenLogits), pools
    one graph exactly as our dense function of the method does: the same S, X', A' and losses."""
    from benchmarks.dense_model import dmon_pooling, pyg_pool
    from diffpool.functional import dense_dmon_pool, dense_mincut_pool

    gen = torch.Generator().manual_seed(0)
    n, k = 9, 3
    adj = (torch.rand(1, n, n, generator=gen) < 0.4).float()
    adj = torch.triu(adj, 1) + torch.triu(adj, 1).transpose(1, 2)
    z, logits = torch.randn(1, n, 5, generator=gen), torch.randn(1, n, k, generator=gen)
    pool = dmon_pooling(k) if method == "dmon" else None
    x, pooled_adj, losses = pyg_pool(method, pool, z, adj, logits)
    ours = (dense_dmon_pool if method == "dmon" else dense_mincut_pool)(z, adj, logits)
    torch.testing.assert_close(x, ours.x)
    torch.testing.assert_close(pooled_adj, ours.adj)
    names = (
        ["spectral_loss", "ortho_loss", "cluster_loss"] if method == "dmon" else ["cut_loss", "ortho_loss"]
    )
    for loss, name in zip(losses, names, strict=True):
        torch.testing.assert_close(loss, getattr(ours, name).mean())
    if pool is not None:
        assert pool.mlp.logits is None  # handed over once
        with pytest.raises(RuntimeError, match="set .logits"):
            pool(z, adj)


@pytest.mark.parametrize("impl", ["mincut", "dmon", "pyg-mincut", "pyg-dmon"])
def test_family_implementations_train_on_their_methods_losses(impl, monkeypatch):
    """Ours builds the hierarchy with the method's pooling; PyG's adds its method's losses to the NLL."""
    from benchmarks.implementations import get_implementation

    work = tiny_workload()
    impl_ = get_implementation(impl, batch_size=4)
    model = impl_.build(work).eval()  # batch norm's running statistics: both passes alike
    method = impl.removeprefix("pyg-")
    assert impl_.config_summary(work)["pool"] == method
    batch = next(iter(impl_.train_batches(work, 0)))
    if impl.startswith("pyg-"):
        x, adj, mask, y = batch
        log_probs, pooling = model(x, adj, mask)
        expected = torch.nn.functional.nll_loss(log_probs, y) + pooling
        assert pooling.requires_grad and float(pooling.detach()) != 0.0
    else:
        from diffpool.models import classification_loss

        out = model(batch)
        assert (
            set(out.aux_losses)
            == {"mincut": {"cut", "ortho"}, "dmon": {"spectral", "ortho", "cluster"}}[method]
        )
        expected = classification_loss(out, batch.y.view(-1))["loss"]
    torch.testing.assert_close(impl_.loss(model, batch), expected, check_dtype=False)


def test_family_ratios_compare_each_method_with_pygs_own():
    def case(impl, graphs_per_s, status="ok"):
        timing = {"graphs_per_s": graphs_per_s, "epoch_s": 10 / graphs_per_s} if graphs_per_s else {}
        return {
            "kind": "epoch",
            "dataset": "D",
            "impl": impl,
            "status": status,
            "peak_rss_mb": (graphs_per_s or 1) * 10,
            "env": {"threads": 1},
            **timing,
        }

    records = [
        case("mincut", 50.0),
        case("pyg-mincut", 5.0),
        case("dmon", 40.0),
        case("pyg-dmon", 0, "timeout"),
    ]
    (row,) = ratios(records)
    assert row["mincut"] == {"reference": "pyg-mincut", "speed_vs_pyg": 10.0, "memory_vs_pyg": 10.0}
    assert row["dmon"] == {"reference": "pyg-dmon"}  # PyG's DMoN did not finish: no ratio
    assert row["pyg-mincut_status"] == "ok" and row["pyg-dmon_status"] == "timeout"
    assert row["pyg_status"] is None and "pyg-mincut" not in row


@pytest.mark.parametrize("method", ["diffpool", "mincut", "dmon"])
@pytest.mark.parametrize("impl", ["sparse", "dense", "pyg"])
def test_one_layer_of_each_method(impl, method):
    record = run_layer(impl, 60, 8, repeats=1, threads=1, method=method)
    assert record["status"] == "ok" and record["method"] == method and record["seconds"] > 0


def test_scaling_runs_each_method_and_fits_a_slope_per_method(monkeypatch):
    import benchmarks.scaling as scaling

    calls = []

    def fake_spawn(spec, timeout):
        calls.append((spec["method"], spec["impl"], spec["n"]))
        if spec["impl"] == "pyg" and spec["n"] > 500:
            return {
                "kind": "layer",
                "impl": "pyg",
                "method": spec["method"],
                "n": spec["n"],
                "k": spec["k"],
                "status": "out of memory",
            }
        seconds = spec["n"] / 1000 * (2 if spec["method"] == "dmon" else 1)
        return {
            **spec,
            "kind": "layer",
            "status": "ok",
            "seconds": seconds,
            "memory_mb": 1.0,
            "device_name": "cpu",
        }

    monkeypatch.setattr(scaling, "_spawn", fake_spawn)
    records = scaling.run_scaling_benchmark(
        [250, 500, 1000, 2000], ["sparse", "pyg"], clusters=["64"], methods=["mincut", "dmon"]
    )
    assert [c for c in calls if c[:2] == ("dmon", "pyg")] == [
        ("dmon", "pyg", 250),
        ("dmon", "pyg", 500),
        ("dmon", "pyg", 1000),
    ]
    rows = {(s["method"], s["impl"]): s for s in summarize(records)}
    assert rows[("mincut", "sparse")]["time_slope"] == pytest.approx(1.0)
    assert rows[("dmon", "pyg")]["largest_n_ok"] == 500
    assert rows[("dmon", "pyg")]["first_failure"] == {"n": 1000, "status": "out of memory"}
    with pytest.raises(ValueError, match="unknown pooling method"):
        scaling.run_scaling_benchmark([250], ["sparse"], methods=["topk"])


def test_cli_takes_the_scaling_methods():
    import argparse

    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    assert parser.parse_args(["scaling"]).methods == ["diffpool"]
    assert parser.parse_args(["scaling", "--methods", "mincut,dmon"]).methods == ["mincut", "dmon"]
    assert parser.parse_args(["scaling", "--method", "dmon"]).methods == ["dmon"]


def family_records() -> tuple[list[dict], list[dict]]:
    """A few epoch and layer records as the family's benchmarks write them."""

    def epoch(dataset, impl, status="ok", **extra):
        return {
            "kind": "epoch",
            "dataset": dataset,
            "impl": impl,
            "status": status,
            "env": {"threads": 1, "loadavg": [3.0, 3.0, 3.0], "loadavg_end": [4.0, 4.0, 4.0]},
            **extra,
        }

    def ok(dataset, impl, graphs_per_s, rss, cpu, batches=56):
        return epoch(
            dataset,
            impl,
            graphs_per_s=graphs_per_s,
            epoch_s=1000 / graphs_per_s,
            epoch_cpu_s=cpu,
            epoch_times_s=[1.0, 1.0, 1.0],
            peak_rss_mb=rss,
            batches_per_epoch=batches,
        )

    epochs = [
        ok("PROTEINS", "mincut", 120.0, 600.0, 9.0),
        ok("PROTEINS", "pyg-mincut", 20.0, 900.0, 50.0),
        ok("PROTEINS", "dmon", 80.0, 610.0, 12.5),
        ok("PROTEINS", "pyg-dmon", 20.0, 910.0, 50.0),
    ]
    epochs += [{"kind": "ratios", **r} for r in ratios(epochs)]
    reddit = [
        ok("REDDIT-BINARY", "mincut", 5.0, 2500.0, 390.0, batches=100),
        epoch("REDDIT-BINARY", "pyg-mincut", "out of memory", memory_cap_gb=8.0, peak_rss_mb=8100.0),
        ok("REDDIT-BINARY", "dmon", 4.0, 4500.0, 480.0, batches=100),
        epoch(
            "REDDIT-BINARY",
            "pyg-dmon",
            "timeout",
            timeout_s=600.0,
            seconds_per_batch=200.0,
            batches_done=2,
            pace_from="warm-up",
        ),
    ]
    epochs += reddit + [{"kind": "ratios", **r} for r in ratios(reddit)]

    def layer(method, impl, n, seconds, status="ok"):
        return {
            "kind": "layer",
            "method": method,
            "impl": impl,
            "n": n,
            "k": 64,
            "clusters": "64",
            "status": status,
            "seconds": seconds,
            "memory_mb": 1.0,
            "env": {"threads": 1, "loadavg": [2.0, 2.0, 2.0]},
        }

    layers = [layer(m, "sparse", n, n / 1000) for m in ("mincut", "dmon") for n in (250, 1000, 4000)]
    layers += [layer("mincut", "pyg", n, (n / 1000) ** 2) for n in (250, 1000)]
    layers += [layer("mincut", "pyg", 4000, None, "out of memory")]
    return epochs, layers


def test_pool_family_tables_fill_a_scratch_document_and_twice_change_nothing(tmp_path):
    from benchmarks.markdown_blocks import block
    from benchmarks.report import pool_family_blocks, write_pool_family

    epochs, layers = family_records()
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in layers))
    doc = tmp_path / "scratch.md"
    prose = "# Scratch\n\nHand-written.\n\n"
    doc.write_text(
        prose
        + block("pool-family-epoch", "stale")
        + "\n\nBetween.\n\n"
        + block("pool-family-scaling", "")
        + "\n"
    )
    write_pool_family(tmp_path / "e.jsonl", tmp_path / "s.jsonl", doc)
    once = doc.read_text()
    write_pool_family(tmp_path / "e.jsonl", tmp_path / "s.jsonl", doc)
    assert doc.read_text() == once and "stale" not in once
    assert outside_generated_blocks(once) == outside_generated_blocks(doc.read_text()) and once.startswith(
        prose
    )
    rows = {
        tuple(c.strip() for c in line.split("|")[1:3]): line
        for line in once.splitlines()
        if line.startswith("| ")
    }
    mincut = rows[("PROTEINS", "MinCutPool")]
    assert "| 120 | 20.0 | 6.0× / 5.6× | 0.59 GB | 0.88 GB | 3 | 3.0→4.0 / 3.0→4.0 |" in mincut
    assert mincut.endswith("| **met** |")
    assert "| 4.0× / 4.0× |" in rows[("PROTEINS", "DMoN")] and rows[("PROTEINS", "DMoN")].endswith(
        "| not met |"
    )
    # REDDIT-BINARY: PyG out of memory and ours under 4 GB; PyG's DMoN timed out at a pace 10× ours,
    # but ours took 4.4 GB
    assert "out of memory (cap 8.0 GB)" in rows[("REDDIT-BINARY", "MinCutPool")]
    assert rows[("REDDIT-BINARY", "MinCutPool")].endswith("| **met** |")
    dmon = rows[("REDDIT-BINARY", "DMoN")]
    assert "≈ 80.0× (PyG 200 s/batch over 2 batch(es) (warm-up) × 100)" in dmon
    assert dmon.endswith("| not met |")

    # both stopped by their timeouts in their first epoch: they compare by their paces, and the
    # target is not measured (ours did not finish its epoch)
    def stopped(r, timeout_s, pace, done):
        kept = {k: v for k, v in r.items() if k not in ("epoch_s", "epoch_times_s", "batches_per_epoch")}
        stop = {"status": "timeout", "timeout_s": timeout_s, "seconds_per_batch": pace, "batches_done": done}
        return {**kept, **stop}

    paced = [
        stopped(r, 3000.0, 20.0, 40)
        if r.get("impl") == "mincut" and r.get("dataset") == "REDDIT-BINARY"
        else stopped(r, 600.0, 400.0, 1)
        if r.get("impl") == "pyg-mincut" and r.get("dataset") == "REDDIT-BINARY"
        else r
        for r in epochs
    ]
    table = pool_family_blocks(paced, [])["pool-family-epoch"]
    row = next(line for line in table.splitlines() if line.startswith("| REDDIT-BINARY | MinCutPool |"))
    assert "| ≈ 20.0× (per batch: ours 20 s over 40, PyG 400 s over 1) |" in row
    assert row.endswith("| not measured |")
    # scaling: times per n, our slope and its verdict, PyG's last n that fit
    assert rows[("MinCutPool", "ours, sparse")].endswith("| 0.25 | 1 | 4 |")
    assert rows[("MinCutPool", "PyG, dense")].endswith("| 0.0625 | 1 | out of memory |")
    slope = next(line for line in once.splitlines() if line.startswith("| MinCutPool | 1.00 |"))
    assert slope == (
        "| MinCutPool | 1.00 | **met** (wall) | – | 4,000 | 2.00 | – | 1,000 | out of memory at n = 4,000 |"
    )
    # with CPU times, the verdict is the CPU-time slope's
    cpu = [{**r, "cpu_seconds": r["n"] ** 1.5} if r["impl"] == "sparse" else r for r in layers]
    table = pool_family_blocks([], cpu)["pool-family-scaling"]
    assert "| MinCutPool | 1.00 / 1.50 | not met (CPU) | – | 4,000 |" in table
    assert "| 0.25 / 3.95e+03 |" in table
    assert pool_family_blocks([], []) == {
        "pool-family-epoch": "No pooling-family epoch results yet.",
        "pool-family-scaling": "No pooling-family scaling results yet.",
    }


def test_the_performance_report_fills_the_family_blocks_only_where_it_has_their_markers(tmp_path):
    from benchmarks.report import write_report

    epochs, layers = family_records()
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in layers))
    perf = REPO_ROOT / "docs" / "perf"
    document = tmp_path / "PERFORMANCE.md"
    committed = (REPO_ROOT / "docs" / "PERFORMANCE.md").read_text()
    # the committed document has the family's markers; a copy without them stands for one that does not
    family = re.compile(
        r"<!-- BEGIN GENERATED: (pool-family-[a-z]+) -->.*?<!-- END GENERATED: \1 -->\n", re.S
    )
    assert len(family.findall(committed)) == 2
    document.write_text(committed)
    args = (
        perf / "epoch.jsonl",
        perf / "scaling.jsonl",
        document,
        tmp_path / "scaling.png",
        perf / "headroom.jsonl",
        tmp_path / "e.jsonl",
        tmp_path / "s.jsonl",
    )
    write_report(*args)
    once = document.read_text()
    write_report(*args)
    assert document.read_text() == once
    assert "| PROTEINS | MinCutPool | 120 |" in once and "| MinCutPool | 1.00 | **met** (wall) |" in once
    # without the markers (docs/PERFORMANCE.md as it is) the family's blocks are not written
    plain = tmp_path / "plain.md"
    plain.write_text(family.sub("", committed))
    write_report(*args[:2], plain, *args[3:])
    assert "| PROTEINS | MinCutPool |" not in plain.read_text()
