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
