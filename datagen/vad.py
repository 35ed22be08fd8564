"""Ground-truth voice activity from a dry, clean source utterance.

Hand-written on purpose: a frame-energy rule on the dry source is transparent and its thresholds are
recorded with the dataset; learned VADs (Silero, WebRTC) are the *baselines* being evaluated, so they
must not define the ground truth (they are used only to validate it, ``benchmarks/bench_vad_truth.py``).

Two methods (``labels.vad.method``), both on frame energy (window ``n_fft``, centred, on the shared
frame grid, dBFS):

* ``energy`` (old profiles): active if within ``threshold_db_below_max`` dB of the utterance's
  95th-percentile frame energy and above ``abs_floor_dbfs``, dilated by ``hangover_frames``. A source
  whose own noise floor lies less than 40 dB below its speech (read speech, most LibriSpeech files)
  gets its pauses labelled as speech.
* ``floor_relative`` (default): the signal is first high-passed (``highpass_hz``, zero-phase 4th-order
  Butterworth) so DC offsets and hum do not count as energy. The noise floor is estimated per utterance
  by minimum statistics (Martin 2001, "Noise power spectral density estimation based on optimal
  smoothing and minimum statistics", IEEE TSAP 9(5)): the minimum of the frame power averaged over
  ``floor_window_s``, over windows without digital silence. A frame is active iff its energy exceeds

      max(ref - threshold_db_below_max, abs_floor_dbfs,
          min(floor + threshold_db_above_floor, ref - threshold_cap_db_below_ref))

  where ``ref`` is the 95th-percentile frame energy (the cap keeps frames near the speech level active
  when an utterance has no pause, so the "floor" is weak speech). Then speech runs shorter than
  ``min_speech_s`` are dropped (clicks), runs are dilated by ``hangover_frames`` and pauses between
  speech shorter than ``min_pause_s`` are bridged (stop closures). Digital silence (frames below
  -100 dBFS) never counts as floor or speech; an all-silent input is all zeros.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.ndimage import binary_dilation
from scipy.signal import butter, sosfiltfilt

from datagen.errors import SebenchError
from datagen.frames import FrameGrid

METHOD = "energy-rel-p95"                    # rule name of the ``energy`` method (kept for imports)
RULES = {"energy": "energy-rel-p95", "floor_relative": "floor-relative-minstat"}
DIGITAL_SILENCE_DBFS = -100.0                # below 16-bit quantisation noise (-101 dBFS): no signal


class VadParamsError(SebenchError, ValueError):
    """A ``labels.vad`` params block that names an unknown method or lacks / mistypes a key."""


def frame_energy_db(x: np.ndarray, grid: FrameGrid) -> np.ndarray:
    """Mean-square energy per frame in dBFS (full scale sine = -3 dB), shape (n_frames,)."""
    frames = grid.frame_signal(np.asarray(x, np.float64))
    return 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def energy_vad(x: np.ndarray, grid: FrameGrid, threshold_db_below_max: float = 40.0,
               abs_floor_dbfs: float = -70.0, hangover_frames: int = 2) -> np.ndarray:
    """Binary VAD of a clean utterance ``x`` (n_samples,) -> uint8 (n_frames,) (``energy`` method)."""
    e_db = frame_energy_db(x, grid)
    ref = np.percentile(e_db, 95)
    active = (e_db > ref - threshold_db_below_max) & (e_db > abs_floor_dbfs)
    if hangover_frames > 0 and active.any():
        active = binary_dilation(active, iterations=int(hangover_frames))
    return active.astype(np.uint8)


@dataclass(frozen=True)
class FloorRelativeParams:
    """Parameters of the ``floor_relative`` method (see the module docstring)."""
    highpass_hz: float = 80.0
    floor_window_s: float = 0.1
    threshold_db_above_floor: float = 12.0
    threshold_cap_db_below_ref: float = 20.0
    threshold_db_below_max: float = 40.0
    abs_floor_dbfs: float = -70.0
    min_speech_s: float = 0.05
    min_pause_s: float = 0.1
    hangover_frames: int = 1

    @classmethod
    def from_block(cls, p: dict) -> "FloorRelativeParams":
        known = {f.name: f.type for f in fields(cls)}
        extra = sorted(set(p) - set(known) - {"method"})
        if extra:
            raise VadParamsError(f"labels.vad: unknown key(s) {extra} for method 'floor_relative' "
                                 f"(known: {sorted(known)})")
        kw = {}
        for name, typ in known.items():
            if name not in p:
                continue
            v = p[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise VadParamsError(f"labels.vad.{name}: expected a number, got {v!r}")
            if typ == "int" and float(v) != int(v):
                raise VadParamsError(f"labels.vad.{name}: expected an integer, got {v!r}")
            kw[name] = int(v) if typ == "int" else float(v)
        out = cls(**kw)
        for name in ("floor_window_s", "min_speech_s", "min_pause_s", "hangover_frames",
                     "threshold_db_above_floor", "threshold_cap_db_below_ref", "threshold_db_below_max",
                     "highpass_hz"):
            if getattr(out, name) < 0:
                raise VadParamsError(f"labels.vad.{name}: must be >= 0, got {getattr(out, name)}")
        return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _highpass(x: np.ndarray, cutoff_hz: float, sr: int) -> np.ndarray:
    if cutoff_hz <= 0 or len(x) == 0:
        return x - (x.mean() if len(x) else 0.0)
    sos = butter(4, cutoff_hz, "highpass", fs=sr, output="sos")
    padlen = min(3 * (2 * len(sos) + 1), len(x) - 1)   # scipy's default, shortened for tiny inputs
    return sosfiltfilt(sos, x - x.mean(), padlen=max(padlen, 0))


def noise_floor_db(e_db: np.ndarray, window_frames: int) -> float | None:
    """Minimum-statistics floor: min over windows of ``window_frames`` frames (none digitally silent) of
    the mean frame power, in dB; ``None`` if no such window exists (too short / mostly silent)."""
    w = max(1, int(window_frames))
    valid = e_db > DIGITAL_SILENCE_DBFS
    if valid.sum() < w:
        return None
    pw = np.where(valid, 10.0 ** (e_db / 10.0), 0.0)
    cs = np.concatenate([[0.0], np.cumsum(pw)])
    cv = np.concatenate([[0], np.cumsum(valid)])
    full = (cv[w:] - cv[:-w]) == w
    if not full.any():
        return None
    return float(10.0 * np.log10(((cs[w:] - cs[:-w]) / w)[full].min()))


def floor_relative_vad(x: np.ndarray, grid: FrameGrid, p: FloorRelativeParams = FloorRelativeParams(),
                       return_info: bool = False):
    """Binary VAD of a dry utterance ``x`` (n_samples,) -> uint8 (n_frames,) (``floor_relative``).

    With ``return_info`` also returns {ref_db, floor_db, threshold_db} (dBFS; None where undefined).
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 1:
        raise ValueError(f"floor_relative_vad: expected mono audio (n_samples,), got shape {x.shape}")
    n = grid.n_frames(len(x))
    e_db = frame_energy_db(_highpass(x, p.highpass_hz, grid.sample_rate_hz), grid)
    valid = e_db > DIGITAL_SILENCE_DBFS
    info = dict(ref_db=None, floor_db=None, threshold_db=None)
    if not valid.any():
        return (np.zeros(n, np.uint8), info) if return_info else np.zeros(n, np.uint8)
    ref = float(np.percentile(e_db[valid], 95))
    floor = noise_floor_db(e_db, round(p.floor_window_s / grid.hop_s))
    thr = max(ref - p.threshold_db_below_max, p.abs_floor_dbfs)
    if floor is not None:
        thr = max(thr, min(floor + p.threshold_db_above_floor, ref - p.threshold_cap_db_below_ref))
    active = valid & (e_db > thr)
    min_speech = round(p.min_speech_s / grid.hop_s)
    for s, e in zip(*_runs(active)):
        if e - s < min_speech:
            active[s:e] = False
    if p.hangover_frames > 0 and active.any():
        active = binary_dilation(active, iterations=int(p.hangover_frames))
    min_pause = round(p.min_pause_s / grid.hop_s)
    s_idx, e_idx = _runs(~active)
    for s, e in zip(s_idx, e_idx):
        if 0 < s and e < n and e - s < min_pause:     # interior gaps only; lead-in / lead-out stay
            active[s:e] = True
    info = dict(ref_db=ref, floor_db=floor, threshold_db=float(thr))
    return (active.astype(np.uint8), info) if return_info else active.astype(np.uint8)


