"""Ground-truth VAD (datagen/vad.py): the floor-relative method finds known pauses over a noise floor."""
import numpy as np
import pytest

from datagen.frames import FrameGrid
from datagen.vad import (DIGITAL_SILENCE_DBFS, FloorRelativeParams, VadParamsError, energy_vad,
                         floor_relative_vad, frame_energy_db, noise_floor_db, resolved_params, vad_from_params,
                         vad_rule)

SR = 16000
GRID = FrameGrid()
FLOOR_BLOCK = {"method": "floor_relative"}
ENERGY_BLOCK = {"method": "energy", "threshold_db_below_max": 40.0, "abs_floor_dbfs": -70.0, "hangover_frames": 2}


def _voiced(n: int, rng, f0_hz: float) -> np.ndarray:
    """A vowel-like burst: harmonics of a gliding F0 with a syllable envelope (peak 1)."""
    t = np.arange(n) / SR
    ph = 2 * np.pi * np.cumsum(f0_hz * (1 + 0.08 * np.sin(2 * np.pi * 3 * t))) / SR
    x = sum(np.sin(k * ph + rng.uniform(0, 6.28)) / k for k in range(1, 12))
    env = 0.35 + 0.65 * np.abs(np.sin(np.pi * 4 * t))          # syllables: ~12 dB level swings
    x = x * env
    return x / np.abs(x).max()


def known_signal(floor_db_below_speech: float | None = 32.0, dc: float = 0.0, seed: int = 0):
    """Speech bursts with known pauses (lead-in, 0.4-0.7 s gaps, lead-out) over a white noise floor.

    Returns (x (n_samples,), truth (n_frames,) bool): truth = frame centre inside a burst.
    """
    rng = np.random.default_rng(seed)
    layout = [("p", 0.5), ("s", 0.8), ("p", 0.4), ("s", 0.6), ("p", 0.7), ("s", 1.0), ("p", 0.5)]
    parts, spans, pos = [], [], 0
    for kind, dur in layout:
        n = int(dur * SR)
        parts.append(0.2 * _voiced(n, rng, rng.uniform(110, 220)) if kind == "s" else np.zeros(n))
        if kind == "s":
            spans.append((pos, pos + n))
        pos += n
    x = np.concatenate(parts)
    if floor_db_below_speech is not None:
        p_speech = np.mean(np.concatenate([x[a:b] for a, b in spans]) ** 2)
        x = x + rng.standard_normal(len(x)) * np.sqrt(p_speech * 10 ** (-floor_db_below_speech / 10))
    centres = np.arange(GRID.n_frames(len(x))) * GRID.hop_length
    truth = np.zeros(len(centres), bool)
    for a, b in spans:
        truth |= (centres >= a) & (centres < b)
    return x + dc, truth


def _rates(pred: np.ndarray, truth: np.ndarray, collar: int = 2) -> tuple[float, float]:
    """(false-speech rate on non-speech frames, missed-speech rate on speech frames), collar excluded."""
    keep = np.ones(len(truth), bool)
    for b in np.flatnonzero(np.diff(truth.astype(np.int8))) + 1:
        keep[max(0, b - collar):b + collar] = False
    p, t = pred.astype(bool)[keep], truth[keep]
    return float(p[~t].mean()), float((~p[t]).mean())


def test_floor_relative_finds_pauses_over_a_noise_floor_where_energy_rule_does_not():
    x, truth = known_signal(32.0)
    new = vad_from_params(x, GRID, FLOOR_BLOCK)
    old = vad_from_params(x, GRID, ENERGY_BLOCK)
    assert new.dtype == np.uint8 and len(new) == len(truth) == GRID.n_frames(len(x))
    fs_new, ms_new = _rates(new, truth)
    fs_old, ms_old = _rates(old, truth)
    assert fs_old > 0.9            # the old rule: a floor 32 dB down is within its 40 dB -> "speech"
    assert fs_new < 0.05 and ms_new < 0.05
    # each of the four pauses is found as a run of non-speech
    d = np.diff(np.concatenate([[1], new, [1]]).astype(np.int8))
    assert (d == -1).sum() == 4


@pytest.mark.parametrize("floor_db", [20.0, 45.0, None])
def test_floor_relative_across_floor_levels_and_digital_silence(floor_db):
    x, truth = known_signal(floor_db, seed=1)
    fs, ms = _rates(floor_relative_vad(x, GRID), truth)
    assert fs < 0.05 and ms < 0.05


def test_dc_offset_does_not_count_as_energy():
    x, truth = known_signal(32.0, dc=0.25, seed=2)
    assert _rates(energy_vad(x, GRID), truth)[0] == 1.0                  # DC alone is "speech" to the old rule
    np.testing.assert_array_equal(floor_relative_vad(x, GRID), floor_relative_vad(x - 0.25, GRID))
    fs, ms = _rates(floor_relative_vad(x, GRID), truth)
    assert fs < 0.05 and ms < 0.05


def test_deterministic_and_params_block_matches_dataclass():
    x, _ = known_signal(30.0, seed=3)
    a = vad_from_params(x, GRID, dict(FLOOR_BLOCK))
    b = vad_from_params(x.copy(), GRID, {"method": "floor_relative", **FloorRelativeParams().__dict__})
    assert a.tobytes() == b.tobytes() == floor_relative_vad(x, GRID).tobytes()


