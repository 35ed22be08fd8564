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
