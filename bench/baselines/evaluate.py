"""Task metrics with 95 % bootstrap CIs over test mixtures (resampling whole mixtures, seeded).

Every metric is a function of per-mixture sufficient statistics (a confusion matrix for classes;
sums for regression), so one bootstrap replicate is a weighted sum of those statistics with the
multiplicities of the resampled mixtures -- exact and fast. Point values use every mixture once.
Metric definitions (hand-written because sklearn has no weighted-mixture bootstrap; they match
``sklearn.metrics`` on the point estimate, see the tests):

Names follow the mask probes (:mod:`bench.probes.linear`) so both tables join on (task, metric):

* classes: ``acc``; ``bal_acc`` (mean recall over classes present in y); ``f1`` (binary, positive
  class 1 = speech); ``macro_f1`` (mean F1 over the classes present in y).
* regression: ``r2`` = 1 - SSE / SST (SST around the pooled mean), ``mae_<unit>``.
* F0 (Hz in, metrics in Hz and cents, cents = 1200 log2(f / 10 Hz)): ``r2_hz``, ``mae_hz``,
  ``r2_cents``, ``mae_cents``, ``gpe_20pct`` (gross pitch error rate: share of voiced frames with
  relative error > 20 %), ``gross_err_50c`` (share > 50 cents off, i.e. 1 - raw pitch accuracy).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

GER_REL_THRESHOLD = 0.2
GROSS_CENTS = 50.0
CENTS_REF_HZ = 10.0


def _group_index(groups: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniq = pd.factorize(np.asarray(groups, dtype=object))
    return codes.astype(np.int64), len(uniq)


def _boot_weights(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_groups) multiplicities of each mixture in each bootstrap replicate."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_groups, size=(n_boot, n_groups))
    w = np.zeros((n_boot, n_groups))
    np.add.at(w, (np.repeat(np.arange(n_boot), n_groups), idx.ravel()), 1.0)
    return w


def _summarise(point: dict, boot: dict) -> dict:
    out = {}
    for k, v in point.items():
        b = np.asarray(boot[k], float)
        b = b[np.isfinite(b)]
        lo, hi = (np.percentile(b, [2.5, 97.5]) if len(b) else (np.nan, np.nan))
        out[k] = dict(value=float(v), ci95_low=float(lo), ci95_high=float(hi))
    return out


# ---------------------------------------------------------------- classification
def _cls_from_confusion(c: np.ndarray) -> dict:
    """Metrics from confusion matrices ``c`` (..., K, K), rows = true, cols = predicted."""
    with np.errstate(invalid="ignore", divide="ignore"):
        tot = c.sum((-2, -1))
        tp = np.diagonal(c, axis1=-2, axis2=-1)
        support, predicted = c.sum(-1), c.sum(-2)
        acc = tp.sum(-1) / tot
        recall = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
        bal = np.nanmean(recall, -1)
        f1_k = 2 * tp / np.maximum(support + predicted, 1)
        present = support > 0
        macro = np.where(present, f1_k, 0).sum(-1) / np.maximum(present.sum(-1), 1)
        out = dict(acc=acc, bal_acc=bal, macro_f1=macro)
        if c.shape[-1] == 2:
            out["f1"] = f1_k[..., 1]
    return out


def classification_metrics(y: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_classes: int,
                           n_boot: int = 1000, seed: int = 0) -> dict:
    """{metric: {value, ci95_low, ci95_high}} for integer labels ``y``/``y_pred`` (N,), ``groups`` (N,)."""
    y, y_pred = np.asarray(y, np.int64), np.asarray(y_pred, np.int64)
    if not (len(y) == len(y_pred) == len(groups)):
        raise ValueError(f"length mismatch: y {len(y)}, y_pred {len(y_pred)}, groups {len(groups)}")
    if len(y) == 0:
        raise ValueError("no frames to evaluate")
    g, m = _group_index(groups)
    cm = np.zeros((m, n_classes, n_classes))
    np.add.at(cm, (g, y, y_pred), 1.0)
    point = _cls_from_confusion(cm.sum(0))
    w = _boot_weights(m, n_boot, seed)
    boot = _cls_from_confusion(np.tensordot(w, cm, axes=1))
    return _summarise(point, boot)


# ---------------------------------------------------------------- regression
def _reg_stats(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    e = yhat - y
    return np.stack([np.ones_like(y), y, y * y, e * e, np.abs(e)], -1)


def _reg_from_stats(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, sy, syy, sse, sae = (s[..., i] for i in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        sst = syy - sy * sy / n
        return 1.0 - sse / sst, sae / n


def regression_metrics(y: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_boot: int = 1000,
                       seed: int = 0, unit: str = "db") -> dict:
    """``r2`` and ``mae_<unit>`` (units of y) with bootstrap CIs; arrays (N,)."""
    y, y_pred = np.asarray(y, np.float64), np.asarray(y_pred, np.float64)
    if not (len(y) == len(y_pred) == len(groups)):
        raise ValueError(f"length mismatch: y {len(y)}, y_pred {len(y_pred)}, groups {len(groups)}")
    if len(y) == 0:
        raise ValueError("no frames to evaluate")
    if not np.all(np.isfinite(y_pred)):
        raise ValueError("predictions contain NaN/inf")
    g, m = _group_index(groups)
    st = np.zeros((m, 5))
    np.add.at(st, g, _reg_stats(y, y_pred))
    w = _boot_weights(m, n_boot, seed)
    (r2, mae), (br2, bmae) = _reg_from_stats(st.sum(0)), _reg_from_stats(w @ st)
    return _summarise({"r2": r2, f"mae_{unit}": mae}, {"r2": br2, f"mae_{unit}": bmae})


def hz_to_cents(f_hz: np.ndarray) -> np.ndarray:
    return 1200.0 * np.log2(np.maximum(np.asarray(f_hz, np.float64), 1e-3) / CENTS_REF_HZ)


def f0_metrics(f0_true_hz: np.ndarray, f0_pred_hz: np.ndarray, groups: np.ndarray, n_boot: int = 1000,
               seed: int = 0) -> dict:
    """F0 metrics on voiced frames: r2_hz, mae_hz, r2_cents, mae_cents, gpe_20pct, gross_err_50c."""
    y, p = np.asarray(f0_true_hz, np.float64), np.asarray(f0_pred_hz, np.float64)
    if not (len(y) == len(p) == len(groups)):
        raise ValueError(f"length mismatch: y {len(y)}, y_pred {len(p)}, groups {len(groups)}")
    if len(y) == 0:
        raise ValueError("no voiced frames to evaluate")
    if np.any(y <= 0):
        raise ValueError("ground-truth F0 must be > 0 Hz on voiced frames")
    if not np.all(np.isfinite(p)):
        raise ValueError("F0 predictions contain NaN/inf")
    g, m = _group_index(groups)
    gross = (np.abs(p - y) / y > GER_REL_THRESHOLD).astype(float)
    gross_c = (np.abs(hz_to_cents(p) - hz_to_cents(y)) > GROSS_CENTS).astype(float)
    st = np.zeros((m, 12))
    np.add.at(st, g, np.concatenate([_reg_stats(y, p), _reg_stats(hz_to_cents(y), hz_to_cents(p)),
                                     gross[:, None], gross_c[:, None]], -1))
    w = _boot_weights(m, n_boot, seed)

    def f(s):
        r2h, maeh = _reg_from_stats(s[..., 0:5])
        r2c, maec = _reg_from_stats(s[..., 5:10])
        return dict(r2_hz=r2h, mae_hz=maeh, r2_cents=r2c, mae_cents=maec, gpe_20pct=s[..., 10] / s[..., 0],
                    gross_err_50c=s[..., 11] / s[..., 0])

    return _summarise(f(st.sum(0)), f(w @ st))
