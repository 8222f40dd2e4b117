"""benchmarks.results_table: how rows describe their setting and which baseline they are compared with,
the headline table (in docs/RESULTS.md and in README.md between its markers), and the main job's spread
over seeds."""

from __future__ import annotations

import json
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


def test_the_synthetic_seeds_table_lists_each_setting_by_seed_with_its_mean(table, tmp_path):
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
    assert "**Findings.**" in once and "| set | variant | setting |" in once
    assert "| data set | DiffPool | MinCutPool | DMoN |" in once
    # package and torch versions only: no commit hashes in the product text
    assert not re.search(r"\(\b[0-9a-f]{7}(-dirty)?\)|folds ran on", once)


def test_a_new_results_document_gets_every_block_under_its_heading(table, tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert table.main(["results_table", str(tmp_path / "results"), str(tmp_path / "RESULTS.md")]) == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.startswith("# Results\n") and "No synthetic results yet." in text and "No runs yet." in text
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        "# Results",
        *(heading for heading in table.RESULTS_BLOCKS.values() if heading),
    ]


def test_the_main_job_sentence_states_its_range_over_seeds(table, tmp_path):
    for seed, acc, nmi in ((0, 0.88, 0.975), (1, 0.70, 0.96), (2, 0.95, 1.0)):
        (tmp_path / f"main-s{seed}.json").write_text(json.dumps({"test_acc": acc, "community_nmi": nmi}))
    (tmp_path / "other-s0.json").write_text(json.dumps({"test_acc": 0.99, "community_nmi": 1.0}))
    (tmp_path / "command.txt").write_text(
        "`other` (fixed K, described with `code`): `diffpool train --out RUN_DIR --seed S --no-picture --x`\n"
        "`main` (every default, `diffpool train`): `diffpool train --out RUN_DIR --seed S --no-picture`\n"
    )
    lines = table.synthetic_seeds(tmp_path)
    assert lines[0] == (
        "The main job (`diffpool train` with no options, setting `main`) reaches 70.0–95.0 % test accuracy "
        "over seeds 0–2, 84.3 % on average (community recovery NMI 0.96–1.00); the figure of one run "
        "depends on the seed and on the CPU."
    )
    assert lines[1] == "" and lines[2].startswith("| setting | seed 0")
    (tmp_path / "command.txt").write_text(
        "`main`: `diffpool train --out RUN_DIR --seed S --no-picture --y`\n"
    )
    assert table.synthetic_seeds(tmp_path)[0].startswith("| setting |")  # no main job among the settings


def summary(data_set, variant="diffpool", mean=0.7, std=0.04, completed=10, protocol="fair", **config):
    """A results.json as `diffpool cv` writes it, with only the fields the generator reads."""
    return {
        "dataset": data_set,
        "variant": variant,
        "protocol": protocol,
        "folds": 10,
        "completed_folds": completed,
        "mean": mean,
        "std": std,
        "epochs_run": [60, 150],
        "wall_time_s": 600.0,
        "config": {"variant": variant, "levels": 1, "ratio": 0.1, "per_graph_clusters": False, **config},
        "versions": {"diffpool": "0.1.0", "commit": "abc1234", "torch": "2.13.0+cpu"},
        "fold_commits": ["abc1234", "def5678"],
    }


def write_runs(root: Path, runs: dict[str, dict]) -> Path:
    results = root / "results"
    for name, content in runs.items():
        (results / name).mkdir(parents=True)
        (results / name / "results.json").write_text(json.dumps(content))
        (results / name / "command.txt").write_text(
            f"diffpool cv --out RUN_DIR --data-dir ../shared/datasets/tu --dataset {content['dataset']}\n"
        )
    return results


@pytest.fixture
def runs(tmp_path):
    return write_runs(
        tmp_path,
        {
            # ENZYMES: the per-fold selection is the headline's DiffPool, not the preset
            "ENZYMES-diffpool-selected-fair": summary("ENZYMES", mean=0.63666, std=0.04397),
            "ENZYMES-diffpool-fair": summary("ENZYMES", mean=0.6317),
            "ENZYMES-baseline-fair": summary("ENZYMES", "baseline", mean=0.35667, std=0.0597),
            "ENZYMES-mincut-fair": summary("ENZYMES", mean=0.655, std=0.051, pool="mincut"),
            # PROTEINS: the preset (no selection), a partial DMoN run, no baseline
            "PROTEINS-diffpool-fair": summary("PROTEINS", mean=0.757, std=0.039),
            "PROTEINS-dmon-fair": summary("PROTEINS", mean=0.741, std=0.05, completed=4, pool="dmon"),
            "PROTEINS-diffpool-paper": summary("PROTEINS", mean=0.80, protocol="paper"),
            # REDDIT-BINARY: neither name, so its only fair DiffPool run of one model per fold
            "REDDIT-BINARY-pergraph-1level-fair": summary("REDDIT-BINARY", mean=0.9, std=0.019),
            # a set with only a baseline has no headline row
            "DD-baseline-fair": summary("DD", "baseline"),
        },
    )


