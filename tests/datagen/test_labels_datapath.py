"""The data path's plan stage at speed: split pools built once give the very plan of the previous per-mixture
pandas filtering (kept here as the reference), byte for byte."""
from __future__ import annotations

import copy
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datagen.plan as P
from datagen.seeding import item_seed, uniform_inclusive

_draw_room = P._draw_room


# ------------------------------------------------------------------ the previous implementation (reference)
def ref_plan_mixture(mixture_id: str, split: str, speech: pd.DataFrame, noise: pd.DataFrame,
                     params: dict, pools=None) -> dict:
    """All random choices of one mixture. ``speech``/``noise``: manifest rows of this split."""
    pp, sr, hop = params["plan"], int(params["frames"]["sample_rate_hz"]), int(params["frames"]["hop_length"])
    seed = item_seed(params["seed"], "mixture", mixture_id)
    rng = np.random.default_rng(seed)
    n = int(round(float(pp["duration_s"]) * sr))

    speakers = sorted(speech["speaker"].unique())
    speaker = speakers[int(rng.integers(len(speakers)))]
    pool = speech[speech["speaker"] == speaker].sort_values("source_id")
    k_lo, k_hi = int(pp["utterances_per_mixture"]["low"]), int(pp["utterances_per_mixture"]["high"])
    k = min(int(rng.integers(k_lo, k_hi, endpoint=True)), len(pool))
    picks = pool.iloc[np.sort(rng.choice(len(pool), size=k, replace=False))]
    picks = picks.iloc[rng.permutation(k)]

    ids, src_starts, dst_starts, lens = [], [], [], []
    pos = int(round(uniform_inclusive(rng, 0.0, float(pp["gap_s"]["high"])) * sr)) // hop * hop
    for row in picks.itertuples(index=False):
        if pos >= n - hop:
            break
        src_len = int(round(row.duration_s * sr))
        take = min(src_len, n - pos)
        src_start = 0
        if take < src_len and not ids:  # first utterance longer than the room left: random hop-aligned excerpt
            src_start = int(rng.integers(0, (src_len - take) // hop + 1)) * hop
        ids.append(row.source_id); src_starts.append(src_start); dst_starts.append(pos); lens.append(take)
        gap = uniform_inclusive(rng, float(pp["gap_s"]["low"]), float(pp["gap_s"]["high"]))
        pos = (pos + take + int(round(gap * sr)) + hop - 1) // hop * hop

    classes = sorted(noise["noise_class"].unique())
    noise_class = classes[int(rng.integers(len(classes)))]
    clips = noise[noise["noise_class"] == noise_class].sort_values("source_id")
    clip = clips.iloc[int(rng.integers(len(clips)))]
    clip_n = int(round(clip.duration_s * sr))
    if clip_n >= n:   # long clip: a random excerpt
        noise_offset = int(rng.integers(0, clip_n - n, endpoint=True))
    else:             # short clip: looped, starting at a random phase
        noise_offset = int(rng.integers(0, clip_n))

    row = dict(
        mixture_id=mixture_id, split=split, seed=seed, duration_s=n / sr, n_samples=n,
        speaker=speaker, speech_ids=ids, speech_src_start_samples=src_starts,
        speech_dst_start_samples=dst_starts, speech_n_samples=lens,
        noise_id=clip.source_id, noise_class=noise_class, noise_offset_samples=noise_offset,
        noise_looped=bool(clip_n < n),
        snr_db=uniform_inclusive(rng, float(pp["snr_db"]["low"]), float(pp["snr_db"]["high"])),
        target_level_dbfs=uniform_inclusive(rng, float(pp["target_level_dbfs"]["low"]),
                                            float(pp["target_level_dbfs"]["high"])),
    )
    rv = pp.get("reverb") or {}
    reverb = bool(rv) and float(rng.random()) < float(rv.get("prob", 0.0))
    room = _draw_room(rng, rv) if reverb else dict(rt60_target_s=float("nan"), room_dim_m=[], src_pos_m=[], mic_pos_m=[])
    row.update(reverb=reverb, early_ms=float(rv.get("early_ms", 50.0)), **room)
    row["paired"] = False
    return row


def _bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.mark.parametrize("seed,k_hi,duration_s", [(0, 2, 2.0), (11, 3, 6.0)])
def test_plan_bytes_equal_the_previous_implementation(tiny_params, monkeypatch, seed, k_hi, duration_s):
    p = copy.deepcopy(tiny_params)
    p["seed"] = seed
    p["plan"]["n_mixtures"] = {"train": 40, "valid": 10, "test": 10}
    p["plan"]["utterances_per_mixture"] = {"low": 1, "high": k_hi}
    p["plan"]["duration_s"] = duration_s
    m = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
    new = P.make_plan(m, p)
    assert new["reverb"].any() and (new["speech_ids"].map(len) > 1).any() and new["noise_looped"].any()
    monkeypatch.setattr(P, "plan_mixture", ref_plan_mixture)
    ref = P.make_plan(m, p)
    assert _bytes(new) == _bytes(ref)
