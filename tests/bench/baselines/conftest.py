"""Fixtures for the baseline tests: one tiny end-to-end run
of ``sebench baselines`` on the synthetic labels-stage dataset of tests/synth.py (shared per session)."""
from __future__ import annotations

import pytest
import torch
import yaml


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def e2e(tmp_path_factory):
    """Run ``sebench baselines`` once on the synthetic dataset with tiny settings; returns paths."""
    from bench.cli import main
    from tests.synth import make_dataset

    root = tmp_path_factory.mktemp("baselines_e2e")
    ds = make_dataset(root / "ds", n_per_split={"train": 6, "valid": 2, "test": 3}, duration_s=2.0, seed=3)
    with open("params.yaml") as f:
        p = yaml.safe_load(f)
    p["baselines"].update(epochs=2, patience=2, bootstrap_n=100, crepe_full_max_s=0, crepe_tiny_max_s=2.0,
                          pyin_max_s=2.0, num_threads=1)
    (root / "params.yaml").write_text(yaml.safe_dump(p))
    argv = ["baselines", "--params", str(root / "params.yaml"), "--dataset-dir", str(ds),
            "--baselines-dir", str(root / "b"), "--reports-dir", str(root / "r")]
    assert main(argv) == 0
    return dict(root=root, ds=ds, b=root / "b", r=root / "r", argv=argv, params=p)
