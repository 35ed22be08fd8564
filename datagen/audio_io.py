"""Robust audio input: every source file of the suite is read (or validated) through this module.

Bad input never surfaces as a raw numpy/soundfile traceback: it raises :class:`AudioInputError` naming
the file and the problem (missing, unreadable/corrupt, truncated (fewer frames than the header
declares), unsupported format, empty, NaN/Inf, silent, too short). Accepted quirks are fixed and
recorded in :class:`AudioInfo`: another sample rate is resampled with soxr (HQ), several channels are
down-mixed (mean).

Readers: soundfile (libsndfile) for WAV/FLAC/OGG, resampling: soxr. Versions are recorded in
:data:`IMPLEMENTATION`.
"""
from __future__ import annotations

import hashlib
import io
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from datagen.atomic import write_sound
from datagen.errors import SebenchError

SUPPORTED_EXTENSIONS = (".flac", ".oga", ".ogg", ".wav", ".wave")
#: Magic bytes of the supported containers (to tell "not audio / other format" from "corrupt").
_MAGIC = {b"RIFF": "WAV", b"RIFX": "WAV", b"RF64": "WAV", b"fLaC": "FLAC", b"OggS": "OGG"}
#: A clip whose absolute peak stays below this level is treated as silent (-80 dBFS).
DEFAULT_SILENCE_PEAK_DBFS = -80.0
RESAMPLE_METHOD = f"soxr HQ {soxr.__version__}"
IMPLEMENTATION = {
    "reader": f"soundfile {sf.__version__} (libsndfile {sf.__libsndfile_version__})",
    "resampler": RESAMPLE_METHOD,
    "downmix": "mean over channels",
}


