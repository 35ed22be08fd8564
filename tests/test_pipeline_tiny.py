"""End to end: `dvc repro` of the `tiny` profile in a fresh copy of the repository, offline.

This is the CI check that the whole pipeline (corpus -> ... -> report) runs from tracked files alone
and that the leaderboard it writes is complete. Runs in a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import sys

from tests.e2e import check_report, dvc_repro_offline, fresh_repo, run


def test_tiny_profile_dvc_repro_end_to_end(tmp_path):
    work, env = fresh_repo(tmp_path)
    run([sys.executable, "-m", "bench.cli", "profile", "tiny"], work, env)
    dvc_repro_offline(work, env)
    check_report(work, env, {"noisy", "static", "keep50"})
