"""Helpers for the end-to-end `dvc repro` tests: a fresh git copy of the repository and an offline runner."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
LEADERBOARD_COLUMNS = [
    "model", "target_keep", "realized_keep", "macs_dense_m_per_s", "macs_dynamic_m_per_s", "mac_saving",
    "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high", "stoi", "estoi", "si_sdr_db", "dnsmos_ovrl",
    "n_scored", "n_total", "vad_acc", "noise_acc", "f0_r2", "snr_r2", "probe_cost_frac"]
REPORT_FILES = ("index.html", "leaderboard.md", "metrics.json", "aux_baselines.csv", "probes.csv",
                "dataset_card.md", "scores_summary.csv", "provenance.json")


def _copy_tracked(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)


def run(cmd: list[str], cwd: Path, env: dict, timeout: float = 1500) -> subprocess.CompletedProcess:
    """Run ``cmd``; on failure, assert with the tails of its stdout and stderr."""
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r


def fresh_repo(tmp_path: Path) -> tuple[Path, dict]:
    """A git repository at ``tmp_path/repo`` holding the tracked (and untracked, not ignored) files; its env
    (this venv first on PATH, a private CREPE/feature cache) for running ``sebench`` and ``dvc`` in it."""
    work = tmp_path / "repo"
    work.mkdir()
    _copy_tracked(work)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(work),
               SEBENCH_CACHE_DIR=str(tmp_path / "cache"), GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@localhost",
               GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@localhost")
    run(["git", "init", "-q"], work, env)
    run(["git", "add", "-A"], work, env)
    run(["git", "commit", "-qm", "snapshot"], work, env)
    return work, env


def dvc_repro_offline(work: Path, env: dict) -> None:
    """`dvc repro` with the network unshared where possible (nothing may be downloaded at run time)."""
    cmd = ["dvc", "repro"]
    if shutil.which("unshare") and os.geteuid() == 0:
        cmd = ["unshare", "-n"] + cmd
    run(cmd, work, env)


def check_report(work: Path, env: dict, models: set[str]) -> pd.DataFrame:
    """The leaderboard is complete (all columns, no empty cell, the expected rows), every report file exists
    and `dvc status` is clean; returns the leaderboard."""
    lb = pd.read_csv(work / "reports" / "leaderboard.csv", keep_default_na=False)
    missing = [c for c in LEADERBOARD_COLUMNS if c not in lb.columns]
    assert not missing, f"leaderboard lacks columns {missing}"
    assert set(lb["model"]) >= models, f"leaderboard rows {sorted(lb['model'])} lack some of {sorted(models)}"
    empty = [(r, c) for c in LEADERBOARD_COLUMNS for r, v in enumerate(lb[c]) if str(v).strip() == ""]
    assert not empty, f"empty leaderboard cells (row, column): {empty[:10]}"
    for f in REPORT_FILES:
        assert (work / "reports" / f).is_file(), f
    status = run(["dvc", "status"], work, env).stdout
    assert "changed" not in status, f"pipeline not up to date after repro:\n{status}"
    return lb
