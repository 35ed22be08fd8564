"""Data-path throughput per stage: corpus, plan, render, labels (F0 cached), in audio-seconds per CPU-second.

Builds a dataset with a profile (default ``tiny``: embedded corpus + procedural noise) but 10 s mixtures
without reverberation (the setting of the synthesizer comparison in issue 17), in a temp dir, calling
each stage's function in this process with one render worker. CPU time of a stage = ``time.process_time``
of this process plus ``resource.getrusage(RUSAGE_CHILDREN)`` user+sys of any child processes. F0 tracks
are looked up once before the labels stage is timed (shipped cache + a temp user cache), so the figure is
"F0 cached". Writes ``reports/benchmarks/labels.json`` and prints a table.

    python benchmarks/bench_labels.py [--profile tiny] [--n-mixtures 200] [--duration-s 10] [--repeats 1]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_s() -> float:
    """CPU seconds (user + sys) of this process and of its finished children."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def timed(fn, *a, **k):
    c0, w0 = cpu_s(), time.perf_counter()
    out = fn(*a, **k)
    return out, cpu_s() - c0, time.perf_counter() - w0


def machine() -> dict:
    from bench.report.provenance import cpu_model

    return dict(cpu=cpu_model(), cores=os.cpu_count(), python=platform.python_version(), load_avg_1min=os.getloadavg()[0])


def f0_cost(a) -> dict:
    """CPU and wall seconds per audio hour of fresh CREPE tracks (tiny / full) of embedded speech, computed by
    ``F0Cache.get_or_compute_many`` with ``--f0-workers`` spawned processes (1 torch thread each) into an empty cache."""
    import soundfile as sf

    from datagen.f0 import F0Cache, F0Settings

    files = sorted((ROOT / "datagen" / "embedded" / "speech").rglob("*.flac"))
    out = {}
    for model, secs in (("tiny", a.f0_tiny_s), ("full", a.f0_full_s)):
        if secs <= 0:
            continue
        xs, tot = [], 0.0
        for f in files:
            x, sr = sf.read(f, dtype="float32")
            xs.append(x)
            tot += len(x) / sr
            if tot >= secs:
                break
        with tempfile.TemporaryDirectory() as d:
            cache = F0Cache(dirs=[d])
            _, c, w = timed(cache.get_or_compute_many, xs, F0Settings(model=model), workers=a.f0_workers, progress=True)
        out[model] = dict(audio_s=tot, n_files=len(xs), workers=a.f0_workers, cpu_s=c, wall_s=w,
                          cpu_s_per_audio_h=c / tot * 3600, wall_s_per_audio_h=w / tot * 3600,
                          note="spawned workers, 1 torch thread each; CPU = this process + children (incl. imports)")
        print(f"CREPE {model}: {tot:.0f} audio-s in {len(xs)} files, {a.f0_workers} workers: {c / tot * 3600 / 60:.1f} "
              f"CPU-min and {w / tot * 3600 / 60:.1f} wall-min per audio hour")
    return out


