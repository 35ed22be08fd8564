"""Paired-corpus (VoiceBank+DEMAND layout) data-stage cost per pair: corpus indexing (validate + sha256 of
both files), plan, render (48 kHz -> 16 kHz soxr HQ, alignment checks, int16 stems), and an extrapolation
to the full VBD release (12,396 pairs: 11,572 train + 824 test, mean ~2.9 s) -- an ESTIMATE, labelled so.

Usage: python benchmarks/bench_paired.py [--pairs-per-speaker 8] [--duration-s 3.0]
Builds a synthetic VBD tree in a temp dir (harmonic tones + noise, 48 kHz PCM16); writes
reports/benchmarks/paired.json and prints the figures. Wall clock on a shared, loaded 2-core CPU.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from bench.params import load_params
from datagen.audio_io import IMPLEMENTATION
from datagen.corpus import build_corpus
from datagen.plan import make_plan
from datagen.render import render

REPO = Path(__file__).resolve().parents[1]
VBD_PAIRS, VBD_MEAN_S = 12396, 2.9


def make_tree(root: Path, per_spk: int, dur_s: float) -> int:
    rng, n = np.random.default_rng(0), 0
    sets = {"trainset_28spk": ["p226", "p227", "p228"], "testset": ["p232"]}
    types = {"trainset_28spk": "kitchen", "testset": "bus"}
    for s, spks in sets.items():
        lines = []
        for spk in spks:
            for i in range(1, per_spk + 1):
                t = np.arange(int(dur_s * 48000)) / 48000
                f0 = rng.uniform(100, 220)
                clean = 0.2 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
                noisy = clean + 0.05 * rng.standard_normal(len(t))
                for kind, x in (("clean", clean), ("noisy", noisy)):
                    p = root / f"{kind}_{s}_wav" / f"{spk}_{i:03d}.wav"
                    p.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(p, x.astype(np.float32), 48000, subtype="PCM_16")
                lines.append(f"{spk}_{i:03d} {types[s]} 10")
                n += 1
        (root / "logfiles").mkdir(exist_ok=True)
        (root / "logfiles" / f"log_{s}.txt").write_text("\n".join(lines) + "\n")
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs-per-speaker", type=int, default=8)
    ap.add_argument("--duration-s", type=float, default=3.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = make_tree(tmp / "VBD", args.pairs_per_speaker, args.duration_s)
        p = copy.deepcopy(load_params(REPO / "profiles" / "vbd.yaml"))
        p["paths"] = {k: str(tmp / k) for k in p["paths"]}
        p["corpus"]["sources"][0]["root"] = str(tmp / "VBD")
        p["corpus"]["speech_split"] = {"valid": ["p226"], "test": []}
        t0 = time.perf_counter()
        build_corpus(p, progress=False)
        t1 = time.perf_counter()
        plan = make_plan(pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet"), p)
        Path(p["paths"]["plan_dir"]).mkdir(parents=True)
        plan.to_parquet(Path(p["paths"]["plan_dir"]) / "plan.parquet", index=False)
        t2 = time.perf_counter()
        render(p, workers=1)
        t3 = time.perf_counter()
    per = {"corpus_s_per_pair": (t1 - t0) / n, "plan_s_per_pair": (t2 - t1) / n, "render_s_per_pair": (t3 - t2) / n}
    scale = VBD_PAIRS * VBD_MEAN_S / args.duration_s
    out = dict(
        machine=f"2-core CPU (shared, loaded): {platform.processor() or platform.machine()}, load avg {os.getloadavg()}",
        implementation={**IMPLEMENTATION, "numpy": version("numpy"), "scipy": version("scipy")},
        pairs=n, duration_s=args.duration_s, orig_sample_rate_hz=48000, render_workers=1, **per,
        estimate_full_vbd_single_process_min={k.replace("_s_per_pair", ""): v * scale / 60 for k, v in per.items()},
        note="estimate = per-pair time x 12,396 pairs x (2.9 s / duration_s); real VBD files add disk I/O; "
             "render parallelises over render.workers processes",
    )
    dst = REPO / "reports" / "benchmarks" / "paired.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmpf = dst.with_suffix(".json.tmp")
    tmpf.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmpf, dst)
    for k, v in per.items():
        print(f"{k:22s} {v * 1000:8.1f} ms")
    print("full VBD (ESTIMATE, 1 process):", {k: f"{v:.0f} min" for k, v in out["estimate_full_vbd_single_process_min"].items()})


if __name__ == "__main__":
    main()
