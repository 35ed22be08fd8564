"""index.html: self-contained (every image and audio a data: URI), valid tables, captions, audio, SNR tables,
training curves; and the Markdown conversion that feeds it (card tables with literal pipes, local images).

The page fixture is the shared finished run (conftest) plus what a real run has and the base fixture lacks:
training logs (dvclive TSVs for one level, train_summary.json history for another) and a dataset card with
the real card's troublesome header cell ``|plan - achieved|`` and a local, page-overflowing histogram image.
"""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
import yaml  # noqa: E402

from bench.report import html as H  # noqa: E402
from bench.report import plots as P  # noqa: E402
from bench.report.cli import cli  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
CARD = """# Dataset card

Synthetic test dataset, **3 classes**.

## Splits

| split | mixtures | hours | SNR dB (mean, min-max) | |plan - achieved| SNR max dB |
|---|---|---|---|---|
| train | 4 | 0.002 | 7.6 (-5.0 to 19.9) | 0.000 |
| test | 4 | 0.002 | 6.6 (-4.8 to 19.9) | 0.000 |

## Noise classes

| class | train | test |
|---|---|---|
| hum | 2 | 1 |

See https://example.org/x.

![SNR and level histograms](dataset_snr_level.png)

![remote](https://example.org/remote.png)
"""
TRAIN_HIST = [dict(epoch=e, train_loss=1.0 / e, valid_loss=1.1 / e + 0.01 * e, lr=1e-3) for e in range(1, 6)]


def _dvclive(run: Path, split: str, values: list[float], steps: list[int] | None = None) -> None:
    f = run / "dvclive" / "plots" / "metrics" / split / "loss.tsv"
    f.parent.mkdir(parents=True, exist_ok=True)
    steps = steps if steps is not None else list(range(len(values)))
    f.write_text("timestamp\tstep\tloss\n" + "".join(f"{1000 + s}\t{s}\t{v}\n" for s, v in zip(steps, values)))