class AudioInputError(SebenchError, ValueError):
    """A source file (or in-memory clip) that cannot be used; ``str(e)`` names it and the problem."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = str(reason)
        super().__init__(f"{self.path}: {self.reason}")


@dataclass(frozen=True)
class AudioInfo:
    """What was read and what was done to it. Durations in seconds, rates in Hz."""

    path: str
    orig_sample_rate_hz: int
    orig_channels: int
    orig_n_samples: int
    sample_rate_hz: int          # rate of the returned signal
    n_samples: int               # length of the returned signal
    resampled: bool
    resample_method: str | None  # "soxr HQ <version>" when resampled
    downmixed: bool              # several channels -> mean
    peak_dbfs: float             # absolute peak of the original samples

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate_hz

    @property
    def orig_duration_s(self) -> float:
        return self.orig_n_samples / self.orig_sample_rate_hz

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ScanInfo:
    """Header facts plus content checks of a file, without keeping the samples (cheap indexing)."""

    path: str
    format: str
    subtype: str
    orig_sample_rate_hz: int
    orig_channels: int
    orig_n_samples: int
    peak_dbfs: float

    @property
    def duration_s(self) -> float:
        return self.orig_n_samples / self.orig_sample_rate_hz


def _peak_dbfs(peak: float) -> float:
    return float(20.0 * np.log10(peak)) if peak > 0 else float("-inf")


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioInputError(path, "file not found")
    if not path.is_file():
        raise AudioInputError(path, "not a regular file")
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise AudioInputError(path, f"unsupported format {path.suffix or '(no extension)'!r} "
                                    f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})")
    if path.stat().st_size == 0:
        raise AudioInputError(path, "empty file (0 bytes)")


def _open_error(path, head: bytes, exc: Exception) -> AudioInputError:
    """Turn a soundfile open failure into a domain error (other format vs corrupt container)."""
    fmt = _MAGIC.get(head[:4])
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if fmt is None:
        return AudioInputError(path, f"unsupported or unrecognised format: not a WAV/FLAC/OGG file "
                                     f"(header bytes {head[:12]!r}; libsndfile: {detail})")
    return AudioInputError(path, f"unreadable or corrupt {fmt} file (libsndfile: {detail})")


def validate_samples(path, x: np.ndarray, sr: int, min_duration_s: float, silence_peak_dbfs: float) -> float:
    """Content checks on (n, ch) samples; returns the peak in dBFS."""
    n = x.shape[0]
    if n == 0:
        raise AudioInputError(path, "empty audio (0 samples)")
    finite = np.isfinite(x)
    if not finite.all():
        bad = int((~finite).sum())
        kinds = "/".join(k for k, hit in (("NaN", np.isnan(x).any()), ("Inf", np.isinf(x).any())) if hit)
        raise AudioInputError(path, f"{bad} non-finite samples ({kinds})")
    if n / sr < min_duration_s:
        raise AudioInputError(path, f"too short: {n / sr:.3f} s < min_duration_s {min_duration_s:g} s")
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        raise AudioInputError(path, "silent: all samples are zero")
    if _peak_dbfs(peak) < silence_peak_dbfs:
        raise AudioInputError(path, f"silent: peak {_peak_dbfs(peak):.1f} dBFS below "
                                    f"silence threshold {silence_peak_dbfs:g} dBFS")
    return _peak_dbfs(peak)


def wav_data_shortfall(f) -> tuple[int, int, int] | None:
    """For a RIFF/RIFX/RF64 WAVE stream ``f`` (binary, seekable): ``(declared_bytes, present_bytes,
    block_align)`` of its ``data`` chunk when fewer bytes are present than the header declares, else None.

    libsndfile silently shortens such a file to the bytes present (``sf.info`` reports the shorter
    length), so a truncated WAV would pass as a shorter clip; this reads the chunk sizes itself (the
    standard-library ``wave`` module rejects float/extensible WAVs). Streaming placeholders (size 0 or
    0xFFFFFFFF: length unknown) are not judged."""
    f.seek(0, io.SEEK_END)
    size = f.tell()
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        return None
    end = ">" if head[:4] == b"RIFX" else "<"
    pos, block_align, ds64_data = 12, 0, None
    while pos + 8 <= size:
        f.seek(pos)
        cid, n = struct.unpack(end + "4sI", f.read(8))
        if cid == b"ds64" and n >= 16:
            ds64_data = struct.unpack("<QQ", f.read(16))[1]
        elif cid == b"fmt " and n >= 14:
            block_align = struct.unpack(end + "HIIH", f.read(12))[3]
        elif cid == b"data":
            if head[:4] == b"RF64" and n == 0xFFFFFFFF and ds64_data is not None:
                n = ds64_data
            elif n in (0, 0xFFFFFFFF):
                return None
            present = size - (pos + 8)
            return (n, present, block_align) if present < n else None
        pos += 8 + n + (n & 1)
    return None


def _truncation_reason(fmt: str, declared_frames: int, read_frames: int, sr: int, detail: str = "",
                       failed: bool = False) -> str:
    got = (f"decoding failed after {read_frames} frames ({read_frames / sr:.3f} s)" if failed else
           f"only {read_frames} ({read_frames / sr:.3f} s) present")
    return (f"truncated or header-inconsistent {fmt} file: header says {declared_frames} frames "
            f"({declared_frames / sr:.3f} s), {got}" + (f" ({detail})" if detail else ""))


def _decodable_frames(src) -> int:
    """How many frames decode before the first error (reads ``src`` again in 4096-frame blocks)."""
    if not isinstance(src, str):
        src.seek(0)
    got = 0
    try:
        with sf.SoundFile(src) as snd:
            while n := len(snd.read(4096, dtype="float32", always_2d=True)):
                got += n
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError):
        pass
    return got


def _read_stream(name, src, head: bytes) -> tuple[np.ndarray, int, str, str]:
    """Decode all of ``src`` (a path string or a binary file object) -> (n, ch) float32, rate, format, subtype.

    A file holding fewer frames than its header declares is refused: WAV by its data chunk size vs the bytes
    present (:func:`wav_data_shortfall`), FLAC/OGG by the header's frame count vs the frames decoded (a
    decoding error after a good header counts as truncation when frames are missing)."""
    try:
        snd = sf.SoundFile(src)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as e:
        raise _open_error(name, head, e) from None
    with snd:
        sr, fmt, subtype, declared = int(snd.samplerate), snd.format, snd.subtype, int(snd.frames)
        try:
            x = snd.read(dtype="float32", always_2d=True)
            err = None
        except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as e:
            err = e
    if err is not None:
        got = _decodable_frames(src)
        if got < declared:
            d = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise AudioInputError(name, _truncation_reason(fmt, declared, got, sr, f"libsndfile: {d}", failed=True))
        raise _open_error(name, head, err) from None
    if fmt == "WAV":   # libsndfile reports the frames present, not the header's: read the chunk sizes
        if isinstance(src, str):
            with open(src, "rb") as f:
                short = wav_data_shortfall(f)
        else:
            short = wav_data_shortfall(src)
        if short is not None:
            n_decl, n_present, align = short
            align = align or max(1, n_present // max(len(x), 1))
            raise AudioInputError(name, _truncation_reason(
                "WAV", n_decl // align, n_present // align, sr,
                f"data chunk declares {n_decl} bytes, {n_present} present"))
    if len(x) < declared:
        raise AudioInputError(name, _truncation_reason(fmt, declared, len(x), sr))
    return x, sr, fmt, subtype


def _read_file(path: Path) -> tuple[np.ndarray, int, str, str]:
    """All samples (n, ch) float32 + rate, format, subtype; domain errors only."""
    _check_path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise AudioInputError(path, f"cannot open ({e.strerror or e})") from None
    return _read_stream(path, str(path), head)


def scan_audio(path: str | os.PathLike, min_duration_s: float = 0.0,
               silence_peak_dbfs: float = DEFAULT_SILENCE_PEAK_DBFS) -> ScanInfo:
    """Validate a file's header and content (NaN/Inf, silence, length) without returning samples."""
    path = Path(path)
    x, sr, fmt, subtype = _read_file(path)
    peak = validate_samples(path, x, sr, min_duration_s, silence_peak_dbfs)
    return ScanInfo(str(path), fmt, subtype, sr, int(x.shape[1]), int(x.shape[0]), peak)


