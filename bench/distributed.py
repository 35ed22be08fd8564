"""Data-parallel helpers for ``torchrun`` (one process per device; a single process works unchanged).

``torchrun --nproc_per_node N -m bench.cli train --level L`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
:func:`init_distributed` reads them, joins the process group (gloo on CPU, nccl on CUDA) and returns a
:class:`DistInfo`. Conventions (nanoGPT style): every rank draws its own crops from a rank-offset seed,
only rank 0 logs and writes files, gradients are averaged by ``DistributedDataParallel``.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job. ``world_size == 1`` means no process group."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_dist_info() -> DistInfo:
    """Read ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (set by torchrun) without joining a group."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as e:
        raise ValueError(f"malformed torchrun environment (WORLD_SIZE/RANK/LOCAL_RANK): {e}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"inconsistent torchrun environment: WORLD_SIZE={world}, RANK={rank}")
    return DistInfo(world, rank, local)


def resolve_device(requested: str, info: DistInfo) -> torch.device:
    """``auto`` -> CUDA (``cuda:LOCAL_RANK``) if available else CPU; ``cpu``/``cuda`` as asked."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"train.device must be auto | cpu | cuda, got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but torch.cuda.is_available() is False")
    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    if use_cuda:
        idx = info.local_rank % max(torch.cuda.device_count(), 1)
        torch.cuda.set_device(idx)
        return torch.device("cuda", idx)
    return torch.device("cpu")


def init_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group if ``WORLD_SIZE > 1`` (nccl on CUDA, gloo on CPU)."""
    info = env_dist_info()
    if not info.is_distributed:
        return info
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(info.world_size, info.rank, info.local_rank, backend)


def wrap_model(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel`` when distributed, else the model itself."""
    if not info.is_distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    # find_unused_parameters: a static model leaves no parameter unused, but keeping it off is only
    # safe when every parameter gets a gradient every step; gates with a hard step can starve one.
    return DDP(model, device_ids=ids, find_unused_parameters=False)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under a DDP wrapper."""
    return model.module if hasattr(model, "module") else model


def all_reduce_sum(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``x`` over ranks (in place copy); identity for a single process."""
    if info.is_distributed:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def barrier(info: DistInfo) -> None:
    if info.is_distributed:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def params_in_sync(model: torch.nn.Module, info: DistInfo) -> bool:
    """True when every rank holds bit-identical parameters and buffers (rank 0's are broadcast and
    compared exactly on each rank; the verdict is all-reduced). Always True for a single process."""
    if not info.is_distributed:
        return True
    flat = torch.cat([t.detach().reshape(-1).double() for t in unwrap(model).state_dict().values()])
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    bad = torch.tensor([0.0 if torch.equal(flat, ref) else 1.0], device=flat.device)
    dist.all_reduce(bad, op=dist.ReduceOp.SUM)
    return bool(bad.item() == 0)


def state_sha256(model: torch.nn.Module) -> str:
    """sha256 (hex) of a module's parameters and buffers, bit-exact: for each ``state_dict`` entry in order,
    ``name`` (UTF-8) + NUL + dtype name + NUL + shape + NUL + the tensor's raw bytes (C order, on CPU)."""
    h = hashlib.sha256()
    for name, t in unwrap(model).state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def gather_objects(obj, info: DistInfo) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (picklable objects); ``[obj]`` for one process."""
    if not info.is_distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
