"""Seeded procedural noise for classes no recording in the embedded corpus covers.

Every generator has the signature ``fn(rng: np.random.Generator, n_samples: int, sample_rate_hz: int,
**ctx) -> np.ndarray`` (float32, shape (n_samples,), RMS 0.1) and is registered in ``GENERATORS``
(name -> (noise_class, fn)). ``make_clip(name, seed, duration_s)`` is the public entry point: the same
(name, seed, duration, rate, pool) always gives the same samples.

The signal models are hand-written (no maintained library synthesises these noise types) and kept
deliberately simple: spectrally shaped Gaussian noise, damped resonances, Poisson event trains.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from typing import Callable

import numpy as np
from scipy import signal

TARGET_RMS = 0.1


def _normalise(x: np.ndarray, rms: float = TARGET_RMS) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    r = float(np.sqrt(np.mean(x ** 2)))
    if not np.isfinite(r) or r <= 0:
        raise RuntimeError("procedural generator produced a silent or non-finite signal")
    return (x * (rms / r)).astype(np.float32)


def _shaped_noise(rng: np.random.Generator, n: int, gain_of_f: Callable[[np.ndarray], np.ndarray],
                  sample_rate_hz: int) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ``gain_of_f(freqs_hz)`` (FFT-domain shaping)."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / sample_rate_hz)
    return np.fft.irfft(spec * gain_of_f(f), n)


def _power_law(exponent: float, f_lo_hz: float = 20.0):
    """|X(f)| ~ f^(-exponent/2): exponent 0 white, 1 pink (1/f power), 2 brown (1/f^2 power)."""
    return lambda f: np.maximum(f, f_lo_hz) ** (-exponent / 2.0)


def white_noise(rng, n_samples, sample_rate_hz, **ctx):
    return _normalise(rng.standard_normal(n_samples))


def pink_noise(rng, n_samples, sample_rate_hz, **ctx):
    return _normalise(_shaped_noise(rng, n_samples, _power_law(1.0), sample_rate_hz))


def brown_noise(rng, n_samples, sample_rate_hz, **ctx):
    return _normalise(_shaped_noise(rng, n_samples, _power_law(2.0), sample_rate_hz))


def _require_pool(speech_pool, name: str) -> list[np.ndarray]:
    if speech_pool is None or len(speech_pool) == 0:
        raise ValueError(f"procedural generator {name!r} needs a non-empty speech_pool (list of float arrays "
                         "from speakers that are not targets of the split); got "
                         f"{'None' if speech_pool is None else 'an empty list'}")
    pool = [np.asarray(u, dtype=np.float64).ravel() for u in speech_pool]
    bad = [i for i, u in enumerate(pool) if len(u) == 0 or not np.all(np.isfinite(u)) or not np.any(u)]
    if bad:
        raise ValueError(f"procedural generator {name!r}: speech_pool items {bad[:5]} are empty, silent "
                         "or non-finite")
    return pool


def speech_shaped_noise(rng, n_samples, sample_rate_hz, speech_pool=None, **ctx):
    """Gaussian noise with the long-term average spectrum of ``speech_pool`` (Welch, 512-pt Hann)."""
    pool = _require_pool(speech_pool, "speech_shaped")
    psd_sum = None
    for u in pool:
        f, p = signal.welch(u, fs=sample_rate_hz, nperseg=min(512, len(u)), nfft=512)
        psd_sum = p * len(u) if psd_sum is None else psd_sum + p * len(u)
    amp = np.sqrt(psd_sum / psd_sum.max() + 1e-12)
    return _normalise(_shaped_noise(rng, n_samples, lambda fr: np.interp(fr, f, amp), sample_rate_hz))


def _hum(rng, n_samples, sample_rate_hz, mains_hz: float):
    """Mains hum: harmonics k*mains_hz (k<=12 below Nyquist) with ~1/k amplitudes, odd ones stronger
    (transformer/rectifier buzz), slow +-0.1 % frequency drift, random phases, faint noise floor."""
    t = np.arange(n_samples) / sample_rate_hz
    drift = 1.0 + 0.001 * np.sin(2 * np.pi * rng.uniform(0.02, 0.1) * t + rng.uniform(0, 2 * np.pi))
    phase_base = 2 * np.pi * mains_hz * np.cumsum(drift) / sample_rate_hz
    x = np.zeros(n_samples)
    for k in range(1, 13):
        if k * mains_hz >= sample_rate_hz / 2:
            break
        amp = rng.uniform(0.5, 1.0) / k * (1.5 if k % 2 else 0.7)
        x += amp * np.sin(k * phase_base + rng.uniform(0, 2 * np.pi))
    x += 0.01 * rng.standard_normal(n_samples)
    return _normalise(x)


def hum_50hz(rng, n_samples, sample_rate_hz, **ctx):
    return _hum(rng, n_samples, sample_rate_hz, 50.0)


def hum_60hz(rng, n_samples, sample_rate_hz, **ctx):
    return _hum(rng, n_samples, sample_rate_hz, 60.0)


def _slow_envelope(rng, n_samples, sample_rate_hz, rate_hz: float) -> np.ndarray:
    """Smooth random positive envelope with fluctuations around ``rate_hz`` (low-passed noise)."""
    n_ctrl = max(4, int(n_samples / sample_rate_hz * rate_hz * 4) + 4)
    ctrl = signal.savgol_filter(rng.standard_normal(n_ctrl), min(n_ctrl - (1 - n_ctrl % 2), 7), 2)
    return np.interp(np.linspace(0, n_ctrl - 1, n_samples), np.arange(n_ctrl), ctrl)


def wind(rng, n_samples, sample_rate_hz, **ctx):
    """Wind: brown+pink noise through a slowly swept low-pass, with gusts (exp of a slow random walk)."""
    base = _shaped_noise(rng, n_samples, _power_law(1.5), sample_rate_hz)
    cutoff = rng.uniform(300.0, 900.0)
    sos = signal.butter(2, cutoff, "low", fs=sample_rate_hz, output="sos")
    low = signal.sosfilt(sos, base)
    # a second, brighter band that opens up during gusts (whistling through edges)
    sos_hi = signal.butter(2, [cutoff, min(4 * cutoff, 0.45 * sample_rate_hz)], "band", fs=sample_rate_hz,
                           output="sos")
    high = signal.sosfilt(sos_hi, base)
    gust = np.exp(rng.uniform(0.6, 1.2) * _slow_envelope(rng, n_samples, sample_rate_hz, 0.3))
    x = low * gust + 0.3 * high * gust ** 2
    return _normalise(x)


def rain(rng, n_samples, sample_rate_hz, **ctx):
    """Rain: Poisson droplets (rate 80-400 /s; lognormal amplitudes; each a 1-6 kHz resonance decaying
    in 2-10 ms over a noise click) over a pink-noise bed."""
    rate_hz = rng.uniform(80.0, 400.0)
    n_drops = rng.poisson(rate_hz * n_samples / sample_rate_hz)
    x = 0.15 * _normalise(_shaped_noise(rng, n_samples, _power_law(1.0), sample_rate_hz)).astype(np.float64)
    drop_len = int(0.03 * sample_rate_hz)
    t = np.arange(drop_len) / sample_rate_hz
    starts = rng.integers(0, max(1, n_samples - 1), n_drops)
    freqs = rng.uniform(1000.0, min(6000.0, 0.45 * sample_rate_hz), n_drops)
    taus = rng.uniform(0.002, 0.01, n_drops)
    amps = rng.lognormal(-3.0, 0.8, n_drops)
    phases = rng.uniform(0, 2 * np.pi, n_drops)
    for s, fr, tau, a, ph in zip(starts, freqs, taus, amps, phases):
        env = np.exp(-t / tau)
        d = a * env * (np.sin(2 * np.pi * fr * t + ph) + 0.3 * rng.standard_normal(drop_len))
        e = min(n_samples, s + drop_len)
        x[s:e] += d[: e - s]
    return _normalise(x)


def typing(rng, n_samples, sample_rate_hz, **ctx):
    """Keyboard typing: words of 2-9 keystrokes (inter-key 70-220 ms, pauses 0.25-1.2 s); each keystroke
    a press click + 1-3 damped plate resonances (1.5-5 kHz, 5-25 ms), and a softer release ~60-120 ms later."""
    x = np.zeros(n_samples)
    key_len = int(0.04 * sample_rate_hz)
    t = np.arange(key_len) / sample_rate_hz
    n_modes = int(rng.integers(1, 4))
    board_f = rng.uniform(1500.0, min(5000.0, 0.45 * sample_rate_hz), n_modes)  # one keyboard, fixed modes
    board_tau = rng.uniform(0.005, 0.025, n_modes)

    def stroke(pos: int, amp: float):
        click = rng.standard_normal(key_len) * np.exp(-t / 0.0008)
        body = sum(np.sin(2 * np.pi * f * (1 + rng.uniform(-0.03, 0.03)) * t + rng.uniform(0, 6.3))
                   * np.exp(-t / tau) for f, tau in zip(board_f, board_tau))
        s = amp * (click + 0.5 * body)
        e = min(n_samples, pos + key_len)
        if pos < n_samples:
            x[pos:e] += s[: e - pos]

    pos = int(rng.uniform(0.0, 0.3) * sample_rate_hz)
    while pos < n_samples:
        for _ in range(int(rng.integers(2, 10))):
            amp = rng.lognormal(0.0, 0.3)
            stroke(pos, amp)
            stroke(pos + int(rng.uniform(0.06, 0.12) * sample_rate_hz), 0.4 * amp)
            pos += int(rng.uniform(0.07, 0.22) * sample_rate_hz)
            if pos >= n_samples:
                break
        pos += int(rng.uniform(0.25, 1.2) * sample_rate_hz)
    x += 1e-4 * rng.standard_normal(n_samples)  # room floor so RMS normalisation is always defined
    return _normalise(x)


def babble(rng, n_samples, sample_rate_hz, speech_pool=None, **ctx):
    """Babble: 4-8 talker streams, each a random sequence of level-normalised pool utterances (gaps
    0-0.3 s) starting at a random phase; streams summed at equal level. The caller guarantees the pool
    holds speakers that are not targets of the split."""
    pool = _require_pool(speech_pool, "babble")
    n_talkers = int(rng.integers(4, 9))
    x = np.zeros(n_samples)
    for _ in range(n_talkers):
        stream = []
        total = 0
        # random start phase: the first utterance is entered at a random point
        first = pool[int(rng.integers(len(pool)))]
        u0 = first[int(rng.integers(len(first))):]
        while total < n_samples:
            u = u0 if u0 is not None else pool[int(rng.integers(len(pool)))]
            u0 = None
            u = u / (np.sqrt(np.mean(u ** 2)) + 1e-12) if np.any(u) else u
            gap = np.zeros(int(rng.uniform(0.0, 0.3) * sample_rate_hz))
            stream += [u, gap]
            total += len(u) + len(gap)
        x += np.concatenate(stream)[:n_samples]
    return _normalise(x)


GENERATORS: dict[str, tuple[str, Callable[..., np.ndarray]]] = {
    "white": ("stationary_noise", white_noise),
    "pink": ("stationary_noise", pink_noise),
    "brown": ("stationary_noise", brown_noise),
    "speech_shaped": ("stationary_noise", speech_shaped_noise),
    "hum_50hz": ("hum", hum_50hz),
    "hum_60hz": ("hum", hum_60hz),
    "wind": ("water_nature", wind),
    "rain": ("water_nature", rain),
    "typing": ("typing", typing),
    "babble": ("babble", babble),
}
NEEDS_SPEECH_POOL = frozenset({"speech_shaped", "babble"})


def generator_rng(name: str, seed: int) -> np.random.Generator:
    """The generator's RNG: seeded by (seed, crc32(name)) so generators with one seed stay independent."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def make_clip(name: str, seed: int, duration_s: float, sample_rate_hz: int = 16000,
              speech_pool: list[np.ndarray] | None = None) -> np.ndarray:
    """float32 (round(duration_s * sample_rate_hz),) clip of generator ``name`` at RMS 0.1."""
    if name not in GENERATORS:
        raise KeyError(f"unknown procedural generator {name!r}; known: {sorted(GENERATORS)}")
    n = int(round(float(duration_s) * int(sample_rate_hz)))
    if n <= 0:
        raise ValueError(f"make_clip({name!r}): duration_s must give >= 1 sample, got {duration_s}")
    _, fn = GENERATORS[name]
    x = fn(generator_rng(name, seed), n, int(sample_rate_hz), speech_pool=speech_pool)
    if x.shape != (n,) or x.dtype != np.float32 or not np.all(np.isfinite(x)):
        raise RuntimeError(f"generator {name!r} broke its contract: shape {x.shape}, dtype {x.dtype}")
    return x


def generator_spec(name: str, seed: int, duration_s: float, sample_rate_hz: int = 16000,
                   speech_pool_ids: list[str] | None = None) -> dict:
    """The full recipe of a procedural clip (what the corpus manifest hashes as its ``sha256``)."""
    if name not in GENERATORS:
        raise KeyError(f"unknown procedural generator {name!r}; known: {sorted(GENERATORS)}")
    spec = {"generator": name, "noise_class": GENERATORS[name][0], "seed": int(seed),
            "duration_s": float(duration_s), "sample_rate_hz": int(sample_rate_hz), "rms": TARGET_RMS,
            "module": "datagen.procedural"}
    if name in NEEDS_SPEECH_POOL:
        spec["speech_pool_ids"] = sorted(speech_pool_ids or [])
    return spec


def spec_sha256(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
