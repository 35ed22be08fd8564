"""Real channel skipping == masked dense model (causal streaming + offline, causal and non-causal)."""
from __future__ import annotations

import pytest
import torch

from bench.models.fsenet import ConvFSENet, FSENetConfig
from bench.skipping import SkippingFSENet

torch.set_num_threads(1)


def _setup(causal: bool, gated: bool = True, density: float = 0.4, seed: int = 0):
    torch.manual_seed(seed)
    cfg = FSENetConfig(bottleneck=16, hidden=24, stacks=2, blocks_per_stack=3, causal=causal, gated=gated)
    m = ConvFSENet(cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    x = 0.1 * torch.randn(1, 6000, generator=g)
    feats = m.features(m.stft(x))
    T = feats.shape[-1]
    forced = torch.rand(T, m.n_blocks, cfg.hidden, generator=g) < density
    forced[3] = False            # a frame with every channel skipped
    forced[5, :, :] = True       # and one fully dense
    return m, x, feats, forced


def _dense(m, feats, forced=None):
    with torch.no_grad():
        fg = None if forced is None else forced.permute(1, 2, 0)[None].float()
        mask, gates, _, _ = m.mask_from_features(feats, fg)
    return mask[0], (None if gates is None else gates[0].permute(2, 0, 1).bool())


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("skip", [True, False])
def test_offline_matches_masked_dense(causal, skip):
    m, _, feats, forced = _setup(causal)
    ref, _ = _dense(m, feats, forced)
    mask, used = SkippingFSENet(m).run_offline(feats[0], forced, skip=skip)
    assert torch.equal(used, forced)
    assert float((mask - ref).abs().max()) < 1e-5


@pytest.mark.parametrize("skip", [True, False])
def test_streaming_matches_masked_dense(skip):
    m, _, feats, forced = _setup(causal=True)
    ref, _ = _dense(m, feats, forced)
    mask, used = SkippingFSENet(m).run_streaming(feats[0], forced, skip=skip)
    assert torch.equal(used, forced)
    assert float((mask - ref).abs().max()) < 1e-5


@pytest.mark.parametrize("causal", [True, False])
def test_model_gates_reproduced(causal):
    """Without forced masks the skipping path evaluates the gates itself and gets the same decisions."""
    m, _, feats, _ = _setup(causal, seed=4)
    with torch.no_grad():   # make the gates selective (around half the channels) instead of all-open
        for g in m.gates:
            g.layers[-1].bias.zero_()
    ref, gates = _dense(m, feats)
    assert 0.2 < gates.float().mean() < 0.8
    sk = SkippingFSENet(m)
    runs = [sk.run_offline] + ([sk.run_streaming] if causal else [])
    for run in runs:
        mask, used = run(feats[0])
        assert torch.equal(used, gates)
        assert float((mask - ref).abs().max()) < 1e-5


def test_enhance_waveform_and_static_model():
    m, x, feats, forced = _setup(causal=True, gated=False)
    sk = SkippingFSENet(m)
    with pytest.raises(ValueError, match="forced"):
        sk.run_offline(feats[0])
    with torch.no_grad():
        ref = m(x, forced_gates=forced.permute(1, 2, 0)[None].float()).enhanced[0]
    y = sk.enhance(x[0], forced)
    assert y.shape == x[0].shape and float((y - ref).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="forced masks"):
        sk.run_offline(feats[0], forced[:, :2])
    nc, _, f2, _ = _setup(causal=False)
    with pytest.raises(ValueError, match="causal"):
        SkippingFSENet(nc).run_streaming(f2[0])
