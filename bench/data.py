"""Training data: a split's noisy/clean audio held in memory as tensors, random crops drawn on the device.

The datasets are small (default profile: 480 x 4 s) and even VoiceBank+DEMAND (~10 h, ~2.3 GB as float32
for both stems) fits in host or GPU memory, so every utterance is read once (``datagen.dataset``) into
one flat tensor per stem with offsets -- no per-item Python work or DataLoader workers in the loop
(on a GPU the input pipeline, not the model, is the bottleneck).

Randomness: each epoch's order is one permutation shared by all ranks (seed, epoch) and sharded
``perm[rank::world]``; crop offsets come from a rank-offset generator (seed, epoch, rank). Both are
re-derived from the epoch number, so a resumed run draws exactly the crops an uninterrupted run draws.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from datagen.dataset import load_metadata, read_stem


@dataclass
class SplitAudio:
    """All utterances of one split, concatenated.

    ``noisy``/``clean``: (total_samples,) float32 in [-1, 1]; utterance i is
    ``[offsets[i], offsets[i] + lengths[i])``. ``lengths``/``offsets``: (N,) int64 samples.
    """

    split: str
    mixture_ids: list[str]
    noisy: torch.Tensor
    clean: torch.Tensor
    lengths: torch.Tensor
    offsets: torch.Tensor
    sample_rate_hz: int

    def __len__(self) -> int:
        return len(self.mixture_ids)

    @property
    def duration_s(self) -> float:
        return float(self.lengths.sum()) / self.sample_rate_hz

    def to(self, device: torch.device | str) -> "SplitAudio":
        return SplitAudio(self.split, self.mixture_ids, self.noisy.to(device), self.clean.to(device),
                          self.lengths.to(device), self.offsets.to(device), self.sample_rate_hz)

    def utterance(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(noisy, clean) of utterance ``i``, each (n_samples,)."""
        a, n = int(self.offsets[i]), int(self.lengths[i])
        return self.noisy[a:a + n], self.clean[a:a + n]


def load_split_audio(dataset_dir: str | Path, split: str, sample_rate_hz: int = 16000,
                     progress: bool = True) -> SplitAudio:
    """Read every mixture of ``split`` (noisy + clean stems) into memory; checks rate and length."""
    dataset_dir = Path(dataset_dir)
    meta = load_metadata(dataset_dir, split)
    if len(meta) == 0:
        raise ValueError(f"{dataset_dir}/metadata/{split}.parquet: split {split!r} has no mixtures")
    noisy, clean, lengths = [], [], []
    for row in tqdm(meta.itertuples(index=False), total=len(meta), desc=f"load {split}",
                    disable=not progress, leave=False):
        pair = []
        for stem in ("noisy", "clean"):
            path = dataset_dir / getattr(row, f"{stem}_path")
            if not path.is_file():
                raise FileNotFoundError(f"{path}: {stem} audio of {row.mixture_id} is missing")
            sr = sf.info(str(path)).samplerate
            if sr != sample_rate_hz:
                raise ValueError(f"{path}: sample rate {sr} Hz, expected {sample_rate_hz} Hz")
            x = read_stem(dataset_dir, row, stem)
            if x.ndim != 1:
                raise ValueError(f"{path}: expected mono audio, got shape {x.shape}")
            pair.append(x)
        if len(pair[0]) != len(pair[1]):
            raise ValueError(f"{row.mixture_id}: noisy has {len(pair[0])} samples, clean {len(pair[1])}")
        n_expected = getattr(row, "n_samples", None)
        if n_expected is not None and int(n_expected) != len(pair[0]):
            raise ValueError(f"{dataset_dir / row.noisy_path}: {len(pair[0])} samples, metadata says "
                             f"n_samples={int(n_expected)}")
        noisy.append(pair[0]); clean.append(pair[1]); lengths.append(len(pair[0]))
    lengths_t = torch.tensor(lengths, dtype=torch.int64)
    offsets = torch.zeros_like(lengths_t)
    offsets[1:] = torch.cumsum(lengths_t, 0)[:-1]
    return SplitAudio(split, meta["mixture_id"].tolist(),
                      torch.from_numpy(np.concatenate(noisy).astype(np.float32)),
                      torch.from_numpy(np.concatenate(clean).astype(np.float32)),
                      lengths_t, offsets, sample_rate_hz)


def derive_seed(*keys: int) -> int:
    """A 63-bit seed from integer keys (numpy SeedSequence hashing: independent streams per key tuple)."""
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(2, np.uint32)
               .astype(np.uint64).dot(np.array([1, 2**31], np.uint64)))


