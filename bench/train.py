"""``sebench train --level L``: train one Conv-FSENet at one pruning level (``params["levels"][L]``).

Target keep 1.0 = static model (gates off); < 1.0 = DynCP model. Loss: the enhancement loss
(:func:`bench.models.loss.enhancement_loss`: compressed spectral loss normalised by ``train.loss_level`` +
``train.loss_sisdr_weight`` x negative SI-SDR) + ``model.gate.budget_weight`` x budget loss. Adam (``train.lr``) with a per-step cosine decay to
``train.lr_min`` over ``train.epochs``; random crops of ``train.crop_s`` from the in-memory train split
(:mod:`bench.data`); validation on full valid utterances after every epoch.

Reproducible and resumable: seeds derive from ``params.seed`` and the level name; after every epoch
rank 0 atomically writes ``{models_dir}/../checkpoints/{L}/checkpoint.pt`` (outside the DVC output, so
DVC's run-cache can restore the model while an interrupted run still resumes) (model, optimizer, scheduler, epoch, RNG
states, history); a rerun resumes from it and ends with the same weights as an uninterrupted run
(bit-exact on CPU). A checkpoint written under different params is ignored (a fresh run starts).
Data parallel under ``torchrun`` (:mod:`bench.distributed`); ``train.batch_size`` is per process.

Outputs in ``{models_dir}/{L}/``: ``model.pt`` ({"state_dict", "config", "level", "target_keep"}),
``config.json`` (resolved config, params hash, seeds, versions), ``train_summary.json``, ``macs.json``
and DVCLive curves in ``dvclive/``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import random
import re
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench import distributed as D
from bench import joint as J
from bench.data import SplitAudio, clean_levels, crop_batches, derive_seed, full_utterance_batches, load_split_audio, n_batches
from bench.params import load_params, params_hash
from bench.runinfo import cpu_model, git_info, versions  # noqa: F401  (versions: re-exported)
from datagen.atomic import write_json

CHECKPOINT_FORMAT = 1


# ----------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------

from bench.levels import causal_static_of, level_keep, model_params, parse_level, replicate_levels  # noqa: E402,F401  (re-exported)


def data_seed(params: dict, level: str) -> int:
    """Seed of the crop order/positions: ``params.seed`` for plain levels, + 1000 k for replicate k."""
    return int(params["seed"]) + 1000 * parse_level(params, level)[1]


def level_seed(params: dict, level: str) -> int:
    """Model-init seed: ``params.seed`` + a stable hash (crc32) of the level name (not its list index,
    so adding a level never changes another level's model)."""
    return (int(params["seed"]) + zlib.crc32(level.encode())) % (2**31)


def check_gated_levels(params: dict) -> None:
    """``gated_levels`` (the DVC foreach list of gated training stages) must list exactly the levels < 1."""
    if "gated_levels" not in params:
        return
    reps = set(replicate_levels(params))
    causal_gated = set(((params.get("causal") or {}).get("gated_levels") or {}))
    want = sorted(k for k, v in params["levels"].items() if float(v) < 1.0 and k not in reps and k not in causal_gated)
    if sorted(params["gated_levels"]) != want:
        raise ValueError(f"params: gated_levels {params['gated_levels']} must list exactly the levels with "
                         f"keep < 1 that are not seed replicates: {want}")
    tp = params.get("train") or {}
    seeds = [int(k) for k in (tp.get("replicate_seeds") or [])]
    bases = (["static"] if seeds else []) + [str(b) for b in (tp.get("replicate_levels") or [])]
    expected = sorted(f"{b}_seed{k}" for b in bases for k in seeds)
    extra = sorted(reps - set(expected))   # the params file itself must list all of them (datagen.config)
    if extra:
        raise ValueError(f"params: levels {extra} are seed replicates outside train.replicate_seeds x "
                         f"([static] + train.replicate_levels): expected only {expected}")
    joint = ((params.get("train") or {}).get("joint") or {}).get("levels") or []
    bad = [lv for lv in joint if lv not in want]
    if bad:
        raise ValueError(f"params: train.joint.levels {bad} are not gated levels (keep < 1) in `levels`: {want}")


def init_source(params: dict, level: str) -> str | None:
    """Static level a gated level warm-starts from: its ``train.init_overrides`` entry if it has one
    (null = from scratch, as the paper trains), else its causal static level (``causal.gated_levels``),
    else ``train.init_gated_from``; None for static levels."""
    if level_keep(params, level) >= 1.0:
        return None
    tp = params["train"]
    overrides = tp.get("init_overrides") or {}
    base = parse_level(params, level)[0]
    causal_ref = causal_static_of(params, base)   # a causal gated level's causal static model, else None
    src = overrides[base] if base in overrides else causal_ref or tp.get("init_gated_from")
    if src and (src not in params["levels"] or float(params["levels"][src]) < 1.0):
        raise ValueError(f"params: warm start {src!r} of level {level!r} must name a static level (keep 1.0)")
    return src or None


def init_model_path(params: dict, level: str) -> Path | None:
    """Warm start of a gated level: ``models_dir/<init_source>[_seed<k>]/model.pt`` (None: from scratch)."""
    src = init_source(params, level)
    if src is None:
        return None
    k = parse_level(params, level)[1]
    return Path(params["paths"]["models_dir"]) / (f"{src}_seed{k}" if k else src) / "model.pt"


def checkpoint_path(params: dict, level: str) -> Path:
    """``{models_dir}/../checkpoints/<level>/checkpoint.pt``: resume state, kept outside the stage's DVC
    output ``{models_dir}/<level>`` (DVC deletes a non-persistent output before running the stage, and only
    stages without persistent outputs enter its run-cache)."""
    return Path(params["paths"]["models_dir"]).parent / "checkpoints" / level / "checkpoint.pt"


def level_epochs(params: dict, level: str) -> int:
    """``train.epochs``; warm-started gated levels use ``train.epochs_gated`` when set (a fine-tune)."""
    tp = params["train"]
    if init_source(params, level) is not None and tp.get("epochs_gated") is not None:
        return int(tp["epochs_gated"])
    return int(tp["epochs"])   # static levels and gated levels trained from scratch


def fingerprint(params: dict, level: str) -> str:
    """Hash of everything that changes the trained weights (device/threads excluded): params, warm start and
    the train/valid metadata bytes."""
    t = {k: v for k, v in params["train"].items() if k not in ("device", "num_threads")}
    init = init_model_path(params, level)
    init_sha = hashlib.sha256(init.read_bytes()).hexdigest() if init is not None and init.is_file() else None
    meta_dir = Path(params["paths"]["dataset_dir"]) / "metadata"   # the training data itself (a re-rendered
    data_sha = {s: hashlib.sha256((meta_dir / f"{s}.parquet").read_bytes()).hexdigest()   # dataset must not
                for s in ("train", "valid") if (meta_dir / f"{s}.parquet").is_file()}       # resume old weights)
    return params_hash(dict(seed=params["seed"], data_seed=data_seed(params, level), level=level,
                            keep=level_keep(params, level),
                            frames=params["frames"], model=model_params(params, level)["model"], train=t, init_sha256=init_sha,
                            dataset_dir=str(params["paths"]["dataset_dir"]), dataset_metadata_sha256=data_sha))


def warm_start(model, path: Path) -> None:
    """Load a static model's weights into a gated model; only the gate parameters stay at their init."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: train.init_gated_from needs this static model (train it first)")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    missing, unexpected = model.load_state_dict(ck["state_dict"], strict=False)
    if unexpected or any(not k.startswith("gates.") for k in missing):
        raise ValueError(f"{path}: not a compatible static model (missing {missing[:4]}, unexpected {unexpected[:4]})")


def atomic_torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def set_determinism(seed: int, device: torch.device) -> None:
    """Seed torch/numpy/random; deterministic kernels where torch has them (warn elsewhere)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_state() -> dict:
    s = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def clean_stft(model, clean: torch.Tensor) -> torch.Tensor:
    """Complex STFT (B, F, T) of the clean target with the model's own analysis (same window/grid)."""
    return D.unwrap(model).stft(clean)


def _enhancement_loss(m, out, clean: torch.Tensor, train_p: dict, b: int | None = None) -> torch.Tensor:
    """The enhancement loss of ``out`` against ``clean`` (B, L) (only utterance ``b`` when given):
    compressed spectral loss (``train.loss_mag_weight``; level from ``train.loss_level``: ``clean_active`` or
    ``noisy_rms``) + ``train.loss_sisdr_weight`` x negative SI-SDR."""
    from bench.models.loss import enhancement_loss

    sl = slice(None) if b is None else slice(b, b + 1)
    enh, cl = out.enhanced[sl], clean[sl]
    n = min(enh.shape[-1], cl.shape[-1])
    level = train_p.get("loss_level", "clean_active")
    return enhancement_loss(out.enhanced_spec[sl], clean_stft(m, cl), enh[..., :n], cl[..., :n],
                            exponent=m.cfg.compress_exponent, mag_weight=float(train_p.get("loss_mag_weight", 0.7)),
                            sisdr_weight=float(train_p.get("loss_sisdr_weight", 0.0)),
                            level_ref=out.noisy_spec[sl] if level == "noisy_rms" else None)


def step_losses(model, noisy: torch.Tensor, clean: torch.Tensor, keep: float, train_p: dict,
                budget_weight: float, budget_per_block: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, object]:
    """(total, spectral, budget or None, ModelOutput) for one batch. ``budget_per_block``: every block
    meets the target (``model.gate.budget: per_block``) or one budget over all blocks (``global``)."""
    from bench.models.loss import budget_loss

    m = D.unwrap(model)
    out = model(noisy)
    spec = _enhancement_loss(m, out, clean, train_p)
    if out.gates is None:
        return spec, spec, None, out
    bud = budget_loss(out.gates, keep, per_block=budget_per_block)
    return spec + budget_weight * bud, spec, bud, out


@torch.no_grad()
def evaluate(model, audio: SplitAudio, keep: float, train_p: dict, batch_size: int,
             info: D.DistInfo, collect_gates: bool = False) -> dict:
    """Mean enhancement loss over full valid utterances (weighted by utterances), realised keep per block
    (fraction of ones over channels x frames, averaged over utterances) and, optionally, per-frame gates
    (list of bool (T, n_blocks, H) arrays of this rank's utterances)."""
    m = D.unwrap(model)
    was_training = m.training
    m.eval()
    nb = m.n_blocks
    acc = torch.zeros(3 + nb, dtype=torch.float64)  # [sum loss, n utts, n gated utts, keep per block...]
    gates_out = []
    for noisy, clean in full_utterance_batches(audio, batch_size, info.rank, info.world_size):
        out = m(noisy)
        for b in range(noisy.shape[0]):  # per-utterance loss so the mean does not depend on batching
            acc[0] += float(_enhancement_loss(m, out, clean, train_p, b))
        acc[1] += noisy.shape[0]
        if out.gates is not None:
            acc[2] += noisy.shape[0]
            acc[3:] += out.gates.double().mean(dim=(2, 3)).sum(0).cpu()
            if collect_gates:
                gates_out += [g.permute(2, 0, 1).bool().cpu().numpy() for g in out.gates]
    acc = D.all_reduce_sum(acc.to(audio.noisy.device) if info.backend == "nccl" else acc, info).cpu()
    if was_training:
        m.train()
    res = {"loss": float(acc[0] / max(acc[1], 1)), "n_utterances": int(acc[1])}
    if acc[2] > 0:
        per_block = (acc[3:] / acc[2]).tolist()
        res.update(keep_mean=float(np.mean(per_block)), keep_per_block=per_block)
    if collect_gates:
        res["gates"] = gates_out
    return res


# ----------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Run:
    """Everything one training run holds (built by :func:`_setup`, advanced by :func:`_run_epoch`)."""

    params: dict
    level: str
    keep: float
    info: D.DistInfo
    device: torch.device
    seed: int
    cfg: object
    model: torch.nn.Module
    train_audio: SplitAudio
    valid_audio: SplitAudio
    out_dir: Path
    ckpt_path: Path
    fp: str
    show: bool
    epochs: int
    steps_per_epoch: int
    opt: torch.optim.Optimizer
    sched: object
    trainable: list
    budget_weight: float
    budget_mode: str
    dseed: int
    jcfg: object = None                  # J.JointConfig of a joint level, else None
    heads: torch.nn.Module | None = None
    labels: dict = dataclasses.field(default_factory=dict)
    remix_p: float = 0.0                 # train.remix_p (0 for joint levels: their noise/SNR labels are the mixture's)
    levels: torch.Tensor | None = None   # clean levels of the train utterances (bench.data.clean_levels)
    # progress (restored by _resume)
    start_epoch: int = 0
    history: list = dataclasses.field(default_factory=list)
    wall_prev: float = 0.0
    audio_s: float = 0.0
    train_wall: float = 0.0
    best: dict = dataclasses.field(default_factory=lambda: {"valid_loss": float("inf"), "epoch": 0,
                                                            "state": None, "heads": None})

    @property
    def tp(self) -> dict:
        return self.params["train"]


def _budget_mode(params: dict, level: str) -> str:
    """``model.gate.budget``, or the level's ``train.budget_overrides`` entry."""
    mode = str((params["train"].get("budget_overrides") or {}).get(parse_level(params, level)[0])
               or params["model"]["gate"].get("budget", "per_block"))
    if mode not in ("per_block", "global"):
        raise ValueError(f"params: model.gate.budget = {mode!r}, expected per_block or global")
    return mode


def _setup(params: dict, level: str, device_req: str | None, progress: bool) -> _Run:
    """Seed, load the train/valid audio, build (and warm-start) the model, heads and optimizer.
    The order of RNG use is part of the recipe: changing it changes every trained model."""
    from bench.models.registry import build_from_params

    tp = params["train"]
    keep = level_keep(params, level)
    check_gated_levels(params)
    info0 = D.env_dist_info()
    device = D.resolve_device(device_req or tp.get("device", "auto"), info0)
    info = D.init_distributed(device)
    torch.set_num_threads(int(tp.get("num_threads", 1)))
    seed = level_seed(params, level)
    set_determinism(seed, device)
    sr = int(params["frames"]["sample_rate_hz"])
    dataset_dir = Path(params["paths"]["dataset_dir"])
    show = progress and info.is_main
    train_audio = load_split_audio(dataset_dir, "train", sr, progress=show).to(device)
    valid_audio = load_split_audio(dataset_dir, "valid", sr, progress=show).to(device)

    model, cfg = build_from_params(model_params(params, level), keep)   # causal levels: model.causal true
    init_path = init_model_path(params, level)
    if init_path is not None:
        warm_start(model, init_path)
    model = model.to(device)
    epochs, bs = level_epochs(params, level), int(tp["batch_size"])
    steps_per_epoch = n_batches(len(train_audio), bs, info.world_size)
    # joint level: linear probe heads on the gates, trained with the model (bench/joint.py)
    jcfg, heads, labels = J.JointConfig.from_params(params, level), None, {}
    if jcfg is not None:
        labels = {s: J.load_split_labels(dataset_dir, s, a.mixture_ids, jcfg.tasks).to(device)
                  for s, a in (("train", train_audio), ("valid", valid_audio))}
        torch.manual_seed(derive_seed(seed, 7))   # head init: its own stream, the model's init is unchanged
        heads = J.build_heads(jcfg, cfg, dataset_dir, labels["train"].to("cpu")).to(device)
    trainable = list(model.parameters()) + (list(heads.parameters()) if heads is not None else [])
    opt = torch.optim.Adam(trainable, lr=float(tp["lr"]))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs * steps_per_epoch, 1),
                                                       eta_min=float(tp["lr_min"]))
    budget_weight = float(params["model"]["gate"].get("budget_weight", 1.0)) if cfg.gated else 0.0
    remix_p = float(tp.get("remix_p") or 0.0) if jcfg is None else 0.0
    levels = clean_levels(train_audio.to("cpu")) if remix_p > 0 else None
    return _Run(params=params, level=level, keep=keep, info=info, device=device, seed=seed, cfg=cfg,
                model=model, train_audio=train_audio, valid_audio=valid_audio,
                out_dir=Path(params["paths"]["models_dir"]) / level, ckpt_path=checkpoint_path(params, level),
                fp=fingerprint(params, level), show=show, epochs=epochs, steps_per_epoch=steps_per_epoch,
                opt=opt, sched=sched, trainable=trainable, budget_weight=budget_weight,
                budget_mode=_budget_mode(params, level), dseed=data_seed(params, level),
                jcfg=jcfg, heads=heads, labels=labels, remix_p=remix_p, levels=levels)


