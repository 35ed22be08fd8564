"""Corpus stage cost: indexing + validating the embedded corpus, procedural rendering per generator,
load_audio throughput (16 kHz FLAC, 44.1 kHz -> 16 kHz soxr HQ), and whether two runs are byte-identical.

Usage: python benchmarks/bench_corpus.py [--params params.yaml] [--clips 1]
Writes into a temp dir; writes reports/benchmarks/corpus.json and prints a table. Wall-clock numbers
on a shared 2-core CPU: read them as orders of magnitude.
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
import soundfile as sf

from bench.params import load_params
from bench.report.provenance import cpu_model
from datagen import procedural
from datagen.audio_io import IMPLEMENTATION, load_audio
from datagen.corpus import build_corpus
from datagen.sources import SourceContext, run_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--clips", type=int, default=1, help="procedural clips per generator timed")
    args = ap.parse_args()
    params = load_params(args.params)
    cp = params["corpus"]
    out: dict = {"machine": {"description": "shared 2-core CPU (no GPU)", "cpu": cpu_model(),
                             "cores": os.cpu_count(), "python": platform.python_version()},
                 "implementation": {**IMPLEMENTATION, "numpy": version("numpy"), "datagen": "datagen.corpus"}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ctx = SourceContext(corpus_dir=tmp / "c0", min_duration_s=float(cp.get("min_duration_s", 0.0)),
                            progress=False)
        t = time.perf_counter()
        res = run_source({"type": "embedded"}, ctx)
        dt = time.perf_counter() - t
        audio_s = sum(r["duration_s"] for r in res.rows)
        out["embedded_index"] = {"files": len(res.rows) + len(res.rejects), "audio_s": round(audio_s, 1),
                                 "wall_s": round(dt, 3), "files_per_s": round(len(res.rows) / dt, 1),
                                 "what": "soundfile read + NaN/silence/length checks + sha256 per file"}
        speech = [r["path"] for r in res.rows if r["kind"] == "speech"][:16]
        dur_s = float(cp["procedural"].get("clip_duration_s", 8.0))
        pool = [load_audio(p)[0] for p in speech]
        gens = {}
        for name in sorted(procedural.GENERATORS):
            t = time.perf_counter()
            for k in range(args.clips):
                procedural.make_clip(name, k, dur_s, 16000, speech_pool=pool)
            gens[name] = round((time.perf_counter() - t) / args.clips, 4)
        out["procedural_s_per_clip"] = {"clip_duration_s": dur_s, "speech_pool_utterances": len(pool), **gens}
        # load_audio throughput on 16 kHz FLAC and on 44.1 kHz WAV (resampled with soxr HQ)
        x = np.random.default_rng(0).uniform(-0.5, 0.5, 44100 * 30).astype(np.float32)
        sf.write(tmp / "a44.wav", x, 44100, subtype="PCM_16")
        sf.write(tmp / "a16.flac", x[: 16000 * 30], 16000, subtype="PCM_16")
        for key, f in (("load_audio_16k_flac", "a16.flac"), ("load_audio_44k1_wav_resampled", "a44.wav")):
            t = time.perf_counter()
            for _ in range(5):
                load_audio(tmp / f)
            out[key] = {"audio_s_per_wall_s": round(5 * 30 / (time.perf_counter() - t), 1)}
        # the whole stage, twice into the same dir (as `dvc repro --force` would): time and byte identity
        runs, first = [], {}
        p = copy.deepcopy(params)
        p["paths"]["corpus_dir"] = str(tmp / "run")
        for i in (1, 2):
            t = time.perf_counter()
            s = build_corpus(p, progress=False)
            runs.append(time.perf_counter() - t)
            files = sorted(f for f in (tmp / "run").rglob("*") if f.is_file())
            snap = {f.relative_to(tmp / "run").as_posix(): f.read_bytes() for f in files}
            if i == 1:
                first = snap
        same = {n: first[n] == snap[n] for n in ("manifest.parquet", "rejects.csv", "corpus_summary.json")}
        same["procedural_flac"] = all(first[n] == snap[n] for n in first if n.endswith(".flac"))
        out["stage"] = {"wall_s": [round(r, 2) for r in runs], "rows": s["n_rows"], "rejects": s["n_rejects"],
                        "minutes": s["minutes"], "byte_identical": same, "params": args.params}
    dst = Path("reports/benchmarks/corpus.json")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp_dst = dst.with_name(dst.name + ".tmp")
    tmp_dst.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp_dst, dst)
    print(f"machine: {out['machine']['description']} ({out['machine']['cpu']})")
    e = out["embedded_index"]
    print(f"embedded index: {e['files']} files, {e['audio_s']} s audio in {e['wall_s']} s ({e['files_per_s']} files/s)")
    print(f"procedural, s per {dur_s:g} s clip: " + ", ".join(f"{k} {v}" for k, v in gens.items()))
    print(f"load_audio: 16k FLAC {out['load_audio_16k_flac']['audio_s_per_wall_s']} x real time, "
          f"44.1k WAV + soxr HQ {out['load_audio_44k1_wav_resampled']['audio_s_per_wall_s']} x real time")
    print(f"stage: {out['stage']['wall_s']} s for {out['stage']['rows']} rows; byte-identical: {same}")
    print(f"-> {dst}")


if __name__ == "__main__":
    main()
