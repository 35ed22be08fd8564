"""Mask probes (P2): read VAD, noise class, F0 and SNR from DynCP binary gate masks.

Modules, one job each: :mod:`features` (mask / pooled / log-mel / static-activation feature matrices on
the shared task frames of :mod:`bench.tasks`), :mod:`linear` (standardised linear and MLP probes with
regularisation chosen on the valid split, metrics), :mod:`selection` (univariate channel ranking,
score-vs-k curves, the C* rule), :mod:`controls` (majority / shuffled-label / random-mask /
binarised-activation controls), :mod:`cost` (additions per frame of a binary-feature probe),
:mod:`plots` and :mod:`cli` (``sebench probe``).

Not in scope here (noted for later): joint training of the SE model with probe heads (P2 future work).
"""
