import numpy as np
from hypothesis import given, settings, strategies as st

from bench.baselines import features
from datagen.frames import FrameGrid


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=300, max_value=20000))
def test_one_feature_frame_per_label_frame(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    f = features.log_mel(x)
    assert f.shape == (FrameGrid().n_frames(n), features.N_MELS)
    assert np.all(np.isfinite(f))


def test_frame_t_is_centred_on_sample_t_hop():
    """A click at sample t*hop lights up frame t most (centre=True convention of the label grid)."""
    g = FrameGrid()
    x = np.zeros(16000, np.float32)
    x[40 * g.hop_length] = 1.0
    e = features.log_mel(x).mean(1)
    assert int(np.argmax(e)) == 40


def test_frontend_macs_documented_and_positive():
    parts = features.frontend_macs_per_frame()
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    assert parts["mel"] == 257 * 64
    assert 1e6 < features.frontend_macs_per_s() < 2e6
