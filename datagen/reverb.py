"""Seeded shoebox-room reverberation with pyroomacoustics.

Room geometry, RT60 and positions come from the plan (seeded there). The image-source method with
``pra.inverse_sabine`` absorption is deterministic given those values. The RIR is shifted so that its
direct-path peak is at sample 0 (the dry source's labels stay time-aligned). The clean *target* is
the speech convolved with the RIR truncated to ``early_ms`` after the direct path (direct path + early
reflections, the usual dereverberation-free SE target); the speech component of the mixture uses the
full RIR. The measured RT60 (Schroeder backward integration, ``pra.experimental.measure_rt60``) is
stored next to the target.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve


def room_rir(rt60_s: float, room_dim_m, src_pos_m, mic_pos_m, sample_rate_hz: int = 16000) -> np.ndarray:
    """RIR (n_taps,) of a shoebox room, direct-path peak moved to index 0."""
    import pyroomacoustics as pra

    e_absorption, max_order = pra.inverse_sabine(float(rt60_s), list(room_dim_m))
    room = pra.ShoeBox(list(room_dim_m), fs=sample_rate_hz, materials=pra.Material(e_absorption),
                       max_order=int(min(max_order, 60)))
    room.add_source(list(src_pos_m))
    room.add_microphone(np.asarray(mic_pos_m, float).reshape(3, 1))
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], np.float64)
    return rir[int(np.argmax(np.abs(rir))):]


def measure_rt60_s(rir: np.ndarray, sample_rate_hz: int = 16000) -> float:
    import pyroomacoustics as pra

    try:
        return float(pra.experimental.measure_rt60(rir, fs=sample_rate_hz, decay_db=30))
    except Exception:  # too short a decay to fit: report as unmeasurable rather than guess
        return float("nan")


def reverberate(speech: np.ndarray, rir: np.ndarray, early_ms: float, sample_rate_hz: int = 16000):
    """(reverberant speech, early-reverb target), both (n,) like ``speech``."""
    n = len(speech)
    n_early = int(round(early_ms * 1e-3 * sample_rate_hz))
    full = fftconvolve(speech, rir)[:n]
    early = fftconvolve(speech, rir[: max(n_early, 1)])[:n]
    return full, early
