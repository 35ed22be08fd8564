import numpy as np
import pytest

from bench.baselines import offshelf
from datagen.frames import FrameGrid

from tests.bench.baselines.signals import harmonic_tone, vowel_speech

SR = 16000


@pytest.fixture(scope="module")
def speech_between_silence():
    v = vowel_speech(3.0)
    z = np.zeros(SR, np.float32)
    x = np.concatenate([z, v, z])
    g = FrameGrid()
    t = g.centres_s(len(x))
    return x, (t > 1.25) & (t < 3.75), (t < 0.9) | (t > 4.2)


def test_silero_detects_speech_not_silence(speech_between_silence):
    x, speech, silence = speech_between_silence
    p = offshelf.silero_vad_probs(x)
    assert p.shape == (FrameGrid().n_frames(len(x)),)
    assert p[speech].mean() > 0.7
    assert p[silence].max() < 0.2


@pytest.mark.parametrize("mode", offshelf.WEBRTC_MODES)
@pytest.mark.parametrize("frame_ms", offshelf.WEBRTC_FRAME_MS)
def test_webrtc_detects_speech_not_silence(speech_between_silence, mode, frame_ms):
    x, speech, silence = speech_between_silence
    d = offshelf.webrtc_vad(x, mode, frame_ms)
    assert d.shape == (FrameGrid().n_frames(len(x)),)
    assert d[speech].mean() > 0.5
    assert d[silence].sum() == 0


def test_window_alignment_by_frame_centre():
    g = FrameGrid()
    vals = np.arange(4)  # windows of 512 samples over 2048 samples
    out = offshelf._window_to_grid(vals, 512, 2048, g)
    # frame t centre = 256 t -> window (256 t) // 512 = t // 2, clipped to the last window
    assert out.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 3]


def _voiced_median(f0):
    return float(np.median(f0[10:-10]))


def test_crepe_tiny_f0_of_220hz_tone():
    f0 = offshelf.crepe_f0(harmonic_tone(220.0, 1.0), "tiny", 50.0, 550.0)
    assert len(f0) == FrameGrid().n_frames(SR)
    assert abs(_voiced_median(f0) - 220.0) / 220.0 < 0.01


def test_crepe_f0_is_deterministic_whatever_the_global_rng():
    """torchcrepe's own decoders dither each pitch from numpy's global RNG; ours must not depend on it."""
    x = harmonic_tone(180.0, 0.5) + 0.05 * np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32)
    outs = []
    for seed in (1, 2):
        np.random.seed(seed)
        outs.append(offshelf.crepe_f0(x, "tiny", 50.0, 550.0))
    np.testing.assert_array_equal(outs[0], outs[1])
    with pytest.raises(ValueError, match="decoder"):
        offshelf.crepe_f0(x, "tiny", 50.0, 550.0, decoder="argmax")


def test_pyin_f0_of_220hz_tone():
    f0 = offshelf.pyin_f0(harmonic_tone(220.0, 1.0), 50.0, 550.0)
    assert len(f0) == FrameGrid().n_frames(SR)
    assert abs(_voiced_median(f0) - 220.0) / 220.0 < 0.01


@pytest.mark.slow
def test_crepe_full_f0_of_220hz_tone():
    f0 = offshelf.crepe_f0(harmonic_tone(220.0, 1.0), "full", 50.0, 550.0)
    assert abs(_voiced_median(f0) - 220.0) / 220.0 < 0.01


def test_compute_counts():
    n_tiny, macs_tiny = offshelf.crepe_params_and_macs_per_s("tiny")
    assert 4e5 < n_tiny < 6e5 and macs_tiny > 1e8
    n_sil, macs_sil = offshelf.silero_params_and_macs_per_s()
    assert 1e5 < n_sil < 5e5 and 1e6 < macs_sil < 1e8
    assert offshelf.pyin_macs_per_s(50, 550) > 0


def test_bad_audio_is_named():
    with pytest.raises(ValueError, match="mono"):
        offshelf.silero_vad_probs(np.zeros((2, 100), np.float32))
