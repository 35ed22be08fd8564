"""Losses: compressed spectral loss invariants; budget loss drives the realised keep ratio to target."""
from __future__ import annotations

import pytest
import torch

from bench.models.fsenet import ConvFSENet, FSENetConfig, GateConfig
from bench.models.loss import budget_loss, compressed_spectral_loss

torch.set_num_threads(1)


def _spec(seed, shape=(2, 33, 20)):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def test_spectral_loss_zero_iff_equal_and_level_invariant():
    c, e = _spec(0), _spec(1)
    assert float(compressed_spectral_loss(c, c)) < 1e-6
    l1 = compressed_spectral_loss(e, c)
    assert float(l1) > 0.1
    torch.testing.assert_close(compressed_spectral_loss(1e-3 * e, 1e-3 * c), l1, rtol=1e-4, atol=1e-6)
    # mag_weight=1 ignores phase: a phase-rotated copy costs nothing
    assert float(compressed_spectral_loss(c * 1j, c, mag_weight=1.0)) < 1e-6
    assert float(compressed_spectral_loss(c * 1j, c, mag_weight=0.0)) > 0.1
    with pytest.raises(ValueError, match="shape"):
        compressed_spectral_loss(e[:, :, :5], c)


def test_spectral_loss_gradient_finite_at_zero():
    e = torch.zeros(1, 5, 4, dtype=torch.complex64, requires_grad=True)
    compressed_spectral_loss(e, _spec(2, (1, 5, 4))).backward()
    assert torch.isfinite(torch.view_as_real(e.grad)).all()


def test_budget_loss_values():
    g = torch.zeros(2, 3, 4, 5)
    g[:, 0] = 1.0
    assert float(budget_loss(g, 0.0)) == pytest.approx(1 / 3)
    assert float(budget_loss(g, 0.0, per_block=False)) == pytest.approx(1 / 9)
    assert float(budget_loss(torch.full((1, 2, 3, 4), 0.25), 0.25)) == 0.0
    with pytest.raises(ValueError):
        budget_loss(g[0], 0.5)
    with pytest.raises(ValueError):
        budget_loss(g, 1.5)


@pytest.mark.parametrize("surrogate,target", [("sigmoid", 0.25), ("ste", 0.5)])
def test_budget_loss_drives_realised_keep_to_target(surrogate, target):
    torch.manual_seed(0)
    cfg = FSENetConfig(bottleneck=8, hidden=16, stacks=1, blocks_per_stack=2, n_fft=64, hop_length=32,
                       gate=GateConfig(pool_frames=3, hidden=8, surrogate=surrogate))
    m = ConvFSENet(cfg)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    x0 = m(torch.randn(4, 2048, generator=g)).gates.mean().item()
    assert x0 > 0.6  # gates start mostly open
    for _ in range(200):
        x = torch.randn(4, 2048, generator=g)
        out = m(x)
        loss = 0.1 * compressed_spectral_loss(out.enhanced_spec, out.noisy_spec) + budget_loss(out.gates, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        realised = m(torch.randn(8, 2048, generator=g)).gates.mean(dim=(0, 2, 3))
    assert torch.all((realised - target).abs() < 0.1), realised


# ---------------------------------------------------------------------------------------------------- SI-SDR term
def test_neg_si_sdr_matches_definition_and_is_scale_invariant():
    from bench.models.loss import neg_si_sdr
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(3, 4000, generator=g)
    noise = torch.randn(3, 4000, generator=g)
    est = clean + 0.1 * noise                       # ~ 20 dB
    c = clean - clean.mean(-1, keepdim=True)
    e = est - est.mean(-1, keepdim=True)
    t = (e * c).sum(-1, keepdim=True) / c.pow(2).sum(-1, keepdim=True) * c
    ref = 10 * torch.log10(t.pow(2).sum(-1) / (e - t).pow(2).sum(-1))
    assert float(neg_si_sdr(est, clean)) == pytest.approx(-float(ref.mean()), abs=1e-3)
    assert float(neg_si_sdr(3.0 * est, clean)) == pytest.approx(float(neg_si_sdr(est, clean)), abs=1e-3)
    assert float(neg_si_sdr(clean, clean)) == pytest.approx(-30.0)   # capped


def test_neg_si_sdr_skips_silent_targets_and_has_gradients():
    from bench.models.loss import neg_si_sdr
    clean = torch.zeros(2, 1000)
    clean[0] = torch.sin(torch.arange(1000) * 0.1)
    est = (clean + 0.3 * torch.randn(2, 1000)).requires_grad_(True)
    only_first = neg_si_sdr(est[:1], clean[:1])
    assert float(neg_si_sdr(est, clean)) == pytest.approx(float(only_first))
    neg_si_sdr(est, clean).backward()
    assert torch.isfinite(est.grad).all() and est.grad[1].abs().sum() == 0
    assert float(neg_si_sdr(est.detach()[1:], clean[1:])) == 0.0
    with pytest.raises(ValueError, match="shape mismatch"):
        neg_si_sdr(est[:, :10], clean)


def test_enhancement_loss_zero_weight_is_spectral_loss():
    from bench.models.loss import compressed_spectral_loss, enhancement_loss
    g = torch.Generator().manual_seed(1)
    es = torch.randn(2, 257, 20, dtype=torch.complex64, generator=g)
    cs = torch.randn(2, 257, 20, dtype=torch.complex64, generator=g)
    ew, cw = torch.randn(2, 5120, generator=g), torch.randn(2, 5120, generator=g)
    base = compressed_spectral_loss(es, cs)
    assert torch.equal(enhancement_loss(es, cs, ew, cw), base)
    from bench.models.loss import neg_si_sdr
    assert float(enhancement_loss(es, cs, ew, cw, sisdr_weight=0.01)) == \
        pytest.approx(float(base + 0.01 * neg_si_sdr(ew, cw)))
