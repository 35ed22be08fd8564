"""Model registry: the one place that knows which SE architectures exist and how to build, save, load and
count them. Training, enhancement, the MAC accounting and the streaming engine go through here, never
through a concrete class, so a second architecture is one module plus one :data:`REGISTRY` entry.

An architecture provides (see :class:`SEModel` and :class:`ModelSpec`):

* a config dataclass with ``from_params(params, keep) -> cfg``, ``from_dict(d)`` and ``to_dict()``; the
  config carries ``gated`` (keep < 1), ``n_blocks``, ``hidden`` and ``n_fft`` / ``hop_length``;
* an ``nn.Module`` built from that config whose ``forward(noisy (N, n) float) -> ModelOutput`` returns
  the enhanced waveform (N, n), the enhanced complex spectrum (N, F, T) and, when gated, the binary gates
  (N, n_blocks, H, T); ``forced_gates=`` replaces the gates' decisions (masks as data), and
  ``return_activations=True`` adds the inner activations at the gated point (static probes);
* analytic MACs: ``dense_macs_per_frame(cfg) -> {"total": ..., ...}`` and
  ``dynamic_macs_per_frame(cfg, gates_bool (T, n_blocks, H)) -> (T,)``, gate cost included;
* optionally a streaming engine (one STFT frame in, one out; :mod:`bench.engine`).

``params.yaml`` selects the architecture with ``model.architecture`` (default ``conv_fsenet``); its size
comes from ``model.configs[model.config]``. ``model.pt`` records the architecture, so loading needs no params.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from datagen.errors import SebenchError

DEFAULT_ARCHITECTURE = "conv_fsenet"


@runtime_checkable
class SEModel(Protocol):
    """What the pipeline needs from an SE network (shapes: N utterances, n samples, T frames)."""

    cfg: Any

    @property
    def n_blocks(self) -> int: ...          # gated blocks (0 for an ungated architecture)

    @property
    def block_channels(self) -> list[int]: ...   # gated channels per block (mask layout of bench.masks_io)

    def stft(self, x: Tensor) -> Tensor: ...      # (N, n) -> complex (N, F, T) on the frame grid

    def forward(self, noisy: Tensor, return_activations: bool = False,
                forced_gates: Tensor | None = None): ...   # -> ModelOutput


@dataclass(frozen=True)
class ModelSpec:
    """One architecture: how to make its config and module, and how to count its MACs."""

    name: str
    config_from_params: Callable[[dict, float], Any]      # (params mapping, target keep) -> config
    config_from_dict: Callable[[dict], Any]               # inverse of ``config.to_dict()`` (model.pt)
    build: Callable[[Any], torch.nn.Module]               # config -> untrained module
    dense_macs_per_frame: Callable[[Any], dict]           # config -> {"total": MACs/frame, ...}
    dynamic_macs_per_frame: Callable[[Any, np.ndarray], np.ndarray]   # (config, bool (T, blocks, H)) -> (T,)
    streaming_engine: Callable[..., Any] | None = None    # optional frame-by-frame engine factory


def _conv_fsenet() -> ModelSpec:
    from bench import macs
    from bench.models.fsenet import ConvFSENet, FSENetConfig

    def engine(*args, **kwargs):
        from bench.engine.stream import StreamingEngine
        return StreamingEngine(*args, **kwargs)

    return ModelSpec(name="conv_fsenet", config_from_params=FSENetConfig.from_params,
                     config_from_dict=FSENetConfig.from_dict, build=ConvFSENet,
                     dense_macs_per_frame=macs.dense_macs_per_frame,
                     dynamic_macs_per_frame=macs.dynamic_macs_per_frame, streaming_engine=engine)


# name -> factory (lazy, so importing the registry pulls in no model code). Add an architecture here.
REGISTRY: dict[str, Callable[[], ModelSpec]] = {
    "conv_fsenet": _conv_fsenet,
}


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of architecture ``name``; unknown names fail with the known ones listed."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(str(name), list(REGISTRY), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SebenchError(f"model.architecture = {name!r}: unknown architecture{hint}; "
                           f"registered: {sorted(REGISTRY)} (bench/models/registry.py)")
    return REGISTRY[name]()


def architecture(params: dict) -> str:
    """``model.architecture`` of a params mapping (``conv_fsenet`` when the key is absent)."""
    return str((params.get("model") or {}).get("architecture") or DEFAULT_ARCHITECTURE)


def build_from_params(params: dict, keep: float) -> tuple[torch.nn.Module, Any]:
    """(untrained module, config) of the configured architecture for target keep ``keep`` (1.0 = static)."""
    spec = model_spec(architecture(params))
    cfg = spec.config_from_params(params, keep)
    return spec.build(cfg), cfg


def load_checkpoint(model_path: str | Path, device: torch.device | str = "cpu"
                    ) -> tuple[torch.nn.Module, Any, dict]:
    """(model in eval mode on ``device``, config, checkpoint dict) from a ``model.pt`` of ``sebench train``."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path}: no trained model (run `sebench train` for this level first)")
    ck = torch.load(model_path, map_location="cpu", weights_only=False)
    if not isinstance(ck, dict) or "state_dict" not in ck or "config" not in ck:
        raise ValueError(f"{model_path}: not a sebench model file (expected keys state_dict, config)")
    spec = model_spec(ck.get("architecture", DEFAULT_ARCHITECTURE))
    cfg = spec.config_from_dict(ck["config"])
    model = spec.build(cfg)
    model.load_state_dict(ck["state_dict"])
    return model.to(device).eval(), cfg, ck
