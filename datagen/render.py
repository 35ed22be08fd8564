"""``sebench render``: audio from the plan table only, one independent job per mixture.

Every value comes from the plan row (and the source audio it names), so any shard count (``--shard
k/n``) and worker order gives byte-identical files. Resumable: a mixture is finished when its
``render_meta/<id>.json`` exists (written last); finished mixtures are skipped, unfinished ones redone.
Every file is written under a temporary name and renamed, so no partial file is ever visible.
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from bench.params import add_params_arg, load_params
from datagen.frames import FrameGrid
from datagen.mix import active_sample_mask, mix
from datagen.placement import loop_segment, place_audio, place_frames
from datagen.reverb import measure_rt60_s, reverberate, room_rir
from datagen.vad import vad_from_params

_STATE: dict = {}


def _init(manifest_paths: dict, params: dict) -> None:
    _STATE.clear()
    _STATE.update(paths=manifest_paths, params=params)
    _load.cache_clear()


@lru_cache(maxsize=512)
def _load(source_id: str) -> np.ndarray:
    from datagen.audio_io import load_audio

    sr = int(_STATE["params"]["frames"]["sample_rate_hz"])
    x, _ = load_audio(_STATE["paths"][source_id], target_sr=sr)
    return np.asarray(x, np.float64)


@lru_cache(maxsize=512)
def _source_vad(source_id: str) -> np.ndarray:
    p = _STATE["params"]
    return vad_from_params(_load(source_id), FrameGrid.from_params(p["frames"]), p["labels"]["vad"])


def write_wav_atomic(path: Path, x_int16: np.ndarray, sr: int) -> None:
    tmp = path.with_name(path.name + ".tmp.wav")
    sf.write(tmp, x_int16, sr, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def render_item(row: dict, out_dir: Path) -> dict:
    """Render one plan row into ``out_dir``; returns the realised values (also written as JSON)."""
    p = _STATE["params"]
    if row.get("paired") is True or row.get("paired") is np.True_:  # pre-mixed noisy/clean pair: datagen/paired.py
        from datagen.paired import render_paired

        sid = row["speech_ids"][0]
        return render_paired(row, out_dir, _load(sid), _source_vad(sid), _STATE["paths"][sid], p, row_hash(row, p))
    grid = FrameGrid.from_params(p["frames"])
    sr, hop, n, mid = grid.sample_rate_hz, grid.hop_length, int(row["n_samples"]), row["mixture_id"]
    nf = grid.n_frames(n)
    speech = np.zeros(n)
    vad = np.zeros(nf, np.uint8)
    for sid, s0, d0, ln in zip(row["speech_ids"], row["speech_src_start_samples"],
                               row["speech_dst_start_samples"], row["speech_n_samples"]):
        place_audio(speech, _load(sid), int(s0), int(d0), int(ln))
        place_frames(vad, _source_vad(sid), int(s0), int(d0), int(ln), hop)
    noise = loop_segment(_load(row["noise_id"]), int(row["noise_offset_samples"]), n)

    realised = dict(mixture_id=mid, rt60_measured_s=float("nan"), plan_row_hash=row_hash(row, p))
    target = None
    if row["reverb"]:
        rir = room_rir(row["rt60_target_s"], row["room_dim_m"], row["src_pos_m"], row["mic_pos_m"], sr)
        speech, target = reverberate(speech, rir, float(row["early_ms"]), sr)
        realised["rt60_measured_s"] = measure_rt60_s(rir, sr)
    active = active_sample_mask(vad, n, hop)
    res = mix(speech, noise, active, float(row["snr_db"]), float(row["target_level_dbfs"]), target,
              context=f"mixture {mid}")
    split_dir = out_dir / "audio" / row["split"]
    split_dir.mkdir(parents=True, exist_ok=True)
    stems = {"noisy": res.noisy_q, "clean": res.target_q, "noise": res.noise_q}
    if row["reverb"]:
        stems["speech"] = res.speech_q
    for stem, x in stems.items():
        write_wav_atomic(split_dir / f"{mid}_{stem}.wav", x, sr)
    realised.update(
        speech_gain=res.speech_gain, noise_gain=res.noise_gain, clip_rescale=res.clip_rescale,
        achieved_snr_db=res.achieved_snr_db, achieved_level_dbfs=res.achieved_level_dbfs,
        noisy_path=f"audio/{row['split']}/{mid}_noisy.wav", clean_path=f"audio/{row['split']}/{mid}_clean.wav",
        noise_path=f"audio/{row['split']}/{mid}_noise.wav",
        speech_path=f"audio/{row['split']}/{mid}_{'speech' if row['reverb'] else 'clean'}.wav",
    )
    meta_dir = out_dir / "render_meta"
    meta_dir.mkdir(parents=True, exist_ok=True)
    tmp = meta_dir / f"{mid}.json.tmp"
    tmp.write_text(json.dumps(realised, indent=1, sort_keys=True))
    os.replace(tmp, meta_dir / f"{mid}.json")
    return realised


def row_hash(row: dict, params: dict) -> str:
    """Identity of a mixture's inputs: its plan row + the params that shape its audio."""
    import hashlib

    key = {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in sorted(row.items())}
    key["_params"] = {k: params[k] for k in ("frames",)} | {"vad": params["labels"]["vad"]}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_done(out_dir: Path, row: dict, params: dict) -> bool:
    """Finished iff its meta JSON exists and was rendered from this exact plan row (resume check)."""
    p = out_dir / "render_meta" / f"{row['mixture_id']}.json"
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("plan_row_hash") == row_hash(row, params)
    except json.JSONDecodeError:
        return False


