"""``sebench labels``: frame-level ground truth on the model's frame grid, the dataset metadata and card.

Per clean *source* utterance (computed once, cached; never per mixture): VAD (the ``labels.vad.method``
rule of :mod:`datagen.vad`, on the dry source) and F0 + periodicity (CREPE via torchcrepe, through the F0 cache
of :mod:`datagen.f0`). Per mixture these are placed with the plan's hop-aligned offsets, and the
per-mixture labels are computed from the rendered stems: noise-active mask (noise stem frame energy
within ``noise_active_threshold_db`` of its loudest frames and above -70 dBFS) and frame SNR (speech
component vs noise stem energy per frame, clipped).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from datagen.card import write_card
from datagen.config import add_params_arg, load_params
from datagen.dataset import SPLITS, write_parquet_atomic
from datagen.frames import FrameGrid
from datagen.label_methods import LABEL_PARAM_KEYS, NOISE_ABS_FLOOR_DBFS, label_methods, label_params_hash  # noqa: F401
from datagen.placement import place_frames
from datagen.vad import frame_energy_db, vad_from_params

#: source utterances are labelled in chunks of this much audio (2 h: ~0.5 GB of float32 at 16 kHz)
SOURCE_CHUNK_S = 7200.0


def fast_frame_energy_db(x: np.ndarray, grid: FrameGrid) -> np.ndarray:
    """:func:`datagen.vad.frame_energy_db` bit for bit (tested), without the (n_frames, n_fft) frame matrix.

    With ``n_fft == 2 * hop`` (the project's grid) centred frame ``t`` covers hop-blocks ``t`` and ``t + 1``
    of the signal padded by ``hop`` on the left, and numpy's pairwise summation adds a 512-sample row as
    its two 256-sample halves, so ``(S[t] + S[t + 1]) / n_fft`` with ``S`` the per-block sums of squares
    is the very float the frame matrix gives. Other grids use the reference. ``x`` (n,) -> dBFS (n_frames,).
    """
    hop, win = grid.hop_length, grid.n_fft
    if win != 2 * hop:
        return frame_energy_db(x, grid)
    x = np.asarray(x, np.float64)
    n = grid.n_frames(len(x))
    xp = np.zeros((n + 1) * hop)
    xp[hop:hop + len(x)] = x                       # len(x) < n * hop: zero tail as the reference's padding
    s = np.add.reduce(xp.reshape(n + 1, hop) ** 2, axis=1)
    return 10.0 * np.log10((s[:-1] + s[1:]) / win + 1e-12)


def _read_stem_float64(path: Path) -> np.ndarray:
    """``sf.read(path, dtype="float64")`` bit for bit; 16-bit PCM (every rendered stem) is read as int16 and
    scaled by 2**-15 (exact, as libsndfile does), which is faster than libsndfile's own conversion."""
    with sf.SoundFile(path) as f:
        if f.subtype == "PCM_16":
            return f.read(dtype="int16") / 32768.0
        return f.read(dtype="float64")


def source_labels(manifest: pd.DataFrame, speech_ids: list[str], params: dict, f0_workers: int | None = None,
                  progress: bool = True) -> dict[str, dict]:
    """{source_id: {vad, f0_hz, periodicity}} for every speech source used by the plan.

    Missing CREPE tracks are computed in ``f0_workers`` processes (default: the usable cores, at most 8;
    :meth:`datagen.f0.F0Cache.get_or_compute_many`), with the same values as one process."""
    from datagen.audio_io import load_audio
    import torch

    from datagen.f0 import F0Cache, F0Settings

    grid = FrameGrid.from_params(params["frames"])
    settings = F0Settings.from_params(params)
    cache = F0Cache(device="cuda" if torch.cuda.is_available() else "cpu")
    paths = dict(zip(manifest["source_id"], manifest["path"]))
    sids = sorted(set(speech_ids))
    out = {}
    bar = tqdm(total=len(sids), desc="source labels (VAD, CREPE F0)", unit="utt", disable=not progress)
    i = 0
    while i < len(sids):
        # a chunk of at most SOURCE_CHUNK_S audio-seconds in memory (a large corpus does not fit at once);
        # its cache hits are read, its missing tracks computed together in f0_workers processes (GPU: on device)
        chunk, audio, dur = [], [], 0.0
        while i < len(sids) and (not chunk or dur < SOURCE_CHUNK_S):
            x, _ = load_audio(paths[sids[i]], target_sr=grid.sample_rate_hz)
            chunk.append(sids[i])
            audio.append(x)
            dur += len(x) / grid.sample_rate_hz
            i += 1
        tracks = cache.get_or_compute_many(audio, settings, workers=f0_workers, progress=progress,
                                           desc="source labels: CREPE F0")
        for sid, x, (f0, per) in zip(chunk, audio, tracks):
            vad = vad_from_params(x, grid, params["labels"]["vad"])
            if not (len(f0) == len(per) == len(vad) == grid.n_frames(len(x))):
                raise RuntimeError(f"source {sid}: label lengths {len(f0)}, {len(per)}, {len(vad)} != "
                                   f"{grid.n_frames(len(x))} frames")
            out[sid] = dict(vad=vad, f0_hz=np.asarray(f0, np.float32), periodicity=np.asarray(per, np.float32))
            bar.update()
    bar.close()
    print(f"labels: F0 cache hits {cache.hits}, computed {cache.misses} (torchcrepe {settings.model})")
    return out


def mixture_labels(row: dict, src: dict[str, dict], dataset_dir: Path, params: dict) -> dict:
    grid = FrameGrid.from_params(params["frames"])
    lp = params["labels"]
    hop, n = grid.hop_length, int(row["n_samples"])
    nf = grid.n_frames(n)
    vad = np.zeros(nf, np.uint8)
    f0 = np.zeros(nf, np.float32)
    per = np.zeros(nf, np.float32)
    for sid, s0, d0, ln in zip(row["speech_ids"], row["speech_src_start_samples"],
                               row["speech_dst_start_samples"], row["speech_n_samples"]):
        for out, key in ((vad, "vad"), (f0, "f0_hz"), (per, "periodicity")):
            place_frames(out, src[sid][key], int(s0), int(d0), int(ln), hop)
    f0 = np.where(vad > 0, f0, 0.0).astype(np.float32)
    per = np.where(vad > 0, per, 0.0).astype(np.float32)
    voiced = ((vad > 0) & (per >= float(lp["f0"]["periodicity_threshold"]))).astype(np.uint8)

    speech = _read_stem_float64(dataset_dir / row["speech_path"])
    noise = _read_stem_float64(dataset_dir / row["noise_path"])
    if len(speech) != n or len(noise) != n:
        raise RuntimeError(f"mixture {row['mixture_id']}: rendered length {len(speech)}/{len(noise)} != plan {n}")
    e_n = fast_frame_energy_db(noise, grid)
    e_s = fast_frame_energy_db(speech, grid)
    noise_active = ((e_n > e_n.max() - float(lp["noise_active_threshold_db"])) &
                    (e_n > NOISE_ABS_FLOOR_DBFS)).astype(np.uint8)
    frame_snr = np.clip(e_s - e_n, float(lp["frame_snr_floor_db"]), float(lp["frame_snr_ceil_db"])).astype(np.float32)
    return dict(n_frames=nf, vad=vad, f0_hz=f0, periodicity=per, voiced=voiced, noise_active=noise_active,
                frame_snr_db=frame_snr)


#: The params sections the labels stage reads (its DVC ``params:``); only these enter its outputs' hash, so
#: an unrelated edit (a probe setting) leaves dataset_info.json and the card byte-identical.
def build_metadata(params: dict, f0_workers: int | None = None, progress: bool = True) -> dict[str, pd.DataFrame]:
    paths = params["paths"]
    dataset_dir = Path(paths["dataset_dir"])
    plan = pd.read_parquet(Path(paths["plan_dir"]) / "plan.parquet").sort_values("mixture_id").reset_index(drop=True)
    manifest = pd.read_parquet(Path(paths["corpus_dir"]) / "manifest.parquet")
    from datagen.render import is_done, plan_rows, source_sha256s

    rows = plan_rows(plan)
    sha = source_sha256s(manifest)
    missing = [r["mixture_id"] for r in rows if not is_done(dataset_dir, r, params, sha)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} planned mixtures are not rendered from the current plan "
                                f"(e.g. {missing[:3]}); run `sebench render`")
    src = source_labels(manifest, [s for r in rows for s in r["speech_ids"]], params, f0_workers, progress)
    # classes of the noise sources, plus those of paired corpora (no noise rows; class from the plan, datagen/paired.py)
    paired_classes = set(plan.loc[plan["paired"].astype(bool), "noise_class"]) if "paired" in plan else set()
    classes = sorted(set(manifest.loc[manifest["kind"] == "noise", "noise_class"]) | paired_classes)
    class_id = {c: i for i, c in enumerate(classes)}
    out_rows = []
    for r in tqdm(rows, desc="mixture labels", unit="mix", disable=not progress):
        realised = json.loads((dataset_dir / "render_meta" / f"{r['mixture_id']}.json").read_text())
        r = {**r, **realised}
        r.update(mixture_labels(r, src, dataset_dir, params))
        r["noise_class_id"] = class_id[r["noise_class"]]
        out_rows.append(r)
    df = pd.DataFrame(out_rows)
    tmp = dataset_dir / "classes.json.tmp"
    tmp.write_text(json.dumps({"noise_classes": classes}, indent=1))
    os.replace(tmp, dataset_dir / "classes.json")
    info = dict(label_methods=label_methods(params), params_hash=label_params_hash(params),
                params_hashed=list(LABEL_PARAM_KEYS), seed=params["seed"])
    tmp = dataset_dir / "dataset_info.json.tmp"
    tmp.write_text(json.dumps(info, indent=1, default=str))
    os.replace(tmp, dataset_dir / "dataset_info.json")
    per_split = {}
    import pyarrow as pa

    schema = pa.Schema.from_pandas(df, preserve_index=False)   # one schema for all splits (HF loads them together)
    for split in SPLITS:
        d = df[df["split"] == split].reset_index(drop=True)
        if len(d):
            write_parquet_atomic(d, dataset_dir / "metadata" / f"{split}.parquet", schema=schema)
            per_split[split] = d
    return per_split


def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="sebench labels", description=__doc__.split("\n")[0])
    add_params_arg(ap)
    ap.add_argument("--f0-workers", type=int, default=None,
                    help="processes for missing CREPE tracks (default: usable cores, at most 8; GPU: 1)")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    per_split = build_metadata(params, args.f0_workers, progress=not args.no_progress)
    write_card(params, per_split)
    print("labels:", {s: len(d) for s, d in per_split.items()})
    return 0
