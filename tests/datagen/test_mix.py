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


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_int16_power_db_is_the_exact_value_rounded(seed):
    """The realised SNR / level are 10 log10 of exact integer energies, rounded to DB_DECIMALS."""
    from decimal import Decimal, getcontext
    from fractions import Fraction

    from datagen.mix import DB_DECIMALS, int16_power_db
    rng = np.random.default_rng(seed)
    a = rng.integers(-32767, 32768, rng.integers(1, 5000)).astype(np.int16)
    b = (rng.integers(-3000, 3001, rng.integers(1, 5000))).astype(np.int16)
    if not b.any():
        b[0] = 1
    getcontext().prec = 40
    for got, ratio in ((int16_power_db(a, b), Fraction(int((a.astype(np.int64) ** 2).sum()) * len(b),
                                                               int((b.astype(np.int64) ** 2).sum()) * len(a))),
                       (int16_power_db(a), Fraction(int((a.astype(np.int64) ** 2).sum()), len(a) * 32767 ** 2))):
        if ratio == 0:
            assert got == float("-inf")
            continue
        exact = 10 * (Decimal(ratio.numerator) / Decimal(ratio.denominator)).log10()
        assert abs(Decimal(got) - exact) <= Decimal(10) ** -DB_DECIMALS
        assert got == round(got, DB_DECIMALS)
    assert abs(int16_power_db(a, b) - power_ratio_db(a, b)) < 1e-6


def test_realised_values_do_not_depend_on_numpy_simd_path():
    """Same mixtures, numpy's AVX-512 paths switched off in a child process: identical realised values.

    (Before int16_power_db, the recorded SNR of about one mixture in eight differed in its last bit
    between an AVX-512 and an AVX2 CPU, which changed the dataset's metadata bytes.)"""
    import json
    import os
    import subprocess
    import sys
    from numpy._core._multiarray_umath import __cpu_features__ as found
    if not found.get("X86_V4"):
        pytest.skip("this CPU has no AVX-512: nothing to switch off")
    code = ("import json, sys; sys.path.insert(0, 'tests/datagen'); import numpy as np; from test_mix import _signals; "
            "from datagen.mix import mix; out = []\n"
            "for s in range(40):\n"
            "    sp, no, ac = _signals(s); r = mix(sp, no, ac, 2.5 + s % 7, -26.0)\n"
            "    out.append([r.achieved_snr_db, r.achieved_level_dbfs])\n"
            "print(json.dumps(out))")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runs = []
    for disabled in ("", "X86_V4 AVX512_ICL AVX512_SPR"):
        env = dict(os.environ)
        env.pop("NPY_DISABLE_CPU_FEATURES", None)
        if disabled:
            env["NPY_DISABLE_CPU_FEATURES"] = disabled
        r = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout))
    assert runs[0] == runs[1]
