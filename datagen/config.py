"""The typed configuration of the whole pipeline: one schema, one loader, one error format.

``params.yaml`` holds every default (DVC tracks its values); this module holds the *schema*: one pydantic
model per section (``extra="forbid"``, frozen, strict types: ``2e-3`` without a dot is a YAML string and is
refused, ``true`` is not an int), the ranges each value may take, and the checks across sections
(``gated_levels`` vs ``levels``, ``hop_length`` vs ``n_fft``, ...). A profile (``profiles/<name>.yaml``) is
an *overlay* deep-merged onto ``params.yaml`` (:func:`deep_merge`; a key ending in ``!`` replaces the base
mapping whole). Keys that ``params.yaml`` does not carry are optional here, with a default stated once in
the field (``None`` = "the stage's documented behaviour").

Entry points
  * :func:`load_config` -> :class:`Params` (frozen, typed; ``cfg.train.lr``): full validation.
  * :func:`load_params` -> ``dict`` (what the stages' ``p["train"]["lr"]`` code reads): the YAML mapping
    exactly as written, after checking every value present (unknown keys, types, ranges); used by every
    stage's ``cli`` and by tests that hand a stage a partial params file.
  * :func:`check_params_file`: full validation (missing keys, cross-section checks) of a params file; run
    by ``sebench <stage>`` before any work (``bench/cli.py``).
Every failure is a :class:`~datagen.errors.ParamsError` whose message is one line: the file, the key's
dotted path, the offending value and what is allowed (``unknown key plan.snr_dbb (did you mean
plan.snr_db?)``).

Extending: a new key = a field on its section's class below (type + ``Field`` constraint, a comment with
its unit) *and* its default in ``params.yaml``; a new section = a class + a field on :class:`Params`;
a check across sections = a few lines in :meth:`Params._cross_checks`. ``STAGE_KEYS`` lists what each
``sebench`` stage reads (for DVC ``params:`` scoping).
"""
from __future__ import annotations

import argparse
import copy
import difflib
import hashlib
import json
import re
import typing
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from datagen.errors import ParamsError

SPLITS = ("train", "valid", "test")
PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"


def _fail(msg: str, key: str = "") -> PydanticCustomError:
    """A validation error with a verbatim message; ``key`` (dotted) is appended to the error's location."""
    return PydanticCustomError("params", "{msg}", {"msg": msg, "key": key})


class Section(BaseModel):
    """Base of every section: unknown keys refused, values frozen, no silent type coercion."""
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


PosInt = typing.Annotated[int, Field(ge=1)]
NonNegInt = typing.Annotated[int, Field(ge=0)]
PosFloat = typing.Annotated[float, Field(gt=0)]
NonNegFloat = typing.Annotated[float, Field(ge=0)]
Fraction = typing.Annotated[float, Field(ge=0, le=1)]
Name = typing.Annotated[str, Field(min_length=1)]


class FloatRange(Section):
    """A closed interval ``[low, high]`` (uniform sampling in the plan)."""
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise _fail(f"low {self.low} > high {self.high}: need low <= high")
        return self


class IntRange(Section):
    low: NonNegInt
    high: NonNegInt

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise _fail(f"low {self.low} > high {self.high}: need low <= high")
        return self


# ----------------------------------------------------------------------------------------------- sections
class Frames(Section):
    """The one frame grid (datagen/frames.py): frame t centred on sample t * hop_length."""
    sample_rate_hz: PosInt
    hop_length: PosInt
    n_fft: PosInt

    @model_validator(mode="after")
    def _model_stft(self):
        # bench/models/fsenet.py: Hann window of n_fft, torch.stft/istft(center=True). torch.istft needs the
        # window overlap-add to be nonzero (NOLA), i.e. hop < n_fft; the model, its MAC counts, the gate
        # pooling (pool_frames) and the shipped F0 cache are built for the reference grid of the papers,
        # Hann n_fft with 50 % overlap (n_fft 512, hop 256 at 16 kHz). Enforce exactly that grid shape.
        if self.n_fft % 2:
            raise _fail(f"{self.n_fft} is not allowed: must be even (F = n_fft/2 + 1 bins)", "n_fft")
        if self.hop_length != self.n_fft // 2:
            raise _fail(f"{self.hop_length} is not allowed: must equal frames.n_fft / 2 = {self.n_fft // 2} "
                        "(the model's Hann-window STFT at 50 % overlap, bench/models/fsenet.py)", "hop_length")
        return self


class Paths(Section):
    corpus_dir: Name
    plan_dir: Name
    dataset_dir: Name
    models_dir: Name
    enhanced_dir: Name
    scores_dir: Name
    probes_dir: Name
    baselines_dir: Name
    reports_dir: Name