def conform(path, x: np.ndarray, sr: int, target_sr: int = 16000, min_duration_s: float = 0.0,
            silence_peak_dbfs: float = DEFAULT_SILENCE_PEAK_DBFS) -> tuple[np.ndarray, AudioInfo]:
    """Validate samples ``x`` ((n,) or (n, ch), rate ``sr``) and return float32 mono (m,) at ``target_sr``.

    ``path`` only names the clip in errors/info (a file path or e.g. ``"hf:<id>"`` for in-memory audio).
    """
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise AudioInputError(path, f"expected (n,) or (n, channels) samples, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        if np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
        else:
            raise AudioInputError(path, f"unsupported sample dtype {x.dtype}")
    if sr <= 0:
        raise AudioInputError(path, f"invalid sample rate {sr}")
    peak = validate_samples(path, x, sr, min_duration_s, silence_peak_dbfs)
    n0, ch = x.shape
    y = x.mean(axis=1, dtype=np.float64).astype(np.float32) if ch > 1 else x[:, 0].astype(np.float32)
    resampled = int(sr) != int(target_sr)
    if resampled:
        y = soxr.resample(y, int(sr), int(target_sr), quality="HQ").astype(np.float32)
        if y.size == 0:
            raise AudioInputError(path, f"empty after resampling {sr} -> {target_sr} Hz")
    info = AudioInfo(str(path), int(sr), int(ch), int(n0), int(target_sr), int(y.size), resampled,
                     RESAMPLE_METHOD if resampled else None, ch > 1, peak)
    return np.ascontiguousarray(y), info


def load_audio(path: str | os.PathLike, target_sr: int = 16000, min_duration_s: float = 0.0,
               silence_peak_dbfs: float = DEFAULT_SILENCE_PEAK_DBFS) -> tuple[np.ndarray, AudioInfo]:
    """Read WAV/FLAC/OGG -> (float32 mono (n,) at ``target_sr`` Hz, :class:`AudioInfo`).

    Raises :class:`AudioInputError` for a missing, unreadable, corrupt, unsupported, empty, non-finite,
    silent (peak < ``silence_peak_dbfs``) or too short (< ``min_duration_s``) input.
    """
    path = Path(path)
    x, sr, _, _ = _read_file(path)
    return conform(path, x, sr, target_sr, min_duration_s, silence_peak_dbfs)


def decode_bytes(name: str, data: bytes) -> tuple[np.ndarray, int]:
    """Decode an in-memory WAV/FLAC/OGG blob -> (float32 (n, ch), rate); domain errors name ``name``."""
    if not data:
        raise AudioInputError(name, "empty audio bytes")
    x, sr, _, _ = _read_stream(name, io.BytesIO(data), bytes(data[:12]))
    return x, sr


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_flac_atomic(path: str | os.PathLike, x: np.ndarray, sr: int) -> None:
    """Write (n,) or (n, ch) float samples in [-1, 1] as 16-bit FLAC via a temp name + os.replace."""
    write_sound(path, np.clip(np.asarray(x, np.float32), -1.0, 1.0), int(sr), subtype="PCM_16", format="FLAC")


def write_wav_int16(path: str | os.PathLike, x: np.ndarray, sample_rate_hz: int) -> None:
    """float waveform -> 16-bit PCM WAV, atomically: ``round(clip(x, -1, 32767/32768) * 32768)``, so a value
    read back as int16 / 32768 returns exactly (enhanced audio, evaluate outputs)."""
    q = np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)
    write_sound(path, q, int(sample_rate_hz), subtype="PCM_16", format="WAV")
