"""Scoring every (system, utterance) pair, serially or over processes, into one long table.

One task = one system's file for one utterance, all metrics. Each task is deterministic and the
result table is sorted, so ``workers=1`` and ``workers=N`` give identical tables.

Table columns (one row per system x utterance x metric): ``system, mixture_id, metric, value,
status ("ok" | "failed"), reason, file, file_sample_rate_hz, resample_method, trimmed_samples,
duration_s``; :func:`attach_noisy` adds ``noisy_value`` and ``improvement``.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from bench.score.metrics import compute
from datagen.errors import SebenchError

RESAMPLE_METHOD = "soxr HQ"
COLUMNS = ["system", "mixture_id", "metric", "value", "status", "reason", "file", "file_sample_rate_hz",
           "resample_method", "trimmed_samples", "duration_s"]


class AudioMismatchError(SebenchError, ValueError):
    """A system's file cannot be reconciled with its reference (rate with resampling off, or length)."""


@dataclass(frozen=True)
class Task:
    """Score ``est_path`` (None = missing) of ``system`` against ``ref_path`` for one utterance."""

    system: str
    mixture_id: str
    ref_path: str
    est_path: str | None
    metrics: tuple[str, ...]
    sample_rate_hz: int = 16000
    hop_length: int = 256           # length differences < hop_length samples are trimmed, larger ones raise
    allow_resample: bool = True
    skip_metrics: tuple[str, ...] = ()  # recorded as status "skipped" (e.g. a CPU-budget cap), never computed
    skip_reason: str = ""


def load_audio(path: str | Path, sample_rate_hz: int, allow_resample: bool = True) -> tuple[np.ndarray, int, str]:
    """Mono float32 audio at ``sample_rate_hz``: ``(x (n_samples,), file_rate_hz, resample_method or "")``.

    A file at another rate is resampled with soxr ("HQ") unless ``allow_resample`` is False, which raises.
    """
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioMismatchError(f"{path}: cannot read audio ({e})") from None
    if x.shape[1] != 1:
        raise AudioMismatchError(f"{path}: {x.shape[1]} channels, expected mono")
    x = x[:, 0]
    if sr == sample_rate_hz:
        return x, int(sr), ""
    if not allow_resample:
        raise AudioMismatchError(f"{path}: sample rate {sr} Hz != scoring rate {sample_rate_hz} Hz "
                                 f"(resampling disabled)")
    import soxr

    return soxr.resample(x, sr, sample_rate_hz, quality="HQ").astype(np.float32), int(sr), RESAMPLE_METHOD


def align(ref: np.ndarray, est: np.ndarray, hop_length: int, est_path) -> tuple[np.ndarray, np.ndarray, int]:
    """Trim both to the shorter length if they differ by < ``hop_length`` samples; else raise naming the file.

    Returns ``(ref, est, trimmed_samples)`` with ``trimmed_samples = len(est) - len(ref)`` (signed).
    """
    d = len(est) - len(ref)
    if abs(d) >= hop_length:
        raise AudioMismatchError(f"{est_path}: {len(est)} samples vs reference {len(ref)} ({d:+d}); only "
                                 f"differences < hop ({hop_length} samples) are trimmed")
    n = min(len(ref), len(est))
    return ref[:n], est[:n], int(d)


def score_task(task: Task) -> list[dict]:
    """Rows of one task (one per metric). A missing file gives "failed" rows, never no rows."""
    base = dict(system=task.system, mixture_id=task.mixture_id, file=task.est_path or "",
                file_sample_rate_hz=0, resample_method="", trimmed_samples=0, duration_s=float("nan"))
    if task.est_path is None or not Path(task.est_path).is_file():
        reason = f"missing file: {task.est_path}" if task.est_path else "no file for this utterance"
        return [dict(base, metric=m, value=float("nan"), status="failed", reason=reason) for m in task.metrics]
    ref, _, _ = load_audio(task.ref_path, task.sample_rate_hz, task.allow_resample)
    est, file_sr, method = load_audio(task.est_path, task.sample_rate_hz, task.allow_resample)
    ref, est, trimmed = align(ref, est, task.hop_length, task.est_path)
    base.update(file_sample_rate_hz=file_sr, resample_method=method, trimmed_samples=trimmed,
                duration_s=len(est) / task.sample_rate_hz)
    todo = [m for m in task.metrics if m not in task.skip_metrics]
    res = compute(todo, ref, est, task.sample_rate_hz) if todo else {}
    rows = [dict(base, metric=m, value=v, status=s, reason=r) for m, (v, s, r) in res.items()]
    return rows + [dict(base, metric=m, value=float("nan"), status="skipped", reason=task.skip_reason)
                   for m in task.metrics if m in task.skip_metrics]


def _init_worker() -> None:
    # one BLAS/OpenMP thread per worker process: parallelism comes from processes, and single-threaded
    # reductions make every value bit-identical to the serial run (threaded BLAS sums in another order)
    from threadpoolctl import threadpool_limits

    os.environ["OMP_NUM_THREADS"] = "1"
    threadpool_limits(1)


def sort_table(df: pd.DataFrame, metrics_order: list[str] | None = None) -> pd.DataFrame:
    order = metrics_order or sorted(df["metric"].unique())
    df = df.assign(_m=df["metric"].map({m: i for i, m in enumerate(order)}))
    return df.sort_values(["system", "mixture_id", "_m"], kind="mergesort").drop(columns="_m").reset_index(drop=True)


def score_tasks(tasks: list[Task], workers: int = 1, progress: bool = True) -> pd.DataFrame:
    """Score all tasks with ``workers`` processes (1 = in this process); sorted long table (COLUMNS)."""
    if not tasks:
        return pd.DataFrame(columns=COLUMNS)
    workers = max(1, int(workers))
    bar = tqdm(total=len(tasks), desc=f"score ({workers} worker{'s' * (workers > 1)})", disable=not progress,
               unit="utt")
    rows: list[dict] = []
    if workers == 1:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # same single-threaded numerics as the workers
            for t in tasks:
                rows += score_task(t)
                bar.update()
    else:
        # fork keeps the parent's warmed-up imports; spawn where fork does not exist
        from datagen.numba_warm import warm_librosa

        warm_librosa()   # librosa's numba caches written once, here, not raced by the workers
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        chunk = max(1, len(tasks) // (workers * 16))
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as ex:
            for r in ex.map(score_task, tasks, chunksize=chunk):
                rows += r
                bar.update()
    bar.close()
    return sort_table(pd.DataFrame(rows, columns=COLUMNS), list(tasks[0].metrics))


def attach_noisy(df: pd.DataFrame, noisy_system: str = "noisy") -> pd.DataFrame:
    """Add ``noisy_value`` (the unprocessed input's score of the same utterance and metric) and
    ``improvement = value - noisy_value`` (NaN where either failed)."""
    nz = df[df["system"] == noisy_system][["mixture_id", "metric", "value"]].rename(columns={"value": "noisy_value"})
    out = df.merge(nz, on=["mixture_id", "metric"], how="left", validate="many_to_one")
    out["improvement"] = out["value"] - out["noisy_value"]
    return out
