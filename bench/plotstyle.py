"""The one figure style of the report page and the probe figures (matplotlib, Agg backend): page width,
resolution, minimum font size, rc parameters. Both ``bench.report.plots`` and ``bench.probes.plots`` read
it here, so neither stage imports the other for it.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 100
#: widest figure (inches): 1280 px at DPI, the page's content width (html.CSS max-width minus margins)
PAGE_WIDTH_IN = 12.8
MIN_FONT_PT = 9.0
STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9.5,
         "ytick.labelsize": 9.5, "legend.fontsize": 9.5, "legend.title_fontsize": 9.5, "figure.titlesize": 12,
         "figure.constrained_layout.use": True, "axes.prop_cycle": plt.cycler(color=plt.get_cmap("tab10").colors)}
