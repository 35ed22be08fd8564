"""bench.report.joint: joint-trained level vs its plain twin (hand-made inputs, exact values)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.report import joint as J

PARAMS = {"levels": {"static": 1.0, "keep75": 0.75, "keep50": 0.5, "keep50_joint": 0.5, "keep25_joint": 0.25},
          "train": {"joint": {"levels": ["keep50_joint", "keep25_joint"], "weight": 0.1, "tasks": ["vad"]}}}


def test_twins_pair_same_keep_plain_levels():
    assert J.twins(PARAMS) == [("keep50_joint", "keep50")]   # keep25_joint has no plain twin: skipped
    assert J.twins({"levels": {"static": 1.0}, "train": {}}) == []


def _per_utt(n=12):
    rng = np.random.default_rng(0)
    base = rng.uniform(1.2, 2.0, n)
    rows = []
    for i in range(n):
        for system, off in (("keep50", 0.0), ("keep50_joint", -0.05), ("static", 0.1)):
            rows.append(dict(system=system, mixture_id=f"m{i}", metric="pesq_wb", value=base[i] + off, status="ok"))
    rows.append(dict(system="keep50_joint", mixture_id="m0", metric="stoi", value=np.nan, status="failed"))
    return pd.DataFrame(rows)


def _probes():
    rows = []
    for level, acc, std in (("keep50", 0.80, 0.01), ("keep50_joint", 0.90, 0.02)):
        rows.append(dict(level=level, task="vad", probe="linear", features="masks", n_features=32, metric="acc",
                         mean=acc, std=std, c_star=32))
        rows.append(dict(level=level, task="vad", probe="linear", features="masks", n_features=8, metric="acc",
                         mean=0.5, std=0.0, c_star=32))   # not at C*: ignored
    return pd.DataFrame(rows)


def test_comparison_values(tmp_path):
    (tmp_path / "keep50_joint").mkdir()
    (tmp_path / "keep50_joint" / "train_summary.json").write_text(json.dumps(
        {"joint": {"heads_valid": {"vad": {"acc": 0.95, "n_frames": 10}}}}))
    summaries = {"keep50": {"realised_keep": {"mean": 0.5, "p5": 0.4}, "mac_saving": 0.27},   # enhance format
                 "keep50_joint": {"realised_keep": {"mean": 0.52, "p5": 0.4}, "mac_saving": 0.25}}
    df = J.comparison(PARAMS, summaries, _per_utt(), _probes(), tmp_path, n_boot=200, seed=0,
                      spec={"pesq_wb": "pesq | 0.0.4 | wb"})
    assert list(df.columns) == J.COLUMNS and set(df["joint"]) == {"keep50_joint"}
    q = df.set_index("quantity")
    pesq = q.loc["PESQ-wb"]
    assert pesq["diff"] == pytest.approx(-0.05) and pesq["ci95_low"] == pytest.approx(-0.05)
    assert pesq["joint_value"] - pesq["plain_value"] == pytest.approx(-0.05)
    assert pesq["source"].startswith("pesq | 0.0.4 | wb; paired over 12 test utterances")
    assert q.loc["realised keep (test)", "diff"] == pytest.approx(0.02)
    vad = q.loc["VAD acc (linear, C*)"]
    assert vad["diff"] == pytest.approx(0.10) and vad["spread"] == pytest.approx(0.02)
    heads = [r for r in df["quantity"] if r.startswith("heads' own vad acc")]
    assert len(heads) == 1 and q.loc[heads[0], "joint_value"] == pytest.approx(0.95)
    md = J.section_md(df, 0.1, ["vad"])
    assert "| keep50_joint | keep50 | PESQ-wb |" in md and "-0.0500 [-0.0500, -0.0500]" in md
    assert "± 0.020" in md
    assert J.section_md(pd.DataFrame(columns=J.COLUMNS)) is None
