"""The repo's params.yaml shrunk to a tiny model and tiny training, for the train/enhance/torchrun tests."""
from __future__ import annotations

from pathlib import Path

from bench.params import load_params

ROOT = Path(__file__).resolve().parents[2]


def tiny_params(root: Path, dataset_dir: Path, epochs: int = 2, batch_size: int = 4) -> dict:
    """Tiny model (B=16, H=16, 1x2 blocks), levels static + keep50 (gated level trained from scratch)."""
    p = load_params(ROOT / "params.yaml")
    p["paths"] = {k: str(root / Path(v).name) for k, v in p["paths"].items()}
    p["paths"]["dataset_dir"] = str(dataset_dir)
    p["model"]["configs"]["tiny"] = dict(bottleneck=16, hidden=16, stacks=1, blocks_per_stack=2, kernel=3,
                                         compress_exponent=0.3)
    p["model"]["config"] = "tiny"
    p["model"]["gate"]["hidden"] = 8
    p["train"].update(epochs=epochs, batch_size=batch_size, crop_s=1.0, num_threads=1, device="cpu",
                      init_gated_from=None, epochs_gated=None)
    p["levels"] = {"static": 1.0, "keep50": 0.5}
    p["gated_levels"] = ["keep50"]
    p["train"]["joint"] = dict(p["train"].get("joint") or {}, levels=[])   # no joint level (see test_joint)
    p["train"]["replicate_seeds"], p["train"]["replicate_levels"] = [], []   # no training-seed replicates
    p["causal"] = {"static_levels": [], "gated_levels": {}}   # no causal twins (see test_train)
    return p
