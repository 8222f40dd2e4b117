"""Loading a large TU folder: peak memory and time of ``load_tu`` on a shared set tiled to N edge lines.

The folder is built in a temporary directory from one shared set (``--set``, default PROTEINS): the
set repeated ``ceil(N / its edge lines)`` times, each copy's node and graph ids shifted past the
previous copies', so the result is a valid TU set of the same graphs, many times over. The load runs
in a subprocess with its own empty cache (the processed file is written, as on a first load), which
reports its peak RSS after importing the modules (``baseline_mb``), after loading MUTAG once
(``warm_baseline_mb``: the first use of each code path costs about 10 MiB whatever the size, which
matters only for small folders) and after loading the tiled folder (``peak_mb``). ``ratio`` is
``(peak_mb - baseline_mb)`` over the size of ``_A.txt`` (the target is at most 3), ``ratio_warm`` the
same above the warm baseline; ``seconds`` is the time of the tiled load alone; ``processed_mb`` the
size of the processed file it wrote to the cache. Every ``_mb`` is MiB. One JSON line a run.

Usage: ``python -m benchmarks.tu_loading [--set PROTEINS] [--lines 25000000] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["tile_tu", "measure_load", "run_load", "main"]

TARGET_RATIO = 3.0  # peak above the import baseline, as a multiple of the _A.txt size
_PARTS = ("A", "graph_indicator", "graph_labels", "node_labels", "node_attributes")


def _ints(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)


def _format(table: np.ndarray) -> bytes:
    """``table`` (non-negative ints) as TU text lines ``a, b``, vectorised: Python's formatting would
    take minutes for 10⁷ lines."""
    rows, columns = table.shape
    width = len(str(int(table.max()))) if table.size else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    blocks, keep = [], []
    for column in range(columns):
        values = table[:, column : column + 1]
        blocks.append((values // powers % 10 + 48).astype(np.uint8))
        keep.append((values >= powers) | (powers == 1))  # no leading zeros; a 0 keeps its last digit
        last = column == columns - 1
        separator = np.frombuffer(b"\n" if last else b", ", np.uint8)
        blocks.append(np.broadcast_to(separator, (rows, len(separator))))
        keep.append(np.ones((rows, len(separator)), bool))
    return np.concatenate(blocks, axis=1)[np.concatenate(keep, axis=1)].tobytes()


def tile_tu(source: Path, name: str, lines: int, target: Path) -> dict:
    """Write ``target/name/``: the TU set in ``source/name`` repeated until ``_A.txt`` has at least
    ``lines`` lines (whole copies only), ids shifted per copy. Returns the copies, lines and bytes."""
    src = Path(source) / name
    folder = Path(target) / name
    folder.mkdir(parents=True, exist_ok=True)
    edges = _ints(src / f"{name}_A.txt")
    indicator = _ints(src / f"{name}_graph_indicator.txt")
    num_nodes, num_graphs = len(indicator), int(indicator[-1, 0])
    tiles = max(1, math.ceil(lines / len(edges)))
    with open(folder / f"{name}_A.txt", "wb") as out:
        for tile in range(tiles):
            out.write(_format(edges + tile * num_nodes))
    with open(folder / f"{name}_graph_indicator.txt", "wb") as out:
        for tile in range(tiles):
            out.write(_format(indicator + tile * num_graphs))
    for part in ("graph_labels", "node_labels", "node_attributes"):  # the same values in every copy
        path = src / f"{name}_{part}.txt"
        if path.is_file():
            block = path.read_bytes().rstrip() + b"\n"
            with open(folder / path.name, "wb") as out:
                for _ in range(tiles):
                    out.write(block)
    return {
        "tiles": tiles,
        "edge_lines": tiles * len(edges),
        "nodes": tiles * num_nodes,
        "graphs": tiles * num_graphs,
        "a_bytes": (folder / f"{name}_A.txt").stat().st_size,
    }


def _peak_mb() -> float:
    """This process's peak RSS in MB. Linux's ``VmHWM``, not ``ru_maxrss``: across ``exec`` the latter
    keeps the parent's peak at the fork (the process that built the tiled folder), the former is the
    new program's own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def measure_load(folder: Path, name: str, features: str, cache: Path, warm_up: Path | None = None) -> dict:
    """In this process: peak RSS after the imports, after loading the small ``warm_up`` folder (MUTAG:
    the first use of each code path costs some MB whatever the size) and after loading ``folder``;
    and the seconds of that last load."""
    from diffpool.data import load_tu

    imported = _peak_mb()
    if warm_up is not None:
        load_tu(warm_up.name, warm_up, cache=cache / "warm-up")
    warm = _peak_mb()
    started = time.perf_counter()
    dataset = load_tu(name, folder, features=features, cache=cache)
    seconds = time.perf_counter() - started
    processed = sum(path.stat().st_size for path in (cache / "processed").glob(f"{name}-*.pt"))
    return {
        "baseline_mb": round(imported, 1),
        "warm_baseline_mb": round(warm, 1),
        "peak_mb": round(_peak_mb(), 1),
        "seconds": round(seconds, 2),
        "loaded_graphs": len(dataset),
        "loaded_edges": int(dataset._data.edge_index.size(1)),
        "num_features": int(dataset.num_features),
        "processed_mb": round(processed / 2**20, 1),
    }


