#!/usr/bin/env bash
# Publish the trained models of the current run to the in-repository DVC remote `models` (dvc-remote/):
# the training stages' outputs plus their run-cache entries, so that a fresh clone's `dvc repro --pull`
# restores them instead of retraining whenever a training stage's command, dependencies and params hash
# the same (same dataset bytes, same training code, same params). Only training stages go there;
# everything downstream is recomputed. Commit dvc-remote/ afterwards.
# Usage: scripts/push_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
stages=$(dvc stage list --name-only | grep -E '^train(_static|@|_static_replicate@|_replicate@|_causal_static@|_causal@)' | tr '\n' ' ')
rm -rf dvc-remote/files dvc-remote/runs     # the remote holds this run's models only (older ones stay in git history)
dvc push -r models --run-cache $stages
python - <<'PY'
"""Keep only run-cache entries of `sebench train` stages whose outputs were pushed above."""
import shutil
from pathlib import Path

import yaml

runs = Path("dvc-remote/runs")
kept = dropped = 0
for entry in sorted(runs.glob("*/*/*")) if runs.is_dir() else []:
    rec = yaml.safe_load(entry.read_text()) or {}
    outs = [o.get("md5", "") for o in rec.get("outs") or []]
    # an entry is useful only if DVC can fetch its outputs from this remote (older runs' entries are not)
    present = outs and all((Path("dvc-remote/files/md5") / h[:2] / h[2:]).is_file() for h in outs)
    if str(rec.get("cmd", "")).startswith("sebench train") and present:
        kept += 1
    else:
        entry.unlink()
        dropped += 1
for d in sorted(runs.glob("*/*"), reverse=True) + sorted(runs.glob("*"), reverse=True):
    if d.is_dir() and not any(d.iterdir()):
        d.rmdir()
print(f"run-cache entries in dvc-remote: {kept} training stage(s) kept, {dropped} other(s) dropped")
if kept == 0:
    raise SystemExit("push_models: no training run-cache entry has its outputs in dvc-remote")
PY
du -sh dvc-remote
