"""Streaming engine: does DynCP's MAC saving become CPU-time saving? (1 thread, per frame)

For each config (``small``, ``paper``) and level (``static keep75 keep50 keep25``) the compiled engine
(:class:`bench.engine.StreamingEngine`) runs frame by frame on real test audio, dense (every channel, no
gate: the static model's work) and skipping (gates first, active channels only) *interleaved frame by
frame in one compiled loop* (order alternating), each frame timed with ``clock_gettime(CLOCK_MONOTONIC)``.
Reported per level: per-frame latency p50/p99 and mean (us), real-time factor (time / audio time), the
analytic MAC saving (:mod:`bench.macs`, gates included, STFT excluded) and the ratio
``cpu_time_saving / mac_saving`` with ``cpu_time_saving = 1 - p50(skip) / p50(dense)``.

Where the gap goes (same interleaved loop, each against dense): ``fixed`` = skipping with every channel
forced off (front-end |X|^c, front/back 1x1 convs, sigmoid, ring bookkeeping, the compaction of the decisions
into index lists: no gate, no channel);
``gate`` = skipping with the gates minus skipping with the same decisions forced (the gates' cost);
``gather efficiency`` = dense per-channel time x realised keep / skipping per-channel time.
Also eager PyTorch frame by frame (dense, the same per-frame math with torch ops) for the engine's speed-up.

Models: ``<models-dir>/<level>/model.pt`` (``sebench train``) when present and of this config; otherwise a
randomly initialised gated model whose gates' last bias is shifted, block by block, so that the realised
keep on the benchmark audio matches the level's target (``model_source`` in the JSON says which).
Non-causal models run with their look-ahead buffered (``latency`` in the JSON).

Usage (one command, about 1-3 min; re-run on the trained models when they exist):
  .venv/bin/python benchmarks/bench_engine.py [--models-dir data/models] [--levels static keep50 ...]   (default: every level but seed replicates)
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")     # before numba / torch start their pools
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import functools  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import StreamingEngine  # noqa: E402
import bench.engine.cengine as cengine  # noqa: E402
from bench.engine.kernels import engine_step  # noqa: E402
from bench.engine.layout import model_keep_order  # noqa: E402
from bench.macs import dense_macs_per_frame, dynamic_macs_per_frame  # noqa: E402
from bench.models.fsenet import ConvFSENet, FSENetConfig  # noqa: E402
from bench.params import load_params  # noqa: E402
from bench.runinfo import cpu_model, git_info  # noqa: E402

# ---------------------------------------------------------------- timing inside compiled code
_clock_gettime = ctypes.CDLL(None).clock_gettime
_clock_gettime.argtypes = [ctypes.c_int, ctypes.c_void_p]
_clock_gettime.restype = ctypes.c_int
_CLOCK_MONOTONIC = 1


@numba.njit   # not cached: it calls a ctypes function (process-specific address)
def _now_ns(ts):
    _clock_gettime(_CLOCK_MONOTONIC, ts.ctypes)
    return ts[0] * 1000000000 + ts[1]


@numba.njit
def _timed_pass(a, frames, forced, no_masks, skip, lat):
    """One pass of frames through an engine (args tuple ``a``); lat (T,) int64 ns per frame."""
    ts = np.zeros(2, np.int64)
    nF = frames.shape[1]
    o, mo = np.empty(nF, np.complex64), np.empty(nF, np.float32)
    for t in range(frames.shape[0]):
        t0 = _now_ns(ts)
        engine_step(*a, frames[t], False, skip, forced, no_masks, o, mo)
        lat[t] = _now_ns(ts) - t0


def _pass(e: StreamingEngine, frames: np.ndarray, forced: np.ndarray, lat: np.ndarray) -> None:
    """One timed pass of ``frames`` through engine ``e`` (lat (T,) int64: ns per frame), in compiled code."""
    if e.backend == "c":
        e._lib.se_timed_pass(e._cs, frames.ctypes.data, frames.shape[0], e.skip, *e._c_masks(forced), lat.ctypes.data)
    else:
        _timed_pass(e._args, frames, forced, e._no_masks, e.skip, lat)


def _interleaved(dense: StreamingEngine, other: StreamingEngine, frames: np.ndarray, forced, reps: int):
    """(dense ns (reps*T,), other ns (reps*T,)): passes dense, other, dense, other, ... after one warm-up
    pass each; engines reset before each pass. Whole passes (not single frames) alternate, so that each
    engine runs with its own working set in cache as it would on a device, while load drifts hit both."""
    T = frames.shape[0]
    nb, H = dense.cfg.n_blocks, dense.cfg.hidden
    fm = np.zeros((0, nb, H), np.uint8) if forced is None else np.ascontiguousarray(forced, dtype=np.uint8)
    none = dense._no_masks
    out, cpu = ([], []), ([], [])
    for r in range(reps + 1):
        for i, (e, f) in enumerate(((dense, none), (other, fm)) if r % 2 == 0 else ((other, fm), (dense, none))):
            e.reset()
            lat = np.zeros(T, np.int64)
            c0 = time.thread_time_ns()
            _pass(e, frames, f, lat)
            c1 = time.thread_time_ns()
            if r:
                j = i if r % 2 == 0 else 1 - i
                out[j].append(lat)
                cpu[j].append((c1 - c0) / T)
    _interleaved.cpu_ns_per_frame = (float(np.median(cpu[0])), float(np.median(cpu[1])))
    # per pair of passes (dense, other): 1 - p50(other) / p50(dense), the saving's pass-to-pass spread
    _interleaved.pass_savings = [1.0 - float(np.median(o)) / float(np.median(d)) for d, o in zip(out[0], out[1])]
    return np.concatenate(out[0]), np.concatenate(out[1])


def _median_rounds(rows: list[dict]) -> list[dict]:
    """One row per (config, level): the round whose ratio (CPU-time saving for a static model) is the
    median of its rounds (the lower middle one for an even count), plus ``rounds``: every round's CPU-time
    saving and ratio, so a reader sees how far a single run of this benchmark can land."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["config"], r["level"]), []).append(r)
    out = []
    for rs in groups.values():
        key = [(r["ratio"] if r.get("ratio") is not None else r["cpu_time_saving"]) for r in rs]
        mid = sorted(range(len(rs)), key=lambda i: key[i])[(len(rs) - 1) // 2]
        best = dict(rs[mid])
        best["rounds"] = dict(n=len(rs), cpu_time_saving=[r["cpu_time_saving"] for r in rs],
                              ratio=[r.get("ratio") for r in rs],
                              dense_p50_us=[r["dense"]["p50_us"] for r in rs])
        out.append(best)
    return out


def _stats(ns: np.ndarray, hop_s: float) -> dict:
    us = ns / 1e3
    return dict(p50_us=float(np.percentile(us, 50)), p99_us=float(np.percentile(us, 99)),
                mean_us=float(us.mean()), rtf=float(us.mean() * 1e-6 / hop_s))


# ---------------------------------------------------------------- eager PyTorch, frame by frame
class _EagerFrames:
    """Dense per-frame Conv-FSENet with torch ops (causal geometry: ring buffers), the eager baseline."""

    def __init__(self, m: ConvFSENet):
        d = lambda t: t.detach().clone().contiguous()  # noqa: E731
        self.c = m.cfg.compress_exponent
        self.wf, self.bf = d(m.front.weight[:, :, 0]), d(m.front.bias)
        self.wb, self.bb = d(m.back.weight[:, :, 0]), d(m.back.bias)
        self.blocks = []
        for b in m.blocks:
            L = (b.kernel - 1) * b.dilation + 1
            self.blocks.append(dict(
                w1=d(b.conv1.weight[:, :, 0]), b1=d(b.conv1.bias), g1=d(b.norm1.weight), be1=d(b.norm1.bias),
                e1=b.norm1.eps, p1=float(b.act1.weight.detach()), dw=d(b.dwconv.weight[:, 0, :]),
                dwb=d(b.dwconv.bias), g2=d(b.norm2.weight), be2=d(b.norm2.bias), e2=b.norm2.eps,
                p2=float(b.act2.weight.detach()), w2=d(b.conv2.weight[:, :, 0]), b2=d(b.conv2.bias),
                ring=torch.zeros(m.cfg.hidden, L),
                taps=[torch.tensor([(p - (b.kernel - 1 - j) * b.dilation) % L for j in range(b.kernel)])
                      for p in range(L)]))

    @staticmethod
    def _na(v, g, b, eps, slope):
        var, mean = torch.var_mean(v, correction=0)
        y = (v - mean) * torch.rsqrt(var + eps) * g + b
        return torch.where(y >= 0, y, slope * y)

    @torch.inference_mode()
    def run(self, spec: torch.Tensor):
        """spec (F, T) complex -> (masks (F, T), per-frame ns (T,))."""
        for b in self.blocks:
            b["ring"].zero_()
        T = spec.shape[1]
        masks, ns = torch.empty(spec.shape[0], T), np.zeros(T, np.int64)
        c0 = time.thread_time_ns()
        for t in range(T):
            t0 = time.perf_counter_ns()
            x = torch.relu(torch.addmv(self.bf, self.wf, spec[:, t].abs().pow(self.c)))
            for b in self.blocks:
                ring = b["ring"]
                pos = t % ring.shape[1]
                ring[:, pos] = self._na(torch.addmv(b["b1"], b["w1"], x), b["g1"], b["be1"], b["e1"], b["p1"])
                dv = (ring[:, b["taps"][pos]] * b["dw"]).sum(1) + b["dwb"]
                x = x + torch.addmv(b["b2"], b["w2"], self._na(dv, b["g2"], b["be2"], b["e2"], b["p2"]))
            masks[:, t] = torch.sigmoid(torch.addmv(self.bb, self.wb, x))
            ns[t] = time.perf_counter_ns() - t0
        self.cpu_ns_per_frame = (time.thread_time_ns() - c0) / T
        return masks, ns


# ---------------------------------------------------------------- audio, models
def _audio(params: dict, seconds: float, split: str = "test") -> tuple[torch.Tensor, str]:
    """(1, n) float32 at 16 kHz: the first mixtures of the dataset's ``split``, else embedded speech + noise at
    5 dB (files in sorted order for "test", reversed for any other split: different recordings)."""
    import soundfile as sf

    sr = int(params["frames"]["sample_rate_hz"])
    n = int(seconds * sr)
    ds = ROOT / params["paths"]["dataset_dir"]
    try:
        from datagen.dataset import load_metadata, read_stem
        meta = load_metadata(ds, split)
        parts, ids, have = [], [], 0
        for row in meta.itertuples(index=False):
            x = read_stem(ds, row, "noisy").astype(np.float32)
            parts.append(x)
            ids.append(row.mixture_id)
            have += len(x)
            if have >= n:
                return torch.from_numpy(np.concatenate(parts)[:n])[None], f"{ds.name} {split} mixtures {ids}"
    except (FileNotFoundError, ValueError, OSError, KeyError):
        pass
    emb = ROOT / "datagen" / "embedded"

    def take(files):
        out, have = [], 0
        for f in files:
            x, fsr = sf.read(f, dtype="float32", always_2d=True)
            if fsr != sr:
                continue
            out.append(x.mean(1))
            have += len(out[-1])
            if have >= n:
                break
        return np.resize(np.concatenate(out), n)
    rev = split != "test"
    speech = take(sorted(emb.glob("speech/**/*.flac"), reverse=rev))
    noise = take(sorted(emb.glob("noise/**/*.flac"), reverse=rev))
    noise *= np.sqrt((speech ** 2).mean() / max((noise ** 2).mean(), 1e-12) / 10 ** 0.5)
    mix = (0.5 * (speech + noise) / max(np.abs(speech + noise).max(), 1e-6)).astype(np.float32)
    order = "reverse-sorted" if rev else "sorted"
    return torch.from_numpy(mix)[None], f"embedded corpus: first speech + first noise files ({order}), 5 dB SNR"


def _calibrate(m: ConvFSENet, feats: torch.Tensor, keep: float) -> None:
    """Shift each gate's last bias (block by block) so that its keep on ``feats`` is ``keep``; the threshold
    sits midway between two neighbouring scores, so no score lands within rounding distance of the step."""
    with torch.no_grad():
        for k in range(m.n_blocks):
            s = torch.sort(m.mask_from_features(feats)[2][0, k].flatten().double()).values
            i = min(max(int(round((1.0 - keep) * len(s))), 1), len(s) - 1)
            m.gates[k].layers[-1].bias -= float(0.5 * (s[i - 1] + s[i]))


def _load_trained(path: Path, cfg_name: str, arch: dict):
    if not path.is_file():
        return None
    from bench.models.registry import load_checkpoint
    m, cfg, _ = load_checkpoint(path, torch.device("cpu"))
    if cfg.bottleneck != int(arch["bottleneck"]) or cfg.hidden != int(arch["hidden"]):
        return None
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--models-dir", default=None, help="default: params paths.models_dir")
    ap.add_argument("--levels", nargs="+", default=None,
                    help="default: every level of params except the training-seed replicates")
    ap.add_argument("--configs", nargs="+", default=["small", "paper"])
    ap.add_argument("--seconds", type=float, default=10.0, help="audio per pass (s)")
    ap.add_argument("--reps", type=int, default=7, help="timed passes per pair (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="measure every level this many times, rounds one after another (load drifts over "
                         "minutes); each row is the round with the median ratio, with every round's figures")
    ap.add_argument("--eager-seconds", type=float, default=2.0)
    ap.add_argument("--channel-order", default=True, action=argparse.BooleanOptionalAction,
                    help="run gated models with hidden channels ordered by keep rate on --order-seconds of the "
                         "valid split (bench.engine.layout: exact; --no-channel-order: the model's own order)")
    ap.add_argument("--order-seconds", type=float, default=10.0)
    ap.add_argument("--backend", default="auto", choices=["auto", "c", "numba"],
                    help="engine backend (auto: c where a C compiler builds it, else numba)")
    ap.add_argument("--out", default=str(ROOT / "reports/benchmarks/engine.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    params = load_params(a.params)
    models_dir = Path(a.models_dir or ROOT / params["paths"]["models_dir"])
    levels = params.get("levels") or {}
    if a.levels is None:   # every level but the seed replicates (the leaderboard's CPU-time column)
        from bench.levels import replicate_levels
        reps = set(replicate_levels(params))
        a.levels = [lv for lv in levels if lv not in reps]
    cz = params.get("causal") or {}
    causal_twins = set(cz.get("static_levels") or []) | set(cz.get("gated_levels") or {})
    for lv in a.levels:
        if lv not in levels:
            raise SystemExit(f"{a.params}: level {lv!r} not in levels {sorted(levels)}")
    from bench.models.registry import architecture, model_spec
    spec_ = model_spec(architecture(params))
    if spec_.streaming_engine is None:
        raise SystemExit(f"model.architecture {spec_.name!r} registers no streaming engine (bench/models/registry.py)")
    from bench.engine import resolve_backend
    backend = resolve_backend(a.backend)
    engine = functools.partial(spec_.streaming_engine, backend=backend)   # bench.engine.StreamingEngine for conv_fsenet
    load_start = os.getloadavg()
    wave, audio_src = _audio(params, a.seconds)
    order_wave, order_src = _audio(params, a.order_seconds, "valid") if a.channel_order else (None, None)
    hop_s = params["frames"]["hop_length"] / params["frames"]["sample_rate_hz"]
    rows, eager_rows = [], []
    t_start = time.perf_counter()
    for cfg_name in a.configs:
        arch = params["model"]["configs"][cfg_name]
        p = dict(params, model=dict(params["model"], config=cfg_name, causal=True))
        dense_pf = None
        standin_keeps: set[tuple[int, float]] = set()
        for rnd, lv in tqdm([(r, lv) for r in range(a.rounds) for lv in a.levels], desc=cfg_name):
            keep = float(levels[lv])
            m = _load_trained(models_dir / lv / "model.pt", cfg_name, arch)
            source = f"trained: {models_dir / lv / 'model.pt'}"
            if m is None and (lv in causal_twins or (rnd, keep) in standin_keeps):
                continue   # an untrained stand-in (causal, calibrated to the keep) would repeat a row
            if m is None:
                standin_keeps.add((rnd, keep))
            if m is None:
                torch.manual_seed(0)
                m = ConvFSENet(FSENetConfig.from_params(p, level_keep=keep)).eval()
                source = ("random init (causal), static" if keep >= 1.0 else
                          f"random init (causal), gates' last bias calibrated to keep {keep} on the benchmark audio")
            cfg = m.cfg
            with torch.no_grad():
                spec = m.stft(wave)[0]
                feats = m.features(spec)[None]
            if m.gates is not None and source.startswith("random"):
                _calibrate(m, feats, keep)
            frames = np.ascontiguousarray(spec.numpy().T, dtype=np.complex64)
            T = frames.shape[0]
            order = None
            if a.channel_order and m.gates is not None:
                with torch.no_grad():
                    order = model_keep_order(m, m.stft(order_wave)[0])
            dense = engine(m, skip=False, channel_order=order)
            dense_pf = dense_macs_per_frame(cfg)["total"]
            sha = (hashlib.sha256((models_dir / lv / "model.pt").read_bytes()).hexdigest()
                   if source.startswith("trained") else None)
            row = dict(config=cfg_name, level=lv, round=rnd, backend=backend,
                       channel_order=(f"keep rate on {order_src}" if order is not None else "model's own"),
                       target_keep=keep, model_source=source,
                       model_sha256=sha,
                       causal=cfg.causal,
                       latency=dense.latency_ms(int(params["frames"]["sample_rate_hz"])),
                       macs=dict(dense_per_frame=dense_pf))
            with torch.no_grad():
                mask_ref, gates_ref, _, _ = m.mask_from_features(feats)
            if m.gates is None:
                _, mk, _ = dense.run(spec)
                row["max_abs_diff_vs_model"] = float(np.abs(mk - mask_ref[0].numpy()).max())
                d_ns, _ = _interleaved(dense, dense.twin(False), frames, None, a.reps)
                row.update(realised_keep=1.0, dense=_stats(d_ns, hop_s), cpu_time_saving=0.0, mac_saving=0.0,
                           ratio=None)
                rows.append(row)
                continue
            skip = dense.twin(True)
            g_ref = gates_ref[0].permute(2, 0, 1).bool().numpy()
            _, mk, used = skip.run(spec, return_gates=True)
            row["max_abs_diff_vs_model"] = float(np.abs(mk - mask_ref[0].numpy()).max())
            row["gate_agreement"] = float((used == g_ref).mean())
            dyn = dynamic_macs_per_frame(cfg, used)
            mac_saving = 1.0 - float(dyn.mean()) / dense_pf
            row["macs"].update(dynamic_per_frame_mean=float(dyn.mean()), gate_per_frame=dense_macs_per_frame(cfg)["gate_total"])
            d_ns, s_ns = _interleaved(dense, skip, frames, None, a.reps)
            cpu_d, cpu_s = _interleaved.cpu_ns_per_frame
            pass_ratios = [x / mac_saving for x in _interleaved.pass_savings] if mac_saving > 1e-9 else []
            forced_eng = dense.twin(True)
            d2, f_ns = _interleaved(dense, forced_eng, frames, used, a.reps)
            d3, z_ns = _interleaved(dense, forced_eng, frames, np.zeros_like(used), a.reps)
            td, ts = np.median(d_ns), np.median(s_ns)
            cpu_saving = 1.0 - ts / td
            fixed = float(np.median(z_ns) * td / np.median(d3))          # rescaled to this pair's dense time
            forced_t = float(np.median(f_ns) * td / np.median(d2))
            keep_r = float(used.mean())
            ch_dense, ch_skip = td - fixed, forced_t - fixed
            fb = dense_macs_per_frame(cfg)
            row.update(
                realised_keep=keep_r, mac_saving=mac_saving, dense=_stats(d_ns, hop_s), skip=_stats(s_ns, hop_s),
                cpu_time_saving=cpu_saving, cpu_time_saving_mean=1.0 - float(s_ns.mean() / d_ns.mean()),
                cpu_time_saving_thread_time=1.0 - cpu_s / cpu_d,
                thread_cpu_us_per_frame=dict(dense=cpu_d / 1e3, skip=cpu_s / 1e3),
                ratio=cpu_saving / mac_saving if mac_saving > 1e-9 else None,
                ratio_per_pass=dict(min=min(pass_ratios), median=float(np.median(pass_ratios)), max=max(pass_ratios),
                                    n=len(pass_ratios)) if pass_ratios else None,
                gap=dict(
                    ideal_skip_us=td * (1.0 - mac_saving) / 1e3,
                    fixed_us=fixed / 1e3, fixed_share_of_dense_time=fixed / td,
                    front_back_share_of_dense_macs=(fb["front"] + fb["back"]) / dense_pf,
                    gate_us=(ts - forced_t) / 1e3, gate_share_of_dense_time=(ts - forced_t) / td,
                    gate_share_of_dense_macs=fb["gate_total"] / dense_pf,
                    channels_dense_us=ch_dense / 1e3, channels_skip_us=ch_skip / 1e3,
                    gather_efficiency=(ch_dense * keep_r / ch_skip) if ch_skip > 0 else None,
                    # the ratio if active channels cost what dense ones do (fixed work and gates as measured)
                    ratio_if_gathers_free=((1.0 - (fixed + (ts - forced_t) + ch_dense * keep_r) / td) / mac_saving
                                           if mac_saving > 1e-9 else None)))
            rows.append(row)
        # eager PyTorch frame by frame vs the dense engine (same weights, causal geometry)
        torch.manual_seed(0)
        m = ConvFSENet(FSENetConfig.from_params(p, level_keep=1.0)).eval()
        with torch.no_grad():
            spec = m.stft(wave[:, :int(a.eager_seconds * params["frames"]["sample_rate_hz"])])[0]
            ref = m.mask_from_features(m.features(spec)[None])[0][0]
        eg = _EagerFrames(m)
        eg.run(spec)
        em, e_ns = eg.run(spec)
        fr = np.ascontiguousarray(spec.numpy().T, dtype=np.complex64)
        dense = engine(m, skip=False)
        d_ns, _ = _interleaved(dense, dense.twin(False), fr, None, a.reps)
        cpu_d = _interleaved.cpu_ns_per_frame[0]
        eager_rows.append(dict(config=cfg_name, eager=_stats(e_ns, hop_s), dense_engine=_stats(d_ns, hop_s),
                               speedup_p50=float(np.median(e_ns) / np.median(d_ns)),
                               thread_cpu_us_per_frame=dict(eager=eg.cpu_ns_per_frame / 1e3, dense_engine=cpu_d / 1e3),
                               speedup_thread_cpu=float(eg.cpu_ns_per_frame / cpu_d),
                               eager_max_abs_diff_vs_model=float((em - ref).abs().max())))
    rows = _median_rounds(rows)
    # ---- print
    print(f"\n{'config':7} {'level':8} {'keep':>5} {'MACsave':>7} {'dense p50/p99 us':>17} {'skip p50/p99 us':>16} "
          f"{'CPUsave':>7} {'thrCPU':>7} {'ratio':>6} {'fixed':>6} {'gate':>6} {'gathEff':>7}")
    for r in rows:
        s = r.get("skip")
        print(f"{r['config']:7} {r['level']:8} {r['realised_keep']:5.2f} {r['mac_saving']:7.1%} "
              f"{r['dense']['p50_us']:8.1f}/{r['dense']['p99_us']:<8.1f} "
              + (f"{s['p50_us']:7.1f}/{s['p99_us']:<8.1f} {r['cpu_time_saving']:7.1%} "
                 f"{r['cpu_time_saving_thread_time']:7.1%} {r['ratio']:6.2f} "
                 f"[rounds {min(r['rounds']['ratio']):+.2f}..{max(r['rounds']['ratio']):+.2f}] "
                 f"{r['gap']['fixed_us']:6.1f} {r['gap']['gate_us']:6.1f} {r['gap']['gather_efficiency'] or 0:7.2f}"
                 if s else ""))
    for e in eager_rows:
        print(f"{e['config']}: eager PyTorch {e['eager']['p50_us']:.0f} us/frame, dense engine "
              f"{e['dense_engine']['p50_us']:.1f} us/frame: {e['speedup_p50']:.1f}x (thread CPU time: "
              f"{e['thread_cpu_us_per_frame']['eager']:.0f} vs {e['thread_cpu_us_per_frame']['dense_engine']:.1f} us, "
              f"{e['speedup_thread_cpu']:.1f}x)")
    commit, dirty = git_info(ROOT)
    report = dict(
        benchmark="bench_engine", date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        git_commit=commit, git_dirty=dirty, command="python benchmarks/bench_engine.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        wall_s=time.perf_counter() - t_start,
        machine=dict(cpu_model=cpu_model(), cpu_count=os.cpu_count(), loadavg_start=list(load_start),
                     loadavg_end=list(os.getloadavg()), torch=torch.__version__, numba=numba.__version__,
                     numpy=np.__version__, python=platform.python_version(),
                     threads=dict(torch=torch.get_num_threads(), numba=numba.get_num_threads())),
        implementation=dict(
            engine=(f"bench.engine.StreamingEngine, backend {backend}: " + (
                "csrc/engine.c built by bench.engine.cengine (" + " ".join(
                    [cengine.compiler_version(), *cengine.CFLAGS, *cengine.LIBS, cengine.library_path().name])
                + "), float32, one "
                "frame per call of se_step" if backend == "c" else
                "numba kernels (bench/engine/kernels.py), float32, one frame per call of engine_step")),
            timing="per frame, clock_gettime(CLOCK_MONOTONIC) inside a compiled loop; dense and the other engine "
                   "interleaved pass by pass (order alternating), one warm-up pass each; statistics over reps x frames",
            eager="PyTorch eager, dense, frame by frame (torch.addmv, var_mean, ring buffers), perf_counter_ns",
            macs="bench.macs (analytic; dense = total without gates; dynamic = gates' decisions, gates included)",
            cpu_time_saving="1 - p50(skip) / p50(dense) per-frame latency; cpu_time_saving_thread_time: the "
                            "same from each pass's thread CPU time (median over passes)",
            ratio_per_pass="the ratio from each interleaved pair of passes alone (min / median / max over the reps "
                           "pairs): how far one pass's figure can be from the pooled one on this machine",
            rounds="every level measured --rounds times, one round after another; each row is its median-ratio "
                   "round, `rounds` lists every round's CPU-time saving, ratio and dense p50"),
        audio=dict(source=audio_src, seconds=wave.shape[-1] / params["frames"]["sample_rate_hz"]),
        reps=a.reps, rounds=a.rounds, rows=rows, eager=eager_rows)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
