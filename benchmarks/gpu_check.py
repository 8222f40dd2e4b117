"""The Python half of ``scripts/gpu_check``: what the machine is, and what the check found.

``python -m benchmarks.gpu_check environment OUT_DIR`` checks that the interpreter has what the
check needs, prints the GPU and the versions and writes them to ``OUT_DIR/environment.json``
(exit status 3: a required package does not import, 4: CUDA asked for and absent; its last line
names the device: ``device: cuda``); ``python -m benchmarks.gpu_check summary OUT_DIR`` prints the
stages' outcome, the epoch benchmark's ratios against PyG and how far each scaling run went, from
``stages.jsonl``, ``tests.xml``, ``epoch.jsonl`` and ``scaling.jsonl`` in ``OUT_DIR``, and writes
the same text to ``OUT_DIR/summary.txt``. The summary reads only JSON and XML: it never imports
torch, so it runs even where the environment stage failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from importlib import import_module
from pathlib import Path

__all__ = ["collect_environment", "summarize_check", "main"]

REQUIRED = ("torch", "torch_geometric", "lightning", "torchmetrics")
SMI_FIELDS = ("name", "driver_version", "memory.total", "power.limit", "clocks.max.sm")


def _nvidia_smi() -> list[dict] | None:
    """One dict per GPU from ``nvidia-smi --query-gpu``; None where nvidia-smi is absent or fails."""
    query = ",".join(SMI_FIELDS)
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return [
        dict(zip(SMI_FIELDS, (v.strip() for v in line.split(","))))
        for line in out.stdout.splitlines()
        if line.strip()
    ]


def collect_environment(device: str) -> dict:
    """Versions, the device and its properties, as one JSON-ready dict."""
    versions = {}
    for name in (*REQUIRED, "numpy"):
        try:
            versions[name] = getattr(import_module(name), "__version__", "unknown")
        except ImportError as error:
            versions[name] = f"missing: {error}"
    import torch

    import diffpool
    from diffpool.provenance import git_commit

    from .environment import device_facts

    env = {
        "kind": "environment",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **device_facts(device),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        **versions,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "diffpool": diffpool.__version__,
        # Which copy ran: the checkout's src, not an older installed one.
        "diffpool_path": str(Path(diffpool.__file__).resolve().parent),
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "nvidia_smi": _nvidia_smi(),
    }
    if torch.cuda.is_available():
        env["cudnn"] = torch.backends.cudnn.version()
        env["gpus"] = []
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            env["gpus"].append(
                {
                    "name": props.name,
                    "memory_gib": round(props.total_memory / 2**30, 1),
                    "capability": f"{props.major}.{props.minor}",
                    "multiprocessors": props.multi_processor_count,
                }
            )
    return env


MISSING_PACKAGES, NO_CUDA = 3, 4


def _missing_packages() -> list[str]:
    missing = []
    for name in (*REQUIRED, "diffpool"):
        try:
            import_module(name)
        except Exception as error:  # noqa: BLE001 (a broken install fails otherwise than ImportError)
            missing.append(f"{name} ({type(error).__name__}: {str(error)[:200]})")
    return missing


def _environment_command(out_dir: Path, device: str) -> int:
    missing = _missing_packages()
    if missing:
        print(f"gpu_check: {sys.executable} cannot import: {'; '.join(missing)}", file=sys.stderr)
        print(
            "gpu_check: run it on an image that has torch, torch_geometric, lightning and torchmetrics; "
            "it never installs them (see benchmarks/README.md, 'On a GPU')",
            file=sys.stderr,
        )
        return MISSING_PACKAGES
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda, but torch sees no CUDA GPU", file=sys.stderr)
        return NO_CUDA
    env = collect_environment(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    print(f"device:          {env['device']} ({env['device_name']})")
    for gpu in env.get("gpus", []):
        print(f"GPU:             {gpu['name']}, {gpu['memory_gib']} GiB, compute {gpu['capability']}")
    for smi in env["nvidia_smi"] or []:
        print(f"driver:          {smi.get('driver_version')} ({smi.get('name')}, {smi.get('memory.total')})")
    print(f"python:          {env['python']} ({env['python_executable']})")
    print(f"torch:           {env['torch']} (CUDA {env['torch_cuda']}, cuDNN {env.get('cudnn')})")
    for name in ("torch_geometric", "lightning", "torchmetrics", "numpy"):
        print(f"{name + ':':<17}{env[name]}")
    print(f"diffpool:        {env['diffpool']} from {env['diffpool_path']} (commit {env['commit']})")
    print(f"device: {device}")
    return 0


# --------------------------------------------------------------------------- summary
def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _tests_line(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return "tests.xml unreadable"
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    keys = ("tests", "failures", "errors", "skipped")
    totals = {key: sum(int(s.get(key, 0)) for s in suites) for key in keys}
    passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    return (
        f"{passed} passed, {totals['failures']} failed, {totals['errors']} errors, "
        f"{totals['skipped']} skipped"
    )


def _mb(value) -> str:
    return "-" if value is None else f"{value:,.0f} MB"


def _times(value, digits: int = 2) -> str:
    return "-" if value is None else f"×{value:.{digits}f}"


def _epoch_lines(records: list[dict]) -> list[str]:
    cases = [r for r in records if r.get("kind") == "epoch"]
    rows = {r["dataset"]: r for r in records if r.get("kind") == "ratios"}
    if not cases:
        return ["epoch: no records"]
    names = sorted({r.get("device_name") or "?" for r in cases})
    lines = [
        f"epoch on {', '.join(names)}: median training epoch, peak memory, speed and memory against PyG",
    ]
    for r in cases:
        ratio = rows.get(r["dataset"], {}).get(r["impl"], {})
        if r.get("status") == "ok":
            memory = r.get("peak_memory_mb") or r.get("peak_rss_mb")
            what = f"{r['epoch_s']:8.3f} s  {_mb(memory):>10}"
            if r["impl"] != "pyg":
                speed, memory = ratio.get("speed_vs_pyg"), ratio.get("memory_vs_pyg")
                what += f"  speed {_times(speed)}  memory {_times(memory)}"
        else:
            what = f"{r.get('status')}: {(r.get('error') or r.get('reason') or '')[:120]}"
            if r.get("seconds_per_batch"):
                what += f" ({r['seconds_per_batch']:.3f} s a batch over {r.get('batches_done')} batches)"
        lines.append(f"  {r['dataset']:<14}{r['impl']:<10}{what}")
    return lines


def _scaling_lines(records: list[dict]) -> list[str]:
    layers = [r for r in records if r.get("kind") == "layer"]
    if not layers:
        return ["scaling: no records"]
    names = sorted({r.get("device_name") or "?" for r in layers})
    lines = [f"scaling on {', '.join(names)}: one layer, forward + backward"]
    groups: dict[tuple, list[dict]] = {}
    for r in layers:
        groups.setdefault((r["impl"], r.get("clusters")), []).append(r)
    ok_by_impl: dict[str, dict[int, dict]] = {}
    for (impl, mode), rows in groups.items():
        ok = sorted((r for r in rows if r.get("status") == "ok"), key=lambda r: r["n"])
        failed = [r for r in rows if r.get("status") not in ("ok", "skipped")]
        ok_by_impl.setdefault(impl, {}).update({r["n"]: r for r in ok})
        text = f"  {impl:<8}K={mode:<6}"
        if ok:
            top = ok[-1]
            edges = f", {top['edges']:,} edges" if top.get("edges") is not None else ""
            memory = top.get("peak_cuda_mb", top.get("memory_mb"))
            text += f"largest n {top['n']:,}{edges}: {top['seconds']:.3f} s, {_mb(memory)}"
        else:
            text += "no size ran"
        if failed:
            first = min(failed, key=lambda r: r["n"])
            text += f"; {first['status']} at n={first['n']:,}"
        lines.append(text)
    if "pyg" in ok_by_impl and "sparse" in ok_by_impl:
        shared = sorted(set(ok_by_impl["pyg"]) & set(ok_by_impl["sparse"]))
        if shared:
            n = shared[-1]
            pyg, ours = ok_by_impl["pyg"][n], ok_by_impl["sparse"][n]
            lines.append(
                f"  at n={n:,} ours takes {_times(ours['seconds'] / pyg['seconds'])} PyG's time and "
                f"{_times(max(ours['memory_mb'], 1e-3) / max(pyg['memory_mb'], 1e-3))} its memory"
            )
    return lines


def summarize_check(out_dir: Path) -> tuple[str, bool]:
    """The summary's text, and whether every stage passed."""
    stages = _read_jsonl(out_dir / "stages.jsonl")
    lines = ["stages:"]
    for s in stages:
        note = f" ({s['note']})" if s.get("note") else ""
        lines.append(f"  {s['stage']:<12}{s['status']:<9}{s.get('seconds', 0):>5} s{note}")
    tests = _tests_line(out_dir / "tests.xml")
    if tests:
        lines.append(f"tests: {tests}")
    lines += _epoch_lines(_read_jsonl(out_dir / "epoch.jsonl"))
    lines += _scaling_lines(_read_jsonl(out_dir / "scaling.jsonl"))
    failed = [s["stage"] for s in stages if s.get("status") != "ok"]
    lines.append(
        f"gpu_check: {len(failed)} stage(s) failed: {', '.join(failed)}"
        if failed
        else "gpu_check: every stage passed"
    )
    return "\n".join(lines) + "\n", not failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    env = sub.add_parser("environment", help="print the GPU and versions; write environment.json")
    env.add_argument("out_dir", type=Path)
    env.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    summary = sub.add_parser("summary", help="print the check's outcome; write summary.txt")
    summary.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "environment":
        return _environment_command(args.out_dir, args.device)
    text, _ = summarize_check(args.out_dir)
    (args.out_dir / "summary.txt").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