class Source(BaseModel):
    """One corpus source: ``type`` picks the reader in datagen/sources; its other keys are checked by that
    reader at the corpus stage (each type has its own; see the docstrings of datagen/sources/*.py)."""
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    type: Name


class SpeechSplit(Section):
    """Speaker-disjoint speech split: explicit speaker lists, plus ``n_speakers`` drawn per split."""
    train: list[str] = Field(default_factory=list)
    valid: list[str] = Field(default_factory=list)
    test: list[str] = Field(default_factory=list)
    n_speakers: Optional[dict[Literal["train", "valid", "test"], NonNegInt]] = None


class SplitFractions(Section):
    train: Fraction
    valid: Fraction
    test: Fraction

    @model_validator(mode="after")
    def _sum(self):
        s = self.train + self.valid + self.test
        if abs(s - 1.0) > 1e-6:
            raise _fail(f"fractions sum to {s:g}: must sum to 1")
        return self


class SplitCounts(Section):
    train: NonNegInt
    valid: NonNegInt
    test: NonNegInt


class Procedural(Section):
    clips_per_class: SplitCounts
    clip_duration_s: PosFloat
    babble_pool_max: NonNegInt
    generators: Optional[list[Name]]              # None: every generator of datagen/procedural.py


class Corpus(Section):
    sources: list[Source] = Field(min_length=1)
    min_duration_s: NonNegFloat
    silence_peak_dbfs: typing.Annotated[float, Field(le=0)]
    speech_split: SpeechSplit
    noise_split_fractions: SplitFractions
    procedural: Procedural
    noise_min_groups: Optional[dict[Literal["train", "valid", "test"], NonNegInt]]   # min source groups per class


class NMixtures(Section):
    """Mixtures per split; null (paired corpora): one per pair."""
    train: Optional[PosInt]
    valid: Optional[PosInt]
    test: Optional[PosInt]


class RoomDims(Section):
    low: list[PosFloat] = Field(min_length=3, max_length=3)
    high: list[PosFloat] = Field(min_length=3, max_length=3)

    @model_validator(mode="after")
    def _ordered(self):
        if any(a > b for a, b in zip(self.low, self.high)):
            raise _fail(f"low {self.low} > high {self.high} on some axis: need low <= high per axis")
        return self


class Reverb(Section):
    prob: Fraction
    rt60_s: FloatRange
    room_dim_m: RoomDims
    early_ms: NonNegFloat


class Plan(Section):
    n_mixtures: NMixtures
    duration_s: PosFloat
    snr_db: FloatRange
    target_level_dbfs: FloatRange
    utterances_per_mixture: IntRange
    gap_s: FloatRange
    reverb: Reverb

    @model_validator(mode="after")
    def _ranges(self):
        if self.utterances_per_mixture.low < 1:
            raise _fail(f"{self.utterances_per_mixture.low} is not allowed: must be >= 1",
                        "utterances_per_mixture.low")
        if self.gap_s.low < 0:
            raise _fail(f"{self.gap_s.low} is not allowed: must be >= 0", "gap_s.low")
        if self.target_level_dbfs.high > 0:
            raise _fail(f"{self.target_level_dbfs.high} is not allowed: must be <= 0 dBFS", "target_level_dbfs.high")
        if self.reverb.rt60_s.low <= 0:
            raise _fail(f"{self.reverb.rt60_s.low} is not allowed: must be > 0", "reverb.rt60_s.low")
        return self


class Render(Section):
    workers: PosInt


class Paired(Section):
    """Alignment checks of pre-mixed noisy/clean pairs (datagen/paired.py)."""
    max_length_diff_s: NonNegFloat
    min_corr: typing.Annotated[float, Field(ge=-1, le=1)]
    search_lag_s: NonNegFloat
    max_lag_samples: NonNegInt
    max_residual_db: float


VAD_KEYS = {   # labels.vad keys per method (datagen/vad.py: energy_vad, FloorRelativeParams); None = optional
    "energy": {"threshold_db_below_max": "required", "abs_floor_dbfs": "required", "hangover_frames": "required"},
    "floor_relative": {k: None for k in ("highpass_hz", "floor_window_s", "threshold_db_above_floor",
                                         "threshold_cap_db_below_ref", "threshold_db_below_max", "abs_floor_dbfs",
                                         "min_speech_s", "min_pause_s", "hangover_frames")},
}


