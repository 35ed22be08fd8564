"""Tiny- vs full-model CREPE on the shipped tracks: is the default's cheap F0 truth close to the full model?

The default labels F0 with torchcrepe's tiny model (full-model tracks of the 52 min of LibriSpeech cost
~2.2 CPU-h on the 2-core CPU). ``datagen/embedded/f0_cache`` holds both models' tracks of the 120 IVR
prompts; this compares them frame by frame with the labels stage's own voicing rule (periodicity >=
``labels.f0.periodicity_threshold`` under each model): voicing agreement, and on frames both call voiced
the pitch difference in cents (median, p90) and the gross-error rate (> 50 cents, the F0-tracking
convention). Prints the figures and writes ``reports/benchmarks/f0_tiny_vs_full.json``.
Usage: python benchmarks/bench_f0_tiny_vs_full.py
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import soundfile as sf

from datagen.atomic import write_json
from datagen.config import load_params
from datagen.f0 import F0Settings, audio_sha256
from datagen.build_corpus import EMBEDDED_DIR, read_embedded_csv


def main() -> int:
    p = load_params()
    thr = float(p["labels"]["f0"]["periodicity_threshold"])
    keys = {m: F0Settings.from_params(p, model=m).key() for m in ("tiny", "full")}
    agree, both, cents, n_files = [], [], [], 0
    for r in read_embedded_csv(EMBEDDED_DIR):
        if r["kind"] != "speech":
            continue
        x, _ = sf.read(EMBEDDED_DIR / r["path"], dtype="float32")
        h = audio_sha256(x)
        paths = {m: EMBEDDED_DIR / "f0_cache" / f"{h}-{k}.npz" for m, k in keys.items()}
        if not all(q.is_file() for q in paths.values()):
            continue
        t, f = (np.load(paths[m]) for m in ("tiny", "full"))
        vt, vf = t["periodicity"] >= thr, f["periodicity"] >= thr
        agree.append(vt == vf)
        b = vt & vf
        both.append(b.sum())
        cents.append(1200 * np.abs(np.log2(t["f0_hz"][b] / f["f0_hz"][b])))
        n_files += 1
    if not n_files:
        print("no speech file has both tiny and full tracks")
        return 1
    agree, cents = np.concatenate(agree), np.concatenate(cents)
    out = {"what": "torchcrepe tiny vs full on the embedded speech files holding both tracks",
           "n_files": n_files, "n_frames": int(agree.size), "periodicity_threshold": thr,
           "voicing_agreement": float(agree.mean()), "n_frames_both_voiced": int(cents.size),
           "cents_median": float(np.median(cents)), "cents_p90": float(np.percentile(cents, 90)),
           "gross_error_rate_50_cents": float((cents > 50).mean()),
           "machine": platform.processor() or platform.machine()}
    for k, v in out.items():
        print(f"{k:>28}: {v}")
    write_json(Path("reports/benchmarks/f0_tiny_vs_full.json"), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