def epoch_order(n_items: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> torch.Tensor:
    """This rank's item indices for ``epoch``: a shared permutation, padded by wrap-around to a multiple
    of ``world_size`` (every rank gets the same count, as ``DistributedSampler``), sharded by rank."""
    g = torch.Generator().manual_seed(derive_seed(seed, epoch))
    perm = torch.randperm(n_items, generator=g)
    total = math.ceil(n_items / world_size) * world_size
    if total > n_items:
        perm = torch.cat([perm, perm[: total - n_items]])
    return perm[rank::world_size]


def n_batches(n_items: int, batch_size: int, world_size: int = 1) -> int:
    """Optimizer steps per epoch per rank (the last batch may be partial)."""
    return math.ceil(math.ceil(n_items / world_size) / batch_size)


def gather_crops(audio: SplitAudio, items: torch.Tensor, starts: torch.Tensor,
                 crop_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops (len(items), crop_samples) of noisy and clean, zero-padded past an utterance's end."""
    dev = audio.noisy.device
    items, starts = items.to(dev), starts.to(dev)
    pos = starts[:, None] + torch.arange(crop_samples, device=dev)[None, :]
    valid = pos < audio.lengths[items][:, None]
    idx = (audio.offsets[items][:, None] + pos).clamp_(max=audio.noisy.numel() - 1)
    zero = torch.zeros((), device=dev)
    return (torch.where(valid, audio.noisy[idx], zero), torch.where(valid, audio.clean[idx], zero))


def _random_starts(lengths: torch.Tensor, crop_samples: int, g: torch.Generator) -> torch.Tensor:
    """Crop starts ~ uniform over ``[0, max(0, len - crop)]`` for each length (int64, samples)."""
    span = (lengths - crop_samples + 1).clamp(min=1)
    return (torch.rand(len(lengths), generator=g, dtype=torch.float64) * span).long().clamp_(max=span - 1)


def clean_levels(audio: SplitAudio) -> torch.Tensor:
    """(N,) RMS of each utterance's clean stem over its non-zero samples (float32; 0 for a silent one)."""
    out = torch.zeros(len(audio), dtype=torch.float32)
    for i in range(len(audio)):
        c = audio.utterance(i)[1].float()
        nz = c[c != 0]
        out[i] = nz.pow(2).mean().sqrt() if nz.numel() else 0.0
    return out


def crop_batches(audio: SplitAudio, crop_samples: int, batch_size: int, seed: int, epoch: int,
                 rank: int = 0, world_size: int = 1, align_samples: int = 1, with_index: bool = False,
                 remix_p: float = 0.0, levels: torch.Tensor | None = None
                 ) -> Iterator[tuple[torch.Tensor, ...]]:
    """One epoch of random-crop batches ``(noisy, clean)``, each (b, crop_samples) on the audio's device.

    Crop start ~ uniform over ``[0, max(0, len - crop)]`` (shorter utterances start at 0, zero padded),
    rounded down to a multiple of ``align_samples`` (the hop, when frame labels must line up with the
    model's frames; 1 = no rounding). ``with_index=True`` also yields the batch's item indices and crop
    starts in samples: ``(noisy, clean, items (b,), starts (b,))``.

    ``remix_p`` > 0 (dynamic mixing, as in Zeghidour & Grangier's Wavesplit and SpeechBrain's recipes):
    each crop, with probability ``remix_p``, swaps its noise (``noisy - clean``, the dataset sums to the
    mix) for a random crop of another training mixture's noise, scaled by ``levels[i] / levels[donor]``
    (``levels``: :func:`clean_levels`) so the donor's SNR and the recipient's speech level are kept; the
    clean target is unchanged. Draws come from their own generator, so ``remix_p = 0`` yields exactly
    the crops it yielded before the option existed.
    """
    if crop_samples <= 0 or batch_size <= 0:
        raise ValueError(f"crop_samples and batch_size must be > 0, got {crop_samples}, {batch_size}")
    if not 0.0 <= remix_p <= 1.0:
        raise ValueError(f"remix_p must be in [0, 1], got {remix_p}")
    if remix_p > 0 and levels is None:
        raise ValueError("remix_p > 0 needs the clean levels (bench.data.clean_levels)")
    order = epoch_order(len(audio), seed, epoch, rank, world_size)
    g = torch.Generator().manual_seed(derive_seed(seed, epoch, 1_000_003 + rank))
    starts = _random_starts(audio.lengths.cpu()[order], crop_samples, g)
    if align_samples > 1:
        starts = starts // align_samples * align_samples
    if remix_p > 0:
        gr = torch.Generator().manual_seed(derive_seed(seed, epoch, 2_000_003 + rank))
        donors = torch.randint(0, len(audio), (len(order),), generator=gr)
        d_starts = _random_starts(audio.lengths.cpu()[donors], crop_samples, gr)
        swap = torch.rand(len(order), generator=gr) < remix_p
        gain = torch.where(levels[donors] > 0, levels[order] / levels[donors].clamp(min=1e-12),
                           torch.zeros(()))
    for b in range(0, len(order), batch_size):
        items, st = order[b:b + batch_size], starts[b:b + batch_size]
        noisy, clean = gather_crops(audio, items, st, crop_samples)
        if remix_p > 0:
            sl = slice(b, b + batch_size)
            dn, dc = gather_crops(audio, donors[sl], d_starts[sl], crop_samples)
            new = clean + (dn - dc) * gain[sl].to(clean.device)[:, None]
            noisy = torch.where(swap[sl].to(clean.device)[:, None], new, noisy)
        yield (noisy, clean, items, st) if with_index else (noisy, clean)


def full_utterance_batches(audio: SplitAudio, batch_size: int, rank: int = 0, world_size: int = 1
                           ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed validation batches: full utterances of equal length batched together (no padding, so the
    loss sees exactly the utterance); utterances sharded ``rank::world_size`` in a fixed order."""
    mine = list(range(rank, len(audio), world_size))
    by_len: dict[int, list[int]] = {}
    for i in mine:
        by_len.setdefault(int(audio.lengths[i]), []).append(i)
    for n in sorted(by_len):
        ids = by_len[n]
        for b in range(0, len(ids), batch_size):
            chunk = torch.tensor(ids[b:b + batch_size])
            yield gather_crops(audio, chunk, torch.zeros(len(chunk), dtype=torch.int64), n)
