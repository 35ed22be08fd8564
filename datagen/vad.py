"""Ground-truth voice activity from a dry, clean source utterance (energy method).

Hand-written on purpose: on studio-clean prompts a frame-energy rule is exact enough and fully
transparent (the thresholds are recorded with the dataset); learned VADs (Silero, WebRTC) are the
*baselines* being evaluated, so they must not define the ground truth.

Rule: frame energy (window n_fft, centred, on the shared frame grid) in dB relative to the utterance's
95th-percentile frame energy; active if above ``-threshold_db_below_max`` dB and above the absolute
floor ``abs_floor_dbfs``, then dilated by ``hangover_frames`` on both sides.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation

from datagen.frames import FrameGrid

METHOD = "energy-rel-p95"


def frame_energy_db(x: np.ndarray, grid: FrameGrid) -> np.ndarray:
    """Mean-square energy per frame in dBFS (full scale sine = -3 dB), shape (n_frames,)."""
    frames = grid.frame_signal(np.asarray(x, np.float64))
    return 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def energy_vad(x: np.ndarray, grid: FrameGrid, threshold_db_below_max: float = 40.0,
               abs_floor_dbfs: float = -70.0, hangover_frames: int = 2) -> np.ndarray:
    """Binary VAD of a clean utterance ``x`` (n_samples,) -> uint8 (n_frames,)."""
    e_db = frame_energy_db(x, grid)
    ref = np.percentile(e_db, 95)
    active = (e_db > ref - threshold_db_below_max) & (e_db > abs_floor_dbfs)
    if hangover_frames > 0 and active.any():
        active = binary_dilation(active, iterations=int(hangover_frames))
    return active.astype(np.uint8)


def vad_from_params(x: np.ndarray, grid: FrameGrid, p: dict) -> np.ndarray:
    """``energy_vad`` with the ``labels.vad`` params block."""
    if p.get("method", "energy") != "energy":
        raise ValueError(f"labels.vad.method {p.get('method')!r} not supported (only 'energy')")
    return energy_vad(x, grid, float(p["threshold_db_below_max"]), float(p["abs_floor_dbfs"]),
                      int(p["hangover_frames"]))
