"""Mixing speech and noise at a planned SNR and level, exactly and without clipping.

Definitions (documented in the dataset card):
  * active-speech power P_s: mean square of the speech component of the mixture over the samples of
    speech-active frames (ground-truth VAD of the dry source, frame t covering samples
    [t*hop - hop/2, t*hop + hop/2));
  * noise power P_n: mean square of the noise over the whole mixture;
  * SNR = 10 log10(P_s / P_n) dB; level = 10 log10(P_s) dBFS (full scale = 1.0).
One gain pair (g_s, g_n) sets both; if the sum would clip, BOTH stems are rescaled by the same factor
(SNR unchanged, level lower; recorded). Stems are quantised to int16 first and the mixture is their
integer sum, so ``speech + noise == noisy`` holds exactly on disk.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from datagen.errors import SebenchError

INT16_MAX = 32767
PEAK_LIMIT = 0.99  # fraction of full scale the mixture may reach


class MixError(SebenchError, ValueError):
    pass


@dataclass
class MixResult:
    speech_q: np.ndarray   # int16 (n,), speech component in the mixture
    noise_q: np.ndarray    # int16 (n,)
    noisy_q: np.ndarray    # int16 (n,) == speech_q + noise_q
    target_q: np.ndarray   # int16 (n,), the clean training target (== speech_q when dry)
    speech_gain: float
    noise_gain: float
    clip_rescale: float    # 1.0 when no rescale was needed
    achieved_snr_db: float
    achieved_level_dbfs: float


def active_sample_mask(vad_frames: np.ndarray, n_samples: int, hop: int) -> np.ndarray:
    """Samples covered by active frames (frame t <-> [t*hop - hop//2, t*hop + hop//2)), bool (n_samples,)."""
    m = np.repeat(np.asarray(vad_frames, bool), hop)
    m = np.concatenate([m[hop // 2:], np.zeros(hop // 2, bool)])
    if len(m) < n_samples:
        m = np.pad(m, (0, n_samples - len(m)))
    return m[:n_samples]


DB_DECIMALS = 9   # realised dB values are recorded to 1e-9 dB (see int16_power_db)


def _energy(x16: np.ndarray) -> int:
    """Exact sum of squares of integer samples (a Python int: no rounding, no overflow)."""
    x = np.asarray(x16)
    if x.dtype.kind not in "iu":
        raise TypeError(f"expected integer samples, got {x.dtype}")
    return int(np.dot(x.astype(np.int64), x.astype(np.int64)))


def int16_power_db(x16: np.ndarray, ref16: np.ndarray | None = None) -> float:
    """10 log10 of the mean square of int16 samples ``x16`` (n,): relative to full scale (dBFS) or, with
    ``ref16`` (m,), to the mean square of ``ref16`` (a power ratio in dB).

    Written by hand so the value is the same on every CPU: numpy's float ``mean`` and ``log10`` take
    different SIMD paths by instruction set (an AVX-512 CPU and an AVX2 one disagree in the last bit of
    about one mixture in eight), which changed the recorded realised SNRs, hence the dataset's metadata
    bytes and every DVC hash downstream of it. Here the energies are exact integers, their ratio one
    correctly rounded division, and the libm log10 is rounded to ``DB_DECIMALS`` decimals, far below any
    physical meaning and far above a last-bit difference.
    """
    num, den = _energy(x16) * (len(ref16) if ref16 is not None else 1), len(x16)
    den *= _energy(ref16) if ref16 is not None else INT16_MAX ** 2
    if num == 0 or den == 0:
        return float("-inf") if num == 0 else float("inf")
    return round(10.0 * math.log10(num / den), DB_DECIMALS)


def power_ratio_db(a: np.ndarray, b: np.ndarray) -> float:
    """10 log10(mean(a^2) / mean(b^2)) of float arrays; for int16 stems use ``int16_power_db``."""
    return float(10 * np.log10(np.mean(np.asarray(a, np.float64) ** 2) / np.mean(np.asarray(b, np.float64) ** 2)))


def mix(speech: np.ndarray, noise: np.ndarray, active: np.ndarray, snr_db: float, level_dbfs: float,
        target: np.ndarray | None = None, context: str = "") -> MixResult:
    """Mix float ``speech`` and ``noise`` (n,) given the active-sample mask (n,) bool.

    ``target`` (n,) is the clean training target when it differs from the speech component (reverb).
    """
    speech = np.asarray(speech, np.float64)
    noise = np.asarray(noise, np.float64)
    target = speech if target is None else np.asarray(target, np.float64)
    if not (speech.shape == noise.shape == active.shape == target.shape):
        raise MixError(f"{context}: stem shapes differ: speech {speech.shape}, noise {noise.shape}, active {active.shape}")
    if not active.any():
        raise MixError(f"{context}: no speech-active samples; SNR on active speech is undefined")
    p_s = float(np.mean(speech[active] ** 2))
    p_n = float(np.mean(noise ** 2))
    if p_s <= 1e-14:
        raise MixError(f"{context}: speech is silent over its active frames")
    if p_n <= 1e-14:
        raise MixError(f"{context}: noise segment is silent")
    g_s = 10 ** (level_dbfs / 20) / np.sqrt(p_s)
    g_n = g_s * np.sqrt(p_s / (p_n * 10 ** (snr_db / 10)))
    # each stem and their sum must fit in int16 (a stem can exceed the sum where they cancel)
    peak = float(max(np.max(np.abs(g_s * speech + g_n * noise)), np.max(np.abs(g_s * speech)),
                     np.max(np.abs(g_n * noise))))
    rescale = min(1.0, PEAK_LIMIT / peak) if peak > 0 else 1.0
    for _ in range(4):  # rounding can push the int sum one LSB over; shrink a hair and retry
        s_q = np.round(speech * g_s * rescale * INT16_MAX).astype(np.int32)
        n_q = np.round(noise * g_n * rescale * INT16_MAX).astype(np.int32)
        y = s_q + n_q
        if max(np.abs(y).max(), np.abs(s_q).max(), np.abs(n_q).max()) <= INT16_MAX:
            break
        rescale *= 0.999
    else:  # pragma: no cover - cannot happen with PEAK_LIMIT < 1
        raise MixError(f"{context}: could not avoid clipping")
    t_q = np.round(np.clip(target * g_s * rescale, -1, 1) * INT16_MAX).astype(np.int16)
    s16, n16 = s_q.astype(np.int16), n_q.astype(np.int16)
    snr = int16_power_db(s16[active], n16) if np.any(n16) else float("inf")
    level = int16_power_db(s16[active])
    return MixResult(s16, n16, y.astype(np.int16), t_q, float(g_s * rescale), float(g_n * rescale),
                     float(rescale), snr, level)
