"""Metrics of the frame tasks in natural units (F0 in Hz), shared by the probes, the joint heads and the
baselines so that a score means the same thing wherever it is reported. Implementation: scikit-learn.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, mean_absolute_error, r2_score

from bench.tasks import TASK_KIND, spec

CENTS_REF_HZ = 10.0  # cents re 10 Hz (the mir_eval / CREPE convention)


def hz_to_cents(f_hz: np.ndarray) -> np.ndarray:
    return 1200.0 * np.log2(np.maximum(np.asarray(f_hz, np.float64), 1e-3) / CENTS_REF_HZ)


def cents_to_hz(c: np.ndarray) -> np.ndarray:
    return CENTS_REF_HZ * 2.0 ** (np.asarray(c, np.float64) / 1200.0)


def metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Metrics of one task on natural units (F0 in Hz; predictions already converted back).

    vad: acc, bal_acc, f1 (speech = positive). noise / noise_seg: acc, macro_f1 (over classes present
    in y_true). f0: r2_hz, r2_cents, mae_hz, mae_cents, gross_err_50c (fraction of voiced frames whose
    prediction is > 50 cents off, i.e. 1 - raw pitch accuracy), gpe_20pct (fraction > 20 % off).
    snr: r2, mae_db.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    kind = TASK_KIND[task]
    if kind == "binary":
        return dict(acc=accuracy_score(y_true, y_pred), bal_acc=balanced_accuracy_score(y_true, y_pred),
                    f1=f1_score(y_true, y_pred, zero_division=0))
    if kind == "multiclass":
        return dict(acc=accuracy_score(y_true, y_pred),
                    macro_f1=f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro",
                                      zero_division=0))
    if spec(task).pitch:
        pred_hz = np.clip(y_pred, 1.0, None)
        dc = np.abs(hz_to_cents(pred_hz) - hz_to_cents(y_true))
        return dict(r2_hz=r2_score(y_true, pred_hz), r2_cents=r2_score(hz_to_cents(y_true), hz_to_cents(pred_hz)),
                    mae_hz=mean_absolute_error(y_true, pred_hz), mae_cents=float(dc.mean()),
                    gross_err_50c=float((dc > 50).mean()),
                    gpe_20pct=float((np.abs(pred_hz - y_true) > 0.2 * y_true).mean()))
    return {"r2": r2_score(y_true, y_pred), f"mae_{spec(task).unit}": mean_absolute_error(y_true, y_pred)}
