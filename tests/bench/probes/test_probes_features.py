import numpy as np
import pandas as pd
import pytest

from bench.probes import features
from bench.tasks import task_frames
from tests.synth import make_dataset
from datagen.dataset import load_metadata


def test_block_columns_and_errors():
    np.testing.assert_array_equal(features.block_columns([2, 3, 1], [1, 2]), [2, 3, 4, 5])
    assert len(features.block_columns([2, 3, 1])) == 6
    with pytest.raises(ValueError, match="block 3"):
        features.block_columns([2, 3, 1], [3])


def test_load_masks_roundtrip_and_frame_check(synth_root, metas):
    masks, bc = features.load_level_masks(synth_root / "enhanced", "keep50", "test", metas["test"])
    assert bc == [16, 16, 16]
    row = metas["test"].iloc[0]
    m = masks[row.mixture_id]
    assert m.dtype == bool and m.shape == (row.n_frames, 48)
    assert np.mean(m[:, 0] == np.asarray(row.vad, bool)) > 0.9  # planted channel (2 % flips)
    bad = metas["test"].copy()
    bad.loc[0, "n_frames"] = int(bad.loc[0, "n_frames"]) + 1
    with pytest.raises(ValueError, match="frame grids differ"):
        features.load_level_masks(synth_root / "enhanced", "keep50", "test", bad)
    with pytest.raises(FileNotFoundError, match="masks_test.npz"):
        features.load_level_masks(synth_root / "enhanced", "nope", "test")


def test_subsample_seeded_and_ordered(metas):
    tf = task_frames(metas["train"], "vad")
    a, b = features.subsample(tf, 100, 4), features.subsample(tf, 100, 4)
    np.testing.assert_array_equal(a.frame, b.frame)
    assert len(a.y) == 100 and not np.array_equal(a.frame, features.subsample(tf, 100, 5).frame)
    # order within a mixture is preserved (gather relies on it)
    for mid in pd.unique(a.mixture_id):
        assert np.all(np.diff(a.frame[a.mixture_id == mid]) > 0)
    assert features.subsample(tf, None, 0) is tf


def test_frame_and_pooled_matrix(synth_root, metas):
    masks, _ = features.load_level_masks(synth_root / "enhanced", "keep50", "valid", metas["valid"])
    tf = task_frames(metas["valid"], "f0")
    x = features.frame_matrix(masks, tf, np.array([0, 5]))
    assert x.shape == (len(tf.y), 2) and x.dtype == np.float32
    pooled = features.pooled_matrix(masks, metas["valid"])
    row = metas["valid"].iloc[2]
    act = np.asarray(row.noise_active, bool)
    np.testing.assert_allclose(pooled[2], masks[row.mixture_id][act].mean(0), rtol=1e-6)


def test_logmel_on_frame_grid(synth_root, metas):
    lm = features.logmel(synth_root / "dataset", metas["test"].iloc[:2])
    for row in metas["test"].iloc[:2].itertuples():
        assert lm[row.mixture_id].shape == (row.n_frames, 64)
        assert np.isfinite(lm[row.mixture_id]).all()


def test_splits_disjoint_on_synth(tmp_path, metas):
    # the fixture dataset: no speaker or noise source of test occurs in train
    features.check_disjoint(metas["train"], metas["test"])
    assert not set(metas["train"]["speaker"]) & set(metas["test"]["speaker"])
    # raw tests/synth.py data reuses noise ids "{class}-{i}" across splits -> must be refused
    ds = make_dataset(tmp_path / "raw", n_per_split={"train": 6, "test": 4}, seed=0)
    tr, te = load_metadata(ds, "train"), load_metadata(ds, "test")
    with pytest.raises(ValueError, match="noise_id"):
        features.check_disjoint(tr, te)
    te2 = te.copy()
    te2["speaker"] = tr["speaker"].iloc[0]
    with pytest.raises(ValueError, match="speaker"):
        features.check_disjoint(tr, te2)