def run_load(
    folder: Path, name: str, features: str = "auto", warm_up: Path | None = None, timeout: float = 1800
) -> dict:
    """:func:`measure_load` in a fresh subprocess (nothing else counts towards its peak), with the
    ratios: peak above each baseline over the size of ``_A.txt``."""
    import diffpool

    from .environment import child_env

    with tempfile.TemporaryDirectory(prefix="tu-loading-cache-") as cache:
        command = [
            sys.executable,
            "-m",
            "benchmarks.tu_loading",
            "--child",
            str(folder),
            "--set",
            name,
            "--features",
            features,
            "--cache",
            cache,
        ]
        if warm_up is not None:
            command += ["--warm-up", str(warm_up)]
        env = child_env()  # and the diffpool this process uses, installed or not
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(diffpool.__file__).resolve().parents[1]), env["PYTHONPATH"]]
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"the load failed ({done.returncode}): {done.stderr[-2000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    a_mb = (Path(folder) / f"{name}_A.txt").stat().st_size / 2**20
    measured["above_baseline_mb"] = round(measured["peak_mb"] - measured["baseline_mb"], 1)
    for key, base in (("ratio", "baseline_mb"), ("ratio_warm", "warm_baseline_mb")):
        measured[key] = round(max(measured["peak_mb"] - measured[base], 0.0) / a_mb, 3)
    return measured


def main(argv: list[str] | None = None) -> int:
    from .workloads import default_data_root

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tu_loading", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="folder holding the shared TU sets (default: $DIFFPOOL_TU_ROOT, else "
        "../shared/datasets/tu beside the checkout)",
    )
    parser.add_argument("--set", default="PROTEINS", help="the shared set to tile (default PROTEINS)")
    parser.add_argument("--lines", type=int, default=25_000_000, help="at least this many edge lines")
    parser.add_argument("--features", default="auto", help="load_tu's features (default auto)")
    parser.add_argument(
        "--work-dir", default=None, help="where to build the tiled folder (default: a temp dir)"
    )
    parser.add_argument("--out", default=None, help="append the JSON line to this file too")
    parser.add_argument("--label", default=None, help="a note stored with the record (e.g. before, after)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warm-up", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # the measured process: print one JSON line
        warm_up = Path(args.warm_up) if args.warm_up else None
        print(json.dumps(measure_load(Path(args.child), args.set, args.features, Path(args.cache), warm_up)))
        return 0

    root = Path(args.data_root) if args.data_root else default_data_root()
    if root is None or not (root / args.set).is_dir():
        parser.error(f"no {args.set} folder under {root} (give --data-root or set DIFFPOOL_TU_ROOT)")
    from .environment import environment

    warm_up = root / "MUTAG" if (root / "MUTAG").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="tu-loading-", dir=args.work_dir))
    try:
        started = time.perf_counter()
        built = tile_tu(root, args.set, args.lines, work)
        build_seconds = time.perf_counter() - started
        measured = run_load(work / args.set, args.set, args.features, warm_up)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    env = environment()
    env.pop("commit", None)  # the records go into the repository, which knows its history
    record = {
        "kind": "tu_loading",
        "label": args.label,
        "dataset": args.set,
        "features": args.features,
        **built,
        "a_mb": round(built["a_bytes"] / 2**20, 1),
        **measured,
        "target_ratio": TARGET_RATIO,
        "build_seconds": round(build_seconds, 1),
        "env": env,
    }
    line = json.dumps(record)
    print(line)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
