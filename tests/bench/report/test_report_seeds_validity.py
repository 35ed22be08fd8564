"""Leaderboard statistics on synthetic per-utterance tables: seed grouping and significance, gain retained,
the validity gate (both ways), DNSMOS n, training provenance, metrics.json."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.report import leaderboard as L
from bench.score import bootstrap as B

N = 60


def _meta():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"mixture_id": [f"test-{i:06d}" for i in range(N)],
                         "speech_ids": [[f"s{k}"] for k in rng.integers(0, 15, N)],
                         "noise_id": [f"n{k}" for k in rng.integers(0, 10, N)]})


def _inputs(offsets: dict[str, float], levels: dict[str, float], noise_sd=0.02, train=None, dnsmos_n=None):
    """Per-utterance scores: value = base (shared per utterance) + offsets[system] + small noise, for the
    three gate metrics (SI-SDR offsets x10)."""
    meta = _meta()
    rng = np.random.default_rng(1)
    base = rng.normal(2.0, 0.5, N)
    rows = []
    for sys_, off in offsets.items():
        for metric, scale in (("pesq_wb", 1.0), ("stoi", 0.1), ("si_sdr", 10.0)):
            v = base * scale + off * scale + rng.normal(0, noise_sd * scale, N)
            rows += [dict(system=sys_, mixture_id=m, metric=metric, value=x, status="ok")
                     for m, x in zip(meta.mixture_id, v)]
    pu = pd.DataFrame(rows)
    summ = B.summarize(pu, 50, 0)
    summ = summ.assign(implementation="impl", version="1", mode="m")
    if dnsmos_n:
        summ = pd.concat([summ, pd.DataFrame([dict(system=s, metric="dnsmos_ovrl", mean=3.0, ci95_low=2.9,
                                                   ci95_high=3.1, n_scored=dnsmos_n[0], n_total=dnsmos_n[1],
                                                   implementation="speechmos", version="0.0", mode="ovrl")
                                              for s in offsets])], ignore_index=True)
    return L.Inputs(levels=levels, scores=summ, paired=B.paired_vs(pu, "static", 50, 0), per_utt=pu,
                    design=B.design_from_metadata(meta), n_boot=400, boot_seed=0, seed=0, train=train or {})


PROV = {"git_commit": "abc", "git_dirty": "false", "params_hash": "p", "dataset_sha256": "d"}


def test_seed_replicates_grouped_mean_spread_and_significance():
    # keep50: every seed clearly below static -> significant; keep25: seed-mean below, one seed above -> not
    off = {"noisy": 0.0, "static": 1.0, "static_seed1": 1.02, "keep50": 0.9, "keep50_seed1": 0.88,
           "keep50_seed2": 0.92, "keep25": 0.8, "keep25_seed1": 1.1}
    levels = {"static": 1.0, "static_seed1": 1.0, "keep50": 0.5, "keep50_seed1": 0.5, "keep50_seed2": 0.5,
              "keep25": 0.25, "keep25_seed1": 0.25}
    lb = L.build(_inputs(off, levels), PROV).set_index("model")
    assert list(lb.index) == ["noisy", "static", "keep50", "keep25"]          # replicates have no own row
    assert lb.loc["keep50", "n_seeds"] == 3 and lb.loc["keep50", "seeds"] == "0,1,2"
    assert lb.loc["static", "seeds"] == "0,1" and lb.loc["noisy", "n_seeds"] == "n/a"
    assert float(lb.loc["keep50", "pesq_wb_seed_min"]) < float(lb.loc["keep50", "pesq_wb"]) \
        < float(lb.loc["keep50", "pesq_wb_seed_max"])
    assert float(lb.loc["keep50", "pesq_wb_seed_max"]) - float(lb.loc["keep50", "pesq_wb_seed_min"]) == \
        pytest.approx(0.04, abs=0.01)
    # seed-mean difference vs the static seed-mean: 0.9 - 1.01
    assert float(lb.loc["keep50", "pesq_wb_delta_vs_static"]) == pytest.approx(-0.11, abs=0.01)
    assert lb.loc["keep50", "pesq_wb_delta_significant"] == "yes"
    assert float(lb.loc["keep25", "pesq_wb_delta_ci95_high"]) < 0                  # CI excludes 0 ...
    assert lb.loc["keep25", "pesq_wb_delta_significant"] == "no"                   # ... but the seeds disagree
    assert "changes sign across seeds" in lb.loc["keep25", "notes"]
    # gain retained = (level - noisy) / (static - noisy) of seed means: 0.9 / 1.01
    assert float(lb.loc["keep50", "pesq_wb_gain_retained"]) == pytest.approx(0.9 / 1.01, abs=0.01)
    g = [float(lb.loc["keep50", f"pesq_wb_gain_retained{s}"]) for s in ("_ci95_low", "", "_ci95_high")]
    assert g[0] <= g[1] <= g[2]
    assert float(lb.loc["static", "stoi_gain_retained"]) == 1.0 and lb.loc["noisy", "stoi_gain_retained"] == "n/a"
    assert L.empty_cells(lb.reset_index()) == []


def test_single_seed_significance_is_the_ci():
    lb = L.build(_inputs({"noisy": 0.0, "static": 1.0, "keep50": 0.995}, {"static": 1.0, "keep50": 0.5},
                         noise_sd=0.05), PROV).set_index("model")
    lo, hi = float(lb.loc["keep50", "pesq_wb_delta_ci95_low"]), float(lb.loc["keep50", "pesq_wb_delta_ci95_high"])
    assert lb.loc["keep50", "pesq_wb_delta_significant"] == ("yes" if lo > 0 or hi < 0 else "no")
    assert lb.loc["keep50", "n_seeds"] == 1


@pytest.mark.parametrize("static_off, passed", [(0.5, True), (-0.2, False), (0.0, False)])
def test_validity_gate_both_ways(static_off, passed):
    inp = _inputs({"noisy": 0.0, "static": static_off, "keep50": static_off * 0.9},
                  {"static": 1.0, "keep50": 0.5}, noise_sd=0.05)
    lb = L.build(inp, PROV)
    assert set(lb["validity"]) == {"pass" if passed else "fail"}
    assert L.paper_comparison_allowed(lb) is passed
    md = L.to_markdown(lb, "## Provenance\n")
    top = md.split("\n| model")[0]
    m = L.metrics_json(lb)
    assert m["validity_gate_passed"] is passed
    if passed:
        assert L.FAIL_BANNER not in md and "validity_note" not in m
        assert "## Comparison with the papers' figures" in md and "29.6 %" in md and "0.93" in md
        assert "not interpretable" not in " ".join(lb["notes"])
    else:
        assert L.FAIL_BANNER in top and list(m)[0] == "validity_note" and m["validity_note"] == L.FAIL_BANNER
        assert "pesq_wb gain retained is not interpretable" in lb.set_index("model").loc["keep50", "notes"]
        for paper in ("29.6", "0.75 %", "0.93", "0.84", "0.86", "Comparison with the papers"):
            assert paper not in md, paper


def test_validity_gate_from_paired_csv_and_unknown():
    inp = _inputs({"noisy": 0.0, "static": 0.5}, {"static": 1.0})
    inp.per_utt, inp.design = None, None        # fallback: scores_paired.csv (noisy - static)
    lb = L.build(inp, PROV)
    assert set(lb["validity"]) == {"pass"} and "gain retained needs the per-utterance" in lb["notes"].iloc[1]
    inp.paired = inp.paired[inp.paired["metric"] != "stoi"]
    lb = L.build(inp, PROV)
    assert set(lb["validity"]) == {"unknown"} and not L.paper_comparison_allowed(lb)
    assert "not checked" in L.validity_banner(lb)


def test_dnsmos_n_and_training_provenance():
    train = {"static": {"trained_on": {"device": "NVIDIA H200", "host_cpu": "AMD EPYC", "minutes": 12.5,
                                       "steps": 4000, "commit": "deadbeef", "seed": 0}, "restored": False},
             "keep50": {"trained_on": {"device": "cpu", "minutes": 3.0, "steps": 900, "commit": "deadbeef",
                                       "seed": 0}, "restored": "dvc run-cache"},
             "keep50_seed1": {"trained_on": {"device": "cpu", "minutes": 3.2, "steps": 900, "commit": "deadbeef",
                                             "seed": 1}, "restored": "dvc run-cache"}}
    inp = _inputs({"noisy": 0.0, "static": 0.5, "keep50": 0.45, "keep50_seed1": 0.46, "keep25": 0.4},
                  {"static": 1.0, "keep50": 0.5, "keep50_seed1": 0.5, "keep25": 0.25}, train=train,
                  dnsmos_n=(12, 60))
    lb = L.build(inp, PROV).set_index("model")
    assert lb.loc["keep50", "dnsmos_n"] == "12/60"
    head, body = L.display_rows(lb.reset_index())
    assert any("(n=12/60)" in c for c in body[2])
    assert lb.loc["static", "train_origin"] == "trained in this run"
    assert lb.loc["static", "train_device"] == "NVIDIA H200 (host AMD EPYC)"
    assert lb.loc["static", "train_minutes"] == "12.5" and lb.loc["static", "train_steps"] == "4000"
    assert lb.loc["keep50", "train_origin"] == "restored (dvc run-cache)"
    assert lb.loc["keep50", "train_seed"] == "0 / 1" and lb.loc["keep50", "train_minutes"] == "3.0 / 3.2"
    assert lb.loc["keep25", "train_origin"] == "n/a" and "keep25: no train_summary.json" in lb.loc["keep25", "notes"]
    assert lb.loc["noisy", "train_origin"] == "n/a"
    # an older summary without the new keys: device and minutes from device_name / wall_s, origin not recorded
    inp.train = {"static": {"device_name": "cpu (2 cores, 1 threads)", "wall_s": 120.0}}
    lb = L.build(inp, PROV).set_index("model")
    assert lb.loc["static", "train_origin"] == "not recorded" and lb.loc["static", "train_minutes"] == "2.0"
    assert json.dumps(L.metrics_json(lb.reset_index()))   # plain JSON


def test_mac_saving_without_gate_cost():
    from bench import macs as M
    from bench.models.fsenet import FSENetConfig, GateConfig

    cfg = FSENetConfig(bottleneck=16, hidden=32, stacks=1, blocks_per_stack=3, gate=GateConfig(hidden=4))
    dense = M.dense_macs_per_s(cfg) / 1e6
    gate = M.dense_macs_per_frame(cfg)["gate_total"] * M.frames_per_s(cfg) / 1e6
    s = {"gated": True, "model_config": cfg.to_dict(), "dense_mmacs_per_s": dense}
    assert L.gate_mmacs_per_s(s) == pytest.approx(gate) and gate > 0
    s2 = {"gated": True, "dense_mmacs_per_s": dense, "dense_macs_per_frame": M.dense_macs_per_frame(cfg)}
    assert L.gate_mmacs_per_s(s2) == pytest.approx(gate)
    assert L.gate_mmacs_per_s({"gated": False}) == 0.0 and L.gate_mmacs_per_s({"gated": True}) is None


def test_probes_section_states_identity_beyond_count():
    probes = {"keep50": {"vad_acc": 0.86, "vad_acc_ci95_low": 0.84, "vad_acc_ci95_high": 0.88,
                         "vad_acc_beyond_count": 0.011, "vad_acc_beyond_count_ci95_low": -0.004,
                         "vad_acc_beyond_count_ci95_high": 0.025, "vad_acc_beyond_log_energy": 0.05,
                         "f0_r2": None}}
    md = L.probes_section(probes)
    assert "| keep50 | VAD acc | 0.860 [0.840, 0.880] | +0.011 [-0.004, +0.025] | +0.050 |" in md
    assert "F0" not in md.split("\n\n")[-1] and L.probes_section({}) is None


def test_seed_groups_need_their_base():
    g = L.seed_groups(["noisy", "static", "keep50", "keep50_seed2", "keep50_seed1", "ext_seed1", "x_seed0"])
    assert g["keep50"] == [(0, "keep50"), (1, "keep50_seed1"), (2, "keep50_seed2")]
    assert g["ext_seed1"] == [(0, "ext_seed1")] and g["x_seed0"] == [(0, "x_seed0")]   # no base / not a replicate
    assert list(g) == ["noisy", "static", "keep50", "ext_seed1", "x_seed0"]
    lb = pd.DataFrame({"validity": ["n/a"], "validity_detail": ["n/a"]})   # e.g. an older merged leaderboard
    assert "not checked" in L.validity_banner(lb) and not L.paper_comparison_allowed(lb)


def test_causal_twins_compare_with_their_causal_static():
    """causal.gated_levels: a causal gated level's paired differences and gain retained are vs its causal
    static level; the causal static level itself is compared with the (non-causal) reference."""
    off = {"noisy": 0.0, "static": 1.0, "keep50": 0.95, "causal_static": 0.6, "causal_keep50": 0.57}
    levels = {"static": 1.0, "keep50": 0.5, "causal_static": 1.0, "causal_keep50": 0.5}
    inp = _inputs(off, levels)
    inp.references = {"causal_keep50": "causal_static"}
    lb = L.build(inp, PROV).set_index("model")
    assert float(lb.loc["causal_keep50", "pesq_wb_delta_vs_static"]) == pytest.approx(-0.03, abs=0.01)
    assert float(lb.loc["causal_keep50", "pesq_wb_gain_retained"]) == pytest.approx(0.57 / 0.6, abs=0.01)
    assert "vs causal_static" in lb.loc["causal_keep50", "notes"]
    assert float(lb.loc["causal_static", "pesq_wb_delta_vs_static"]) == pytest.approx(-0.4, abs=0.01)
    assert float(lb.loc["causal_static", "pesq_wb_gain_retained"]) == pytest.approx(0.6, abs=0.01)
    assert float(lb.loc["keep50", "pesq_wb_gain_retained"]) == pytest.approx(0.95, abs=0.01)
    # load_inputs derives the references from params
    from bench.levels import reference_level
    p = {"levels": levels, "causal": {"static_levels": ["causal_static"], "gated_levels": {"causal_keep50": "causal_static"}}}
    assert {lv: reference_level(p, lv) for lv in levels} == {"static": "static", "keep50": "static",
                                                              "causal_static": "static", "causal_keep50": "causal_static"}
