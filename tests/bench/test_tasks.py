"""bench.tasks: the frame sets shared by probes and baselines."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.tasks import seen_noise_rows, segment_labels, task_frames


def _meta(classes: list[int], n: int = 5) -> pd.DataFrame:
    return pd.DataFrame(dict(
        mixture_id=[f"m{i}" for i in range(len(classes))], n_frames=n, noise_class_id=classes,
        vad=[np.ones(n, np.uint8)] * len(classes), noise_active=[np.r_[np.zeros(2), np.ones(n - 2)]] * len(classes),
        voiced=[np.zeros(n, bool)] * len(classes), f0_hz=[np.zeros(n, np.float32)] * len(classes),
        frame_snr_db=[np.zeros(n, np.float32)] * len(classes)))


def test_noise_frames_are_the_noise_active_ones():
    tf = task_frames(_meta([0, 1]), "noise")
    assert list(tf.mixture_id) == ["m0"] * 3 + ["m1"] * 3 and list(tf.frame) == [2, 3, 4] * 2
    assert list(tf.y) == [0, 0, 0, 1, 1, 1]


def test_unseen_noise_classes_are_excluded_and_named():
    test = _meta([0, 3, 1, 4, 3])
    kept, dropped = seen_noise_rows(test, train_class_ids=np.array([0, 1, 2]))
    assert list(kept["mixture_id"]) == ["m0", "m2"] and dropped == [3, 4]
    assert set(task_frames(kept, "noise").y) == {0, 1}
    assert list(segment_labels(kept)[1]) == [0, 1]
    none, dropped = seen_noise_rows(_meta([5, 6]), [0, 1])     # VBD: test noises all unseen
    assert len(none) == 0 and dropped == [5, 6] and len(task_frames(none, "noise").y) == 0
    same, dropped = seen_noise_rows(test, range(10))
    assert same.equals(test) and dropped == []


def test_every_consumer_reads_the_task_list_from_the_spec():
    """Probes, baselines, joint heads and the leaderboard take task names, metrics and columns from
    bench.tasks.SPECS (no second list to keep in step)."""
    from bench import joint
    from bench.baselines import cli as baselines_cli
    from bench.probes import cli as probes_cli
    from bench.probes import linear
    from bench.report import leaderboard
    from bench.tasks import ALL_TASKS, FRAME_TASKS, HEAD_METRIC, SPECS

    assert probes_cli.TASKS == ALL_TASKS and set(FRAME_TASKS) < set(ALL_TASKS)
    assert probes_cli.HEAD_NAME == {t: s.column for t, s in SPECS.items()}
    assert baselines_cli.PRIMARY == HEAD_METRIC == leaderboard.BASELINE_PRIMARY
    assert linear.SELECT_METRIC == {t: s.select_metric for t, s in SPECS.items()}
    assert leaderboard.PROBE_CI_COLUMNS == tuple(SPECS[t].column for t in FRAME_TASKS)
    assert leaderboard.PAPER_PROBES == {"vad_acc": 0.93, "noise_acc": 0.84, "f0_r2": 0.86}
    assert set(joint.JOINT_TASKS) <= set(FRAME_TASKS)


def test_a_new_task_is_one_spec_entry(monkeypatch):
    """Adding a TaskSpec (here: frame SNR on every frame, an existing label column) gives its frames,
    its probe metrics and its selection metric without touching another module."""
    from bench import tasks as T
    from bench.probes import linear

    new = T.TaskSpec("snr_all", "regression", "frame_snr_db", None, "r2", "r2", "snr_all_r2", "SNR R² (all frames)",
                     unit="db")
    monkeypatch.setitem(T.SPECS, "snr_all", new)
    monkeypatch.setitem(T.TASK_KIND, "snr_all", "regression")
    meta = _meta([0, 1])
    meta["frame_snr_db"] = [np.arange(5, dtype=np.float32), np.arange(5, dtype=np.float32) + 10]
    tf = task_frames(meta, "snr_all")
    assert len(tf.y) == 10 and list(tf.y[:5]) == [0, 1, 2, 3, 4]          # every frame, no selection column
    m = linear.metrics("snr_all", tf.y, tf.y + 1.0)
    assert set(m) == {"r2", "mae_db"} and m["mae_db"] == 1.0


def test_unknown_task_names_the_known_ones():
    import pytest

    from bench.tasks import spec

    with pytest.raises(ValueError, match="vad"):
        spec("pitch")
    with pytest.raises(ValueError, match="segment"):
        task_frames(_meta([0]), "noise_seg")


def test_per_task_frame_rules():
    """vad: every frame; f0: voiced frames only (Hz); snr: speech frames; noise: noise-active frames."""
    meta = _meta([2], n=4)
    meta["vad"] = [np.array([0, 1, 1, 0], np.uint8)]
    meta["voiced"] = [np.array([0, 0, 1, 0], bool)]
    meta["f0_hz"] = [np.array([0, 0, 150, 0], np.float32)]
    meta["frame_snr_db"] = [np.array([1, 2, 3, 4], np.float32)]
    assert list(task_frames(meta, "vad").y) == [0, 1, 1, 0]
    f0 = task_frames(meta, "f0")
    assert list(f0.frame) == [2] and f0.y.dtype == np.float32 and f0.y[0] == 150
    assert list(task_frames(meta, "snr").frame) == [1, 2] and list(task_frames(meta, "snr").y) == [2, 3]
    assert task_frames(meta, "noise").y.dtype == np.int64
