"""`sebench report merge`: comparable runs merge; other datasets / metric implementations are refused."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from bench.report import merge as M
from bench.report.cli import cli


@pytest.fixture(scope="module")
def report_a(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep_a")
    assert cli(["--params", str(run_dir / "params.yaml"), "--out", str(out), "--no-html"]) == 0
    return out


def _variant(report_a, tmp_path, name, **changes) -> str:
    """A copy of run A's leaderboard with columns changed (what another machine / experiment would write)."""
    d = tmp_path / name
    shutil.copytree(report_a, d)
    lb = pd.read_csv(d / "leaderboard.csv", dtype=str, keep_default_na=False)
    for k, fn in changes.items():
        lb[k] = [fn(v) for v in lb[k]]
    lb.to_csv(d / "leaderboard.csv", index=False)
    return str(d)


def test_merge_comparable_runs(report_a, tmp_path):
    b = _variant(report_a, tmp_path, "b", git_commit=lambda v: "f" * 40, pesq_wb=lambda v: v)
    out = tmp_path / "merged"
    assert cli(["merge", f"seed0={report_a}", f"seed1={b}", "--out", str(out)]) == 0
    m = pd.read_csv(out / "leaderboard.csv", dtype=str, keep_default_na=False)
    assert len(m) == 8 and set(m["run"]) == {"seed0", "seed1"}
    assert (m["mismatch"] == "none").all()
    assert (m.map(lambda v: v.strip() == "")).sum().sum() == 0
    md = (out / "leaderboard.md").read_text()
    assert "## Runs" in md and "f" * 40 in md and "Provenance of this merge" in md
    assert "seed1/keep25" in json.loads((out / "metrics.json").read_text())


def test_merge_refuses_other_dataset(report_a, tmp_path, capsys):
    b = _variant(report_a, tmp_path, "otherdata", dataset_sha256=lambda v: "0" * 64)
    assert cli(["merge", str(report_a), b, "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert "refusing" in err and "dataset_sha256" in err and "otherdata" in err
    assert not (tmp_path / "m" / "leaderboard.csv").exists()


def test_merge_refuses_other_metric_version(report_a, tmp_path, capsys):
    def bump(s):
        d = json.loads(s)
        d["pesq_wb"] = d["pesq_wb"].replace("0.0.4", "0.0.5")
        return json.dumps(d, sort_keys=True)

    b = _variant(report_a, tmp_path, "otherpesq", metric_spec=bump)
    assert cli(["merge", str(report_a), b, "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert "metric pesq_wb" in err and "0.0.5" in err
    # with --allow-mismatch the rows are kept and flagged
    assert cli(["merge", str(report_a), b, "--out", str(tmp_path / "m"), "--allow-mismatch"]) == 0
    m = pd.read_csv(tmp_path / "m" / "leaderboard.csv", dtype=str, keep_default_na=False)
    flagged = m[m["mismatch"] != "none"]
    assert len(flagged) == 4 and flagged["mismatch"].str.contains("metric pesq_wb").all()
    assert (m[m["source"].str.contains("rep_a")]["mismatch"] == "none").all()


def test_merge_external_scores_folder(report_a, run_dir, tmp_path, capsys):
    """A `sebench score --out` folder: refused without a dataset hash, merged with --assume-dataset PLAN."""
    ext = tmp_path / "ext"
    ext.mkdir()
    s = pd.read_csv(run_dir / "reports" / "scores_summary.csv")
    s = s[s["system"].isin(["noisy", "keep25"])].replace({"system": {"keep25": "mysys"}})
    s.to_csv(ext / "scores_summary.csv", index=False)
    assert cli(["merge", str(report_a), str(ext), "--out", str(tmp_path / "m")]) == 1
    assert "dataset_sha256 unknown" in capsys.readouterr().err
    plan = run_dir / "data" / "plan" / "plan.parquet"
    assert cli(["merge", str(report_a), str(ext), "--out", str(tmp_path / "m"), "--assume-dataset", str(plan)]) == 0
    m = pd.read_csv(tmp_path / "m" / "leaderboard.csv", dtype=str, keep_default_na=False).set_index("model")
    assert m.loc["mysys", "macs_dynamic_m_per_s"] == "n/a" and "external system" in m.loc["mysys", "notes"]
    assert m.loc["mysys", "pesq_wb_delta_vs_static"] == "n/a"
    assert float(m.loc["mysys", "pesq_wb"]) > 1.0


def test_bad_inputs_are_clear(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert cli(["merge", str(tmp_path / "x.csv"), "--out", str(tmp_path / "m")]) == 1
    assert "not a sebench leaderboard" in capsys.readouterr().err
    assert cli(["merge", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert M.parse_input_arg("lab=some/dir") == ("lab", "some/dir")


def test_older_leaderboard_missing_columns_gets_reason(report_a, tmp_path):
    d = tmp_path / "old"
    d.mkdir()
    pd.read_csv(report_a / "leaderboard.csv", dtype=str, keep_default_na=False).drop(columns=["seed", "estoi"]) \
        .to_csv(d / "leaderboard.csv", index=False)
    assert cli(["merge", str(report_a), str(d), "--out", str(tmp_path / "m")]) == 0
    m = pd.read_csv(tmp_path / "m" / "leaderboard.csv", dtype=str, keep_default_na=False)
    old = m[m["source"].str.endswith("/old")]
    assert len(old) == 4 and (old["estoi"] == "n/a").all()
    assert old["notes"].str.contains("columns absent in leaderboard.csv: seed, estoi").all()
