"""``sebench enhance --level L``: run a trained model over ``params.enhance.splits``.

For level ``L`` (``{models_dir}/{L}/model.pt``), one utterance at a time, full length, eval mode:

* test split: enhanced audio ``{enhanced_dir}/{L}/audio/{mixture_id}.wav`` (int16 PCM, 16 kHz, same
  length as the noisy input);
* every split, gated model: per-frame binary gate masks ``masks_{split}.npz`` (:mod:`bench.masks_io`,
  (n_frames, n_blocks * H), blocks concatenated in order, n_frames checked against the metadata);
* every split, static model (keep 1.0): ``activations_{split}.npz`` instead, float16 inner activations
  at the gated point (post first norm + activation), same layout (:func:`save_activations`);
* ``summary.json``: target and realised keep, dense and dynamic MACs/s (:mod:`bench.macs`, from the
  recorded masks, gate cost included), MAC saving, and a quick PESQ check on the test split
  (``pesq`` 0.0.4, ITU-T P.862.2 wide-band MOS-LQO, 16 kHz) of enhanced and noisy vs clean.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from bench import masks_io
from bench.distributed import resolve_device, DistInfo
from bench.params import load_params
from bench.levels import level_keep, parse_level
from bench.macs import mean_p5_p95
from bench.models.registry import load_checkpoint
from bench.runinfo import cpu_model, versions
from datagen.atomic import write_json
from datagen.audio_io import write_wav_int16
from datagen.dataset import load_metadata, read_stem

PESQ_IMPL = "pesq 0.0.4 (ITU-T P.862.2 reference C code), mode wb, 16 kHz, MOS-LQO"


def save_activations(path: str | Path, acts: dict[str, np.ndarray], block_channels: list[int],
                     hop_length: int, sample_rate_hz: int) -> None:
    """Write ``{mixture_id: (n_frames, C) float}`` as float16 to ``path`` (.npz, compressed, atomic).

    ``__meta__`` as :mod:`bench.masks_io` (block_channels, hop_length, sample_rate_hz) plus ``dtype``.
    """
    path = Path(path)
    c = int(sum(block_channels))
    out = {}
    for mid, a in acts.items():
        a = np.asarray(a)
        if a.ndim != 2 or a.shape[1] != c:
            raise ValueError(f"activations for {mid!r} have shape {a.shape}, expected (n_frames, {c})")
        out[mid] = a.astype(np.float16)
    meta = dict(block_channels=[int(b) for b in block_channels], hop_length=int(hop_length),
                sample_rate_hz=int(sample_rate_hz), dtype="float16",
                what="inner activations at the gated point (post first norm + activation), static model")
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, __meta__=np.array(json.dumps(meta)), **out)
    os.replace(tmp, path)


def load_activations(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """``({mixture_id: float16 (n_frames, C)}, meta)`` from :func:`save_activations`."""
    with np.load(Path(path)) as z:
        meta = json.loads(str(z["__meta__"]))
        return {k: z[k] for k in z.files if k != "__meta__"}, meta


def _pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float | None:
    """PESQ-wb or None when the reference code refuses the pair (e.g. no utterance detected)."""
    from pesq import pesq

    try:
        return float(pesq(sr, ref.astype(np.float64), deg.astype(np.float64), "wb"))
    except Exception:  # pesq raises NoUtterancesError / BufferTooShortError / generic errors: count them
        return None


def timing_path(params: dict, level: str) -> Path:
    """``<enhanced_dir>_timing/<level>.json``: the enhance stage's wall time (not a DVC output)."""
    d = Path(params["paths"]["enhanced_dir"])
    return d.with_name(d.name + "_timing") / f"{level}.json"


