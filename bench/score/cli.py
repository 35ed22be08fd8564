"""``sebench score``: per-utterance quality of every system, then aggregates with bootstrap CIs.

Default (pipeline) mode scores the test split of ``paths.dataset_dir`` for the implicit ``noisy``
system and every level in ``params["levels"]`` (``paths.enhanced_dir/<level>/audio/<mixture_id>.wav``),
plus any ``--system NAME=DIR``. ``--paired-dir ROOT`` scores a VoiceBank+DEMAND-style paired folder
dataset instead (its noisy input plus the given ``--system`` folders).

Outputs (default: table under ``paths.scores_dir``, reports under ``paths.reports_dir``; ``--out DIR``
puts everything in DIR): ``per_utterance.parquet``, ``scores_per_utterance.csv``, ``scores_summary.csv``,
``scores_paired.csv``, ``scores_breakdown.csv``, ``scores.json``.

CIs: cluster bootstrap over the source clips named in the split's metadata (``score.bootstrap_clusters``,
default ``speech_ids`` + ``noise_id``; :mod:`bench.score.bootstrap`), seed ``report.bootstrap_seed``;
a paired folder has no metadata and gets the utterance bootstrap.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

from bench.params import add_params_arg, load_params
from bench.score import bootstrap as B
from bench.score.external import (dataset_utterances, external_run_dir, match_system_files, paired_folder,
                                  parse_system_arg)
from bench.score.metrics import METRIC_INFO, expand_metrics
from bench.score.runner import RESAMPLE_METHOD, Task, attach_noisy, score_tasks

NOISY = "noisy"
MAX_CSV_ROWS = 200_000  # the per-utterance CSV is written only when small enough to be useful as a file


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    _atomic_text(path, df.to_csv(index=False, float_format="%.6g"))


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _portable(f: str) -> str:
    """Path relative to the working directory when inside it (committed reports stay machine-independent)."""
    if not f:
        return f
    rel = os.path.relpath(f)
    return f if rel.startswith("..") else rel


def environment() -> dict:
    """Date, git commit, platform, CPU count and versions of the packages behind the numbers."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        commit = ""
    vers = {}
    for p in ("pesq", "pystoi", "speechmos", "onnxruntime", "librosa", "soxr", "numpy", "pandas"):
        try:
            vers[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            vers[p] = "not installed"
    return dict(date_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), git_commit=commit,
                python=platform.python_version(), platform=platform.platform(), cpu_count=os.cpu_count(),
                packages=vers)


def bootstrap_seed(p: dict) -> int:
    """Seed of every bootstrap of the score and report stages: ``report.bootstrap_seed`` (else ``seed``)."""
    rep = p.get("report") or {}
    return int(rep["bootstrap_seed"]) if rep.get("bootstrap_seed") is not None else int(p.get("seed", 0))


def cluster_design(dataset_dir, split: str, utts: pd.DataFrame, columns) -> B.ClusterDesign:
    """Cluster design of the scored utterances from the split's metadata (``score.bootstrap_clusters``:
    metadata columns naming source clips; ``None`` = those of speech_ids, noise_id the metadata has;
    ``[]`` = utterance bootstrap). A column named explicitly but absent is an error."""
    from datagen.dataset import load_metadata

    meta = load_metadata(dataset_dir, split)
    cols = ([c for c in B.CLUSTER_COLUMNS if c in meta.columns] if columns is None
            else [str(c) for c in columns])
    missing = [c for c in cols if c not in meta.columns]
    if missing:
        raise ValueError(f"score.bootstrap_clusters: columns {missing} not in {dataset_dir}/metadata/{split}.parquet "
                         f"(has {sorted(meta.columns)[:30]})")
    meta = meta[meta["mixture_id"].astype(str).isin(set(utts["mixture_id"].astype(str)))]
    return B.design_from_metadata(meta, cols, f"{dataset_dir}/metadata/{split}.parquet")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sebench score", description=__doc__.split("\n")[0])
    add_params_arg(ap)
    ap.add_argument("--out", type=Path, help="write every output into this folder")
    ap.add_argument("--system", action="append", default=[], metavar="NAME=DIR",
                    help="extra system: folder of enhanced .wav named <mixture_id>.wav or like the noisy files")
    ap.add_argument("--paired-dir", type=Path, help="root of a paired folder dataset (VoiceBank+DEMAND layout)")
    ap.add_argument("--clean-subdir", default="clean_testset_wav")
    ap.add_argument("--noisy-subdir", default="noisy_testset_wav")
    ap.add_argument("--no-levels", action="store_true", help="dataset mode: skip the params levels (only noisy + --system)")
    ap.add_argument("--split", default="test", help="dataset split to score (default test)")
    ap.add_argument("--reference", default="static", help="system for the paired differences (default static)")
    ap.add_argument("--metrics", help="comma list overriding score.metrics")
    ap.add_argument("--workers", type=int, help="processes (default score.workers)")
    ap.add_argument("--bootstrap-n", type=int, help="bootstrap resamples (default score.bootstrap_n)")
    ap.add_argument("--limit", type=int, help="score only the first N utterances (quick checks)")
    ap.add_argument("--no-resample", action="store_true", help="a file at another sample rate is an error")
    return ap


