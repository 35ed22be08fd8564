"""Ceiling of the streaming engine's real-time saving / MAC saving: skipping with ideal decisions.

For each config the skipping engine (:class:`bench.engine.StreamingEngine`, ``skip=True``) runs with forced
decisions that keep the first ``n`` hidden channels of every block in every frame, for ``n`` from 0 to H: the
most favourable pattern its gathers can meet (one contiguous run of channels, the same in every frame) and no
gate evaluated (reading forced decisions costs about what compacting the gate's own does). Each ``n`` is timed
against the dense engine, whole passes interleaved as in ``bench_engine.py`` (1 thread, per-frame latency
inside compiled code). At each ``n``: the CPU-time saving ``1 - p50(skip) / p50(dense)`` and its ratio to the
MAC saving of keeping ``n`` channels with the gates' MACs charged (as ``bench_engine.py`` charges a gated
level). A gated model that keeps ``n`` channels per block pays at least this time (its kept channels are
scattered and its gates run), so the ratio at ``n`` bounds from above what a gated level of keep ``n/H`` can
reach with the engine's kernels on this CPU. With ``--levels`` the trained gated levels of the small config
(``<models-dir>/<level>/model.pt``, channels ordered by keep rate on the valid split) run in the same session
for comparison.

Models: randomly initialised, gated, with params' geometry (weights do not change the timing of forced
decisions: no data-dependent branch in the engine).

Usage: .venv/bin/python benchmarks/bench_engine_ceiling.py [--configs small paper] [--levels keep50 keep25]
       [--reps 41] [--seconds 5] [--out reports/benchmarks/engine_ceiling.json]   (+ the .png beside it)
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench.engine.cengine as cengine  # noqa: E402
from bench.engine import StreamingEngine, resolve_backend  # noqa: E402
from bench.engine.layout import model_keep_order  # noqa: E402
from bench.macs import dense_macs_per_frame, dynamic_macs_per_frame  # noqa: E402
from bench.models.fsenet import ConvFSENet, FSENetConfig  # noqa: E402
from bench.params import load_params  # noqa: E402
from bench.runinfo import cpu_model, git_info  # noqa: E402
from bench_engine import _audio, _interleaved, _load_trained, _stats  # noqa: E402

KEEP_GRID = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0)   # n / H


def prefix_masks(T: int, n_blocks: int, hidden: int, n: int) -> np.ndarray:
    """(T, n_blocks, hidden) uint8 decisions: the first ``n`` channels of every block kept in every frame."""
    m = np.zeros((T, n_blocks, hidden), np.uint8)
    m[:, :, :n] = 1
    return m


def _row(cfg: FSENetConfig, dense_ns: np.ndarray, skip_ns: np.ndarray, used: np.ndarray, hop_s: float) -> dict:
    dense_pf = dense_macs_per_frame(cfg)["total"]
    mac_saving = 1.0 - float(dynamic_macs_per_frame(cfg, used.astype(bool)).mean()) / dense_pf
    saving = 1.0 - float(np.median(skip_ns)) / float(np.median(dense_ns))
    return dict(keep=float(used.mean()), mac_saving=mac_saving, dense=_stats(dense_ns, hop_s),
                skip=_stats(skip_ns, hop_s), cpu_time_saving=saving,
                ratio=saving / mac_saving if mac_saving > 1e-9 else None)      # no ratio without a MAC saving


def plot(report: dict, out: Path) -> None:
    """CPU-time saving against MAC saving: each config's ideal-decision curve, the trained gated levels, and the
    lines ratio 1 and ratio 0.7 (the target); written to a temporary name, then renamed."""
    from bench.plotstyle import DPI, STYLE, plt

    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=DPI)
        x = np.linspace(0.0, 0.9, 10)
        ax.plot(x, x, color="0.6", lw=1, ls="--", label="ratio 1")
        ax.plot(x, 0.7 * x, color="0.3", lw=1, ls=":", label="ratio 0.7 (target)")
        for name, c in report["curves"].items():
            rows = [r for r in c["rows"] if r["mac_saving"] > 0]
            ax.plot([r["mac_saving"] for r in rows], [r["cpu_time_saving"] for r in rows], marker="o", ms=4,
                    label=f"{name}: first n of {c['hidden']} channels kept, no gate")
        for g in report["gated_levels"]:
            ax.plot(g["mac_saving"], g["cpu_time_saving"], marker="*", ms=11, ls="none", color="black")
            ax.annotate(f"small {g['level']} (trained gates)", (g["mac_saving"], g["cpu_time_saving"]),
                        textcoords="offset points", xytext=(6, -10))
        ax.set_xlabel("MAC saving (gates' MACs charged)")
        ax.set_ylabel("CPU-time saving (p50 per frame, 1 thread)")
        ax.set_title(f"Skipping engine vs dense, {report['machine']['cpu_model']}", fontsize=10)
        ax.set_xlim(0, 0.9)
        ax.set_ylim(-0.1, 1.0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        tmp = out.with_name(out.stem + ".tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--configs", nargs="+", default=["small", "paper"])
    ap.add_argument("--levels", nargs="*", default=["keep50", "keep25"],
                    help="trained gated levels of the small config timed in the same run (missing ones skipped)")
    ap.add_argument("--models-dir", type=Path, default=None)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--reps", type=int, default=41, help="timed passes per engine and point (after one warm-up)")
    ap.add_argument("--backend", default="auto", choices=["auto", "c", "numba"])
    ap.add_argument("--out", type=Path, default=ROOT / "reports/benchmarks/engine_ceiling.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    params = load_params(a.params)
    backend = resolve_backend(a.backend)
    models = a.models_dir or ROOT / params["paths"]["models_dir"]
    hop_s = params["frames"]["hop_length"] / params["frames"]["sample_rate_hz"]
    wave, src = _audio(params, a.seconds)
    load_start, t_start = os.getloadavg(), time.perf_counter()
    curves, gated = {}, []
    for cfg_name in a.configs:
        p = dict(params, model=dict(params["model"], config=cfg_name))
        torch.manual_seed(0)
        m = ConvFSENet(FSENetConfig.from_params(p, level_keep=0.5)).eval()
        cfg = m.cfg
        with torch.no_grad():
            frames = np.ascontiguousarray(m.stft(wave)[0].numpy().T, dtype=np.complex64)
        T, H, nb = frames.shape[0], cfg.hidden, cfg.n_blocks
        dense = StreamingEngine(m, skip=False, backend=backend)
        skip = dense.twin(True)
        rows = []
        for share in tqdm(KEEP_GRID, desc=cfg_name):
            n = int(round(share * H))
            used = prefix_masks(T, nb, H, n)
            d_ns, s_ns = _interleaved(dense, skip, frames, used, a.reps)
            rows.append(dict(n_kept=n, **_row(cfg, d_ns, s_ns, used, hop_s)))
        curves[cfg_name] = dict(hidden=H, n_blocks=nb, causal=cfg.causal, dense_macs_per_frame=dense_macs_per_frame(cfg)["total"],
                                model="random init (seed 0), gated; forced decisions", rows=rows)
    if a.levels and "small" in a.configs:
        vwave, vsrc = _audio(params, 10.0, "valid")
        for lv in a.levels:
            path = models / lv / "model.pt"
            m = _load_trained(path, "small", params["model"]["configs"]["small"])
            if m is None:
                print(f"{path}: missing or not a small-config model, level {lv} skipped")
                continue
            cfg = m.cfg
            if m.gates is None:
                raise SystemExit(f"{path}: level {lv!r} has no gates")
            with torch.no_grad():
                spec = m.stft(wave)[0]
                order = model_keep_order(m, m.stft(vwave)[0])
            frames = np.ascontiguousarray(spec.numpy().T, dtype=np.complex64)
            dense = StreamingEngine(m, skip=False, backend=backend, channel_order=order)
            skip = dense.twin(True)
            _, _, used = skip.run(spec, return_gates=True)
            d_ns, s_ns = _interleaved(dense, skip, frames, None, a.reps)
            gated.append(dict(level=lv, model=str(path), channel_order=f"keep rate on {vsrc}",
                              **_row(cfg, d_ns, s_ns, used, hop_s)))
    # ---- print
    for name, c in curves.items():
        print(f"\n{name} (H={c['hidden']}): first n channels of every block kept, no gate evaluated")
        print(f"  {'n':>4} {'keep':>5} {'MACsave':>7} {'dense us':>8} {'skip us':>8} {'CPUsave':>7} {'ratio':>6}")
        for r in c["rows"]:
            print(f"  {r['n_kept']:4d} {r['keep']:5.2f} {r['mac_saving']:7.1%} {r['dense']['p50_us']:8.2f} "
                  f"{r['skip']['p50_us']:8.2f} {r['cpu_time_saving']:7.1%} "
                  + (f"{r['ratio']:+6.2f}" if r["ratio"] is not None else "     -"))
    for g in gated:
        print(f"small {g['level']} (trained gates): keep {g['keep']:.2f}, MAC saving {g['mac_saving']:.1%}, dense "
              f"{g['dense']['p50_us']:.2f} us, skip {g['skip']['p50_us']:.2f} us, ratio {g['ratio']:+.2f}")
    commit, dirty = git_info(ROOT)
    report = dict(
        benchmark="bench_engine_ceiling", date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        git_commit=commit, git_dirty=dirty,
        command="python benchmarks/bench_engine_ceiling.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        wall_s=time.perf_counter() - t_start,
        machine=dict(cpu_model=cpu_model(), cpu_count=os.cpu_count(), loadavg_start=list(load_start),
                     loadavg_end=list(os.getloadavg()), torch=torch.__version__),
        implementation=dict(
            engine=f"bench.engine.StreamingEngine, backend {backend}" + (
                " (csrc/engine.c, " + " ".join([cengine.compiler_version(), *cengine.CFLAGS]) + ")" if backend == "c" else ""),
            decisions="forced: the first n hidden channels of every block in every frame (contiguous, no gate run)",
            timing="per frame inside compiled code; dense and skipping passes interleaved (bench_engine._interleaved)",
            macs="bench.macs (analytic; dynamic MACs of the forced decisions with the gates' MACs charged)"),
        audio=dict(source=src, seconds=wave.shape[-1] / params["frames"]["sample_rate_hz"]),
        reps=a.reps, curves=curves, gated_levels=gated)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(a.out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, a.out)
    plot(report, a.out.with_suffix(".png"))
    print(f"wrote {a.out} and {a.out.with_suffix('.png').name} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