class Vad(Section):
    """Ground-truth VAD of the dry source (datagen/vad.py); which keys apply depends on ``method``.
    Keys a method leaves out take datagen/vad.py's defaults (floor_relative)."""
    method: Literal[tuple(VAD_KEYS)]   # type: ignore[valid-type]
    threshold_db_below_max: Optional[NonNegFloat] = None
    abs_floor_dbfs: Optional[typing.Annotated[float, Field(le=0)]] = None
    hangover_frames: Optional[NonNegInt] = None
    highpass_hz: Optional[NonNegFloat] = None
    floor_window_s: Optional[NonNegFloat] = None
    threshold_db_above_floor: Optional[NonNegFloat] = None
    threshold_cap_db_below_ref: Optional[NonNegFloat] = None
    min_speech_s: Optional[NonNegFloat] = None
    min_pause_s: Optional[NonNegFloat] = None

    @model_validator(mode="after")
    def _method_keys(self):
        keys = VAD_KEYS[self.method]
        for name in type(self).model_fields:
            if name == "method":
                continue
            if name in self.model_fields_set and name not in keys:
                raise _fail(f"not a key of method {self.method!r} (its keys: {', '.join(keys)}; a profile that "
                            "switches the method replaces the block whole: `vad!:`)", name)
            if keys.get(name) == "required" and getattr(self, name) is None:
                raise _fail(f"missing (method {self.method!r} needs {', '.join(keys)})", name)
        return self


class F0(Section):
    model: Literal["tiny", "full"]   # torchcrepe model
    fmin_hz: PosFloat
    fmax_hz: PosFloat
    periodicity_threshold: Fraction
    decoder: Literal["viterbi", "argmax", "weighted_argmax"]

    @model_validator(mode="after")
    def _band(self):
        if self.fmin_hz >= self.fmax_hz:
            raise _fail(f"fmin_hz {self.fmin_hz} >= fmax_hz {self.fmax_hz}: need fmin_hz < fmax_hz")
        return self


class Labels(Section):
    vad: Vad
    f0: F0
    noise_active_threshold_db: PosFloat
    frame_snr_floor_db: float
    frame_snr_ceil_db: float

    @model_validator(mode="after")
    def _snr_clip(self):
        if self.frame_snr_floor_db >= self.frame_snr_ceil_db:
            raise _fail(f"{self.frame_snr_floor_db} is not allowed: must be < labels.frame_snr_ceil_db "
                        f"({self.frame_snr_ceil_db})", "frame_snr_floor_db")
        return self


class Arch(BaseModel):
    """One model size of ``model.configs``. For ``model.architecture: conv_fsenet`` (bench/models/fsenet.py
    FSENetConfig) the six fields below are required and nothing else is allowed (checked in :class:`Model`);
    another registered architecture brings its own keys, which its ``config_from_params`` checks."""
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    bottleneck: Optional[PosInt] = None
    hidden: Optional[PosInt] = None
    stacks: Optional[PosInt] = None
    blocks_per_stack: Optional[PosInt] = None
    kernel: Optional[PosInt] = None
    compress_exponent: Optional[PosFloat] = None


CONV_FSENET_KEYS = ("bottleneck", "hidden", "stacks", "blocks_per_stack", "kernel", "compress_exponent")


class Gate(Section):
    pool_frames: PosInt
    hidden: PosInt
    n_layers: PosInt
    surrogate: Literal["sigmoid", "ste"]
    surrogate_slope: PosFloat
    budget_weight: NonNegFloat
    budget: Literal["per_block", "global"]        # per_block: every block meets the target | global: one budget


class Model(Section):
    architecture: Name                            # bench/models/registry.py REGISTRY key (conv_fsenet)
    config: Name
    configs: dict[str, Arch] = Field(min_length=1)
    causal: bool
    gate: Gate

    @model_validator(mode="after")
    def _config_exists(self):
        if self.config not in self.configs:
            raise _fail(f"{self.config!r} is not allowed: must name one of model.configs "
                        f"{sorted(self.configs)}{_did_you_mean(self.config, self.configs, quote=True)}", "config")
        if self.architecture == "conv_fsenet":
            for name, a in self.configs.items():
                for k in sorted(a.model_extra or {}):
                    raise _fail(f"unknown key for a conv_fsenet size{_did_you_mean(k, CONV_FSENET_KEYS)}; "
                                f"expected {list(CONV_FSENET_KEYS)}", f"configs.{name}.{k}")
                missing = [k for k in CONV_FSENET_KEYS if getattr(a, k) is None]
                if missing:
                    raise _fail(f"missing {missing} (conv_fsenet sizes need {list(CONV_FSENET_KEYS)})",
                                f"configs.{name}")
        return self


