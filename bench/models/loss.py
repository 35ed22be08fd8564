"""Training losses: power-law compressed spectral loss, negative SI-SDR and the DynCP budget loss.

The trainer combines them as ``enhancement_loss(...) + budget_weight * budget_loss(...)``
(``params.model.gate.budget_weight``), where ``enhancement_loss = compressed_spectral_loss +
train.loss_sisdr_weight * neg_si_sdr``.
"""
from __future__ import annotations

import torch
from torch import Tensor

#: frames more than this many dB below the loudest clean frame are not "active" for the level estimate
ACTIVE_FLOOR_DB = 40.0
_EPS = 1e-8


def clean_active_level(clean_spec: Tensor, floor_db: float = ACTIVE_FLOOR_DB) -> Tensor:
    """RMS spectral magnitude of the clean signal over its active frames, shape (N, 1, 1).

    ``clean_spec`` (N, F, T) complex. Active frames: frame energy within ``floor_db`` of the
    utterance's loudest frame. Detached (a normalisation constant, not a training target).
    """
    e = clean_spec.detach().abs().pow(2).mean(1)                       # (N, T) mean bin energy
    active = e >= e.amax(1, keepdim=True) * 10.0 ** (-floor_db / 10.0)
    lvl = (e * active).sum(1) / active.sum(1).clamp(min=1)
    return lvl.clamp(min=1e-10).sqrt()[:, None, None]


def rms_level(spec: Tensor) -> Tensor:
    """RMS spectral magnitude over all bins and frames, shape (N, 1, 1) (``spec`` (N, F, T) complex), detached."""
    return spec.detach().abs().pow(2).mean(dim=(1, 2)).clamp(min=1e-10).sqrt()[:, None, None]


def _compress(spec: Tensor, exponent: float) -> tuple[Tensor, Tensor]:
    """(|S|^c, |S|^c * exp(j angle S)) with a smoothed |S| (finite gradient at 0)."""
    mag = (spec.real.pow(2) + spec.imag.pow(2) + _EPS).sqrt()
    cmag = mag.pow(exponent)
    return cmag, spec * (cmag / mag)


def compressed_spectral_loss(enhanced_spec: Tensor, clean_spec: Tensor, exponent: float = 0.3,
                             mag_weight: float = 0.7, level_ref: Tensor | None = None) -> Tensor:
    """``mag_weight * MSE(|E|^c, |C|^c) + (1 - mag_weight) * MSE_complex(E_c, C_c)`` (Miccini et al., ICASSP 2025, arXiv 2412.17121).

    ``enhanced_spec``, ``clean_spec``: (N, F, T) complex STFTs. Both are first divided *inside this
    function* by a per-utterance level, so the loss does not depend on the input level: the clean
    active-speech level (:func:`clean_active_level`), or, with ``level_ref`` (the noisy input's STFT),
    its RMS level (:func:`rms_level`), which stays finite on crops where the clean target is (nearly)
    silent (measured on the default's 2 s training crops: with the clean level, the 5 % of crops with the
    least speech carried 30 % of the loss). ``E_c = |E|^c e^{j angle E}``; the complex term is the
    mean of ``|E_c - C_c|^2``. Returns a scalar.
    """
    if enhanced_spec.shape != clean_spec.shape:
        raise ValueError(f"shape mismatch: enhanced {tuple(enhanced_spec.shape)} vs clean {tuple(clean_spec.shape)}")
    lvl = clean_active_level(clean_spec) if level_ref is None else rms_level(level_ref)
    em, ec = _compress(enhanced_spec / lvl, exponent)
    cm, cc = _compress(clean_spec / lvl, exponent)
    mag = (em - cm).pow(2).mean()
    cplx = (ec - cc).abs().pow(2).mean()
    return mag_weight * mag + (1.0 - mag_weight) * cplx


#: SI-SDR above this (dB) earns no further reward (keeps near-perfect utterances from dominating the mean)
SISDR_CAP_DB = 30.0
#: utterances whose clean energy per sample is below this (about -80 dBFS) have no SI-SDR target: weight 0
SISDR_MIN_POWER = 1e-8


def neg_si_sdr(enhanced: Tensor, clean: Tensor, cap_db: float = SISDR_CAP_DB) -> Tensor:
    """Mean over utterances of ``-min(SI-SDR, cap_db)`` in dB (Le Roux et al., ICASSP 2019), zero-mean signals.

    ``enhanced``, ``clean``: (N, L) waveforms. Utterances with a (near-)silent clean target (a crop that
    falls into a pause) are left out; returns 0 when none is left. Hand-written (8 lines): torchmetrics
    and asteroid are not dependencies here, and neither drops silent targets.
    """
    if enhanced.shape != clean.shape:
        raise ValueError(f"shape mismatch: enhanced {tuple(enhanced.shape)} vs clean {tuple(clean.shape)}")
    e = enhanced - enhanced.mean(-1, keepdim=True)
    c = clean - clean.mean(-1, keepdim=True)
    c_pow = c.pow(2).sum(-1)
    target = (e * c).sum(-1, keepdim=True) / (c_pow[:, None] + _EPS) * c
    sisdr = 10.0 * torch.log10((target.pow(2).sum(-1) + _EPS) / ((e - target).pow(2).sum(-1) + _EPS))
    valid = (c_pow / c.shape[-1]) > SISDR_MIN_POWER
    if not bool(valid.any()):
        return enhanced.new_zeros(())
    return -sisdr.clamp(max=cap_db)[valid].mean()


def enhancement_loss(enhanced_spec: Tensor, clean_spec: Tensor, enhanced: Tensor, clean: Tensor,
                     exponent: float = 0.3, mag_weight: float = 0.7, sisdr_weight: float = 0.0,
                     level_ref: Tensor | None = None) -> Tensor:
    """``compressed_spectral_loss + sisdr_weight * neg_si_sdr`` (spectra (N, F, T) complex, waveforms (N, L);
    ``level_ref``: see :func:`compressed_spectral_loss`).

    With ``sisdr_weight = 0`` this is exactly :func:`compressed_spectral_loss` (the waveform term is not
    computed)."""
    loss = compressed_spectral_loss(enhanced_spec, clean_spec, exponent=exponent, mag_weight=mag_weight,
                                    level_ref=level_ref)
    if sisdr_weight:
        loss = loss + float(sisdr_weight) * neg_si_sdr(enhanced, clean)
    return loss


def budget_loss(gates: Tensor, target_keep: float, per_block: bool = True) -> Tensor:
    """Pull the realised keep ratio toward ``target_keep``.

    ``gates`` (N, n_blocks, H, T) binary (surrogate gradient). ``per_block=True`` (default):
    ``mean_k (mean(gates[:, k]) - target)^2`` (each block meets the target); ``False``:
    ``(mean(gates) - target)^2`` over all blocks. Returns a scalar.
    """
    if gates.dim() != 4:
        raise ValueError(f"gates must be (batch, n_blocks, H, T), got {tuple(gates.shape)}")
    if not 0.0 <= float(target_keep) <= 1.0:
        raise ValueError(f"target_keep must be in [0, 1], got {target_keep}")
    if per_block:
        return (gates.mean(dim=(0, 2, 3)) - float(target_keep)).pow(2).mean()
    return (gates.mean() - float(target_keep)).pow(2)
