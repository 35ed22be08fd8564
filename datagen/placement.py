"""Placing source utterances (and their per-frame labels) into a mixture.

Plan offsets are multiples of the hop, so source frame j (centred on source sample j*hop) is mixture
frame j + (dst_start - src_start) / hop exactly; a source frame is kept if its centre lies inside the
placed excerpt [src_start, src_start + n).
"""
from __future__ import annotations

import numpy as np


def place_audio(out: np.ndarray, src: np.ndarray, src_start: int, dst_start: int, n: int) -> None:
    """Add ``src[src_start:src_start+n]`` into ``out[dst_start:...]`` in place (truncated at both ends)."""
    n = min(n, len(src) - src_start, len(out) - dst_start)
    if n > 0:
        out[dst_start:dst_start + n] += src[src_start:src_start + n]


def place_frames(out: np.ndarray, src_frames: np.ndarray, src_start: int, dst_start: int, n: int,
                 hop: int) -> None:
    """Copy per-frame values of an excerpt into ``out`` (mixture frames), in place."""
    if src_start % hop or dst_start % hop:
        raise ValueError(f"offsets must be multiples of hop={hop}: src {src_start}, dst {dst_start}")
    j = np.arange(len(src_frames))
    centre = j * hop
    keep = (centre >= src_start) & (centre < src_start + n)
    t = j[keep] + (dst_start - src_start) // hop
    ok = (t >= 0) & (t < len(out))
    out[t[ok]] = np.asarray(src_frames)[keep][ok]


def loop_segment(x: np.ndarray, offset: int, n: int) -> np.ndarray:
    """``n`` samples of ``x`` starting at ``offset``, wrapping around (looping) when ``x`` is shorter."""
    if len(x) == 0:
        raise ValueError("cannot loop an empty signal")
    return x[(offset + np.arange(n)) % len(x)]
