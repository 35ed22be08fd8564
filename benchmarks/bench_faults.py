"""Fault injection: random SIGKILLs across render, labels and training of the tiny profile, then resume.

Usage: nice -n 10 python benchmarks/bench_faults.py [--n 5] [--seed 0] [--keep DIR]

1. An uninterrupted reference run of the `tiny` profile (params.yaml + profiles/tiny.yaml; levels static and
   keep50; absolute paths in a temp dir): corpus, plan, render, labels, train static, train keep50, each
   `python -m bench.cli <stage>` as a fresh process (as DVC runs them); the wall time of each stage is
   measured and its outputs snapshotted.
2. N trials. Each takes a stage (render, labels, train static, train keep50: each once per 4 trials, in random
   order) and draws a kill time uniform in [0.4, 0.95] x that stage's reference wall time (labels: of a rerun
   with the F0 cache warm; a stage that finishes first is redone with half the kill time, up to 4 times),
   restores the reference inputs of the stage in the same folder (same absolute paths, so the params and their
   hashes are the reference's), removes the stage's outputs, starts the stage, SIGKILLs its main process at
   the drawn time (like `kill -9` of a job; any child still alive 1 s later, which should not happen, is
   counted and killed), reruns the stage to completion and compares its outputs with the reference byte for
   byte.

Compared: render -> every file under the dataset's audio/ and render_meta/ (and no temp or lock file left in
the dataset folder); labels -> metadata/*.parquet, classes.json, dataset_info.json, the dataset card and its
figure; train -> model.pt, macs.json, config.json and train_summary.json without its timing/provenance fields
(wall_s, train_loop_wall_s, audio_s_per_s, trained_on, device_name). Corpus and plan are shared, not faulted.
Prints a table and writes reports/benchmarks/faults.json (machine named).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datagen.config import deep_merge, profile_path, validate  # noqa: E402
from bench.report.provenance import cpu_model  # noqa: E402

STAGES = {   # name -> sebench arguments
    "corpus": ["corpus"], "plan": ["plan"], "render": ["render"], "labels": ["labels"],
    "train_static": ["train", "--level", "static"], "train_keep50": ["train", "--level", "keep50"],
}
FAULTED = ("render", "labels", "train_static", "train_keep50")
SUMMARY_VOLATILE = ("wall_s", "train_loop_wall_s", "audio_s_per_s", "trained_on", "device_name")


def tiny_params(work: Path) -> dict:
    """params.yaml + profiles/tiny.yaml (as `sebench profile tiny`), levels static + keep50, absolute paths."""
    p = deep_merge(yaml.safe_load((REPO / "params.yaml").read_text()), yaml.safe_load(profile_path("tiny").read_text()))
    p["profile"] = "tiny"
    p["paths"] = {k: str(work / v) for k, v in p["paths"].items()}
    p["levels"] = {k: v for k, v in p["levels"].items() if k in ("static", "keep50")}
    p["gated_levels"] = ["keep50"]
    p["train"]["joint"] = dict(p["train"].get("joint") or {}, levels=[])
    p["train"]["budget_overrides"] = {k: v for k, v in (p["train"].get("budget_overrides") or {}).items()
                                      if k in p["gated_levels"]}
    validate(p, "benchmarks/bench_faults.py tiny params")
    return p


def outputs(stage: str, p: dict) -> list[Path]:
    """Files and folders a stage writes (removed before a trial of it)."""
    ds, rep, models = Path(p["paths"]["dataset_dir"]), Path(p["paths"]["reports_dir"]), Path(p["paths"]["models_dir"])
    if stage == "render":
        return [ds]
    if stage == "labels":
        return [ds / "metadata", ds / "classes.json", ds / "dataset_info.json", rep / "dataset_card.md",
                rep / "dataset_snr_level.png"]
    return [models / stage.split("_", 1)[1]]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(stage: str, p: dict, root: Path) -> dict[str, str]:
    """{relative path: sha256 (or canonical JSON)} of what a stage is compared on."""
    ds, models = Path(p["paths"]["dataset_dir"]), Path(p["paths"]["models_dir"])
    out: dict[str, str] = {}
    if stage == "render":
        files = sorted(f for d in ("audio", "render_meta") for f in (ds / d).rglob("*") if f.is_file())
        leftovers = sorted(str(f.relative_to(root)) for f in ds.rglob("*")
                           if f.is_file() and (f.name.endswith(".tmp") or f.suffix == ".lock"))
        out["leftover temp/lock files"] = json.dumps(leftovers)
    elif stage == "labels":
        files = [f for f in outputs("labels", p) if f.is_file()] + sorted((ds / "metadata").glob("*.parquet"))
    else:
        d = models / stage.split("_", 1)[1]
        files = [d / "model.pt", d / "macs.json", d / "config.json"]
        s = json.loads((d / "train_summary.json").read_text())
        out["train_summary.json (deterministic fields)"] = json.dumps(
            {k: v for k, v in s.items() if k not in SUMMARY_VOLATILE}, sort_keys=True)
    for f in files:
        out[str(f.relative_to(root))] = _sha(f) if f.is_file() else "missing"
    return out


def run_stage(stage: str, pfile: Path, env: dict, kill_after_s: float | None = None,
              outputs_of: list[Path] | None = None) -> dict:
    """Run one stage as its own process group; with ``kill_after_s``, SIGKILL its main process then."""
    cmd = [sys.executable, "-m", "bench.cli", *STAGES[stage], "--params", str(pfile), "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    res = {"stage": stage}
    if kill_after_s is None:
        out = proc.communicate()[0].decode(errors="replace")
        res.update(rc=proc.returncode, wall_s=time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
        return res
    try:
        proc.wait(timeout=kill_after_s)
        res.update(killed=False, rc=proc.returncode)          # finished before the kill time
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)                       # kill -9 of the job's main process
        proc.wait()
        res.update(killed=True, rc=proc.returncode)
    if outputs_of is not None:   # how far it got: files of the stage's outputs present at the kill
        res["files_present_at_kill"] = sum(1 for o in outputs_of for f in ([o] if o.is_file() else o.rglob("*"))
                                           if f.is_file())
    proc.stdout.close()
    time.sleep(1.0)
    orphans = _group_members(proc.pid)
    for pid in orphans:   # children that outlived their parent (PDEATHSIG should have killed them)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    res.update(kill_at_s=kill_after_s, orphans_after_kill=len(orphans))
    return res


def _group_members(pgid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5, help="fault trials")
    ap.add_argument("--seed", type=int, default=0, help="seed of the fault draws (stage, kill time)")
    ap.add_argument("--pipeline-seed", type=int, default=None, help="override params `seed` (default: the profile's)")
    ap.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temp dir, removed)")
    ap.add_argument("--out", default=str(REPO / "reports" / "benchmarks" / "faults.json"))
    a = ap.parse_args()
    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_faults_"))
    root.mkdir(parents=True, exist_ok=True)
    work, ref = root / "work", root / "ref"
    p = tiny_params(work)
    if a.pipeline_seed is not None:
        p["seed"] = a.pipeline_seed
    pfile = root / "params.yaml"
    pfile.write_text(yaml.safe_dump(p, sort_keys=False))
    env = dict(os.environ, SEBENCH_CACHE_DIR=str(root / "cache"), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    t_start = time.perf_counter()
    try:
        if work.exists():
            shutil.rmtree(work)
        ref_wall = {}
        for stage in tqdm(list(STAGES), desc="reference run", unit="stage"):
            ref_wall[stage] = run_stage(stage, pfile, env)["wall_s"]
        ref_fp = {s: fingerprint(s, p, work) for s in FAULTED}
        if ref.exists():
            shutil.rmtree(ref)
        shutil.copytree(work, ref)
        # labels reuses the F0 cache filled by the reference run: time a warm rerun for its kill times
        for o in outputs("labels", p):
            shutil.rmtree(o) if o.is_dir() else o.unlink()
        ref_wall["labels_warm"] = run_stage("labels", pfile, env)["wall_s"]
        if fingerprint("labels", p, work) != ref_fp["labels"]:
            raise RuntimeError("a plain rerun of labels is not byte-identical to the first run")
        kill_wall = dict(ref_wall, labels=ref_wall["labels_warm"])

        rng = np.random.default_rng(a.seed)
        trials = []
        order = [str(s) for _ in range(-(-a.n // len(FAULTED))) for s in rng.permutation(FAULTED)]
        for i in tqdm(range(a.n), desc="fault trials", unit="trial"):
            stage = order[i]            # every stage once per len(FAULTED) trials, in random order
            kill_at = float(rng.uniform(0.4, 0.95) * kill_wall[stage])
            t0 = time.perf_counter()
            for attempt in range(1, 5):   # the load varies: a stage that beat its kill time is redone, killed sooner
                shutil.rmtree(work)
                shutil.copytree(ref, work)
                for o in outputs(stage, p):
                    if o.is_dir():
                        shutil.rmtree(o)
                    elif o.exists():
                        o.unlink()
                r = run_stage(stage, pfile, env, kill_after_s=kill_at, outputs_of=outputs(stage, p))
                if r["killed"]:
                    break
                kill_at *= 0.5
            r["attempts"] = attempt
            resume = run_stage(stage, pfile, env)
            fp = fingerprint(stage, p, work)
            diff = sorted(k for k in set(fp) | set(ref_fp[stage]) if fp.get(k) != ref_fp[stage].get(k))
            r.update(trial=i, resume_wall_s=resume["wall_s"], trial_wall_s=time.perf_counter() - t0,
                     identical=not diff, differing=diff)
            trials.append(r)
            tqdm.write(f"trial {i}: {stage:<13} kill at {kill_at:5.1f} s "
                       f"({'killed' if r['killed'] else 'finished first'}, rc {r['rc']}, "
                       f"orphans {r['orphans_after_kill']}, {r['files_present_at_kill']} output files) "
                       f"-> resumed in {resume['wall_s']:.1f} s: "
                       f"{'byte-identical' if not diff else 'DIFFERS: ' + ', '.join(diff[:4])}")
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    killed = [t for t in trials if t["killed"]]
    res = {
        "benchmark": "benchmarks/bench_faults.py",
        "what": "SIGKILL of a stage's main process at a random time in [0.4, 0.95] x its reference wall time, "
                "then a rerun (resume); the stage's outputs compared byte for byte with an uninterrupted run",
        "machine": dict(cpu=cpu_model(), cores=os.cpu_count(), python=platform.python_version(),
                        platform=platform.platform()),
        "profile": "tiny (levels static, keep50)", "pipeline_seed": p["seed"], "n_trials": len(trials), "seed": a.seed,
        "n_killed": len(killed), "n_finished_before_kill": len(trials) - len(killed),
        "n_identical": sum(t["identical"] for t in trials),
        "n_killed_identical": sum(t["identical"] for t in killed),
        "all_identical": all(t["identical"] for t in trials),
        "orphans_after_kill": sum(t["orphans_after_kill"] for t in trials),
        "reference_wall_s": {k: round(v, 2) for k, v in ref_wall.items()},
        "total_wall_s": round(time.perf_counter() - t_start, 1),
        "trials": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in t.items()} for t in trials],
    }
    print(f"\nfault injection on {res['machine']['cpu']} ({res['machine']['cores']} cores): "
          f"{res['n_killed']} of {res['n_trials']} trials killed mid-stage; "
          f"{res['n_identical']}/{res['n_trials']} byte-identical to the uninterrupted run "
          f"({res['n_killed_identical']}/{res['n_killed']} of the killed ones); "
          f"orphaned children after kills: {res['orphans_after_kill']}; total {res['total_wall_s']} s")
    print("reference stage wall s: " + ", ".join(f"{k} {v}" for k, v in res["reference_wall_s"].items()))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"-> {out}")
    if not res["all_identical"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
