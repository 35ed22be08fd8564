"""Deterministic test signals for the baseline tests (a harmonic tone, a formant-synthesised vowel train)."""
from __future__ import annotations

import numpy as np
import scipy.signal as ss

SR = 16000


def harmonic_tone(f0_hz: float = 220.0, dur_s: float = 1.0, n_harm: int = 5) -> np.ndarray:
    t = np.arange(int(dur_s * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(1, n_harm + 1))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def vowel_speech(dur_s: float = 3.0) -> np.ndarray:
    """Speech-like signal: glottal pulse train (F0 90-150 Hz) through formant resonators of a vowel
    sequence /a i e u/ changing every 200 ms, with a 4 Hz syllabic envelope (deterministic)."""
    n = int(dur_s * SR)
    t = np.arange(n) / SR
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    pulses = np.diff(np.floor(np.cumsum(f0) / SR), prepend=0.0)
    src = ss.lfilter([1.0], [1.0, -0.95], pulses)
    formants = {"a": [(730, 90), (1090, 110), (2440, 170)], "i": [(270, 60), (2290, 100), (3010, 170)],
                "u": [(300, 60), (870, 90), (2240, 170)], "e": [(530, 70), (1840, 100), (2480, 170)]}
    seg, out, seq = int(0.2 * SR), np.zeros(n), "aieuaeiu"
    for k, i in enumerate(range(0, n, seg)):
        y = src[i:i + seg]
        for f, bw in formants[seq[k % len(seq)]]:
            r = np.exp(-np.pi * bw / SR)
            y = ss.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], y)
        out[i:i + seg] = y
    out *= 0.55 - 0.45 * np.cos(2 * np.pi * 4 * t)
    return (0.3 * out / np.abs(out).max()).astype(np.float32)
