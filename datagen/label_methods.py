"""What the frame labels are and which params decide them: recorded in ``dataset_info.json`` and the dataset card.

Kept apart from :mod:`datagen.labels` (the stage that computes the labels) so that the card writer
(:mod:`datagen.card`) can describe them without importing the stage.
"""
from __future__ import annotations

from importlib.metadata import version

from datagen.config import params_hash
from datagen.vad import resolved_params as vad_resolved_params, vad_rule

#: noise frames quieter than this (dBFS) are never "noise active", whatever their level relative to the clip
NOISE_ABS_FLOOR_DBFS = -70.0
LABEL_PARAM_KEYS = ("frames", "labels")


def label_params_hash(params: dict) -> str:
    """:func:`params_hash` of the :data:`LABEL_PARAM_KEYS` sections of ``params``."""
    return params_hash({k: params[k] for k in LABEL_PARAM_KEYS})


def label_methods(params: dict) -> dict:
    lp = params["labels"]
    return dict(
        frame_grid=params["frames"],
        vad=dict(vad_resolved_params(lp["vad"]), rule=vad_rule(lp["vad"]), source="dry clean source utterance"),
        f0=dict(lp["f0"], implementation="torchcrepe", version=version("torchcrepe"),
                note="computed once per source utterance on the frame grid; 0 outside VAD"),
        noise_active=dict(threshold_db_below_max=lp["noise_active_threshold_db"], abs_floor_dbfs=NOISE_ABS_FLOOR_DBFS),
        frame_snr=dict(definition="10 log10(E_speech_frame / E_noise_frame), speech component of the mixture",
                       floor_db=lp["frame_snr_floor_db"], ceil_db=lp["frame_snr_ceil_db"]),
        snr_definition="active-speech power (samples of VAD-active frames) over noise power over the whole mixture",
    )
