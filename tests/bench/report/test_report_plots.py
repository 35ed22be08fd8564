"""Report and probe figures are legible at the page's width: no text under 9 pt, no figure wider than the
page, no point labels overlapping each other, legends off titles, colour bars on heat maps, class labels as
categorical colours with a legend; the paired-difference figure reads the leaderboard's columns.

The leaderboard fixture is the committed default run's table (README): five models crowded within 0.02
PESQ of each other, keep50 and keep50_joint almost on top of each other, the case that overlapped before.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Annotation, Text  # noqa: E402

from bench.probes import plots as PP  # noqa: E402
from bench.report import plots as P  # noqa: E402

#   model, keep, MMAC/s, saving, PESQ-wb [CI], Δ vs static [CI], gain retained PESQ [CI], STOI gain [CI], probes
ROWS = [
    ("noisy", "n/a", 0.0, "n/a", 1.193, 1.154, 1.239, -0.103, -0.129, -0.079, "n/a", "n/a", "n/a", "n/a", "n/a",
     "n/a", "n/a", "n/a", "n/a", "n/a"),
    ("static", 1.0, 12.06, 0.0, 1.296, 1.247, 1.351, "n/a", "n/a", "n/a", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
     "n/a", "n/a", "n/a", "n/a"),
    ("keep75", 0.749, 11.32, 0.062, 1.291, 1.244, 1.340, -0.005, -0.016, 0.004, 0.95, 0.85, 1.04, 0.97, 0.9, 1.05,
     0.864, 0.374, -0.058, 0.287),
    ("keep50", 0.502, 8.84, 0.267, 1.288, 1.243, 1.340, -0.008, -0.019, 0.002, 0.92, 0.81, 1.02, 0.93, 0.85, 1.01,
     0.860, 0.330, -0.092, 0.262),
    ("keep25", 0.250, 6.33, 0.476, 1.285, 1.241, 1.338, -0.011, -0.020, -0.002, 0.89, 0.80, 0.98, 0.9, 0.8, 0.99,
     0.837, 0.276, -0.106, 0.147),
    ("keep50_joint", 0.499, 8.81, 0.269, 1.280, 1.236, 1.328, -0.016, -0.027, -0.005, 0.84, 0.74, 0.95, 0.88, 0.8,
     0.97, 0.855, 0.400, 0.054, 0.296),
]
COLS = ["model", "realized_keep", "macs_dynamic_m_per_s", "mac_saving", "pesq_wb", "pesq_wb_ci95_low",
        "pesq_wb_ci95_high", "pesq_wb_delta_vs_static", "pesq_wb_delta_ci95_low", "pesq_wb_delta_ci95_high",
        "pesq_wb_gain_retained", "pesq_wb_gain_retained_ci95_low", "pesq_wb_gain_retained_ci95_high",
        "stoi_gain_retained", "stoi_gain_retained_ci95_low", "stoi_gain_retained_ci95_high",
        "vad_acc", "noise_acc", "f0_r2", "snr_r2"]
JOINT = ["keep50_joint"]


@pytest.fixture
def lb() -> pd.DataFrame:
    d = pd.DataFrame(ROWS, columns=COLS)
    d["probe_cost_frac"] = "n/a"
    return d


def _boxes(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _overlap(a, b) -> float:
    return max(min(a.x1, b.x1) - max(a.x0, b.x0), 0) * max(min(a.y1, b.y1) - max(a.y0, b.y0), 0)


def check_legible(fig, n_labels: int | None = None) -> None:
    """Width <= page, every visible text >= MIN_FONT_PT, point labels disjoint and inside their axes,
    legends clear of titles and axes titles."""
    r = _boxes(fig)
    assert fig.get_figwidth() <= P.PAGE_WIDTH_IN + 1e-9, fig.get_figwidth()
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < P.MIN_FONT_PT]
    assert not small, small
    anns = [a for ax in fig.axes for a in ax.texts if isinstance(a, Annotation)]
    if n_labels is not None:
        assert len(anns) == n_labels
    bbs = [a.get_window_extent(r) for a in anns]
    for i in range(len(bbs)):
        for j in range(i + 1, len(bbs)):
            assert _overlap(bbs[i], bbs[j]) == 0, (anns[i].get_text(), anns[j].get_text())
    for a, bb in zip(anns, bbs):
        ab = a.axes.get_window_extent(r)
        assert ab.x0 - 1 <= bb.x0 and bb.x1 <= ab.x1 + 1 and ab.y0 - 1 <= bb.y0 and bb.y1 <= ab.y1 + 1, a.get_text()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    titles = [ax.title for ax in fig.axes if ax.title.get_text()] + ([fig._suptitle] if fig._suptitle else [])
    for lg in legends:
        lb_ = lg.get_window_extent(r)
        for t in titles:
            assert _overlap(lb_, t.get_window_extent(r)) == 0, t.get_text()
        if lg in fig.legends:   # a figure legend sits outside every axes
            for ax in fig.axes:
                assert _overlap(lb_, ax.get_window_extent(r)) == 0


def _has_colorbar(fig) -> bool:
    return any(hasattr(ax, "_colorbar") for ax in fig.axes)


def test_pareto_legible_labels_apart(lb):
    fig = P.make_pareto(lb, JOINT)
    check_legible(fig, n_labels=5)
    assert P.fig_pareto(lb, JOINT) == P.fig_pareto(lb, JOINT)   # deterministic bytes


def test_paired_figure_reads_deltas_and_gain_retained(lb):
    fig = P.make_paired(lb, JOINT)
    check_legible(fig, n_labels=2 * 4 + 1)   # 4 levels in the Δ panel; static too in the gain panel
    assert len([a for a in fig.axes if a.get_title()]) == 2
    t = P.paired_table(lb).set_index("model")
    assert t.loc["keep25", "delta_pesq_wb"] == -0.011 and t.loc["keep25", "gain_retained_stoi_ci95_high"] == 0.99
    assert np.isnan(t.loc["static", "delta_pesq_wb"])
    ax = fig.axes[0]   # every level's Δ drawn with its CI: (x = saving %, y) pairs on the errorbar lines
    pts = {(round(x, 3), round(y, 3)) for ln in ax.lines for x, y in zip(*ln.get_data()) if len(ln.get_xdata())}
    assert (47.6, -0.011) in pts and (26.9, -0.016) in pts


def test_paired_figure_without_gain_columns_and_without_anything(lb):
    only_delta = lb.drop(columns=[c for c in lb.columns if "gain_retained" in c])
    fig = P.make_paired(only_delta)
    assert len(fig.axes) == 1
    check_legible(fig)
    assert P.fig_paired(only_delta.drop(columns=[c for c in only_delta.columns if "delta" in c])) is None


def test_paired_marks_insignificant_hollow(lb):
    lb["pesq_wb_delta_significant"] = ["n/a", "n/a", "no", "no", "yes", "yes"]
    fig = P.make_paired(lb, JOINT)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "ΔPESQ-wb, not significant (CI or seeds)" in labels and "ΔPESQ-wb" in labels


def test_probes_vs_level_legible(lb):
    check_legible(P.make_probes_vs_level(lb, JOINT), n_labels=4 * 4)


def test_block_keep_and_example_masks_have_colorbars():
    s = {lv: {"gated": True, "realised_keep": {"per_block": list(np.linspace(0.2, 0.9, 9))}}
         for lv in ("keep75", "keep50", "keep25", "keep50_joint")}
    fig = P.make_block_keep(s)
    check_legible(fig)
    assert _has_colorbar(fig)
    rng = np.random.default_rng(0)
    m = rng.random((250, 9 * 128)) < 0.5
    lab = dict(vad=(np.arange(250) % 100 > 30).astype(int), noise_active=np.ones(250, int),
               f0_hz=np.where(np.arange(250) % 100 > 30, 150.0, 0.0))
    fig = P.make_example_masks(m, [128] * 9, lab, 0.016, "level keep50, test mixture test-000000")
    check_legible(fig)
    assert _has_colorbar(fig)


def test_training_curves_figure_one_colour_per_level():
    c = pd.DataFrame([dict(run=r, level=r.split("/")[0], epoch=e, train_loss=1 / e, valid_loss=1.2 / e)
                      for r in ("static", "keep50", "keep50/seed1", "keep25") for e in range(1, 6)])
    fig = P.make_training_curves(c)
    check_legible(fig)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["static", "keep50", "keep25"]   # a seed replicate shares its level's colour and entry
    cols = {ln.get_label(): ln.get_color() for ln in fig.axes[0].lines}
    assert len(set(map(str, cols.values()))) == 3
    assert P.make_training_curves(c.iloc[0:0]) is None


def test_probe_stage_figures_legible():
    rng = np.random.default_rng(0)
    rows = [dict(level=lv, task=t, seed=s, k=k, split="test", metric="acc", value=rng.random())
            for lv in ("keep75", "keep50", "keep25", "keep50_joint") for t in ("vad", "noise", "noise_seg", "f0", "snr")
            for s in range(2) for k in (8, 64, 512)]
    check_legible(PP.make_curves(pd.DataFrame(rows)))
    classes = [f"class_{i}" for i in range(11)]
    fig = PP.make_confusion(rng.integers(0, 20, (11, 11)), classes, "noise, level keep50")
    check_legible(fig)
    assert _has_colorbar(fig)
    fig = PP.make_heatmap(rng.normal(size=9 * 128), [128] * 9, "firing rate speech - non-speech", "rate difference")
    check_legible(fig)
    assert _has_colorbar(fig)


def test_tsne_classes_get_categorical_colours_and_a_legend():
    rng = np.random.default_rng(1)
    n = 300
    classes = [f"noise_{i}" for i in range(11)]
    noise = np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 11, n)).astype(float)
    fig = PP.make_tsne(rng.normal(size=(n, 2)), {"vad": rng.integers(0, 2, n).astype(float), "noise class": noise,
                                                 "F0 (Hz)": rng.uniform(80, 300, n)}, "t-SNE, level keep50",
                       {"vad": ["non-speech", "speech"], "noise class": classes})
    check_legible(fig)
    ax_vad, ax_noise, ax_f0 = fig.axes[:3]
    assert [t.get_text() for t in ax_vad.get_legend().get_texts()] == ["non-speech", "speech"]
    got = [t.get_text() for t in ax_noise.get_legend().get_texts()]
    assert got[0] == "n/a" and set(got[1:]) == {classes[int(i)] for i in np.unique(noise[np.isfinite(noise)])}
    face = {tuple(np.round(c.get_facecolor()[0], 3)) for c in ax_noise.collections[1:]}
    assert len(face) == len(got) - 1   # one distinct colour per class
    cbars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
    assert len(cbars) == 1 and cbars[0].get_xlabel() == "F0 (Hz)"   # only the continuous panel has a colour bar


def test_checks_catch_small_text_overlapping_labels_and_legend_on_title():
    import matplotlib.pyplot as plt

    with plt.rc_context(P.STYLE):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1], [0, 1], "o")
        ax.annotate("keep50", (0.5, 0.5))
        ax.annotate("keep50_joint", (0.5, 0.5))
    with pytest.raises(AssertionError, match="keep50"):
        check_legible(fig)
    with plt.rc_context(P.STYLE):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.set_title("tiny", fontsize=7)
    with pytest.raises(AssertionError, match="tiny"):
        check_legible(fig)
    with plt.rc_context(P.STYLE):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1], label="a line")
        ax.set_title("Quality vs compute")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 0.98))
    with pytest.raises(AssertionError, match="Quality vs compute"):
        check_legible(fig)
    with plt.rc_context(P.STYLE):
        fig, _ = plt.subplots(figsize=(P.PAGE_WIDTH_IN + 1, 3))
    with pytest.raises(AssertionError):
        check_legible(fig)
