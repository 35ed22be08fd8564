"""Aggregates over utterances: means with 95 % percentile-bootstrap CIs, paired differences, breakdowns.

Resampling unit = utterance. Every bootstrap draws from its own RNG seeded by ``(seed, crc32(key))``
with ``key`` naming system, metric and group, so a number never depends on the order of computation.
Failed rows are never dropped silently: each aggregate carries ``n_scored`` (ok rows) and ``n_total``.
"""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

ALPHA = 0.05
SNR_EDGES_DB = (0.0, 5.0, 10.0, 15.0)


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode())])


def bootstrap_ci(values, n_boot: int, seed: int, key: str = "", alpha: float = ALPHA) -> tuple[float, float, float]:
    """``(mean, low, high)``: mean of ``values`` (n,) and its ``1 - alpha`` percentile-bootstrap interval.

    NaN for all three when ``values`` is empty; the CI collapses to the mean when n == 1.
    """
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"bootstrap {key!r}: non-finite values (filter failed rows first)")
    rng = _rng(seed, key)
    means = np.empty(int(n_boot))
    step = max(1, 2_000_000 // v.size)  # bound memory: at most ~2 M indices per chunk
    for i in range(0, int(n_boot), step):
        k = min(step, int(n_boot) - i)
        means[i:i + k] = v[rng.integers(0, v.size, size=(k, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(v.mean()), float(lo), float(hi)


def paired_diff_ci(a, b, n_boot: int, seed: int, key: str = "", alpha: float = ALPHA) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired utterances (same index) with its percentile-bootstrap CI."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap {key!r}: shapes differ {a.shape} vs {b.shape}")
    return bootstrap_ci(a - b, n_boot, seed, key, alpha)


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by (system, metric, mixture_id): resampled vectors never depend on input row order."""
    return df.sort_values(["system", "metric", "mixture_id"], kind="mergesort").reset_index(drop=True)


def _ok(df: pd.DataFrame) -> pd.Series:
    return (df["status"] == "ok") & np.isfinite(df["value"].astype(float))


def summarize(df: pd.DataFrame, n_boot: int, seed: int, metric_info: dict | None = None) -> pd.DataFrame:
    """One row per (system, metric): mean, ci95_low, ci95_high, n_scored, n_total, n_failed,
    mean_improvement (vs noisy, on utterances both scored) and the metric's implementation/version/mode/unit."""
    rows = []
    for (system, metric), g in _canonical(df).groupby(["system", "metric"], sort=True):
        ok = g[_ok(g)]
        mean, lo, hi = bootstrap_ci(ok["value"].to_numpy(), n_boot, seed, f"{system}|{metric}")
        imp = g["improvement"].to_numpy(float) if "improvement" in g else np.array([])
        imp = imp[np.isfinite(imp)]
        info = (metric_info or {}).get(metric, {})
        rows.append(dict(system=system, metric=metric, mean=mean, ci95_low=lo, ci95_high=hi,
                         n_scored=int(len(ok)), n_total=int(len(g)),
                         n_skipped=int((g["status"] == "skipped").sum()),
                         n_failed=int(len(g) - len(ok) - (g["status"] == "skipped").sum()),
                         mean_improvement=float(imp.mean()) if imp.size else float("nan"),
                         implementation=info.get("implementation", ""), version=info.get("version", ""),
                         mode=info.get("mode", ""), unit=info.get("unit", "")))
    return pd.DataFrame(rows)


def paired_vs(df: pd.DataFrame, reference: str, n_boot: int, seed: int) -> pd.DataFrame:
    """Each system minus ``reference`` per metric, on utterances both scored: mean_diff and its CI."""
    cols = ["system", "reference", "metric", "mean_diff", "ci95_low", "ci95_high", "n_paired", "n_total"]
    if reference not in set(df["system"]):
        return pd.DataFrame(columns=cols)
    ok = df[_ok(df)]
    ref = ok[ok["system"] == reference][["mixture_id", "metric", "value"]].rename(columns={"value": "ref_value"})
    rows = []
    for (system, metric), g in df.groupby(["system", "metric"], sort=True):
        if system == reference:
            continue
        m = g[_ok(g)].merge(ref[ref["metric"] == metric], on=["mixture_id", "metric"]).sort_values("mixture_id")
        d, lo, hi = paired_diff_ci(m["value"].to_numpy(), m["ref_value"].to_numpy(), n_boot, seed,
                                   f"paired|{system}|{reference}|{metric}")
        rows.append(dict(system=system, reference=reference, metric=metric, mean_diff=d, ci95_low=lo, ci95_high=hi,
                         n_paired=int(len(m)), n_total=int(len(g))))
    return pd.DataFrame(rows, columns=cols)


def snr_bin_labels(snr_db, edges_db=SNR_EDGES_DB) -> np.ndarray:
    """Bin labels like "<0", "0-5", ..., ">=15" (left-closed bins) for SNRs in dB."""
    e = list(edges_db)
    names = [f"<{e[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(e[:-1], e[1:])] + [f">={e[-1]:g}"]
    return np.asarray(names, object)[np.searchsorted(np.asarray(e, float), np.asarray(snr_db, float), side="right")]


def breakdown(df: pd.DataFrame, meta: pd.DataFrame, n_boot: int, seed: int,
              snr_edges_db=SNR_EDGES_DB) -> pd.DataFrame:
    """Means with CIs per ``group_by`` in {snr_bin (from metadata snr_db), noise_class, reverb ("reverb"|"dry")}."""
    cols = ["group_by", "group", "system", "metric", "mean", "ci95_low", "ci95_high", "n_scored", "n_total"]
    groups = pd.DataFrame({"mixture_id": meta["mixture_id"].astype(str)})
    if "snr_db" in meta:
        groups["snr_bin"] = snr_bin_labels(meta["snr_db"].to_numpy(float), snr_edges_db)
    if "noise_class" in meta:
        groups["noise_class"] = meta["noise_class"].astype(str).to_numpy()
    if "reverb" in meta:
        groups["reverb"] = np.where(meta["reverb"].astype(bool).to_numpy(), "reverb", "dry")
    by_cols = [c for c in ("snr_bin", "noise_class", "reverb") if c in groups]
    if not by_cols:
        return pd.DataFrame(columns=cols)
    x = _canonical(df).merge(groups, on="mixture_id", how="inner")
    x["_ok"] = _ok(x)
    rows = []
    for by in by_cols:
        for (grp, system, metric), g in x.groupby([by, "system", "metric"], sort=True):
            ok = g[g["_ok"]]
            mean, lo, hi = bootstrap_ci(ok["value"].to_numpy(), n_boot, seed, f"{by}|{grp}|{system}|{metric}")
            rows.append(dict(group_by=by, group=str(grp), system=system, metric=metric, mean=mean, ci95_low=lo,
                             ci95_high=hi, n_scored=int(len(ok)), n_total=int(len(g))))
    return pd.DataFrame(rows, columns=cols)
