"""Benchmark of CREPE F0 (torchcrepe tiny / full, Viterbi, hop 256 @ 16 kHz) and of the F0 cache and
procedural noise generators, on this machine (the 2-core shared CPU unless run elsewhere).

Input: the first ``--seconds`` of real speech from the embedded corpus. Reports CPU seconds of compute
per second of audio (real-time factor, RTF), a cache hit's cost, and each procedural generator's RTF.
Writes reports/benchmarks/f0.json.

    .venv/bin/python benchmarks/bench_f0.py [--seconds 2] [--threads 1] [--skip-full]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen import procedural  # noqa: E402
from datagen.f0 import F0Cache, F0Settings, crepe_f0  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-full", action="store_true")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    f = sorted((ROOT / "datagen" / "embedded" / "speech").glob("*.flac"))[0]
    x, sr = sf.read(f, dtype="float32")
    x = x[: int(a.seconds * sr)]
    dur = len(x) / sr
    crepe_f0(x[:2048], sr, 256, model="tiny")  # warm-up: weights, numba JIT of the Viterbi decoder
    res = {"machine": f"{platform.machine()} {os.cpu_count()}-core CPU (shared, load {os.getloadavg()[0]:.1f})",
           "torch": torch.__version__, "torchcrepe": version("torchcrepe"), "threads": a.threads,
           "audio": f"{f.relative_to(ROOT)} first {dur:.2f} s", "crepe": {}, "procedural_rtf": {}}
    for model in ["tiny"] + ([] if a.skip_full else ["full"]):
        t = time.perf_counter()
        crepe_f0(x, sr, 256, model=model, batch_size=256)
        el = time.perf_counter() - t
        res["crepe"][model] = {"wall_s": round(el, 3), "rtf": round(el / dur, 3)}
        print(f"torchcrepe {model:<4} viterbi hop 256: {el:7.2f} s for {dur:.2f} s audio -> RTF {el / dur:.2f}")
    with tempfile.TemporaryDirectory() as d:
        cache = F0Cache(dirs=[d])
        s = F0Settings(model="tiny")
        cache.get_or_compute(x, s)
        t = time.perf_counter()
        cache.get_or_compute(x, s)
        hit = time.perf_counter() - t
    res["cache_hit_s"] = round(hit, 5)
    print(f"F0Cache hit (sha256 + npz load): {hit * 1e3:.2f} ms")
    pool = [sf.read(p, dtype="float32")[0] for p in sorted((ROOT / "datagen/embedded/speech").glob("carlo*"))[:8]]
    for name in sorted(procedural.GENERATORS):
        t = time.perf_counter()
        procedural.make_clip(name, 0, 8.0, speech_pool=pool)
        el = time.perf_counter() - t
        res["procedural_rtf"][name] = round(el / 8.0, 4)
        print(f"procedural {name:<14} RTF {el / 8.0:.4f}")
    out = ROOT / "reports" / "benchmarks" / "f0.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
