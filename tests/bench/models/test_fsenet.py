"""Conv-FSENet: shapes, STFT reconstruction, causality, parameter count, params loading."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.models.fsenet import ConvFSENet, FSENetConfig, GateConfig, ModelOutput
from bench.params import load_params

torch.set_num_threads(1)

TINY = dict(bottleneck=16, hidden=24, stacks=2, blocks_per_stack=3)


def _speechlike(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 16000.0
    x = 0.3 * torch.sin(2 * torch.pi * 180 * t) * (torch.sin(2 * torch.pi * 3 * t) > 0)
    return (x + 0.05 * torch.randn(n, generator=g)).float()


@pytest.mark.parametrize("gated", [True, False])
def test_shapes_and_frame_grid(gated):
    torch.manual_seed(0)
    m = ConvFSENet(FSENetConfig(**TINY, gated=gated)).eval()
    n = 16000 + 77
    x = torch.stack([_speechlike(n, 0), _speechlike(n, 1)])
    out = m(x, return_activations=True)
    T = 1 + n // 256
    assert isinstance(out, ModelOutput)
    assert out.enhanced.shape == (2, n)
    assert out.spec_mask.shape == (2, 257, T) and out.noisy_spec.shape == (2, 257, T)
    assert out.noisy_spec.is_complex() and out.enhanced_spec.is_complex()
    assert float(out.spec_mask.detach().min()) >= 0.0 and float(out.spec_mask.detach().max()) <= 1.0
    assert out.activations.shape == (2, m.n_blocks, 24, T)
    assert m.n_blocks == 6 and m.block_channels == [24] * 6
    if gated:
        assert out.gates.shape == (2, 6, 24, T)
        assert set(torch.unique(out.gates).tolist()) <= {0.0, 1.0}
    else:
        assert out.gates is None
    torch.testing.assert_close(out.enhanced_spec, out.noisy_spec * out.spec_mask)


def test_allpass_mask_reconstructs_input():
    """iSTFT(STFT(x) * 1) == x: the model's analysis/synthesis pair is perfect-reconstruction."""
    m = ConvFSENet(FSENetConfig(**TINY))
    x = _speechlike(12345)[None]
    y = m.istft(m.stft(x) * torch.ones(1), x.shape[-1])
    assert y.shape == x.shape
    assert float((y - x).abs().max()) < 1e-5


def test_weights_of_skipped_channels_do_not_matter():
    torch.manual_seed(2)
    m = ConvFSENet(FSENetConfig(**TINY)).eval()
    x = _speechlike(8000)[None]
    T = 1 + 8000 // 256
    forced = torch.ones(1, m.n_blocks, 24, T)
    forced[:, :, :8] = 0.0  # channels 0..7 skipped everywhere
    ref = m(x, forced_gates=forced).spec_mask
    with torch.no_grad():
        for b in m.blocks:
            b.conv1.weight[:8] = 99.0
            b.dwconv.weight[:8] = -5.0
            b.norm1.weight[:8] = 3.0
            b.conv2.weight[:, :8] = 42.0
    torch.testing.assert_close(m(x, forced_gates=forced).spec_mask, ref)
    # and they do matter when active
    assert not torch.allclose(m(x).spec_mask, ref)


@pytest.mark.parametrize("gated", [True, False])
def test_causal_variant_is_causal(gated):
    torch.manual_seed(3)
    cfg = FSENetConfig(**TINY, causal=True, gated=gated)
    m = ConvFSENet(cfg).eval()
    n, hop = 16000, 256
    x1 = _speechlike(n, 0)[None]
    t = 30                                     # change the input after frame t's window
    x2 = x1.clone()
    x2[:, (t + 1) * hop:] += 0.5 * torch.randn(1, n - (t + 1) * hop, generator=torch.Generator().manual_seed(9))
    o1, o2 = m(x1, return_activations=True), m(x2, return_activations=True)
    # frames <= t see only samples < (t+1)*hop - ... (window of frame t ends at t*hop + n_fft/2)
    assert torch.equal(o1.spec_mask[..., : t + 1], o2.spec_mask[..., : t + 1])
    assert torch.equal(o1.activations[..., : t + 1], o2.activations[..., : t + 1])
    if gated:
        assert torch.equal(o1.gates[..., : t + 1], o2.gates[..., : t + 1])
    # output samples before frame t+1's window starts (t*hop) are made from frames <= t only
    assert torch.equal(o1.enhanced[:, : t * hop], o2.enhanced[:, : t * hop])
    # ...and later frames did change (the test can fail)
    assert not torch.equal(o1.spec_mask[..., t + 2:], o2.spec_mask[..., t + 2:])


def test_noncausal_variant_looks_ahead():
    torch.manual_seed(3)
    m = ConvFSENet(FSENetConfig(**TINY, causal=False)).eval()
    x1 = _speechlike(16000)[None]
    x2 = x1.clone()
    x2[:, 31 * 256:] += 0.5
    assert not torch.equal(m(x1).spec_mask[..., :30], m(x2).spec_mask[..., :30])


def test_paper_config_parameter_count():
    """Reference config (Miccini et al. 2025): about 674 k parameters for B=128, H=256 (static)."""
    m = ConvFSENet(FSENetConfig(bottleneck=128, hidden=256, gated=False))
    n = sum(p.numel() for p in m.parameters())
    assert abs(n - 674_000) / 674_000 < 0.01, n


def test_from_params_reads_params_yaml():
    p = load_params("params.yaml")
    cfg = FSENetConfig.from_params(p, level_keep=0.5)
    name = p["model"]["config"]
    assert cfg.bottleneck == p["model"]["configs"][name]["bottleneck"]
    assert cfg.hidden == p["model"]["configs"][name]["hidden"]
    assert cfg.hop_length == p["frames"]["hop_length"] and cfg.n_fft == p["frames"]["n_fft"]
    assert cfg.gated and cfg.gate.pool_frames == p["model"]["gate"]["pool_frames"]
    assert not FSENetConfig.from_params(p, level_keep=1.0).gated
    assert FSENetConfig.from_dict(cfg.to_dict()) == cfg
    bad = dict(p, model={k: v for k, v in p["model"].items() if k != "gate"})
    with pytest.raises(KeyError, match="gate"):
        FSENetConfig.from_params(bad, 0.5)
    with pytest.raises(ValueError, match="shape"):
        ConvFSENet(cfg)(torch.zeros(1000))
    assert dataclasses.is_dataclass(GateConfig())
