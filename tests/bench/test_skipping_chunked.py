"""Chunked channel skipping == masked dense model; its counted MACs match bench.macs at the extremes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.macs import dense_macs_per_frame, dynamic_macs_per_frame
from bench.models.fsenet import ConvFSENet, FSENetConfig
from bench.skipping_chunked import ChunkedSkippingFSENet, chunk_bounds, chunk_unions, chunked_macs

torch.set_num_threads(1)


def _setup(causal: bool, gated: bool = True, density: float = 0.4, seed: int = 0):
    torch.manual_seed(seed)
    cfg = FSENetConfig(bottleneck=16, hidden=24, stacks=2, blocks_per_stack=3, causal=causal, gated=gated)
    m = ConvFSENet(cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    x = 0.1 * torch.randn(1, 6000, generator=g)
    feats = m.features(m.stft(x))
    T = feats.shape[-1]                                   # 24 frames
    forced = torch.rand(T, m.n_blocks, cfg.hidden, generator=g) < density
    forced[3] = False                                     # a frame with every channel skipped
    forced[5] = True                                      # one fully dense frame
    forced[8:16] = False                                  # an all-off chunk for K = 4 and 8
    forced[16:20] = True                                  # an all-on chunk for K = 4
    return m, x, feats, forced


def _dense(m, feats, forced=None):
    with torch.no_grad():
        fg = None if forced is None else forced.permute(1, 2, 0)[None].float()
        mask, gates, _, _ = m.mask_from_features(feats, fg)
    return mask[0], (None if gates is None else gates[0].permute(2, 0, 1).bool())


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("chunk", [1, 3, 4, 8, 24, 100, None])
@pytest.mark.parametrize("skip,buckets", [(True, None), (True, 1), (True, 3), (False, 4)])
def test_chunked_matches_masked_dense(causal, chunk, skip, buckets):
    m, _, feats, forced = _setup(causal)
    ref, _ = _dense(m, feats, forced)
    run = ChunkedSkippingFSENet(m).run(feats[0], forced, chunk, skip=skip, buckets=buckets)
    assert torch.equal(run.used, forced)
    assert run.mask.shape == ref.shape
    assert float((run.mask - ref).abs().max()) < 1e-5


@pytest.mark.parametrize("causal", [True, False])
def test_model_gates_reproduced(causal):
    m, _, feats, _ = _setup(causal, seed=4)
    with torch.no_grad():                                 # selective gates (about half the channels)
        for g in m.gates:
            g.layers[-1].bias.zero_()
    ref, gates = _dense(m, feats)
    assert 0.2 < gates.float().mean() < 0.8
    sk = ChunkedSkippingFSENet(m)
    for chunk in (1, 5, None):
        run = sk.run(feats[0], chunk_frames=chunk)
        assert torch.equal(run.used, gates)
        assert float((run.mask - ref).abs().max()) < 1e-5


def test_all_on_and_all_off_masks():
    m, _, feats, forced = _setup(causal=True)
    sk = ChunkedSkippingFSENet(m)
    for fill in (True, False):
        f = torch.full_like(forced, fill)
        ref, _ = _dense(m, feats, f)
        run = sk.run(feats[0], f, 4)
        assert float((run.mask - ref).abs().max()) < 1e-5
        assert sum(run.computed_channel_frames) == (f.numel() if fill else 0)


def test_mac_counts_extremes_and_run_counts():
    m, _, feats, forced = _setup(causal=False)
    cfg, T = m.cfg, forced.shape[0]
    dense_total = T * dense_macs_per_frame(cfg)["total_with_gates"]
    dyn_total = int(dynamic_macs_per_frame(cfg, forced).sum())
    assert chunked_macs(cfg, torch.ones_like(forced), 4)["total"] == dense_total
    assert chunked_macs(cfg, forced, 1)["total"] == dyn_total
    assert chunked_macs(cfg, forced, None)["total"] == dense_total    # frame 5 turns every channel on
    sk = ChunkedSkippingFSENet(m)
    prev = None
    for chunk in (1, 2, 4, 8, None):                      # nested chunkings: unions only grow
        c = chunked_macs(cfg, forced, chunk)
        run = sk.run(feats[0], forced, chunk, buckets=None)
        assert sk.computed_macs(run) == c["total"]         # the run performs exactly the union count
        assert dyn_total <= c["total"] <= dense_total
        assert c["keep_density"] <= c["union_density"] <= 1.0
        if prev is not None:
            assert c["total"] >= prev
        prev = c["total"]
        padded = sk.run(feats[0], forced, chunk, buckets=2)  # bucket padding only adds work
        assert sk.computed_macs(padded) >= c["total"]
    dense_run = sk.run(feats[0], forced, 4, skip=False)
    assert sk.computed_macs(dense_run) == dense_total


def test_chunk_helpers_and_errors():
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_bounds(10, None) == [(0, 10)] == chunk_bounds(10, 50)
    with pytest.raises(ValueError, match="chunk_frames"):
        chunk_bounds(10, 0)
    keep = np.zeros((5, 2, 3), bool)
    keep[4, 1, 2] = True
    u = chunk_unions(keep, 2)
    assert u.shape == (3, 2, 3) and u.sum() == 1 and u[2, 1, 2]
    m, x, feats, forced = _setup(causal=True, gated=False)
    sk = ChunkedSkippingFSENet(m)
    with pytest.raises(ValueError, match="forced"):
        sk.run(feats[0])
    with pytest.raises(ValueError, match="forced masks"):
        sk.run(feats[0], forced[:, :2])
    with torch.no_grad():
        ref = m(x, forced_gates=forced.permute(1, 2, 0)[None].float()).enhanced[0]
    y = sk.enhance(x[0], forced, chunk_frames=5)
    assert y.shape == x[0].shape and float((y - ref).abs().max()) < 1e-5
