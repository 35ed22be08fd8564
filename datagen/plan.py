"""``sebench plan``: sample every random choice of every mixture into one table.

The table (``plan.parquet``) is the dataset's source of truth: ``render`` makes audio from it alone.
Each mixture's choices come from its own RNG seeded by (global seed, mixture id), so a mixture does
not change when other mixtures are added, removed or rendered elsewhere.

Per mixture: one target speaker of the split; 1..k of their utterances placed one after another with
random gaps (placement and source offsets on multiples of the hop, so per-source frame labels map
exactly onto the mixture's frame grid); one noise clip of the split, class drawn uniformly first then
the clip (balanced classes), looped if shorter than the mixture; SNR and target level from continuous
ranges with inclusive bounds; optional shoebox-room reverberation parameters.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from datagen.config import add_params_arg, load_params
from datagen.dataset import SPLITS, write_parquet_atomic
from datagen.errors import SebenchError
from datagen.seeding import item_rng, item_seed, uniform_inclusive


class PlanError(SebenchError, ValueError):
    pass


def _draw_room(rng: np.random.Generator, p: dict) -> dict:
    lo, hi = np.asarray(p["room_dim_m"]["low"], float), np.asarray(p["room_dim_m"]["high"], float)
    room = [uniform_inclusive(rng, a, b) for a, b in zip(lo, hi)]
    margin = 0.5

    def pos():
        return [uniform_inclusive(rng, margin, d - margin) for d in room[:2]] + [uniform_inclusive(rng, 1.0, min(2.0, room[2] - 0.3))]

    src, mic = pos(), pos()
    return dict(rt60_target_s=uniform_inclusive(rng, p["rt60_s"]["low"], p["rt60_s"]["high"]),
                room_dim_m=room, src_pos_m=src, mic_pos_m=mic)


class _Src(NamedTuple):
    source_id: str
    duration_s: float


def split_pools(speech: pd.DataFrame, noise: pd.DataFrame) -> tuple:
    """The look-ups :func:`plan_mixture` draws from, built once per split (filtering the manifest with pandas
    for every mixture cost ~10 ms each): sorted speakers, each speaker's utterances by source id, sorted noise
    classes, each class's clips by source id (as :class:`_Src`)."""
    def by(df: pd.DataFrame, col: str) -> dict[str, list[_Src]]:
        out: dict[str, list[_Src]] = {}
        for r in df.sort_values("source_id").itertuples(index=False):
            out.setdefault(getattr(r, col), []).append(_Src(r.source_id, r.duration_s))
        return out

    return (sorted(speech["speaker"].unique()), by(speech, "speaker"),
            sorted(noise["noise_class"].unique()), by(noise, "noise_class"))


def plan_mixture(mixture_id: str, split: str, speech: pd.DataFrame, noise: pd.DataFrame,
                 params: dict, pools: tuple | None = None) -> dict:
    """All random choices of one mixture. ``speech``/``noise``: manifest rows of this split;
    ``pools``: their :func:`split_pools` (built here when not given)."""
    speakers, by_speaker, classes, by_class = pools if pools is not None else split_pools(speech, noise)
    pp, sr, hop = params["plan"], int(params["frames"]["sample_rate_hz"]), int(params["frames"]["hop_length"])
    seed = item_seed(params["seed"], "mixture", mixture_id)
    rng = np.random.default_rng(seed)
    n = int(round(float(pp["duration_s"]) * sr))

    speaker = speakers[int(rng.integers(len(speakers)))]
    pool = by_speaker[speaker]
    k_lo, k_hi = int(pp["utterances_per_mixture"]["low"]), int(pp["utterances_per_mixture"]["high"])
    k = min(int(rng.integers(k_lo, k_hi, endpoint=True)), len(pool))
    picks = [pool[i] for i in np.sort(rng.choice(len(pool), size=k, replace=False))]
    picks = [picks[i] for i in rng.permutation(k)]

    ids, src_starts, dst_starts, lens = [], [], [], []
    pos = int(round(uniform_inclusive(rng, 0.0, float(pp["gap_s"]["high"])) * sr)) // hop * hop
    for row in picks:
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

    noise_class = classes[int(rng.integers(len(classes)))]
    clips = by_class[noise_class]
    clip = clips[int(rng.integers(len(clips)))]
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


def is_paired(manifest: pd.DataFrame) -> pd.Series:
    """Rows of a paired corpus (VoiceBank+DEMAND, paired folders): ``paired_noisy_path`` set (bool Series)."""
    if "paired_noisy_path" not in manifest.columns:
        return pd.Series(False, index=manifest.index)
    col = manifest["paired_noisy_path"]
    return col.notna() & (col.astype(str) != "")


def make_plan(manifest: pd.DataFrame, params: dict) -> pd.DataFrame:
    manifest = manifest.sort_values("source_id").reset_index(drop=True)
    rows = []
    paired = is_paired(manifest)
    for split in SPLITS:
        # paired corpus (pre-mixed noisy/clean, datagen/paired.py): one mixture per pair, n_mixtures = cap
        if (paired & (manifest["split"] == split)).any():
            from datagen.paired import plan_paired

            rows += plan_paired(manifest[paired & (manifest["split"] == split)], split, params)
            continue
        count = params["plan"]["n_mixtures"].get(split, 0)
        count = int(count) if count is not None else 0
        if count == 0:
            continue
        speech = manifest[(manifest["kind"] == "speech") & (manifest["split"] == split) & ~paired]
        noise = manifest[(manifest["kind"] == "noise") & (manifest["split"] == split)]
        if speech.empty:
            raise PlanError(f"split {split!r} has no speech sources in the manifest (check corpus.speech_split)")
        if noise.empty:
            raise PlanError(f"split {split!r} has no noise sources in the manifest (check corpus.noise_split_fractions)")
        pools = split_pools(speech, noise)
        for i in range(count):
            rows.append(plan_mixture(f"{split}-{i:06d}", split, speech, noise, params, pools))
    return pd.DataFrame(rows).sort_values("mixture_id").reset_index(drop=True)


def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="sebench plan", description=__doc__.split("\n")[0])
    add_params_arg(ap)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    corpus_dir, plan_dir = Path(params["paths"]["corpus_dir"]), Path(params["paths"]["plan_dir"])
    manifest = pd.read_parquet(corpus_dir / "manifest.parquet")
    plan = make_plan(manifest, params)
    write_parquet_atomic(plan, plan_dir / "plan.parquet")
    summary = {s: int((plan["split"] == s).sum()) for s in SPLITS}
    summary["reverb_fraction"] = float(plan["reverb"].mean()) if len(plan) else 0.0
    (plan_dir / "plan_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"plan: {len(plan)} mixtures -> {plan_dir / 'plan.parquet'} {summary}")
    return 0
