"""Provenance: every field filled, dataset hash = sha256 of the plan bytes, clear fallbacks."""
from __future__ import annotations

import hashlib
import re
import subprocess

import yaml

from bench.params import params_hash
from bench.report import provenance as V


def test_every_field_filled_and_correct(run_dir):
    p = yaml.safe_load((run_dir / "params.yaml").read_text())
    prov = V.collect(p, cwd=V.Path(__file__).parent)
    for k in ("date_utc", "git_commit", "git_dirty", "params_hash", "dataset_sha256", "profile", "python",
              "cpu_model", "cpu_count", "cuda_device", *[f"pkg_{x}" for x in V.PACKAGES]):
        assert k in prov and isinstance(prov[k], str) and prov[k].strip(), k
    plan = run_dir / "data" / "plan" / "plan.parquet"
    assert prov["dataset_sha256"] == hashlib.sha256(plan.read_bytes()).hexdigest()
    assert prov["params_hash"] == params_hash(p)
    assert re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])  # tests run inside the repository
    assert prov["git_dirty"] in ("true", "false")
    assert prov["git_commit"] == subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                                cwd=V.Path(__file__).parent).stdout.strip()
    assert prov["pkg_pesq"] == "0.0.4" and prov["pkg_torch"].startswith("2.")
    assert int(prov["cpu_count"]) >= 1
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", prov["date_utc"])
    md = V.to_markdown(prov)
    assert all(f"{k}" in md and v in md for k, v in prov.items())
    assert prov["git_commit"][:8] in V.run_id(prov)


def test_fallbacks_outside_git_and_without_plan(tmp_path):
    p = {"paths": {"plan_dir": str(tmp_path / "nope")}, "profile": "tiny"}
    prov = V.collect(p, cwd=tmp_path, cuda=False)
    assert prov["dataset_sha256"].startswith("missing: ") and "plan.parquet" in prov["dataset_sha256"]
    assert prov["git_commit"].startswith("unknown") and prov["git_dirty"] == "unknown"
    assert prov["profile"] == "tiny" and prov["cuda_device"] == "not checked"
    assert V.run_id(prov).startswith("nogit-")
