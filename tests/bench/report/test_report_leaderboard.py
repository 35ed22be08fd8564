"""`sebench report` on a real finished (small) run: every column, no empty cell, n/a only with a reason."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.report import leaderboard as L
from bench.report.cli import cli

REQUIRED = ["model", "target_keep", "realized_keep", "macs_dense_m_per_s", "macs_dynamic_m_per_s", "mac_saving",
            "pesq_wb", "pesq_wb_ci95_low", "pesq_wb_ci95_high", "stoi", "estoi", "si_sdr_db", "dnsmos_ovrl",
            "n_scored", "n_total", "vad_acc", "noise_acc", "f0_r2", "snr_r2", "probe_cost_frac",
            "pesq_wb_delta_vs_static", "pesq_wb_delta_ci95_low", "pesq_wb_delta_ci95_high", "notes",
            "git_commit", "dataset_sha256", "params_hash", "metric_spec"]


@pytest.fixture(scope="module")
def built(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert cli(["--params", str(run_dir / "params.yaml"), "--out", str(out), "--no-html"]) == 0
    return out


def test_columns_and_no_empty_cells(built):
    raw = pd.read_csv(built / "leaderboard.csv", dtype=str, keep_default_na=False)
    assert [c for c in REQUIRED if c not in raw.columns] == []
    assert list(raw["model"]) == ["noisy", "static", "keep50", "keep25"]
    assert (raw.map(lambda v: v.strip() == "")).sum().sum() == 0
    for r in raw.to_dict("records"):
        na_cols = [c for c, v in r.items() if v == L.NA]
        if na_cols:
            assert r["notes"] != "none", (r["model"], na_cols)


def test_values_and_reasons(built, run_dir):
    lb = pd.read_csv(built / "leaderboard.csv", dtype=str, keep_default_na=False).set_index("model")
    f = lambda m, c: float(lb.loc[m, c])
    # dnsmos not in the scored metrics -> n/a with a reason; probes n/a for noisy and static with reasons
    assert (lb["dnsmos_ovrl"] == "n/a").all() and "dnsmos_ovrl" in lb.loc["keep50", "notes"]
    for c in ("vad_acc", "noise_acc", "f0_r2", "snr_r2", "probe_cost_frac"):
        assert lb.loc["noisy", c] == "n/a" and lb.loc["static", c] == "n/a"
        assert 0 <= f("keep25", c) <= 1
    assert "no gate masks" in lb.loc["noisy", "notes"] and "static model" in lb.loc["static", "notes"]
    assert lb.loc["static", "pesq_wb_delta_vs_static"] == "n/a" and "reference" in lb.loc["static", "notes"]
    # quality follows the residual noise we planted; CIs bracket the means; deltas negative for pruned levels
    assert f("static", "pesq_wb") > f("keep50", "pesq_wb") > f("keep25", "pesq_wb") > f("noisy", "pesq_wb")
    for m in ("noisy", "static", "keep50", "keep25"):
        assert f(m, "pesq_wb_ci95_low") <= f(m, "pesq_wb") <= f(m, "pesq_wb_ci95_high")
        assert int(lb.loc[m, "n_scored"]) <= int(lb.loc[m, "n_total"]) == 4
    assert f("keep25", "pesq_wb_delta_ci95_high") < 0
    assert f("keep25", "pesq_wb_delta_vs_static") == pytest.approx(f("keep25", "pesq_wb") - f("static", "pesq_wb"),
                                                                   abs=1e-3)
    # compute: realized keep tracks the target, dynamic MACs below dense for gated, saving consistent
    s = json.loads((run_dir / "data/enhanced/keep25/summary.json").read_text())
    assert f("keep25", "realized_keep") == pytest.approx(s["realised_keep"]["mean"])
    assert f("keep25", "macs_dynamic_m_per_s") < f("keep50", "macs_dynamic_m_per_s") < f("static", "macs_dense_m_per_s")
    assert f("keep25", "mac_saving") == pytest.approx(1 - f("keep25", "macs_dynamic_m_per_s")
                                                      / f("keep25", "macs_dense_m_per_s"))
    assert f("noisy", "macs_dynamic_m_per_s") == 0.0 and lb.loc["noisy", "target_keep"] == "n/a"
    spec = json.loads(lb.loc["static", "metric_spec"])
    assert set(spec) == {"pesq_wb", "stoi", "estoi", "si_sdr"} and "0.0.4" in spec["pesq_wb"]


def test_markdown_names_implementations_and_provenance(built):
    md = (built / "leaderboard.md").read_text()
    assert "pesq (ludlows, ITU-T P.862 reference C code) | 0.0.4 | wb, ITU-T P.862.2, MOS-LQO" in md
    assert "pystoi" in md and "ESTOI (Jensen 2016), extended=True" in md
    assert "## Provenance" in md and "dataset_sha256" in md and "git_commit" in md and "pkg_torch" in md
    assert "## Notes" in md and "no gate masks" in md
    assert "Standalone auxiliary baselines" in md and "crepe_tiny" in md and "mae_hz" not in md
    head = next(line for line in md.splitlines() if line.startswith("| model"))
    table = [line for line in md.splitlines() if line.startswith("| ") and line.count("|") == head.count("|")]
    assert len(table) >= 5 and all("|  |" not in line for line in table)


def test_metrics_json_and_dvc_plot_csvs(built):
    m = json.loads((built / "metrics.json").read_text())
    assert list(m)[0] == "validity_gate_passed" and m.pop("validity_gate_passed") is True   # static beats noisy here
    assert set(m) == {"noisy", "static", "keep50", "keep25"}
    assert all(isinstance(v, (int, float)) for d in m.values() for v in d.values())
    assert 0 < m["keep50"]["pesq_wb_gain_retained"] < 1 and m["keep25"]["stoi_gain_retained"] < 1
    assert "vad_acc" in m["keep50"] and "vad_acc" not in m["static"]
    pareto = pd.read_csv(built / "plots" / "pareto.csv")
    assert list(pareto.columns[:3]) == ["model", "macs_dynamic_m_per_s", "pesq_wb"] and len(pareto) == 4
    bk = pd.read_csv(built / "plots" / "block_keep.csv")
    assert set(bk["model"]) == {"keep50", "keep25"} and bk["keep"].between(0, 1).all()
    pv = pd.read_csv(built / "plots" / "probes_vs_keep.csv")
    assert set(pv["model"]) == {"keep50", "keep25"}
    prov = json.loads((built / "provenance.json").read_text())
    assert prov["dataset_sha256"] == pd.read_csv(built / "leaderboard.csv")["dataset_sha256"].iloc[0]


def test_missing_inputs_are_notes_not_blanks(fresh_run, tmp_path):
    (fresh_run / "reports" / "probes.json").unlink()
    (fresh_run / "data" / "enhanced" / "keep50" / "summary.json").unlink()
    assert cli(["--params", str(fresh_run / "params.yaml"), "--out", str(tmp_path), "--no-html"]) == 0
    lb = pd.read_csv(tmp_path / "leaderboard.csv", dtype=str, keep_default_na=False).set_index("model")
    assert lb.loc["keep50", "realized_keep"] == "n/a" and "no enhance summary.json" in lb.loc["keep50", "notes"]
    assert lb.loc["keep50", "target_keep"] == "0.5"
    assert lb.loc["keep25", "vad_acc"] == "n/a" and "not probed" in lb.loc["keep25", "notes"]


def test_malformed_input_names_file(fresh_run, tmp_path, capsys):
    bad = fresh_run / "reports" / "scores_summary.csv"
    bad.write_text("system,mean\nnoisy,1.0\n")
    assert cli(["--params", str(fresh_run / "params.yaml"), "--out", str(tmp_path), "--no-html"]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "missing columns" in err


def test_cpu_time_cells_name_the_engine():
    """The CPU-time cell comes only from the benchmark of these very weights, and its note names the engine's
    backend and channel order."""
    from bench.report.leaderboard import Inputs, _cpu_time_cells, _Row

    row = dict(config="small", level="keep50", cpu_time_saving=0.1, ratio=0.3, mac_saving=0.34, model_sha256="ab",
               backend="c", channel_order="keep rate on dataset valid mixtures ['valid-000000']")
    inp = Inputs(levels={"static": 1.0, "keep50": 0.5}, engine={"keep50": row},
                 engine_machine={"cpu_model": "Xeon", "loadavg_start": [0.5], "date": "2026-12-04"},
                 model_sha256={"keep50": "ab"})
    r = _Row({}, [])
    _cpu_time_cells(r, "keep50", inp)
    assert r.r["cpu_time_saving"] == 0.1 and r.r["cpu_time_saving_per_mac_saving"] == 0.3
    assert "backend c, channels ordered by keep rate on dataset valid mixtures)" in r.notes[0]
    r = _Row({}, [])
    _cpu_time_cells(r, "keep50", Inputs(levels=inp.levels, engine=inp.engine, model_sha256={"keep50": "cd"}))
    assert "measured other weights" in r.notes[0] and r.r["cpu_time_saving"] != 0.1
