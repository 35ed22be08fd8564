"""Shared fixtures for the scoring tests: a small synthetic labels-stage dataset (tests/synth.py)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from datagen.dataset import load_metadata, read_stem
from tests.synth import make_dataset

SR = 16000


@pytest.fixture(scope="session")
def synth_ds(tmp_path_factory):
    """(dataset_dir, test metadata) with 4 test mixtures of 2 s."""
    root = make_dataset(tmp_path_factory.mktemp("score_ds"), {"test": 4}, duration_s=2.0, seed=3)
    return root, load_metadata(root, "test")


@pytest.fixture(scope="session")
def clean_clip(synth_ds):
    """One clean test stem, float64 (n_samples,) at 16 kHz."""
    root, meta = synth_ds
    return read_stem(root, meta.iloc[0], "clean").astype(np.float64)


@pytest.fixture(scope="session")
def write_system():
    """The :func:`_write_system` helper, as a fixture (tests here are not a package)."""
    return _write_system


def _write_system(dirpath, meta, dataset_dir, noise_std: float, seed: int = 0, name_fn=None):
    """A fake enhanced system: clean + white noise of ``noise_std``, one wav per mixture (int16)."""
    dirpath.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for r in meta.itertuples(index=False):
        c = read_stem(dataset_dir, r, "clean")
        y = np.clip(c + noise_std * rng.standard_normal(len(c)), -1, 1)
        name = name_fn(r) if name_fn else f"{r.mixture_id}.wav"
        sf.write(dirpath / name, y, SR, subtype="PCM_16")
    return dirpath