def write(res: dict, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    t = out.with_name(out.name + ".tmp")
    t.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(t, out)
    print(f"wrote {out}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"), help="base params (default: the repo's)")
    ap.add_argument("--profile", default="tiny", help="profile overlaid on --params ('' for none)")
    ap.add_argument("--n-mixtures", type=int, default=200, help="train mixtures (valid/test: none)")
    ap.add_argument("--duration-s", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=1, help="plan/render/labels repeats (best CPU time kept)")
    ap.add_argument("--keep", help="keep the built dataset in this folder (default: a temp dir, deleted)")
    ap.add_argument("--f0-tiny-s", type=float, default=0.0, help="also time fresh tiny-CREPE tracks of this much speech")
    ap.add_argument("--f0-full-s", type=float, default=0.0, help="also time fresh full-CREPE tracks of this much speech")
    ap.add_argument("--f0-workers", type=int, default=2, help="processes for the fresh CREPE tracks")
    ap.add_argument("--skip-datagen", action="store_true", help="only the F0 timing")
    ap.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "labels.json"))
    a = ap.parse_args()
    if a.skip_datagen:
        res = dict(machine=machine(), f0=f0_cost(a))
        return write(res, Path(a.out))

    import yaml
    from bench.profile import PROFILES_DIR, deep_merge
    from bench.report.provenance import cpu_model
    from datagen.corpus import build_corpus
    from datagen.dataset import write_parquet_atomic
    from datagen.plan import make_plan
    from datagen.render import render

    p = yaml.safe_load(Path(a.params).read_text())
    if a.profile:   # the data-path sections of the profile only (corpus, plan, labels): models are not run here
        overlay = yaml.safe_load((PROFILES_DIR / f"{a.profile}.yaml").read_text()) or {}
        for key in ("corpus", "plan", "labels"):
            p[key] = deep_merge(p[key], overlay.get(key) or {})
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_labels_"))
    os.environ["SEBENCH_CACHE_DIR"] = str(tmp / "cache")   # fresh tracks (if any) never touch the user cache
    p = copy.deepcopy(p)
    p["paths"] = {k: str(tmp / Path(v).name) for k, v in p["paths"].items()}
    p["plan"]["n_mixtures"] = {"train": a.n_mixtures, "valid": 0, "test": 0}
    p["plan"]["duration_s"] = a.duration_s
    p["plan"]["reverb"] = dict(p["plan"].get("reverb") or {}, prob=0.0)
    import torch

    torch.set_num_threads(1)
    res: dict = dict(machine=dict(cpu=cpu_model(), cores=os.cpu_count(), python=platform.python_version(),
                                  load_avg_1min=os.getloadavg()[0]),
                     setting=dict(profile=a.profile or "none", n_mixtures=a.n_mixtures, duration_s=a.duration_s,
                                  reverb=False, render_workers=1, f0="cached (looked up before timing)",
                                  cpu_time="process_time + RUSAGE_CHILDREN user+sys", repeats=a.repeats),
                     stages={})
    try:
        import pandas as pd

        _, c, w = timed(build_corpus, p, progress=False)
        res["stages"]["corpus"] = dict(cpu_s=c, wall_s=w)
        manifest = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
        best: dict[str, dict] = {}
        for rep in range(a.repeats):
            ds = Path(p["paths"]["dataset_dir"])
            if ds.exists():
                shutil.rmtree(ds)

            def plan_stage():
                plan = make_plan(manifest, p)
                write_parquet_atomic(plan, Path(p["paths"]["plan_dir"]) / "plan.parquet")
                return plan

            plan, c, w = timed(plan_stage)
            audio_s = float(plan["duration_s"].sum())
            times = {"plan": (c, w)}
            _, c, w = timed(render, p, workers=1)
            times["render"] = (c, w)
            if rep == 0:  # F0 cached: look every track up (and compute any missing one) before timing labels
                from datagen.labels import source_labels

                from datagen.render import plan_rows
                rows = plan_rows(plan)
                source_labels(manifest, [s for r in rows for s in r["speech_ids"]], p)
            from datagen.card import write_card
            from datagen.labels import build_metadata

            def labels_stage():   # what `sebench labels` runs, on the params dict (no file round trip)
                write_card(p, build_metadata(p, progress=False))

            _, c, w = timed(labels_stage)
            times["labels"] = (c, w)
            for k, (c, w) in times.items():
                if k not in best or c < best[k]["cpu_s"]:
                    best[k] = dict(cpu_s=c, wall_s=w)
        res["stages"].update(best)
        res["audio_s"] = audio_s
        for k, v in res["stages"].items():
            v["audio_s_per_cpu_s"] = audio_s / v["cpu_s"]
        tot = lambda ks: audio_s / sum(res["stages"][k]["cpu_s"] for k in ks)  # noqa: E731
        res["combined"] = {"corpus+plan+render": tot(["corpus", "plan", "render"]),
                           "render+labels": tot(["render", "labels"]),
                           "corpus+plan+render+labels": tot(["corpus", "plan", "render", "labels"])}
        if a.f0_tiny_s > 0 or a.f0_full_s > 0:
            res["f0"] = f0_cost(a)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t = out.with_name(out.name + ".tmp")
    t.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(t, out)
    m = res["machine"]
    print(f"machine: {m['cpu']} ({m['cores']} cores, load {m['load_avg_1min']:.1f}); "
          f"{a.n_mixtures} x {a.duration_s:g} s mixtures = {res['audio_s']:.0f} audio-s, no reverb, profile {a.profile}")
    print(f"{'stage':<28}{'CPU s':>9}{'wall s':>9}{'audio-s / CPU-s':>18}")
    for k, v in res["stages"].items():
        print(f"{k:<28}{v['cpu_s']:9.2f}{v['wall_s']:9.2f}{v['audio_s_per_cpu_s']:18.1f}")
    for k, v in res["combined"].items():
        print(f"{k:<28}{'':18}{v:18.1f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
