"""Dataset-generation throughput: render (1 vs 2 workers, side by side), labels, CREPE cost, peak memory.

Usage: python benchmarks/bench_datagen.py [--params params.yaml] [--n-mixtures 64] [--crepe-full-s 4]
Needs `sebench corpus` to have run (reads the manifest under paths.corpus_dir). Renders into a temp
dir; writes reports/benchmarks/datagen.json and prints a table.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.params import load_params
from bench.report.provenance import cpu_model
from datagen.audio_io import load_audio
from datagen.plan import make_plan
from datagen.render import render


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--n-mixtures", type=int, default=64)
    ap.add_argument("--crepe-tiny-s", type=float, default=20.0)
    ap.add_argument("--crepe-full-s", type=float, default=4.0)
    ap.add_argument("--out", default="reports/benchmarks/datagen.json")
    args = ap.parse_args()
    params = load_params(args.params)
    manifest = pd.read_parquet(Path(params["paths"]["corpus_dir"]) / "manifest.parquet")
    tmp = Path(tempfile.mkdtemp(prefix="bench_datagen_"))
    res: dict = dict(machine=dict(cpu=cpu_model(), cores=os.cpu_count(), python=platform.python_version(),
                                  torch=torch.__version__, torchcrepe=version("torchcrepe")))
    try:
        p = copy.deepcopy(params)
        p["plan"]["n_mixtures"] = {"train": args.n_mixtures}
        p["paths"]["plan_dir"] = str(tmp / "plan")
        plan = make_plan(manifest, p)
        Path(p["paths"]["plan_dir"]).mkdir(parents=True)
        plan.to_parquet(tmp / "plan" / "plan.parquet", index=False)
        audio_s = float(plan["duration_s"].sum())
        res["render"] = dict(n_mixtures=len(plan), audio_s=audio_s, reverb_fraction=float(plan["reverb"].mean()))
        for workers in (1, 2):
            p["paths"]["dataset_dir"] = str(tmp / f"ds{workers}")
            t0 = time.perf_counter()
            render(p, workers=workers)
            dt = time.perf_counter() - t0
            res["render"][f"workers_{workers}"] = dict(wall_s=dt, mixtures_per_s=len(plan) / dt, x_realtime=audio_s / dt)
        r = res["render"]
        r["speedup_2_vs_1"] = r["workers_1"]["wall_s"] / r["workers_2"]["wall_s"]

        # CREPE cost on real corpus speech (the labels stage reads shipped/cached tracks; this is the fresh cost)
        from datagen.f0 import crepe_f0

        speech = manifest[manifest["kind"] == "speech"].sort_values("source_id")
        x = np.concatenate([load_audio(pth, 16000)[0] for pth in speech["path"].head(20)])
        res["crepe"] = {}
        torch.set_num_threads(2)
        for model, secs in (("tiny", args.crepe_tiny_s), ("full", args.crepe_full_s)):
            seg = x[: int(secs * 16000)]
            t0 = time.perf_counter()
            crepe_f0(seg, 16000, 256, model=model)
            dt = time.perf_counter() - t0
            res["crepe"][model] = dict(audio_s=len(seg) / 16000, wall_s=dt, cpu_s_per_audio_h=dt / (len(seg) / 16000) * 3600,
                                       threads=2, device="cpu")
        res["peak_rss_mb"] = dict(
            self=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            children=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    r = res["render"]
    print(f"machine: {res['machine']['cpu']} ({res['machine']['cores']} cores)")
    print(f"render {r['n_mixtures']} mixtures ({r['audio_s']:.0f} s audio, {r['reverb_fraction']*100:.0f} % reverberant):")
    for w in (1, 2):
        q = r[f"workers_{w}"]
        print(f"  {w} worker(s): {q['mixtures_per_s']:.1f} mixtures/s, {q['x_realtime']:.0f}x real time")
    print(f"  speed-up 2 vs 1 workers: {r['speedup_2_vs_1']:.2f}x")
    for m, q in res["crepe"].items():
        print(f"CREPE {m}: {q['wall_s'] / q['audio_s']:.2f} s per audio second ({q['cpu_s_per_audio_h'] / 3600:.2f} h per audio hour, CPU, 2 threads)")
    print(f"peak RSS: {res['peak_rss_mb']['self']:.0f} MB (main), {res['peak_rss_mb']['children']:.0f} MB (largest worker)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
