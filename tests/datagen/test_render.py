import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import yaml

from datagen.frames import FrameGrid
from datagen.plan import make_plan
from datagen.render import render

REPO = Path(__file__).resolve().parents[2]


def _plan(p):
    m = pd.read_parquet(Path(p["paths"]["corpus_dir"]) / "manifest.parquet")
    plan = make_plan(m, p)
    Path(p["paths"]["plan_dir"]).mkdir(parents=True, exist_ok=True)
    plan.to_parquet(Path(p["paths"]["plan_dir"]) / "plan.parquet", index=False)
    return plan


def _digest(d: Path) -> dict:
    return {str(f.relative_to(d)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(d.rglob("*")) if f.is_file()}


def _with_dataset_dir(p, d):
    q = json.loads(json.dumps(p))
    q["paths"]["dataset_dir"] = str(d)
    return q


def test_shards_and_reruns_are_byte_identical(tiny_params, tmp_path):
    _plan(tiny_params)
    a, b = tmp_path / "one", tmp_path / "three"
    render(_with_dataset_dir(tiny_params, a), (0, 1), workers=1)
    for k in (2, 0, 1):  # any order
        render(_with_dataset_dir(tiny_params, b), (k, 3), workers=1)
    da, db = _digest(a), _digest(b)
    assert da and da == db
    again = render(_with_dataset_dir(tiny_params, a), (0, 1), workers=2)
    assert again["rendered"] == 0 and _digest(a) == da


def test_rendered_mixtures_sum_and_snr(tiny_params, tmp_path):
    plan = _plan(tiny_params).set_index("mixture_id")
    d = tmp_path / "ds"
    render(_with_dataset_dir(tiny_params, d), workers=2)
    grid = FrameGrid()
    assert plan["reverb"].any() and not plan["reverb"].all()
    for meta_p in sorted((d / "render_meta").glob("*.json")):
        meta = json.loads(meta_p.read_text())
        mid = meta["mixture_id"]
        noisy, sr = sf.read(d / meta["noisy_path"], dtype="int16")
        speech, _ = sf.read(d / meta["speech_path"], dtype="int16")
        noise, _ = sf.read(d / meta["noise_path"], dtype="int16")
        clean, _ = sf.read(d / meta["clean_path"], dtype="int16")
        assert sr == 16000 and len(noisy) == plan.loc[mid, "n_samples"] == len(clean)
        assert np.array_equal(speech.astype(np.int32) + noise, noisy.astype(np.int32)), mid
        assert abs(meta["achieved_snr_db"] - plan.loc[mid, "snr_db"]) < 0.1, mid
        if plan.loc[mid, "reverb"]:
            assert np.isfinite(meta["rt60_measured_s"]) and not np.array_equal(speech, clean)
        assert grid.n_frames(len(noisy)) == 1 + len(noisy) // 256


def test_resume_after_kill_gives_identical_bytes(tiny_params, tmp_path):
    tiny_params["plan"]["n_mixtures"] = {"train": 24, "valid": 2, "test": 2}
    _plan(tiny_params)
    ref = tmp_path / "ref"
    render(_with_dataset_dir(tiny_params, ref), workers=1)
    killed = tmp_path / "killed"
    q = _with_dataset_dir(tiny_params, killed)
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(q))
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "render", "--params", str(pfile), "--workers", "1"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while len(list((killed / "render_meta").glob("*.json"))) < 3 and time.time() - t0 < 120:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(list((killed / "render_meta").glob("*.json")))
    assert 3 <= n_done < 28, "kill should land mid-render"
    final_names = [f for f in (killed / "audio").rglob("*.wav") if ".tmp" not in f.name]
    for f in final_names:  # nothing visible under a final name is partial
        sf.read(f)
    res = render(q, workers=1)
    assert res["skipped"] >= n_done and res["rendered"] == 28 - res["skipped"]
    assert _digest(killed) == _digest(ref)
