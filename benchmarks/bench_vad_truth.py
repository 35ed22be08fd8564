"""Validation of the ground-truth VAD (``datagen/vad.py``) on material with known speech / pause boundaries.

Known-boundary material is built deterministically from real recordings (seeded per file):

1. Silero VAD (``silero-vad`` ONNX) on the original utterance gives its speech regions; each is trimmed
   by ``TRIM_S`` on both sides (so its ends lie inside speech) and regions longer than ``MAX_SEG_S`` are
   cut at their lowest-energy frame (a dip *inside* speech). Segments shorter than ``MIN_SEG_S`` are
   dropped. Segments are speech by construction (natural pauses silero bridges stay inside them).
2. The recording's own noise floor: the quietest half of its hop blocks outside silero's speech
   (dilated by 0.128 s), joined with 2 ms crossfades (same level, same DC / hum / MP3 artefacts); or
   digital silence (the studio prompts are trimmed to their speech and have no floor to sample).
3. Reassembly: lead-in pause U(0.3, 1.0) s, segments separated by pauses U(0.2, 1.2) s, lead-out
   U(0.3, 1.0) s; pauses are filled with the floor, 2 ms crossfades. Truth: a frame is speech iff its
   centre sample lies in a segment.

Sets: ``librispeech_own_floor`` (LibriSpeech readers, pauses filled with their own floor; files with
under 0.1 s of floor are skipped), ``prompts_digital_silence`` (studio IVR prompts, pauses of digital
silence), ``prompts_room_tone`` (the same with seeded pink room tone added over the whole signal,
25-40 dB below the active-speech level). Scores per
method, frames pooled over files: agreement, false-speech rate (share of non-speech frames marked
speech), missed-speech rate (share of speech frames marked non-speech), also with a +-2-frame no-score
collar around each true boundary. Also agreement with Silero (p >= 0.5) on the raw LibriSpeech files.
Writes reports/benchmarks/vad_truth.json.

    .venv/bin/python benchmarks/bench_vad_truth.py [--librispeech-dir DIR] [--max-files N]

``--librispeech-dir``: a folder of LibriSpeech .flac utterances (default: the embedded ``ls*`` speech
files of ``datagen/embedded/speech``); the prompts are the other embedded speech files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baselines.offshelf import silero_vad_probs  # noqa: E402
from bench.params import load_params  # noqa: E402
from datagen.audio_io import load_audio  # noqa: E402
from datagen.frames import FrameGrid  # noqa: E402
from datagen.vad import FloorRelativeParams, energy_vad, floor_relative_vad, frame_energy_db  # noqa: E402

TRIM_S, MAX_SEG_S, MIN_SEG_S = 0.096, 2.0, 0.3
LEAD_S, GAP_S = (0.3, 1.0), (0.2, 1.2)
XFADE = 32                        # samples (2 ms at 16 kHz)
COLLAR_FRAMES = 2
ROOM_TONE_DB_BELOW_SPEECH = (25.0, 40.0)
SWEEP_DB_ABOVE_FLOOR = (6.0, 9.0, 12.0, 15.0, 18.0)
SWEEP_CAP_DB_BELOW_REF = (10.0, 15.0, 20.0, 25.0)
SWEEP_HANGOVER_FRAMES = (0, 1, 2)


def _rng(name: str, tag: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(f"{name}/{tag}".encode()).hexdigest()[:16], 16))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _join(chunks: list[np.ndarray], xf: int = XFADE) -> tuple[np.ndarray, list[int]]:
    """Overlap-add ``chunks`` with linear crossfades of ``xf`` samples; returns (signal, start of each
    chunk in it, at the crossfade's midpoint)."""
    ramp = np.linspace(0.0, 1.0, xf + 2)[1:-1]
    out, starts = np.asarray(chunks[0], np.float64).copy(), [0]
    for c in chunks[1:]:
        c = np.asarray(c, np.float64).copy()
        k = min(xf, len(out), len(c))
        starts.append(len(out) - k + k // 2)
        if k:
            r = ramp if k == xf else np.linspace(0.0, 1.0, k + 2)[1:-1]
            c[:k] = out[-k:] * (1 - r) + c[:k] * r
            out = out[:-k]
        out = np.concatenate([out, c])
    return out, starts


def _segments(x: np.ndarray, speech: np.ndarray, grid: FrameGrid) -> list[tuple[int, int]]:
    """Sample spans [a, b) inside speech: trimmed silero regions, long ones cut at energy dips."""
    hop, e = grid.hop_length, frame_energy_db(x - x.mean(), grid)
    trim, max_f, min_f = round(TRIM_S / grid.hop_s), round(MAX_SEG_S / grid.hop_s), round(MIN_SEG_S / grid.hop_s)
    todo = [(s + trim, e_ - trim) for s, e_ in _runs(speech) if e_ - s - 2 * trim >= min_f]
    out = []
    while todo:
        s, t = todo.pop(0)
        if t - s <= max_f:
            out.append((s, t))
            continue
        mid = slice(s + min_f, t - min_f)
        sm = np.convolve(e, np.ones(3) / 3, "same")[mid]
        c = s + min_f + int(np.argmin(sm))
        todo[:0] = [(s, c), (c, t)]
    return [(s * hop, t * hop) for s, t in out]


def _floor_pool(x: np.ndarray, speech: np.ndarray, grid: FrameGrid) -> np.ndarray | None:
    """The recording's quietest non-speech hop blocks, joined; None if under 0.1 s of them."""
    from scipy.ndimage import binary_dilation

    hop, n = grid.hop_length, len(x)
    far = ~binary_dilation(speech, iterations=8)
    e = frame_energy_db(x - x.mean(), grid)   # ranked without the DC offset some readers have
    idx = [t for t in np.flatnonzero(far) if t * hop - hop // 2 >= 0 and t * hop + hop // 2 <= n]
    if len(idx) * hop < 0.1 * grid.sample_rate_hz:
        return None
    idx = np.asarray(idx)
    quiet = np.sort(idx[e[idx] <= np.median(e[idx])])
    blocks, cur = [], [quiet[0]]
    for t in quiet[1:]:                      # consecutive blocks stay contiguous, others are crossfaded
        if t == cur[-1] + 1:
            cur.append(t)
        else:
            blocks.append(cur)
            cur = [t]
    blocks.append(cur)
    chunks = [x[b[0] * hop - hop // 2: b[-1] * hop + hop // 2] for b in blocks]
    pool, _ = _join([c for c in chunks if len(c) > XFADE])
    return pool if len(pool) >= 0.05 * grid.sample_rate_hz else None


def _fill(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of floor: excerpts of ``pool`` from seeded offsets, crossfaded."""
    chunks, got = [], 0
    while got < n + XFADE * (len(chunks) + 1):
        a = int(rng.integers(0, max(1, len(pool) - 2 * XFADE)))
        c = pool[a:]
        chunks.append(c)
        got += len(c)
    y, _ = _join(chunks)
    return y[:n + XFADE]


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power pink (1/f) noise by spectral shaping of seeded white noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / np.sqrt(f), n)
    return y / np.sqrt(np.mean(y ** 2))


def build_known(x: np.ndarray, speech: np.ndarray, grid: FrameGrid, name: str,
                fill: str = "own", room_tone: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """(signal (n_samples,), truth (n_frames,) uint8) with known pauses filled with the recording's
    own floor (``fill="own"``) or digital silence (``"zeros"``); None if no segment / floor."""
    segs = _segments(x, speech, grid)
    pool = _floor_pool(x, speech, grid) if fill == "own" else np.zeros(grid.sample_rate_hz)
    if not segs or pool is None:
        return None
    rng = _rng(name, "known")
    pauses = [rng.uniform(*LEAD_S)] + [rng.uniform(*GAP_S) for _ in segs[1:]] + [rng.uniform(*LEAD_S)]
    chunks, is_seg = [], []
    for i, p in enumerate(pauses):
        chunks.append(_fill(pool, int(p * grid.sample_rate_hz), rng))
        is_seg.append(False)
        if i < len(segs):
            chunks.append(x[segs[i][0]:segs[i][1]])
            is_seg.append(True)
    y, starts = _join(chunks)
    ends = starts[1:] + [len(y)]
    centres = np.arange(grid.n_frames(len(y))) * grid.hop_length
    truth = np.zeros(len(centres), bool)
    for a, b, s in zip(starts, ends, is_seg):
        if s:
            truth |= (centres >= a) & (centres < b)
    if room_tone:
        p_speech = np.mean(np.concatenate([x[a:b] for a, b in segs]) ** 2)
        db = rng.uniform(*ROOM_TONE_DB_BELOW_SPEECH)
        y = y + _pink(len(y), rng) * np.sqrt(p_speech * 10 ** (-db / 10))
    return y, truth.astype(np.uint8)


def scores(pred: list[np.ndarray], truth: list[np.ndarray]) -> dict:
    """Frame-pooled agreement, false-speech and missed-speech rates, without and with the collar."""
    p, t = np.concatenate(pred).astype(bool), np.concatenate(truth).astype(bool)
    keep = []
    for tr in truth:
        k = np.ones(len(tr), bool)
        for b in np.flatnonzero(np.diff(tr.astype(np.int8))) + 1:
            k[max(0, b - COLLAR_FRAMES):b + COLLAR_FRAMES] = False
        keep.append(k)
    k = np.concatenate(keep)
    per_file_fs = [float(np.mean(a.astype(bool)[~b.astype(bool)])) for a, b in zip(pred, truth) if (~b.astype(bool)).any()]

    def rates(m):
        pp, tt = p[m], t[m]
        return dict(agreement=float(np.mean(pp == tt)), false_speech_rate=float(np.mean(pp[~tt])),
                    missed_speech_rate=float(np.mean(~pp[tt])), n_frames=int(m.sum()),
                    speech_share_truth=float(tt.mean()))

    return dict(all=rates(np.ones(len(p), bool)), collar=rates(k),
                files_false_speech_over_50pct=float(np.mean(np.asarray(per_file_fs) > 0.5)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--librispeech-dir", type=Path, default=None)
    ap.add_argument("--max-files", type=int, default=0, help="per group, 0 = all")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks" / "vad_truth.json")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    grid = FrameGrid.from_params(load_params(ROOT / "params.yaml")["frames"])
    emb = sorted((ROOT / "datagen" / "embedded" / "speech").glob("*.flac"))
    ls = sorted(a.librispeech_dir.glob("*.flac")) if a.librispeech_dir else [f for f in emb if f.name.startswith("ls")]
    prompts = [f for f in emb if not f.name.startswith("ls")]
    if a.max_files:
        ls, prompts = ls[:a.max_files], prompts[:a.max_files]
    if not ls or not prompts:
        raise SystemExit(f"bench_vad_truth: need LibriSpeech ({len(ls)}) and prompt ({len(prompts)}) files")
    old = dict(threshold_db_below_max=40.0, abs_floor_dbfs=-70.0, hangover_frames=2)
    methods = {"energy (old default)": lambda x: energy_vad(x, grid, **old),
               "floor_relative (default)": lambda x: floor_relative_vad(x, grid, FloorRelativeParams())}
    for h in SWEEP_HANGOVER_FRAMES:
        if h != FloorRelativeParams().hangover_frames:
            methods[f"floor_relative, hangover {h} frame(s)"] = (
                lambda x, h=h: floor_relative_vad(x, grid, FloorRelativeParams(hangover_frames=h)))
    for c in SWEEP_CAP_DB_BELOW_REF:
        if c != FloorRelativeParams().threshold_cap_db_below_ref:
            methods[f"floor_relative, cap {c:g} dB below ref"] = (
                lambda x, c=c: floor_relative_vad(x, grid, FloorRelativeParams(threshold_cap_db_below_ref=c)))
    for d in SWEEP_DB_ABOVE_FLOOR:
        if d != FloorRelativeParams().threshold_db_above_floor:
            methods[f"floor_relative, {d:g} dB above floor"] = (
                lambda x, d=d: floor_relative_vad(x, grid, FloorRelativeParams(threshold_db_above_floor=d)))
    sets = {"librispeech_own_floor": [], "prompts_digital_silence": [], "prompts_room_tone": []}
    recipe = {"librispeech_own_floor": ("librispeech", "own", False),
              "prompts_digital_silence": ("prompts", "zeros", False), "prompts_room_tone": ("prompts", "zeros", True)}
    raw_ls, raw_silero, skipped = [], [], {k: 0 for k in sets}
    for group, files in (("librispeech", ls), ("prompts", prompts)):
        for f in tqdm(files, desc=f"build known-boundary material ({group})", unit="utt"):
            x, _ = load_audio(f, target_sr=grid.sample_rate_hz)
            x = np.asarray(x, np.float64)
            sp = silero_vad_probs(x, grid) >= 0.5
            if group == "librispeech":
                raw_ls.append(x)
                raw_silero.append(sp.astype(np.uint8))
            for name, (g, fill, room) in recipe.items():
                if g != group:
                    continue
                k = build_known(x, sp, grid, f.name, fill=fill, room_tone=room)
                if k is None:
                    skipped[name] += 1
                else:
                    sets[name].append(k)
    res = {"machine": f"{platform.machine()} {os.cpu_count()}-core CPU (shared, load {os.getloadavg()[0]:.1f})",
           "packages": {p: version(p) for p in ("numpy", "scipy", "silero-vad", "onnxruntime")},
           "frame_grid": {"sample_rate_hz": grid.sample_rate_hz, "hop_length": grid.hop_length, "n_fft": grid.n_fft},
           "construction": dict(trim_s=TRIM_S, max_segment_s=MAX_SEG_S, min_segment_s=MIN_SEG_S, lead_s=LEAD_S,
                                gap_s=GAP_S, crossfade_samples=XFADE, collar_frames=COLLAR_FRAMES,
                                room_tone_db_below_speech=ROOM_TONE_DB_BELOW_SPEECH),
           "floor_relative_params": FloorRelativeParams().__dict__, "energy_params": old,
           "n_files": {k: len(v) for k, v in sets.items()}, "skipped_files": skipped,
           "seconds": {k: round(sum(len(y) for y, _ in v) / grid.sample_rate_hz, 1) for k, v in sets.items()},
           "known_boundaries": {}, "vs_silero_raw_librispeech": {}, "cpu_ms_per_audio_s": {}}
    print(f"\nKnown-boundary material: {res['n_files']} files, {res['seconds']} s (skipped {skipped})\n")
    hdr = f"{'set':<24}{'method':<36}{'agree':>7}{'false-sp':>9}{'missed':>8}  | collar: {'agree':>6}{'false-sp':>9}{'missed':>8}"
    print(hdr + "\n" + "-" * len(hdr))
    for sname, items in sets.items():
        res["known_boundaries"][sname] = {}
        for mname, fn in methods.items():
            s = scores([fn(y) for y, _ in items], [t for _, t in items])
            res["known_boundaries"][sname][mname] = s
            al, co = s["all"], s["collar"]
            print(f"{sname:<24}{mname:<36}{al['agreement']:7.3f}{al['false_speech_rate']:9.3f}"
                  f"{al['missed_speech_rate']:8.3f}  |         {co['agreement']:6.3f}{co['false_speech_rate']:9.3f}"
                  f"{co['missed_speech_rate']:8.3f}")
    fr = FloorRelativeParams()
    infos = [floor_relative_vad(x, grid, fr, return_info=True)[1] for x in raw_ls]
    ok = [i for i in infos if i["floor_db"] is not None]
    rng_db = np.asarray([i["ref_db"] - i["floor_db"] for i in ok])
    res["raw_librispeech_floor"] = dict(
        n_files=len(raw_ls), n_without_floor_window=len(infos) - len(ok),
        ref_minus_floor_db_percentiles={str(q): round(float(np.percentile(rng_db, q)), 1) for q in (0, 5, 25, 50, 75, 95, 100)},
        share_cap_binds=float(np.mean(rng_db < fr.threshold_db_above_floor + fr.threshold_cap_db_below_ref)),
        share_under_40_db=float(np.mean(rng_db < 40.0)))
    print(f"\nRaw LibriSpeech: speech level (p95) minus minimum-statistics floor, dB percentiles "
          f"{res['raw_librispeech_floor']['ref_minus_floor_db_percentiles']} (after the high-pass); under 40 dB in {100 * res['raw_librispeech_floor']['share_under_40_db']:.0f} % of files; the cap "
          f"binds in {100 * res['raw_librispeech_floor']['share_cap_binds']:.0f} %")
    print(f"\nRaw LibriSpeech ({len(raw_ls)} files), reference = Silero VAD (p >= 0.5):")
    for mname, fn in methods.items():
        t0 = time.process_time()
        pred = [fn(x) for x in raw_ls]
        cpu = time.process_time() - t0
        res["cpu_ms_per_audio_s"][mname] = round(1000 * cpu / (sum(map(len, raw_ls)) / grid.sample_rate_hz), 3)
        s = scores(pred, raw_silero)["all"]
        res["vs_silero_raw_librispeech"][mname] = s
        print(f"  {mname:<36} agreement {s['agreement']:.3f}  speech where silero says non-speech "
              f"{s['false_speech_rate']:.3f}  non-speech where silero says speech {s['missed_speech_rate']:.3f}"
              f"  (CPU {res['cpu_ms_per_audio_s'][mname]:.2f} ms per s of audio)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(a.out.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=1) + "\n")
    os.replace(tmp, a.out)
    print(f"\nwrote {a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
