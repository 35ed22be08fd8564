"""Provenance block for every table and page: what produced these numbers, on what, and where.

:func:`collect` returns a flat dict (every value a non-empty string) that any stage can embed:
``date_utc``, ``git_commit``, ``git_dirty``, ``params_hash`` (:func:`bench.params.params_hash`),
``dataset_sha256`` (sha256 of ``{plan_dir}/plan.parquet`` bytes: the plan table is the dataset's source of
truth), ``profile``, ``python``, ``platform``, ``cpu_model``, ``cpu_count``, ``cuda_device`` and one
``pkg_<name>`` per package of :data:`PACKAGES`. :func:`to_markdown` / :func:`to_html` render it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import html
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

from bench.params import params_hash
from bench.runinfo import cpu_model, cuda_device, git_info  # noqa: F401  (re-exported: provenance fields)

#: packages whose versions decide the numbers (model, F0 labels, metrics, probes, pipeline)
PACKAGES = ("torch", "torchaudio", "torchcrepe", "pesq", "pystoi", "speechmos", "onnxruntime", "scikit-learn",
            "numpy", "pandas", "dvc")
MISSING = "missing"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def dataset_hash(params: dict) -> str:
    """sha256 of ``{paths.plan_dir}/plan.parquet``, or ``"missing: <path>"`` when there is no plan yet."""
    plan = Path((params.get("paths") or {}).get("plan_dir", "data/plan")) / "plan.parquet"
    return sha256_file(plan) if plan.is_file() else f"{MISSING}: {plan}"


def collect(params: dict, cwd: str | Path = ".", cuda: bool = True) -> dict[str, str]:
    """The provenance dict of the current run (all values non-empty strings; see module docstring)."""
    commit, dirty = git_info(cwd)
    prov = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "git_dirty": dirty,
        "params_hash": params_hash(params),
        "dataset_sha256": dataset_hash(params),
        "profile": str(params.get("profile") or "unnamed"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": str(os.cpu_count() or "unknown"),
        "cuda_device": cuda_device() if cuda else "not checked",
    }
    prov.update({f"pkg_{k}": v for k, v in package_versions().items()})
    return prov


def package_versions(packages=PACKAGES) -> dict[str, str]:
    """{package: installed version or "not installed"} (from package metadata; nothing is imported)."""
    out = {}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def run_id(prov: dict) -> str:
    """Short id of a run: ``<commit[:8]>[+dirty]-<params_hash[:8]>``."""
    c = prov.get("git_commit", "unknown")
    c = c[:8] if not c.startswith("unknown") else "nogit"
    return f"{c}{'+dirty' if prov.get('git_dirty') == 'true' else ''}-{prov.get('params_hash', '')[:8]}"


def to_markdown(prov: dict, title: str = "Provenance") -> str:
    """A fenced ``key: value`` block under a heading (copy-paste-able next to a cited number)."""
    w = max(len(k) for k in prov)
    body = "\n".join(f"{k:<{w}} : {v}" for k, v in prov.items())
    return f"## {title}\n\n```text\n{body}\n```\n"


def to_html(prov: dict) -> str:
    """A two-column HTML table of the provenance dict."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
                   for k, v in prov.items())
    return f'<table class="prov">{rows}</table>'


if __name__ == "__main__":  # quick look: python -m bench.report.provenance [params.yaml]
    from bench.params import load_params

    print(to_markdown(collect(load_params(sys.argv[1] if len(sys.argv) > 1 else "params.yaml"))))
