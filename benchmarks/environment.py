"""Facts recorded with every benchmark result: versions, threads, load, the device, memory, and the
memory cap.

torch is imported only where it is needed: the processes that spawn the cases (and only read their
records) start in a fraction of a second instead of paying torch's import for nothing.
"""

from __future__ import annotations

import functools
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

__all__ = [
    "environment",
    "child_env",
    "peak_rss_mb",
    "current_rss_mb",
    "apply_memory_cap",
    "is_out_of_memory",
    "resolve_device",
    "device_facts",
    "probe_device_name",
    "synchronize",
    "reset_peak_memory",
    "peak_device_mb",
    "memory_cap_for",
]


def environment(device: str = "cpu") -> dict:
    import torch
    import torch_geometric

    from diffpool import __version__ as diffpool_version
    from diffpool.provenance import git_commit

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "diffpool": diffpool_version,
        "commit": git_commit(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "loadavg": list(os.getloadavg()),
        **device_facts(device),
    }
    if device == "cuda":
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
        # TF32 changes fp32 matrix products' speed several-fold on recent GPUs: say which ran.
        env["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    return env


def resolve_device(name: str | None) -> str:
    """``"cpu"`` or ``"cuda"``: ``None``/``"auto"`` picks CUDA where there is a GPU; asking for CUDA
    without one is an error, not a silent run on the CPU."""
    import torch

    if name in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda or auto, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: torch sees no CUDA GPU here")
    return name


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_facts(device: str) -> dict:
    """``{"device": "cpu" | "cuda", "device_name": …}`` for this process (CUDA: the current GPU)."""
    if device == "cuda":
        import torch

        return {"device": "cuda", "device_name": torch.cuda.get_device_name()}
    return {"device": "cpu", "device_name": _cpu_name()}


@functools.cache
def probe_device_name(device: str) -> str:
    """The device's name without touching CUDA in this process: a process that only spawns the
    cases must not hold a CUDA context (hundreds of MB of the GPU the cases measure)."""
    if device != "cuda":
        return _cpu_name()
    code = "import torch; print(torch.cuda.get_device_name())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = out.stdout.strip().splitlines()
    return lines[-1] if out.returncode == 0 and lines else "unknown"


def synchronize(device: str) -> None:
    """Wait for the device's queued work, so the clock read next covers it (CUDA runs asynchronously)."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def peak_device_mb(device: str) -> float:
    """Peak memory of the device so far: on CUDA the most the allocator held in tensors since the last
    :func:`reset_peak_memory`, on the CPU the process's peak RSS."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mb()


def memory_cap_for(device: str, gigabytes: float | None) -> float | None:
    """The address-space cap a case runs under: none on CUDA, whose driver reserves far more virtual
    address space than any cap (and whose memory limit is the GPU's own)."""
    return None if device == "cuda" else gigabytes


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
    if "torch" in sys.modules:
        import torch

        if isinstance(error, torch.cuda.OutOfMemoryError):
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
            "alloc_failed",  # cuBLAS/cuSPARSE workspaces: CUBLAS_STATUS_ALLOC_FAILED
        )
    )
