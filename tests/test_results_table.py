"""benchmarks.results_table: how rows describe their setting and which baseline they are compared with."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table():
    from benchmarks import results_table

    return results_table


def config(variant="diffpool", **changes):
    return {"variant": variant, "levels": 1, "ratio": 0.1, "per_graph_clusters": False, **changes}


def row(table, mean, summary_config=None, selection=None, variant="diffpool", dataset="ENZYMES"):
    summary = {"config": summary_config or config(variant)}
    if selection:
        summary["selection"] = {"candidates": [{"config": c, "folds_chosen": n} for c, n in selection]}
    return {
        "set": dataset,
        "protocol": "fair",
        "variant": variant,
        "mean": mean,
        "complete": True,
        "setting": table.setting_of(summary),
        "input_norms": table.input_norms(summary),
        "repeats": summary["config"].get("repeats", 1),
    }


def test_setting_names_input_norm_and_runs_saved_before_it_read_as_without(table):
    assert table.setting(config(input_norm=True)) == "1 × 10%, fixed k, input norm"
    assert table.setting(config()) == "1 × 10%, fixed k"  # no input_norm key: saved before the option
    assert table.setting(config("baseline", input_norm=True)) == "input norm"
    assert table.setting(config("baseline")) == "–"
    assert table.setting(config(repeats=3)) == "1 × 10%, fixed k, mean of 3 models per fold"
    assert (
        table.setting(config(readout="sum", repeats=3))
        == "1 × 10%, fixed k, sum readout, mean of 3 models per fold"
    )
    assert table.setting(config(readout="max")) == "1 × 10%, fixed k"
    assert (
        table.setting(config("baseline", repeats=3, input_norm=True))
        == "input norm, mean of 3 models per fold"
    )


def test_setting_names_training_options_off_their_default(table):
    assert (
        table.setting(config(dropout=0.5, weight_decay=5e-4, repeats=3))
        == "1 × 10%, fixed k, dropout 0.5, weight decay 0.0005, mean of 3 models per fold"
    )
    assert (
        table.setting(config(lr=1e-4, lr_schedule="cosine"))
        == "1 × 10%, fixed k, lr 0.0001, cosine lr schedule"
    )
    assert (
        table.setting(config(link_weight=0.5, link_normalization="none"))
        == "1 × 10%, fixed k, link weight 0.5, link norm none"
    )
    assert (
        table.setting(config(batch_size=8, grad_clip=0.0, entropy_weight=0.1))
        == "1 × 10%, fixed k, batch 8, gradient clip 0, entropy weight 0.1"
    )
    assert (
        table.setting(config(dropout=0.0, lr=1e-3, lr_schedule="constant", batch_size=20))
        == "1 × 10%, fixed k"
    )


def test_each_row_is_compared_with_the_baseline_given_the_same_inputs(table):
    plain_base = row(table, 35.7, config("baseline"), variant="baseline")
    normed_base = row(table, 56.8, config("baseline", input_norm=True), variant="baseline")
    found = [plain_base, normed_base]
    assert table.versus_baseline(row(table, 63.2), found) == "+27.5"
    assert table.versus_baseline(row(table, 70.0, config(input_norm=True)), found) == "+13.2"
    # A choice between both inputs could have used either baseline: the better one counts.
    chosen = row(table, 69.8, selection=[(config(), 1), (config(input_norm=True), 9)])
    assert chosen["setting"].endswith("(1 folds) / 1 × 10%, fixed k, input norm (9 folds)")
    assert table.versus_baseline(chosen, found) == "+13.0"
    assert table.versus_baseline(row(table, 63.2), [normed_base]) == "–"  # no baseline with its inputs


def test_rows_are_compared_with_a_baseline_of_as_many_models_per_fold(table):
    single = row(table, 75.1, config("baseline"), variant="baseline")
    repeated = row(table, 74.0, config("baseline", repeats=3), variant="baseline")
    assert table.versus_baseline(row(table, 75.7), [single, repeated]) == "+0.6"
    assert table.versus_baseline(row(table, 75.0, config(repeats=3)), [single, repeated]) == "+1.0"
    assert table.versus_baseline(row(table, 75.0, config(repeats=3)), [single]) == "–"


def test_a_goal_met_by_one_model_per_fold_but_not_by_three_reads_unconfirmed(table):
    single = row(table, 76.0, config(levels=2, ratio=0.25), dataset="PROTEINS")
    three = row(table, 74.7, config(levels=2, ratio=0.25, repeats=3), dataset="PROTEINS")
    other = row(table, 74.0, config(levels=2, ratio=0.25, repeats=3, input_norm=True), dataset="PROTEINS")
    assert table.goal(single, [single, other]) == "≥ 75.8: met"  # no confirmation of its own setting
    assert (
        table.goal(single, [single, three, other])
        == "≥ 75.8: met by one model per fold, not confirmed with 3 (74.7)"
    )
    assert table.goal(three, [single, three]) == "≥ 75.8: not met"
    held = row(table, 75.9, config(levels=2, ratio=0.25, repeats=3), dataset="PROTEINS")
    assert table.goal(single, [single, held]) == "≥ 75.8: met"
    assert (
        table.goal(row(table, 63.2), [row(table, 62.0, config(repeats=3))])
        == "≥ 63.0: met by one model per fold, not confirmed with 3 (62.0)"
    )


def test_the_synthetic_seeds_table_lists_each_setting_by_seed_with_its_mean(table, tmp_path):
    import json

    for name, seed, acc, nmi in (
        ("fixed-k", 0, 0.96, 1.0),
        ("fixed-k", 1, 0.70, 0.961),
        ("per-graph-k", 1, 0.57, 0.9),
    ):
        (tmp_path / f"{name}-s{seed}.json").write_text(json.dumps({"test_acc": acc, "community_nmi": nmi}))
    (tmp_path / "unnamed-s0.json").write_text(json.dumps({"test_acc": 0.5}))  # no NMI recorded
    (tmp_path / "command.txt").write_text(
        "`per-graph-k`: `diffpool train --per-graph-clusters`\n`fixed-k`: `diffpool train`\n"
    )
    lines = table.synthetic_seeds(tmp_path)
    header = lines.index("| setting | seed 0: test % (NMI) | seed 1: test % (NMI) | mean test % |")
    # in the order command.txt names them, settings it does not name last; a mean over fewer seeds says so
    assert lines[header + 2 : header + 5] == [
        "| per-graph-k | – | 57.0 (0.90) | 57.0 (1 seeds) |",
        "| fixed-k | 96.0 (1.00) | 70.0 (0.96) | 83.0 |",
        "| unnamed | 50.0 (–) | – | 50.0 (1 seeds) |",
    ]
    assert lines[-1] == "- `fixed-k`: `diffpool train`"
    assert table.synthetic_seeds(tmp_path / "absent") == []


def outside_generated_blocks(text: str) -> str:
    return re.sub(r"<!-- BEGIN GENERATED: (\S+) -->\n.*?<!-- END GENERATED: \1 -->", "", text, flags=re.S)


def test_the_results_document_keeps_its_prose_and_twice_changes_nothing(table, tmp_path, capsys):
    committed = (REPO_ROOT / "docs" / "RESULTS.md").read_text()
    document = tmp_path / "RESULTS.md"
    shutil.copy(REPO_ROOT / "docs" / "RESULTS.md", document)
    argv = ["results_table", str(REPO_ROOT / "docs" / "results"), str(document)]
    assert table.main(argv) == 0
    once = document.read_text()
    assert table.main(argv) == 0 and document.read_text() == once
    assert outside_generated_blocks(once) == outside_generated_blocks(committed)
    assert "## Findings: what changed the figures" in once and "| set | variant | setting |" in once


def test_a_new_results_document_gets_every_block_under_its_heading(table, tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert table.main(["results_table", str(tmp_path / "results"), str(tmp_path / "RESULTS.md")]) == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.startswith("# Results\n") and "No synthetic results yet." in text and "No runs yet." in text
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        "# Results",
        *(heading for heading in table.RESULTS_BLOCKS.values() if heading),
    ]
