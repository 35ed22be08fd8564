"""Loading ``params.yaml`` (the single source of configuration for every stage)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file not found: {path}")
    with open(path) as f:
        p = yaml.safe_load(f)
    if not isinstance(p, dict):
        raise ValueError(f"{path}: expected a mapping at top level, got {type(p).__name__}")
    return p


def params_hash(p: dict) -> str:
    """sha256 of the canonical JSON of a params mapping (first 16 hex digits)."""
    return hashlib.sha256(json.dumps(p, sort_keys=True, default=str).encode()).hexdigest()[:16]


def add_params_arg(parser) -> None:
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
