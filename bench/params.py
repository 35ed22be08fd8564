"""Compatibility layer: the params loader now lives in :mod:`datagen.config` (typed schema, validation).

``load_params(path)`` still returns the plain mapping the stages index (``p["train"]["lr"]``), checked
against the schema first (unknown keys, types, ranges: :class:`~datagen.errors.ParamsError`). New code
should use ``datagen.config.load_config(path, overlay)`` and its frozen, typed sections.
"""
from __future__ import annotations

from datagen.config import (  # noqa: F401  (re-exported)
    STAGE_KEYS,
    Params,
    ParamsError,
    add_params_arg,
    check_params_file,
    deep_merge,
    load_config,
    load_params,
    params_hash,
)
