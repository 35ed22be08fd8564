"""Bootstrap CIs of probe scores over the test split: clusters of test mixtures, vectorised.

Frames of one mixture are not independent, and mixtures share source clips: a replicate reweights whole
mixtures with the weights of :class:`bench.score.bootstrap.ClusterDesign` (two-way pigeonhole bootstrap
over speech and noise clips when the test metadata names them, else the mixtures themselves). Every probe
metric of :func:`bench.probes.linear.metrics` is a function of per-mixture sufficient statistics
(confusion matrices for classes, sums for regression), so a replicate is ``weights @ stats`` -- exact and
fast (hand-written because sklearn metrics take per-sample weights only one replicate at a time).

All probes of a run use the same weight matrix, so differences between two probes on the same frames
(mask probe minus a control) are paired replicate by replicate; a seed-mean is the mean of the seeds'
replicate vectors.
"""
from __future__ import annotations

import numpy as np

from bench.probes.linear import TASK_KIND, hz_to_cents
from bench.tasks import spec

ALPHA = 0.05
GROSS_CENTS = 50.0
GPE_REL = 0.2


def _cls_metrics(c: np.ndarray, present: np.ndarray, binary: bool) -> dict[str, np.ndarray]:
    """Metrics from confusion matrices ``c`` (..., K, K) (rows true, columns predicted); ``present`` (K,)
    = classes in the full test labels (macro F1 averages over those, as ``linear.metrics``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        tot = c.sum((-2, -1))
        tp = np.diagonal(c, axis1=-2, axis2=-1)
        support, predicted = c.sum(-1), c.sum(-2)
        out = {"acc": tp.sum(-1) / tot}
        f1_k = np.where(support + predicted > 0, 2 * tp / np.maximum(support + predicted, 1e-300), 0.0)
        if binary:
            rec = np.where(support > 0, tp / np.maximum(support, 1e-300), np.nan)
            out["bal_acc"] = np.nanmean(rec, -1)
            out["f1"] = f1_k[..., 1]
        else:
            out["macro_f1"] = f1_k[..., present].mean(-1)
    return out


def _reg_stats(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    e = p - y
    return np.stack([np.ones_like(y), y, y * y, e * e, np.abs(e)], -1)


def _reg_metrics(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, sy, syy, sse, sae = (s[..., i] for i in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - sse / (syy - sy * sy / n), sae / n


def mixture_stats(task: str, y_true, y_pred, codes: np.ndarray, n_mix: int, n_classes: int | None = None):
    """(stats (n_mix, ...), finisher): per-mixture sufficient statistics of ``task`` and the function that
    turns (weighted) sums of them into ``{metric: value}``. ``codes`` (N,): mixture index of each frame."""
    y, p = np.asarray(y_true), np.asarray(y_pred)
    kind = TASK_KIND[task]
    if kind in ("binary", "multiclass"):
        labels = np.unique(np.concatenate([y, p])).astype(np.int64)
        k = max(int(labels.max()) + 1, int(n_classes or 0), 2)
        flat = (codes.astype(np.int64) * k + y.astype(np.int64)) * k + p.astype(np.int64)
        c = np.bincount(flat, minlength=n_mix * k * k).astype(np.float64).reshape(n_mix, k, k)
        present = np.zeros(k, bool)
        present[np.unique(y.astype(np.int64))] = True
        return c, lambda s: _cls_metrics(s, present, kind == "binary")
    y, p = y.astype(np.float64), p.astype(np.float64)
    if spec(task).pitch:
        p = np.clip(p, 1.0, None)
        dc = np.abs(hz_to_cents(p) - hz_to_cents(y))
        per = np.concatenate([_reg_stats(y, p), _reg_stats(hz_to_cents(y), hz_to_cents(p)),
                              (dc > GROSS_CENTS)[:, None], (np.abs(p - y) > GPE_REL * y)[:, None]], -1)

        def fin(s):
            r2h, maeh = _reg_metrics(s[..., 0:5])
            r2c, maec = _reg_metrics(s[..., 5:10])
            return dict(r2_hz=r2h, r2_cents=r2c, mae_hz=maeh, mae_cents=maec, gross_err_50c=s[..., 10] / s[..., 0],
                        gpe_20pct=s[..., 11] / s[..., 0])
    else:
        per = _reg_stats(y, p)

        def fin(s):
            r2, mae = _reg_metrics(s)
            return dict(r2=r2, mae_db=mae)
    per = np.asarray(per, np.float64)
    st = np.stack([np.bincount(codes, weights=per[:, j], minlength=n_mix) for j in range(per.shape[1])], 1)
    return st, fin


def replicates(task: str, y_true, y_pred, codes: np.ndarray, weights: np.ndarray,
               n_classes: int | None = None) -> dict[str, np.ndarray]:
    """{metric: (B,) replicate values}; ``weights`` (B, n_mix) mixture weights, ``codes`` (N,) mixture index
    of each test frame (or each test mixture for segment tasks)."""
    st, fin = mixture_stats(task, y_true, y_pred, codes, weights.shape[1], n_classes)
    s = np.tensordot(weights, st, axes=1)
    return {k: np.asarray(v, np.float64) for k, v in fin(s).items()}


def point(task: str, y_true, y_pred, codes: np.ndarray, n_mix: int, n_classes: int | None = None) -> dict:
    """{metric: value} from the unweighted sums (equals ``linear.metrics``; tested)."""
    st, fin = mixture_stats(task, y_true, y_pred, codes, n_mix, n_classes)
    return {k: float(v) for k, v in fin(st.sum(0)).items()}


def interval(reps: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """Percentile interval of replicates (NaN replicates, e.g. a class absent from a replicate, dropped)."""
    r = np.asarray(reps, np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(r, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
