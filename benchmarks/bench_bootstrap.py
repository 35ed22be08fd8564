"""Coverage of the 95 % CIs of bench.score.bootstrap when test mixtures share source clips (simulation).

Each repeat draws a fresh population effect for every speech clip and noise clip (crossed random effects,
population mean 0), builds ``--n-mix`` mixtures that pick clips at random (as the plan does), and asks
whether each interval covers 0: the utterance bootstrap (scipy.stats.bootstrap over mixtures) and the
two-way cluster (pigeonhole) bootstrap over clips (``ClusterDesign``). Scenarios (96 mixtures each):
few clips (8 speech, 6 noise), the old default test split (29 speech clips, 41 noise clips, as counted in
issue 11) and a many-voice split (120 speech clips, 60 noise clips), each with equal variance components
(clip speech, clip noise, residual). Prints a table and writes reports/benchmarks/bootstrap.json with the machine named.

    .venv/bin/python benchmarks/bench_bootstrap.py [--repeats 300] [--n-boot 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.score import bootstrap as B  # noqa: E402

SCENARIOS = {"few clips (8 speech, 6 noise clips)": (96, 8, 6),
             "old default (29 speech, 41 noise clips)": (96, 29, 41),
             "many voices (120 speech, 60 noise clips)": (96, 120, 60)}


def one(rng, n_mix, n_sp, n_no, sd, n_boot, seed):
    a, b = rng.normal(0, sd[0], n_sp), rng.normal(0, sd[1], n_no)
    si, ni = rng.integers(0, n_sp, n_mix), rng.integers(0, n_no, n_mix)
    v = a[si] + b[ni] + rng.normal(0, sd[2], n_mix)
    meta = pd.DataFrame({"mixture_id": [f"m{i:05d}" for i in range(n_mix)], "speech_ids": [[f"s{k}"] for k in si],
                         "noise_id": [f"n{k}" for k in ni]})
    d = B.design_from_metadata(meta)
    _, lo_c, hi_c = B._mean_ci(d, meta.mixture_id, v, n_boot, seed, "bench")
    _, lo_u, hi_u = B.bootstrap_ci(v, n_boot, seed, "bench")
    return (lo_c <= 0 <= hi_c, hi_c - lo_c), (lo_u <= 0 <= hi_u, hi_u - lo_u)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks" / "bootstrap.json")
    a = ap.parse_args()
    from bench.report.provenance import cpu_model

    res = dict(benchmark="bench_bootstrap", machine=f"{cpu_model()} ({os.cpu_count()} cores)",
               python=platform.python_version(), repeats=a.repeats, n_boot=a.n_boot, nominal=0.95,
               variance_components_sd=dict(speech_clip=1.0, noise_clip=1.0, residual=1.0), scenarios={})
    print(f"{'scenario':44s} {'utterance cov':>14s} {'cluster cov':>12s} {'width ratio':>12s} {'s/CI':>6s}")
    for name, (n_mix, n_sp, n_no) in SCENARIOS.items():
        rng = np.random.default_rng(2026)
        t0 = time.perf_counter()
        rows = [one(rng, n_mix, n_sp, n_no, (1.0, 1.0, 1.0), a.n_boot, i) for i in range(a.repeats)]
        dt = (time.perf_counter() - t0) / a.repeats
        cov_c = float(np.mean([r[0][0] for r in rows]))
        cov_u = float(np.mean([r[1][0] for r in rows]))
        ratio = float(np.median([r[0][1] / r[1][1] for r in rows]))
        res["scenarios"][name] = dict(n_mixtures=n_mix, n_speech_clips=n_sp, n_noise_clips=n_no,
                                      coverage_utterance=cov_u, coverage_cluster=cov_c,
                                      median_width_ratio_cluster_over_utterance=ratio, seconds_per_repeat=dt)
        print(f"{name:44s} {cov_u:14.3f} {cov_c:12.3f} {ratio:12.2f} {dt:6.3f}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(a.out.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(tmp, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