class Joint(Section):
    levels: list[Name]
    weight: NonNegFloat
    tasks: list[Name] = Field(min_length=1)


DEVICE_RE = r"^(auto|cpu|cuda(:\d+)?)$"
REPLICATE_RE = re.compile(r"^(?P<base>.+)_seed(?P<k>[1-9][0-9]*)$")   # training-seed replicate <level>_seed<k>: the one definition


class Train(Section):
    epochs: PosInt
    epochs_gated: Optional[PosInt]
    patience: Optional[PosInt]                    # early stopping: epochs without a lower valid loss (None: never)
    select: Literal["best_valid", "last"]         # model.pt = epoch with the lowest valid loss | the last epoch
    replicate_seeds: list[typing.Annotated[int, Field(ge=1)]]   # extra seeds k: levels <level>_seed<k>
    replicate_levels: list[Name]                  # gated levels replicated (static is, whenever seeds are given)
    budget_overrides: dict[Name, Literal["per_block", "global"]]   # gated level -> model.gate.budget
    init_gated_from: Optional[Name]
    init_overrides: dict[Name, Optional[Name]]    # gated level -> its warm start (null: from scratch, train.epochs)
    joint: Joint
    batch_size: PosInt
    crop_s: PosFloat
    lr: PosFloat
    lr_min: NonNegFloat
    loss_mag_weight: Fraction
    loss_sisdr_weight: NonNegFloat                # weight of -SI-SDR (dB) added to the spectral loss (0: off)
    loss_level: Literal["clean_active", "noisy_rms"]   # per-utterance level the spectral loss divides by
    device: Name                                  # auto | cpu | cuda[:k]
    num_threads: PosInt
    grad_clip_norm: Optional[PosFloat]            # None: no gradient clipping
    remix_p: Fraction = 0.0                       # dynamic mixing: share of crops given another mixture's noise

    @model_validator(mode="after")
    def _lr(self):
        if not re.fullmatch(DEVICE_RE, self.device):
            raise _fail(f"{self.device!r} is not allowed: must be auto, cpu, cuda or cuda:<index>", "device")
        if self.lr_min > self.lr:
            raise _fail(f"{self.lr_min} is not allowed: must be <= train.lr ({self.lr})", "lr_min")
        return self


class Enhance(Section):
    splits: list[Literal["train", "valid", "test"]] = Field(min_length=1)
    pesq_check: bool


# score.metrics names (bench/score/metrics.py METRIC_INFO, plus ``dnsmos`` = its four outputs; kept in sync by
# tests/datagen/test_config.py): a new metric is added there and here
SCORE_METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl",
                 "dnsmos_p808")


class Score(Section):
    workers: PosInt
    bootstrap_n: PosInt
    metrics: list[Literal[SCORE_METRICS]] = Field(min_length=1)   # type: ignore[valid-type]
    dnsmos_max_utts: Optional[NonNegInt]
    snr_bins_db: list[float] = Field(min_length=1)
    bootstrap_clusters: Optional[list[Name]] = None   # None: bench/score/bootstrap.py CLUSTER_COLUMNS

    @model_validator(mode="after")
    def _bins(self):
        if any(b >= a for b, a in zip(self.snr_bins_db, self.snr_bins_db[1:])):
            raise _fail(f"{self.snr_bins_db} is not allowed: must increase strictly", "snr_bins_db")
        return self


CStar = Union[PosInt, Literal["all"]]
# the probe stage's controls (bench/probes/cli.py DEFAULTS["controls"]; a new control is added in both places)
PROBE_CONTROLS = ("majority", "shuffled_labels", "random_masks", "logmel", "static_act_binarised", "block_counts",
                  "log_energy")


class Mlp(Section):
    enabled: bool
    hidden: PosInt
    alpha_grid: list[NonNegFloat] = Field(min_length=1)
    max_iter: PosInt
    max_train_frames: PosInt
    n_seeds: NonNegInt


class Probe(Section):
    seeds: list[NonNegInt] = Field(min_length=1)
    max_train_frames: PosInt
    c_star_grid: list[CStar] = Field(min_length=1)
    c_star_tol: NonNegFloat
    curve_seeds: NonNegInt
    max_valid_frames: PosInt
    reg_grid_logistic: list[PosFloat] = Field(min_length=1)
    reg_grid_ridge: list[PosFloat] = Field(min_length=1)
    max_iter: PosInt
    mlp: Mlp
    tsne_frames: NonNegInt
    logmel_n_mels: PosInt
    blocks: Optional[list[NonNegInt]]
    num_threads: PosInt
    workers: PosInt
    controls: list[Literal[PROBE_CONTROLS]]   # type: ignore[valid-type]
    control_seeds: Optional[NonNegInt]
    bootstrap_n: Optional[PosInt] = None           # None: 1000 replicates of the probe scores' CIs (bench/probes)


