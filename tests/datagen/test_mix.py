import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from datagen.frames import FrameGrid
from datagen.mix import MixError, active_sample_mask, mix, power_ratio_db
from datagen.placement import loop_segment, place_frames


def _signals(seed, n=16000):
    rng = np.random.default_rng(seed)
    speech = np.zeros(n)
    speech[4000:12000] = np.sin(2 * np.pi * 200 * np.arange(8000) / 16000) * rng.uniform(0.1, 1)
    noise = rng.standard_normal(n) * rng.uniform(0.01, 1)
    vad = np.zeros(FrameGrid().n_frames(n), np.uint8)
    vad[16:47] = 1
    return speech, noise, active_sample_mask(vad, n, 256)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), snr_db=st.floats(-10, 30), level=st.floats(-45, -5))
def test_sum_to_mix_and_achieved_snr(seed, snr_db, level):
    speech, noise, active = _signals(seed)
    r = mix(speech, noise, active, snr_db, level)
    assert np.array_equal(r.speech_q.astype(np.int32) + r.noise_q, r.noisy_q.astype(np.int32))
    assert abs(r.achieved_snr_db - snr_db) < 0.1
    assert np.abs(r.noisy_q.astype(np.int32)).max() <= 32767
    if r.clip_rescale == 1.0:
        assert abs(r.achieved_level_dbfs - level) < 0.1
    else:  # joint rescale: level lowered, SNR kept
        assert r.achieved_level_dbfs < level


def test_loud_mix_is_jointly_rescaled():
    speech, noise, active = _signals(0)
    r = mix(speech, noise, active, snr_db=-5, level_dbfs=-1)
    assert r.clip_rescale < 1.0
    assert abs(r.achieved_snr_db + 5) < 0.1
    assert np.abs(r.noisy_q).max() <= int(0.99 * 32767) + 2


def test_silent_noise_and_no_speech_raise():
    speech, noise, active = _signals(1)
    with pytest.raises(MixError, match="noise segment is silent"):
        mix(speech, np.zeros_like(noise), active, 5, -25, context="m1")
    with pytest.raises(MixError, match="no speech-active"):
        mix(speech, noise, np.zeros_like(active), 5, -25)


def test_active_mask_covers_frames():
    m = active_sample_mask(np.array([0, 1, 0], np.uint8), 3 * 256, 256)
    assert m.sum() == 256 and m[128] and m[383] and not m[127] and not m[384]


def test_place_frames_maps_hop_aligned_offsets():
    out = np.zeros(20)
    src = np.arange(10, dtype=float)
    place_frames(out, src, src_start=2 * 256, dst_start=5 * 256, n=4 * 256, hop=256)
    assert list(out[5:9]) == [2, 3, 4, 5] and out[4] == 0 and out[9] == 0
    with pytest.raises(ValueError, match="multiples of hop"):
        place_frames(out, src, 3, 0, 10, 256)


def test_loop_segment_wraps():
    assert list(loop_segment(np.arange(3), 2, 5)) == [2, 0, 1, 2, 0]
