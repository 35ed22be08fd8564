"""End to end: `dvc repro` of the `tiny` profile in a fresh copy of the repository, offline.

This is the CI check that the whole pipeline (corpus -> ... -> report) runs from tracked files alone
and that the leaderboard it writes is complete. Runs in a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
LEADERBOARD_COLUMNS = [
    "model", "target_keep", "realized_keep", "macs_dense_m_per_s", "macs_dynamic_m_per_s", "mac_saving",
    "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high", "stoi", "estoi", "si_sdr_db", "dnsmos_ovrl",
    "n_scored", "n_total", "vad_acc", "noise_acc", "f0_r2", "snr_r2", "probe_cost_frac"]


def _copy_tracked(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)


def _run(cmd, cwd, env, timeout=1500):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r


def test_tiny_profile_dvc_repro_end_to_end(tmp_path):
    work = tmp_path / "repo"
    work.mkdir()
    _copy_tracked(work)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(work),
               SEBENCH_CACHE_DIR=str(tmp_path / "cache"), GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@localhost",
               GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@localhost")
    _run(["git", "init", "-q"], work, env)
    _run(["git", "add", "-A"], work, env)
    _run(["git", "commit", "-qm", "snapshot"], work, env)
    _run([sys.executable, "-m", "bench.cli", "profile", "tiny"], work, env)
    cmd = ["dvc", "repro"]
    if shutil.which("unshare") and os.geteuid() == 0:
        cmd = ["unshare", "-n"] + cmd  # offline: nothing may be downloaded at run time
    _run(cmd, work, env)

    lb = pd.read_csv(work / "reports" / "leaderboard.csv", keep_default_na=False)
    missing = [c for c in LEADERBOARD_COLUMNS if c not in lb.columns]
    assert not missing, f"leaderboard lacks columns {missing}"
    assert set(lb["model"]) >= {"noisy", "static", "keep50"}
    empty = [(r, c) for c in LEADERBOARD_COLUMNS for r, v in enumerate(lb[c]) if str(v).strip() == ""]
    assert not empty, f"empty leaderboard cells (row, column): {empty[:10]}"
    for f in ("index.html", "leaderboard.md", "metrics.json", "aux_baselines.csv", "probes.csv",
              "dataset_card.md", "scores_summary.csv", "provenance.json"):
        assert (work / "reports" / f).is_file(), f
    status = _run(["dvc", "status"], work, env).stdout
    assert "changed" not in status, f"pipeline not up to date after repro:\n{status}"
