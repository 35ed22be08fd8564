"""Reporting: leaderboard (csv/md/metrics.json), DVC plot CSVs, the self-contained report page, provenance, merging.

Modules: :mod:`provenance` (reusable by every stage), :mod:`leaderboard`, :mod:`plots`, :mod:`html`,
:mod:`merge`, :mod:`cli` (``sebench report`` and ``sebench report merge``).
"""
