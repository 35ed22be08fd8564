#!/usr/bin/env bash
# Train every level of params.yaml in N parallel single-thread processes (default 2 = one per core), outside
# DVC; then `dvc repro` records them: each train stage resumes from its finished data/checkpoints/<level>/checkpoint.pt
# in seconds and writes the same model.pt (bit-exact resume), so DVC's lock and run-cache get the
# models without training twice. 2 processes x 1 thread each use both cores (README, "Training").
# A small scheduler starts the costliest level whose warm-start source (static / static_seed<k>) is
# finished whenever a process slot is free. Usage: scripts/train_parallel.sh [N]   (logs in data/train_logs/)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data/train_logs
exec python - "${1:-2}" <<'PY'
import os, subprocess, sys, time
from bench.params import load_params
from bench.train import init_model_path, level_epochs, level_keep

p = load_params()
n = int(sys.argv[1])
todo = list(p["levels"])
need = {lv: (init_model_path(p, lv).parent.name if init_model_path(p, lv) else None) for lv in todo}
cost = {lv: level_epochs(p, lv) * (1.0 if level_keep(p, lv) >= 1.0 else 1.8) for lv in todo}  # gated epoch ~1.8x
# a level others wait on goes first (ties: the costlier one)
prio = {lv: (sum(need[o] == lv for o in todo), cost[lv]) for lv in todo}
env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
running, done, rc = {}, set(), 0
while todo or running:
    for lv, pr in list(running.items()):
        if pr.poll() is not None:
            del running[lv]
            done.add(lv)
            rc |= pr.returncode != 0
            print(f"[train_parallel] {lv} finished (rc {pr.returncode})", file=sys.stderr, flush=True)
    ready = sorted((lv for lv in todo if need[lv] is None or need[lv] in done), key=lambda lv: prio[lv], reverse=True)
    while ready and len(running) < n:
        lv = ready.pop(0)
        todo.remove(lv)
        print(f"[train_parallel] start {lv}", file=sys.stderr, flush=True)
        running[lv] = subprocess.Popen(["sebench", "train", "--level", lv, "--no-progress"], env=env,
                                       stdout=open(f"data/train_logs/{lv}.log", "w"), stderr=subprocess.STDOUT)
    if todo and not running and not ready:
        sys.exit(f"[train_parallel] cannot start {todo}: their warm-start models are not levels")
    time.sleep(2)
sys.exit(rc)
PY
