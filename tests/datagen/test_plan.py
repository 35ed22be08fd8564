import numpy as np
import pandas as pd
import pytest

from datagen.plan import PlanError, make_plan
from datagen.seeding import item_rng, uniform_inclusive


def _manifest(p):
    from pathlib import Path
    return pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")


def test_plan_deterministic_and_order_independent(tiny_params):
    m = _manifest(tiny_params)
    a = make_plan(m, tiny_params)
    b = make_plan(m.sample(frac=1, random_state=3), tiny_params)
    pd.testing.assert_frame_equal(a, b)


def test_mixture_unchanged_when_more_are_planned(tiny_params):
    m = _manifest(tiny_params)
    a = make_plan(m, tiny_params)
    tiny_params["plan"]["n_mixtures"]["train"] = 9
    b = make_plan(m, tiny_params).set_index("mixture_id")
    pd.testing.assert_series_equal(a.set_index("mixture_id").loc["train-000003"], b.loc["train-000003"])


def test_plan_respects_splits_ranges_and_hop(tiny_params):
    m = _manifest(tiny_params).set_index("source_id")
    plan = make_plan(m.reset_index(), tiny_params)
    hop, pp = tiny_params["frames"]["hop_length"], tiny_params["plan"]
    for r in plan.itertuples():
        assert all(m.loc[s, "split"] == r.split for s in r.speech_ids)
        assert m.loc[r.noise_id, "split"] == r.split
        assert len({m.loc[s, "speaker"] for s in r.speech_ids}) == 1
        assert all(v % hop == 0 for v in list(r.speech_src_start_samples) + list(r.speech_dst_start_samples))
        assert all(d + n <= r.n_samples for d, n in zip(r.speech_dst_start_samples, r.speech_n_samples))
        assert pp["snr_db"]["low"] <= r.snr_db <= pp["snr_db"]["high"]
        assert pp["target_level_dbfs"]["low"] <= r.target_level_dbfs <= pp["target_level_dbfs"]["high"]
    assert plan["snr_db"].nunique() == len(plan)  # continuous, not integer draws


def test_uniform_inclusive_reaches_both_bounds():
    class Edge:
        def __init__(self, v): self.v = v
        def integers(self, *a, **k): return self.v
    assert uniform_inclusive(Edge(0), -5.0, 20.0) == -5.0
    assert uniform_inclusive(Edge(2 ** 53), -5.0, 20.0) == 20.0
    xs = [uniform_inclusive(item_rng(0, i), 0, 1) for i in range(200)]
    assert 0 <= min(xs) and max(xs) <= 1 and len(set(xs)) == 200


def test_split_without_noise_is_a_clear_error(tiny_params):
    m = _manifest(tiny_params)
    m = m[~((m.kind == "noise") & (m.split == "valid"))]
    with pytest.raises(PlanError, match="split 'valid' has no noise"):
        make_plan(m, tiny_params)
