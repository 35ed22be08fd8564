import numpy as np
import pytest
from sklearn.metrics import log_loss

from bench.probes import features
from bench.probes.linear import fit_probe, target
from bench.probes.selection import choose_c_star, rank_channels, resolve_grid
from bench.tasks import task_frames


def _train(synth_root, metas, task, level="keep50", split="train"):
    m, _ = features.load_level_masks(synth_root / "enhanced", level, split, metas[split])
    tf = task_frames(metas[split], task)
    return features.frame_matrix(m, tf), tf.y


def test_ranking_finds_planted_channels(synth_root, metas):
    x, y = _train(synth_root, metas, "vad")
    order, f = rank_channels("vad", x, y)
    assert order[0] == 0 and f[0] == f.max()
    x, y = _train(synth_root, metas, "f0")
    order, _ = rank_channels("f0", x, y)
    assert len(set(order[:6]) & set(range(4, 12))) >= 4  # mostly F0 thermometer channels
    # a constant channel scores 0 and ties are broken by index
    x2 = np.concatenate([x, np.ones((len(x), 1), np.float32)], 1)
    o2, f2 = rank_channels("f0", x2, y)
    assert f2[-1] == 0.0 and o2[-1] == x2.shape[1] - 1  # last: F = 0 and the highest index


def test_resolve_grid_and_c_star_rule():
    assert resolve_grid([8, 16, 64, "all"], 48) == [8, 16, 48]
    assert resolve_grid([512], 48) == [48]
    with pytest.raises(ValueError):
        resolve_grid(["most"], 48)
    assert choose_c_star([8, 16, 32, 64], [0.80, 0.905, 0.91, 0.912], 0.01) == 16
    assert choose_c_star([8, 16, 32], [0.95, 0.90, 0.94], 0.01) == 8
    with pytest.raises(ValueError):
        choose_c_star([8], [], 0.01)


def _ridge_objective(pr, x, y, task):
    z = pr.scaler.transform(x)
    r = target(task, y) - z @ pr.model.coef_ - pr.model.intercept_
    return float(r @ r + pr.reg * pr.model.coef_ @ pr.model.coef_)


def _logistic_objective(pr, x, y):
    z = pr.scaler.transform(x)
    p = pr.model.predict_proba(z)
    w = pr.model.coef_.ravel()
    return float(pr.reg * log_loss(y, p, normalize=False) + 0.5 * w @ w)


def test_train_fit_monotone_over_nested_sets(synth_root, metas):
    """Nested top-k sets: the penalised training objective (fixed strength) can only decrease with k."""
    for task in ("snr", "f0"):
        x, y = _train(synth_root, metas, task)
        xv, yv = _train(synth_root, metas, task, split="valid")
        order, _ = rank_channels(task, x, y)
        objs, r2s = [], []
        for k in (1, 2, 4, 8, 16, 32, 48):
            c = order[:k]
            pr = fit_probe(task, x[:, c], y, xv[:, c], yv, [10.0])
            objs.append(_ridge_objective(pr, x[:, c], y, task))
            ols = fit_probe(task, x[:, c], y, xv[:, c], yv, [1e-9])
            t = target(task, y)
            pred = ols.scaler.transform(x[:, c]) @ ols.model.coef_ + ols.model.intercept_
            r2s.append(1 - np.sum((t - pred) ** 2) / np.sum((t - t.mean()) ** 2))
        assert np.all(np.diff(objs) <= 1e-6 * objs[0]), objs
        assert np.all(np.diff(r2s) >= -1e-9), r2s
    x, y = _train(synth_root, metas, "vad", level="keep25")
    xv, yv = _train(synth_root, metas, "vad", level="keep25", split="valid")
    order, _ = rank_channels("vad", x, y)
    objs = []
    for k in (1, 4, 16, 48):
        c = order[:k]
        pr = fit_probe("vad", x[:, c], y, xv[:, c], yv, [0.1], max_iter=2000)
        objs.append(_logistic_objective(pr, x[:, c], y))
    assert np.all(np.diff(objs) <= 1e-4 * objs[0]), objs