def run(args, p: dict) -> dict:
    """Score, aggregate, write; returns ``{name: path}`` of the written files."""
    sp = p.get("score", {}) or {}
    frames = p.get("frames", {}) or {}
    sr, hop = int(frames.get("sample_rate_hz", 16000)), int(frames.get("hop_length", 256))
    metrics = expand_metrics(args.metrics.split(",") if args.metrics else sp.get("metrics", ["pesq_wb", "stoi"]))
    workers = int(args.workers or sp.get("workers", 1))
    n_boot = int(args.bootstrap_n or sp.get("bootstrap_n", 2000))
    seed = bootstrap_seed(p)
    snr_edges = tuple(sp.get("snr_bins_db", B.SNR_EDGES_DB))
    paths = p.get("paths", {}) or {}

    if args.paired_dir:
        utts = paired_folder(args.paired_dir, args.clean_subdir, args.noisy_subdir)
        systems: dict[str, Path] = {}
    else:
        utts = dataset_utterances(paths.get("dataset_dir", "data/dataset"), args.split)
        enh = Path(paths.get("enhanced_dir", "data/enhanced"))
        systems = {} if args.no_levels else {lv: enh / lv for lv in (p.get("levels") or {})}
    external_mode = bool(args.system) and not args.out and not args.paired_dir
    if external_mode and not args.no_levels:   # the levels' scores are tracked outputs: score only the reference
        systems = {k: v for k, v in systems.items() if k == args.reference}
    for s in args.system:
        name, d = parse_system_arg(s)
        if name == NOISY or name in systems:
            raise ValueError(f"--system {s!r}: system name {name!r} is already used")
        systems[name] = d
    if args.limit:
        utts = utts.iloc[: int(args.limit)].reset_index(drop=True)
    if utts.empty:
        raise ValueError("no utterances to score")

    # DNSMOS costs ~0.8 CPU s per audio s (speechmos loops short clips to 16 s, as the reference code does):
    # score.dnsmos_max_utts caps it to the first N utterances by id; the rest are counted as "skipped".
    cap = sp.get("dnsmos_max_utts")
    dns = tuple(m for m in metrics if m.startswith("dnsmos"))
    capped = set(utts["mixture_id"].astype(str).sort_values().iloc[int(cap):]) if cap is not None and dns else set()
    why = f"not scored: score.dnsmos_max_utts={cap} (CPU budget; first {cap} utterances by id are scored)"
    mk = lambda system, mid, ref, est: Task(system, str(mid), ref, est, tuple(metrics), sr, hop, not args.no_resample,
                                            dns if str(mid) in capped else (), why if str(mid) in capped else "")
    tasks = [mk(NOISY, r.mixture_id, r.clean_path, r.noisy_path) for r in utts.itertuples(index=False)]
    for name, d in sorted(systems.items()):
        files = match_system_files(d, utts)
        tasks += [mk(name, r.mixture_id, r.clean_path, files[str(r.mixture_id)]) for r in utts.itertuples(index=False)]

    design = None if args.paired_dir else cluster_design(paths.get("dataset_dir", "data/dataset"), args.split, utts,
                                                         sp.get("bootstrap_clusters"))
    df = attach_noisy(score_tasks(tasks, workers, progress=not args.no_progress), NOISY)
    df["file"] = [_portable(f) for f in df["file"]]
    summary = B.summarize(df, n_boot, seed, METRIC_INFO, design)
    paired = B.paired_vs(df, args.reference, n_boot, seed, design)
    brk = B.breakdown(df, utts, n_boot, seed, snr_edges, design)  # empty for a paired folder (no metadata)

    if args.out:
        out_tab = out_rep = Path(args.out)
    elif external_mode:   # beside, never over, the DVC-tracked outputs; `sebench report` adds these rows
        out_tab = out_rep = external_run_dir(paths, [parse_system_arg(s)[0] for s in args.system])
    else:
        out_tab, out_rep = Path(paths.get("scores_dir", "data/scores")), Path(paths.get("reports_dir", "reports"))
    written = {"per_utterance": out_tab / "per_utterance.parquet", "summary": out_rep / "scores_summary.csv",
               "paired": out_rep / "scores_paired.csv", "breakdown": out_rep / "scores_breakdown.csv",
               "json": out_rep / "scores.json"}
    _atomic_parquet(df, written["per_utterance"])
    if len(df) <= MAX_CSV_ROWS:
        written["per_utterance_csv"] = out_rep / "scores_per_utterance.csv"
        _atomic_csv(df, written["per_utterance_csv"])
    _atomic_csv(summary, written["summary"])
    _atomic_csv(paired, written["paired"])
    _atomic_csv(brk, written["breakdown"])

    num = lambda v: None if pd.isna(v) else float(v)
    js = {"systems": {}, f"paired_vs_{args.reference}": {}, "metrics": {}, "config": {}, "env": environment()}
    for r in summary.itertuples(index=False):
        js["systems"].setdefault(r.system, {})[r.metric] = dict(
            mean=num(r.mean), ci95_low=num(r.ci95_low), ci95_high=num(r.ci95_high), n_scored=r.n_scored,
            n_total=r.n_total, n_failed=r.n_failed, mean_improvement=num(r.mean_improvement))
    for r in paired.itertuples(index=False):
        js[f"paired_vs_{args.reference}"].setdefault(r.system, {})[r.metric] = dict(
            mean_diff=num(r.mean_diff), ci95_low=num(r.ci95_low), ci95_high=num(r.ci95_high), n_paired=r.n_paired)
    finite = lambda v: [x if abs(x) != float("inf") else None for x in v] if isinstance(v, tuple) else v
    js["metrics"] = {m: {k: finite(v) for k, v in METRIC_INFO[m].items()} for m in metrics}
    js["config"] = dict(mode="paired_dir" if args.paired_dir else "dataset",
                        source=str(args.paired_dir or paths.get("dataset_dir")), split=args.split,
                        systems={NOISY: "input mixture", **{k: str(v) for k, v in sorted(systems.items())}},
                        n_utterances=int(len(utts)), metrics=metrics, dnsmos_max_utts=cap, bootstrap_n=n_boot,
                        ci="95 % percentile bootstrap: " + (design.describe() if design is not None else
                                                             f"utterance bootstrap over {len(utts)} utterances"),
                        bootstrap_clusters=design.n_clusters if design is not None else {},
                        seed=seed, workers=workers, reference=args.reference, scoring_sample_rate_hz=sr,
                        resample_method=RESAMPLE_METHOD if not args.no_resample else "disabled",
                        length_tolerance_samples=hop - 1, snr_bins_db=list(snr_edges),
                        n_resampled_files=int((df.drop_duplicates(["system", "mixture_id"])["resample_method"] != "").sum()),
                        n_trimmed_files=int((df.drop_duplicates(["system", "mixture_id"])["trimmed_samples"] != 0).sum()))
    _atomic_text(written["json"], json.dumps(js, indent=2, allow_nan=False, default=str) + "\n")
    return written


def cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    p = load_params(args.params)
    written = run(args, p)
    s = pd.read_csv(written["summary"])
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(s[["system", "metric", "mean", "ci95_low", "ci95_high", "n_scored", "n_total"]].to_string(index=False))
    n_failed, n_skipped = int(s["n_failed"].sum()), int(s.get("n_skipped", pd.Series([0])).sum())
    if n_failed or n_skipped:
        print(f"sebench score: {n_failed} (system, utterance, metric) scores failed, {n_skipped} skipped by "
              f"configuration; reasons in {written['per_utterance']}", file=sys.stderr)
    for k, v in written.items():
        print(f"wrote {v}")
    return 0
