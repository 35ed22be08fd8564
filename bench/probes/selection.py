"""Feature (channel) selection: univariate ranking on train, score-vs-k curves, and the C* rule.

Method (documented choice): channels are ranked once per (level, task, seed) on the *training* frames
by a univariate ANOVA F statistic -- ``sklearn.feature_selection.f_classif`` for VAD / noise,
``f_regression`` (equivalent to ranking by |Pearson r|) for F0 (on cents) and SNR. Channels that never
or always fire get F = 0. The top-k sets are nested, so a curve over k is a curve over nested feature
sets. For each k in ``probe.c_star_grid`` the probe is refit (regularisation re-chosen on valid).
C* is the smallest k whose valid score is within ``probe.c_star_tol`` (absolute) of the best valid
score on the grid.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.feature_selection import f_classif, f_regression

from bench.probes.linear import TASK_KIND, target


def rank_channels(task: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Channel order (best first, ties by index) and scores. x: (N, D) train features, y: (N,) natural units."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        # constant channels (never / always on) are expected in masks; they get F = 0 below
        warnings.filterwarnings("ignore", message="Features .* are constant", category=UserWarning)
        if TASK_KIND[task] == "regression":
            f, _ = f_regression(x, target(task, y))
        else:
            f, _ = f_classif(x, y)
    f = np.nan_to_num(np.asarray(f, np.float64), nan=0.0, posinf=np.finfo(np.float64).max)
    const = x.std(0) == 0
    f[const] = 0.0
    order = np.lexsort((np.arange(len(f)), -f))
    return order, f


def resolve_grid(grid: list, n_features: int) -> list[int]:
    """Grid entries as ints <= n_features ("all" -> n_features), sorted and unique."""
    ks = set()
    for g in grid:
        if isinstance(g, str):
            if g != "all":
                raise ValueError(f"probe.c_star_grid: unknown entry {g!r} (ints or 'all')")
            ks.add(n_features)
        elif int(g) <= 0:
            raise ValueError(f"probe.c_star_grid: entries must be positive, got {g}")
        elif int(g) <= n_features:
            ks.add(int(g))
    if not ks:
        ks.add(n_features)
    return sorted(ks)


def choose_c_star(ks: list[int], valid_scores: list[float], tol: float) -> int:
    """Smallest k whose valid score >= max(valid_scores) - tol."""
    if len(ks) != len(valid_scores) or not ks:
        raise ValueError("choose_c_star: ks and valid_scores must be non-empty and of equal length")
    s = np.asarray(valid_scores, np.float64)
    best = np.nanmax(s)
    ok = [k for k, v in sorted(zip(ks, s)) if v >= best - tol]
    return int(ok[0])