class Baselines(Section):
    epochs: PosInt
    sizes: list[Name] = Field(min_length=1)
    crepe_full_max_s: Optional[NonNegFloat]      # None: the whole test split
    crepe_tiny_max_s: Optional[NonNegFloat]
    pyin_max_s: Optional[NonNegFloat]
    patience: PosInt
    lr: PosFloat
    batch_size: PosInt
    causal: bool
    bootstrap_n: PosInt
    num_threads: PosInt
    size_configs: Optional[dict[str, dict[str, Any]]] = None   # extra sizes (bench/baselines/models.py SIZES)


class Report(Section):
    bootstrap_seed: NonNegInt
    reference: Name
    example_level: Optional[Name]
    example_mixture: Optional[Name]
    bootstrap_n: Optional[PosInt] = None          # None: 1000 replicates (bench/report/cli.py)


class Causal(Section):
    """Causal twins of the levels: ``model.causal`` true for these (past frames only, so they stream with
    no look-ahead); each gated one warm-starts from, and is compared with, its causal static level."""
    static_levels: list[Name]                     # causal static levels (keep 1.0); DVC foreach, may be empty
    gated_levels: dict[Name, Name]                # causal gated level -> its causal static level


class Params(Section):
    """The whole ``params.yaml`` (after a profile overlay). Sections in pipeline order."""
    profile: Name
    seed: NonNegInt
    frames: Frames
    paths: Paths
    corpus: Corpus
    plan: Plan
    render: Render
    paired: Paired
    labels: Labels
    model: Model
    levels: dict[str, typing.Annotated[float, Field(gt=0, le=1)]]   # name -> target keep; 1.0 = static
    gated_levels: list[Name]
    causal: Causal = Causal(static_levels=[], gated_levels={})
    train: Train
    enhance: Enhance
    score: Score
    probe: Probe
    baselines: Baselines
    report: Report

    @model_validator(mode="after")
    def _cross_checks(self):
        lv = self.levels
        bad = [k for k in lv if not re.fullmatch(r"[A-Za-z0-9_]+", k)]
        if bad:
            raise _fail(f"{bad[0]!r} is not allowed: level names use letters, digits and _ (folder and DVC "
                        "stage names)", "levels")
        # seed replicates <base>_seed<k> (bench/train.py parse_level): same keep as their base, not gated_levels
        reps = {k: m.group("base") for k in lv for m in [REPLICATE_RE.match(k)] if m and m.group("base") in lv}
        for r, b in reps.items():
            if lv[r] != lv[b]:
                raise _fail(f"{lv[r]} is not allowed: a seed replicate keeps its base level's keep "
                            f"(levels.{b} = {lv[b]})", f"levels.{r}")
        cz = self.causal
        for i, c in enumerate(cz.static_levels):
            if lv.get(c) != 1.0:
                raise _fail(f"{c!r} is not allowed: must be a static level (keep 1.0) of `levels`"
                            f"{_did_you_mean(c, lv, quote=True)}", f"causal.static_levels[{i}]")
        for c, ref in cz.gated_levels.items():
            if c not in lv or lv[c] >= 1.0:
                raise _fail(f"{c!r} is not allowed: must be a level of `levels` with keep < 1"
                            f"{_did_you_mean(c, lv, quote=True)}", f"causal.gated_levels.{c}")
            if ref not in cz.static_levels:
                raise _fail(f"{ref!r} is not allowed: must be one of causal.static_levels {cz.static_levels}",
                            f"causal.gated_levels.{c}")
        causal_names = set(cz.static_levels) | set(cz.gated_levels)
        bad = sorted(causal_names & (set(reps) | set(reps.values())))
        if bad:
            raise _fail(f"{bad} are not allowed: causal levels have no seed replicates", "causal")
        gated = sorted(k for k, v in lv.items() if v < 1.0 and k not in reps and k not in cz.gated_levels)
        for i, g in enumerate(self.gated_levels):
            if g not in lv:
                raise _fail(f"{g!r} is not a level in `levels` {sorted(lv)}{_did_you_mean(g, lv, quote=True)}",
                            f"gated_levels[{i}]")
            if lv[g] >= 1.0:
                raise _fail(f"{g!r} has keep {lv[g]}: gated levels must have keep < 1", f"gated_levels[{i}]")
        if sorted(self.gated_levels) != gated:
            raise _fail(f"{self.gated_levels} must list exactly the levels with keep < 1 that are neither seed "
                        f"replicates nor causal.gated_levels: {gated}", "gated_levels")
        seeds = self.train.replicate_seeds
        for i, b in enumerate(self.train.replicate_levels):
            if b not in self.gated_levels:
                raise _fail(f"{b!r} is not a gated level (gated_levels: {self.gated_levels})"
                            f"{_did_you_mean(b, self.gated_levels, quote=True)}", f"train.replicate_levels[{i}]")
        bases = (["static"] if seeds else []) + list(self.train.replicate_levels)
        want = sorted(f"{b}_seed{k}" for b in bases for k in seeds)
        if sorted(reps) != want:
            raise _fail(f"must list exactly the seed replicates {want} (train.replicate_seeds x [static] + "
                        f"train.replicate_levels); found {sorted(reps)}", "levels")
        for i, j in enumerate(self.train.joint.levels):
            if j not in self.gated_levels:
                raise _fail(f"{j!r} is not a gated level (gated_levels: {self.gated_levels})"
                            f"{_did_you_mean(j, self.gated_levels, quote=True)}", f"train.joint.levels[{i}]")
        for lvl in self.train.budget_overrides:   # a level absent from `levels` (a profile dropped it) is unused
            if lvl in lv and lvl not in self.gated_levels:
                raise _fail(f"{lvl!r} is not a gated level (gated_levels: {self.gated_levels})"
                            f"{_did_you_mean(lvl, self.gated_levels, quote=True)}", f"train.budget_overrides.{lvl}")
        src = self.train.init_gated_from
        if src is not None and lv.get(src, 0.0) < 1.0:
            raise _fail(f"{src!r} is not allowed: must name a static level (keep 1.0) of `levels` or be null",
                        "train.init_gated_from")
        for lvl, src in self.train.init_overrides.items():   # a level absent from `levels` is unused
            if lvl in lv and lvl not in self.gated_levels:
                raise _fail(f"{lvl!r} is not a gated level (gated_levels: {self.gated_levels})"
                            f"{_did_you_mean(lvl, self.gated_levels, quote=True)}", f"train.init_overrides.{lvl}")
            if src is not None and lv.get(src, 0.0) < 1.0:
                raise _fail(f"{src!r} is not allowed: must name a static level (keep 1.0) of `levels` or be null",
                            f"train.init_overrides.{lvl}")
        ref = self.report.reference
        if ref not in lv and ref != "noisy":
            raise _fail(f"{ref!r} is not allowed: must be a level of `levels` or 'noisy'"
                        f"{_did_you_mean(ref, lv, quote=True)}", "report.reference")
        ex = self.report.example_level
        if ex is not None and ex not in self.gated_levels:
            raise _fail(f"{ex!r} is not allowed: must be a gated level {self.gated_levels} or null",
                        "report.example_level")
        paired = any(s.type in ("vbd", "paired") or (s.model_extra or {}).get("paired") for s in self.corpus.sources)
        for split in SPLITS:
            if getattr(self.plan.n_mixtures, split) is None and not paired:
                raise _fail("null (one mixture per pair) is not allowed without a paired corpus source (type vbd "
                            "or paired, or paired: true): must be an int >= 1", f"plan.n_mixtures.{split}")
        return self


