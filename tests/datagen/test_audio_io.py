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
