"""A/B two versions of the C engine source in one process: is a kernel change faster?

Separate benchmark runs on this VM differ by up to ~10 % in absolute time (frequency, neighbours), more than
most kernel changes gain, so this script compiles both sources (``--a``, ``--b``: paths to engine.c variants,
e.g. ``git show REV:bench/engine/csrc/engine.c > /tmp/a.c``) with the backend's flags, loads both libraries,
builds dense and skipping engines on each for the same trained model (same arrays layout; channels ordered by
keep rate on the valid split unless ``--no-channel-order``) and times whole passes over the same audio,
rotating the order of the four engines pass by pass. Reported per engine: min and median us per frame over
the passes, and per build the CPU-time saving 1 - skip / dense from the minima.

Usage: .venv/bin/python benchmarks/ab_engine_builds.py --a /tmp/a.c [--b bench/engine/csrc/engine.c]
       [--levels keep50 keep25] [--passes 60] [--seconds 3] [--out reports/benchmarks/engine_ab.json]
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench.engine.cengine as cengine  # noqa: E402
from bench.engine import StreamingEngine  # noqa: E402
from bench.engine.layout import model_keep_order  # noqa: E402
from bench.models.registry import load_checkpoint  # noqa: E402
from bench.params import load_params  # noqa: E402
from bench.report.provenance import cpu_model  # noqa: E402
from bench_engine import _audio  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, type=Path)
    ap.add_argument("--b", type=Path, default=cengine.SOURCE)
    ap.add_argument("--levels", nargs="+", default=["keep50", "keep25"])
    ap.add_argument("--models-dir", type=Path, default=None)
    ap.add_argument("--passes", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--channel-order", default=True, action=argparse.BooleanOptionalAction)
    ap.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    params = load_params(ROOT / "params.yaml")
    models = a.models_dir or ROOT / params["paths"]["models_dir"]
    wave, src = _audio(params, a.seconds)
    vwave, vsrc = _audio(params, 10.0, "valid")
    tmp = Path(tempfile.mkdtemp(prefix="engine-ab-"))
    libs = {k: cengine.open_library(cengine.compile_library(p, tmp / f"lib_{k}.so")) for k, p in (("A", a.a), ("B", a.b))}
    rows = []
    for lv in a.levels:
        m, _, _ = load_checkpoint(models / lv / "model.pt", torch.device("cpu"))
        with torch.no_grad():
            spec = m.stft(wave)[0]
            order = model_keep_order(m, m.stft(vwave)[0]) if a.channel_order and m.gates is not None else None
        frames = np.ascontiguousarray(spec.numpy().T, dtype=np.complex64)
        T = frames.shape[0]
        out, masks = np.zeros((T, frames.shape[1]), np.complex64), np.zeros((T, frames.shape[1]), np.float32)
        engs = {}
        real_load = cengine.load
        try:
            for k, lib in libs.items():
                cengine.load = lambda extra_flags=(), lib=lib: lib       # bind this build to the engines
                d = StreamingEngine(m, skip=False, backend="c", channel_order=order)
                engs[f"{k}_dense"], engs[f"{k}_skip"] = d, d.twin(True)
        finally:
            cengine.load = real_load
        times = {k: [] for k in engs}
        names = list(engs)
        for r in tqdm(range(a.passes), desc=lv):
            for j in range(len(names)):
                k = names[(j + r) % len(names)]
                e = engs[k]
                e.reset()
                t0 = time.perf_counter_ns()
                e._lib.se_run(e._cs, frames.ctypes.data, T, 0, e.skip, None, 0, None, 0, out.ctypes.data,
                              masks.ctypes.data)
                times[k].append((time.perf_counter_ns() - t0) / T / 1e3)
        mn = {k: float(np.min(v)) for k, v in times.items()}
        row = dict(level=lv, us_per_frame_min=mn, us_per_frame_median={k: float(np.median(v)) for k, v in times.items()},
                   saving_a=1 - mn["A_skip"] / mn["A_dense"], saving_b=1 - mn["B_skip"] / mn["B_dense"])
        rows.append(row)
        print(f"{lv}: " + " ".join(f"{k} {v:.2f}" for k, v in mn.items())
              + f" us/frame (min); saving A {row['saving_a']:+.3f}, B {row['saving_b']:+.3f}")
    if a.out:
        rep = dict(benchmark="ab_engine_builds", date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   command="python benchmarks/ab_engine_builds.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                   sources={k: dict(path=str(p), sha256=hashlib.sha256(p.read_bytes()).hexdigest())
                            for k, p in (("A", a.a), ("B", a.b))},
                   cflags=cengine.CFLAGS + cengine.LIBS, machine=dict(cpu_model=cpu_model(), loadavg=list(os.getloadavg())),
                   audio=src, channel_order=(f"keep rate on {vsrc}" if a.channel_order else "model's own"),
                   passes=a.passes, rows=rows)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        t = a.out.with_name(a.out.name + ".tmp")
        t.write_text(json.dumps(rep, indent=1))
        os.replace(t, a.out)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
