"""Bootstrap CIs: nominal coverage on synthetic data, paired differences, determinism, tables with failures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.score import bootstrap as B


def test_percentile_ci_covers_true_mean_at_nominal_rate():
    # skewed data (exponential, true mean 2.0), n = 60 utterances, 200 independent repeats
    rng = np.random.default_rng(123)
    hits = 0
    for i in range(200):
        v = rng.exponential(2.0, size=60)
        m, lo, hi = B.bootstrap_ci(v, n_boot=400, seed=i, key="cov")
        assert lo <= m <= hi and m == pytest.approx(v.mean())
        hits += lo <= 2.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99, hits


def test_ci_width_shrinks_with_n_and_is_seeded():
    rng = np.random.default_rng(0)
    v = rng.normal(size=400)
    w_small = np.subtract(*B.bootstrap_ci(v[:25], 1000, 1)[2:0:-1])
    w_big = np.subtract(*B.bootstrap_ci(v, 1000, 1)[2:0:-1])
    assert w_big < w_small
    assert B.bootstrap_ci(v, 500, 7, "a") == B.bootstrap_ci(v, 500, 7, "a")
    assert B.bootstrap_ci(v, 500, 7, "a") != B.bootstrap_ci(v, 500, 7, "b")
    assert all(np.isnan(B.bootstrap_ci([], 100, 0)))
    with pytest.raises(ValueError, match="non-finite"):
        B.bootstrap_ci([1.0, np.nan], 100, 0, "k")


def test_paired_ci_detects_small_consistent_difference():
    # large between-utterance spread, small consistent gain: paired CI excludes 0, unpaired does not
    rng = np.random.default_rng(5)
    base = rng.normal(2.5, 0.8, size=80)
    a = base + 0.1 + rng.normal(0, 0.05, size=80)
    d, lo, hi = B.paired_diff_ci(a, base, 2000, 0)
    assert 0 < lo <= 0.1 <= hi and d == pytest.approx(np.mean(a - base))
    ma, la, ha = B.bootstrap_ci(a, 2000, 0)
    mb, lb, hb = B.bootstrap_ci(base, 2000, 0)
    assert la < hb  # the separate intervals overlap
    with pytest.raises(ValueError, match="shapes differ"):
        B.paired_diff_ci(a, base[:-1], 10, 0)


def test_snr_bins_left_closed():
    lab = B.snr_bin_labels([-5, -0.01, 0, 4.99, 5, 12, 15, 30])
    assert list(lab) == ["<0", "<0", "0-5", "0-5", "5-10", "10-15", ">=15", ">=15"]


def _table():
    rng = np.random.default_rng(1)
    rows = []
    for s, off in (("noisy", 0.0), ("static", 1.0), ("keep50", 0.8)):
        for i in range(12):
            v = 1.5 + off + rng.normal(0, 0.1)
            failed = s == "keep50" and i == 3
            rows.append(dict(system=s, mixture_id=f"test-{i:06d}", metric="pesq_wb",
                             value=np.nan if failed else v, status="failed" if failed else "ok",
                             reason="PESQ: NoUtterancesError" if failed else ""))
    df = pd.DataFrame(rows)
    nz = df[df.system == "noisy"][["mixture_id", "value"]].rename(columns={"value": "noisy_value"})
    df = df.merge(nz, on="mixture_id")
    df["improvement"] = df["value"] - df["noisy_value"]
    meta = pd.DataFrame({"mixture_id": [f"test-{i:06d}" for i in range(12)], "snr_db": np.linspace(-3, 18, 12),
                         "noise_class": ["a", "b"] * 6, "reverb": [True] * 3 + [False] * 9})
    return df, meta


def test_tables_count_failures_and_pair_on_common_utterances():
    df, meta = _table()
    s = B.summarize(df, 300, 0).set_index("system")
    assert s.loc["keep50", "n_scored"] == 11 and s.loc["keep50", "n_total"] == 12 and s.loc["keep50", "n_failed"] == 1
    assert s.loc["static", "n_scored"] == 12
    assert s.loc["static", "mean_improvement"] == pytest.approx(1.0, abs=0.1)
    p = B.paired_vs(df, "static", 300, 0).set_index("system")
    assert set(p.index) == {"noisy", "keep50"}
    assert p.loc["keep50", "n_paired"] == 11 and p.loc["keep50", "ci95_high"] < 0 < p.loc["keep50", "ci95_high"] + 0.3
    assert B.paired_vs(df, "absent", 10, 0).empty
    b = B.breakdown(df, meta, 300, 0)
    assert set(b["group_by"]) == {"snr_bin", "noise_class", "reverb"}
    for by, g in b.groupby("group_by"):  # every utterance lands in exactly one group
        assert g.groupby("system")["n_total"].sum().to_dict() == {"keep50": 12, "noisy": 12, "static": 12}
    assert set(b[b.group_by == "reverb"]["group"]) == {"reverb", "dry"}
    # order independence: shuffled input rows give the same numbers
    df2 = df.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(B.summarize(df2, 300, 0), B.summarize(df, 300, 0))


# ------------------------------------------------------------------ cluster (pigeonhole) bootstrap
def _crossed(rng, n_speech=8, n_noise=6, n_mix=96, sd_speech=0.5, sd_noise=0.5, sd_e=0.2):
    """Mixtures that reuse clips: value = clip effects (speech + noise) + residual; population mean 0."""
    a, b = rng.normal(0, sd_speech, n_speech), rng.normal(0, sd_noise, n_noise)
    si, ni = rng.integers(0, n_speech, n_mix), rng.integers(0, n_noise, n_mix)
    meta = pd.DataFrame({"mixture_id": [f"test-{i:06d}" for i in range(n_mix)],
                         "speech_ids": [[f"s{k}"] for k in si], "noise_id": [f"n{k}" for k in ni]})
    return meta, a[si] + b[ni] + rng.normal(0, sd_e, n_mix)


def test_cluster_ci_covers_when_clips_are_shared_and_iid_does_not():
    rng = np.random.default_rng(11)
    hit_c = hit_i = 0
    for rep in range(120):
        meta, v = _crossed(rng)
        d = B.design_from_metadata(meta)
        assert d.n_clusters == {"speech_ids": len({s[0] for s in meta.speech_ids}), "noise_id": meta.noise_id.nunique()}
        m, lo, hi = B._mean_ci(d, meta.mixture_id, v, 400, rep, "k")
        assert lo <= m <= hi
        hit_c += lo <= 0.0 <= hi
        _, lo_i, hi_i = B.bootstrap_ci(v, 400, rep, "k")
        hit_i += lo_i <= 0.0 <= hi_i
    # utterance resampling ignores the shared clips: far below nominal; the pigeonhole bootstrap is near or above
    assert hit_i / 120 < 0.6 and hit_c / 120 >= 0.85, (hit_i, hit_c)


def test_design_weights_multi_membership_and_determinism():
    meta = pd.DataFrame({"mixture_id": ["m2", "m0", "m1"], "speech_ids": [["a", "b"], ["a"], ["c"]],
                         "noise_id": ["x", "x", "y"]})
    d = B.design_from_metadata(meta)
    assert list(d.mixture_ids) == ["m0", "m1", "m2"]
    np.testing.assert_allclose(d.factors["speech_ids"].sum(1), 1.0)
    np.testing.assert_allclose(d.factors["speech_ids"][2], [0.5, 0.5, 0.0])   # m2 = mean of a and b
    w = d.weights(20000, 3)
    assert w.shape == (20000, 3) and np.allclose(w.mean(0), 1.0, atol=0.05)   # E[weight] = 1
    np.testing.assert_array_equal(w, B.design_from_metadata(meta.iloc[::-1]).weights(20000, 3))
    assert not np.array_equal(w, d.weights(20000, 4))
    with pytest.raises(ValueError, match="not in the cluster design"):
        d.positions(["m9"])
    with pytest.raises(ValueError, match="no value in cluster column 'noise_id'"):
        B.design_from_metadata(meta.assign(noise_id=["x", None, "y"]), source="meta.parquet")
    assert B.design_from_metadata(meta[["mixture_id"]]).factors == {}   # no cluster column: iid design


def test_cluster_tables_paired_and_ratio_share_weights():
    rng = np.random.default_rng(2)
    meta, v = _crossed(rng, n_mix=40)
    d = B.design_from_metadata(meta)
    rows = []
    for s, off in (("noisy", 0.0), ("static", 1.0), ("keep50", 0.9)):
        rows += [dict(system=s, mixture_id=m, metric="pesq_wb", value=x + off, status="ok")
                 for m, x in zip(meta.mixture_id, v)]
    df = pd.DataFrame(rows)
    p = B.paired_vs(df, "static", 300, 0, d).set_index("system")
    # a constant shift: every replicate sees the same -0.1 (paired, same weights)
    assert p.loc["keep50", "ci95_low"] == pytest.approx(-0.1) and p.loc["keep50", "ci95_high"] == pytest.approx(-0.1)
    s1 = B.summarize(df, 300, 0, design=d)
    s2 = B.summarize(df.sample(frac=1.0, random_state=1), 300, 0, design=d)
    pd.testing.assert_frame_equal(s1, s2)
    iid = B.summarize(df, 300, 0).set_index("system")
    cl = s1.set_index("system")
    assert (cl["ci95_high"] - cl["ci95_low"]).min() > (iid["ci95_high"] - iid["ci95_low"]).max()
    w = d.weights(500, 0)
    mat = B.value_matrix(df, ["noisy", "static", "keep50"], "pesq_wb", d)
    g = B.ratio_estimate(mat[2] - mat[0], mat[1] - mat[0], w)
    assert g.value == pytest.approx(0.9) and g.low == pytest.approx(0.9) and g.n == 40
    e = B.mean_estimate(mat[1] - mat[0], w)
    assert e.excludes_zero() and not B.mean_estimate(mat[1] - mat[1], w).excludes_zero()
