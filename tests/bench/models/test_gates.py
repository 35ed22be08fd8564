"""Gates: binary forward, surrogate gradients, pooling causality."""
from __future__ import annotations

import pytest
import torch

from bench.models.gates import ChannelGate, heaviside, moving_average

torch.set_num_threads(1)


@pytest.mark.parametrize("surrogate", ["ste", "sigmoid"])
def test_heaviside_binary_forward_and_surrogate_backward(surrogate):
    s = torch.linspace(-2, 2, 41, requires_grad=True)
    y = heaviside(s, surrogate, 5.0)
    assert torch.equal(y, (s > 0).float())
    y.sum().backward()
    g = s.grad
    if surrogate == "ste":
        torch.testing.assert_close(g, (s.detach().abs() <= 1).float())
    else:
        sg = torch.sigmoid(5 * s.detach())
        torch.testing.assert_close(g, 5 * sg * (1 - sg))
    assert float(g[20]) > 0  # non-zero at the step


def test_unknown_surrogate_rejected():
    with pytest.raises(ValueError, match="surrogate"):
        heaviside(torch.zeros(3), "gumbel")
    with pytest.raises(ValueError, match="surrogate"):
        ChannelGate(4, 8, surrogate="gumbel")


@pytest.mark.parametrize("surrogate", ["ste", "sigmoid"])
def test_gate_gradients_reach_gate_weights(surrogate):
    torch.manual_seed(0)
    gate = ChannelGate(8, 16, pool_frames=5, hidden=12, n_layers=2, surrogate=surrogate, causal=True)
    x = torch.randn(2, 8, 40)
    keep, scores = gate(x)
    assert keep.shape == (2, 16, 40) and set(torch.unique(keep).tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(keep, (scores > 0).float())
    keep.mean().backward()
    for p in gate.parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0


def test_moving_average_causal_window():
    x = torch.zeros(1, 1, 12)
    x[0, 0, 6] = 5.0
    c = moving_average(x, 5, causal=True)[0, 0]
    assert c.shape == (12,)
    assert torch.equal(c[:6], torch.zeros(6)) and torch.allclose(c[6:11], torch.ones(5)) and c[11] == 0
    nc = moving_average(x, 5, causal=False)[0, 0]
    assert torch.allclose(nc[4:9], torch.ones(5)) and nc[:4].sum() == 0 and nc[9:].sum() == 0
    assert torch.equal(moving_average(x, 1, True), x)