def test_parameters_change_the_decision():
    x, _ = known_signal(30.0, seed=4)
    base = floor_relative_vad(x, GRID)
    loose = floor_relative_vad(x, GRID, FloorRelativeParams(threshold_db_above_floor=1.0, min_pause_s=0.0,
                                                           min_speech_s=0.0))
    assert loose.sum() > base.sum()
    bridged = floor_relative_vad(x, GRID, FloorRelativeParams(min_pause_s=1.0))   # every gap < 1 s is bridged
    d = np.diff(np.concatenate([[0], bridged, [0]]).astype(np.int8))
    assert (d == 1).sum() == 1 and bridged[0] == 0 and bridged[-1] == 0


def test_continuous_speech_without_pause_stays_speech():
    rng = np.random.default_rng(5)
    x = 0.2 * _voiced(2 * SR, rng, 150.0) + 1e-4 * rng.standard_normal(2 * SR)
    v = floor_relative_vad(x, GRID)
    assert v[2:-2].mean() > 0.95       # the cap: the quietest 100 ms of speech is not taken for a floor


def test_all_silent_short_and_empty_inputs():
    for n in (0, 1, 100, 256, 3000, SR):
        for x in (np.zeros(n), np.full(n, 1e-7)):
            v, info = floor_relative_vad(x, GRID, return_info=True)
            assert len(v) == GRID.n_frames(n) and v.dtype == np.uint8 and not v.any()
    v, info = floor_relative_vad(np.zeros(SR), GRID, return_info=True)
    assert info == {"ref_db": None, "floor_db": None, "threshold_db": None}
    # a short burst with no room for a floor window still gets labelled (peak-relative rule only)
    rng = np.random.default_rng(6)
    burst = 0.2 * _voiced(1200, rng, 200.0)
    v = floor_relative_vad(burst, GRID)
    assert len(v) == GRID.n_frames(1200) and v.any()


def test_digital_silence_is_not_the_floor():
    """Zero padding around a recording with its own floor: the floor is estimated from the recording."""
    x, truth = known_signal(30.0, seed=7)
    pad = np.zeros(SR // 2)
    y = np.concatenate([pad, x, pad])
    e = frame_energy_db(y, GRID)
    assert (e <= DIGITAL_SILENCE_DBFS).sum() > 40
    fl = noise_floor_db(frame_energy_db(x, GRID), round(0.1 / GRID.hop_s))
    assert fl > -60
    npad = len(pad) // GRID.hop_length
    v = floor_relative_vad(y, GRID)
    assert not v[:npad - 2].any() and not v[-npad + 2:].any()
    fs, ms = _rates(v[npad:npad + len(truth)], truth)
    assert fs < 0.05 and ms < 0.05


def test_energy_method_still_available_for_old_profiles():
    x, _ = known_signal(50.0, seed=8)
    np.testing.assert_array_equal(vad_from_params(x, GRID, ENERGY_BLOCK), energy_vad(x, GRID, 40.0, -70.0, 2))
    assert vad_rule(ENERGY_BLOCK) == "energy-rel-p95" and vad_rule(FLOOR_BLOCK) == "floor-relative-minstat"
    assert vad_rule({k: v for k, v in ENERGY_BLOCK.items() if k != "method"}) == "energy-rel-p95"


def test_resolved_params_records_every_parameter():
    r = resolved_params({"method": "floor_relative", "threshold_db_above_floor": 10})
    assert r["threshold_db_above_floor"] == 10.0 and r["min_pause_s"] == FloorRelativeParams().min_pause_s
    assert set(r) == {"method"} | set(FloorRelativeParams().__dict__)


@pytest.mark.parametrize("block, match", [
    ({"method": "silero"}, "labels.vad.method 'silero' not supported"),
    ({"method": "floor_relative", "threshold_db_above_flor": 12}, "unknown key"),
    ({"method": "floor_relative", "min_pause_s": "0.1"}, r"labels.vad.min_pause_s: expected a number"),
    ({"method": "floor_relative", "hangover_frames": 1.5}, r"labels.vad.hangover_frames: expected an integer"),
    ({"method": "floor_relative", "min_pause_s": -1}, r"labels.vad.min_pause_s: must be >= 0"),
    ({"method": "energy", "threshold_db_below_max": 40.0}, r"needs key\(s\) \['abs_floor_dbfs', 'hangover_frames'\]"),
])
def test_bad_params_block_is_one_clear_error(block, match):
    with pytest.raises(VadParamsError, match=match):
        vad_from_params(np.zeros(SR), GRID, block)


def test_describe_names_method_and_parameters():
    from datagen.vad import describe

    d = describe({"method": "floor_relative", "threshold_db_above_floor": 9})
    assert "`floor_relative`" in d and "floor + 9 dB" in d and "p95 - 20 dB" in d
    assert "`energy`" in describe(ENERGY_BLOCK) and "40 dB" in describe(ENERGY_BLOCK)


def test_dataset_card_records_the_vad_rule_and_parameters():
    import copy
    from pathlib import Path

    import pandas as pd

    from datagen.card import card_markdown
    from datagen.config import load_params

    params = copy.deepcopy(load_params(Path(__file__).resolve().parents[2] / "params.yaml"))
    params["labels"]["vad"] = {"method": "floor_relative", "threshold_db_above_floor": 10.0}
    d = pd.DataFrame(dict(achieved_snr_db=[5.0], snr_db=[5.0], duration_s=[1.0], speaker=["a"], noise_id=["n"],
                          reverb=[False], noise_class=["hiss"], n_frames=[3], vad=[np.array([0, 1, 1], np.uint8)],
                          voiced=[np.array([0, 1, 0], np.uint8)], noise_active=[np.array([1, 1, 1], np.uint8)]))
    md = card_markdown(params, {"test": d}, None, None)
    assert "VAD ground truth: `floor_relative`" in md and "floor + 10 dB" in md
    assert '"rule": "floor-relative-minstat"' in md and '"min_pause_s": 0.1' in md
