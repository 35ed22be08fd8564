"""Log-mel front-end of the trained baselines, on the shared frame grid (one feature frame per label frame).

``torchaudio.transforms.MelSpectrogram(n_fft=512, hop=256, center=True, power=2, 64 mels)`` then
``log(mel + 1e-6)``. With ``center=True`` frame ``t`` is centred on sample ``t * hop``, i.e. exactly the
grid of :mod:`datagen.frames` (``1 + n_samples // hop`` frames).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torchaudio

from datagen.frames import FrameGrid

N_MELS = 64
LOG_EPS = 1e-6


class LogMel(torch.nn.Module):
    """(B, n_samples) float waveform at 16 kHz -> (B, n_mels, n_frames) log-mel."""

    def __init__(self, grid: FrameGrid = FrameGrid(), n_mels: int = N_MELS):
        super().__init__()
        self.grid, self.n_mels = grid, n_mels
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=grid.sample_rate_hz, n_fft=grid.n_fft, hop_length=grid.hop_length,
            win_length=grid.n_fft, center=True, power=2.0, n_mels=n_mels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(self.mel(x) + LOG_EPS)


_LOGMEL_CACHE: dict = {}


def log_mel(x: np.ndarray, grid: FrameGrid = FrameGrid(), n_mels: int = N_MELS) -> np.ndarray:
    """Log-mel of one waveform ``x`` (n_samples,) float in [-1, 1] -> (n_frames, n_mels) float32."""
    key = (grid, n_mels)
    if key not in _LOGMEL_CACHE:
        _LOGMEL_CACHE[key] = LogMel(grid, n_mels)
    with torch.no_grad():
        f = _LOGMEL_CACHE[key](torch.as_tensor(np.asarray(x, np.float32))[None])[0].T.numpy()
    if f.shape[0] != grid.n_frames(len(x)):
        raise AssertionError(f"log-mel has {f.shape[0]} frames, grid expects {grid.n_frames(len(x))}")
    return np.ascontiguousarray(f, dtype=np.float32)


def frontend_macs_per_frame(grid: FrameGrid = FrameGrid(), n_mels: int = N_MELS) -> dict:
    """Analytic multiply-accumulates of the log-mel front-end per frame (not seen by FlopCounterMode,
    which does not count FFTs). Conventions, stated so the figure can be checked:

    * Hann window: ``n_fft`` real multiplies;
    * real FFT of ``n_fft`` points as a complex radix-2 FFT of ``n_fft/2`` points plus an untangling
      pass: ``(n_fft/4) * log2(n_fft/2)`` butterflies x 4 real MACs + ``n_fft/2`` x 4 real MACs;
    * power spectrum: 2 MACs per bin (``n_fft/2 + 1`` bins);
    * mel projection: dense ``(n_fft/2 + 1) x n_mels`` matrix product (torchaudio's implementation);
    * log: counted as 1 op per mel bin; feature standardisation: 1 MAC per mel bin.
    """
    n = grid.n_fft
    bins = n // 2 + 1
    parts = dict(window=n, fft=int((n // 4) * math.log2(n // 2) * 4 + (n // 2) * 4), power=2 * bins,
                 mel=bins * n_mels, log=n_mels, standardise=n_mels)
    parts["total"] = int(sum(parts.values()))
    return parts


def frontend_macs_per_s(grid: FrameGrid = FrameGrid(), n_mels: int = N_MELS) -> float:
    """Front-end MACs per second of audio (analytic, see :func:`frontend_macs_per_frame`)."""
    return frontend_macs_per_frame(grid, n_mels)["total"] * grid.frames_per_s
