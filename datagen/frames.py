"""The frame grid shared by labels, models, masks, probes and baselines.

One convention everywhere: frame ``t`` is centred on sample ``t * hop_length`` (as ``torch.stft(...,
center=True)``), so a signal of ``n_samples`` has ``1 + n_samples // hop_length`` frames. Labels are
computed on this grid, the model's STFT produces exactly this many frames, and masks are stored per
frame on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameGrid:
    sample_rate_hz: int = 16000
    hop_length: int = 256
    n_fft: int = 512

    @property
    def hop_s(self) -> float:
        return self.hop_length / self.sample_rate_hz

    @property
    def frames_per_s(self) -> float:
        return self.sample_rate_hz / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Number of frames for a signal of ``n_samples`` samples (centre-padded STFT convention)."""
        if n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        return 1 + int(n_samples) // self.hop_length

    def centres_s(self, n_samples: int) -> np.ndarray:
        """Frame centre times in seconds, shape (n_frames,)."""
        return np.arange(self.n_frames(n_samples)) * self.hop_s

    def frame_signal(self, x: np.ndarray, win_length: int | None = None) -> np.ndarray:
        """Slice ``x`` (n_samples,) into centred frames, shape (n_frames, win_length), zero padded."""
        win = int(win_length or self.n_fft)
        n = self.n_frames(len(x))
        pad = win // 2
        xp = np.pad(np.asarray(x), (pad, pad + win))
        idx = np.arange(n)[:, None] * self.hop_length + np.arange(win)[None, :]
        return xp[idx]

    @classmethod
    def from_params(cls, p: dict) -> "FrameGrid":
        return cls(int(p["sample_rate_hz"]), int(p["hop_length"]), int(p["n_fft"]))
