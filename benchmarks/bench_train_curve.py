"""Quality against training time: valid PESQ-wb and STOI of a level after every epoch of its training.

Drives the same pieces as ``sebench train`` (:func:`bench.train._setup`, ``_train_steps``, ``_end_epoch``:
same seeds, data order and schedule as the pipeline's run of that level) in a scratch models folder, and
after every epoch scores the first ``--valid-utts`` valid utterances (full length, eval mode) with
``pesq`` (wb, P.862.2) and ``pystoi`` (STOI), beside the noisy input. Minutes are the training loop's
own wall time (validation and scoring excluded), on the machine named in the output.

    .venv/bin/python benchmarks/bench_train_curve.py [--level static] [--epochs 30] [--valid-utts 24]

Prints one line per epoch and writes reports/benchmarks/train_curve.json (machine, load, versions).
Selection of the pipeline's model uses the valid *loss* only; these scores are for the curve.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import distributed as D  # noqa: E402
from bench.params import load_params  # noqa: E402
from bench.score.metrics import METRIC_INFO, pesq_wb, si_sdr, stoi  # noqa: E402
from bench.runinfo import cpu_model, versions  # noqa: E402
from bench.train import _end_epoch, _setup, _train_steps  # noqa: E402
from datagen.atomic import write_json  # noqa: E402


def score_valid(model, audio, n_utts: int, sr: int) -> dict:
    """Mean PESQ-wb, STOI and SI-SDR (dB) of the model's output on the first ``n_utts`` valid utterances."""
    model.eval()
    pw, st, sd = [], [], []
    with torch.no_grad():
        for i in range(min(n_utts, len(audio))):
            noisy, clean = audio.utterance(i)
            est = model(noisy[None]).enhanced[0].cpu().numpy().astype(np.float64)
            ref = clean.cpu().numpy().astype(np.float64)
            pw.append(pesq_wb(ref, est, sr))
            st.append(stoi(ref, est, sr))
            sd.append(si_sdr(ref, est))
    model.train()
    return {"pesq_wb": float(np.mean(pw)), "stoi": float(np.mean(st)), "si_sdr": float(np.mean(sd))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--level", default="static")
    ap.add_argument("--epochs", type=int, default=None, help="stop after this many epochs (default: the level's)")
    ap.add_argument("--valid-utts", type=int, default=24)
    ap.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "train_curve.json"))
    a = ap.parse_args()
    params = load_params(a.params)
    sr = int(params["frames"]["sample_rate_hz"])
    work = Path(tempfile.mkdtemp(prefix="train_curve_"))
    params["paths"] = {**params["paths"], "models_dir": str(work / "models")}   # checkpoints: work/checkpoints
    run = _setup(params, a.level, "cpu", progress=False)
    n_epochs = min(a.epochs or run.epochs, run.epochs)

    noisy_scores = {"pesq_wb": [], "stoi": [], "si_sdr": []}
    for i in range(min(a.valid_utts, len(run.valid_audio))):
        noisy, clean = run.valid_audio.utterance(i)
        ref, est = clean.numpy().astype(np.float64), noisy.numpy().astype(np.float64)
        noisy_scores["pesq_wb"].append(pesq_wb(ref, est, sr))
        noisy_scores["stoi"].append(stoi(ref, est, sr))
        noisy_scores["si_sdr"].append(si_sdr(ref, est))
    noisy_mean = {k: float(np.mean(v)) for k, v in noisy_scores.items()}
    print(f"noisy input: PESQ-wb {noisy_mean['pesq_wb']:.3f}  STOI {noisy_mean['stoi']:.3f}  "
          f"SI-SDR {noisy_mean['si_sdr']:.2f} dB "
          f"({min(a.valid_utts, len(run.valid_audio))} valid utterances)", flush=True)

    class _NoLive:   # _end_epoch logs to dvclive on rank 0; the benchmark keeps its own record
        def log_metric(self, *_):
            pass

        def next_step(self):
            pass

    rows, t_start = [], time.perf_counter()
    for epoch in range(n_epochs):
        run.model.train()
        t0 = time.perf_counter()
        acc = _train_steps(run, run.model, epoch)
        run.train_wall += time.perf_counter() - t0
        _end_epoch(run, run.model, epoch, acc, _NoLive(), t_start)
        q = score_valid(run.model, run.valid_audio, a.valid_utts, sr)
        rec = {"epoch": epoch + 1, "train_minutes": run.train_wall / 60, "valid_loss": run.history[-1]["valid_loss"],
               **q, "pesq_wb_gain": q["pesq_wb"] - noisy_mean["pesq_wb"], "stoi_gain": q["stoi"] - noisy_mean["stoi"],
               "si_sdr_gain_db": q["si_sdr"] - noisy_mean["si_sdr"]}
        rows.append(rec)
        print(f"epoch {rec['epoch']:>3}  {rec['train_minutes']:6.2f} min  valid loss {rec['valid_loss']:.4f}  "
              f"PESQ-wb {q['pesq_wb']:.3f} ({rec['pesq_wb_gain']:+.3f})  STOI {q['stoi']:.3f} "
              f"({rec['stoi_gain']:+.3f})  SI-SDR {q['si_sdr']:.2f} dB ({rec['si_sdr_gain_db']:+.2f})", flush=True)
        _write(a, params, run, noisy_mean, rows, n_epochs)   # after every epoch: a stopped run leaves a valid file
    D.cleanup(run.info)
    print(f"wrote {a.out}")
    return 0


def _write(a, params, run, noisy_mean, rows, n_epochs) -> None:
    res = {"benchmark": "train_curve", "level": a.level, "model_config": params["model"]["config"],
           "what": "valid PESQ-wb / STOI / SI-SDR after each epoch vs the training loop's cumulative wall minutes",
           "valid_utterances": min(a.valid_utts, len(run.valid_audio)), "noisy": noisy_mean,
           "metrics": {k: {f: METRIC_INFO[k][f] for f in ("implementation", "version", "mode")}
                       for k in ("pesq_wb", "stoi", "si_sdr")},
           "train": {k: params["train"][k] for k in ("batch_size", "crop_s", "lr", "lr_min", "grad_clip_norm",
                                                     "loss_mag_weight", "loss_sisdr_weight", "loss_level")},
           "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                       "load_avg_1_5_15": os.getloadavg(),
                       "note": "shared 2-core CPU; other jobs may run, so minutes are upper bounds"},
           "versions": versions(), "epochs_planned": n_epochs, "complete": len(rows) == n_epochs, "rows": rows}
    write_json(Path(a.out), res, default=str)


if __name__ == "__main__":
    raise SystemExit(main())