def make_page_run(run_dir: Path, dst: Path) -> Path:
    """Copy of the finished run with training logs and a real-style dataset card; returns its params.yaml."""
    shutil.copytree(run_dir, dst)
    p = yaml.safe_load((dst / "params.yaml").read_text())
    p["paths"] = {k: v.replace(str(run_dir), str(dst)) for k, v in p["paths"].items()}
    full = yaml.safe_load((REPO / "params.yaml").read_text())
    p["report"] = {**(full.get("report") or {}), **(p.get("report") or {})}
    gated = [lv for lv, k in p["levels"].items() if float(k) < 1.0]
    p["gated_levels"] = gated
    p["causal"] = {"static_levels": [], "gated_levels": {}}
    if "replicate_seeds" in (p.get("train") or {}):   # no training-seed replicates in this run
        p["train"]["replicate_seeds"] = []
    if isinstance(p.get("train", {}).get("joint"), dict):
        p["train"]["joint"]["levels"] = [lv for lv in p["train"]["joint"].get("levels") or [] if lv in gated]
    (dst / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    models = Path(p["paths"]["models_dir"])
    # static: dvclive logs, resumed once (step 2 written twice: the later value wins) + a summary that differs
    st = models / "static"
    st.mkdir(parents=True, exist_ok=True)
    _dvclive(st, "train", [1.0, 0.6, 0.55, 0.5, 0.45], [0, 1, 2, 2, 3])
    _dvclive(st, "valid", [1.2, 0.7, 0.65, 0.6, 0.58], [0, 1, 2, 2, 3])
    (st / "train_summary.json").write_text(json.dumps({"history": [dict(epoch=1, train_loss=9.0, valid_loss=9.0)]}))
    # keep50: train_summary.json only (fallback), and a seed replicate one folder below
    k50 = models / "keep50"
    (k50 / "seed1").mkdir(parents=True, exist_ok=True)
    (k50 / "train_summary.json").write_text(json.dumps({"history": TRAIN_HIST}))
    (k50 / "seed1" / "train_summary.json").write_text(json.dumps({"history": TRAIN_HIST[:3]}))
    rep = Path(p["paths"]["reports_dir"])
    (rep / "dataset_card.md").write_text(CARD)
    fig, ax = plt.subplots(figsize=(13, 3.4))   # as datagen.card: 13 in at 110 dpi = 1430 px, wider than the page
    ax.hist(np.linspace(-5, 20, 50), bins=20)
    fig.savefig(rep / "dataset_snr_level.png", dpi=110)
    plt.close(fig)
    return dst / "params.yaml"


@pytest.fixture(scope="module")
def page_run(run_dir, tmp_path_factory) -> Path:
    return make_page_run(run_dir, tmp_path_factory.mktemp("pagerun") / "run")


@pytest.fixture(scope="module")
def page(page_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    assert cli(["--params", str(page_run), "--out", str(out)]) == 0
    return out / "index.html"


def test_page_self_contained_with_all_parts(page):
    h = page.read_text()
    assert page.stat().st_size < 10e6, f"page {page.stat().st_size / 1e6:.1f} MB"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", h), "external resource"
    assert "url(" not in h and "<script" not in h and "<link" not in h
    srcs = re.findall(r'<(?:img|audio|source|video)\b[^>]*\bsrc="([^"]*)"', h)
    assert srcs and all(s.startswith("data:") for s in srcs), [s[:60] for s in srcs if not s.startswith("data:")]
    for fid in ("pareto", "paired", "training", "probes-vs-keep", "block-keep", "example-masks"):
        assert f'<figure id="{fid}">' in h, fid
    assert "Figure not available" not in h
    # pareto, paired, training, probes vs level, curves.png, aux_baselines.png, block keep, example masks,
    # 1 more probe figure, the card's histogram
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', h)) == 10
    assert 'id="leaderboard"' in h and "keep25" in h
    assert "example.org/x" in h and 'href="https' not in h
    assert "dataset_sha256" in h and "pkg_pesq" in h and "test mixture test-0000" in h


def test_captions_say_what_to_read(page):
    h = page.read_text()
    caps = re.findall(r"<figcaption>(.*?)</figcaption>", h, re.S)
    assert len(caps) == 10 - 1   # every figure but the card's image (a Markdown image, its alt text)
    for c in caps:
        text = re.sub(r"<[^>]+>", "", c)
        assert len(text) > 80 and not re.search(r"^\S+\.png$", text.strip()), text
        assert not re.fullmatch(r".*\b\w+\.png\.?", text.strip()), text


def test_card_tables_are_tables(page):
    h = page.read_text()
    card = h[h.index('<div class="card">'):]
    card = card[:card.index("<h2>Provenance</h2>")]
    assert "<strong>3 classes</strong>" in card
    assert card.count("<table>") == 2, card[:2000]
    splits = card[card.index("Splits"):]
    splits = splits[:splits.index("</table>")]
    assert splits.count("<th>") == 5 and "|plan - achieved| SNR max dB" in splits
    assert not re.search(r">[^<]*\|[^<]*\|[^<]*<", card.replace("|plan - achieved|", "")), "raw pipes in the card"
    assert card.count('src="data:image/png;base64,') == 1
    assert "image not embedded: remote (https://example.org/remote.png is external)" in card


def test_snr_breakdown_tables(page, page_run):
    h = page.read_text()
    rep = Path(yaml.safe_load(page_run.read_text())["paths"]["reports_dir"])
    bd = pd.read_csv(rep / "scores_breakdown.csv")
    bins = bd.loc[bd["group_by"] == "snr_bin", "group"].unique()
    for metric in ("pesq_wb", "stoi", "si_sdr"):
        t = h[h.index(f'id="snr-{metric}"'):]
        t = t[:t.index("</table>")]
        assert t.count("<tr>") == 1 + 4, metric          # header + noisy, static, keep50, keep25
        assert all(f"SNR {html_escape(b)} dB" in t for b in bins)
        r = bd[(bd["group_by"] == "snr_bin") & (bd["metric"] == metric) & (bd["system"] == "static")].iloc[0]
        assert f"{r['mean']:.2f}" in t


def html_escape(s: str) -> str:
    import html

    return html.escape(s)


def test_audio_examples_play_the_right_excerpts(page, page_run):
    h = page.read_text()
    t = h[h.index('id="audio-examples"'):]
    t = t[:t.index("</table>")]
    tags = re.findall(r'<audio controls [^>]*title="([^"]*)" src="data:audio/flac;base64,([^"]*)"', t)
    assert len(tags) == 3 * (2 + 3), len(tags)   # 3 mixtures x (clean, noisy, static, keep50, keep25)
    p = yaml.safe_load(page_run.read_text())
    from datagen.dataset import load_metadata, read_stem

    meta = load_metadata(p["paths"]["dataset_dir"], "test").set_index("mixture_id", drop=False)
    for title, b64 in tags:
        mid, stem = title.split(" ")
        y, sr = sf.read(io.BytesIO(base64.b64decode(b64)), dtype="float32")
        assert sr == 16000 and 0.5 * sr <= len(y) <= 3.0 * sr
        if stem in ("clean", "noisy"):
            ref = read_stem(p["paths"]["dataset_dir"], meta.loc[mid], stem)
        else:
            ref, _ = sf.read(Path(p["paths"]["enhanced_dir"]) / stem / "audio" / f"{mid}.wav", dtype="float32")
        # the excerpt is a slice of the source (16-bit both ways: equal to 1 LSB)
        starts = [a for a in range(0, len(ref) - len(y) + 1, 256) if np.max(np.abs(ref[a:a + len(y)] - y)) < 1e-4]
        assert starts, f"{title}: excerpt is not a slice of its source"


def test_training_curves_prefer_dvclive_and_keep_replicates(page_run, page):
    p = yaml.safe_load(page_run.read_text())
    c = P.training_curves(Path(p["paths"]["models_dir"]), list(p["levels"]))
    st = c[c["run"] == "static"]
    assert list(st["source"].unique()) == ["dvclive"] and list(st["epoch"]) == [1, 2, 3, 4]
    assert st["train_loss"].tolist() == [1.0, 0.6, 0.5, 0.45]          # step 2 rewritten on resume: last wins
    k = c[c["level"] == "keep50"]
    assert set(k["run"]) == {"keep50", "keep50/seed1"} and (k["source"] == "train_summary.json").all()
    assert len(c[c["run"] == "keep50"]) == 5
    plots = page.parent / "plots" / "training"
    assert sorted(f.name for f in plots.glob("*.csv")) == ["keep50.csv", "keep50__seed1.csv", "static.csv"]
    assert pd.read_csv(plots / "static.csv").columns.tolist() == ["epoch", "train_loss", "valid_loss"]


def test_stale_training_csvs_removed(tmp_path):
    lb = pd.DataFrame([dict(model="static", macs_dynamic_m_per_s=1.0, pesq_wb=2.0, pesq_wb_ci95_low=1.9,
                            pesq_wb_ci95_high=2.1, mac_saving=0.0, realized_keep=1.0, vad_acc="n/a",
                            noise_acc="n/a", f0_r2="n/a", snr_r2="n/a", probe_cost_frac="n/a")])
    stale = tmp_path / "plots" / "training" / "old_level.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("epoch\n1\n")
    curves = pd.DataFrame(dict(run=["a", "a"], level=["a", "a"], epoch=[1, 2], train_loss=[1.0, 0.5],
                               valid_loss=[1.1, 0.6], source=["dvclive"] * 2))
    w = P.write_dvc_plot_csvs(lb, {}, tmp_path, curves)
    assert not stale.exists() and w["training_a"].read_text() == "epoch,train_loss,valid_loss\n1,1.0,1.1\n2,0.5,0.6\n"


def test_seed_replicate_levels_join_their_base_level(tmp_path):
    for lv in ("static", "static_seed1"):
        (tmp_path / lv).mkdir()
        (tmp_path / lv / "train_summary.json").write_text(json.dumps({"history": TRAIN_HIST}))
    c = P.training_curves(tmp_path, ["static", "static_seed1"])
    assert set(c["run"]) == {"static", "static_seed1"} and set(c["level"]) == {"static"}
    fig = P.make_training_curves(c)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["static"]


def test_dvclive_tsv_without_loss_column_is_a_clear_error(tmp_path):
    f = tmp_path / "lv" / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv"
    f.parent.mkdir(parents=True)
    f.write_text("step\tvalue\n0\t1\n")
    _dvclive(tmp_path / "lv", "valid", [1.0])
    with pytest.raises(ValueError, match=r"train/loss.tsv: expected columns step, loss"):
        P.training_curves(tmp_path, ["lv"])


# ---- Markdown ---------------------------------------------------------------------------------------

def test_repair_table_pipes_fixes_only_broken_tables():
    bad = "| a | |x - y| max | c |\n|---|---|---|\n| 1 | 2 | 3 |\n| 4 | |5| | 6 |"
    fixed = H.repair_table_pipes(bad)
    assert fixed.splitlines()[0] == r"| a | \|x - y\| max | c |"
    assert fixed.splitlines()[3] == r"| 4 | \|5\| | 6 |"
    out = H.md_to_html(bad)
    assert out.count("<th>") == 3 and out.count("<td>") == 6 and "|x - y| max" in out
    good = "| a | b |\n|:--|--:|\n| 1 | 2 |\n\ntext | with | pipes\n\n```\n| code | block |\n```"
    assert H.repair_table_pipes(good) == good
    assert "<pre><code>| code | block |" in H.md_to_html(good)


def test_md_images_embedded_or_noted(tmp_path):
    png = io.BytesIO()
    fig, ax = plt.subplots(figsize=(1, 1))
    fig.savefig(png, format="png")
    plt.close(fig)
    (tmp_path / "a.png").write_bytes(png.getvalue())
    out = H.md_to_html("![local](a.png) ![gone](b.png) ![far](http://x.org/c.png) [site](https://x.org/d)",
                       tmp_path)
    assert out.count("<img") == 1 and f'src="data:image/png;base64,{base64.b64encode(png.getvalue()).decode()}"' in out
    assert "image not embedded: gone (b.png missing)" in out
    assert "image not embedded: far (http://x.org/c.png is external)" in out
    assert "site (https://x.org/d)" in out and "<a " not in out


def test_snr_breakdown_bins_sorted_and_missing_file_noted(tmp_path):
    rows = [dict(group_by="snr_bin", group=g, system=s, metric="pesq_wb", mean=m, ci95_low=m - 0.1,
                 ci95_high=m + 0.1, n_scored=2, n_total=2)
            for g, m in [(">=15", 3.0), ("<0", 1.0), ("5-10", 2.0), ("-5-0", 1.5)] for s in ("static", "noisy")]
    f = tmp_path / "b.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    out = H.snr_breakdown_html(f, ["noisy", "static"])
    heads = re.findall(r"<th>SNR (.*?) dB", out)
    assert heads == ["&lt;0", "-5-0", "5-10", "&gt;=15"]
    assert out.index("<td>noisy</td>") < out.index("<td>static</td>")
    assert "missing" in H.snr_breakdown_html(tmp_path / "none.csv")


@pytest.mark.parametrize("name, title", [
    ("tsne_keep50_joint.png", "t-SNE of test mask vectors, level keep50_joint"),
    ("heatmap_vad_keep25.png", "Speech vs non-speech firing rate, level keep25"),
    ("heatmap_noise_keep75.png", "Noise-class firing-rate deviation, level keep75"),
    ("confusion_noise_seg_keep50.png", "Noise-class confusion (noise_seg), level keep50"),
    ("confusion_noise_keep50.png", "Noise-class confusion (noise), level keep50"),
])
def test_probe_figures_get_titles_and_reading_captions(name, title):
    t, cap = H.probe_figure_caption(name)
    assert t == title and len(cap) > 80
