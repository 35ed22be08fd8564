"""Wall-clock of real channel skipping vs the same code run densely, per second of audio (2-core CPU).

For the ``small`` and ``paper`` configs (causal, gated), per mask source and keep level, measured in one
run with dense/skip runs interleaved (median of ``--repeats`` after a warm-up):

* ``chunked`` (:class:`bench.skipping_chunked.ChunkedSkippingFSENet`) at each chunk size K: the dense
  reference (same code, every channel, ``skip=False``) and the skipping run (union of each chunk's
  active channels computed, buckets of similar-size chunks batched);
* ``stream`` (:meth:`bench.skipping.SkippingFSENet.run_streaming`, frame by frame), dense vs skip,
  on the first ``--stream-seconds`` only;
* the plain model forward (``ConvFSENet.mask_from_features``, conv1d over the utterance).

Masks: ``trained:<level>`` = the gates of ``data/models/<level>/model.pt`` (bench.train) when present;
``tiny:<keep>`` = the gates of a gated model trained here for ``--train-steps`` steps on the train split
of ``data/dataset`` (bench.train.step_losses, cached under ``data/bench_skipping/``), i.e. temporally
structured masks; ``random:<keep>`` = i.i.d. Bernoulli masks (the worst case for union-based skipping).
Masks are taken on real test audio (first test mixtures, ``--seconds`` in all).

MACs (bench.macs convention, gates included, STFT excluded): ``ideal`` = per-frame dynamic count;
``union`` = what a chunk computing its union performs (:func:`bench.skipping_chunked.chunked_macs`);
``performed`` = what the bucketed run did (padding rows included). Savings are vs the dense count.
Real-time saving of skip at K vs (a) dense same code at the same K and (b) the best dense time of any K.
Headline: real-time saving (b) / ideal MAC saving at the best K.

Usage (re-measure on a quiet machine with the same command):
  .venv/bin/python benchmarks/bench_skipping.py [--configs small paper] [--threads 1] [--repeats 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
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
from bench.runinfo import cpu_model, git_info  # noqa: E402
from bench.skipping import SkippingFSENet  # noqa: E402
from bench.skipping_chunked import ChunkedSkippingFSENet, chunked_macs  # noqa: E402

RANDOM_KEEPS = (0.75, 0.5, 0.25)


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _interleaved(fns: list, repeats: int) -> list[float]:
    """Medians of round-robin runs f0, f1, ..., f0, f1, ... (the shared machine's load hits all alike)."""
    for f in fns:
        f()  # warm-up
    ts = [[] for _ in fns]
    for _ in range(repeats):
        for f, t in zip(fns, ts):
            t.append(_timed(f))
    return [statistics.median(t) for t in ts]


def _test_audio(params: dict, seconds: float) -> tuple[torch.Tensor, list[str]]:
    """First test mixtures of data/dataset, concatenated and cut to ``seconds`` (noise if absent)."""
    from datagen.dataset import load_metadata, read_stem

    sr = int(params["frames"]["sample_rate_hz"])
    ds = ROOT / params["paths"]["dataset_dir"]
    n = int(seconds * sr)
    try:
        meta = load_metadata(ds, "test")
    except (FileNotFoundError, ValueError, OSError):
        g = torch.Generator().manual_seed(0)
        return 0.1 * torch.randn(1, n, generator=g), ["white-noise(seed 0)"]
    parts, ids, have = [], [], 0
    for row in meta.itertuples(index=False):
        x = read_stem(ds, row, "noisy").astype(np.float32)
        parts.append(x); ids.append(row.mixture_id); have += len(x)
        if have >= n:
            break
    return torch.from_numpy(np.concatenate(parts)[:n])[None], ids


def _tiny_trained(params: dict, cfg: FSENetConfig, cfg_name: str, keep: float, steps: int) -> ConvFSENet | None:
    """A gated model trained ``steps`` Adam steps (batch 8 x 2 s crops, lr 2e-3) on the train split; cached."""
    from bench.data import crop_batches, load_split_audio
    from bench.train import step_losses

    cache = ROOT / "data" / "bench_skipping" / f"{cfg_name}_causal_keep{keep}_steps{steps}.pt"
    model = ConvFSENet(cfg)
    if cache.is_file():
        model.load_state_dict(torch.load(cache, map_location="cpu")["state_dict"])
        return model.eval()
    ds = ROOT / params["paths"]["dataset_dir"]
    if not (ds / "metadata" / "train.parquet").is_file():
        return None
    sr = int(params["frames"]["sample_rate_hz"])
    audio = load_split_audio(ds, "train", sr, progress=False)
    torch.manual_seed(0)
    model = ConvFSENet(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    done, epoch, t0 = 0, 0, time.perf_counter()
    bw = float(params["model"]["gate"].get("budget_weight", 1.0))
    while done < steps:
        for noisy, clean in crop_batches(audio, 2 * sr, 8, int(params["seed"]), epoch):
            loss, spec, bud, out = step_losses(model, noisy, clean, keep, params["train"], bw)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done % 25 == 0:
                print(f"  tiny {cfg_name} keep={keep}: step {done}/{steps} spec={float(spec.detach()):.4f} "
                      f"keep={float(out.gates.detach().float().mean()):.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            if done >= steps:
                break
        epoch += 1
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    torch.save({"state_dict": model.state_dict(), "config": cfg.to_dict(), "steps": steps, "keep": keep}, tmp)
    os.replace(tmp, cache)
    return model.eval()


def _trained(params: dict, cfg_name: str) -> dict:
    """{"trained:<level>": model} for bench.train checkpoints of this config (any causality)."""
    out = {}
    for level, keep in (params.get("levels") or {}).items():
        path = ROOT / params["paths"]["models_dir"] / str(level) / "model.pt"
        if float(keep) >= 1.0 or not path.is_file():
            continue
        try:
            ck = torch.load(path, map_location="cpu", weights_only=False)
            cfg = FSENetConfig.from_dict(ck["config"])
            if cfg.bottleneck != params["model"]["configs"][cfg_name]["bottleneck"] or not cfg.gated:
                continue
            m = ConvFSENet(cfg).eval()
            m.load_state_dict(ck["state_dict"])
        except (KeyError, ValueError, RuntimeError, OSError) as e:
            print(f"skipping {path}: {e}", file=sys.stderr)
            continue
        out[f"trained:{level}"] = m
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--configs", nargs="+", default=["small", "paper"])
    ap.add_argument("--seconds", type=float, default=4.0, help="test audio per run (s)")
    ap.add_argument("--stream-seconds", type=float, default=0.5, help="audio for the frame-by-frame path (s)")
    ap.add_argument("--chunks", nargs="+", default=["8", "16", "32", "64", "all"])
    ap.add_argument("--buckets", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--train-keeps", type=float, nargs="*", default=[0.5])
    ap.add_argument("--train-steps", type=int, default=120)
    ap.add_argument("--out", default=str(ROOT / "reports/benchmarks/skipping.json"))
    a = ap.parse_args(argv)
    params = load_params(a.params)
    chunks = [None if c == "all" else int(c) for c in a.chunks]
    load_start = os.getloadavg()
    wave, ids = _test_audio(params, a.seconds)
    sr = int(params["frames"]["sample_rate_hz"])
    secs = wave.shape[-1] / sr
    rows = []
    for cfg_name in a.configs:
        p = dict(params, model=dict(params["model"], config=cfg_name, causal=True))
        cfg = FSENetConfig.from_params(p, level_keep=0.5)
        torch.set_num_threads(max(a.threads))
        models = _trained(p, cfg_name)
        for keep in a.train_keeps:
            m = _tiny_trained(p, cfg, cfg_name, keep, a.train_steps)
            if m is not None:
                models[f"tiny:{keep}"] = m
        base = next(iter(models.values())) if models else ConvFSENet(cfg).eval()
        with torch.no_grad():
            feats = base.features(base.stft(wave))[0]
        T = feats.shape[-1]
        g = torch.Generator().manual_seed(0)
        cases = []   # (mask source, model, forced masks or None, masks used)
        for name, m in models.items():
            with torch.no_grad():
                gates = m.mask_from_features(feats[None])[1][0].permute(2, 0, 1).bool()
            cases.append((name, m, None, gates))
        for k in RANDOM_KEEPS:
            cases.append((f"random:{k}", base, torch.rand(T, cfg.n_blocks, cfg.hidden, generator=g) < k, None))
        dense_pf = dense_macs_per_frame(cfg)["total_with_gates"]
        for threads in a.threads:
            torch.set_num_threads(threads)
            with torch.no_grad():
                t_model = _interleaved([lambda: base.mask_from_features(feats[None])], a.repeats)[0]
            for name, m, forced, gates in cases:
                masks = forced if forced is not None else gates
                ck = ChunkedSkippingFSENet(m)
                fns = []
                for K in chunks:
                    fns += [lambda K=K: ck.run(feats, forced, K, skip=False),
                            lambda K=K: ck.run(feats, forced, K, skip=True, buckets=a.buckets)]
                ts = _interleaved(fns, a.repeats)
                t_dense = {K: ts[2 * i] for i, K in enumerate(chunks)}
                best_dense = min(t_dense.values())
                ideal = 1.0 - float(dynamic_macs_per_frame(cfg, masks).mean()) / dense_pf
                per_k = []
                for i, K in enumerate(chunks):
                    c = chunked_macs(cfg, masks, K)
                    perf = ck.computed_macs(ck.run(feats, forced, K, skip=True, buckets=a.buckets)) / T
                    t_skip = ts[2 * i + 1]
                    per_k.append(dict(
                        chunk_frames=K if K is not None else "all", dense_ms_per_s=1e3 * t_dense[K] / secs,
                        skip_ms_per_s=1e3 * t_skip / secs, union_density=c["union_density"],
                        union_mac_saving=1.0 - c["per_frame"] / dense_pf, performed_mac_saving=1.0 - perf / dense_pf,
                        rt_saving_vs_same_k_dense=1.0 - t_skip / t_dense[K],
                        rt_saving_vs_best_dense=1.0 - t_skip / best_dense))
                best = max(per_k, key=lambda r: r["rt_saving_vs_best_dense"])
                stream = None
                if m.cfg.causal:  # trained pipeline models may be non-causal: no streaming form
                    n_s = max(1, int(a.stream_seconds * sr / cfg.hop_length))
                    sk = SkippingFSENet(m)
                    fs = None if forced is None else forced[:n_s]
                    td, tsk = _interleaved([lambda: sk.run_streaming(feats[:, :n_s], fs, skip=False),
                                            lambda: sk.run_streaming(feats[:, :n_s], fs, skip=True)],
                                           max(1, a.repeats // 2 + 1))
                    sec_s = n_s * cfg.hop_length / sr
                    stream = dict(seconds=sec_s, dense_ms_per_s=1e3 * td / sec_s, skip_ms_per_s=1e3 * tsk / sec_s,
                                  rt_saving=1.0 - tsk / td)
                row = dict(config=cfg_name, threads=threads, masks=name,
                           mask_kind=("model gates (bench.train checkpoint)" if name.startswith("trained")
                                      else f"gates of a gated model trained {a.train_steps} steps here"
                                      if name.startswith("tiny") else "i.i.d. Bernoulli (worst case)"),
                           realised_keep=float(masks.float().mean()), ideal_mac_saving=ideal,
                           model_forward_ms_per_s=1e3 * t_model / secs, best_dense_ms_per_s=1e3 * best_dense / secs,
                           chunked=per_k, stream=stream, best_chunk=best["chunk_frames"],
                           headline_rt_over_mac_saving=(best["rt_saving_vs_best_dense"] / ideal) if ideal > 1e-9 else None)
                rows.append(row)
                print(f"\n{cfg_name} thr={threads} {name} keep={row['realised_keep']:.3f} ideal MAC saving "
                      f"{ideal:.1%}  model fwd {row['model_forward_ms_per_s']:.1f} ms/s"
                      + (f"  stream dense/skip {stream['dense_ms_per_s']:.0f}/{stream['skip_ms_per_s']:.0f} ms/s"
                         if stream else ""), flush=True)
                print(f"  {'K':>4} {'dense':>7} {'skip':>7} {'union':>6} {'unionMAC':>8} {'perfMAC':>8} "
                      f"{'rt/sameK':>8} {'rt/best':>8}")
                for r in per_k:
                    print(f"  {str(r['chunk_frames']):>4} {r['dense_ms_per_s']:7.1f} {r['skip_ms_per_s']:7.1f} "
                          f"{r['union_density']:6.3f} {r['union_mac_saving']:8.1%} {r['performed_mac_saving']:8.1%} "
                          f"{r['rt_saving_vs_same_k_dense']:8.1%} {r['rt_saving_vs_best_dense']:8.1%}")
                print(f"  headline (best K={best['chunk_frames']}): real-time saving / ideal MAC saving = "
                      f"{row['headline_rt_over_mac_saving']}", flush=True)
    commit, dirty = git_info(ROOT)
    report = dict(
        benchmark="bench_skipping", date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        git_commit=commit, git_dirty=dirty, command="python benchmarks/bench_skipping.py " + " ".join(argv or sys.argv[1:]),
        machine=dict(cpu_model=cpu_model(), cpu_count=os.cpu_count(), torch=torch.__version__,
                     python=platform.python_version(), loadavg_start=list(load_start),
                     loadavg_end=list(os.getloadavg()),
                     note="shared 2-core CPU, heavily loaded by other jobs during the run; 2 threads not "
                          "measured (machine not quiet); re-measure on a quiet machine with the same command"),
        implementation=dict(
            chunked="bench.skipping_chunked.ChunkedSkippingFSENet.run (PyTorch eager, fp32; dense = same code "
                    "skip=False; skip = union per chunk, buckets of similar-size chunks batched)",
            stream="bench.skipping.SkippingFSENet.run_streaming (frame by frame)",
            model_forward="bench.models.fsenet.ConvFSENet.mask_from_features (conv1d)",
            macs="bench.macs (analytic, gates included, STFT excluded); union/performed: bench.skipping_chunked"),
        audio=dict(test_mixtures=ids, seconds=secs), repeats=a.repeats, buckets=a.buckets,
        statistic="median after 1 warm-up; dense/skip runs of every chunk size interleaved", rows=rows)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
