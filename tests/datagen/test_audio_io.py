"""datagen.audio_io: real files written with soundfile; every bad input gives a domain error naming the file."""
import hashlib

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import given, settings, strategies as st

from datagen.audio_io import (AudioInputError, conform, decode_bytes, load_audio, scan_audio, sha256_file,
                              write_flac_atomic)
from tests.datagen.sources.trees import tone, wav_bytes, write


def _err(path, **kw) -> AudioInputError:
    with pytest.raises(AudioInputError) as ei:
        load_audio(path, **kw)
    e = ei.value
    assert str(e).startswith(str(path)), "message must name the file first"
    assert e.path == str(path)
    return e


def test_mono_16k_roundtrip(tmp_path):
    x = tone(1, 0.5)
    p = write(tmp_path / "a.wav", x)
    y, info = load_audio(p)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 1.0 / 32768 + 1e-7       # 16-bit quantisation only
    assert (info.orig_sample_rate_hz, info.orig_channels, info.resampled, info.downmixed) == (16000, 1, False, False)
    assert info.resample_method is None and info.duration_s == pytest.approx(0.5)


@pytest.mark.parametrize("ext,subtype", [(".flac", "PCM_16"), (".ogg", "VORBIS"), (".wav", "FLOAT")])
def test_formats(tmp_path, ext, subtype):
    x = tone(2, 0.5)
    y, info = load_audio(write(tmp_path / f"a{ext}", x, subtype=subtype))
    assert y.shape == x.shape
    tol = 0.05 if subtype == "VORBIS" else 1e-4   # Vorbis is lossy
    assert np.sqrt(np.mean((y - x) ** 2)) < tol


def test_44k1_is_resampled_and_recorded(tmp_path):
    x = tone(3, 1.0, sr=44100, f0_hz=1000.0, amp=0.5)
    y, info = load_audio(write(tmp_path / "hi.wav", x, sr=44100), target_sr=16000)
    assert info.resampled and info.orig_sample_rate_hz == 44100 and info.sample_rate_hz == 16000
    assert info.resample_method == f"soxr HQ {soxr.__version__}"
    assert abs(y.size - 16000) <= 1
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    f_peak = np.argmax(spec) * 16000 / y.size
    assert abs(f_peak - 1000.0 - 10 * (3 % 17)) < 3.0          # the tone keeps its frequency


def test_stereo_is_downmixed_and_recorded(tmp_path):
    x = tone(4, 0.5, channels=2)
    y, info = load_audio(write(tmp_path / "st.wav", x, subtype="FLOAT"))
    assert info.downmixed and info.orig_channels == 2 and y.ndim == 1
    np.testing.assert_allclose(y, x.mean(axis=1), atol=1e-6)


def test_missing_file(tmp_path):
    assert "not found" in _err(tmp_path / "nope.wav").reason


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.wav").mkdir()
    assert "not a regular file" in _err(tmp_path / "d.wav").reason


def test_text_renamed_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("these are not samples\n" * 20)
    assert "unsupported or unrecognised format" in _err(p).reason


def test_mp4_extension_unsupported(tmp_path):
    p = tmp_path / "clip.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    assert "unsupported format '.mp4'" in _err(p).reason


def test_corrupt_wav(tmp_path):
    good = wav_bytes(tone(5, 0.5))
    p = tmp_path / "corrupt.wav"
    p.write_bytes(good[:4] + b"\xff" * 40 + good[44:])           # RIFF magic, garbage header
    assert "corrupt WAV" in _err(p).reason


def test_empty_file_and_zero_samples(tmp_path):
    p = tmp_path / "zero.wav"
    p.write_bytes(b"")
    assert "empty file" in _err(p).reason
    q = write(tmp_path / "nosamples.wav", np.zeros(0, np.float32))
    assert "empty audio (0 samples)" in _err(q).reason


@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "Inf")])
def test_non_finite(tmp_path, bad, word):
    x = tone(6, 0.5)
    x[100:110] = bad
    e = _err(write(tmp_path / "nf.wav", x, subtype="FLOAT"))
    assert "10 non-finite" in e.reason and word in e.reason


