"""Per-item seeds: every random choice of an item depends only on (global seed, item id).

So the dataset does not depend on shard count, worker order or how many items were drawn before.
"""
from __future__ import annotations

import hashlib

import numpy as np


def item_seed(global_seed: int, *keys) -> int:
    """63-bit seed from the global seed and any keys (strings/ints), stable across platforms/versions."""
    h = hashlib.sha256(repr((int(global_seed),) + tuple(str(k) for k in keys)).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def item_rng(global_seed: int, *keys) -> np.random.Generator:
    return np.random.default_rng(item_seed(global_seed, *keys))


def uniform_inclusive(rng: np.random.Generator, low: float, high: float) -> float:
    """Continuous draw with BOTH bounds reachable (numpy's ``uniform`` excludes ``high``)."""
    if high < low:
        raise ValueError(f"range low={low} > high={high}")
    u = int(rng.integers(0, 2 ** 53, endpoint=True)) / float(2 ** 53)
    return float(low + (high - low) * u)
