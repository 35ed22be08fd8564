"""Level names of ``params.levels``: a pruning level (``static``, ``keep50``, ...) or a training-seed replicate
``<level>_seed<k>``, and their target keep ratios. Read by train, enhance, score and the report alike.
"""
from __future__ import annotations

from datagen.config import REPLICATE_RE  # <level>_seed<k>


def parse_level(params: dict, level: str) -> tuple[str, int]:
    """``(base level, training-seed index)``: ``keep50`` -> ("keep50", 0); a seed replicate
    ``keep50_seed2`` -> ("keep50", 2). Replicates are listed in ``levels`` (so enhance/score/report treat
    them as systems; probes skip them), carry their base level's keep, and are the same recipe with other
    seeds: model init, data order and, for gated levels, the warm start ``<init_gated_from>_seed<k>``."""
    levels = params.get("levels") or {}
    if level not in levels:
        raise KeyError(f"params: level {level!r} not in levels {sorted(levels)}")
    m = REPLICATE_RE.match(level)
    if m and m.group("base") in levels:
        base = m.group("base")
        if float(levels[level]) != float(levels[base]):
            raise ValueError(f"params: levels.{level} = {levels[level]} must equal its base levels.{base} = "
                             f"{levels[base]} (a seed replicate)")
        return base, int(m.group("k"))
    return level, 0


def replicate_levels(params: dict) -> list[str]:
    """Seed replicates listed in ``levels`` (``<level>_seed<k>`` of another level)."""
    return [lv for lv in (params.get("levels") or {}) if parse_level(params, lv)[1] > 0]


def level_keep(params: dict, level: str) -> float:
    """Target keep ratio of ``level`` (or of its base level for a seed replicate); a clear error for
    unknown names or values outside (0, 1]."""
    levels = params.get("levels") or {}
    parse_level(params, level)
    keep = float(levels[level])
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"params: levels.{level} = {keep}, expected a keep ratio in (0, 1]")
    return keep


def causal_static_of(params: dict, level: str) -> str | None:
    """The causal static level ``level`` belongs to (``causal.static_levels`` / ``causal.gated_levels``):
    the level itself for a causal static level, its warm start for a causal gated one, None otherwise."""
    cz = params.get("causal") or {}
    if level in (cz.get("static_levels") or []):
        return level
    return (cz.get("gated_levels") or {}).get(level)


def is_causal(params: dict, level: str) -> bool:
    """Whether ``level`` is trained with ``model.causal: true`` (a causal twin, see ``causal`` in params)."""
    return causal_static_of(params, level) is not None


def model_params(params: dict, level: str) -> dict:
    """``params`` as ``level``'s model sees them: a causal level gets ``model.causal: true`` (a copy);
    any other level gets ``params`` itself (so its training fingerprint is unchanged)."""
    if not is_causal(params, level) or params["model"].get("causal"):
        return params
    return {**params, "model": {**params["model"], "causal": True}}


def reference_level(params: dict, level: str, default: str = "static") -> str:
    """The static level ``level`` is compared with (gain retained, paired differences): its causal static
    level for a causal gated level, else ``default`` (``report.reference``)."""
    ref = causal_static_of(params, level)
    return ref if ref is not None and ref != level else default
