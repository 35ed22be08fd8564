"""Compiled streaming engine == the PyTorch model's masked forward (dense and skipping, causal and
non-causal with buffered look-ahead, random and trained gates, forced masks), for both backends (C, with and
without AVX-512, and numba)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.engine import EngineError, StreamingEngine, cengine, load_benchmark, resolve_backend
from bench.engine.layout import check_order, keep_rate_order, model_keep_order, reorder_hidden
from bench.engine.results import BenchmarkFileError
from bench.models.fsenet import ConvFSENet, FSENetConfig, GateConfig

torch.set_num_threads(1)
TOL = 1e-5   # float32: the model's conv1d and the engine sum in different orders
NO_AVX512 = ("-mno-avx512f",)


@pytest.fixture(params=["c", "c-portable", "numba"])
def backend(request, monkeypatch):
    """Each engine test runs on the C backend (this CPU's build), the C backend's portable loops (built with
    -mno-avx512f) and numba. The C builds need a C compiler (CI has gcc)."""
    if request.param == "numba":
        return "numba"
    flags = NO_AVX512 if request.param == "c-portable" else ()
    try:
        lib = cengine.load(flags)
    except cengine.CBackendUnavailable as e:
        pytest.skip(f"C backend unavailable: {e}")
    monkeypatch.setattr(cengine, "load", lambda extra_flags=(): lib)
    return "c"


def _model(causal: bool, gated: bool = True, seed: int = 0, selective: bool = True) -> ConvFSENet:
    torch.manual_seed(seed)
    cfg = FSENetConfig(bottleneck=16, hidden=24, stacks=2, blocks_per_stack=3, causal=causal, gated=gated)
    m = ConvFSENet(cfg).eval()
    if gated and selective:          # gates around half open instead of all-open at init
        with torch.no_grad():
            for g in m.gates:
                g.layers[-1].bias.zero_()
    return m


def _audio(seed: int = 1, n: int = 16000 * 2) -> torch.Tensor:
    """2 s of a harmonic tone with an envelope plus noise (some structure for the gates to follow)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 16000.0
    env = 0.5 * (1 + torch.sin(2 * torch.pi * 1.5 * t))
    tone = sum(torch.sin(2 * torch.pi * 180.0 * h * t) / h for h in range(1, 6))
    return (0.1 * env * tone + 0.03 * torch.randn(n, generator=g))[None]


def _ref(m, x, forced=None):
    """(spec (F, T), model mask (F, T), model gates (T, nb, H) bool or None)."""
    with torch.no_grad():
        spec = m.stft(x)
        fg = None if forced is None else torch.as_tensor(forced).permute(1, 2, 0)[None].float()
        mask, gates, _, _ = m.mask_from_features(m.features(spec), fg)
    g = None if gates is None else gates[0].permute(2, 0, 1).bool().numpy()
    return spec[0], mask[0].numpy(), g


@pytest.mark.parametrize("causal", [True, False])
def test_skipping_reproduces_gates_and_output(causal, backend):
    m, x = _model(causal), _audio()
    spec, ref, gates = _ref(m, x)
    assert 0.2 < gates.mean() < 0.8
    enh, mask, used = StreamingEngine(m, skip=True, backend=backend).run(spec, return_gates=True)
    assert np.array_equal(used, gates)
    assert np.abs(mask - ref).max() < TOL
    assert np.abs(enh - (spec.numpy() * ref)).max() < TOL * float(spec.abs().max())


@pytest.mark.parametrize("n_layers", [1, 3])
def test_gate_depths(n_layers, backend):
    """Gates of one layer (B -> H) and of three (with a hidden -> hidden middle layer)."""
    torch.manual_seed(3)
    cfg = FSENetConfig(bottleneck=16, hidden=24, stacks=1, blocks_per_stack=3, causal=False,
                       gate=GateConfig(hidden=8, n_layers=n_layers))
    m = ConvFSENet(cfg).eval()
    with torch.no_grad():
        for g in m.gates:
            g.layers[-1].bias.zero_()
    spec, ref, gates = _ref(m, _audio(11))
    assert 0.1 < gates.mean() < 0.9
    _, mask, used = StreamingEngine(m, skip=True, backend=backend).run(spec, return_gates=True)
    assert np.array_equal(used, gates)
    assert np.abs(mask - ref).max() < TOL


@pytest.mark.parametrize("causal", [True, False])
def test_dense_equals_all_channels(causal, backend):
    """skip=False computes every channel without gates: the model with all-ones masks / a static model."""
    m = _model(causal)
    x = _audio(2)
    spec, _, g = _ref(m, x)
    _, ref, _ = _ref(m, x, np.ones_like(g))
    _, mask, _ = StreamingEngine(m, skip=False, backend=backend).run(spec)
    assert np.abs(mask - ref).max() < TOL
    s = _model(causal, gated=False)
    spec, ref, _ = _ref(s, x)
    _, mask, _ = StreamingEngine(s, skip=False, backend=backend).run(spec)
    assert np.abs(mask - ref).max() < TOL


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("density", [0.3, 0.9])       # 0.9: the dense-first-conv branch (DENSE_CONV1_ABOVE)
def test_forced_masks(causal, density, backend):
    m, x = _model(causal, gated=False), _audio(3)
    spec, _, _ = _ref(m, x)
    T = spec.shape[1]
    forced = np.random.default_rng(4).random((T, m.n_blocks, m.cfg.hidden)) < density
    forced[3] = False                       # a frame with every channel skipped
    forced[5] = True                        # and a fully dense one
    _, ref, _ = _ref(m, x, forced)
    _, mask, used = StreamingEngine(m, skip=True, backend=backend).run(spec, forced, return_gates=True)
    assert np.array_equal(used, forced)
    assert np.abs(mask - ref).max() < TOL


def test_trained_gates(backend):
    """Gates trained (briefly, with the budget loss) on structured audio: decisions and output reproduced."""
    from bench.train import step_losses

    m = _model(causal=True, selective=False, seed=5)
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    x = torch.cat([_audio(s, 16000) for s in range(4)])
    clean = x - 0.03 * torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
    for _ in range(25):
        loss, _, _, _ = step_losses(m, x, clean, 0.5, {"loss_mag_weight": 0.7}, 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    spec, ref, gates = _ref(m, _audio(7))
    assert 0.1 < gates.mean() < 0.95
    _, mask, used = StreamingEngine(m, skip=True, backend=backend).run(spec, return_gates=True)
    assert np.array_equal(used, gates)
    assert np.abs(mask - ref).max() < TOL


def test_streaming_step_and_lookahead(backend):
    """Non-causal: outputs lag by the buffered look-ahead; step + flush == run == the model."""
    m, x = _model(causal=False), _audio(6)
    eng = StreamingEngine(m, skip=True, backend=backend)
    cfg = m.cfg
    P = cfg.gate.pool_frames
    expect = sum((P - 1 - (P - 1) // 2) + (d * (cfg.kernel - 1) - d * (cfg.kernel - 1) // 2) for d in cfg.dilations)
    assert eng.lookahead_frames == expect
    lat = eng.latency_ms()
    assert lat["lookahead_ms"] == pytest.approx(expect * 16.0) and lat["algorithmic_ms"] > lat["lookahead_ms"]
    spec, ref, _ = _ref(m, x)
    frames = np.ascontiguousarray(spec.numpy().T, dtype=np.complex64)
    got = {}
    for t, fr in enumerate(frames):
        r = eng.step(fr)
        if t < expect:
            assert r is None
        else:
            assert r[0] == t - expect
            got[r[0]] = r[2].copy()
    for t, _, mk in eng.flush():
        got[t] = mk
    assert sorted(got) == list(range(len(frames)))
    mask = np.stack([got[t] for t in range(len(frames))], 1)
    assert np.abs(mask - ref).max() < TOL
    assert StreamingEngine(_model(causal=True)).lookahead_frames == 0


def test_enhance_waveform(backend):
    m, x = _model(causal=True), _audio(8)
    with torch.no_grad():
        ref = m(x).enhanced[0]
    y = StreamingEngine(m, backend=backend).enhance(m, x[0])
    assert y.shape == ref.shape and float((y - ref).abs().max()) < TOL


def test_bad_input():
    s = _model(causal=True, gated=False)
    spec, _, _ = _ref(s, _audio())
    with pytest.raises(EngineError, match="forced masks"):
        StreamingEngine(s, skip=True).run(spec)
    with pytest.raises(EngineError, match="forced masks must be"):
        StreamingEngine(s, skip=True).run(spec, np.ones((3, 6, 24), bool))
    with pytest.raises(EngineError, match="skip=True"):
        StreamingEngine(s, skip=False).run(spec, np.ones((spec.shape[1], 6, 24), bool))
    with pytest.raises(EngineError, match="complex64"):
        StreamingEngine(_model(True)).step(np.zeros(257, np.float32))


def test_load_benchmark(tmp_path):
    p = tmp_path / "engine.json"
    p.write_text(json.dumps({"rows": [{"config": "small", "level": "keep50", "cpu_time_saving": 0.21},
                                      {"config": "paper", "level": "keep50", "cpu_time_saving": 0.3}]}))
    assert load_benchmark(p) == {"keep50": 0.21}
    assert load_benchmark(p, "paper") == {"keep50": 0.3}
    with pytest.raises(FileNotFoundError, match="no engine benchmark"):
        load_benchmark(tmp_path / "none.json")
    p.write_text("{}")
    with pytest.raises(BenchmarkFileError, match="engine.json"):
        load_benchmark(p)


def test_twin_has_own_state(backend):
    """A twin shares the weights, not the rings: running one leaves the other's stream intact."""
    m, x = _model(causal=True), _audio(12)
    spec, ref, _ = _ref(m, x)
    frames = np.ascontiguousarray(spec.numpy().T, dtype=np.complex64)
    a = StreamingEngine(m, skip=True, backend=backend)
    b = a.twin(skip=False)
    got = []
    for t, fr in enumerate(frames):
        got.append(a.step(fr)[2].copy())
        if t == 5:
            b.run(spec)                       # the twin runs a whole utterance mid-stream
    assert np.abs(np.stack(got, 1) - ref).max() < TOL


def test_backend_choice(monkeypatch):
    with pytest.raises(EngineError, match="backend must be one of"):
        StreamingEngine(_model(True), backend="cuda")
    monkeypatch.setattr(cengine, "available", lambda: False)
    assert resolve_backend("auto") == "numba"
    monkeypatch.setattr(cengine, "available", lambda: True)
    assert resolve_backend("auto") == "c"


def test_c_build_cache(tmp_path, monkeypatch):
    """One library per source/flags/compiler/CPU, written atomically; a missing compiler is a clear error."""
    monkeypatch.setenv("SEBENCH_CACHE_DIR", str(tmp_path))
    try:
        first = cengine.build()
    except cengine.CBackendUnavailable as e:
        pytest.skip(f"C backend unavailable: {e}")
    assert first.parent == tmp_path / "engine" and first.is_file()
    mtime = first.stat().st_mtime_ns
    assert cengine.build() == first and first.stat().st_mtime_ns == mtime      # cached, not rebuilt
    assert cengine.library_path(NO_AVX512) != first                            # flags are part of the key
    assert [p.name for p in first.parent.iterdir()] == [first.name]            # no temporary left behind
    monkeypatch.setenv("CC", "no-such-compiler-sebench")
    with pytest.raises(cengine.CBackendUnavailable, match="no C compiler"):
        cengine.build()


def test_keep_rate_order():
    d = np.zeros((10, 2, 4), bool)
    d[:, 0, 2] = True            # block 0: channel 2 always kept, channel 0 half the time
    d[:5, 0, 0] = True
    d[:, 1, 3] = True
    assert keep_rate_order(d).tolist() == [[2, 0, 1, 3], [3, 0, 1, 2]]
    with pytest.raises(ValueError, match="permutation"):
        check_order(np.zeros((2, 4), int), 2, 4)
    with pytest.raises(ValueError, match=r"\(n_blocks, hidden\)"):
        check_order(np.zeros((3, 4), int), 2, 4)


def test_channel_order_is_exact(backend):
    """A reordered engine computes the model: same mask, decisions and forced masks in the model's order."""
    m, x = _model(causal=False), _audio(13)
    spec, ref, gates = _ref(m, x)
    order = model_keep_order(m, spec)
    assert not np.array_equal(order, np.broadcast_to(np.arange(m.cfg.hidden), order.shape))   # a real permutation
    with torch.no_grad():
        ref_r = reorder_hidden(m, order).mask_from_features(m.features(spec[None]))[0][0].numpy()
    assert np.abs(ref_r - ref).max() < TOL                    # the reparametrised model computes the same
    _, mask, used = StreamingEngine(m, skip=True, backend=backend, channel_order=order).run(spec, return_gates=True)
    assert np.array_equal(used, gates)
    assert np.abs(mask - ref).max() < TOL
    forced = np.random.default_rng(5).random(gates.shape) < 0.4
    _, fref, _ = _ref(m, x, forced)
    _, mask, used = StreamingEngine(m, skip=True, backend=backend, channel_order=order).run(spec, forced,
                                                                                               return_gates=True)
    assert np.array_equal(used, forced)
    assert np.abs(mask - fref).max() < TOL
    with pytest.raises(EngineError, match="channel order"):
        StreamingEngine(m, channel_order=order[:, ::2])


def test_c_cache_dir_falls_back(tmp_path, monkeypatch):
    """A cache root that cannot be created (here: below a regular file) falls back to a per-user temp dir."""
    import os

    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("SEBENCH_CACHE_DIR", str(tmp_path / "afile" / "sebench"))
    monkeypatch.setattr(cengine.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    d = cengine.cache_dir()
    assert d == tmp_path / "tmp" / f"sebench-engine-{os.getuid()}" and d.is_dir()


def test_ceiling_benchmark(tmp_path):
    """benchmarks/bench_engine_ceiling.py end to end on 0.5 s (timings not checked: only what they are paired
    with): the keep grid, the forced prefix decisions and the MAC accounting of each point."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("bench_engine_ceiling", root / "benchmarks" / "bench_engine_ceiling.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    m = mod.prefix_masks(4, 2, 8, 3)
    assert m.shape == (4, 2, 8) and m[:, :, :3].all() and not m[:, :, 3:].any()
    out = tmp_path / "ceiling.json"
    assert mod.main(["--configs", "small", "--levels", "--reps", "1", "--seconds", "0.5", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    c = rep["curves"]["small"]
    rows = c["rows"]
    assert [r["n_kept"] for r in rows] == [round(s * c["hidden"]) for s in mod.KEEP_GRID]
    assert all(abs(r["keep"] - r["n_kept"] / c["hidden"]) < 1e-9 for r in rows)
    saves = [r["mac_saving"] for r in rows]
    assert all(a > b for a, b in zip(saves, saves[1:]))              # more channels kept, less saved
    assert rows[-1]["mac_saving"] < 0 and rows[-1]["ratio"] is None   # all kept + gates: more MACs than dense
    assert all(r["dense"]["p50_us"] > 0 and r["skip"]["p50_us"] > 0 for r in rows)
    assert rep["gated_levels"] == [] and rep["machine"]["cpu_model"]
    assert rep["git_dirty"] in ("true", "false", "unknown") and rep["git_commit"]
    assert (tmp_path / "ceiling.png").stat().st_size > 1000 and not list(tmp_path.glob("*.tmp*"))
