"""``sebench evaluate``: the trained models (and any external system) enhanced and scored on your own
noisy/clean pairs, in one command, with a leaderboard for that set.

    sebench evaluate --paired-dir ROOT [--level static keep50 ...] [--models-dir data/models]
                     [--system NAME=DIR ...] [--out DIR]

``ROOT`` holds pairs with identical file names in one of two layouts (detected in this order; override
with ``--noisy-subdir/--clean-subdir``): VoiceBank+DEMAND's ``noisy_testset_wav/`` + ``clean_testset_wav/``,
or generic ``noisy/`` + ``clean/``. Files are flat mono ``.wav``; other sample rates are resampled to the
frame grid's rate (soxr HQ, :mod:`datagen.audio_io` for the model input, :mod:`bench.score.runner` for
scoring) and recorded per file in ``pairs.csv``.

Steps: (1) pair and check every file (one-line errors naming the file: wrong layout, unmatched names,
unreadable audio, several channels, clean/noisy lengths that differ by a hop or more); (2) hash the set:
``set_sha256`` = sha256 of the sorted lines ``"<subdir>/<file name>\\t<sha256 of the file's bytes>\\n"``
over every clean and noisy file; (3) enhance every pair with each level's ``model.pt``
(:func:`bench.models.registry.load_checkpoint`, full utterance, eval mode) into ``OUT/enhanced/<level>/<file name>``
(the pair's own name, int16 PCM WAV at 16 kHz), recording gate keep ratios and dynamic MACs on this set;
(4) score ``noisy``, every level and every ``--system`` with the score stage (:func:`bench.score.cli.run`:
same metrics, failure accounting and bootstrap CIs, paired differences vs ``--reference``) into
``OUT/scores/``; (5) write the leaderboard (:func:`bench.report.leaderboard.build`, the report's columns)
as ``OUT/leaderboard.{md,csv,json}`` plus ``metrics.json``, ``pairs.csv`` and ``evaluate.json``, with
provenance whose ``dataset_sha256`` is the set hash.

``OUT`` defaults to ``data/evaluate/<first 12 hex of set_sha256>/``; the DVC-tracked outputs of the
pipeline (``paths.*`` of params: reports/, data/scores, data/enhanced, ...) are never written. No F0,
VAD or probe labels are computed (the probe columns are n/a): evaluation needs none.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from datagen.errors import SebenchError

#: (noisy subdir, clean subdir, layout name), detected in this order
LAYOUTS = (("noisy_testset_wav", "clean_testset_wav", "VoiceBank+DEMAND test set"),
           ("noisy", "clean", "generic paired folders"))
#: the pipeline's DVC-tracked output folders (params ``paths``) that evaluate must never write into
PROTECTED_PATHS = ("corpus_dir", "plan_dir", "dataset_dir", "models_dir", "enhanced_dir", "scores_dir", "probes_dir",
                   "baselines_dir", "reports_dir")
NOISY = "noisy"


class EvaluateError(SebenchError, ValueError):
    """Bad input to ``sebench evaluate`` (the message names the file or folder and the problem)."""


# ------------------------------------------------------------------------------------------------ the pairs
def detect_layout(root: Path, noisy_subdir: str | None = None, clean_subdir: str | None = None) -> tuple[str, str, str]:
    """``(noisy_subdir, clean_subdir, layout name)`` of a paired root; a one-line error when none fits."""
    if not root.is_dir():
        raise EvaluateError(f"--paired-dir {root}: not a directory")
    if noisy_subdir or clean_subdir:
        n, c = noisy_subdir or "noisy", clean_subdir or "clean"
        for d in (n, c):
            if not (root / d).is_dir():
                raise EvaluateError(f"{root / d}: not a directory (--noisy-subdir {n}, --clean-subdir {c})")
        return n, c, "custom"
    for n, c, name in LAYOUTS:
        if (root / n).is_dir() and (root / c).is_dir():
            return n, c, name
    have = sorted(p.name + "/" for p in root.iterdir() if p.is_dir())[:8]
    raise EvaluateError(f"{root}: no paired layout found: expected noisy_testset_wav/ + clean_testset_wav/ "
                        f"(VoiceBank+DEMAND) or noisy/ + clean/ (has {have or 'no folders'}; "
                        "or name them with --noisy-subdir/--clean-subdir)")


def _wavs(d: Path) -> dict[str, Path]:
    from datagen.audio_io import SUPPORTED_EXTENSIONS

    out, other = {}, []
    for p in sorted(d.iterdir()):
        if p.is_file() and p.suffix == ".wav":
            out[p.name] = p
        elif p.is_dir() or p.suffix.lower() in SUPPORTED_EXTENSIONS:
            other.append(p.name + ("/" if p.is_dir() else ""))
    if other:
        raise EvaluateError(f"{d}: {len(other)} entries that are not flat .wav files (e.g. {other[:3]}); "
                            "sebench evaluate reads flat folders of mono .wav pairs")
    return out


def find_pairs(root: Path, noisy_subdir: str, clean_subdir: str) -> pd.DataFrame:
    """One row per pair, sorted by file name: ``mixture_id`` (file stem), ``name``, ``noisy_path``,
    ``clean_path`` (absolute). Names present on one side only are an error."""
    noisy, clean = _wavs(root / noisy_subdir), _wavs(root / clean_subdir)
    only_n, only_c = sorted(set(noisy) - set(clean)), sorted(set(clean) - set(noisy))
    if only_n or only_c:
        raise EvaluateError(f"{root}: unmatched file names: {len(only_n)} only in {noisy_subdir}/ (e.g. {only_n[:3]}), "
                            f"{len(only_c)} only in {clean_subdir}/ (e.g. {only_c[:3]}); every noisy file needs a "
                            "clean file of the same name")
    if not noisy:
        raise EvaluateError(f"{root / noisy_subdir}: no .wav files")
    names = sorted(noisy)
    stems = [Path(n).stem for n in names]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise EvaluateError(f"{root / noisy_subdir}: several files share the stem {dup[0]!r} (.wav and .WAV?)")
    return pd.DataFrame({"mixture_id": stems, "name": names,
                         "noisy_path": [str(noisy[n].resolve()) for n in names],
                         "clean_path": [str(clean[n].resolve()) for n in names]})


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def check_pairs(pairs: pd.DataFrame, sample_rate_hz: int, hop_length: int) -> pd.DataFrame:
    """Read every header and sample once (:func:`datagen.audio_io.scan_audio`), hash the bytes; adds
    ``{clean,noisy}_{sample_rate_hz,n_samples,sha256}``, ``resampled``. Raises naming the file for unreadable
    or multi-channel audio and for a pair whose lengths at ``sample_rate_hz`` differ by ``hop_length`` or more."""
    from datagen.audio_io import AudioInputError, scan_audio

    out = pairs.copy()
    cols: dict[str, list] = {f"{k}_{c}": [] for k in ("clean", "noisy") for c in ("sample_rate_hz", "n_samples", "sha256")}
    for r in out.itertuples(index=False):
        n16 = {}
        for kind in ("clean", "noisy"):
            path = getattr(r, f"{kind}_path")
            try:
                info = scan_audio(path, silence_peak_dbfs=float("-inf"))
            except AudioInputError as e:
                raise EvaluateError(str(e)) from None
            if info.orig_channels != 1:
                raise EvaluateError(f"{path}: {info.orig_channels} channels; sebench evaluate scores mono files")
            cols[f"{kind}_sample_rate_hz"].append(int(info.orig_sample_rate_hz))
            cols[f"{kind}_n_samples"].append(int(info.orig_n_samples))
            cols[f"{kind}_sha256"].append(_sha256(path))
            n16[kind] = round(info.orig_n_samples * sample_rate_hz / info.orig_sample_rate_hz)
        if abs(n16["clean"] - n16["noisy"]) >= hop_length:
            raise EvaluateError(f"{r.noisy_path}: {n16['noisy']} samples at {sample_rate_hz} Hz vs its clean file "
                                f"{r.clean_path}: {n16['clean']} (pairs must have the same length within "
                                f"{hop_length - 1} samples)")
    for k, v in cols.items():
        out[k] = v
    out["resampled"] = (out["clean_sample_rate_hz"] != sample_rate_hz) | (out["noisy_sample_rate_hz"] != sample_rate_hz)
    return out


def set_sha256(pairs: pd.DataFrame, noisy_subdir: str, clean_subdir: str) -> str:
    """sha256 of the sorted lines ``"<subdir>/<name>\\t<sha256 of the file bytes>\\n"`` of all clean and noisy files."""
    lines = sorted([f"{clean_subdir}/{n}\t{s}\n" for n, s in zip(pairs["name"], pairs["clean_sha256"])]
                   + [f"{noisy_subdir}/{n}\t{s}\n" for n, s in zip(pairs["name"], pairs["noisy_sha256"])])
    return hashlib.sha256("".join(lines).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------ enhancement
def select_levels(params: dict, models_dir: Path, levels: list[str] | None) -> dict[str, Path]:
    """``{level: model.pt}``: the requested levels (each must be trained), else every params level with a model."""
    if levels:
        out = {}
        for lv in levels:
            p = models_dir / lv / "model.pt"
            if not p.is_file():
                raise EvaluateError(f"{p}: no trained model for level {lv!r} (run `sebench train --level {lv}` "
                                    "or `dvc repro`, or point --models-dir at your models)")
            out[lv] = p
        return out
    out = {lv: models_dir / lv / "model.pt" for lv in (params.get("levels") or {})}
    out = {lv: p for lv, p in out.items() if p.is_file()}
    if not out:
        raise EvaluateError(f"{models_dir}: no trained model of any params level "
                            f"{sorted(params.get('levels') or {})} (run `dvc repro`, or --models-dir/--level)")
    return out


def enhance_pairs(pairs: pd.DataFrame, models: dict[str, Path], out_dir: Path, sample_rate_hz: int, hop_length: int,
                  device: str = "cpu", progress: bool = True) -> dict[str, dict]:
    """Enhance every pair's noisy file with each model into ``out_dir/<level>/<name>``; returns per level the
    enhance-summary keys the leaderboard reads (target/realised keep, dense/dynamic MACs/s on this set)."""
    import torch
    from tqdm import tqdm

    from bench import macs as M
    from bench.macs import mean_p5_p95
    from bench.models.registry import load_checkpoint
    from datagen.audio_io import write_wav_int16
    from datagen.audio_io import AudioInputError, load_audio

    dev = torch.device(device)
    loaded = {}
    for lv, path in models.items():
        try:
            model, cfg, ck = load_checkpoint(path, dev)
        except (FileNotFoundError, ValueError, RuntimeError) as e:
            raise EvaluateError(f"{path}: cannot load the model ({str(e).splitlines()[0]})") from None
        if cfg.hop_length != hop_length:
            raise EvaluateError(f"{path}: model hop {cfg.hop_length} != frames.hop_length {hop_length} of the params")
        loaded[lv] = (model, cfg, ck, [], [])
        (out_dir / lv).mkdir(parents=True, exist_ok=True)
    fps = sample_rate_hz / hop_length
    with torch.no_grad():
        for r in tqdm(pairs.itertuples(index=False), total=len(pairs), desc=f"enhance ({len(models)} models)",
                      unit="pair", disable=not progress):
            try:
                x, _ = load_audio(r.noisy_path, target_sr=sample_rate_hz, silence_peak_dbfs=float("-inf"))
            except AudioInputError as e:
                raise EvaluateError(str(e)) from None
            xt = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(dev)[None]
            for lv, (model, cfg, _, keep_frames, macs_frames) in loaded.items():
                out = model(xt)
                y = out.enhanced[0].cpu().numpy()
                if len(y) != len(x):
                    raise RuntimeError(f"{models[lv]}: enhanced {len(y)} samples for {len(x)} input samples ({r.name})")
                write_wav_int16(out_dir / lv / r.name, y, sample_rate_hz)
                if cfg.gated:
                    g = out.gates[0].permute(2, 0, 1).bool().cpu().numpy()        # (T, n_blocks, H)
                    keep_frames.append(g.mean(axis=2))
                    macs_frames.append(np.asarray(M.dynamic_macs_per_frame(cfg, g), np.float64))
    summaries = {}
    for lv, (model, cfg, ck, keep_frames, macs_frames) in loaded.items():
        dense = float(M.dense_macs_per_s(cfg, sample_rate_hz=sample_rate_hz)) / 1e6
        s = {"level": lv, "model": str(models[lv]), "target_keep": float(ck.get("target_keep", 1.0)),
             "gated": bool(cfg.gated), "dense_mmacs_per_s": dense, "block_channels": list(model.block_channels),
             "model_config": cfg.to_dict(), "dense_macs_per_frame": M.dense_macs_per_frame(cfg)}
        if cfg.gated:
            kf = np.concatenate(keep_frames)
            mf = np.concatenate(macs_frames) * fps / 1e6
            s.update(realised_keep={**mean_p5_p95(kf.mean(1)), "per_block": kf.mean(0).tolist()},
                     dynamic_mmacs_per_s=mean_p5_p95(mf), mac_saving=1.0 - float(mf.mean()) / dense)
        else:
            s.update(realised_keep={"mean": 1.0, "p5": 1.0, "p95": 1.0, "per_block": [1.0] * len(model.block_channels)},
                     dynamic_mmacs_per_s={"mean": dense, "p5": dense, "p95": dense}, mac_saving=0.0)
        s["n_pairs"] = int(len(pairs))
        summaries[lv] = s
    return summaries


# ------------------------------------------------------------------------------------------------ command
def _inside(path: Path, parent: Path) -> bool:
    path, parent = path.resolve(), parent.resolve()
    return path == parent or parent in path.parents


def resolve_out(args, params: dict, set_hash: str) -> Path:
    out = Path(args.out) if args.out else Path("data/evaluate") / set_hash[:12]
    for key in PROTECTED_PATHS:
        d = (params.get("paths") or {}).get(key)
        if d and (_inside(out, Path(d)) or _inside(Path(d), out)):
            raise EvaluateError(f"--out {out}: overlaps paths.{key} ({d}), a DVC-tracked pipeline output; "
                                "choose another folder (default data/evaluate/<set hash>/)")
    return out


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_parser() -> argparse.ArgumentParser:
    from datagen.config import add_params_arg

    ap = argparse.ArgumentParser(prog="sebench evaluate", description=__doc__.split("\n")[0].strip("`"))
    add_params_arg(ap)
    ap.add_argument("--paired-dir", required=True, type=Path, help="root of the noisy/clean pairs")
    from datagen.cliflags import add_levels_arg

    add_levels_arg(ap, help="levels to evaluate (default: every params level with a model.pt)")
    ap.add_argument("--models-dir", type=Path, help="trained models, <dir>/<level>/model.pt (default paths.models_dir)")
    ap.add_argument("--system", action="append", default=[], metavar="NAME=DIR",
                    help="an external system: folder of enhanced .wav named like the noisy files")
    ap.add_argument("--out", type=Path, help="output folder (default data/evaluate/<set hash prefix>/)")
    ap.add_argument("--noisy-subdir", help="noisy folder under ROOT (default: detected)")
    ap.add_argument("--clean-subdir", help="clean folder under ROOT (default: detected)")
    ap.add_argument("--reference", default="static", help="system of the paired differences (default static)")
    ap.add_argument("--metrics", help="comma list overriding score.metrics")
    ap.add_argument("--workers", type=int, help="scoring processes (default score.workers)")
    ap.add_argument("--bootstrap-n", type=int, help="bootstrap resamples (default score.bootstrap_n)")
    ap.add_argument("--limit", type=int, help="only the first N pairs by file name (quick checks)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="torch device for enhancement")
    return ap


def run(args, params: dict, log=print) -> dict[str, Path]:
    """The whole evaluation (module docstring); returns ``{name: path}`` of what was written."""
    import torch

    from bench.report import leaderboard as L
    from bench.report import provenance as V
    from bench.report.cli import write_leaderboard
    from bench.score import cli as score_cli
    from bench.score.external import parse_system_arg

    t0 = time.perf_counter()
    fr = params["frames"]
    sr, hop = int(fr["sample_rate_hz"]), int(fr["hop_length"])
    root = Path(args.paired_dir)
    noisy_sub, clean_sub, layout = detect_layout(root, args.noisy_subdir, args.clean_subdir)
    pairs = find_pairs(root, noisy_sub, clean_sub)
    if args.limit:
        pairs = pairs.iloc[: int(args.limit)].reset_index(drop=True)
    externals = {}
    for s in args.system:
        try:
            name, d = parse_system_arg(s)
        except ValueError as e:
            raise EvaluateError(str(e)) from None
        if not d.is_dir():
            raise EvaluateError(f"--system {s}: {d} is not a directory")
        externals[name] = d
    models_dir = Path(args.models_dir or (params.get("paths") or {}).get("models_dir", "data/models"))
    models = select_levels(params, models_dir, args.levels)
    clash = sorted((set(externals) & set(models)) | ({NOISY} & (set(externals) | set(models))))
    if clash:
        raise EvaluateError(f"system name(s) {clash} used twice (levels, --system and the implicit 'noisy')")
    log(f"evaluate: {len(pairs)} pairs in {root} ({layout}: {noisy_sub}/, {clean_sub}/); levels {list(models)}"
        + (f"; external {list(externals)}" if externals else ""))
    pairs = check_pairs(pairs, sr, hop)
    digest = set_sha256(pairs, noisy_sub, clean_sub)
    out = resolve_out(args, params, digest)
    n_res = int(pairs["resampled"].sum())
    if n_res:
        log(f"evaluate: {n_res} pair(s) not at {sr} Hz: resampled (soxr HQ), recorded in pairs.csv")
    log(f"evaluate: set sha256 {digest} -> {out}")

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise EvaluateError("--device cuda: no CUDA device available")
    summaries = enhance_pairs(pairs, models, out / "enhanced", sr, hop, device, progress=not args.no_progress)
    for lv, s in summaries.items():
        s["set_sha256"] = digest
        _atomic_text(out / "enhanced" / lv / "summary.json", json.dumps(s, indent=2) + "\n")

    # scoring: the score stage itself (metrics, failure accounting, bootstrap CIs, paired differences)
    argv = ["--paired-dir", str(root), "--clean-subdir", clean_sub, "--noisy-subdir", noisy_sub,
            "--out", str(out / "scores"), "--reference", args.reference]
    for name, d in [*((lv, out / "enhanced" / lv) for lv in models), *externals.items()]:
        argv += ["--system", f"{name}={d}"]
    for flag, v in (("--metrics", args.metrics), ("--workers", args.workers), ("--bootstrap-n", args.bootstrap_n),
                    ("--limit", args.limit)):
        if v:
            argv += [flag, str(v)]
    if args.no_progress:
        argv.append("--no-progress")
    sargs = score_cli.build_parser().parse_args(argv)
    try:
        written = score_cli.run(sargs, params)
    except SebenchError:
        raise
    except (ValueError, FileNotFoundError) as e:   # the score stage's input errors name the file
        raise EvaluateError(str(e).splitlines()[0]) from None

    # leaderboard: the report's columns and notes, with this set's hash as the dataset hash
    scores = pd.read_csv(written["summary"])
    paired = pd.read_csv(written["paired"])
    kw = dict(levels={lv: summaries[lv]["target_keep"] for lv in models}, summaries=summaries, scores=scores,
              paired=paired, probes=None, seed=params.get("seed"))
    fields = {f.name for f in dataclasses.fields(L.Inputs)}
    if "per_utt" in fields:
        kw["per_utt"] = pd.read_parquet(written["per_utterance"])
    if "reference" in fields:
        kw["reference"] = args.reference
    inp = L.Inputs(**{k: v for k, v in kw.items() if k in fields})
    prov = V.collect(params)
    prov["dataset_sha256"] = digest
    prov.update(evaluated_set=str(root.resolve()), set_layout=f"{layout} ({noisy_sub}/, {clean_sub}/)",
                set_pairs=str(len(pairs)), set_resampled_pairs=str(n_res), models_dir=str(models_dir.resolve()),
                **{f"model_sha256_{lv}": _sha256(p) for lv, p in models.items()})
    lb = L.build(inp, prov, reference=args.reference)
    lb["notes"] = [n.replace("not in probes.json (not probed)", "not probed (sebench evaluate computes no labels)")
                   for n in lb["notes"].astype(str)]
    section = "\n".join([
        "## Evaluated set", "",
        f"- root: `{root.resolve()}` ({layout}: `{noisy_sub}/`, `{clean_sub}/`), {len(pairs)} pairs, "
        f"{pairs['noisy_n_samples'].div(pairs['noisy_sample_rate_hz']).sum() / 60:.1f} min of noisy audio",
        f"- set sha256 (sorted `<subdir>/<name>\\t<sha256 of bytes>` lines of every file): `{digest}`",
        f"- {n_res} pair(s) not at {sr} Hz were resampled (soxr HQ); per file: `pairs.csv`",
        f"- models: `{models_dir}` levels {', '.join(models)}; enhanced files keep the pair's names: `enhanced/<level>/`",
        "- realized keep and dynamic MACs are measured on this set; probe columns are n/a: `sebench evaluate` "
        "computes no F0/VAD/probe labels",
        "- per-utterance scores, failures and paired differences: `scores/`", ""])
    files = write_leaderboard(lb, out, V.to_markdown(prov), extra_sections=[section],
                              title=f"Leaderboard on {root.name} (set {digest[:12]})")
    files["json"] = out / "leaderboard.json"
    rows = json.loads(lb.to_json(orient="records"))
    _atomic_text(files["json"], json.dumps({"set": {"root": str(root.resolve()), "layout": layout, "noisy_subdir": noisy_sub,
                                                    "clean_subdir": clean_sub, "n_pairs": int(len(pairs)),
                                                    "set_sha256": digest, "n_resampled_pairs": n_res},
                                            "provenance": prov, "rows": rows}, indent=2) + "\n")
    files["pairs"] = out / "pairs.csv"
    _atomic_text(files["pairs"], pairs.to_csv(index=False))
    files["evaluate"] = out / "evaluate.json"
    _atomic_text(files["evaluate"], json.dumps({
        "command": "sebench evaluate " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["evaluate"] else []),
        "set_sha256": digest, "levels": {lv: str(p) for lv, p in models.items()},
        "systems": {k: str(v) for k, v in externals.items()}, "device": device, "wall_s": time.perf_counter() - t0,
        "scores": {k: str(v) for k, v in written.items()}}, indent=2) + "\n")
    return {**files, **{f"scores_{k}": v for k, v in written.items()}}


def cli(argv: list[str]) -> int:
    from datagen.config import load_params

    args = build_parser().parse_args(argv)
    params = load_params(args.params)
    try:
        files = run(args, params)
    except EvaluateError as e:
        print(f"sebench evaluate: {e}", file=sys.stderr)
        return 2
    lb = pd.read_csv(files["csv"])
    show = [c for c in ("model", "realized_keep", "mac_saving", "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high",
                        "stoi", "si_sdr_db", "n_scored", "n_total") if c in lb]
    with pd.option_context("display.width", 160):
        print(lb[show].to_string(index=False))
    for k in ("md", "csv", "json"):
        print(f"wrote {files[k]}")
    return 0
