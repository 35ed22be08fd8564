"""Aggregates over utterances: means with 95 % percentile-bootstrap CIs, paired differences, ratios, breakdowns.

**Cluster bootstrap (the default when the dataset metadata is available).** Test mixtures share source
clips: one speech clip or noise clip occurs in several mixtures, so mixtures are not independent and an
utterance-level bootstrap gives CIs that are too narrow. :class:`ClusterDesign` resamples the *source
clips* instead, with the two-way "pigeonhole" bootstrap for crossed random effects (Owen 2007, Ann. Appl.
Stat. 1(2), "The pigeonhole bootstrap"): every replicate draws independent multinomial counts
``U_f ~ Mult(G_f, 1/G_f)`` (mean 1) over the ``G_f`` clusters of each factor ``f`` (speech clips
``speech_ids``, noise clips ``noise_id``), a mixture's weight is the product of its factors' counts, and
the replicate statistic is the *weighted* mean. A mixture with several speech clips (``speech_ids`` is a
list) takes the mean of its clips' counts (multiple membership; keeps E[weight] = 1). Owen shows the
pigeonhole variance is conservative (it counts the residual term more than once). Measured coverage of the
95 % interval on simulated crossed clip effects (``benchmarks/bench_bootstrap.py``, 96 mixtures, equal
variance components): 0.98 with 29 speech x 41 noise clips and 0.997 with 120 x 60 (the utterance
bootstrap: 0.77 and 0.80), but 0.91 with only 8 x 6 clips (utterance: 0.41): with very few clips the
intervals are still too narrow. The same weight
matrix serves every system and metric of a table (seed ``(seed, "clusters", n_boot)``), so differences and
ratios are paired replicate by replicate. Replicates in which no scored mixture has weight > 0 are dropped
(counted in ``n_degenerate``).

**Utterance (iid) bootstrap (fallback: no metadata, e.g. a paired folder).** ``scipy.stats.bootstrap``
(percentile, vectorised) over utterances, one RNG per ``(seed, crc32(key))`` with ``key`` naming system,
metric and group, so a number never depends on the order of computation. scipy has no cluster or
weighted resampling, hence the hand-written pigeonhole weights above.

Failed rows are never dropped silently: each aggregate carries ``n_scored`` (ok rows) and ``n_total``.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
SNR_EDGES_DB = (0.0, 5.0, 10.0, 15.0)
#: metadata columns that name each test mixture's source clips (plan table, docs/data_formats.md)
CLUSTER_COLUMNS = ("speech_ids", "noise_id")


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode())])


# ------------------------------------------------------------------ cluster design
@dataclass
class ClusterDesign:
    """Crossed clusters of the test mixtures: ``mixture_ids`` (n,) sorted, and per factor a membership
    matrix (n, G_f) whose rows sum to 1 (1/k on each of a mixture's k clips of that factor)."""

    mixture_ids: np.ndarray
    factors: dict[str, np.ndarray]
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_clusters(self) -> dict[str, int]:
        return {k: int(a.shape[1]) for k, a in self.factors.items()}

    def describe(self) -> str:
        """One line for reports: the factors and their cluster counts."""
        if not self.factors:
            return f"utterance bootstrap over {len(self.mixture_ids)} test mixtures"
        parts = ", ".join(f"{n} {k} clusters" for k, n in self.n_clusters.items())
        kind = "two-way cluster (pigeonhole)" if len(self.factors) > 1 else "cluster"
        return f"{kind} bootstrap over source clips ({parts}; {len(self.mixture_ids)} test mixtures)"

    def positions(self, mixture_ids) -> np.ndarray:
        """Column index of each mixture id in the weight matrix; raises naming an unknown id."""
        ids = np.asarray(mixture_ids, dtype=str)
        pos = np.searchsorted(self.mixture_ids, ids)
        pos = np.minimum(pos, len(self.mixture_ids) - 1)
        bad = self.mixture_ids[pos] != ids
        if bad.any():
            raise ValueError(f"mixture {ids[bad][0]!r} is not in the cluster design (metadata of the scored split)")
        return pos

    def weights(self, n_boot: int, seed: int) -> np.ndarray:
        """(n_boot, n) mixture weights of the replicates (product over factors of the clusters' counts)."""
        key = (int(n_boot), int(seed))
        if key not in self._cache:
            rng = _rng(seed, f"clusters|{n_boot}")
            n = len(self.mixture_ids)
            if not self.factors:   # iid: multinomial counts over the mixtures themselves
                w = rng.multinomial(n, np.full(n, 1.0 / n), size=int(n_boot)).astype(np.float64)
            else:
                w = np.ones((int(n_boot), n))
                for name in sorted(self.factors):
                    a = self.factors[name]
                    g = a.shape[1]
                    u = rng.multinomial(g, np.full(g, 1.0 / g), size=int(n_boot)).astype(np.float64)
                    w *= u @ a.T
            self._cache[key] = w
        return self._cache[key]


def _clip_lists(col: pd.Series) -> list[list[str]]:
    out = []
    for v in col:
        if isinstance(v, (list, tuple, np.ndarray)):
            ids = [str(u) for u in v]
        elif v is None or (isinstance(v, float) and np.isnan(v)):
            ids = []
        else:
            ids = [str(v)]
        out.append(ids)
    return out


def design_from_metadata(meta: pd.DataFrame, columns=CLUSTER_COLUMNS, source: str = "metadata") -> ClusterDesign:
    """The cluster design of the mixtures in ``meta`` (needs ``mixture_id``); factors = ``columns`` present.

    No cluster column at all gives the iid design (each mixture its own cluster). A mixture without any
    clip in a factor's column is an error (it would get weight 0 in every replicate)."""
    if "mixture_id" not in meta.columns:
        raise ValueError(f"{source}: no 'mixture_id' column; cannot build the bootstrap clusters")
    m = meta.assign(mixture_id=meta["mixture_id"].astype(str)).sort_values("mixture_id", kind="mergesort")
    if m["mixture_id"].duplicated().any():
        dup = m["mixture_id"][m["mixture_id"].duplicated()].iloc[0]
        raise ValueError(f"{source}: duplicate mixture ids, e.g. {dup!r}")
    ids = m["mixture_id"].to_numpy(dtype=str)
    factors = {}
    for c in columns:
        if c not in m.columns:
            continue
        lists = _clip_lists(m[c])
        empty = [i for i, ll in zip(ids, lists) if not ll]
        if empty:
            raise ValueError(f"{source}: mixture {empty[0]!r} has no value in cluster column {c!r}")
        uniq = sorted({u for ll in lists for u in ll})
        col = {u: j for j, u in enumerate(uniq)}
        a = np.zeros((len(ids), len(uniq)))
        for i, ll in enumerate(lists):
            for u in ll:
                a[i, col[u]] += 1.0 / len(ll)
        factors[c] = a
    return ClusterDesign(ids, factors)


def iid_design(mixture_ids) -> ClusterDesign:
    return ClusterDesign(np.asarray(sorted(set(map(str, mixture_ids))), dtype=str), {})


# ------------------------------------------------------------------ weighted replicates
def weighted_means(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(B,) replicate means ``sum_i w_bi v_i / sum_i w_bi`` over finite ``v``; NaN where no weight falls."""
    v = np.asarray(v, np.float64)
    ok = np.isfinite(v)
    wk = w[:, ok]
    s = wk.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, wk @ v[ok] / np.where(s > 0, s, 1.0), np.nan)


def percentile_ci(reps: np.ndarray, alpha: float = ALPHA) -> tuple[float, float, int]:
    """(low, high, n_degenerate) percentile interval of replicates, ignoring NaN replicates."""
    r = np.asarray(reps, np.float64)
    fin = r[np.isfinite(r)]
    if fin.size == 0:
        return float("nan"), float("nan"), int(r.size)
    lo, hi = np.quantile(fin, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), int(r.size - fin.size)


def bootstrap_ci(values, n_boot: int, seed: int, key: str = "", alpha: float = ALPHA) -> tuple[float, float, float]:
    """``(mean, low, high)``: mean of ``values`` (n,) and its ``1 - alpha`` percentile utterance-bootstrap
    interval (``scipy.stats.bootstrap``). NaN for all three when empty; the CI collapses to the mean at n == 1."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"bootstrap {key!r}: non-finite values (filter failed rows first)")
    m = float(v.mean())
    if v.size == 1 or np.all(v == v[0]):
        return m, m, m
    res = stats.bootstrap((v,), np.mean, n_resamples=int(n_boot), confidence_level=1 - alpha, method="percentile",
                          vectorized=True, batch=max(1, 2_000_000 // v.size), random_state=_rng(seed, key))
    return m, float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_diff_ci(a, b, n_boot: int, seed: int, key: str = "", alpha: float = ALPHA) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired utterances (same index) with its percentile-bootstrap CI (iid)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap {key!r}: shapes differ {a.shape} vs {b.shape}")
    return bootstrap_ci(a - b, n_boot, seed, key, alpha)


def _mean_ci(design: ClusterDesign | None, ids, values, n_boot, seed, key) -> tuple[float, float, float]:
    """Mean and CI of ``values`` of mixtures ``ids``: cluster replicates with a design, else iid (scipy)."""
    v = np.asarray(values, np.float64)
    if design is None:
        return bootstrap_ci(v, n_boot, seed, key)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    full = np.full(len(design.mixture_ids), np.nan)
    full[design.positions(ids)] = v
    lo, hi, _ = percentile_ci(weighted_means(design.weights(n_boot, seed), full))
    return float(v.mean()), lo, hi


# ------------------------------------------------------------------ tables
def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by (system, metric, mixture_id): resampled vectors never depend on input row order."""
    return df.sort_values(["system", "metric", "mixture_id"], kind="mergesort").reset_index(drop=True)


def _ok(df: pd.DataFrame) -> pd.Series:
    return (df["status"] == "ok") & np.isfinite(df["value"].astype(float))


def summarize(df: pd.DataFrame, n_boot: int, seed: int, metric_info: dict | None = None,
              design: ClusterDesign | None = None) -> pd.DataFrame:
    """One row per (system, metric): mean, ci95_low, ci95_high, n_scored, n_total, n_failed,
    mean_improvement (vs noisy, on utterances both scored) and the metric's implementation/version/mode/unit.
    ``design``: cluster bootstrap (module docstring); None = utterance bootstrap."""
    rows = []
    for (system, metric), g in _canonical(df).groupby(["system", "metric"], sort=True):
        ok = g[_ok(g)]
        mean, lo, hi = _mean_ci(design, ok["mixture_id"], ok["value"].to_numpy(), n_boot, seed, f"{system}|{metric}")
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


def paired_vs(df: pd.DataFrame, reference: str, n_boot: int, seed: int,
              design: ClusterDesign | None = None) -> pd.DataFrame:
    """Each system minus ``reference`` per metric, on utterances both scored: mean_diff and its CI
    (same replicate weights on both systems)."""
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
        d = m["value"].to_numpy(float) - m["ref_value"].to_numpy(float)
        mean, lo, hi = _mean_ci(design, m["mixture_id"], d, n_boot, seed, f"paired|{system}|{reference}|{metric}")
        rows.append(dict(system=system, reference=reference, metric=metric, mean_diff=mean, ci95_low=lo,
                         ci95_high=hi, n_paired=int(len(m)), n_total=int(len(g))))
    return pd.DataFrame(rows, columns=cols)


def snr_bin_labels(snr_db, edges_db=SNR_EDGES_DB) -> np.ndarray:
    """Bin labels like "<0", "0-5", ..., ">=15" (left-closed bins) for SNRs in dB."""
    e = list(edges_db)
    names = [f"<{e[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(e[:-1], e[1:])] + [f">={e[-1]:g}"]
    return np.asarray(names, object)[np.searchsorted(np.asarray(e, float), np.asarray(snr_db, float), side="right")]


def breakdown(df: pd.DataFrame, meta: pd.DataFrame, n_boot: int, seed: int,
              snr_edges_db=SNR_EDGES_DB, design: ClusterDesign | None = None) -> pd.DataFrame:
    """Means with CIs per ``group_by`` in {snr_bin (from metadata snr_db), noise_class, reverb ("reverb"|"dry")}.
    With a design, a group's replicates use the same clip weights restricted to the group's mixtures."""
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
            mean, lo, hi = _mean_ci(design, ok["mixture_id"], ok["value"].to_numpy(), n_boot, seed,
                                    f"{by}|{grp}|{system}|{metric}")
            rows.append(dict(group_by=by, group=str(grp), system=system, metric=metric, mean=mean, ci95_low=lo,
                             ci95_high=hi, n_scored=int(len(ok)), n_total=int(len(g))))
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------ seeds, ratios (report stage)
def value_matrix(df: pd.DataFrame, systems: list[str], metric: str, design: ClusterDesign) -> np.ndarray:
    """(len(systems), n) scores of ``metric`` aligned to ``design.mixture_ids``; NaN where not scored ok."""
    out = np.full((len(systems), len(design.mixture_ids)), np.nan)
    sub = df[(df["metric"] == metric) & df["system"].isin(systems)]
    sub = sub[_ok(sub)]
    for i, s in enumerate(systems):
        g = sub[sub["system"] == s]
        out[i, design.positions(g["mixture_id"])] = g["value"].to_numpy(float)
    return out


def seed_mean(mat: np.ndarray) -> np.ndarray:
    """(n,) per-utterance mean over the seed rows of ``mat`` (S, n); NaN unless every seed scored it."""
    with np.errstate(invalid="ignore"):
        return np.asarray(mat, np.float64).mean(0)


@dataclass
class Estimate:
    """A point estimate with its percentile CI and the replicates it came from."""

    value: float
    low: float
    high: float
    n: int
    reps: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def excludes_zero(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high) and (self.low > 0 or self.high < 0))


def mean_estimate(v: np.ndarray, w: np.ndarray) -> Estimate:
    """Mean of ``v`` (n,) over finite entries, with cluster-replicate CI from weights ``w`` (B, n)."""
    v = np.asarray(v, np.float64)
    ok = np.isfinite(v)
    reps = weighted_means(w, v)
    lo, hi, _ = percentile_ci(reps)
    return Estimate(float(v[ok].mean()) if ok.any() else float("nan"), lo, hi, int(ok.sum()), reps)


def ratio_estimate(num: np.ndarray, den: np.ndarray, w: np.ndarray) -> Estimate:
    """mean(num) / mean(den) over utterances where both are finite, ratio recomputed per replicate
    (e.g. gain retained = (level - noisy) / (static - noisy))."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    ok = np.isfinite(num) & np.isfinite(den)
    n_, d_ = np.where(ok, num, np.nan), np.where(ok, den, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = weighted_means(w, n_) / weighted_means(w, d_)
        point = float(n_[ok].mean() / d_[ok].mean()) if ok.any() else float("nan")
    reps = np.where(np.isfinite(reps), reps, np.nan)
    lo, hi, _ = percentile_ci(reps)
    return Estimate(point, lo, hi, int(ok.sum()), reps)
