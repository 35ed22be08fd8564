"""Controls that every probe score is read against (same frames, same probe, same splits).

* ``majority``: predict the most frequent train class / the train mean (no features).
* ``shuffled_labels``: the same probe trained on a seeded permutation of the train labels and tested
  on the true test labels (control task; selectivity = task score - control score). Its regularisation
  is still chosen on the *true* valid labels, which can only favour the control (conservative).
* ``random_masks``: independent Bernoulli masks with the gated model's per-channel firing rates
  (measured on train), drawn per frame, seeded.
* ``static_act_binarised``: the static model's inner activations, |a| thresholded per channel at the
  quantile that gives every channel the gated level's mean firing rate (thresholds from train).
  Channel identities of two separately trained models do not correspond, so only the density is
  matched, not per-channel rates.
"""
from __future__ import annotations

import numpy as np

from bench.probes.linear import TASK_KIND
from bench.tasks import spec


def majority_predict(task: str, y_tr: np.ndarray, n: int) -> np.ndarray:
    """(n,) predictions of the no-feature baseline (mode for classes, mean for regression, natural units)."""
    y_tr = np.asarray(y_tr)
    if TASK_KIND[task] == "regression":
        if spec(task).pitch:  # mean in cents, the unit the F0 probe is trained on
            from bench.probes.linear import cents_to_hz, hz_to_cents
            return np.full(n, cents_to_hz(hz_to_cents(y_tr).mean()))
        return np.full(n, float(y_tr.mean()))
    vals, counts = np.unique(y_tr, return_counts=True)
    return np.full(n, vals[np.argmax(counts)])


def shuffled(y: np.ndarray, seed: int) -> np.ndarray:
    """A seeded permutation of the labels (control task)."""
    return np.asarray(y)[np.random.default_rng(seed).permutation(len(y))]


def firing_rates(per_mixture: dict[str, np.ndarray]) -> np.ndarray:
    """Per-channel firing rate over all frames of all mixtures, (C,) float64."""
    tot, n = None, 0
    for m in per_mixture.values():
        s = np.asarray(m, np.float64).sum(0)
        tot = s if tot is None else tot + s
        n += m.shape[0]
    if tot is None or n == 0:
        raise ValueError("firing_rates: no frames")
    return tot / n


def random_masks(like: dict[str, np.ndarray], rates: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Bernoulli(rates[c]) masks with the shapes of ``like``, independent per frame; seeded per mixture order."""
    rng = np.random.default_rng(seed)
    rates = np.asarray(rates, np.float64)
    return {mid: rng.random((m.shape[0], len(rates))) < rates[None, :] for mid, m in sorted(like.items())}


def density_thresholds(acts_train: dict[str, np.ndarray], density: float) -> np.ndarray:
    """Per-channel threshold on |a| so that a fraction ``density`` of train frames exceed it, (C,).

    ``density`` 1 (a gated model whose gates never closed) gives -inf (every frame fires), 0 gives +inf."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}")
    a = np.abs(np.concatenate([np.asarray(v, np.float32) for v in acts_train.values()]))
    if density in (0.0, 1.0):
        return np.full(a.shape[1], np.inf if density == 0.0 else -np.inf, np.float32)
    return np.quantile(a, 1.0 - density, axis=0)


def binarise(acts: dict[str, np.ndarray], thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """``|a| > threshold`` per channel, ``{id: bool (n_frames, C)}``."""
    return {k: np.abs(np.asarray(v, np.float32)) > thresholds[None, :] for k, v in acts.items()}