def test_silent(tmp_path):
    assert "all samples are zero" in _err(write(tmp_path / "z.wav", np.zeros(8000, np.float32))).reason
    quiet = write(tmp_path / "q.wav", np.full(8000, 1e-6, np.float32), subtype="FLOAT")
    assert "below silence threshold" in _err(quiet).reason
    y, _ = load_audio(quiet, silence_peak_dbfs=-130.0)        # threshold is a parameter
    assert y.size == 8000


def test_too_short(tmp_path):
    p = write(tmp_path / "s.wav", tone(7, 0.1))
    e = _err(p, min_duration_s=0.3)
    assert "too short" in e.reason and "0.100 s" in e.reason
    assert load_audio(p, min_duration_s=0.05)[0].size == 1600


def test_scan_matches_header(tmp_path):
    p = write(tmp_path / "h.flac", tone(8, 0.75, sr=22050, channels=2), sr=22050)
    s = scan_audio(p)
    assert (s.orig_sample_rate_hz, s.orig_channels, s.format) == (22050, 2, "FLAC")
    assert s.duration_s == pytest.approx(0.75, abs=1e-4)


def test_decode_bytes_errors_name_the_clip():
    with pytest.raises(AudioInputError, match=r"^hf:x/1: unsupported or unrecognised format"):
        decode_bytes("hf:x/1", b"garbage bytes that are not audio at all")
    with pytest.raises(AudioInputError, match="empty audio bytes"):
        decode_bytes("hf:x/2", b"")
    x, sr = decode_bytes("ok", wav_bytes(tone(9, 0.2)))
    assert sr == 16000 and x.shape == (3200, 1)


def test_sha256_and_atomic_flac(tmp_path):
    p = tmp_path / "o" / "c.flac"
    write_flac_atomic(p, tone(10, 0.3) * 4.0, 16000)           # clipped to [-1, 1], 16-bit FLAC
    assert sf.info(str(p)).subtype == "PCM_16" and not list(p.parent.glob(".*tmp"))
    assert sha256_file(p) == hashlib.sha256(p.read_bytes()).hexdigest()
    assert np.abs(sf.read(str(p))[0]).max() <= 1.0


@settings(max_examples=25, deadline=None)
@given(sr=st.sampled_from([8000, 16000, 22050, 44100, 48000]), n=st.integers(2000, 6000),
       ch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_conform_invariants(sr, n, ch, seed):
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, (n, ch)).astype(np.float32)
    y, info = conform("mem", x, sr, 16000)
    assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    assert abs(y.size - n * 16000 / sr) <= 1
    assert info.resampled == (sr != 16000) and info.downmixed == (ch > 1)
    assert info.orig_n_samples == n and info.orig_channels == ch


# ------------------------------------------------------------------ truncated / header-inconsistent files

def _truncate(src, dst, keep_frac=0.5):
    b = src.read_bytes()
    dst.write_bytes(b[: int(len(b) * keep_frac)])
    return dst


@pytest.mark.parametrize("subtype,bytes_per_frame", [("PCM_16", 2), ("FLOAT", 4)])
def test_truncated_wav_is_refused_not_shortened(tmp_path, subtype, bytes_per_frame):
    """libsndfile reads a WAV cut in half as a clip of half the length (sf.info agrees); it must be refused."""
    full = write(tmp_path / "full.wav", tone(11, 2.0), subtype=subtype)
    cut = _truncate(full, tmp_path / "cut.wav")
    assert sf.info(str(cut)).frames < 32000                  # what libsndfile alone reports: a shorter clip
    reason = _err(cut).reason
    assert reason.startswith("truncated or header-inconsistent WAV file: header says 32000 frames (2.000 s), only ")
    assert f"data chunk declares {32000 * bytes_per_frame} bytes" in reason
    with pytest.raises(AudioInputError, match="truncated"):
        scan_audio(cut)
    with pytest.raises(AudioInputError, match=r"^hf:cut: truncated or header-inconsistent WAV"):
        decode_bytes("hf:cut", cut.read_bytes())
    assert load_audio(full)[0].size == 32000                  # the intact file is fine


