"""Fixtures for the probe tests: the synthetic labels-stage dataset of tests/synth.py with planted masks."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.masks_io import save_masks
from datagen.dataset import load_metadata
from tests.synth import make_dataset

BLOCKS = [16, 16, 16]  # C = 48
SPLITS = ("train", "valid", "test")


def planted_mask(row, rng, flip: float = 0.0) -> np.ndarray:
    """bool (n_frames, 48): ch0 = vad, ch1-3 one-hot noise class, ch4-11 F0 thermometer (cents), ch12-19 SNR
    thermometer, ch20-47 Bernoulli(0.3) noise; ``flip`` = probability of flipping each planted bit."""
    n = int(row.n_frames)
    m = rng.random((n, sum(BLOCKS))) < 0.3
    vad = np.asarray(row.vad, bool)
    m[:, 0] = vad
    m[:, 1:4] = False
    m[np.asarray(row.noise_active, bool), 1 + int(row.noise_class_id)] = True
    f0 = np.asarray(row.f0_hz, np.float64)
    cents = 1200 * np.log2(np.maximum(f0, 1e-3) / 10)
    for j, c in enumerate(np.linspace(1200 * np.log2(100 / 10), 1200 * np.log2(250 / 10), 8)):
        m[:, 4 + j] = (cents > c) & (f0 > 0)
    snr = np.asarray(row.frame_snr_db, np.float64)
    for j, s in enumerate(np.linspace(-20, 40, 8)):
        m[:, 12 + j] = snr > s
    if flip:
        f = rng.random((n, 20)) < flip
        m[:, :20] ^= f
    return m


def write_level(root, enhanced, level, metas, kind: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    (enhanced / level).mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        masks = {}
        for row in metas[s].itertuples(index=False):
            if kind == "planted":
                masks[row.mixture_id] = planted_mask(row, rng, flip=0.02)
            else:
                masks[row.mixture_id] = rng.random((int(row.n_frames), sum(BLOCKS))) < 0.3
        save_masks(enhanced / level / f"masks_{s}.npz", masks, BLOCKS, 256, 16000)
    (enhanced / level / "summary.json").write_text(json.dumps(
        {"target_keep": 0.5, "dense_macs_per_s": 62.5 * 10000.0, "dynamic_macs_per_s": 62.5 * 5000.0}))


def write_static(enhanced, metas, seed: int = 1):
    rng = np.random.default_rng(seed)
    (enhanced / "static").mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        acts = {}
        for row in metas[s].itertuples(index=False):
            a = rng.standard_normal((int(row.n_frames), sum(BLOCKS)))
            a[:, 0] += 6 * np.asarray(row.vad, np.float64)
            acts[row.mixture_id] = a.astype(np.float16)
        np.savez_compressed(enhanced / "static" / f"activations_{s}.npz",
                            __meta__=np.array(json.dumps({"block_channels": BLOCKS})), **acts)


def make_disjoint(root):
    """tests/synth.py reuses noise ids across splits ("{class}-{i}"); make them split-specific."""
    for s in SPLITS:
        p = root / "metadata" / f"{s}.parquet"
        df = pd.read_parquet(p)
        df["noise_id"] = s + "/" + df["noise_id"].astype(str)
        df.to_parquet(p, index=False)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe_synth")
    ds = make_dataset(root / "dataset", n_per_split={"train": 16, "valid": 6, "test": 9}, duration_s=2.0, seed=3)
    make_disjoint(ds)
    metas = {s: load_metadata(ds, s) for s in SPLITS}
    enhanced = root / "enhanced"
    write_level(root, enhanced, "keep50", metas, "planted")
    write_level(root, enhanced, "keep25", metas, "random", seed=5)
    write_static(enhanced, metas)
    return root


@pytest.fixture(scope="session")
def metas(synth_root):
    return {s: load_metadata(synth_root / "dataset", s) for s in SPLITS}