def _resume(run: _Run) -> None:
    """Continue from ``run.ckpt_path`` if it was written under the same fingerprint (bit-exact resume)."""
    if not run.ckpt_path.is_file():
        return
    ck = torch.load(run.ckpt_path, map_location="cpu", weights_only=False)  # RNG states must stay on CPU
    if ck.get("format") != CHECKPOINT_FORMAT or ck.get("fingerprint") != run.fp:
        if run.info.is_main:
            print(f"[train {run.level}] {run.ckpt_path}: written under different params; starting fresh",
                  file=sys.stderr)
        return
    run.model.load_state_dict(ck["model"])
    if run.heads is not None:
        run.heads.load_state_dict(ck["heads"])
    run.opt.load_state_dict(ck["optimizer"])
    run.sched.load_state_dict(ck["scheduler"])
    set_rng_state(ck["rng"][run.info.rank] if isinstance(ck["rng"], list) else ck["rng"])
    run.start_epoch, run.history = int(ck["epoch"]), list(ck["history"])
    run.wall_prev, run.audio_s, run.train_wall = float(ck["wall_s"]), float(ck["audio_s"]), float(ck["train_wall_s"])
    run.best = ck.get("best", run.best)
    if run.info.is_main:
        print(f"[train {run.level}] resuming from {run.ckpt_path} after epoch {run.start_epoch}/{run.epochs}",
              file=sys.stderr)


