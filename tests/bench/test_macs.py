"""Analytic MAC counts vs the paper figures and vs torch.utils.flop_counter on the real forward."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.macs import dense_macs_per_frame, dense_macs_per_s, dynamic_macs_per_frame, macs_summary
from bench.models.fsenet import ConvFSENet, FSENetConfig

torch.set_num_threads(1)
PAPER = dict(bottleneck=128, hidden=256)


def test_paper_config_matches_published_counts():
    d = dense_macs_per_frame(FSENetConfig(**PAPER, gated=False))
    assert d["conv_total"] == 662_528                       # reference config (Miccini et al. 2025): ~662 k MACs/frame
    assert d["blocks"][0]["conv1"] + d["blocks"][0]["dwconv"] + d["blocks"][0]["conv2"] == 66_304
    assert abs(d["conv_total"] * 62.5 - 41.4e6) / 41.4e6 < 0.01   # ~41.4 M MACs/s
    assert 9 * 66_304 / d["conv_total"] > 0.89                     # blocks carry ~90 %
    assert abs(d["total"] - 662_528) / 662_528 < 0.03              # norms/acts are small
    assert d["gate_total"] == 0 and d["total_with_gates"] == d["total"]
    assert dense_macs_per_s(FSENetConfig(**PAPER, gated=False)) == pytest.approx(d["total"] * 62.5)


@pytest.mark.parametrize("gated", [False, True])
def test_analytic_conv_macs_match_flop_counter(gated):
    cfg = FSENetConfig(bottleneck=32, hidden=48, stacks=2, blocks_per_stack=3, gated=gated)
    m = ConvFSENet(cfg).eval()
    n = 8000
    T = 1 + n // cfg.hop_length
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        m(torch.randn(1, n))
    counts = counter.get_flop_counts()["Global"]          # {aten op: flops}
    conv_flops = sum(v for op, v in counts.items() if "convolution" in str(op))
    assert conv_flops > 0
    d = dense_macs_per_frame(cfg)
    expected = d["conv_total"] + (d["gate_total"] - cfg.n_blocks * cfg.bottleneck)  # gate 1x1 layers
    measured = conv_flops / 2 / T
    assert abs(measured - expected) / expected < 0.01, (measured, expected)


def test_dynamic_all_ones_and_all_zeros():
    cfg = FSENetConfig()
    d = dense_macs_per_frame(cfg)
    T = 7
    ones = np.ones((T, cfg.n_blocks, cfg.hidden), bool)
    np.testing.assert_array_equal(dynamic_macs_per_frame(cfg, ones), np.full(T, d["total_with_gates"]))
    zeros = np.zeros_like(ones)
    np.testing.assert_array_equal(dynamic_macs_per_frame(cfg, zeros),
                                  np.full(T, d["front"] + d["back"] + d["gate_total"]))
    static = FSENetConfig(gated=False)
    assert dynamic_macs_per_frame(static, ones)[0] == dense_macs_per_frame(static)["total"]


def test_dynamic_scales_with_active_channels_per_block():
    cfg = FSENetConfig()
    rng = np.random.default_rng(0)
    g = rng.random((50, cfg.n_blocks, cfg.hidden)) < 0.3
    d = dense_macs_per_frame(cfg)
    dyn = dynamic_macs_per_frame(cfg, torch.from_numpy(g))
    per_block_dense = d["block"]
    expect = d["front"] + d["back"] + d["gate_total"] + per_block_dense * g.sum(axis=(1, 2)) / cfg.hidden
    np.testing.assert_allclose(dyn, expect)
    s = macs_summary(cfg, g)
    assert 0 < s["mac_saving_vs_dense"] < 1 and s["dynamic_macs_per_s"] < s["dense_macs_per_s"]
    with pytest.raises(ValueError, match="gates_bool"):
        dynamic_macs_per_frame(cfg, g[:, :3])
