"""Small frame-level CNNs over log-mel context (one per task and size) and their analytic MACs.

Architecture (read top to bottom): standardise the log-mel (per-mel mean/std of the train split,
stored as buffers) -> ``len(dilations)`` x [Conv1d over time (kernel ``k``, dilation ``d``) + ReLU]
-> Conv1d 1x1 head with ``n_out`` outputs per frame. Fully convolutional, so one forward pass over a
whole mixture gives one output per frame of the grid. Context is **centred** by default (symmetric
zero padding: frame ``t`` sees frames ``t - R/2 .. t + R/2``, ``R = 1 + sum(d * (k - 1))``); ``causal``
pads on the left only (frame ``t`` sees ``t - R + 1 .. t``).

MACs per frame = sum over convolutions of ``C_in * C_out * k`` (bias adds, ReLU and standardisation not
counted here; the latter is part of the front-end count in :mod:`bench.baselines.features`).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# name -> architecture; "small" and "large" make two points of an accuracy-vs-MACs curve per task.
SIZES: dict[str, dict] = {
    "small": dict(channels=24, kernel=5, dilations=[1, 2, 4]),
    "large": dict(channels=64, kernel=5, dilations=[1, 2, 4, 8]),
}


class FrameCNN(nn.Module):
    """(B, n_mels, T) log-mel -> (B, n_out, T) per-frame logits / values."""

    def __init__(self, n_in: int, n_out: int, channels: int, kernel: int, dilations: list[int],
                 causal: bool = False):
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd for centred context, got {kernel}")
        self.config = dict(n_in=int(n_in), n_out=int(n_out), channels=int(channels), kernel=int(kernel),
                           dilations=[int(d) for d in dilations], causal=bool(causal))
        self.register_buffer("feat_mean", torch.zeros(n_in))
        self.register_buffer("feat_std", torch.ones(n_in))
        convs, c_in = [], n_in
        for d in dilations:
            convs.append(nn.Conv1d(c_in, channels, kernel, dilation=d))
            c_in = channels
        self.convs = nn.ModuleList(convs)
        self.head = nn.Conv1d(c_in, n_out, 1)

    @property
    def receptive_field_frames(self) -> int:
        k = self.config["kernel"]
        return 1 + sum(d * (k - 1) for d in self.config["dilations"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.feat_mean[:, None]) / self.feat_std[:, None]
        for conv in self.convs:
            p = conv.dilation[0] * (conv.kernel_size[0] - 1)
            x = F.pad(x, (p, 0) if self.config["causal"] else (p // 2, p - p // 2))
            x = F.relu(conv(x))
        return self.head(x)


def build(size: str | dict, n_in: int, n_out: int, causal: bool = False) -> FrameCNN:
    """A :class:`FrameCNN` of a named size (``SIZES``) or an explicit architecture dict."""
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"unknown baseline size {size!r}; expected one of {sorted(SIZES)}")
        size = SIZES[size]
    return FrameCNN(n_in, n_out, causal=causal, **size)


def macs_per_frame(model: FrameCNN) -> int:
    """Analytic MACs of the network (front-end excluded) per output frame."""
    c = model.config
    total, c_in = 0, c["n_in"]
    for _ in c["dilations"]:
        total += c_in * c["channels"] * c["kernel"]
        c_in = c["channels"]
    return total + c_in * c["n_out"]


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def flop_counter_macs_per_frame(model: nn.Module, n_in: int, n_frames: int = 200) -> float:
    """MACs per frame measured with ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, n_in, n_frames)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops() / 2 / n_frames