def test_wav_with_chunks_after_data_is_not_truncated(tmp_path):
    """Bytes after the data chunk (a LIST chunk) are normal: only fewer bytes than declared is refused."""
    import struct

    b = bytearray(wav_bytes(tone(12, 0.5)))
    info = b"INFOISFT\x05\x00\x00\x00test\x00\x00"
    b += b"LIST" + struct.pack("<I", len(info)) + info
    b[4:8] = struct.pack("<I", len(b) - 8)
    p = tmp_path / "list.wav"
    p.write_bytes(bytes(b))
    assert load_audio(p)[0].size == 8000


def test_truncated_flac_is_refused(tmp_path):
    full = write(tmp_path / "full.flac", tone(13, 3.0))
    for frac in (0.3, 0.6, 0.95):
        reason = _err(_truncate(full, tmp_path / f"cut{frac}.flac", frac)).reason
        assert reason.startswith("truncated or header-inconsistent FLAC file: header says 48000 frames (3.000 s), "), reason
        assert "decoding failed after" in reason or "present" in reason


def test_flac_with_a_longer_header_than_its_frames_is_refused(tmp_path):
    """STREAMINFO total samples larger than the audio present, without a decoding error: fewer frames read."""
    full = write(tmp_path / "full.flac", tone(14, 1.0))
    b = bytearray(full.read_bytes())
    # STREAMINFO: 4-byte block header after "fLaC", then 10 bytes, then 4 bits of channels/bps + 36-bit total
    off = 4 + 4 + 10
    packed = int.from_bytes(b[off:off + 8], "big")
    total = packed & ((1 << 36) - 1)
    assert total == 16000
    b[off:off + 8] = ((packed & ~((1 << 36) - 1)) | 32000).to_bytes(8, "big")
    p = tmp_path / "long_header.flac"
    p.write_bytes(bytes(b))
    reason = _err(p).reason
    assert reason.startswith("truncated or header-inconsistent FLAC file: header says 32000 frames (2.000 s)"), reason


def test_truncated_file_lands_in_rejects_csv(tmp_path):
    """The corpus stage records a truncated clip in rejects.csv with the reason, and keeps the good ones."""
    import pandas as pd

    from datagen.corpus import build_corpus

    root = tmp_path / "noise"
    for cls in ("hum", "fan"):
        for i in range(3):
            write(root / cls / f"{cls}_{i}.wav", tone(20 + i + 5 * len(cls), 1.0))
    _truncate(root / "fan" / "fan_0.wav", root / "fan" / "fan_cut.wav")
    _truncate(write(root / "hum" / "hum_x.flac", tone(40, 2.0)), root / "hum" / "hum_cut.flac")
    (root / "hum" / "hum_x.flac").unlink()
    speech = tmp_path / "speech"
    for spk in ("a", "b", "c"):
        write(speech / spk / f"{spk}.wav", tone(50 + ord(spk), 1.0))
    p = {"seed": 0, "frames": {"sample_rate_hz": 16000}, "paths": {"corpus_dir": str(tmp_path / "corpus")},
         "corpus": {"sources": [{"type": "folder", "kind": "noise", "root": str(root)},
                                {"type": "folder", "kind": "speech", "root": str(speech), "name": "speech"}],
                    "min_duration_s": 0.1, "speech_split": {"valid": ["b"], "test": ["c"]},
                    "procedural": {"clips_per_class": {"train": 0, "valid": 0, "test": 0}}}}
    build_corpus(p, progress=False)
    rej = pd.read_csv(tmp_path / "corpus" / "rejects.csv")
    reasons = dict(zip(rej["path"].map(lambda s: s.rsplit("/", 1)[-1]), rej["reason"]))
    assert sorted(reasons) == ["fan_cut.wav", "hum_cut.flac"]
    assert reasons["fan_cut.wav"].startswith("truncated or header-inconsistent WAV file: header says 16000 frames")
    assert reasons["hum_cut.flac"].startswith("truncated or header-inconsistent FLAC file: header says 32000 frames")
    m = pd.read_parquet(tmp_path / "corpus" / "manifest.parquet")
    assert len(m) == 6 + 3 and not m["path"].str.contains("_cut").any()
