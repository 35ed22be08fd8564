"""Data-parallel training: a real 2-process torchrun (gloo, CPU) smoke run, and the rank-sync check."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

from bench import distributed as D
from tests.bench.tiny import tiny_params as _tiny
from tests.synth import make_dataset

ROOT = Path(__file__).resolve().parents[2]



def tiny_params(root: Path, dataset_dir: Path, epochs: int = 2) -> dict:
    return _tiny(root, dataset_dir, epochs, batch_size=2)


def test_env_info_and_device(monkeypatch):
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    info = D.env_dist_info()
    assert info == D.DistInfo() and info.is_main and not info.is_distributed
    monkeypatch.setenv("WORLD_SIZE", "2"); monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK=2"):
        D.env_dist_info()
    assert D.resolve_device("cpu", info).type == "cpu"
    with pytest.raises(ValueError, match="auto | cpu | cuda"):
        D.resolve_device("tpu", info)


def test_torchrun_two_processes(tmp_path):
    ds = make_dataset(tmp_path / "ds", n_per_split={"train": 6, "valid": 3, "test": 1}, duration_s=1.5)
    p = tiny_params(tmp_path, ds)
    pp = tmp_path / "params.yaml"
    pp.write_text(yaml.safe_dump(p))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    torchrun = Path(sys.executable).with_name("torchrun")
    r = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "bench.cli", "train",
                        "--params", str(pp), "--level", "keep50", "--no-progress"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = Path(p["paths"]["models_dir"]) / "keep50"
    assert (out / "model.pt").is_file() and (out.parent.parent / "checkpoints" / out.name / "checkpoint.pt").is_file()
    s = json.loads((out / "train_summary.json").read_text())
    # both ranks trained: 6 items -> 3 per rank per epoch (batches of 2 + 1), 2 epochs, 1 s crops
    assert s["world_size"] == 2 and s["epochs"] == 2
    # each rank hashed its own final parameters: both hashes equal, and equal the hash of model.pt computed here
    h0, h1 = s["rank_state_sha256"]
    assert h0 == h1 == _sha256_of_state(torch.load(out / "model.pt", weights_only=False)["state_dict"])
    assert s["ranks_params_identical"] == (h0 == h1)
    assert s["audio_s_processed"] == pytest.approx(2 * 6 * 1.0)
    assert s["final_valid_loss"] > 0 and len(s["realised_keep_valid_per_block"]) == 2


def _sha256_of_state(state: dict) -> str:
    """The layout documented in bench.distributed.state_sha256, written out independently."""
    import hashlib

    h = hashlib.sha256()
    for name, t in state.items():
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def test_state_sha256_is_exact():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    h = D.state_sha256(m)
    assert h == _sha256_of_state(m.state_dict()) and len(h) == 64
    assert D.gather_objects(h, D.DistInfo()) == [h]
    with torch.no_grad():
        m[0].weight[0, 0] = torch.nextafter(m[0].weight[0, 0], torch.tensor(2.0))   # one ulp
    assert D.state_sha256(m) != h


def _sync_worker(rank: int, init_file: str, results) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    m = torch.nn.Linear(4, 3)
    info = D.DistInfo(2, rank, rank, "gloo")
    same = D.params_in_sync(m, info)
    if rank == 1:
        with torch.no_grad():
            m.weight[0, 0] += 1e-7
    results[rank] = (same, D.params_in_sync(m, info))
    dist.destroy_process_group()


@pytest.mark.slow  # spawns two fresh interpreters (~40 s on the loaded 2-core machine)
def test_params_in_sync_detects_divergence(tmp_path):
    results = mp.Manager().dict()
    mp.spawn(_sync_worker, args=(str(tmp_path / "init"), results), nprocs=2, join=True)
    assert dict(results) == {0: (True, False), 1: (True, False)}