def _train_steps(run: _Run, ddp_model, epoch: int) -> torch.Tensor:
    """One pass over the crops of epoch ``epoch``; returns the summed [spectral, budget, keep, n steps,
    head loss] over this rank's steps (float64 (5,))."""
    tp, sr, hop = run.tp, int(run.params["frames"]["sample_rate_hz"]), int(run.params["frames"]["hop_length"])
    crop, bs = int(round(float(tp["crop_s"]) * sr)), int(tp["batch_size"])
    clip = tp.get("grad_clip_norm")
    info, heads = run.info, run.heads
    acc = torch.zeros(5, dtype=torch.float64)
    bar = tqdm(crop_batches(run.train_audio, crop, bs, run.dseed, epoch, info.rank, info.world_size,
                            align_samples=hop if heads is not None else 1, with_index=True,
                            remix_p=run.remix_p, levels=run.levels),
               total=run.steps_per_epoch, desc=f"{run.level} epoch {epoch + 1}/{run.epochs}",
               disable=not run.show, leave=False)
    if heads is not None:
        heads.train()
    for noisy, clean, items, starts in bar:
        loss, spec, bud, out = step_losses(ddp_model, noisy, clean, run.keep, tp, run.budget_weight,
                                           run.budget_mode == "per_block")
        if heads is not None:
            y = J.gather_label_crops(run.labels["train"], items, starts // hop, out.gates.shape[-1])
            per_task = J.head_losses(heads, heads(out.gates), y)
            head_loss = torch.stack(list(per_task.values())).mean()
            loss = loss + run.jcfg.weight * head_loss
            acc[4] += float(head_loss.detach())
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        if heads is not None and info.is_distributed:   # heads are not under DDP: average their grads
            for prm in heads.parameters():
                if prm.grad is not None:
                    prm.grad.copy_(D.all_reduce_sum(prm.grad, info) / info.world_size)
        if clip:
            torch.nn.utils.clip_grad_norm_(run.trainable, float(clip))
        run.opt.step()
        run.sched.step()
        _fault_hook(int(run.sched.last_epoch))
        acc[0] += float(spec.detach())
        acc[3] += 1
        if bud is not None:
            acc[1] += float(bud.detach())
            acc[2] += float(out.gates.detach().float().mean())
        run.audio_s += noisy.shape[0] * crop / sr * info.world_size
        bar.set_postfix(loss=f"{float(spec.detach()):.4f}")
    return acc


def _log_epoch(live, rec: dict) -> None:
    """One epoch's record (``run.history`` entry) into DVCLive: ``train/loss``, ``valid/loss``, ``lr``, ..."""
    for k, v in rec.items():
        if k != "epoch":
            live.log_metric(k.replace("_", "/", 1) if k.startswith(("train_", "valid_")) else k, v)
    live.next_step()


def _end_epoch(run: _Run, ddp_model, epoch: int, acc: torch.Tensor, live, t_start: float) -> None:
    """Validate, keep the best state (valid split only, never test), log, write the checkpoint."""
    info = run.info
    acc = D.all_reduce_sum(acc.to(run.device) if info.backend == "nccl" else acc, info).cpu()
    val = evaluate(ddp_model, run.valid_audio, run.keep, run.tp, int(run.tp["batch_size"]), info)
    rec = {"epoch": epoch + 1, "train_loss": float(acc[0] / acc[3]), "valid_loss": val["loss"],
           "lr": float(run.sched.get_last_lr()[0])}
    if run.cfg.gated:
        rec.update(train_budget_loss=float(acc[1] / acc[3]), train_keep=float(acc[2] / acc[3]),
                   valid_keep=val["keep_mean"])
    if run.heads is not None:
        rec.update(train_head_loss=float(acc[4] / acc[3]))
    run.history.append(rec)
    if val["loss"] < run.best["valid_loss"]:
        run.best = {"valid_loss": val["loss"], "epoch": epoch + 1,
                    "state": {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()},
                    "heads": ({k: v.detach().cpu().clone() for k, v in run.heads.state_dict().items()}
                              if run.heads is not None else None)}
    if info.is_main:
        _log_epoch(live, rec)
        atomic_torch_save({
            "format": CHECKPOINT_FORMAT, "fingerprint": run.fp, "epoch": epoch + 1, "level": run.level,
            "model": run.model.state_dict(), "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict(),
            "heads": run.heads.state_dict() if run.heads is not None else None,
            "rng": rng_state(), "history": run.history, "best": run.best,
            "wall_s": run.wall_prev + time.perf_counter() - t_start, "audio_s": run.audio_s,
            "train_wall_s": run.train_wall}, run.ckpt_path)
        tqdm.write(f"[train {run.level}] epoch {epoch + 1}/{run.epochs} "
                   + " ".join(f"{k}={v:.4g}" for k, v in rec.items() if k != "epoch"), file=sys.stderr)
    D.barrier(info)


def _finish(run: _Run, ddp_model, t_start: float) -> dict | None:
    """Select the model (``train.select``), check the ranks agree, evaluate and write the outputs (rank 0)."""
    tp, info, model, heads = run.tp, run.info, run.model, run.heads
    best_valid = tp.get("select", "last") == "best_valid"
    if best_valid and run.best["state"] is not None:
        model.load_state_dict(run.best["state"])
        if heads is not None and run.best["heads"] is not None:
            heads.load_state_dict(run.best["heads"])
    if not D.params_in_sync(model, info):
        raise RuntimeError(f"[train {run.level}] rank {info.rank}: parameters differ across ranks after training")
    rank_sha = D.gather_objects(D.state_sha256(model), info)   # each rank's own final parameters
    final = evaluate(ddp_model, run.valid_audio, run.keep, tp, int(tp["batch_size"]), info,
                     collect_gates=run.cfg.gated and info.is_main)
    if not info.is_main:
        return None
    joint = None
    if heads is not None:
        joint = {"tasks": list(run.jcfg.tasks), "weight": run.jcfg.weight, "module": "bench.joint",
                 "heads_valid": J.evaluate_heads(model, heads, run.valid_audio, run.labels["valid"])}
        atomic_torch_save({"state_dict": {k: v.detach().cpu() for k, v in heads.state_dict().items()},
                           "tasks": list(run.jcfg.tasks), "n_inputs": run.cfg.n_blocks * run.cfg.hidden},
                          run.out_dir / "probe_heads.pt")
    return _write_outputs(run.params, run.level, run.keep, run.cfg, model, run.out_dir, run.history, final,
                          run.fp, run.seed, info, run.device, sum(p.numel() for p in model.parameters()),
                          run.wall_prev + time.perf_counter() - t_start, run.train_wall, run.audio_s,
                          len(run.train_audio), run.train_audio.duration_s, joint,
                          best_epoch=run.best["epoch"] if best_valid else len(run.history),
                          data_seed_=run.dseed, budget_mode=run.budget_mode, rank_state_sha256=rank_sha)


def train_level(params: dict, level: str, device_req: str | None = None, stop_after_epochs: int | None = None,
                progress: bool = True) -> dict | None:
    """Train (or resume) level ``level``. Returns the summary dict on rank 0 when training completed,
    None on other ranks or when stopped early by ``stop_after_epochs`` (checkpoint left in place)."""
    run = _setup(params, level, device_req, progress)
    _resume(run)
    ddp_model = D.wrap_model(run.model, run.info, run.device)
    live = None
    if run.info.is_main:
        from dvclive import Live

        # A fresh log replayed from the checkpoint's history, not DVCLive's resume: DVC deletes a stage's output
        # directory before running it, so a resumed run (after a kill, or `dvc repro` after
        # scripts/train_parallel.sh) would otherwise log only its own epochs; replayed, the log covers every
        # epoch and is the same bytes whether the run was interrupted or not.
        live = Live(dir=str(run.out_dir / "dvclive"), dvcyaml=False, save_dvc_exp=False, resume=False)
        live.log_params({"level": level, "target_keep": run.keep, "config": params["model"]["config"],
                         "epochs": run.epochs, "batch_size": int(run.tp["batch_size"]),
                         "world_size": run.info.world_size})
        for rec in run.history:
            _log_epoch(live, rec)
    patience = run.tp.get("patience")      # epochs without a better valid loss before stopping (None: never)
    t_start = time.perf_counter()
    stopped = False
    for epoch in range(run.start_epoch, run.epochs):
        if stop_after_epochs is not None and epoch - run.start_epoch >= stop_after_epochs:
            stopped = True
            break
        if patience is not None and run.best["epoch"] and epoch - run.best["epoch"] >= int(patience):
            if run.info.is_main:
                tqdm.write(f"[train {level}] early stop: valid loss not improved for {patience} epochs "
                           f"(best epoch {run.best['epoch']})", file=sys.stderr)
            break
        ddp_model.train()
        t0 = time.perf_counter()
        acc = _train_steps(run, ddp_model, epoch)
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        run.train_wall += time.perf_counter() - t0
        _end_epoch(run, ddp_model, epoch, acc, live, t_start)
    summary = None if stopped else _finish(run, ddp_model, t_start)
    if live is not None:
        live.end()
    D.barrier(run.info)
    D.cleanup(run.info)
    return summary


def _fault_hook(step: int) -> None:
    """Fault injection for the kill-and-resume test: ``SEBENCH_TRAIN_SIGKILL_AT_STEP=n`` SIGKILLs this
    process right after optimizer step ``n`` (counted over the whole run, 1-based), i.e. mid-epoch."""
    at = os.environ.get("SEBENCH_TRAIN_SIGKILL_AT_STEP")
    if at and step == int(at):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def write_local_provenance(params: dict, level: str, fp: str) -> None:
    """Untracked marker ``{models_dir}/../provenance/train_<level>.json``: this workspace ran the training
    (a model restored from the DVC cache/remote has no marker; the report tells the two apart)."""
    path = Path(params["paths"]["models_dir"]).parent / "provenance" / f"train_{level}.json"
    write_json(path, {"level": level, "fingerprint": fp, "trained_in_this_workspace": True}, default=str)


def _write_outputs(params, level, keep, cfg, model, out_dir, history, final, fp, seed, info, device,
                   n_params, wall_s, train_wall_s, audio_s, n_train, train_duration_s, joint=None,
                   best_epoch=None, data_seed_=None, budget_mode="per_block", rank_state_sha256=None) -> dict:
    from bench.models.registry import architecture, model_spec

    arch = architecture(params)
    spec = model_spec(arch)
    dense_pf = spec.dense_macs_per_frame(cfg)
    fps = params["frames"]["sample_rate_hz"] / params["frames"]["hop_length"]
    macs = {"implementation": "bench.macs (analytic, 1 MAC = 1 multiply-accumulate)",
            "dense_macs_per_frame": dense_pf, "dense_macs_per_s": float(dense_pf["total"]) * fps,
            "frames_per_s": fps}
    if final.get("gates"):
        per_frame = np.concatenate([np.asarray(spec.dynamic_macs_per_frame(cfg, g)) for g in final["gates"]])
        macs.update(dynamic_macs_per_s_mean_valid=float(per_frame.mean() * fps),
                    dynamic_macs_per_s_p5_valid=float(np.percentile(per_frame, 5) * fps),
                    dynamic_macs_per_s_p95_valid=float(np.percentile(per_frame, 95) * fps))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"state_dict": state, "config": config_to_dict(cfg), "architecture": arch, "level": level,
                       "target_keep": keep}, out_dir / "model.pt")
    write_json(out_dir / "config.json", {"level": level, "target_keep": keep, "architecture": arch, "model_config": config_to_dict(cfg),
                 "model_config_name": params["model"]["config"], "train": params["train"],
                 "params_hash": params_hash(params), "fingerprint": fp, "seed": int(params["seed"]),
                 "model_init_seed": seed, "init_from": str(init_model_path(params, level) or "") or None,
                 "world_size": info.world_size, "device": str(device),
                 "n_params": n_params, "versions": versions()}, default=str)
    write_json(out_dir / "macs.json", macs, default=str)
    last = history[-1] if history else {}
    commit, dirty = git_info()
    summary = {
        "level": level, "target_keep": keep, "epochs": len(history),
        "final_train_loss": last.get("train_loss"), "final_valid_loss": final["loss"],
        "loss": "bench.models.loss.enhancement_loss (compressed spectral + train.loss_sisdr_weight x -SI-SDR; valid: full utterances, mean over utterances)",
        "realised_keep_valid_mean": final.get("keep_mean", 1.0),
        "realised_keep_valid_per_block": final.get("keep_per_block"),
        "n_params": n_params, "n_train_mixtures": n_train, "train_audio_s_per_epoch": train_duration_s,
        "wall_s": wall_s, "train_loop_wall_s": train_wall_s,
        "audio_s_processed": audio_s, "audio_s_per_s": audio_s / train_wall_s if train_wall_s > 0 else None,
        "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)",
        "world_size": info.world_size,
        # bench.distributed.state_sha256 of every rank's final model (the test compares them and model.pt)
        "rank_state_sha256": rank_state_sha256,
        "ranks_params_identical": rank_state_sha256 is not None and len(set(rank_state_sha256)) == 1,
        "batch_size_per_process": int(params["train"]["batch_size"]),
        "history": history,
        "selected_epoch": best_epoch, "selection": params["train"].get("select", "last"),
        "budget": budget_mode if cfg.gated else None,
        "trained_on": {"device": str(device), "cpu": cpu_model(),
                       "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                       "minutes": round(wall_s / 60, 2),
                       "steps": len(history) * n_batches(n_train, int(params["train"]["batch_size"]), info.world_size),
                       "commit": commit + ("+dirty" if dirty == "true" else ""),
                       "seed_index": parse_level(params, level)[1],
                       "model_init_seed": seed, "data_seed": data_seed_, "torch": torch.__version__},
        "joint": joint,   # None, or the probe-head settings and the heads' own valid scores (bench.joint)
    }
    write_json(out_dir / "train_summary.json", summary, default=str)
    write_local_provenance(params, level, fp)
    return summary


def cli(argv: list[str]) -> int:
    from bench import parsers   # options live there, so `sebench train --help` needs no torch

    a = parsers.train().parse_args(argv)
    params = load_params(a.params)
    try:
        level_keep(params, a.level)
    except (KeyError, ValueError) as e:
        print(f"sebench train: {a.params}: {e}", file=sys.stderr)
        return 2
    s = train_level(params, a.level, a.device, a.stop_after_epochs, progress=not a.no_progress)
    if s is not None:
        print(json.dumps({k: s[k] for k in ("level", "epochs", "final_train_loss", "final_valid_loss",
                                            "realised_keep_valid_mean", "audio_s_per_s")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli(sys.argv[1:]))
