"""Standalone auxiliary baselines (VAD, noise class, F0, SNR) with their compute, evaluated on exactly
the frames of :mod:`bench.tasks` so they sit beside the mask probes.

Modules: ``features`` (log-mel front-end + its MACs), ``models`` (small CNNs + analytic MACs),
``train`` (seeded training with early stopping and a config-keyed cache), ``offshelf`` (Silero VAD,
WebRTC VAD, CREPE, pYIN wrappers on our frame grid), ``evaluate`` (metrics with mixture-bootstrap CIs),
``cli`` (``sebench baselines``: CSV / JSON / plot).
"""
