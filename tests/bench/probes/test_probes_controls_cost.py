import numpy as np
import pytest

from bench.probes import controls, cost, features
from bench.probes.linear import fit_probe, metrics
from bench.tasks import task_frames

SPL = ("train", "valid", "test")


def test_shuffled_labels_score_at_chance(synth_root, metas):
    d = {}
    for s in SPL:
        m, _ = features.load_level_masks(synth_root / "enhanced", "keep50", s, metas[s])
        tf = task_frames(metas[s], "vad")
        d[s] = (features.frame_matrix(m, tf), tf.y)
    true = fit_probe("vad", *d["train"], *d["valid"], [0.1])
    ctrl = fit_probe("vad", d["train"][0], controls.shuffled(d["train"][1], 0), *d["valid"], [0.1])
    m_true = metrics("vad", d["test"][1], true.predict(d["test"][0]))
    m_ctrl = metrics("vad", d["test"][1], ctrl.predict(d["test"][0]))
    assert abs(m_ctrl["bal_acc"] - 0.5) < 0.1
    assert m_true["bal_acc"] - m_ctrl["bal_acc"] > 0.35  # selectivity
    np.testing.assert_array_equal(np.sort(controls.shuffled(d["train"][1], 3)), np.sort(d["train"][1]))


def test_random_masks_match_rates():
    rng = np.random.default_rng(0)
    like = {f"m{i}": rng.random((500, 6)) < 0.5 for i in range(4)}
    rates = np.array([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    r = controls.random_masks(like, rates, seed=1)
    assert set(r) == set(like) and all(r[k].shape == (500, 6) for k in r)
    np.testing.assert_allclose(controls.firing_rates(r), rates, atol=0.03)
    assert np.array_equal(r["m0"], controls.random_masks(like, rates, seed=1)["m0"])


def test_binarised_activations_match_density(synth_root, metas):
    acts, _ = features.load_activations(synth_root / "enhanced" / "static" / "activations_train.npz", metas["train"])
    thr = controls.density_thresholds(acts, 0.3)
    b = controls.binarise(acts, thr)
    np.testing.assert_allclose(controls.firing_rates(b), 0.3, atol=0.01)
    assert all(v.all() for v in controls.binarise(acts, controls.density_thresholds(acts, 1.0)).values())
    assert not any(v.any() for v in controls.binarise(acts, controls.density_thresholds(acts, 0.0)).values())
    with pytest.raises(ValueError):
        controls.density_thresholds(acts, 1.5)


def test_majority_predictor():
    assert (controls.majority_predict("noise", np.array([2, 2, 1]), 4) == 2).all()
    assert controls.majority_predict("snr", np.array([0.0, 10.0]), 2)[0] == pytest.approx(5.0)
    assert controls.majority_predict("f0", np.array([100.0, 400.0]), 1)[0] == pytest.approx(200.0)  # geometric


def test_additions_exact_by_hand():
    masks = np.array([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    w = np.array([0.5, -2.0, 0.0, 1.0])  # channel 2 has a zero weight -> free
    np.testing.assert_array_equal(cost.additions_per_frame(masks, w), [2, 0, 3])
    w3 = np.array([[0.5, -2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])  # 3 classes
    np.testing.assert_array_equal(cost.additions_per_frame(masks, w3), [2 + 1 + 3, 0, 3 + 1 + 4])
    with pytest.raises(ValueError):
        cost.additions_per_frame(masks, w[:3])
    np.testing.assert_array_equal(cost.mlp_ops_per_frame(masks, 8, 2), [3 * 8 + 16, 16, 4 * 8 + 16])


def test_folded_weights_reproduce_probe(synth_root, metas):
    """Standardiser folded into the weights: b + sum of weights of active channels == decision function."""
    m, _ = features.load_level_masks(synth_root / "enhanced", "keep50", "train", metas["train"])
    mv, _ = features.load_level_masks(synth_root / "enhanced", "keep50", "valid", metas["valid"])
    for task in ("noise", "snr"):
        tf, tv = task_frames(metas["train"], task), task_frames(metas["valid"], task)
        x, xv = features.frame_matrix(m, tf), features.frame_matrix(mv, tv)
        pr = fit_probe(task, x, tf.y, xv, tv.y, [1.0])
        w, b = pr.folded()
        direct = np.array([b + w[:, row].sum(1) for row in xv.astype(bool)])
        ref = pr.model.decision_function(pr.scaler.transform(xv)) if task == "noise" else \
            pr.model.predict(pr.scaler.transform(xv))[:, None]
        np.testing.assert_allclose(direct, np.atleast_2d(ref.T).T, rtol=1e-4, atol=1e-4)


def test_se_macs_from_summary(tmp_path):
    p = tmp_path / "summary.json"
    p.write_text('{"macs": {"dense_macs_per_s": 625000.0, "dynamic_macs_per_s": 312500.0}}')
    assert cost.se_macs_per_frame(p, 62.5) == {"dense": 10000.0, "dynamic": 5000.0}
    p.write_text('{"dense_macs_per_frame": 7.0}')
    with pytest.raises(KeyError, match="dynamic"):
        cost.se_macs_per_frame(p, 62.5)
