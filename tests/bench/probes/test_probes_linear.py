import numpy as np
import pytest

from bench.probes import controls, features
from bench.probes.linear import cents_to_hz, fit_probe, hz_to_cents, metrics
from bench.tasks import task_frames

SPL = ("train", "valid", "test")


def _data(synth_root, metas, level, task, cols=None):
    out = {}
    for s in SPL:
        m, _ = features.load_level_masks(synth_root / "enhanced", level, s, metas[s])
        tf = task_frames(metas[s], task)
        out[s] = (features.frame_matrix(m, tf, cols), tf.y)
    return out


def test_planted_vad_recovered_and_random_at_chance(synth_root, metas):
    d = _data(synth_root, metas, "keep50", "vad")
    pr = fit_probe("vad", *d["train"], *d["valid"], [0.01, 1.0])
    m = metrics("vad", d["test"][1], pr.predict(d["test"][0]))
    assert m["acc"] > 0.95 and m["bal_acc"] > 0.95
    r = _data(synth_root, metas, "keep25", "vad")
    pr = fit_probe("vad", *r["train"], *r["valid"], [0.01, 1.0])
    m = metrics("vad", r["test"][1], pr.predict(r["test"][0]))
    assert abs(m["bal_acc"] - 0.5) < 0.1
    maj = metrics("vad", r["test"][1], controls.majority_predict("vad", r["train"][1], len(r["test"][1])))
    assert m["acc"] < maj["acc"] + 0.08  # random masks carry nothing beyond the class prior


def test_planted_f0_snr_noise(synth_root, metas):
    d = _data(synth_root, metas, "keep50", "f0")
    pr = fit_probe("f0", *d["train"], *d["valid"], [1.0, 100.0])
    m = metrics("f0", d["test"][1], pr.predict(d["test"][0]))
    assert m["r2_cents"] > 0.8 and m["r2_hz"] > 0.8 and m["mae_cents"] < 100
    d = _data(synth_root, metas, "keep50", "snr")
    pr = fit_probe("snr", *d["train"], *d["valid"], [1.0, 100.0])
    assert metrics("snr", d["test"][1], pr.predict(d["test"][0]))["r2"] > 0.5
    d = _data(synth_root, metas, "keep50", "noise")
    pr = fit_probe("noise", *d["train"], *d["valid"], [0.1, 1.0])
    assert metrics("noise", d["test"][1], pr.predict(d["test"][0]))["acc"] > 0.9


def test_f0_metrics_by_hand():
    y = np.array([100.0, 200.0, 400.0, 100.0])
    p = np.array([100.0, 200.0 * 2 ** (60 / 1200), 400.0 * 2 ** (-40 / 1200), 130.0])
    m = metrics("f0", y, p)
    assert m["gross_err_50c"] == pytest.approx(0.5)  # 60 c and 454 c are > 50 c; 0 c and 40 c are not
    assert m["gpe_20pct"] == pytest.approx(0.25)     # only 130 vs 100 (30 %) is > 20 % off
    assert m["mae_cents"] == pytest.approx((0 + 60 + 40 + 1200 * np.log2(1.3)) / 4)
    np.testing.assert_allclose(cents_to_hz(hz_to_cents(y)), y)


def test_empty_or_single_class_refused():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="single class"):
        fit_probe("vad", x, np.ones(10, np.uint8), x, np.ones(10, np.uint8), [1.0])
    with pytest.raises(ValueError, match="empty"):
        fit_probe("snr", x[:0], np.zeros(0), x, np.zeros(10), [1.0])


def test_ridge_path_equals_sklearn_ridge():
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    from bench.probes.linear import _ridge_path

    rng = np.random.default_rng(0)
    x = (rng.random((300, 12)) < 0.4).astype(np.float64)
    y = x @ rng.standard_normal(12) + 0.1 * rng.standard_normal(300) + 3.0
    z = StandardScaler().fit_transform(x)
    for a, m in zip([0.1, 10.0, 1e4], _ridge_path(z, y, [0.1, 10.0, 1e4])):
        ref = Ridge(alpha=a).fit(z, y)
        np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(m.predict(z), ref.predict(z), rtol=1e-6, atol=1e-8)
