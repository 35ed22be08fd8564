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
from datagen.render import RenderOwner, render

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


def _shard_cmd(pfile: Path, k: int, n: int) -> list[str]:
    return [sys.executable, "-m", "bench.cli", "render", "--params", str(pfile), "--workers", "1",
            "--shard", f"{k}/{n}"]


def _n_meta(d: Path, ids: set[str]) -> int:
    return sum(1 for f in (d / "render_meta").glob("*.json") if f.stem in ids)


def _wait_for(cond, what: str, timeout_s: float = 120.0) -> None:
    t0 = time.time()
    while not cond():
        assert time.time() - t0 < timeout_s, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_concurrent_staggered_shards_with_sigkill_equal_single_process(tiny_params, tmp_path):
    """3 shards run at once into one folder, each started (and cleaning up) while the earlier ones write;
    the last one is SIGKILLed mid-way and restarted at once: every other process succeeds and the bytes equal
    a single-process render (the old start-up cleanup deleted live shards' temps -> FileNotFoundError)."""
    tiny_params["plan"]["n_mixtures"] = {"train": 40, "valid": 7, "test": 7}
    ids = sorted(_plan(tiny_params)["mixture_id"])
    shard_ids = {k: {m for i, m in enumerate(ids) if i % 3 == k} for k in range(3)}
    ref = tmp_path / "ref"
    render(_with_dataset_dir(tiny_params, ref), workers=1)
    conc = tmp_path / "concurrent"
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(_with_dataset_dir(tiny_params, conc)))
    logs = {k: open(tmp_path / f"shard{k}.log", "w") for k in ("0", "1", "2", "2b")}
    procs, overlap = {}, []
    # this test process is one more live writer: its in-flight temps must survive every shard's start-up cleanup
    writer = RenderOwner(conc).__enter__()
    in_flight = [conc / "render_meta" / f"{ids[0]}.json.{writer.tag}.tmp",
                 conc / "audio" / "train" / f"{ids[0]}_noisy.wav.{writer.tag}.tmp"]
    for f in in_flight:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"being written")
    try:
        for k in (0, 1, 2):   # staggered starts (start-up, i.e. imports, takes seconds: they overlap)
            if k:
                time.sleep(1.0)
            overlap.append([j for j in range(k) if procs[str(j)].poll() is None])
            procs[str(k)] = subprocess.Popen(_shard_cmd(pfile, k, 3), cwd=REPO, stdout=logs[str(k)],
                                             stderr=subprocess.STDOUT)
        _wait_for(lambda: _n_meta(conc, shard_ids[2]) >= 2, "shard 2 to render 2 mixtures")
        procs["2"].send_signal(signal.SIGKILL)
        procs["2"].wait()
        n_killed = _n_meta(conc, shard_ids[2])
        assert n_killed < len(shard_ids[2]), "the kill should land mid-shard"
        overlap.append([j for j in range(2) if procs[str(j)].poll() is None])
        procs["2b"] = subprocess.Popen(_shard_cmd(pfile, 2, 3), cwd=REPO, stdout=logs["2b"], stderr=subprocess.STDOUT)
        rcs = {k: p.wait(timeout=180) for k, p in procs.items() if k != "2"}
        survived = [f.exists() for f in in_flight]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in logs.values():
            f.close()
        for f in in_flight:
            f.unlink(missing_ok=True)
        writer.__exit__(None, None, None)
    tails = {k: (tmp_path / f"shard{k}.log").read_text()[-1500:] for k in rcs}
    assert rcs == {"0": 0, "1": 0, "2b": 0}, tails
    assert survived == [True, True], "a shard deleted a live writer's temp file"
    assert procs["2"].returncode == -signal.SIGKILL
    assert f"'skipped': {n_killed}" in tails["2b"], tails["2b"]       # resumed: finished mixtures kept
    assert not list(conc.rglob("*.tmp")) and not list((conc / ".render_locks").iterdir())
    assert _digest(conc) == _digest(ref)
    print(f"shards running when shard 0, 1, 2 and the restart of 2 began: {overlap}")