# Which params keys each `sebench` stage reads to make its outputs (grep of the code; keys that change no output
# byte, such as workers / num_threads / device, are left out). This is what DVC's `params:` of each stage
# should list. `train_static` / `train` (gated, DVC foreach) also read `levels.<level>`, the gated ones
# `levels.<train.init_gated_from>`; `enhance` reads `levels.<level>`. Known wider reads (issue 15, item 5):
# labels hashes the whole params into dataset_info.json and the card; train hashes the whole `train` and
# `model` sections into its resume fingerprint and the whole params into train_summary.json.
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "corpus": ("seed", "frames.sample_rate_hz", "paths.corpus_dir", "corpus"),
    "plan": ("seed", "frames.sample_rate_hz", "frames.hop_length", "paths.corpus_dir", "paths.plan_dir", "plan"),
    "render": ("frames", "paths.plan_dir", "paths.corpus_dir", "paths.dataset_dir", "labels.vad", "paired"),
    "labels": ("profile", "seed", "frames", "paths.plan_dir", "paths.corpus_dir", "paths.dataset_dir",
               "paths.reports_dir", "labels"),
    "train_static": ("seed", "frames", "paths.dataset_dir", "paths.models_dir", "model", "train.epochs",
                     "train.batch_size", "train.crop_s", "train.lr", "train.lr_min", "train.loss_mag_weight",
                     "train.loss_sisdr_weight", "train.loss_level",
                     "train.grad_clip_norm", "train.patience", "train.select"),
    "train": ("seed", "frames", "paths.dataset_dir", "paths.models_dir", "model", "train.epochs", "train.epochs_gated",
              "train.init_gated_from", "train.joint", "train.batch_size", "train.crop_s", "train.lr", "train.lr_min",
              "train.loss_mag_weight", "train.loss_sisdr_weight", "train.loss_level", "train.grad_clip_norm", "train.patience", "train.select",
              "train.budget_overrides", "train.init_overrides", "causal"),
    "enhance": ("frames", "paths.dataset_dir", "paths.models_dir", "paths.enhanced_dir", "enhance"),
    "score": ("seed", "frames", "paths.dataset_dir", "paths.enhanced_dir", "paths.scores_dir", "paths.reports_dir",
              "levels", "score.metrics", "score.bootstrap_n", "score.snr_bins_db", "score.dnsmos_max_utts",
              "score.bootstrap_clusters", "report.bootstrap_seed"),
    "probe": ("seed", "frames", "paths.dataset_dir", "paths.enhanced_dir", "paths.probes_dir", "paths.reports_dir",
              "levels", "probe", "score.bootstrap_clusters", "report.bootstrap_seed"),
    "baselines": ("seed", "frames", "paths.dataset_dir", "paths.baselines_dir", "paths.reports_dir", "labels.f0",
                  "baselines", "report.bootstrap_seed"),
    "report": ("profile", "seed", "frames.sample_rate_hz", "frames.hop_length", "paths", "levels", "train.joint.levels",
               "score.bootstrap_clusters", "report"),
}


