"""``diffpool info``: the statistics table, checked against the shared README for every set there."""

from __future__ import annotations

import json
import re
import urllib.error

import pytest

import diffpool.data.tu as tu_module
from data_fixtures import SHARED_SETS, data_cache, tu  # noqa: F401
from diffpool.cli import SUBCOMMANDS, build_parser, main


def readme_table(tu_root) -> dict:
    """The statistics table of ``datasets/README.md``: set name → row (column name → text)."""
    lines = [line for line in (tu_root.parent / "README.md").read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells))
    return rows


@pytest.fixture
def cli_env(monkeypatch, data_cache, tu):
    """The CLI reads its cache folder from $DIFFPOOL_DATA: point it at this session's cache."""
    monkeypatch.setenv("DIFFPOOL_DATA", str(data_cache))
    return tu


def test_readme_lists_exactly_the_shared_sets(tu_root):
    assert sorted(readme_table(tu_root)) == sorted(SHARED_SETS)


@pytest.mark.parametrize("name", SHARED_SETS)
def test_info_reproduces_the_readme_figures(name, tu_root, cli_env, capsys):
    cli_env(name)  # processed once per session; the CLI then reads the same cache
    assert main(["info", name, "--data-dir", str(tu_root), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    row = readme_table(tu_root)[name]
    assert stats["graphs"] == int(row["graphs"])
    assert stats["classes"] == int(row["classes"])
    assert f"{stats['avg_nodes']:.2f}" == row["avg nodes"]
    assert f"{stats['avg_edges']:.2f}" == row["avg edges"]
    assert stats["max_nodes"] == int(row["max nodes"])
    node_labels = [len(values) for values in stats["node_label_values"]]
    assert node_labels == ([] if row["node labels"] == "none" else [int(row["node labels"].split()[0])])
    assert stats["num_node_attributes"] == int(row["node attributes"])
    assert sum(stats["class_counts"].values()) == stats["graphs"]
    assert stats["num_features"] == stats["feature_spec"]["num_features"] > 0


def test_info_prints_a_readable_table(tu_root, cli_env, capsys):
    assert main(["info", "ENZYMES", "--data-dir", str(tu_root)]) == 0
    out = capsys.readouterr().out
    expected = {
        "graphs": "600",
        "classes": "6",
        "avg nodes": "32.63",
        "max nodes": "126",
        "avg edges": "62.14",
        "node labels": "3 values",
        "node attributes": "18",
        "feature dims": "21 = 18 attributes + 3 node-label one-hot",
    }
    for key, value in expected.items():
        assert re.search(rf"^  {key}\s+{re.escape(value)}", out, re.MULTILINE), (key, out)
    assert "1: 100 (16.7%)" in out and "6: 100 (16.7%)" in out


def test_info_options(tu_root, cli_env, capsys):
    with pytest.warns(UserWarning, match="removed"):
        assert (
            main(
                [
                    "info",
                    "PROTEINS",
                    "--data-dir",
                    str(tu_root),
                    "--max-nodes",
                    "100",
                    "--features",
                    "degree",
                    "--json",
                ]
            )
            == 0
        )
    stats = json.loads(capsys.readouterr().out)
    assert stats["max_nodes"] <= 100 and stats["filtered"]["removed"] > 0
    assert stats["feature_spec"]["parts"] == ["degree"]


def test_info_on_the_synthetic_set(capsys):
    assert main(["info", "synthetic"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  graphs\s+1000$", out, re.MULTILINE)
    assert "path: 250 (25.0%)" in out and "tadpole: 250 (25.0%)" in out


def test_bad_input_exits_2_with_a_message(tu_root, cli_env, capsys):
    assert main(["info", "DD", "--data-dir", str(tu_root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("diffpool info: error: ") and "DD/DD_A.txt" in err


def test_offline_message_names_the_flag(tmp_path, monkeypatch, capsys):
    def offline(url, destination):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tu_module, "_fetch", offline)
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path))
    assert main(["info", "ENZYMES"]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "ENZYMES.zip" in err and "no network" in err


def test_subcommands_are_pluggable(capsys):
    """A new subcommand is one registration function appended to SUBCOMMANDS."""

    def add_hello_parser(subparsers):
        parser = subparsers.add_parser("hello")
        parser.add_argument("--times", type=int, default=1)
        parser.set_defaults(run=lambda args: print("hi " * args.times) or 0)

    SUBCOMMANDS.append(add_hello_parser)
    try:
        assert main(["hello", "--times", "2"]) == 0
        assert capsys.readouterr().out.strip() == "hi hi"
    finally:
        SUBCOMMANDS.remove(add_hello_parser)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["hello"])


def test_usage_errors(capsys):
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    with pytest.raises(SystemExit):
        main(["info", "MUTAG", "--features", "colour"])
    assert "invalid choice" in capsys.readouterr().err
