"""Probe CIs from per-mixture sufficient statistics: equal to sklearn metrics (point and resampled), the
count and log-energy control features."""
from __future__ import annotations

import numpy as np
import pytest

from bench.probes import ci, features
from bench.probes.linear import metrics


def _data(task, rng, n_mix=12, per=30):
    codes = np.repeat(np.arange(n_mix), per)
    n = len(codes)
    if task == "vad":
        y = rng.integers(0, 2, n)
        p = np.where(rng.random(n) < 0.8, y, 1 - y)
    elif task == "noise":
        y = rng.integers(0, 4, n)
        p = np.where(rng.random(n) < 0.6, y, rng.integers(0, 5, n))   # class 4 only predicted
    elif task == "f0":
        y = rng.uniform(80, 300, n)
        p = y * rng.lognormal(0, 0.15, n)
    else:
        y = rng.normal(10, 5, n)
        p = y + rng.normal(0, 3, n)
    return y, p, codes


@pytest.mark.parametrize("task", ["vad", "noise", "f0", "snr"])
def test_point_and_replicates_equal_sklearn_on_resampled_frames(task):
    rng = np.random.default_rng(0)
    y, p, codes = _data(task, rng)
    ref = metrics(task, y, p)
    pt = ci.point(task, y, p, codes, 12, n_classes=5)
    assert set(pt) == set(ref)
    for k in ref:
        assert pt[k] == pytest.approx(ref[k], abs=1e-9), k
    # integer weights = mixtures drawn with repetition: the replicate equals sklearn on the repeated frames
    w = rng.multinomial(12, np.full(12, 1 / 12), size=3).astype(float)
    reps = ci.replicates(task, y, p, codes, w, n_classes=5)
    for b in range(3):
        idx = np.concatenate([np.flatnonzero(codes == m) for m in range(12) for _ in range(int(w[b, m]))])
        got = metrics(task, y[idx], p[idx])
        for k in ("acc", "r2", "r2_hz", "mae_cents", "bal_acc", "f1"):
            if k in got:
                assert reps[k][b] == pytest.approx(got[k], abs=1e-9), (k, b)
    lo, hi = ci.interval(ci.replicates(task, y, p, codes, rng.multinomial(12, np.full(12, 1 / 12), size=500)
                                       .astype(float), n_classes=5)[list(ref)[0]])
    assert lo <= ref[list(ref)[0]] <= hi


def test_block_counts_and_log_energy(tmp_path):
    m = {"a": np.array([[1, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]], bool)}
    c = features.block_counts(m, [2, 4])
    np.testing.assert_array_equal(c["a"], [[1, 2], [0, 3]])
    np.testing.assert_array_equal(features.block_counts(m, [2, 4], blocks=[1])["a"], [[2], [3]])

    import pandas as pd
    import soundfile as sf
    import torch

    x = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "m_noisy.wav", x, 16000, subtype="FLOAT")
    meta = pd.DataFrame({"mixture_id": ["m"], "noisy_path": ["audio/m_noisy.wav"], "n_frames": [1 + 16000 // 256]})
    e = features.log_energy(tmp_path, meta)["m"]
    assert e.shape == (63, 1)
    st = torch.stft(torch.from_numpy(x).double(), 512, 256, window=torch.hann_window(512, dtype=torch.float64),
                    center=True, return_complex=True)
    power = (st.abs() ** 2).numpy()          # Parseval: sum over the one-sided bins ~ energy of the frame
    full = 2 * power.sum(0) - power[0] - power[-1]
    np.testing.assert_allclose(e[:, 0], np.log(full / 512 + 1e-10), rtol=1e-4)
    with pytest.raises(ValueError, match="metadata says"):
        features.log_energy(tmp_path, meta.assign(n_frames=[10]))
