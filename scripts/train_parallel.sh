#!/usr/bin/env bash
# Train every level of params.yaml in N parallel single-thread chains (default 2 = one per core), outside
# DVC; then `dvc repro` records them: each train stage resumes from its finished data/checkpoints/<level>/checkpoint.pt
# in seconds and writes the same model.pt (bit-exact resume), so DVC's lock and run-cache get the
# models without training twice. 2 processes x 1 thread each use both cores
# (README, "Training": ~79 audio-s/s per process). Chains keep each gated level after its warm-start source (static / static_seed<k>).
# Usage: scripts/train_parallel.sh [N]      (logs in data/train_logs/)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2}
mkdir -p data/train_logs
mapfile -t CHAINS < <(python - "$N" <<'PY'
import sys
from bench.params import load_params
from bench.train import parse_level, level_keep
p = load_params()
n = int(sys.argv[1])
levels = list(p["levels"])
# group: each static model (seed k) with the gated levels warm-started from it
groups = {}
for lv in levels:
    base, k = parse_level(p, lv)
    groups.setdefault(k, []).append(lv)
for g in groups.values():
    g.sort(key=lambda lv: level_keep(p, lv) < 1.0)     # the static model of the group first
# greedy balance by cost (static ~ epochs, gated ~ 1.8 x epochs_gated)
cost = lambda lv: (p["train"]["epochs"] if level_keep(p, lv) >= 1.0 else 1.8 * (p["train"]["epochs_gated"] or p["train"]["epochs"]))
chains = [[] for _ in range(n)]
for g in sorted(groups.values(), key=lambda g: -sum(map(cost, g))):
    i = min(range(n), key=lambda j: sum(map(cost, chains[j])))
    chains[i] += g
for c in chains:
    print(" ".join(c))
PY
)
pids=()
for i in "${!CHAINS[@]}"; do
  chain=${CHAINS[$i]}
  [ -z "$chain" ] && continue
  ( for lv in $chain; do
      echo "chain $i: $lv" >&2
      OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 sebench train --level "$lv" --no-progress > "data/train_logs/$lv.log" 2>&1
    done ) &
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
exit $rc