_HOLD_LOCK = ("import sys, time\nfrom datagen.render import RenderOwner\n"
              "o = RenderOwner(sys.argv[1]).__enter__()\nprint(o.tag, flush=True)\ntime.sleep(120)\n")


def test_stale_temp_cleanup_spares_live_owners(tmp_path):
    """Only provably stale temps go: owner's lock free AND (owner pid dead on this host, or older than
    STALE_AGE_S). Live owners' temps (a process holding its lock; this process) are kept whatever their age."""
    import os

    from datagen.render import LOCK_DIR, STALE_AGE_S, RenderOwner, _host, remove_stale_temps

    d = tmp_path / "ds"
    (d / "audio" / "train").mkdir(parents=True)
    (d / "render_meta").mkdir()
    live = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(d)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    dead = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(d)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        live_tag, dead_tag = live.stdout.readline().strip(), dead.stdout.readline().strip()
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        host, very_old = _host(), time.time() - STALE_AGE_S - 60
        with RenderOwner(d) as me:
            def tmp(folder, name, tag, age_old=False):
                p = d / folder / f"{name}.{tag}.tmp"
                p.write_bytes(b"partial")
                if age_old:
                    os.utime(p, (very_old, very_old))
                return p
            keep = [tmp("audio/train", "a_noisy.wav", live_tag, age_old=True),       # live lock, old: kept
                    tmp("render_meta", "a.json", live_tag),
                    tmp("audio/train", "b_noisy.wav", me.tag, age_old=True),          # this process
                    tmp("audio/train", "c_noisy.wav", f"1-abcdef01@not-{host}"),      # other host, young
                    tmp("audio/train", "d_noisy.wav", f"{os.getpid()}-00000000@{host}")]  # pid alive, no lock, young
            gone = [tmp("audio/train", "e_noisy.wav", dead_tag), tmp("render_meta", "e.json", dead_tag),
                    tmp("audio/train", "f_noisy.wav", f"1-abcdef02@not-{host}", age_old=True),
                    tmp("audio/train", "g_noisy.wav", f"{os.getpid()}-00000001@{host}", age_old=True)]
            legacy_old = d / "audio" / "train" / "h_noisy.wav.tmp.wav"
            legacy_old.write_bytes(b"x")
            os.utime(legacy_old, (very_old, very_old))
            legacy_young = d / "render_meta" / "h.json.tmp"
            legacy_young.write_bytes(b"x")
            dead_lock = d / LOCK_DIR / f"{dead_tag}.lock"
            assert dead_lock.is_file()
            removed = remove_stale_temps(d)
            assert sorted(removed) == sorted(gone + [legacy_old, dead_lock])
            assert all(p.exists() for p in keep + [legacy_young, me.lock_path, d / LOCK_DIR / f"{live_tag}.lock"])
        assert not me.lock_path.exists()                                  # released on exit
    finally:
        live.kill()
        live.wait()


def test_row_hash_follows_source_content():
    """A source clip rebuilt under the same id (new sha256) changes the row identity -> re-render, not stale audio."""
    from datagen.render import row_hash

    params = {"frames": {"sample_rate_hz": 16000, "hop_length": 256, "n_fft": 512}, "labels": {"vad": {"method": "energy"}}}
    row = {"mixture_id": "test-000001", "speech_ids": ["sp/a"], "noise_id": "nz/b", "snr_db": 5.0}
    h = row_hash(row, params, {"sp/a": "11", "nz/b": "22"})
    assert h == row_hash(row, params, {"sp/a": "11", "nz/b": "22", "other": "33"})
    assert h != row_hash(row, params, {"sp/a": "11", "nz/b": "23"})
    assert h != row_hash(row, params, {"sp/a": "12", "nz/b": "22"})
