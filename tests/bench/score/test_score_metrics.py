"""Metric functions on real signals: ceilings, invariances, monotonicity in noise, failures, rate/length checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.score import metrics as M
from bench.score.runner import AudioMismatchError, Task, align, load_audio, score_task

SR = 16000
REAL_SPEECH = sorted((Path(__file__).resolve().parents[3] / "datagen" / "embedded" / "speech").glob("*.flac"))


def test_identical_signals_hit_the_ceilings(clean_clip):
    x = clean_clip
    assert M.pesq_wb(x, x, SR) == pytest.approx(4.644, abs=0.01)
    assert M.pesq_nb(x, x, SR) == pytest.approx(4.549, abs=0.01)
    assert M.stoi(x, x, SR) == pytest.approx(1.0, abs=1e-6)
    assert M.estoi(x, x, SR) == pytest.approx(1.0, abs=1e-6)
    assert M.si_sdr(x, x) > 100.0


def test_si_sdr_scale_invariant_and_matches_snr(clean_clip):
    rng = np.random.default_rng(0)
    x = clean_clip - clean_clip.mean()
    n = rng.standard_normal(len(x))
    n -= n.mean()
    n -= np.dot(n, x) / np.dot(x, x) * x        # orthogonal noise: SI-SDR equals the SNR exactly
    n *= np.sqrt(np.dot(x, x) / np.dot(n, n) / 10 ** (7.0 / 10))
    y = x + n
    assert M.si_sdr(x, y) == pytest.approx(7.0, abs=1e-6)
    for g in (0.01, 0.5, 3.0):
        assert M.si_sdr(x, g * y) == pytest.approx(M.si_sdr(x, y), abs=1e-9)
    assert M.si_sdr(x, y + 0.3) == pytest.approx(M.si_sdr(x, y), abs=1e-9)  # zero-mean: DC offset ignored


def test_added_noise_lowers_every_reference_metric(clean_clip):
    rng = np.random.default_rng(1)
    w = rng.standard_normal(len(clean_clip))
    lo, hi = clean_clip + 1e-4 * w, clean_clip + 0.03 * w
    for name, f in M.REFERENCE_METRICS.items():
        a, b = f(clean_clip, lo, SR), f(clean_clip, hi, SR)
        assert a > b, (name, a, b)
        lo_r, hi_r = M.METRIC_INFO[name]["range"]
        assert lo_r - 0.05 <= b <= hi_r + 0.05, (name, b)


def test_dnsmos_offline_model_lower_for_noisier_clip(clean_clip):
    rng = np.random.default_rng(2)
    w = rng.standard_normal(len(clean_clip))
    a = M.dnsmos((clean_clip + 1e-3 * w).astype(np.float32), SR)
    b = M.dnsmos((clean_clip + 0.05 * w).astype(np.float32), SR)
    assert set(a) == set(M.DNSMOS_METRICS)
    for k in M.DNSMOS_METRICS:
        assert 1.0 <= b[k] < a[k] <= 5.0, (k, a[k], b[k])
    with pytest.raises(ValueError, match="16000"):
        M.dnsmos(clean_clip.astype(np.float32), 8000)
    r = M.compute(["dnsmos_ovrl"], clean_clip, 2.0 * clean_clip / np.abs(clean_clip).max(), SR)
    assert r["dnsmos_ovrl"][1] == "failed" and "[-1, 1]" in r["dnsmos_ovrl"][2]


@pytest.mark.skipif(not REAL_SPEECH, reason="embedded speech corpus not present")
def test_real_speech_pesq_in_plausible_range():
    x, sr = sf.read(REAL_SPEECH[0], dtype="float64")
    assert sr == SR
    rng = np.random.default_rng(3)
    n = rng.standard_normal(len(x))
    y = x + n * np.sqrt(np.mean(x ** 2) / np.mean(n ** 2) / 10 ** (10 / 10))   # 10 dB white noise
    assert M.pesq_wb(x, x, SR) == pytest.approx(4.644, abs=0.01)
    assert 1.03 < M.pesq_wb(x, y, SR) < 2.5
    assert 0.6 < M.stoi(x, y, SR) < 1.0


def test_silent_reference_is_a_recorded_failure(clean_clip):
    r = M.compute(["pesq_wb", "pesq_nb", "stoi", "si_sdr"], np.zeros_like(clean_clip), clean_clip, SR)
    assert all(s == "failed" and np.isnan(v) for v, s, _ in r.values())
    assert "No utterances detected" in r["pesq_wb"][2]


def test_metric_sample_rate_contract(clean_clip):
    with pytest.raises(ValueError, match="16000"):
        M.pesq_wb(clean_clip, clean_clip, 8000)
    with pytest.raises(ValueError, match="unknown metric"):
        M.expand_metrics(["pesq_wb", "pesq_xx"])
    assert M.expand_metrics(["stoi", "dnsmos"]) == ["stoi", *M.DNSMOS_METRICS]
    for info in M.METRIC_INFO.values():
        assert info["version"] and info["version"] != "not installed"
        assert {"implementation", "mode", "unit", "range"} <= set(info)


def test_rate_mismatch_resampled_with_soxr_or_rejected(tmp_path, clean_clip):
    ref = tmp_path / "ref.wav"
    sf.write(ref, clean_clip, SR, subtype="PCM_16")
    import soxr
    est = tmp_path / "est_8k.wav"
    sf.write(est, soxr.resample(clean_clip, SR, 8000, quality="HQ"), 8000, subtype="PCM_16")
    x, file_sr, method = load_audio(est, SR)
    assert file_sr == 8000 and method == "soxr HQ" and abs(len(x) - len(clean_clip)) < 4
    rows = score_task(Task("sys", "m0", str(ref), str(est), ("stoi", "si_sdr"), SR, 256, True))
    assert {r["resample_method"] for r in rows} == {"soxr HQ"} and {r["file_sample_rate_hz"] for r in rows} == {8000}
    assert all(r["status"] == "ok" for r in rows)
    with pytest.raises(AudioMismatchError, match=r"est_8k\.wav.*8000 Hz"):
        score_task(Task("sys", "m0", str(ref), str(est), ("stoi",), SR, 256, False))


def test_length_tolerance_trims_below_hop_and_raises_above(tmp_path, clean_clip):
    ref = clean_clip
    _, e, d = align(ref, np.concatenate([ref, np.zeros(100)]), 256, "x.wav")
    assert d == 100 and len(e) == len(ref)
    _, _, d = align(ref, ref[:-255], 256, "x.wav")
    assert d == -255
    with pytest.raises(AudioMismatchError, match=r"long\.wav.*\+256"):
        align(ref, np.concatenate([ref, np.zeros(256)]), 256, "long.wav")
    rp, ep = tmp_path / "r.wav", tmp_path / "long.wav"
    sf.write(rp, ref, SR, subtype="PCM_16")
    sf.write(ep, np.concatenate([ref, np.zeros(1000)]), SR, subtype="PCM_16")
    with pytest.raises(AudioMismatchError, match="long.wav"):
        score_task(Task("sys", "m0", str(rp), str(ep), ("si_sdr",), SR, 256))


def test_missing_file_gives_failed_rows(tmp_path, clean_clip):
    rp = tmp_path / "r.wav"
    sf.write(rp, clean_clip, SR, subtype="PCM_16")
    rows = score_task(Task("sys", "m0", str(rp), str(tmp_path / "nope.wav"), ("pesq_wb", "stoi")))
    assert [r["status"] for r in rows] == ["failed", "failed"] and "missing file" in rows[0]["reason"]
