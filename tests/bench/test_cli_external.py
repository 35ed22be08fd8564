"""`sebench score --system NAME=DIR` keeps the DVC-tracked score outputs untouched (they are rewritten
only by the pipeline), writes to data/scores_external/<NAME>/, and the report's inputs pick the row up."""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main as sebench
from bench.report.leaderboard import ReportInputError, load_inputs
from bench.score.external import external_scores_root, load_external

sys.path.insert(0, str(Path(__file__).resolve().parent / "score"))
from test_score_runner_cli import _params  # noqa: E402  (the score tests' params helper)


def _digest(d: Path) -> dict:
    return {str(f.relative_to(d)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.rglob("*"))
            if f.is_file()}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from tests.bench.score.conftest import _write_system
    from tests.synth import make_dataset
    from datagen.dataset import load_metadata

    root = make_dataset(tmp_path_factory.mktemp("ext_ds"), {"test": 3}, duration_s=2.0, seed=5)
    return root, load_metadata(root, "test"), _write_system


def test_external_system_goes_beside_the_tracked_outputs_and_into_the_report(tmp_path, synth):
    src, meta, write_system = synth
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    write_system(tmp_path / "enh" / "static" / "audio", meta, root, 0.001, seed=1)
    write_system(tmp_path / "enh" / "keep50" / "audio", meta, root, 0.004, seed=2)
    ext = write_system(tmp_path / "ext", meta, root, 0.002, seed=3)
    params = _params(tmp_path, root, {"static": 1.0, "keep50": 0.5})
    import yaml

    q = yaml.safe_load(params.read_text())
    for k in ("replicate_seeds", "replicate_levels"):   # no training-seed replicates in this test
        if k in q["train"]:
            q["train"][k] = []
    params.write_text(yaml.safe_dump(q))
    assert sebench(["score", "--params", str(params), "--no-progress"]) == 0   # the pipeline's score stage
    tracked = {d: _digest(tmp_path / d) for d in ("scores", "reports")}

    assert sebench(["score", "--params", str(params), "--no-progress", "--system", f"mine={ext}"]) == 0
    assert {d: _digest(tmp_path / d) for d in ("scores", "reports")} == tracked   # nothing overwritten
    out = tmp_path / "scores_external" / "mine"
    s = pd.read_csv(out / "scores_summary.csv")
    assert set(s["system"]) == {"noisy", "static", "mine"}   # the reference for Δ, not every level again
    assert set(pd.read_csv(out / "scores_paired.csv")["system"]) >= {"mine"}

    p = yaml.safe_load(params.read_text())
    inp = load_inputs(p, tmp_path / "reports")
    assert set(inp.scores["system"]) == {"noisy", "static", "keep50", "mine"}
    assert (inp.scores["system"] == "static").sum() == (s["system"] == "static").sum()   # no duplicate rows
    assert "mine" in set(inp.per_utt["system"]) and "mine" in set(inp.paired["system"])

    # the same external name in a second folder is a clear error naming both folders
    shutil.copytree(out, external_scores_root(p["paths"]) / "mine+other")
    with pytest.raises(ReportInputError, match=r"'mine'.*scores_external/mine"):
        load_inputs(p, tmp_path / "reports")


def test_no_external_folder_adds_nothing(tmp_path):
    assert load_external({"scores_dir": str(tmp_path / "scores")}, {"noisy"}) == {}
