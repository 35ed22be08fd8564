"""A small synthetic dataset in the exact on-disk format of ``sebench labels`` (docs/data_formats.md).

For tests of downstream stages (models, scoring, probes, baselines) that must not depend on running
the generator. "Speech" is a harmonic tone in bursts with a known F0 contour (voiced by construction);
noise is class-specific filtered noise, so every label is known exactly.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from datagen.frames import FrameGrid

CLASSES = ["lowpass", "highpass", "hum"]


def _noise(rng, cls: str, n: int, sr: int) -> np.ndarray:
    w = rng.standard_normal(n)
    if cls == "lowpass":
        x = np.convolve(w, np.ones(16) / 16, mode="same")
    elif cls == "highpass":
        x = np.diff(w, prepend=0.0)
    else:
        t = np.arange(n) / sr
        x = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 6)) + 0.05 * w
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-9)


def make_dataset(root: str | Path, n_per_split: dict | None = None, duration_s: float = 2.0,
                 seed: int = 0, grid: FrameGrid = FrameGrid()) -> Path:
    root = Path(root)
    n_per_split = n_per_split or {"train": 8, "valid": 3, "test": 4}
    sr, hop = grid.sample_rate_hz, grid.hop_length
    n = int(duration_s * sr) // hop * hop
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(json.dumps({"noise_classes": CLASSES}))
    for split, count in n_per_split.items():
        rng = np.random.default_rng([seed, ["train", "valid", "test"].index(split)])
        (root / "audio" / split).mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(count):
            mid = f"{split}-{i:06d}"
            nf = grid.n_frames(n)
            # speech: one burst covering frames [a, b)
            a = int(rng.integers(5, nf // 3)); b = int(rng.integers(2 * nf // 3, nf - 5))
            f0_start, f0_end = rng.uniform(100, 250), rng.uniform(100, 250)
            f0_frames = np.zeros(nf, np.float32)
            f0_frames[a:b] = np.linspace(f0_start, f0_end, b - a)
            f0_samples = np.interp(np.arange(n), np.arange(nf) * hop, f0_frames)
            phase = 2 * np.pi * np.cumsum(f0_samples) / sr
            speech = sum(np.sin(k * phase) / k for k in range(1, 8)) * (f0_samples > 0)
            speech = 0.1 * speech / (np.abs(speech).max() + 1e-9)
            cls_id = int(rng.integers(len(CLASSES)))
            snr_db = float(rng.uniform(-5, 20))
            noise = _noise(rng, CLASSES[cls_id], n, sr)
            p_s = np.mean(speech[a * hop:(b - 1) * hop] ** 2)
            noise *= np.sqrt(p_s / 10 ** (snr_db / 10))
            clean_q = np.round(speech * 32767).astype(np.int16)
            noise_q = np.round(np.clip(noise, -0.45, 0.45) * 32767).astype(np.int16)
            noisy_q = (clean_q.astype(np.int32) + noise_q).astype(np.int16)
            for stem, x in (("noisy", noisy_q), ("clean", clean_q), ("noise", noise_q)):
                sf.write(root / "audio" / split / f"{mid}_{stem}.wav", x, sr, subtype="PCM_16")
            vad = np.zeros(nf, np.uint8); vad[a:b] = 1
            ce = (grid.frame_signal(clean_q / 32768.0) ** 2).mean(1) + 1e-10
            ne = (grid.frame_signal(noise_q / 32768.0) ** 2).mean(1) + 1e-10
            rows.append(dict(
                mixture_id=mid, split=split, seed=int(rng.integers(2**31)), duration_s=n / sr, n_samples=n,
                speaker=f"spk{i % 2 if split == 'train' else split}", noise_id=f"{CLASSES[cls_id]}-{i}",
                noise_class=CLASSES[cls_id], noise_class_id=cls_id, snr_db=snr_db, achieved_snr_db=snr_db,
                target_level_dbfs=-25.0, reverb=False,
                noisy_path=f"audio/{split}/{mid}_noisy.wav", clean_path=f"audio/{split}/{mid}_clean.wav",
                noise_path=f"audio/{split}/{mid}_noise.wav", n_frames=nf,
                vad=vad, f0_hz=f0_frames, periodicity=vad.astype(np.float32), voiced=vad.copy(),
                noise_active=np.ones(nf, np.uint8),
                frame_snr_db=np.clip(10 * np.log10(ce / ne), -30, 50).astype(np.float32),
            ))
        pd.DataFrame(rows).to_parquet(root / "metadata" / f"{split}.parquet", index=False)
    return root
