"""Facts recorded with every benchmark result: versions, threads, load, memory, and the memory cap."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

import torch

from diffpool.provenance import git_commit

__all__ = [
    "environment",
    "child_env",
    "peak_rss_mb",
    "current_rss_mb",
    "apply_memory_cap",
    "is_out_of_memory",
]


def environment() -> dict:
    import torch_geometric

    from diffpool import __version__ as diffpool_version

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "diffpool": diffpool_version,
        "commit": git_commit(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "loadavg": list(os.getloadavg()),
    }


def child_env() -> dict:
    """This process's environment with the folder holding ``benchmarks`` first on PYTHONPATH, so a
    case's subprocess (``python -m benchmarks.…``) imports this copy from any working directory."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports ru_maxrss in KB)."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def _current_vms_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def apply_memory_cap(gigabytes: float) -> int:
    """Limit this process's *new* address space to ``gigabytes`` (RLIMIT_AS = current + cap).

    A cap on the total would count the gigabytes of address space torch reserves at import; adding
    the cap to what is mapped now bounds what the benchmark itself can allocate. An allocation past
    it fails with an error the runner reports as "out of memory", instead of the kernel killing a
    process on a shared machine. Returns the limit in bytes.
    """
    limit = _current_vms_bytes() + int(gigabytes * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return limit


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return any(
        s in text
        for s in (
            "can't allocate memory",
            "cannot allocate memory",
            "out of memory",
            "not enough memory",
            "std::bad_alloc",
        )
    )
