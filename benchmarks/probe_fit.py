"""Benchmark: wall time of the probe fits at the default profile's sizes, on this machine.

Masks are synthetic (Bernoulli with planted label channels) at the default sizes: 40,000 train frames
(probe.max_train_frames), 16,000 valid, 24,000 test frames, C = 9 blocks x 128 = 1,152 channels
(model.config small), 10 noise classes. Times one fit_probe call (full regularisation grid of
params.yaml probe section) per probe kind, then extrapolates the stage's total from the fit count.
Writes reports/benchmarks/probe_fit.json. Usage: .venv/bin/python benchmarks/probe_fit.py [--threads 1]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.params import load_params  # noqa: E402
from bench.probes.cli import TASKS, probe_params  # noqa: E402
from bench.probes.linear import fit_probe, metrics  # noqa: E402
from bench.probes.selection import resolve_grid  # noqa: E402


def synth(n, c, rng):
    y_vad = rng.random(n) < 0.6
    y_cls = rng.integers(0, 10, n)
    y_f0 = rng.uniform(80, 300, n)
    y_snr = rng.uniform(-10, 30, n)
    x = rng.random((n, c)) < 0.5
    x[:, 0] = y_vad
    x[np.arange(n), 1 + y_cls] = True
    x[:, 20] = y_f0 > 150
    x[:, 21] = y_snr > 10
    return x.astype(np.float32), dict(vad=y_vad.astype(np.uint8), noise=y_cls, f0=y_f0, snr=y_snr)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--channels", type=int, default=1152)
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    pc = probe_params(load_params(args.params))
    rng = np.random.default_rng(0)
    n_tr, n_va, n_te = int(pc["max_train_frames"]), 16000, 24000
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = (synth(n, args.channels, rng) for n in (n_tr, n_va, n_te))
    res = {}
    with threadpool_limits(args.threads):
        for task, probe in (("vad", "linear"), ("noise", "linear"), ("f0", "linear"), ("snr", "linear"),
                            ("vad", "mlp"), ("noise", "mlp")):
            reg = pc["mlp"]["alpha_grid"] if probe == "mlp" else (
                pc["reg_grid_ridge"] if task in ("f0", "snr") else pc["reg_grid_logistic"])
            n = int(pc["mlp"]["max_train_frames"]) if probe == "mlp" else n_tr
            t = time.perf_counter()
            pr = fit_probe(task, x_tr[:n], y_tr[task][:n], x_va, y_va[task], [float(r) for r in reg], probe, 0,
                           int(pc["mlp"]["hidden"]), int(pc["mlp"]["max_iter"] if probe == "mlp" else pc["max_iter"]))
            dt = time.perf_counter() - t
            m = metrics(task, y_te[task], pr.predict(x_te))
            res[f"{task}_{probe}"] = dict(fit_s=round(dt, 2), n_train=n, reg_grid=reg, test=m)
            print(f"{task:6s} {probe:6s} fit {dt:7.2f} s  n_train={n}  {m}")
    ks = resolve_grid(pc["c_star_grid"], args.channels)
    lin = np.mean([res[f"{t}_linear"]["fit_s"] for t in ("vad", "noise", "f0", "snr")])
    mlp = np.mean([res["vad_mlp"]["fit_s"], res["noise_mlp"]["fit_s"]])
    n_seeds, n_curve = len(pc["seeds"]), int(pc["curve_seeds"])
    # per level: 4 frame tasks; curve seeds fit len(ks) + 3 controls; other seeds fit 2 + 3 controls; + 1 MLP each
    fits_lin = 4 * (n_curve * (len(ks) + 3) + (n_seeds - n_curve) * (2 + 3))
    # curves: smaller k is cheaper; count the mean fit at the full cost as an upper bound
    n_mlp = 4 * min(n_seeds, int(pc["mlp"]["n_seeds"])) if pc["mlp"]["enabled"] else 0
    est = dict(linear_fits_per_level=fits_lin, mlp_fits_per_level=n_mlp,
               upper_bound_s_per_level=round(fits_lin * lin + n_mlp * mlp, 1))
    out = dict(benchmark="probe_fit", implementation="bench.probes.linear.fit_probe (scikit-learn)",
               sklearn=__import__("sklearn").__version__, threads=args.threads, channels=args.channels,
               machine=f"{platform.machine()} {os.cpu_count()}-core CPU, shared (load avg {os.getloadavg()[0]:.1f})",
               sizes=dict(train=n_tr, valid=n_va, test=n_te), results=res, estimate=est)
    print(json.dumps(est))
    path = Path("reports/benchmarks/probe_fit.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=2, default=float))
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