@torch.no_grad()
def enhance_level(params: dict, level: str, device_req: str | None = None, progress: bool = True) -> dict:
    """Run level ``level`` over every split of ``params.enhance.splits``; returns the summary dict."""
    from bench.models.registry import DEFAULT_ARCHITECTURE, model_spec

    keep = level_keep(params, level)
    device = resolve_device(device_req or params["train"].get("device", "auto"), DistInfo())
    torch.set_num_threads(int(params["train"].get("num_threads", 1)))
    model_path = Path(params["paths"]["models_dir"]) / level / "model.pt"
    model, cfg, ck = load_checkpoint(model_path, device)
    if abs(float(ck.get("target_keep", keep)) - keep) > 1e-9:
        raise ValueError(f"{model_path}: trained for keep {ck.get('target_keep')}, params say levels.{level}"
                         f" = {keep} (retrain)")
    fr = params["frames"]
    sr, hop = int(fr["sample_rate_hz"]), int(fr["hop_length"])
    if cfg.hop_length != hop:
        raise ValueError(f"{model_path}: model hop {cfg.hop_length} != frames.hop_length {hop}")
    fps = sr / hop
    dataset_dir = Path(params["paths"]["dataset_dir"])
    out_dir = Path(params["paths"]["enhanced_dir"]) / level
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    splits = list(params.get("enhance", {}).get("splits", ["test"]))
    if parse_level(params, level)[1] > 0:   # seed replicates are scored, not probed: test audio only
        splits = [sp for sp in splits if sp == "test"]
    # quick PESQ-wb check of enhanced vs noisy (the score stage does the full, CI-backed scoring)
    pesq_check = bool(params.get("enhance", {}).get("pesq_check", True))
    block_channels = list(model.block_channels)
    M = model_spec(ck.get("architecture", DEFAULT_ARCHITECTURE))   # analytic MACs of this architecture
    dense_pf = M.dense_macs_per_frame(cfg)
    dense_per_s = float(dense_pf["total"]) * sr / cfg.hop_length

    t0 = time.perf_counter()
    per_split, pesq_rows, n_mix, audio_s = {}, [], 0, 0.0
    for split in splits:
        meta = load_metadata(dataset_dir, split)
        records: dict[str, np.ndarray] = {}
        keep_frames, macs_frames = [], []
        for row in tqdm(meta.itertuples(index=False), total=len(meta), desc=f"enhance {level} {split}",
                        disable=not progress, leave=False):
            x = read_stem(dataset_dir, row, "noisy")
            out = model(torch.from_numpy(x).to(device)[None], return_activations=not cfg.gated)
            n_frames = out.spec_mask.shape[-1]
            if n_frames != int(row.n_frames):
                raise ValueError(f"{dataset_dir / row.noisy_path}: model gives {n_frames} frames, metadata "
                                 f"n_frames = {int(row.n_frames)} (frame grid mismatch)")
            if cfg.gated:
                g = out.gates[0].permute(2, 0, 1).bool().cpu().numpy()        # (T, n_blocks, H)
                records[row.mixture_id] = g.reshape(n_frames, -1)
                keep_frames.append(g.mean(axis=2))                           # (T, n_blocks)
                macs_frames.append(np.asarray(M.dynamic_macs_per_frame(cfg, g), np.float64))
            else:
                a = out.activations[0].permute(2, 0, 1).reshape(n_frames, -1)  # (T, n_blocks*H)
                records[row.mixture_id] = a.float().cpu().numpy().astype(np.float16)
            n_mix += 1
            audio_s += len(x) / sr
            if split == "test":
                y = out.enhanced[0].cpu().numpy()
                if len(y) != len(x):
                    raise ValueError(f"{row.mixture_id}: enhanced has {len(y)} samples, noisy {len(x)}")
                write_wav_int16(out_dir / "audio" / f"{row.mixture_id}.wav", y, sr)
                clean = read_stem(dataset_dir, row, "clean") if pesq_check else None
                y_q = np.round(np.clip(y, -1.0, 32767 / 32768) * 32768) / 32768  # score what was written
                if pesq_check:
                    pesq_rows.append((_pesq_wb(clean, y_q, sr), _pesq_wb(clean, x, sr)))
        if cfg.gated:
            masks_io.save_masks(out_dir / f"masks_{split}.npz", records, block_channels, hop, sr)
            kf = np.concatenate(keep_frames)                                   # (frames, n_blocks)
            mf = np.concatenate(macs_frames) * fps / 1e6
            per_split[split] = {"n_mixtures": len(meta), "n_frames": int(len(kf)),
                                "realised_keep": {**mean_p5_p95(kf.mean(1)), "per_block": kf.mean(0).tolist()},
                                "dynamic_mmacs_per_s": mean_p5_p95(mf),
                                "mac_saving": 1.0 - float(mf.mean()) / (dense_per_s / 1e6)}
        else:
            save_activations(out_dir / f"activations_{split}.npz", records, block_channels, hop, sr)
            per_split[split] = {"n_mixtures": len(meta),
                                "n_frames": int(sum(r.shape[0] for r in records.values()))}
    wall_s = time.perf_counter() - t0

    head = per_split.get("test") or next(iter(per_split.values()), {})
    summary = {
        "level": level, "target_keep": keep, "gated": bool(cfg.gated), "model": str(model_path),
        "model_config": cfg.to_dict(), "splits": splits, "block_channels": block_channels,
        "realised_keep": head.get("realised_keep", {"mean": 1.0, "p5": 1.0, "p95": 1.0,
                                                    "per_block": [1.0] * len(block_channels)}),
        "realised_keep_split": "test" if "test" in per_split else splits[0] if splits else None,
        "dense_mmacs_per_s": dense_per_s / 1e6,
        "dense_macs_per_frame": dense_pf,
        "dynamic_mmacs_per_s": head.get("dynamic_mmacs_per_s", {"mean": dense_per_s / 1e6, "p5": dense_per_s / 1e6,
                                                                "p95": dense_per_s / 1e6}),
        "mac_saving": head.get("mac_saving", 0.0),
        "macs_implementation": "bench.macs (analytic; dynamic from recorded masks, gate cost included)",
        "per_split": per_split, "n_mixtures": n_mix, "audio_s": audio_s,
        "device": str(device), "versions": versions(),
    }
    # Wall time lives beside the stage's output, not in it: summary.json stays byte-identical across reruns,
    # so DVC does not rerun scoring because a run took longer.
    write_json(timing_path(params, level), {"level": level, "wall_s": wall_s, "audio_s": audio_s,
                                            "real_time_factor": wall_s / audio_s if audio_s else None,
                                            "device": str(device), "cpu": cpu_model()})
    if pesq_rows:
        enh = np.array([r[0] for r in pesq_rows if r[0] is not None])
        noi = np.array([r[1] for r in pesq_rows if r[1] is not None])
        summary["pesq_check"] = {
            "implementation": PESQ_IMPL, "split": "test", "n": len(pesq_rows),
            "enhanced_mean": float(enh.mean()) if len(enh) else None,
            "noisy_mean": float(noi.mean()) if len(noi) else None,
            "enhanced_failures": int(sum(r[0] is None for r in pesq_rows)),
            "noisy_failures": int(sum(r[1] is None for r in pesq_rows)),
        }
    write_json(out_dir / "summary.json", summary, default=str)
    return summary


def cli(argv: list[str]) -> int:
    from bench import parsers   # options live there, so `sebench enhance --help` needs no torch

    a = parsers.enhance().parse_args(argv)
    params = load_params(a.params)
    try:
        level_keep(params, a.level)
    except (KeyError, ValueError) as e:
        print(f"sebench enhance: {a.params}: {e}", file=sys.stderr)
        return 2
    s = enhance_level(params, a.level, a.device, progress=not a.no_progress)
    print(json.dumps({k: s.get(k) for k in ("level", "n_mixtures", "mac_saving", "pesq_check")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli(sys.argv[1:]))
