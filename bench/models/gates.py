"""DynCP channel gates: moving-average pooling -> 1x1 convs with ReLU -> Heaviside step.

One gate per TCN block decides, per frame, which of the block's ``H`` inner channels are computed.
Forward output is exactly binary ({0., 1.} float); the backward pass of the step uses a surrogate
gradient (``"ste"``: clipped identity = derivative of hardtanh, ``"sigmoid"``: derivative of
``sigmoid(slope * s)``), see :class:`HeavisideSurrogate`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SURROGATES = ("ste", "sigmoid")

#: bias of the gate's last layer at init: gates start mostly open (score > 0), inside both surrogates'
#: non-zero-gradient region (|s| <= 1 for "ste"), so a freshly
#: initialised gated model behaves like the dense one and the budget loss closes channels.
GATE_INIT_BIAS = 0.5


class HeavisideSurrogate(torch.autograd.Function):
    """``y = 1[s > 0]`` forward; backward ``dy/ds`` from a surrogate.

    * ``"ste"``: straight-through, clipped identity: ``1[|s| <= 1]`` (derivative of hardtanh).
    * ``"sigmoid"``: ``slope * sig(slope*s) * (1 - sig(slope*s))`` (derivative of ``sigmoid(slope*s)``).
    """

    @staticmethod
    def forward(ctx, s: Tensor, surrogate: str, slope: float) -> Tensor:  # noqa: D401
        ctx.save_for_backward(s)
        ctx.surrogate, ctx.slope = surrogate, float(slope)
        return (s > 0).to(s.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (s,) = ctx.saved_tensors
        if ctx.surrogate == "ste":
            d = (s.abs() <= 1.0).to(grad.dtype)
        else:
            sg = torch.sigmoid(ctx.slope * s)
            d = ctx.slope * sg * (1.0 - sg)
        return grad * d, None, None


def heaviside(s: Tensor, surrogate: str = "sigmoid", slope: float = 5.0) -> Tensor:
    """Binary step with surrogate gradient; ``s`` any shape, returns float {0, 1} of the same shape."""
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}; expected one of {SURROGATES}")
    return HeavisideSurrogate.apply(s, surrogate, slope)


def moving_average(x: Tensor, pool_frames: int, causal: bool) -> Tensor:
    """Moving average over time of ``x`` (N, C, T) with a window of ``pool_frames`` frames.

    Zero padded and always divided by ``pool_frames`` (so the streaming form with a zero-initialised
    history is identical). Causal: window ``[t-P+1, t]``; non-causal: centred
    ``[t-(P-1)//2, t+P-1-(P-1)//2]``.
    """
    p = int(pool_frames)
    if p <= 1:
        return x
    left = p - 1 if causal else (p - 1) // 2
    xp = F.pad(x, (left, p - 1 - left))
    return F.avg_pool1d(xp, kernel_size=p, stride=1)


class ChannelGate(nn.Module):
    """Gate of one block: ``(N, in_ch, T)`` block input -> raw scores ``(N, out_ch, T)``.

    Layers: moving average (``pool_frames``) -> ``n_layers`` 1x1 convs (hidden width ``hidden``, ReLU
    between, none after the last). :meth:`forward` returns ``(keep, scores)``; ``keep`` is binary.
    """

    def __init__(self, in_ch: int, out_ch: int, pool_frames: int = 5, hidden: int = 32, n_layers: int = 2,
                 surrogate: str = "sigmoid", surrogate_slope: float = 5.0, causal: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"gate n_layers must be >= 1, got {n_layers}")
        if surrogate not in SURROGATES:
            raise ValueError(f"unknown gate surrogate {surrogate!r}; expected one of {SURROGATES}")
        self.pool_frames, self.causal = int(pool_frames), bool(causal)
        self.surrogate, self.slope = surrogate, float(surrogate_slope)
        widths = [in_ch] + [hidden] * (n_layers - 1) + [out_ch]
        self.layers = nn.ModuleList(nn.Conv1d(a, b, 1) for a, b in zip(widths[:-1], widths[1:]))
        with torch.no_grad():
            self.layers[-1].bias.fill_(GATE_INIT_BIAS)

    def scores(self, x: Tensor) -> Tensor:
        h = moving_average(x, self.pool_frames, self.causal)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return h

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s = self.scores(x)
        return heaviside(s, self.surrogate, self.slope), s
