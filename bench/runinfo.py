"""Facts about the run's environment, shared by every stage: package versions, CPU model, CUDA device, git state.

Kept out of any one stage's module so that stages do not import each other for helpers (train, enhance,
benchmarks and the report's provenance block all read them here).
"""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def versions() -> dict:
    """Python, platform and the torch / numpy / dvclive versions (None when a package is missing)."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("torch", "numpy", "dvclive"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def git_info(cwd: str | Path = ".") -> tuple[str, str]:
    """(commit hex or "unknown (reason)", dirty flag "true" | "false" | "unknown") of the repository at cwd.

    Dirty = tracked files differ from HEAD (untracked files do not count: outputs live beside the code).
    The pipeline's own committed results (``reports/``, ``dvc.lock``) are excluded: stages rewrite them while
    the run is in progress, and they are what the commit + params reproduce, not an input to them.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=20)
        if commit.returncode != 0:
            return f"unknown ({commit.stderr.strip().splitlines()[-1] if commit.stderr.strip() else 'not a git repo'})", \
                "unknown"
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                             ":(exclude)reports", ":(exclude)dvc.lock"], cwd=cwd, capture_output=True,
                            text=True, timeout=60)
        dirty = "unknown" if st.returncode != 0 else ("true" if st.stdout.strip() else "false")
        return commit.stdout.strip(), dirty
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({type(e).__name__})", "unknown"


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor(), else "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip() or "unknown"
    except OSError:
        pass
    return platform.processor() or "unknown"


def cuda_device() -> str:
    """Name of CUDA device 0 via torch, "none" without one; torch is only asked if it is installed."""
    try:
        import torch
    except ImportError:
        return "none (torch not installed)"
    try:
        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (x{torch.cuda.device_count()}, CUDA {torch.version.cuda})"
    except Exception as e:  # driver problems must not break a report
        return f"none ({type(e).__name__})"
    return "none"
