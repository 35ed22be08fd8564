"""Procedural noise: determinism, contract (length, dtype, RMS), and each generator's defining property."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from datagen import procedural as P

SR = 16000
EMB = Path(P.__file__).resolve().parent / "embedded"


@pytest.fixture(scope="module")
def pool():
    """Real utterances from the shipped corpus (one speaker) as the babble / speech-shaped pool."""
    files = sorted((EMB / "speech").glob("carlo__*.flac"))[:8]
    assert files, "embedded speech missing"
    return [sf.read(f, dtype="float32")[0] for f in files]


@pytest.mark.parametrize("name", sorted(P.GENERATORS))
def test_contract_and_determinism(name, pool):
    a = P.make_clip(name, 7, 1.0, SR, speech_pool=pool)
    b = P.make_clip(name, 7, 1.0, SR, speech_pool=pool)
    c = P.make_clip(name, 8, 1.0, SR, speech_pool=pool)
    assert a.shape == (SR,) and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(P.TARGET_RMS, rel=1e-3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert P.GENERATORS[name][0] in {"stationary_noise", "hum", "water_nature", "typing", "babble"}


@settings(max_examples=10, deadline=None)
@given(duration_s=st.floats(0.01, 1.0), seed=st.integers(0, 2**31 - 1),
       name=st.sampled_from(["white", "pink", "brown", "hum_50hz", "wind", "rain", "typing"]))
def test_any_length(duration_s, seed, name):
    x = P.make_clip(name, seed, duration_s, SR)
    assert x.shape == (int(round(duration_s * SR)),) and np.all(np.isfinite(x))


def test_generators_with_one_seed_are_independent():
    assert not np.allclose(P.make_clip("white", 1, 0.5), P.make_clip("pink", 1, 0.5))


@pytest.mark.parametrize("name", sorted(P.NEEDS_SPEECH_POOL))
def test_pool_generators_refuse_empty_pool(name):
    for bad in (None, []):
        with pytest.raises(ValueError, match="non-empty speech_pool"):
            P.make_clip(name, 0, 1.0, speech_pool=bad)
    with pytest.raises(ValueError, match="empty, silent"):
        P.make_clip(name, 0, 1.0, speech_pool=[np.zeros(100, np.float32)])


def test_unknown_generator_and_bad_duration():
    with pytest.raises(KeyError, match="unknown procedural generator"):
        P.make_clip("thunder", 0, 1.0)
    with pytest.raises(ValueError, match="duration_s"):
        P.make_clip("white", 0, 0.0)


def _psd(x):
    return signal.welch(x, fs=SR, nperseg=4096)


@pytest.mark.parametrize("name, slope_db_per_oct", [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_coloured_noise_slopes(name, slope_db_per_oct):
    f, p = _psd(P.make_clip(name, 3, 8.0))
    band = (f >= 100) & (f <= 6000)
    fit = np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)[0]
    assert fit == pytest.approx(slope_db_per_oct, abs=0.5)


@pytest.mark.parametrize("name, mains_hz", [("hum_50hz", 50.0), ("hum_60hz", 60.0)])
def test_hum_is_harmonic(name, mains_hz):
    f, p = _psd(P.make_clip(name, 5, 8.0))
    peak = f[np.argmax(p[f < 1000])]
    assert abs(peak / mains_hz - round(peak / mains_hz)) < 0.05 and round(peak / mains_hz) >= 1
    at = lambda hz: p[np.argmin(np.abs(f - hz))]  # noqa: E731
    between = lambda hz: p[np.argmin(np.abs(f - hz - mains_hz / 2))]  # noqa: E731
    for k in (1, 2, 3):
        assert at(k * mains_hz) > 100 * between(k * mains_hz)


def test_speech_shaped_follows_pool_spectrum(pool):
    x = P.make_clip("speech_shaped", 2, 4.0, speech_pool=pool)
    f, p = signal.welch(x, fs=SR, nperseg=512)
    _, ps = signal.welch(np.concatenate(pool), fs=SR, nperseg=512)
    band = (f > 80) & (f < 7500)
    r = np.corrcoef(10 * np.log10(p[band]), 10 * np.log10(ps[band]))[0, 1]
    assert r > 0.95
    _, pw = signal.welch(P.make_clip("white", 2, 4.0), fs=SR, nperseg=512)
    assert np.corrcoef(10 * np.log10(pw[band]), 10 * np.log10(ps[band]))[0, 1] < r - 0.3


def _frame_rms_db(x, hop=256):
    n = len(x) // hop
    return 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-12)


def test_event_generators_are_bursty_and_stationary_ones_are_not():
    spread = {name: np.ptp(np.percentile(_frame_rms_db(P.make_clip(name, 4, 8.0)), [10, 90]))
              for name in ("white", "typing", "wind")}
    assert spread["white"] < 2.0           # stationary
    assert spread["typing"] > 20.0         # keystrokes separated by near silence
    assert 2.0 < spread["wind"] < 40.0     # gusts modulate the level


def test_rain_has_droplet_transients():
    x = P.make_clip("rain", 9, 4.0).astype(np.float64)
    kurt = np.mean((x - x.mean()) ** 4) / np.var(x) ** 2
    assert kurt > 4.0                      # Gaussian noise has kurtosis 3


def test_babble_mixes_several_talkers(pool):
    x = P.make_clip("babble", 1, 6.0, speech_pool=pool)
    spread = np.ptp(np.percentile(_frame_rms_db(x), [10, 90]))
    single = np.concatenate(pool)[: len(x)]
    spread_single = np.ptp(np.percentile(_frame_rms_db(single), [10, 90]))
    assert spread < spread_single          # overlapping talkers fill each other's pauses


def test_generator_spec_hash():
    s1 = P.generator_spec("babble", 1, 8.0, 16000, ["b", "a"])
    s2 = P.generator_spec("babble", 1, 8.0, 16000, ["a", "b"])
    assert P.spec_sha256(s1) == P.spec_sha256(s2)
    assert P.spec_sha256(s1) != P.spec_sha256(P.generator_spec("babble", 2, 8.0, 16000, ["a", "b"]))
    assert "speech_pool_ids" not in P.generator_spec("white", 1, 8.0)
