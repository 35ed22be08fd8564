"""Probes (standardised linear models and a small MLP) and their metrics.

Kinds: ``binary`` (VAD; logistic regression), ``multiclass`` (noise; multinomial logistic regression),
``regression`` (F0 in cents, SNR in dB; ridge). Features are standardised on train; the regularisation
strength is chosen on valid from a grid (``C`` for logistic, ``alpha`` for ridge / MLP L2).
Implementation: scikit-learn (``LogisticRegression`` lbfgs, ``Ridge``, ``MLPClassifier/Regressor``).
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import confusion_matrix
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from bench.task_metrics import CENTS_REF_HZ, cents_to_hz, hz_to_cents, metrics  # noqa: F401  (re-exported)
from bench.tasks import SELECT_METRIC, TASK_KIND, spec  # noqa: F401  (re-exported: the task spec is bench.tasks)

def target(task: str, y: np.ndarray) -> np.ndarray:
    """The quantity a probe is trained on: F0 in cents, others unchanged."""
    return hz_to_cents(y) if spec(task).pitch else y


def untarget(task: str, y: np.ndarray) -> np.ndarray:
    return cents_to_hz(y) if spec(task).pitch else y


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))


@dataclass
class Probe:
    """A fitted probe: ``predict(X)`` returns labels (classes) or natural-unit values (regression)."""

    task: str
    kind: str
    scaler: StandardScaler
    model: object
    reg: float
    valid_scores: dict = field(default_factory=dict)  # reg -> valid selection score

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = self.model.predict(self.scaler.transform(x))
        return untarget(self.task, z) if self.kind == "regression" else z

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear weights on the raw (unstandardised) features: (W (K, D), b (K,)), K = 1 for binary/ridge."""
        w = np.atleast_2d(self.model.coef_) / self.scaler.scale_[None, :]
        b = np.atleast_1d(self.model.intercept_) - w @ self.scaler.mean_
        return w, b


def _model(kind: str, probe: str, reg: float, seed: int, mlp_hidden: int, max_iter: int):
    if probe == "linear":
        if kind == "regression":
            return Ridge(alpha=reg)
        return LogisticRegression(C=reg, max_iter=max_iter, tol=1e-4, warm_start=True)
    if probe == "mlp":
        cls = MLPRegressor if kind == "regression" else MLPClassifier
        m = cls(hidden_layer_sizes=(mlp_hidden,), alpha=reg, max_iter=max_iter, random_state=seed,
                early_stopping=False, batch_size=256, learning_rate_init=1e-3)
        if kind == "regression":
            # standardised target: an MLP started near 0 cannot reach F0 in cents (~4000) in a few epochs
            from sklearn.compose import TransformedTargetRegressor
            from sklearn.preprocessing import StandardScaler

            m = TransformedTargetRegressor(regressor=m, transformer=StandardScaler())
        return m
    raise ValueError(f"unknown probe {probe!r}; expected 'linear' or 'mlp'")


def _ridge_path(z_tr: np.ndarray, t_tr: np.ndarray, alphas: list[float]) -> list[Ridge]:
    """Ridge fits for all ``alphas`` from one eigendecomposition of the Gram matrix.

    Hand-written because sklearn's Ridge recomputes Z'Z for every alpha (the dominant cost at 40k x 1k);
    z_tr must be column-centred (standardised). Each returned ``Ridge`` is a regular fitted estimator
    (same coef_ as ``Ridge(alpha).fit``; checked in the tests).
    """
    z = np.asarray(z_tr, np.float64)
    t = np.asarray(t_tr, np.float64)
    t_mean = t.mean()
    lam, v = np.linalg.eigh(z.T @ z)
    b = v.T @ (z.T @ (t - t_mean))
    out = []
    for a in alphas:
        m = Ridge(alpha=a)
        m.coef_ = v @ (b / (np.maximum(lam, 0.0) + a))
        m.intercept_ = float(t_mean - z.mean(0) @ m.coef_)
        m.n_features_in_ = z.shape[1]
        out.append(m)
    return out


def fit_probe(task: str, x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray,
              reg_grid: list[float], probe: str = "linear", seed: int = 0, mlp_hidden: int = 64,
              max_iter: int = 200) -> Probe:
    """Fit on train for every strength in ``reg_grid``; keep the one best on valid (``SELECT_METRIC``).

    x_*: (N, D) features, y_*: (N,) natural-unit targets (F0 in Hz; trained in cents).
    """
    kind = TASK_KIND[task]
    if len(y_tr) == 0 or len(y_va) == 0:
        raise ValueError(f"task {task!r}: empty train ({len(y_tr)}) or valid ({len(y_va)}) frames")
    if kind != "regression" and len(np.unique(y_tr)) < 2:
        raise ValueError(f"task {task!r}: train labels have a single class; cannot fit a classifier")
    scaler = StandardScaler().fit(x_tr)
    z_tr, z_va = scaler.transform(x_tr), scaler.transform(x_va)
    t_tr = target(task, y_tr)
    metric = SELECT_METRIC[task]
    best, scores = None, {}
    # logistic: one warm-started model across increasing C (each fit starts from the previous optimum)
    path = (dict(zip(sorted(reg_grid), _ridge_path(z_tr, t_tr, sorted(reg_grid))))
            if probe == "linear" and kind == "regression" else None)
    warm = (_model(kind, probe, min(reg_grid), seed, mlp_hidden, max_iter)
            if probe == "linear" and kind != "regression" else None)
    for reg in sorted(reg_grid):
        if warm is not None:
            m = warm.set_params(C=reg)
        elif path is not None:
            m = path[reg]
        else:
            m = _model(kind, probe, reg, seed, mlp_hidden, max_iter)
            if probe == "mlp":
                key = "regressor__batch_size" if kind == "regression" else "batch_size"
                m.set_params(**{key: min(256, len(y_tr))})
        if path is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m.fit(z_tr, t_tr)
        pred = m.predict(z_va)
        s = metrics(task, y_va, untarget(task, pred) if kind == "regression" else pred)[metric]
        scores[float(reg)] = float(s)
        if best is None or s > best[0] + 1e-12:
            best = (s, reg, copy.deepcopy(m))
    return Probe(task, kind, scaler, best[2], float(best[1]), scores)
