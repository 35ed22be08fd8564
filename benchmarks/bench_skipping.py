"""Wall-clock of real channel skipping vs the dense path, per second of audio (2-core CPU machine).

For the ``paper`` and ``small`` configs (causal, gated), masks at keep ratios 1.0/0.75/0.5/0.25
(seeded Bernoulli masks of that density; plus the masks of trained models under
``data/models/<level>/model.pt`` when present), measures in one run, side by side:

* ``dense_stream``: :meth:`bench.skipping.SkippingFSENet.run_streaming` with ``skip=False`` (all
  channels computed, then masked) -- the like-for-like reference;
* ``skip_stream``: the same loop computing only active channels (``skip=True``);
* ``dense_batched``: the PyTorch model's conv1d forward over the whole utterance (offline, not
  streamable; lower bound of what dense costs without per-frame Python overhead).

Times exclude STFT/iSTFT (spectral features in, spectral mask out). Median of ``--repeats`` after one
warm-up, torch threads 1 and 2. Prints a table and writes ``reports/benchmarks/skipping.json`` with
the machine (platform.processor(), cpu count, torch version) and, per row, MAC saving (analytic,
:mod:`bench.macs`), real-time saving and their ratio.

Usage: .venv/bin/python benchmarks/bench_skipping.py [--seconds 2] [--repeats 3] [--configs paper small]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.macs import dense_macs_per_frame, dynamic_macs_per_frame  # noqa: E402
from bench.models.fsenet import ConvFSENet, FSENetConfig  # noqa: E402
from bench.params import load_params  # noqa: E402
from bench.skipping import SkippingFSENet  # noqa: E402

KEEPS = (1.0, 0.75, 0.5, 0.25)


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _paired_times(fa, fb, repeats: int) -> tuple[float, float]:
    """Medians of interleaved runs a, b, a, b, ... (the shared machine's load hits both alike)."""
    fa(), fb()  # warm-up
    ta, tb = [], []
    for _ in range(repeats):
        for f, ts in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def _trained_masks(params: dict, cfg_name: str, feats_wave: torch.Tensor) -> dict:
    """{level: (model, masks (T, n_blocks, H) bool)} for trained causal models of this config, if any."""
    out = {}
    models_dir = ROOT / params["paths"]["models_dir"]
    for level, keep in params.get("levels", {}).items():
        path = models_dir / str(level) / "model.pt"
        if float(keep) >= 1.0 or not path.is_file():
            continue
        try:
            ck = torch.load(path, map_location="cpu", weights_only=False)
            cfg = FSENetConfig.from_dict(ck["config"])
            if cfg.bottleneck != params["model"]["configs"][cfg_name]["bottleneck"] or not cfg.causal:
                continue
            m = ConvFSENet(cfg).eval()
            m.load_state_dict(ck.get("state_dict", ck.get("model")))
        except Exception as e:  # noqa: BLE001 -- a foreign checkpoint layout: report and skip
            print(f"skipping {path}: {e}", file=sys.stderr)
            continue
        with torch.no_grad():
            g = m(feats_wave).gates[0].permute(2, 0, 1).bool()
        out[f"model:{level}"] = (m, g)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--configs", nargs="+", default=["paper", "small"])
    ap.add_argument("--seconds", type=float, default=2.0, help="audio duration per run (s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=str(ROOT / "reports/benchmarks/skipping.json"))
    a = ap.parse_args(argv)
    params = load_params(a.params)
    sr = int(params["frames"]["sample_rate_hz"])
    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(1, int(a.seconds * sr), generator=g)
    rows = []
    for cfg_name in a.configs:
        p = dict(params, model=dict(params["model"], config=cfg_name, causal=True))
        cfg = FSENetConfig.from_params(p, level_keep=0.5)
        torch.manual_seed(0)
        model = ConvFSENet(cfg).eval()
        with torch.no_grad():
            feats = model.features(model.stft(wave))
        T = feats.shape[-1]
        dense = dense_macs_per_frame(cfg)
        cases = {f"random:{k}": (model, torch.rand(T, cfg.n_blocks, cfg.hidden, generator=g) < k) for k in KEEPS}
        cases.update(_trained_masks(p, cfg_name, wave))
        for threads in a.threads:
            torch.set_num_threads(threads)
            with torch.no_grad():
                t_batched = _median_time(lambda: model.mask_from_features(feats), a.repeats)
            for name, (m, masks) in cases.items():
                sk = SkippingFSENet(m)
                f0 = feats[0]
                t_dense, t_skip = _paired_times(lambda: sk.run_streaming(f0, masks, skip=False),
                                                lambda: sk.run_streaming(f0, masks, skip=True), a.repeats)
                dyn = float(dynamic_macs_per_frame(cfg, masks).mean())
                mac_saving = 1.0 - dyn / dense["total_with_gates"]
                rt_saving = 1.0 - t_skip / t_dense
                rows.append(dict(
                    config=cfg_name, threads=threads, masks=name, realised_keep=float(masks.float().mean()),
                    dense_batched_s_per_audio_s=t_batched / a.seconds,
                    dense_stream_s_per_audio_s=t_dense / a.seconds,
                    skip_stream_s_per_audio_s=t_skip / a.seconds,
                    dense_macs_per_frame_with_gates=dense["total_with_gates"],
                    dynamic_macs_per_frame=dyn, mac_saving=mac_saving, realtime_saving=rt_saving,
                    realtime_over_mac_saving=(rt_saving / mac_saving) if mac_saving > 1e-9 else None))
                r = rows[-1]
                print(f"{cfg_name:6s} thr={threads} {name:14s} keep={r['realised_keep']:.3f} "
                      f"batched={r['dense_batched_s_per_audio_s']*1e3:7.1f} ms/s  "
                      f"dense_stream={r['dense_stream_s_per_audio_s']*1e3:7.1f} ms/s  "
                      f"skip_stream={r['skip_stream_s_per_audio_s']*1e3:7.1f} ms/s  "
                      f"MAC saving={mac_saving:6.1%}  real-time saving={rt_saving:6.1%}  "
                      f"ratio={r['realtime_over_mac_saving'] if r['realtime_over_mac_saving'] is None else round(r['realtime_over_mac_saving'], 2)}",
                      flush=True)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    report = dict(
        benchmark="bench_skipping", date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        git_commit=commit,
        machine=dict(processor=platform.processor(), machine=platform.machine(), cpu_count=os.cpu_count(),
                     note="shared 2-core CPU (other jobs running)", torch=torch.__version__,
                     python=platform.python_version()),
        implementation="bench.skipping.SkippingFSENet.run_streaming (causal, frame by frame, PyTorch eager, "
                       "fp32); dense_batched = ConvFSENet.mask_from_features (conv1d over the utterance); "
                       "STFT/iSTFT excluded; MACs from bench.macs (analytic, gates included)",
        seconds_audio=a.seconds, repeats=a.repeats, statistic="median after 1 warm-up; dense/skip runs interleaved", rows=rows)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
