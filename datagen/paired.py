"""Paired (pre-mixed) corpora in the standard pipeline: plan rows and "rendering" of noisy/clean pairs.

VoiceBank+DEMAND and other paired datasets come already mixed, so nothing is drawn: :func:`plan_paired`
makes one plan row per pair (``speech_ids=[utt]``, offsets 0, noise class and SNR from the corpus,
no reverb, ``paired=True``), and :func:`render_paired` turns a pair into the standard stems:

- clean and noisy are read at the frame grid's rate (soxr HQ resampling, :mod:`datagen.audio_io`);
- alignment is checked: lengths equal within ``paired.max_length_diff_s``, the zero-lag normalised
  correlation of clean with noisy >= ``paired.min_corr``, the cross-correlation peak within
  ``paired.max_lag_samples`` of lag 0 (searched over +-``paired.search_lag_s``), and the residual
  ``noisy - clean`` not louder than ``noisy`` by more than ``paired.max_residual_db``; a failure is a
  :class:`PairError` naming both files;
- both are quantised to int16 (one common rescale if either would clip, recorded as ``clip_rescale``)
  and the noise stem is ``noisy_q - clean_q`` in integers, so ``clean + noise == noisy`` exactly;
- the achieved SNR and level use the active-speech definition of :mod:`datagen.mix` with the VAD of the
  clean source (:mod:`datagen.vad`), so they are comparable with generated mixtures.

``noise_id`` of a paired row is ``paired:<noise class>``: each VoiceBank+DEMAND noise type is one
recording, so this is the noise-source identity the probes' split-disjointness check compares.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datagen.mix import INT16_MAX, PEAK_LIMIT, active_sample_mask, int16_power_db
from datagen.seeding import item_seed
from datagen.errors import SebenchError

#: Defaults of the ``paired`` params block (params.yaml / profiles/vbd.yaml).
DEFAULTS = dict(max_length_diff_s=0.01, min_corr=0.1, search_lag_s=0.02, max_lag_samples=1, max_residual_db=0.0)


class PairError(SebenchError, ValueError):
    """A noisy/clean pair that is not aligned (message names both files)."""


def settings(params: dict) -> dict:
    """``params['paired']`` over :data:`DEFAULTS` (unknown keys are an error)."""
    p = dict(params.get("paired") or {})
    unknown = set(p) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"params paired: unknown keys {sorted(unknown)} (known: {sorted(DEFAULTS)})")
    return {**DEFAULTS, **p}


def plan_paired(rows: pd.DataFrame, split: str, params: dict) -> list[dict]:
    """One plan row per paired manifest row of ``split``.

    ``plan.n_mixtures[split]`` caps the count (null or absent = all pairs); a capped subset is the first
    ``cap`` pairs in the order of a seeded hash of their source id (a spread over speakers and noise
    types, independent of file order). Mixture ids ``{split}-{i:06d}`` follow the sorted source ids.
    """
    sr = int(params["frames"]["sample_rate_hz"])
    cap = (params["plan"].get("n_mixtures") or {}).get(split)
    rows = rows.sort_values("source_id")
    if cap is not None and int(cap) < len(rows):
        keys = [item_seed(params["seed"], "paired-cap", sid) for sid in rows["source_id"]]
        rows = rows.iloc[np.sort(np.argsort(keys, kind="stable")[: int(cap)])]
    rv = params["plan"].get("reverb") or {}
    out = []
    for i, r in enumerate(rows.itertuples(index=False)):
        mid = f"{split}-{i:06d}"
        n = int(round(float(r.duration_s) * sr))  # == soxr's output length at sr (round(n_orig * sr / sr_orig))
        snr = float(r.paired_snr_db) if r.paired_snr_db is not None else float("nan")
        out.append(dict(
            mixture_id=mid, split=split, seed=item_seed(params["seed"], "mixture", mid), duration_s=n / sr,
            n_samples=n, speaker=r.speaker, speech_ids=[r.source_id], speech_src_start_samples=[0],
            speech_dst_start_samples=[0], speech_n_samples=[n], noise_id=f"paired:{r.paired_noise_class}",
            noise_class=str(r.paired_noise_class), noise_offset_samples=0, noise_looped=False, snr_db=snr,
            target_level_dbfs=float("nan"), reverb=False, early_ms=float(rv.get("early_ms", 50.0)),
            rt60_target_s=float("nan"), room_dim_m=[], src_pos_m=[], mic_pos_m=[],
            paired=True, paired_noisy_path=str(r.paired_noisy_path)))
    return out


def check_alignment(clean: np.ndarray, noisy: np.ndarray, sr: int, cfg: dict, clean_path: str,
                    noisy_path: str) -> tuple[np.ndarray, dict]:
    """Check a pair (float (n,), (m,)) and return noisy cut/zero-padded to ``len(clean)`` + the measures.

    Raises :class:`PairError` naming both files when the pair is misaligned.
    """
    n, m = len(clean), len(noisy)
    what = f"misaligned pair: noisy {noisy_path} vs clean {clean_path}"
    if abs(m - n) > cfg["max_length_diff_s"] * sr:
        raise PairError(f"{what}: lengths {m} vs {n} samples at {sr} Hz differ by more than "
                        f"{cfg['max_length_diff_s'] * 1000:g} ms")
    noisy = np.pad(noisy[:n], (0, max(0, n - m)))
    ec, ey = float(np.dot(clean, clean)), float(np.dot(noisy, noisy))
    if ec <= 0 or ey <= 0:
        raise PairError(f"{what}: {'clean' if ec <= 0 else 'noisy'} is silent")
    corr0 = float(np.dot(clean, noisy) / np.sqrt(ec * ey))
    # cross-correlation over +-search_lag_s via FFT (scipy.signal.correlate picks the fast method)
    from scipy.signal import correlate

    L = int(round(cfg["search_lag_s"] * sr))
    xc = correlate(noisy, clean, mode="full", method="fft")[n - 1 - L: n + L]
    best_lag = int(np.argmax(xc)) - L
    resid = noisy - clean
    residual_db = float(10 * np.log10(max(float(np.dot(resid, resid)), 1e-20) / ey))
    meas = dict(paired_corr=corr0, paired_lag_samples=best_lag, paired_residual_db=residual_db,
                paired_length_diff_samples=int(m - n))
    problems = []
    if corr0 < cfg["min_corr"]:
        problems.append(f"zero-lag correlation {corr0:.3f} < {cfg['min_corr']}")
    if abs(best_lag) > cfg["max_lag_samples"]:
        problems.append(f"cross-correlation peaks at lag {best_lag} samples ({best_lag / sr * 1000:+.1f} ms), "
                        f"not within +-{cfg['max_lag_samples']}")
    if residual_db > cfg["max_residual_db"]:
        problems.append(f"noisy - clean is {residual_db:+.1f} dB relative to noisy (> {cfg['max_residual_db']:g} dB)")
    if problems:
        raise PairError(f"{what}: " + "; ".join(problems))
    return noisy, meas


def quantise_pair(clean: np.ndarray, noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """int16 clean, noisy, noise (= noisy - clean exactly) and the common rescale (1.0 unless clipping)."""
    peak = float(max(np.max(np.abs(clean)), np.max(np.abs(noisy)), np.max(np.abs(noisy - clean))))
    rescale = min(1.0, PEAK_LIMIT / peak) if peak > 0 else 1.0
    for _ in range(4):  # rounding can push the integer difference one LSB over: shrink a hair and retry
        c = np.round(clean * rescale * INT16_MAX).astype(np.int32)
        y = np.round(noisy * rescale * INT16_MAX).astype(np.int32)
        d = y - c
        if max(np.abs(c).max(), np.abs(y).max(), np.abs(d).max()) <= INT16_MAX:
            break
        rescale *= 0.999
    return c.astype(np.int16), y.astype(np.int16), d.astype(np.int16), float(rescale)


def render_paired(row: dict, out_dir: Path, clean: np.ndarray, clean_vad: np.ndarray, clean_path: str,
                  params: dict, plan_row_hash: str, write_wav_atomic, write_json_atomic) -> dict:
    """Write the stems + ``render_meta/<id>.json`` of one paired plan row; returns the realised values.

    ``clean`` (n,) float at the grid rate and ``clean_vad`` (n_frames,) are the clean source and its VAD
    (loaded/cached by :mod:`datagen.render`). ``write_wav_atomic(path, int16 array, sr)`` and
    ``write_json_atomic(path, obj)`` are the renderer's writers (its owner-tagged temp names keep concurrent
    shards apart); passed in so that this module does not import the renderer.
    """
    from datagen.audio_io import load_audio
    from datagen.frames import FrameGrid

    grid = FrameGrid.from_params(params["frames"])
    sr, mid, n = grid.sample_rate_hz, row["mixture_id"], int(row["n_samples"])
    noisy_path = str(row["paired_noisy_path"])
    if len(clean) != n:
        raise PairError(f"mixture {mid}: clean {clean_path} has {len(clean)} samples at {sr} Hz, plan says {n} "
                        "(re-run `sebench plan`)")
    noisy, info = load_audio(noisy_path, target_sr=sr)
    noisy, meas = check_alignment(np.asarray(clean, np.float64), np.asarray(noisy, np.float64), sr, settings(params),
                                  clean_path, noisy_path)
    c16, y16, d16, rescale = quantise_pair(np.asarray(clean, np.float64), noisy)
    active = active_sample_mask(clean_vad, n, grid.hop_length)
    if not active.any():
        raise PairError(f"mixture {mid}: clean {clean_path} has no speech-active frames; SNR is undefined")
    snr = int16_power_db(c16[active], d16) if np.any(d16) else float("inf")
    level = int16_power_db(c16[active])
    split_dir = out_dir / "audio" / row["split"]
    split_dir.mkdir(parents=True, exist_ok=True)
    for stem, x in (("noisy", y16), ("clean", c16), ("noise", d16)):
        write_wav_atomic(split_dir / f"{mid}_{stem}.wav", x, sr)
    rel = f"audio/{row['split']}/{mid}"
    realised = dict(
        mixture_id=mid, rt60_measured_s=float("nan"), plan_row_hash=plan_row_hash,
        speech_gain=rescale, noise_gain=rescale, clip_rescale=rescale, achieved_snr_db=snr,
        achieved_level_dbfs=level, noisy_path=f"{rel}_noisy.wav", clean_path=f"{rel}_clean.wav",
        noise_path=f"{rel}_noise.wav", speech_path=f"{rel}_clean.wav",
        paired_orig_sample_rate_hz=info.orig_sample_rate_hz, paired_resample_method=info.resample_method or "none",
        **meas)
    meta_dir = out_dir / "render_meta"
    meta_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(meta_dir / f"{mid}.json", realised)   # owner-tagged temp (concurrent shards)
    return realised
