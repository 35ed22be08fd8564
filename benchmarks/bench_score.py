"""Benchmark of the scoring stage: CPU cost of each metric and the speed-up of 2 worker processes vs 1.

Inputs are real speech (the embedded corpus, datagen/embedded/speech; synthetic harmonic bursts from
tests/synth.py when it is absent) cropped to ``--dur-s`` seconds, with seeded white noise at 5 dB SNR
("noisy") and two fake systems (the noise attenuated by 10 and 20 dB). Serial and parallel runs are
interleaved ``--repeats`` times in one process on the same inputs (median wall time reported), after a
warm-up, so both see the same machine load. Writes reports/benchmarks/score.json.

    .venv/bin/python benchmarks/bench_score.py [--n-utts 12] [--dur-s 4] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.score.metrics import METRIC_INFO, compute, expand_metrics  # noqa: E402
from bench.score.runner import Task, load_audio, score_tasks  # noqa: E402

SR = 16000


def make_inputs(tmp: Path, n_utts: int, dur_s: float, seed: int = 0) -> tuple[list[dict], str]:
    """Write ref/noisy/sysA/sysB wavs for ``n_utts`` utterances; returns their paths and the speech source."""
    files = sorted((ROOT / "datagen" / "embedded" / "speech").glob("*.flac"))
    rng = np.random.default_rng(seed)
    n = int(dur_s * SR)
    if files:
        source = "datagen/embedded/speech (real speech)"
        pick = [files[i] for i in rng.choice(len(files), size=n_utts, replace=len(files) < n_utts)]
        clips = [np.resize(sf.read(f, dtype="float64")[0], n) for f in pick]
    else:
        from tests.synth import make_dataset
        from datagen.dataset import load_metadata, read_stem

        source = "tests/synth.py (synthetic harmonic bursts)"
        d = make_dataset(tmp / "synth", {"test": n_utts}, duration_s=dur_s, seed=seed)
        clips = [read_stem(d, r, "clean").astype(np.float64) for _, r in load_metadata(d, "test").iterrows()]
    out = []
    for i, x in enumerate(clips):
        x = x * 10 ** (-25 / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-12)
        w = rng.standard_normal(len(x))
        w *= np.sqrt(np.mean(x ** 2) / np.mean(w ** 2) / 10 ** (5 / 10))
        paths = {}
        for name, sig in (("ref", x), ("noisy", x + w), ("sysA", x + 0.316 * w), ("sysB", x + 0.1 * w)):
            p = tmp / f"{name}_{i:03d}.wav"
            sf.write(p, np.clip(sig, -1, 1), SR, subtype="PCM_16")
            paths[name] = str(p)
        out.append(paths)
    return out, source


def metric_costs(utts: list[dict], metrics: list[str]) -> dict:
    """CPU seconds per hour of scored audio, per metric (single process, after a warm-up call)."""
    sigs = [(load_audio(u["ref"], SR)[0], load_audio(u["sysA"], SR)[0]) for u in utts]
    audio_s = sum(len(e) for _, e in sigs) / SR
    groups = [[m] for m in metrics if not m.startswith("dnsmos")]
    if any(m.startswith("dnsmos") for m in metrics):
        groups.append([m for m in metrics if m.startswith("dnsmos")])   # one model call gives all four
    res = {}
    for g in groups:
        compute(g, *sigs[0], SR)  # warm-up: imports, ONNX session, numba JIT
        t0, w0 = time.process_time(), time.perf_counter()
        for r, e in sigs:
            compute(g, r, e, SR)
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        name = "dnsmos (sig, bak, ovrl, p808)" if len(g) > 1 else g[0]
        res[name] = dict(cpu_s_per_audio_hour=round(cpu / audio_s * 3600, 1), cpu_s=round(cpu, 3),
                         wall_s=round(wall, 3), audio_s=audio_s,
                         implementation=METRIC_INFO[g[0]]["implementation"], version=METRIC_INFO[g[0]]["version"],
                         mode=METRIC_INFO[g[0]]["mode"])
        print(f"{name:30s} {res[name]['cpu_s_per_audio_hour']:9.1f} CPU s / audio hour")
    return res


def speedup(utts: list[dict], metrics: list[str], repeats: int) -> dict:
    tasks = [Task(s, f"u{i:03d}", u["ref"], u[s], tuple(metrics)) for i, u in enumerate(utts)
             for s in ("noisy", "sysA", "sysB")]
    score_tasks(tasks[:2], 1, progress=False)  # warm-up in the parent (forked workers inherit it)
    t = {1: [], 2: []}
    tables = {}
    for _ in range(repeats):
        for w in (1, 2):
            t0 = time.perf_counter()
            tables[w] = score_tasks(tasks, w, progress=False)
            t[w].append(time.perf_counter() - t0)
            print(f"workers={w}: {t[w][-1]:.2f} s")
    identical = tables[1].equals(tables[2])
    max_abs_diff = float(np.nanmax(np.abs(tables[1]["value"].to_numpy(float) - tables[2]["value"].to_numpy(float))))
    med = {w: float(np.median(v)) for w, v in t.items()}
    return dict(n_tasks=len(tasks), metrics=metrics, wall_s={str(k): v for k, v in t.items()},
                median_wall_s={str(k): round(v, 3) for k, v in med.items()},
                speedup_2_vs_1=round(med[1] / med[2], 3), parallel_equals_serial=bool(identical),
                max_abs_value_diff=max_abs_diff)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-utts", type=int, default=12)
    ap.add_argument("--dur-s", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--speedup-metrics", default="pesq_wb,pesq_nb,stoi,estoi,si_sdr",
                    help="metrics for the speed-up runs (DNSMOS is costed separately; add 'dnsmos' for a long run)")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks" / "score.json")
    a = ap.parse_args()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        utts, source = make_inputs(Path(tmp), a.n_utts, a.dur_s)
        costs = metric_costs(utts, expand_metrics(["pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "dnsmos"]))
        sp = speedup(utts, expand_metrics(a.speedup_metrics.split(",")), a.repeats)
    print(f"speed-up 2 workers vs 1: {sp['speedup_2_vs_1']:.2f}x (median of {a.repeats}), "
          f"parallel == serial: {sp['parallel_equals_serial']}")
    res = dict(benchmark="bench_score", machine=f"2-core CPU (os.cpu_count()={os.cpu_count()}), shared, no GPU",
               platform=platform.platform(), python=platform.python_version(),
               load_average_1m_start_end=[round(load0[0], 2), round(os.getloadavg()[0], 2)],
               inputs=dict(speech=source, n_utterances=a.n_utts, duration_s=a.dur_s, snr_db_noisy=5.0),
               metric_cost=costs, parallel=sp,
               command=f"python benchmarks/bench_score.py --n-utts {a.n_utts} --dur-s {a.dur_s} --repeats {a.repeats}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = a.out.with_name(a.out.name + ".tmp")
    tmp_out.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(tmp_out, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
