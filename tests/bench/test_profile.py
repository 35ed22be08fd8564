import yaml

from bench.profile import PROFILES_DIR, deep_merge, resolve
from bench.train import check_gated_levels


def test_deep_merge_and_replace_marker():
    base = {"a": {"x": 1, "y": 2}, "levels": {"s": 1.0, "k": 0.5}, "l": [1, 2]}
    out = deep_merge(base, {"a": {"y": 3}, "levels!": {"s": 1.0}, "l": [9]})
    assert out == {"a": {"x": 1, "y": 3}, "levels": {"s": 1.0}, "l": [9]}
    assert base["a"]["y"] == 2  # base untouched


def test_every_profile_resolves_against_default_params():
    base = yaml.safe_load((PROFILES_DIR.parent / "params.yaml").read_text())
    for p in sorted(PROFILES_DIR.glob("*.yaml")):
        merged = resolve(p.stem, base)
        assert merged["profile"] == p.stem
        for key in ("frames", "paths", "corpus", "plan", "labels", "model", "levels", "train", "score", "probe"):
            assert key in merged, (p.name, key)
        assert merged["model"]["config"] in merged["model"]["configs"], p.name
        assert 1.0 in merged["levels"].values(), f"{p.name}: needs a static (1.0) level"
        check_gated_levels(merged)   # gated_levels and train.joint.levels consistent with levels
