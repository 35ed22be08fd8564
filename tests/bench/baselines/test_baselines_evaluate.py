import numpy as np
import pytest
from sklearn import metrics as skm

from bench.baselines import evaluate as E


def _data(seed=0, n_mix=20, k=3):
    rng = np.random.default_rng(seed)
    g = np.repeat([f"m{i:03d}" for i in range(n_mix)], rng.integers(5, 40, n_mix))
    y = rng.integers(0, k, len(g))
    yp = np.where(rng.random(len(g)) < 0.7, y, rng.integers(0, k, len(g)))
    return g, y, yp


def test_classification_point_values_match_sklearn():
    g, y, yp = _data()
    m = E.classification_metrics(y, yp, g, 3, n_boot=200, seed=0)
    assert m["acc"]["value"] == pytest.approx(skm.accuracy_score(y, yp))
    assert m["bal_acc"]["value"] == pytest.approx(skm.balanced_accuracy_score(y, yp))
    assert m["macro_f1"]["value"] == pytest.approx(skm.f1_score(y, yp, labels=np.unique(y), average="macro"))
    for v in m.values():
        assert v["ci95_low"] <= v["value"] <= v["ci95_high"]
    yb, ypb = (y > 0).astype(int), (yp > 0).astype(int)
    mb = E.classification_metrics(yb, ypb, g, 2, n_boot=50)
    assert mb["f1"]["value"] == pytest.approx(skm.f1_score(yb, ypb))


def test_regression_and_f0_match_sklearn():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(15).astype(str), 30)
    y = rng.uniform(80, 300, len(g))
    p = y * np.exp(rng.normal(0, 0.05, len(g)))
    p[:10] *= 2  # octave errors
    m = E.regression_metrics(y, p, g, n_boot=100)
    assert m["r2"]["value"] == pytest.approx(skm.r2_score(y, p))
    assert m["mae_db"]["value"] == pytest.approx(skm.mean_absolute_error(y, p))
    f = E.f0_metrics(y, p, g, n_boot=100)
    assert f["r2_hz"]["value"] == pytest.approx(skm.r2_score(y, p))
    assert f["r2_cents"]["value"] == pytest.approx(skm.r2_score(E.hz_to_cents(y), E.hz_to_cents(p)))
    assert f["mae_cents"]["value"] == pytest.approx(np.mean(np.abs(1200 * np.log2(p / y))))
    assert f["gpe_20pct"]["value"] == pytest.approx(np.mean(np.abs(p - y) / y > 0.2))
    assert f["gpe_20pct"]["value"] >= 10 / len(y)
    assert f["gross_err_50c"]["value"] == pytest.approx(np.mean(np.abs(1200 * np.log2(p / y)) > 50))


def test_bootstrap_is_seeded_and_resamples_mixtures():
    g, y, yp = _data(2)
    a = E.classification_metrics(y, yp, g, 3, n_boot=300, seed=5)
    b = E.classification_metrics(y, yp, g, 3, n_boot=300, seed=5)
    assert a == b
    # one mixture -> every replicate is that mixture -> degenerate CI at the point value
    one = E.classification_metrics(y[g == "m000"], yp[g == "m000"], g[g == "m000"], 3, n_boot=50)
    assert one["acc"]["ci95_low"] == one["acc"]["ci95_high"] == one["acc"]["value"]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="length mismatch"):
        E.regression_metrics(np.ones(3), np.ones(2), np.array(["a"] * 3))
    with pytest.raises(ValueError, match="NaN"):
        E.f0_metrics(np.ones(2) * 100, np.array([100, np.nan]), np.array(["a", "a"]))