def _job(args) -> str:
    row, out_dir = args
    render_item(row, Path(out_dir))
    return row["mixture_id"]


def parse_shard(s: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in s.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like k/n (e.g. 0/4), got {s!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise argparse.ArgumentTypeError(f"--shard {s!r}: need 0 <= k < n")
    return k, n


def plan_rows(plan: pd.DataFrame) -> list[dict]:
    rows = []
    for r in plan.to_dict("records"):
        for key in ("speech_ids", "speech_src_start_samples", "speech_dst_start_samples", "speech_n_samples",
                    "room_dim_m", "src_pos_m", "mic_pos_m"):
            r[key] = list(r[key]) if r[key] is not None else []
        rows.append(r)
    return rows


def render(params: dict, shard: tuple[int, int] = (0, 1), workers: int = 1, limit: int | None = None) -> dict:
    """Render this shard's unfinished mixtures. Returns counts."""
    paths = params["paths"]
    plan = pd.read_parquet(Path(paths["plan_dir"]) / "plan.parquet").sort_values("mixture_id").reset_index(drop=True)
    manifest = pd.read_parquet(Path(paths["corpus_dir"]) / "manifest.parquet")
    out_dir = Path(paths["dataset_dir"])
    k, n_shards = shard
    rows = [r for i, r in enumerate(plan_rows(plan)) if i % n_shards == k]
    todo = [r for r in rows if not is_done(out_dir, r, params)]
    if limit is not None:
        todo = todo[:limit]
    for stale in list(out_dir.glob("audio/*/*.tmp.wav")) + list(out_dir.glob("render_meta/*.tmp")):
        stale.unlink()  # leftovers of a killed run (never visible under a final name)
    src_paths = dict(zip(manifest["source_id"], manifest["path"]))
    jobs = [(r, str(out_dir)) for r in todo]
    desc = f"render shard {k}/{n_shards}"
    if workers <= 1:
        _init(src_paths, params)
        for j in tqdm(jobs, desc=desc, unit="mix"):
            _job(j)
    else:
        with ProcessPoolExecutor(workers, initializer=_init, initargs=(src_paths, params)) as ex:
            for _ in tqdm(ex.map(_job, jobs, chunksize=4), total=len(jobs), desc=desc, unit="mix"):
                pass
    return dict(shard=f"{k}/{n_shards}", in_shard=len(rows), rendered=len(todo), skipped=len(rows) - len(todo))


def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="sebench render", description=__doc__.split("\n")[0])
    add_params_arg(ap)
    ap.add_argument("--shard", type=parse_shard, default=(0, 1), help="render only shard k of n (k/n)")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: render.workers)")
    ap.add_argument("--limit", type=int, default=None, help="render at most this many (testing)")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    workers = args.workers if args.workers is not None else int(params["render"]["workers"])
    print("render:", render(params, args.shard, workers, args.limit))
    return 0