# ------------------------------------------------------------------------------------------------ errors
_TAG = re.compile(r"^(int|float|str|bool|none|list|dict|[a-z-]+\[.*\]|function-.*|constrained-.*)$")


def _path(loc) -> str:
    out = ""
    for c in loc:
        if isinstance(c, int):
            out += f"[{c}]"
        else:
            out += ("." if out else "") + str(c)
    return out


def _did_you_mean(word: str, candidates, quote: bool = False) -> str:
    m = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    if not m:
        return ""
    return f" (did you mean {m[0]!r}?)" if quote else f" (did you mean {m[0]}?)"


def _known_keys(loc) -> list[str]:
    """Field names of the model at ``loc`` (the mapping holding the offending key), [] if unknown."""
    tp: Any = Params
    for c in loc:
        while True:   # unwrap Optional / Annotated / list / dict down to a model
            origin = typing.get_origin(tp)
            if origin is typing.Annotated:
                tp = typing.get_args(tp)[0]
            elif origin is Union:
                tp = next((a for a in typing.get_args(tp) if a is not type(None)), tp)
                if typing.get_origin(tp) is Union:
                    return []
            else:
                break
        origin = typing.get_origin(tp)
        if origin in (list, dict):
            tp = typing.get_args(tp)[-1]
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel) and c in tp.model_fields:
            tp = tp.model_fields[c].annotation
            continue
        return []
    while typing.get_origin(tp) in (typing.Annotated, Union, list, dict):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if typing.get_origin(tp) is not dict else args[-1]
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _describe(err: dict) -> tuple[str, str]:
    """(dotted key path, one-line message) of one pydantic error."""
    loc = [c for c in err["loc"] if not (isinstance(c, str) and _TAG.match(c))]
    typ, ctx = err["type"], err.get("ctx") or {}
    if typ == "params":
        key = ctx.get("key", "")
        if key:
            loc = loc + [key] if loc else [key]
        path = _path(loc) if not key or loc[:-1] else key
        return path, f"{path}: {ctx['msg']}"
    path = _path(loc)
    if typ == "missing":
        return path, f"missing key {path}"
    if typ == "extra_forbidden":
        known = _known_keys(loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f" (did you mean {_path(loc[:-1] + [near[0]])}?)" if near else (
            f" (allowed here: {', '.join(known)}; a new key needs a field in datagen/config.py)" if known else "")
        return path, f"unknown key {path}{hint}"
    val = err.get("input")
    msg = re.sub(r"^(Input|List|String|Dictionary|Tuple|Set) should", "must", err["msg"].replace("Value error, ", ""))
    msg = msg.replace(" after validation", "")
    for a, b in (("greater than or equal to", ">="), ("less than or equal to", "<="), ("greater than", ">"),
                 ("less than", "<")):
        msg = msg.replace(a, b)
    if isinstance(val, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", val):
        msg += f" (YAML reads {val} as a string: write it with a dot, e.g. {float(val):.1e})"
    return path, f"{path}: {val!r} is not allowed: {msg}"


def _one_line(source: str, errors: list[dict]) -> str:
    """Every error of a validation as one line: the first in full, the paths of the others after it.
    Unknown keys come first; a missing key that an unknown key's did-you-mean names is not repeated."""
    errors = sorted(errors, key=lambda e: e["type"] != "extra_forbidden")
    items: dict[str, str] = {}
    for e in errors:
        path, msg = _describe(e)
        if e["type"] == "missing" and any(f"(did you mean {path}?)" in m for m in items.values()):
            continue
        if path in items and msg not in items[path]:   # a union: "must be an int" or "must be 'all'"
            items[path] += " or " + msg.split(" is not allowed: ", 1)[-1].removeprefix("must be ")
        else:
            items.setdefault(path, msg)
    msgs = list(items.values())
    more = f" (and {len(msgs) - 1} more: {', '.join(list(items)[1:6])}{', ...' if len(msgs) > 6 else ''})" \
        if len(msgs) > 1 else ""
    return f"{source}: {msgs[0]}{more}"


# ----------------------------------------------------------------------------------------------- loading
def deep_merge(base: dict, overlay: dict) -> dict:
    """``overlay`` merged onto a copy of ``base``: mappings merge key by key, lists and scalars replace,
    a key written ``name!`` replaces the base mapping ``name`` whole."""
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        if isinstance(k, str) and k.endswith("!"):
            out[k[:-1]] = copy.deepcopy(v)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_yaml(path: Path, what: str = "params file") -> dict:
    if not path.is_file():
        raise ParamsError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ParamsError(f"{path}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    if data is None and what == "profile":
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at top level, got {type(data).__name__}")
    return data


def profile_path(profile: str | Path) -> Path:
    """``profile`` as a file path, or ``profiles/<profile>.yaml``."""
    path = Path(profile)
    if path.is_file():
        return path
    path = PROFILES_DIR / f"{profile}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ParamsError(f"profile {str(profile)!r} not found (no file {path}); available: {names}")
    return path


def merged_params(path: str | Path = "params.yaml", overlay: str | Path | None = None) -> tuple[dict, str]:
    """(raw mapping of ``path`` with the profile ``overlay`` merged on, a name of its source for errors)."""
    path = Path(path)
    raw = _read_yaml(path)
    if overlay is None:
        return raw, str(path)
    opath = profile_path(overlay)
    ov = _read_yaml(opath, "profile")
    merged = deep_merge(raw, ov)
    merged["profile"] = ov.get("profile", opath.stem)
    return merged, f"{path} + {opath}"


def validate(raw: dict, source: str = "params", partial: bool = False) -> Params | None:
    """Validate a params mapping; raises :class:`ParamsError` (one line). ``partial``: keys may be absent
    (only the values present are checked; checks across sections are skipped) and None is returned."""
    try:
        cfg = Params.model_validate(raw)
    except ValidationError as e:
        errs = [x for x in e.errors() if not (partial and x["type"] == "missing")]
        if errs:
            raise ParamsError(_one_line(source, errs)) from None
        return None
    return None if partial else cfg


def load_config(path: str | Path = "params.yaml", overlay: str | Path | None = None) -> Params:
    """The validated, frozen :class:`Params` of ``path`` with the profile ``overlay`` (a name in
    ``profiles/`` or a file) merged on. Raises :class:`ParamsError`."""
    raw, source = merged_params(path, overlay)
    return validate(raw, source)


def check_params_file(path: str | Path = "params.yaml") -> Params:
    """Full validation of a params file (what ``sebench <stage>`` runs before any work)."""
    return load_config(path)


def load_params(path: str | Path = "params.yaml") -> dict:
    """The params mapping of ``path`` as written (the stages' dict view), after checking every key present:
    unknown keys, types and ranges raise :class:`ParamsError`; absent keys are allowed here (tests hand
    stages partial files; ``sebench`` itself validates the whole file first, :func:`check_params_file`)."""
    path = Path(path)
    raw = _read_yaml(path)
    validate(raw, str(path), partial=True)
    return raw


def params_hash(p: dict) -> str:
    """sha256 of the canonical JSON of a params mapping (first 16 hex digits)."""
    return hashlib.sha256(json.dumps(p, sort_keys=True, default=str).encode()).hexdigest()[:16]


def add_params_arg(parser: argparse.ArgumentParser) -> None:
    """What every stage parser shares: ``--params FILE``, ``--no-progress``, a plain-text description
    (:func:`datagen.cliflags.add_params_arg`, importable without pydantic for a fast ``--help``)."""
    from datagen.cliflags import add_params_arg as _add

    _add(parser)