def test_the_headline_shows_each_set_by_its_fixed_rule_with_one_decimal(table, runs):
    text = table.headline(table.rows(runs))
    lines = text.splitlines()
    assert len(lines) <= 10
    assert lines[2:] == [
        "| ENZYMES | 63.7 ± 4.4 | 65.5 ± 5.1 | – | 35.7 ± 6.0 | – | 62.53 | ≈59.5 |",
        "| PROTEINS | 75.7 ± 3.9 | – | 74.1 ± 5.0 (4/10 folds) | – | – | 76.25 | 73.7 ± 3.5 |",
        "| REDDIT-BINARY | 90.0 ± 1.9 | – | – | – | – | – | 89.1 ± 1.6 |",
    ]
    assert table.headline([]) == "No runs yet."


def test_a_run_with_another_pooling_reads_as_that_pooling(table, runs):
    found = {r["name"]: r for r in table.rows(runs)}
    assert found["ENZYMES-mincut-fair"]["label"] == "mincut"
    assert found["PROTEINS-dmon-fair"]["label"] == "dmon"
    assert found["ENZYMES-diffpool-fair"]["label"] == "diffpool"  # saved before the option: DiffPool
    assert found["ENZYMES-baseline-fair"]["label"] == "baseline"
    table_block = table.result_blocks(list(found.values()), runs)["results-table"]
    assert "| ENZYMES | mincut | 1 × 10%, fixed k | fair | 10/10 | 65.5 ± 5.1 | +29.8 |" in table_block
    # the version column: package and torch only, never the commits
    assert "diffpool 0.1.0, torch 2.13.0+cpu |" in table_block and "abc1234" not in table_block
    # commands show no machine layout
    commands = table.result_blocks(list(found.values()), runs)["commands"]
    assert "--data-dir DIR --dataset ENZYMES" in commands and "shared" not in commands


def test_commands_show_the_data_and_runs_folders_by_name(table):
    assert (
        table.shown_command(
            "diffpool cv select runs/accuracy/A-fair runs/accuracy/B-fair --out runs/accuracy/C"
        )
        == "diffpool cv select RUNS/A-fair RUNS/B-fair --out RUNS/C"
    )
    assert (
        table.shown_command("diffpool cv --data-dir /x/tu --folds 10")
        == "diffpool cv --data-dir DIR --folds 10"
    )


README = """# project

Intro.

<!-- BEGIN GENERATED: results-headline -->
old table
<!-- END GENERATED: results-headline -->

Prose after.

<!-- BEGIN GENERATED: epoch-tables -->
another generator's block
<!-- END GENERATED: epoch-tables -->
"""


def test_the_headline_is_written_into_other_documents_only_between_its_markers(table, runs, tmp_path):
    out = tmp_path / "RESULTS.md"
    readme = tmp_path / "README.md"
    readme.write_text(README)
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers here\n")
    argv = ["results_table", str(runs), str(out), str(readme), str(plain), str(tmp_path / "absent.md")]
    assert table.main(argv) == 0
    once, readme_once = out.read_text(), readme.read_text()
    headline = table.headline(table.rows(runs))
    assert f"<!-- BEGIN GENERATED: results-headline -->\n\n{headline}\n\n<!-- END GENERATED" in once
    assert readme_once == README.replace("old table", "\n" + headline + "\n")
    assert "another generator's block" in readme_once
    assert plain.read_text() == "# no markers here\n" and not (tmp_path / "absent.md").exists()
    # twice changes nothing, in either document
    assert table.main(argv) == 0
    assert out.read_text() == once and readme.read_text() == readme_once
    # a document with one marker of the pair is an error, not a silent skip
    readme.write_text("<!-- BEGIN GENERATED: results-headline -->\nno end\n")
    with pytest.raises(table.MarkerError):
        table.main(argv)


def test_the_generator_leaves_the_committed_readme_alone_when_given_paths(table, tmp_path, capsys):
    readme = REPO_ROOT / "README.md"
    before = readme.read_text()
    argv = ["results_table", str(REPO_ROOT / "docs" / "results"), str(tmp_path / "RESULTS.md")]
    assert table.main(argv) == 0
    assert readme.read_text() == before


def test_the_committed_documents_carry_the_current_headline(table):
    headline = table.headline(table.rows(REPO_ROOT / "docs" / "results"))
    results = (REPO_ROOT / "docs" / "RESULTS.md").read_text()
    assert table.replace_block(results, "results-headline", headline) == results
    readme = (REPO_ROOT / "README.md").read_text()  # where it has the block's markers
    assert table.replace_block(readme, "results-headline", headline) == readme
