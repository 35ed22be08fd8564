"""Conv-FSENet with DynCP gates (Miccini et al., ICASSP 2025, arXiv 2412.17121: the static reference config), readable top to bottom.

Signal path (shapes for a batch of N waveforms of n samples, F = n_fft//2+1 = 257, T = 1 + n//hop):

  noisy (N, n) -> STFT (Hann n_fft, hop, center=True) -> X (N, F, T) complex
  |X| ** compress_exponent -> 1x1 conv F->B + ReLU                          (front-end)
  stacks x blocks_per_stack residual TCN blocks, dilation 2**j in each stack  (core, one gate each)
  1x1 conv B->F + sigmoid -> real mask M (N, F, T) in [0, 1]                   (back-end)
  Y = M * X -> iSTFT(length=n) -> enhanced (N, n)

TCN block (input x: (N, B, T)), gate keep g: (N, H, T) binary, all-ones for a static model:

  h  = W1 x + b1                                  1x1 conv B->H
  a  = act(norm(h; g)) * g                         gating point 1
  d  = depthwise conv (kernel k, dilation d) of a  causal: left padding only; else symmetric
  a2 = act(norm(d; g)) * g                         gating point 2
  x' = x + W2 a2 + b2                              1x1 conv H->B + residual

Norm choice (documented, see :class:`MaskedChannelNorm`): a channel-wise LayerNorm *per frame* whose
statistics are taken over the block's *active* channels only. It is frame-local (so causality is
untouched) and a skipped channel never enters any computation: channel c at frame t is exactly zero
after both gating points, the depthwise conv sees zeros for skipped (channel, frame) pairs, and the
second 1x1 conv's column c contributes nothing. This is what makes :mod:`bench.skipping` exact.
The activation is a PReLU with a single shared slope.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.models.gates import ChannelGate


@dataclass
class GateConfig:
    pool_frames: int = 5
    hidden: int = 32
    n_layers: int = 2
    surrogate: str = "sigmoid"   # "sigmoid" | "ste"
    surrogate_slope: float = 5.0


@dataclass
class FSENetConfig:
    bottleneck: int = 64         # B
    hidden: int = 128            # H (gated inner channels per block)
    stacks: int = 3
    blocks_per_stack: int = 3
    kernel: int = 3
    n_fft: int = 512
    hop_length: int = 256
    causal: bool = False
    compress_exponent: float = 0.3
    gated: bool = True
    gate: GateConfig = field(default_factory=GateConfig)

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def n_blocks(self) -> int:
        return self.stacks * self.blocks_per_stack

    @property
    def dilations(self) -> list[int]:
        return [2 ** j for _ in range(self.stacks) for j in range(self.blocks_per_stack)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FSENetConfig":
        d = dict(d)
        gate = GateConfig(**d.pop("gate", {}))
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"FSENetConfig: unknown keys {sorted(unknown)}")
        return cls(gate=gate, **d)

    @classmethod
    def from_params(cls, params: dict, level_keep: float) -> "FSENetConfig":
        """Config from the whole params.yaml mapping; ``gated = level_keep < 1.0``."""
        try:
            m = params["model"]
            name = m["config"]
            arch = dict(m["configs"][name])
            g = m["gate"]
            fr = params["frames"]
        except KeyError as e:
            raise KeyError(f"params: missing key {e} needed by FSENetConfig.from_params") from None
        gate = GateConfig(pool_frames=int(g["pool_frames"]), hidden=int(g["hidden"]),
                          n_layers=int(g["n_layers"]), surrogate=str(g["surrogate"]),
                          surrogate_slope=float(g["surrogate_slope"]))
        return cls(bottleneck=int(arch["bottleneck"]), hidden=int(arch["hidden"]),
                   stacks=int(arch["stacks"]), blocks_per_stack=int(arch["blocks_per_stack"]),
                   kernel=int(arch.get("kernel", 3)), n_fft=int(fr["n_fft"]),
                   hop_length=int(fr["hop_length"]), causal=bool(m["causal"]),
                   compress_exponent=float(arch.get("compress_exponent", 0.3)),
                   gated=float(level_keep) < 1.0, gate=gate)


@dataclass
class ModelOutput:
    enhanced: Tensor                    # (N, n) waveform
    spec_mask: Tensor                   # (N, F, T) real mask in [0, 1]
    noisy_spec: Tensor                  # (N, F, T) complex
    enhanced_spec: Tensor               # (N, F, T) complex
    gates: Tensor | None = None         # (N, n_blocks, H, T) binary float, None for a static model
    activations: Tensor | None = None   # (N, n_blocks, H, T) post first norm+act, before gating
    gate_scores: Tensor | None = None   # (N, n_blocks, H, T) raw gate scores (gated models)


class MaskedChannelNorm(nn.Module):
    """LayerNorm over channels at each frame, statistics over the active channels only.

    ``x`` (N, C, T), ``mask`` (N, C, T) in {0, 1} or None (all active). Output for channel c:
    ``(x_c - mean) / sqrt(var + eps) * weight_c + bias_c`` with mean/var over active channels of that
    frame (a frame with no active channel gives mean 0, var 0). Frame-local, hence causal-safe; the
    caller zeroes inactive channels after the activation.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            mean = x.mean(1, keepdim=True)
            var = (x - mean).pow(2).mean(1, keepdim=True)
        else:
            cnt = mask.sum(1, keepdim=True).clamp(min=1.0)
            mean = (x * mask).sum(1, keepdim=True) / cnt
            var = ((x - mean).pow(2) * mask).sum(1, keepdim=True) / cnt
        y = (x - mean) * torch.rsqrt(var + self.eps)
        return y * self.weight[:, None] + self.bias[:, None]


