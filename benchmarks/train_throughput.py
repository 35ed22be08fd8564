"""Training throughput (audio-seconds per second) of Conv-FSENet configs, static and gated.

One optimizer step = forward + compressed spectral loss (+ budget loss when gated) + backward + Adam,
on ``train.batch_size`` crops of ``train.crop_s`` seconds (from params.yaml), exactly the step of
``bench.train``. Input is seeded white-ish noise plus a tone (content does not change the cost).

    .venv/bin/python benchmarks/train_throughput.py [--configs small paper] [--steps 5] [--threads 2]

Prints a table and writes reports/benchmarks/train_throughput.json (machine, load, versions).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.models.fsenet import ConvFSENet, FSENetConfig  # noqa: E402
from bench.params import load_params  # noqa: E402
from bench.runinfo import versions  # noqa: E402
from bench.train import step_losses  # noqa: E402


def measure(params: dict, config: str, keep: float, steps: int, warmup: int, device: torch.device) -> dict:
    p = json.loads(json.dumps(params))
    p["model"]["config"] = config
    cfg = FSENetConfig.from_params(p, keep)
    torch.manual_seed(0)
    model = ConvFSENet(cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=float(p["train"]["lr"]))
    bs, sr = int(p["train"]["batch_size"]), int(p["frames"]["sample_rate_hz"])
    n = int(round(float(p["train"]["crop_s"]) * sr))
    g = torch.Generator().manual_seed(0)
    t = torch.arange(n) / sr
    clean = (0.1 * torch.sin(2 * torch.pi * 200 * t)).repeat(bs, 1)
    noisy = (clean + 0.05 * torch.randn(bs, n, generator=g)).to(device)
    clean = clean.to(device)
    bw = float(p["model"]["gate"].get("budget_weight", 1.0))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss, *_ = step_losses(model, noisy, clean, keep, p["train"], bw)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = sorted(times)[len(times) // 2]
    return {"config": config, "gated": cfg.gated, "target_keep": keep, "batch_size": bs,
            "crop_s": n / sr, "steps": steps, "step_s_median": med, "step_s_min": min(times),
            "audio_s_per_s_median": bs * n / sr / med, "audio_s_per_s_best": bs * n / sr / min(times),
            "n_params": sum(q.numel() for q in model.parameters())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--configs", nargs="+", default=["small", "paper"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "train_throughput.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    params = load_params(a.params)
    device = torch.device(a.device)
    rows = []
    for config in a.configs:
        for keep in (1.0, 0.5):
            r = measure(params, config, keep, a.steps, a.warmup, device)
            rows.append(r)
            print(f"{config:>6} {'gated' if r['gated'] else 'static':>6}  batch {r['batch_size']} x "
                  f"{r['crop_s']:.1f} s  step {r['step_s_median']:.3f} s  "
                  f"{r['audio_s_per_s_median']:.1f} audio-s/s (best {r['audio_s_per_s_best']:.1f})", flush=True)
    machine = {"cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "device": str(device),
               "processor": platform.processor() or platform.machine(),
               "load_avg_1_5_15": os.getloadavg(),
               "note": "shared 2-core CPU machine, other jobs running: figures are lower bounds"}
    res = {"benchmark": "train_throughput", "what": "bench.train step (fwd+loss+bwd+Adam), audio-seconds/s",
           "machine": machine, "versions": versions(), "rows": rows,
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