_ENERGY_KEYS = ("threshold_db_below_max", "abs_floor_dbfs", "hangover_frames")


def vad_rule(p: dict) -> str:
    """Name of the rule a ``labels.vad`` block selects (recorded in the dataset card)."""
    m = p.get("method", "energy")
    if m not in RULES:
        raise VadParamsError(f"labels.vad.method {m!r} not supported (choose one of {sorted(RULES)})")
    return RULES[m]


def resolved_params(p: dict) -> dict:
    """The ``labels.vad`` block with defaults filled in, as recorded in the dataset card."""
    m = p.get("method", "energy")
    vad_rule(p)
    if m == "floor_relative":
        return {"method": m, **asdict(FloorRelativeParams.from_block(p))}
    return dict(p, method=m)


def describe(p: dict) -> str:
    """One markdown sentence naming the method and its parameters (for the dataset card)."""
    r = resolved_params(p)
    if r["method"] == "floor_relative":
        return (f"VAD ground truth: `floor_relative` on the dry source (high-pass {r['highpass_hz']:g} Hz; "
                f"speech iff frame energy > max(p95 - {r['threshold_db_below_max']:g} dB, "
                f"{r['abs_floor_dbfs']:g} dBFS, min(floor + {r['threshold_db_above_floor']:g} dB, "
                f"p95 - {r['threshold_cap_db_below_ref']:g} dB)), floor = minimum of the "
                f"{r['floor_window_s']:g} s mean frame power; runs < {r['min_speech_s']:g} s dropped, "
                f"hangover {r['hangover_frames']} frame(s), pauses < {r['min_pause_s']:g} s bridged).")
    return (f"VAD ground truth: `energy` on the dry source (speech iff frame energy > max(p95 - "
            f"{float(r['threshold_db_below_max']):g} dB, {float(r['abs_floor_dbfs']):g} dBFS), hangover "
            f"{r['hangover_frames']} frame(s)); pauses over a noise floor less than "
            f"{float(r['threshold_db_below_max']):g} dB below the speech are labelled speech.")


def vad_from_params(x: np.ndarray, grid: FrameGrid, p: dict) -> np.ndarray:
    """Ground-truth VAD (n_frames,) uint8 of dry source ``x`` (n_samples,) with the ``labels.vad`` block."""
    m = p.get("method", "energy")
    vad_rule(p)
    if m == "floor_relative":
        return floor_relative_vad(x, grid, FloorRelativeParams.from_block(p))
    missing = [k for k in _ENERGY_KEYS if k not in p]
    if missing:
        raise VadParamsError(f"labels.vad: method 'energy' needs key(s) {missing}")
    return energy_vad(x, grid, float(p["threshold_db_below_max"]), float(p["abs_floor_dbfs"]),
                      int(p["hangover_frames"]))