class TCNBlock(nn.Module):
    """Residual TCN block; see the module docstring for the exact gating points."""

    def __init__(self, bottleneck: int, hidden: int, kernel: int, dilation: int, causal: bool):
        super().__init__()
        self.kernel, self.dilation, self.causal = kernel, dilation, causal
        self.conv1 = nn.Conv1d(bottleneck, hidden, 1)
        self.norm1 = MaskedChannelNorm(hidden)
        self.act1 = nn.PReLU(1)
        self.dwconv = nn.Conv1d(hidden, hidden, kernel, dilation=dilation, groups=hidden)
        self.norm2 = MaskedChannelNorm(hidden)
        self.act2 = nn.PReLU(1)
        self.conv2 = nn.Conv1d(hidden, bottleneck, 1)

    @property
    def padding(self) -> tuple[int, int]:
        total = (self.kernel - 1) * self.dilation
        return (total, 0) if self.causal else (total // 2, total - total // 2)

    def forward(self, x: Tensor, keep: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x`` (N, B, T), ``keep`` (N, H, T) or None -> (block output (N, B, T), pre-gate act (N, H, T))."""
        a_pre = self.act1(self.norm1(self.conv1(x), keep))
        a = a_pre if keep is None else a_pre * keep
        d = self.dwconv(F.pad(a, self.padding))
        a2 = self.act2(self.norm2(d, keep))
        if keep is not None:
            a2 = a2 * keep
        return x + self.conv2(a2), a_pre


class ConvFSENet(nn.Module):
    """Conv-FSENet; ``forward(noisy (N, n) float32) -> ModelOutput``. See module docstring."""

    def __init__(self, cfg: FSENetConfig):
        super().__init__()
        self.cfg = cfg
        b, h = cfg.bottleneck, cfg.hidden
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.front = nn.Conv1d(cfg.n_bins, b, 1)
        self.blocks = nn.ModuleList(TCNBlock(b, h, cfg.kernel, d, cfg.causal) for d in cfg.dilations)
        g = cfg.gate
        self.gates = nn.ModuleList(
            ChannelGate(b, h, g.pool_frames, g.hidden, g.n_layers, g.surrogate, g.surrogate_slope, cfg.causal)
            for _ in cfg.dilations) if cfg.gated else None
        self.back = nn.Conv1d(b, cfg.n_bins, 1)

    @property
    def n_blocks(self) -> int:
        return self.cfg.n_blocks

    @property
    def block_channels(self) -> list[int]:
        return [self.cfg.hidden] * self.cfg.n_blocks

    def stft(self, x: Tensor) -> Tensor:
        """(N, n) -> (N, F, T) complex, T = 1 + n // hop (center=True, reflect padding)."""
        return torch.stft(x, self.cfg.n_fft, self.cfg.hop_length, window=self.window, center=True,
                          return_complex=True)

    def istft(self, spec: Tensor, length: int) -> Tensor:
        return torch.istft(spec, self.cfg.n_fft, self.cfg.hop_length, window=self.window, center=True,
                           length=length)

    def features(self, spec: Tensor) -> Tensor:
        """Network input: compressed magnitude ``|X| ** compress_exponent`` (N, F, T)."""
        return spec.abs().pow(self.cfg.compress_exponent)

    def mask_from_features(self, feats: Tensor, forced_gates: Tensor | None = None,
                           return_activations: bool = False):
        """Core network on features (N, F, T) -> (mask (N, F, T), gates, scores, activations).

        ``forced_gates`` (N, n_blocks, H, T) replaces the gates' decisions (scores still computed);
        allowed on a static model too (then it is a pure masking experiment).
        """
        x = F.relu(self.front(feats))
        gates, scores, acts = [], [], []
        for k, block in enumerate(self.blocks):
            keep = None
            if self.gates is not None:
                keep, s = self.gates[k](x)
                scores.append(s)
            if forced_gates is not None:
                keep = forced_gates[:, k].to(x.dtype)
            x, a_pre = block(x, keep)
            if keep is not None:
                gates.append(keep)
            if return_activations:
                acts.append(a_pre)
        mask = torch.sigmoid(self.back(x))
        g = torch.stack(gates, 1) if gates else None
        s = torch.stack(scores, 1) if scores else None
        a = torch.stack(acts, 1) if return_activations else None
        return mask, g, s, a

    def forward(self, noisy: Tensor, return_activations: bool = False,
                forced_gates: Tensor | None = None) -> ModelOutput:
        if noisy.dim() != 2:
            raise ValueError(f"ConvFSENet expects noisy of shape (batch, n_samples), got {tuple(noisy.shape)}")
        n = noisy.shape[-1]
        spec = self.stft(noisy)
        mask, g, s, a = self.mask_from_features(self.features(spec), forced_gates, return_activations)
        enh_spec = spec * mask
        return ModelOutput(enhanced=self.istft(enh_spec, n), spec_mask=mask, noisy_spec=spec,
                           enhanced_spec=enh_spec, gates=g, activations=a, gate_scores=s)
