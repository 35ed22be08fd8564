import json

import numpy as np
import pandas as pd
import yaml

from bench.probes.cli import cli


def _params(root, **probe):
    p = yaml.safe_load(open("params.yaml"))
    p["paths"].update(dataset_dir=str(root / "dataset"), enhanced_dir=str(root / "enhanced"),
                      probes_dir=str(root / "probes"), reports_dir=str(root / "reports"))
    p["levels"] = {"static": 1.0, "keep50": 0.5, "keep25": 0.25}
    p["causal"] = {"static_levels": [], "gated_levels": {}}
    p["probe"] = dict(seeds=[0, 1], max_train_frames=1500, max_valid_frames=600, c_star_grid=[2, 16, "all"],
                      c_star_tol=0.01, curve_seeds=1, reg_grid_logistic=[0.1, 1.0], reg_grid_ridge=[1.0, 100.0],
                      mlp=dict(enabled=True, hidden=16, alpha_grid=[1e-3], max_iter=40, max_train_frames=800),
                      tsne_frames=150)
    p["probe"].update(probe)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


def test_probe_stage_end_to_end(synth_root):
    assert cli(["--params", str(_params(synth_root, control_seeds=1))]) == 0
    rep = synth_root / "reports"
    s = pd.read_csv(rep / "probes.csv")
    # probes on both seeds; fitted controls on the first seed only (probe.control_seeds), majority on all
    seeds_of = s.groupby("features")["n_seeds"].max().to_dict()
    assert seeds_of["masks"] == 2 and seeds_of["majority"] == 2
    assert all(seeds_of[f] == 1 for f in ("random_masks", "shuffled_labels", "logmel", "static_act_binarised",
                                          "block_counts", "log_energy"))
    assert {"level", "task", "probe", "features", "metric", "mean", "std", "n_test_frames", "n_features",
            "c_star"} <= set(s.columns)
    assert set(s["features"]) == {"masks", "random_masks", "shuffled_labels", "majority", "logmel",
                                  "static_act_binarised", "block_counts", "log_energy"}
    # CIs (cluster bootstrap over test mixtures) on every score row, bracketing the mean; none on cost rows
    score = s[~s["metric"].isin(["adds_per_frame", "cost_frac_dynamic", "cost_frac_dense"])]
    assert score[["ci95_low", "ci95_high"]].notna().all().all()
    assert ((score["ci95_low"] <= score["mean"] + 1e-9) & (score["mean"] <= score["ci95_high"] + 1e-9)).mean() > 0.95
    assert s[s["metric"] == "adds_per_frame"]["ci95_low"].isna().all()
    assert set(s[s.features == "block_counts"]["n_features"]) == {3}      # one feature per gated block
    assert set(s[s.features == "log_energy"]["n_features"]) == {1} and set(s[s.features == "log_energy"]["level"]) \
        == {"input"}

    def val(level, task, feats, metric, probe="linear", n=48):
        r = s[(s.level == level) & (s.task == task) & (s.features == feats) & (s.metric == metric) & (s.probe == probe)]
        if feats not in ("majority", "logmel", "static_act_binarised"):
            r = r[r.n_features == n]
        assert len(r) == 1, (level, task, feats, metric, r)
        return r["mean"].iloc[0]

    assert val("keep50", "vad", "masks", "acc") > 0.95
    assert val("keep50", "vad", "masks", "acc", probe="mlp") > 0.9
    assert abs(val("keep50", "vad", "random_masks", "bal_acc") - 0.5) < 0.1
    assert abs(val("keep50", "vad", "shuffled_labels", "bal_acc") - 0.5) < 0.1
    assert abs(val("keep25", "vad", "masks", "bal_acc") - 0.5) < 0.1  # the all-random level
    assert val("keep50", "f0", "masks", "r2_cents") > 0.8
    # planted static channel 0, but binarised at the gated level's density (~0.37 < speech fraction): partial
    assert val("keep50", "vad", "static_act_binarised", "bal_acc") > val("keep50", "vad", "random_masks", "bal_acc") + 0.1
    # C* in the grid, and the probe at C* has a row; cost fraction = adds / dynamic MACs (5000 per frame)
    cs = json.loads((synth_root / "probes" / "c_star.json").read_text())["c_star"]
    assert cs["keep50"]["vad"] in (2, 16, 48)
    k = cs["keep50"]["vad"]
    adds = val("keep50", "vad", "masks", "adds_per_frame", n=k)
    assert 0 < adds <= k
    assert np.isclose(val("keep50", "vad", "masks", "cost_frac_dynamic", n=k), adds / 5000.0)
    head = json.loads((rep / "probes.json").read_text())
    assert set(head) == {"keep50", "keep25"} and head["keep50"]["vad_acc"] > 0.95
    assert head["keep50"]["vad_acc_ci95_low"] <= head["keep50"]["vad_acc"] <= head["keep50"]["vad_acc_ci95_high"]
    # channel identity: the planted one-hot noise channels are invisible to per-block counts
    assert head["keep50"]["noise_acc_beyond_count_ci95_low"] > 0
    b = pd.read_csv(synth_root / "probes" / "beyond_controls.csv")
    r = b[(b.level == "keep50") & (b.task == "noise") & (b.control == "block_counts")].iloc[0]
    assert r["diff"] == r["masks"] - r["control_value"] and r["ci95_low"] <= r["diff"] <= r["ci95_high"]
    # the all-random level carries nothing beyond its counts
    r = b[(b.level == "keep25") & (b.task == "vad") & (b.control == "block_counts")].iloc[0]
    assert r["ci95_low"] <= 0.02
    md = (rep / "probes.md").read_text()
    assert "masks - counts" in md and "2602.10666" not in md and "paper" not in md.lower()
    assert head["keep50"]["probe_cost_frac"] > 0
    curves = pd.read_csv(synth_root / "probes" / "curves.csv")
    assert set(curves["k"]) == {2, 16, 48} and set(curves["split"]) == {"train", "valid", "test"}
    for name in ("curves.png", "tsne_keep50.png", "heatmap_vad_keep50.png", "confusion_noise_keep50.png"):
        assert (rep / "probes" / name).stat().st_size > 1000
    assert "VAD acc" in (rep / "probes.md").read_text()
    # deterministic: a second (slimmer) run reproduces the linear mask-probe rows exactly
    runs1 = pd.read_csv(synth_root / "probes" / "runs.csv")
    slim = _params(synth_root, controls=[], mlp=dict(enabled=False))
    assert cli(["--params", str(slim), "--no-plots", "--levels", "keep50"]) == 0
    runs2 = pd.read_csv(synth_root / "probes" / "runs.csv")
    sel = lambda r: r[(r.level == "keep50") & (r.features == "masks") & (r.probe == "linear")].reset_index(drop=True)
    assert len(sel(runs1)) > 0
    pd.testing.assert_frame_equal(sel(runs1), sel(runs2))


def test_parallel_levels_give_identical_results(synth_root, tmp_path):
    """probe.workers: levels probed in forked workers give the same bytes as the serial run."""
    import shutil

    outs = []
    for w in (1, 2):
        root = tmp_path / f"w{w}"
        root.mkdir()
        for d in ("dataset", "enhanced"):
            (root / d).symlink_to(synth_root / d)
        assert cli(["--params", str(_params(root, workers=w, seeds=[0], controls=["majority", "shuffled_labels"],
                                            mlp=dict(enabled=False))), "--no-plots"]) == 0
        outs.append({f: (root / "reports" / f).read_bytes() for f in ("probes.csv", "probes.json")}
                    | {"runs": (root / "probes" / "runs.csv").read_bytes()})
        shutil.rmtree(root / "probes")
    assert outs[0] == outs[1]
