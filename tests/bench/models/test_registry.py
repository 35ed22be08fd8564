"""bench.models.registry: one place that builds, saves, loads and counts every architecture."""
import numpy as np
import pytest
import torch

from bench.models.registry import (REGISTRY, SEModel, architecture, build_from_params, load_checkpoint,
                                   model_spec)
from datagen.errors import SebenchError


def _params(arch="conv_fsenet"):
    return {"frames": {"sample_rate_hz": 16000, "hop_length": 256, "n_fft": 512},
            "model": {"architecture": arch, "config": "t", "causal": False,
                      "configs": {"t": {"bottleneck": 8, "hidden": 8, "stacks": 1, "blocks_per_stack": 2,
                                        "kernel": 3, "compress_exponent": 0.3}},
                      "gate": {"pool_frames": 3, "hidden": 4, "n_layers": 2, "surrogate": "sigmoid",
                               "surrogate_slope": 5.0}}}


def test_every_registered_architecture_meets_the_protocol(tmp_path):
    """Build -> forward -> gates -> MACs -> save -> load gives the same outputs, for every registry entry."""
    for name in REGISTRY:
        model, cfg = build_from_params(_params(name), keep=0.5)
        assert isinstance(model, SEModel), name
        model.eval()
        x = torch.randn(1, 16000, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            out = model(x)
        assert out.enhanced.shape == x.shape
        assert out.gates is not None and out.gates.shape[1] == model.n_blocks
        spec = model_spec(name)
        dense = spec.dense_macs_per_frame(cfg)["total"]
        g = out.gates[0].permute(2, 0, 1).bool().numpy()          # (T, blocks, H)
        dyn = np.asarray(spec.dynamic_macs_per_frame(cfg, g))
        assert dyn.shape == (g.shape[0],) and dense > 0
        # all channels on costs at least the dense count (gates add their own cost); none on costs less
        assert spec.dynamic_macs_per_frame(cfg, np.ones_like(g)).min() >= dense
        assert spec.dynamic_macs_per_frame(cfg, np.zeros_like(g)).max() < dense
        path = tmp_path / name / "model.pt"
        path.parent.mkdir()
        torch.save({"state_dict": model.state_dict(), "config": cfg.to_dict(), "architecture": name}, path)
        loaded, cfg2, ck = load_checkpoint(path)
        with torch.no_grad():
            assert torch.equal(loaded(x).enhanced, out.enhanced)
        assert cfg2 == cfg and ck["architecture"] == name


def test_static_model_has_no_gates():
    model, cfg = build_from_params(_params(), keep=1.0)
    assert not cfg.gated and model(torch.zeros(1, 4096)).gates is None


def test_unknown_architecture_is_refused_with_a_suggestion():
    assert architecture({"model": {}}) == "conv_fsenet"       # old params files: the default
    with pytest.raises(SebenchError, match="conv_fsenet"):
        model_spec("conv_fsnet")
    with pytest.raises(SebenchError, match="unknown architecture"):
        build_from_params(_params("transformer"), keep=1.0)


def test_load_checkpoint_names_the_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained model"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(bad)


def test_models_saved_before_the_registry_load_as_conv_fsenet(tmp_path):
    """model.pt files without an ``architecture`` key (written before the registry) still load."""
    model, cfg = build_from_params(_params(), keep=1.0)
    path = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict(), "config": cfg.to_dict()}, path)
    assert type(load_checkpoint(path)[0]).__name__ == "ConvFSENet"
