"""The tables of docs/RESULTS.md, from the results.json files under docs/results/ (made by
scripts/accuracy_runs.sh).

The document's prose (protocols, findings, notes) is Markdown written by hand; this rewrites only its
generated blocks (:mod:`.markdown_blocks`, the names in :data:`RESULTS_BLOCKS`). The headline table
(block ``results-headline``) is also written into every further document given (by default README.md)
that has that block's markers; a document without them is left alone.

Usage: python -m benchmarks.results_table [RESULTS_DIR [OUT_MD [OTHER_MD...]]]
(no arguments: docs/results, docs/RESULTS.md and README.md)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .markdown_blocks import MarkerError, begin_marker, block, end_marker, update_document

# Published DiffPool figures (10-fold CV): the paper's own protocol (Ying et al. 2018), and Errica et
# al. 2020's fair protocol, with their structure-agnostic baseline (sum of node features → MLP).
PAPER = {"ENZYMES": "62.53", "PROTEINS": "76.25", "DD": "80.64", "COLLAB": "75.48"}
ERRICA_DIFFPOOL = {
    "ENZYMES": "≈59.5",
    "PROTEINS": "73.7 ± 3.5",
    "NCI1": "76.9 ± 1.9",
    "IMDB-BINARY": "68.4 ± 3.3",
    "IMDB-MULTI": "45.6 ± 3.4",
    "DD": "75.0 ± 3.5",
    "COLLAB": "68.9 ± 2.0",
    "REDDIT-BINARY": "89.1 ± 1.6",
}
ERRICA_BASELINE = {
    "PROTEINS": "75.8 ± 3.7",
    "IMDB-BINARY": "70.8 ± 5.0",
    "IMDB-MULTI": "49.1 ± 3.5",
    "NCI1": "69.8",
    "DD": "78.4",
}

#: Published graph-classification figures for the other poolings of the family, as data: per source
#: the figures it publishes for the data sets of this document (data set → accuracy as published;
#: empty where none is quoted), the protocol behind them, and a note on where both come from.
#: Rendered by :func:`pool_family_published`.
POOL_FAMILY_PUBLISHED: tuple[dict, ...] = (
    {
        "method": "MinCutPool",
        "source": "Bianchi, Grattarola, Alippi, *Spectral Clustering with Graph Neural Networks for Graph "
        "Pooling*, ICML 2020 (arXiv 1907.00481)",
        "figures": {},
        "protocol": "TU benchmark sets; mean accuracy over 10 runs, each on a new random stratified split "
        "(10% test, 10% of the rest validation), early stopping on validation (patience 50); "
        "no cross-validation folds",
        "note": "figures not quoted: the paper's table could not be retrieved to check them; the protocol "
        "is that of `Graph_Classification.py` and the README of the authors' repository "
        "(FilippoMB/Spectral-Clustering-with-Graph-Neural-Networks-for-Graph-Pooling)",
    },
    {
        "method": "DMoN",
        "source": "Tsitsulin, Palowitch, Perozzi, Müller, *Graph Clustering with Graph Neural Networks*, "
        "JMLR 24(127), 2023 (arXiv 2006.16904)",
        "figures": {},
        "protocol": "unsupervised node clustering; no graph classification",
        "note": "no graph-classification figure found: the abstract and the authors' code "
        "(google-research/google-research, `graph_embedding/dmon`) cover node clustering only",
    },
    {
        "method": "MinCutPool and DiffPool compared in one architecture",
        "source": "Grattarola, Zambon, Bianchi, Alippi, *Understanding Pooling in Graph Neural Networks*, "
        "IEEE TNNLS 2022 (arXiv 2110.05292)",
        "figures": {},
        "protocol": "PROTEINS, ENZYMES, Mutagenicity, DD, COLORS-3, TRIANGLES (no NCI1, no DMoN); per run "
        "a random 80/10/10 split, not stratified, test accuracy at the epoch of lowest validation "
        "loss, mean ± std over runs",
        "note": "figures not quoted: the paper's table could not be retrieved to check them; data sets "
        "and protocol from the authors' code (danielegrattarola/SRC, `src/graph_classification/`)",
    },
)


# Training options a row's setting names when they differ from the general default (rows saved before
# an option existed ran with its default).
NAMED_IF_CHANGED = (
    ("dropout", 0.0, "dropout {:g}"),
    ("weight_decay", 0.0, "weight decay {:g}"),
    ("lr", 1e-3, "lr {:g}"),
    ("lr_schedule", "constant", "{} lr schedule"),
    ("batch_size", 20, "batch {}"),
    ("grad_clip", 2.0, "gradient clip {:g}"),
    ("link_weight", 1.0, "link weight {:g}"),
    ("link_normalization", "nodes", "link norm {}"),
    ("entropy_weight", 1.0, "entropy weight {:g}"),
    ("batch_norm", True, "no batch norm"),
)


def setting(config: dict) -> str:
    """How a row pools (levels × ratio, fixed or per-graph cluster counts; – without pooling),
    whether its raw node features are batch-normalised (``--input-norm``; off in rows saved before it),
    a readout other than the default max, loss and optimiser options off their default
    (``NAMED_IF_CHANGED``), and how many models each fold trained (``--repeats``)."""
    repeats = config.get("repeats", 1)  # rows saved before --repeats trained one model per fold
    readout = config.get("readout", "max")
    changed = [
        label.format(config[name])
        for name, default, label in NAMED_IF_CHANGED
        if config.get(name, default) != default
    ]
    parts = [
        p
        for p in (
            pooling(config),
            "input norm" if config.get("input_norm") else "–",
            f"{readout} readout" if readout != "max" else "–",
            *changed,
            f"mean of {repeats} models per fold" if repeats > 1 else "–",
        )
        if p != "–"
    ]
    return ", ".join(parts) or "–"


def pooling(config: dict) -> str:
    """How a row pools: levels × ratio and fixed or per-graph cluster counts (– without pooling)."""
    if config.get("variant") not in ("diffpool", "nolp", "det"):
        return "–"
    # Rows saved before --min-clusters existed had no floor; later ones save the floor resolved.
    floor = config.get("min_clusters", 1)
    counts = (
        "per-graph k"
        + (f" ≥ {floor}" if floor > 1 else "")
        + (f", {config['batching']} batches" if config.get("batching", "random") != "random" else "")
        if config.get("per_graph_clusters")
        else "fixed k"
    )
    return f"{config['levels']} × {100 * config['ratio']:.0f}%, {counts}"


def label(config: dict) -> str:
    """What the variant column shows: the pooling for a learned hierarchy that does not use DiffPool's
    (``pool``: ``mincut``, ``dmon``; rows saved before the option are DiffPool), else the variant."""
    pool = config.get("pool", "diffpool")
    return (
        pool if config.get("variant", "diffpool") == "diffpool" and pool != "diffpool" else config["variant"]
    )


def setting_of(summary: dict) -> str:
    """A row's setting; for a per-fold selection (``diffpool cv select``), each candidate's and how
    often it won."""
    selection = summary.get("selection")
    if not selection:
        return setting(summary["config"])
    return "chosen per fold on inner validation: " + " / ".join(
        f"{setting(c['config'])} ({c['folds_chosen']} folds)" for c in selection["candidates"]
    )


def version(summary: dict) -> str:
    """The package and torch versions a row ran with (its commits stay in results.json)."""
    return f"diffpool {summary['versions']['diffpool']}, torch {summary['versions']['torch']}"


def accuracy(mean: float, std: float) -> str:
    """Mean ± std in percent, one decimal."""
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def rows(results_dir: Path) -> list[dict]:
    found = []
    for path in sorted(results_dir.glob("*/results.json")):
        summary = json.loads(path.read_text())
        command = (
            (path.parent / "command.txt").read_text().strip()
            if (path.parent / "command.txt").exists()
            else ""
        )
        epochs = summary.get("epochs_run", [])
        found.append(
            {
                "set": summary["dataset"],
                "variant": summary["variant"],
                "label": label({"variant": summary["variant"], **summary["config"]}),
                "protocol": summary["protocol"],
                "setting": setting_of(summary),
                "input_norms": input_norms(summary),
                "repeats": summary["config"].get("repeats", 1),
                "folds": f"{summary['completed_folds']}/{summary['folds']}",
                "accuracy": accuracy(summary["mean"], summary["std"]),
                "mean": 100 * summary["mean"],
                "complete": summary["completed_folds"] == summary["folds"],
                "epochs": (f"{min(epochs)}–{max(epochs)}" if epochs else "")
                + (f" (max after epoch {summary['best_epoch'] + 1})" if "best_epoch" in summary else ""),
                "wall": f"{summary.get('wall_time_s', 0) / 60:.1f} min",
                "version": version(summary),
                "command": command,
                "name": path.parent.name,
            }
        )
    return found


def input_norms(summary: dict) -> set:
    """Whether the row's runs batch-normalised their input features (each candidate's, for a selection)."""
    configs = (
        [c["config"] for c in summary["selection"]["candidates"]]
        if summary.get("selection")
        else [summary["config"]]
    )
    return {bool(c.get("input_norm")) for c in configs}


def versus_baseline(row: dict, found: list[dict]) -> str:
    """Accuracy points above our structure-agnostic baseline on the same set and protocol, given the
    same inputs (with ``--input-norm`` rows among a row's runs, the better of the baselines they could
    use) and as many models per fold (``--repeats``)."""
    bases = [
        r
        for r in found
        if r["set"] == row["set"]
        and r["variant"] == "baseline"
        and r["protocol"] == row["protocol"]
        and r["input_norms"] <= row["input_norms"]
        and r["repeats"] == row["repeats"]
    ]
    base = max(bases, key=lambda r: r["mean"], default=None)
    if base is None or row["variant"] == "baseline":
        return "–"
    return f"{row['mean'] - base['mean']:+.1f}"


# The headline table: one row per data set, each column one run chosen by a fixed rule (stated in
# docs/RESULTS.md): the run's folder name under docs/results/, SET being the data set.
#: Data sets in the order the headline lists them; others with a DiffPool row follow by name.
HEADLINE_SETS = ("ENZYMES", "PROTEINS", "NCI1", "IMDB-BINARY", "IMDB-MULTI", "MUTAG", "REDDIT-BINARY")
#: DiffPool's run, the first that exists: the per-fold choice on inner validation between the
#: paper's settings, then the paper's preset. A set with neither takes its only complete fair DiffPool
#: run of one model per fold, if it has exactly one.
HEADLINE_DIFFPOOL = ("{set}-diffpool-selected-fair", "{set}-diffpool-fair")
#: The other columns' runs (– where the run does not exist).
HEADLINE_RUNS = {
    "MinCutPool": "{set}-mincut-fair",
    "DMoN": "{set}-dmon-fair",
    "baseline": "{set}-baseline-fair",
    "GraphSAGE": "{set}-graphsage-fair",
}


def headline_diffpool(data_set: str, by_name: dict[str, dict], found: list[dict]) -> dict | None:
    """The DiffPool row the headline shows for ``data_set`` (:data:`HEADLINE_DIFFPOOL`)."""
    for pattern in HEADLINE_DIFFPOOL:
        row = by_name.get(pattern.format(set=data_set))
        if row is not None:
            return row
    only = [
        r
        for r in found
        if r["set"] == data_set
        and r["label"] == "diffpool"
        and r["protocol"] == "fair"
        and r["repeats"] == 1
        and r["complete"]
    ]
    return only[0] if len(only) == 1 else None


def headline(found: list[dict]) -> str:
    """The headline table: per data set, our DiffPool, MinCutPool and DMoN, the structure-agnostic
    baseline and flat GraphSAGE under the fair protocol (mean ± std over the folds, one decimal; a
    partial row says how many folds), beside the paper's and Errica et al.'s DiffPool figures."""
    by_name = {r["name"]: r for r in found}
    diffpool = {s: headline_diffpool(s, by_name, found) for s in sorted({r["set"] for r in found})}
    sets = [s for s in HEADLINE_SETS if diffpool.get(s)] + sorted(
        s for s, row in diffpool.items() if row and s not in HEADLINE_SETS
    )
    if not sets:
        return "No runs yet."

    def cell(row: dict | None) -> str:
        if row is None:
            return "–"
        return row["accuracy"] + ("" if row["complete"] else f" ({row['folds']} folds)")

    lines = [
        "| data set | DiffPool | MinCutPool | DMoN | baseline | GraphSAGE | DiffPool, paper "
        "| DiffPool, Errica et al. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in sets:
        others = [cell(by_name.get(pattern.format(set=s))) for pattern in HEADLINE_RUNS.values()]
        lines.append(
            f"| {s} | {cell(diffpool[s])} | "
            + " | ".join(others)
            + f" | {PAPER.get(s, '–')} | {ERRICA_DIFFPOOL.get(s, '–')} |"
        )
    return "\n".join(lines)


def pool_family_published() -> str:
    """The published figures of :data:`POOL_FAMILY_PUBLISHED`, one row per source."""
    lines = [
        "| method | source | figures on these data sets | protocol | note |",
        "|---|---|---|---|---|",
    ]
    for entry in POOL_FAMILY_PUBLISHED:
        figures = "; ".join(f"{s} {a}" for s, a in entry["figures"].items()) or "not found"
        lines.append(
            f"| {entry['method']} | {entry['source']} | {figures} | {entry['protocol']} | {entry['note']} |"
        )
    return "\n".join(lines)


def shown_command(command: str) -> str:
    """A row's command as the document shows it: the TU folder as DIR and the folder of the runs as
    RUNS, whatever they were on the machine that ran them."""
    command = re.sub(r"--data-dir\s+\S+", "--data-dir DIR", command)
    return re.sub(r"(?<!\S)runs/accuracy/", "RUNS/", command)


#: The generated blocks of docs/RESULTS.md, in the order a new document lists them under these headings.
RESULTS_BLOCKS = {
    "results-headline": "## Headline: each data set under the fair protocol",
    "pool-family-published": "### Published figures for the pooling family",
    "results-table": "## All runs",
    "synthetic-table": "## Built-in synthetic set (one split: 810 train, 90 validation, 100 test graphs)",
    "synthetic-seeds": "### The main job across seeds and cluster counts",
    "commands": "## Commands",
}
#: The block written into the other documents (README.md) that have its markers.
SHARED_BLOCK = "results-headline"


def result_blocks(found: list[dict], results_dir: Path) -> dict[str, str]:
    """The content of every block of :data:`RESULTS_BLOCKS`: the headline, the published figures of
    the pooling family, the rows' table, the synthetic set's tables, and each row's command."""
    lines = [
        "| set | variant | setting | protocol | folds | accuracy % (mean ± std) | vs baseline "
        "| epochs run | wall time | paper | Errica DiffPool | Errica baseline | version |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in found:
        lines.append(
            f"| {r['set']} | {r['label']} | {r['setting']} | {r['protocol']} | {r['folds']} | "
            f"{r['accuracy']} | {versus_baseline(r, found)} | {r['epochs']} | "
            f"{r['wall']} | {PAPER.get(r['set'], '–')} | {ERRICA_DIFFPOOL.get(r['set'], '–')} | "
            f"{ERRICA_BASELINE.get(r['set'], '–')} | {r['version']} |"
        )
    synthetic = results_dir / "synthetic"
    synthetic_lines = []
    if synthetic.is_dir():
        synthetic_lines += [
            "| model | test accuracy % | community recovery NMI (level 1, test graphs) | epochs |",
            "|---|---|---|---|",
        ]
        for name in ("diffpool", "graphsage"):
            path = synthetic / f"{name}.json"
            if path.exists():
                r = json.loads(path.read_text())
                synthetic_lines.append(
                    f"| {name} | {100 * r['test_acc']:.1f} | {_nmi(r)} | {r['epochs_run']} |"
                )
        commands = (synthetic / "command.txt").read_text().splitlines()
        synthetic_lines += [
            "",
            "Commands: " + " ; ".join(f"`{c.split('#')[0].strip()}`" for c in commands if c.strip()),
        ]
    return {
        "results-headline": headline(found),
        "pool-family-published": pool_family_published(),
        "results-table": "\n".join(lines),
        "synthetic-table": "\n".join(synthetic_lines) or "No synthetic results yet.",
        "synthetic-seeds": (
            "\n".join(synthetic_seeds(synthetic / "seeds")) or "No synthetic runs across seeds yet."
        ),
        "commands": (
            "\n".join(f"- `{r['name']}`: `{shown_command(r['command'])}`" for r in found) or "No runs yet."
        ),
    }


def results_skeleton() -> str:
    """A new document: the title, and each block under its heading, empty; the prose is added by hand."""
    parts = ["# Results"]
    for name, heading in RESULTS_BLOCKS.items():
        parts += ([heading] if heading else []) + [block(name, "")]
    return "\n\n".join(parts) + "\n"


def _nmi(result: dict) -> str:
    nmi = result.get("community_nmi")
    return "–" if nmi is None else f"{nmi:.2f}"


#: The main job's command in the synthetic runs' command.txt: ``diffpool train`` with no options but
#: its folder, seed and no picture.
MAIN_JOB = "diffpool train --out RUN_DIR --seed S --no-picture"
_NAMED_COMMAND = re.compile(r"^`([^`]+)`.*: `([^`]+)`\s*$")


def main_job_sentence(runs: dict[str, dict[int, dict]], commands: str) -> str:
    """The main job's spread over seeds, as a sentence: the setting whose command in command.txt is
    :data:`MAIN_JOB` ("" if none is)."""
    named = dict(m.groups() for m in map(_NAMED_COMMAND.match, commands.splitlines()) if m)
    main = next((name for name, command in named.items() if command == MAIN_JOB and name in runs), None)
    if main is None:
        return ""
    by_seed = runs[main]
    accs = [100 * by_seed[s]["test_acc"] for s in sorted(by_seed)]
    nmis = [
        by_seed[s]["community_nmi"] for s in sorted(by_seed) if by_seed[s].get("community_nmi") is not None
    ]
    seeds = sorted(by_seed)
    seed_text = (
        f"seeds {seeds[0]}–{seeds[-1]}"
        if seeds == list(range(seeds[0], seeds[-1] + 1))
        else ("seeds " + ", ".join(map(str, seeds)))
    )
    nmi_text = f" (community recovery NMI {min(nmis):.2f}–{max(nmis):.2f})" if nmis else ""
    return (
        f"The main job (`diffpool train` with no options, setting `{main}`) reaches "
        f"{min(accs):.1f}–{max(accs):.1f} % test accuracy over {seed_text}, {sum(accs) / len(accs):.1f} % "
        f"on average{nmi_text}; the figure of one run depends on the seed and on the CPU."
    )


def synthetic_seeds(folder: Path) -> list[str]:
    """The synthetic main job per setting and seed (files SETTING-sSEED.json, commands in command.txt),
    after a sentence stating the main job's range over seeds (:func:`main_job_sentence`)."""
    runs: dict[str, dict[int, dict]] = {}
    for path in sorted(folder.glob("*-s*.json")):
        setting, _, seed = path.stem.rpartition("-s")
        runs.setdefault(setting, {})[int(seed)] = json.loads(path.read_text())
    if not runs:
        return []
    commands = (folder / "command.txt").read_text() if (folder / "command.txt").exists() else ""

    def first_named(
        name: str,
    ) -> tuple[int, str]:  # settings in the order command.txt names them, others last
        at = commands.find(f"`{name}`")
        return (at if at >= 0 else len(commands), name)

    order = sorted(runs, key=first_named)
    seeds = sorted({seed for by_seed in runs.values() for seed in by_seed})
    sentence = main_job_sentence(runs, commands)
    lines = [sentence, ""] if sentence else []
    lines += [
        "| setting | " + " | ".join(f"seed {s}: test % (NMI)" for s in seeds) + " | mean test % |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for setting in order:
        by_seed = runs[setting]
        cells = [
            f"{100 * by_seed[s]['test_acc']:.1f} ({_nmi(by_seed[s])})" if s in by_seed else "–" for s in seeds
        ]
        mean = sum(r["test_acc"] for r in by_seed.values()) / len(by_seed)
        over = "" if len(by_seed) == len(seeds) else f" ({len(by_seed)} seeds)"
        lines.append(f"| {setting} | " + " | ".join(cells) + f" | {100 * mean:.1f}{over} |")
    return lines + ["", *(f"- {c}" for c in commands.splitlines() if c.strip())]


def replace_block(text: str, name: str, content: str, source: str = "the document") -> str:
    """``text`` with the content of the one block ``name`` replaced, every other line (other
    generators' blocks included) left as it was; unchanged if ``text`` has no markers for it."""
    begins = [m.start() for m in re.finditer(rf"^{re.escape(begin_marker(name))}[ \t]*$", text, re.M)]
    ends = [m for m in re.finditer(rf"^{re.escape(end_marker(name))}[ \t]*$", text, re.M)]
    if not begins and not ends:
        return text
    if len(begins) != 1 or len(ends) != 1 or ends[0].start() < begins[0]:
        raise MarkerError(
            f"{source}: block {name!r} needs one {begin_marker(name)} and, after it, one {end_marker(name)}"
        )
    return text[: begins[0]] + block(name, content) + text[ends[0].end() :]


def update_shared_block(path: Path, content: str) -> bool:
    """Rewrite the :data:`SHARED_BLOCK` of the document ``path`` where it has its markers; True if the
    file changed (a file without the markers, or absent, is left alone)."""
    if not path.is_file():
        return False
    old = path.read_text(encoding="utf-8")
    new = replace_block(old, SHARED_BLOCK, content, str(path))
    if new == old:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    results_dir = Path(argv[1]) if len(argv) > 1 else root / "docs" / "results"
    out = Path(argv[2]) if len(argv) > 2 else results_dir.parent / "RESULTS.md"
    others = [Path(a) for a in argv[3:]] if len(argv) > 1 else [root / "README.md"]
    found = rows(results_dir)
    blocks = result_blocks(found, results_dir)
    update_document(out, blocks, results_skeleton())
    print(f"wrote {out} ({len(found)} rows)")
    for other in others:
        if update_shared_block(other, blocks[SHARED_BLOCK]):
            print(f"wrote the {SHARED_BLOCK} block of {other}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
