"""Parallel == serial, and `sebench score` end to end (dataset mode, failures counted, paired folders)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from bench.cli import main as sebench
from bench.score.external import match_system_files, paired_folder
from bench.score.runner import Task, attach_noisy, score_tasks

SR = 16000

METRICS = ("pesq_wb", "stoi", "estoi", "si_sdr")


def _tasks(root, meta, sysdir):
    files = match_system_files(sysdir, meta.assign(clean_path=[str(root / p) for p in meta.clean_path],
                                                   noisy_path=[str(root / p) for p in meta.noisy_path]))
    t = [Task("noisy", r.mixture_id, str(root / r.clean_path), str(root / r.noisy_path), METRICS)
         for r in meta.itertuples()]
    return t + [Task("sys", r.mixture_id, str(root / r.clean_path), files[r.mixture_id], METRICS)
                for r in meta.itertuples()]


def test_parallel_equals_serial(tmp_path, synth_ds, write_system):
    root, meta = synth_ds
    tasks = _tasks(root, meta, write_system(tmp_path / "sys", meta, root, 0.002))
    serial = score_tasks(tasks, workers=1, progress=False)
    parallel = score_tasks(tasks[::-1], workers=2, progress=False)  # other submission order, 2 processes
    pd.testing.assert_frame_equal(serial, parallel)
    assert len(serial) == len(tasks) * len(METRICS) and (serial.status == "ok").all()
    imp = attach_noisy(serial)
    assert (imp[imp.system == "noisy"]["improvement"] == 0).all()
    s = imp[(imp.system == "sys") & (imp.metric == "si_sdr")]
    assert (s["improvement"] > 0).all()   # clean + tiny noise beats the noisy mixture


def _params(tmp_path, root, levels):
    # the repo's params.yaml (sebench validates the whole file before any stage) with this test's values
    p = yaml.safe_load((Path(__file__).resolve().parents[3] / "params.yaml").read_text())
    p["seed"] = 11
    p["paths"].update(dataset_dir=str(root), enhanced_dir=str(tmp_path / "enh"), scores_dir=str(tmp_path / "scores"),
                      reports_dir=str(tmp_path / "reports"))
    p["levels"], p["gated_levels"] = levels, [k for k, v in levels.items() if v < 1.0]
    p["train"]["joint"]["levels"], p["report"]["example_level"] = [], None
    p["train"]["replicate_seeds"], p["train"]["replicate_levels"] = [], []   # no seed replicates here
    p["causal"] = {"static_levels": [], "gated_levels": {}}                    # nor causal twins
    if "budget_overrides" in p["train"]:   # per-level settings of the repo's levels do not apply here
        p["train"]["budget_overrides"] = {}
    p["train"]["init_gated_from"] = "static" if "static" in levels else None
    p["report"]["reference"] = "static" if "static" in levels else "noisy"
    p["score"].update(workers=2, bootstrap_n=200, metrics=list(METRICS))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


def test_cli_dataset_mode_counts_failures(tmp_path, synth_ds, write_system):
    src, _ = synth_ds
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    from datagen.dataset import load_metadata
    meta = load_metadata(root, "test")
    write_system(tmp_path / "enh" / "static" / "audio", meta, root, 0.001, seed=1)
    write_system(tmp_path / "enh" / "keep50" / "audio", meta, root, 0.004, seed=2)
    # external system named like the noisy files, one file missing
    ext = write_system(tmp_path / "ext", meta, root, 0.01, seed=3, name_fn=lambda r: f"{r.mixture_id}_noisy.wav")
    (ext / f"{meta.mixture_id.iloc[1]}_noisy.wav").unlink()
    # a silent reference: PESQ/STOI/SI-SDR must fail for that utterance, in every system
    silent = root / meta.clean_path.iloc[0]
    sf.write(silent, np.zeros(int(meta.n_samples.iloc[0])), SR, subtype="PCM_16")
    params = _params(tmp_path, root, {"static": 1.0, "keep50": 0.5})
    # --out: every system in one folder (without it, --system runs go to data/scores_external: tests/bench/test_cli_external.py)
    rep = tmp_path / "out"
    assert sebench(["score", "--params", str(params), "--quiet", "--system", f"ext={ext}", "--out", str(rep)]) == 0

    per = pd.read_parquet(rep / "per_utterance.parquet")
    assert set(per.system) == {"noisy", "static", "keep50", "ext"} and len(per) == 4 * 4 * len(METRICS)
    assert {"noisy_value", "improvement", "reason", "status"} <= set(per.columns)
    f = per[per.mixture_id == meta.mixture_id.iloc[0]]
    assert (f.status == "failed").all() and f[f.metric == "pesq_wb"].reason.str.contains("No utterances").all()
    s = pd.read_csv(rep / "scores_summary.csv").set_index(["system", "metric"])
    assert s.loc[("static", "pesq_wb"), "n_scored"] == 3 and s.loc[("static", "pesq_wb"), "n_total"] == 4
    assert s.loc[("ext", "stoi"), "n_scored"] == 2                       # silent ref + missing file
    assert (s["ci95_low"] <= s["mean"]).all() and (s["mean"] <= s["ci95_high"]).all()
    assert s.loc[("static", "pesq_wb"), "version"] == "0.0.4" and "P.862.2" in s.loc[("static", "pesq_wb"), "mode"]
    assert s.loc[("static", "si_sdr"), "mean"] > s.loc[("keep50", "si_sdr"), "mean"] > s.loc[("noisy", "si_sdr"), "mean"]
    p = pd.read_csv(rep / "scores_paired.csv").set_index(["system", "metric"])
    assert p.loc[("keep50", "si_sdr"), "ci95_high"] < 0 and p.loc[("keep50", "si_sdr"), "n_paired"] == 3
    b = pd.read_csv(rep / "scores_breakdown.csv")
    assert set(b.group_by) == {"snr_bin", "noise_class", "reverb"}
    js = json.loads((rep / "scores.json").read_text())
    assert js["systems"]["static"]["pesq_wb"]["n_total"] == 4 and "keep50" in js["paired_vs_static"]
    assert js["metrics"]["pesq_wb"]["version"] == "0.0.4" and js["env"]["packages"]["pystoi"] == "0.4.1"
    # CIs by the cluster bootstrap over the metadata's source clips (this dataset names noise clips only)
    assert js["config"]["bootstrap_clusters"] == {"noise_id": int(meta.noise_id.nunique())}
    assert "cluster bootstrap over source clips" in js["config"]["ci"]
    assert (rep / "scores_per_utterance.csv").is_file()

    # a level whose folder does not exist is an error naming it
    bad = _params(tmp_path, root, {"static": 1.0, "keep10": 0.1})
    with pytest.raises(FileNotFoundError, match="keep10"):
        sebench(["score", "--params", str(bad), "--quiet"])


def test_cli_paired_folder_dataset(tmp_path, synth_ds):
    src, meta = synth_ds
    vbd = tmp_path / "vbd"
    (vbd / "clean_testset_wav").mkdir(parents=True)
    (vbd / "noisy_testset_wav").mkdir()
    for i, r in enumerate(meta.itertuples()):
        shutil.copy(src / r.clean_path, vbd / "clean_testset_wav" / f"p232_{i:03d}.wav")
        shutil.copy(src / r.noisy_path, vbd / "noisy_testset_wav" / f"p232_{i:03d}.wav")
    utts = paired_folder(vbd, "clean_testset_wav", "noisy_testset_wav")
    assert list(utts.mixture_id) == [f"p232_{i:03d}" for i in range(len(meta))]
    sysdir = tmp_path / "mysys"
    sysdir.mkdir()
    for r in utts.itertuples():   # a 48 kHz system output (resampled to 16 kHz with soxr HQ)
        import soxr
        x, _ = sf.read(r.clean_path)
        sf.write(sysdir / f"{r.mixture_id}.wav", soxr.resample(x, SR, 48000), 48000, subtype="PCM_16")
    params = _params(tmp_path, src, {})
    out = tmp_path / "out"
    assert sebench(["score", "--params", str(params), "--quiet", "--paired-dir", str(vbd), "--system",
                    f"mysys={sysdir}", "--out", str(out), "--workers", "1", "--metrics", "si_sdr,stoi"]) == 0
    per = pd.read_parquet(out / "per_utterance.parquet")
    m = per[per.system == "mysys"]
    assert (m.resample_method == "soxr HQ").all() and (m.file_sample_rate_hz == 48000).all()
    assert (m[m.metric == "stoi"].value > 0.9).all() and (m[m.metric == "si_sdr"].value > 40).all()
    s = pd.read_csv(out / "scores_summary.csv")
    assert set(s.system) == {"noisy", "mysys"} and (s.n_scored == len(meta)).all()
    assert len(pd.read_csv(out / "scores_paired.csv")) == 0  # no "static" system here
    js = json.loads((out / "scores.json").read_text())
    assert js["config"]["mode"] == "paired_dir" and js["config"]["n_resampled_files"] == len(meta)

    (vbd / "noisy_testset_wav" / "p232_000.wav").unlink()
    with pytest.raises(ValueError, match="only in clean_testset_wav"):
        paired_folder(vbd, "clean_testset_wav", "noisy_testset_wav")


def test_dnsmos_cap_counts_skipped_rows(tmp_path):
    """Capped metrics are recorded as 'skipped' with a reason and excluded from n_scored, never dropped."""
    import numpy as np
    import soundfile as sf

    from bench.score.bootstrap import summarize
    from bench.score.metrics import METRIC_INFO
    from bench.score.runner import Task, score_tasks

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    sf.write(tmp_path / "ref.wav", x, 16000)
    tasks = [Task("sys", f"m{i}", str(tmp_path / "ref.wav"), str(tmp_path / "ref.wav"), ("si_sdr", "stoi"),
                  skip_metrics=("stoi",) if i >= 2 else (), skip_reason="cap") for i in range(3)]
    df = score_tasks(tasks, workers=1, progress=False)
    st = df[df.metric == "stoi"].set_index("mixture_id")
    assert list(st["status"]) == ["ok", "ok", "skipped"] and st.loc["m2", "reason"] == "cap"
    summ = summarize(df, 50, 0, METRIC_INFO).set_index("metric")
    assert summ.loc["stoi", "n_scored"] == 2 and summ.loc["stoi", "n_total"] == 3
    assert summ.loc["si_sdr", "n_scored"] == 3
