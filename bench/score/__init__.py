"""Scoring stage: per-utterance enhancement quality (metrics), aggregates with bootstrap CIs, external data.

Modules: :mod:`metrics` (one function per metric + METRIC_INFO), :mod:`runner` (audio loading, alignment,
serial/parallel scoring), :mod:`bootstrap` (CIs, paired differences, breakdowns), :mod:`external`
(paired folder datasets, system folders), :mod:`cli` (``sebench score``).
"""
