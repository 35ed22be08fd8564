"""The self-contained report page: inline CSS, figures as base64 PNG, audio as base64 FLAC, no external URL.

The page opens offline and anywhere (mailed, archived): every ``<img>`` and ``<audio>`` source is a ``data:``
URI, Markdown (the dataset card, the joint and baselines sections) goes through markdown-it-py with raw HTML
off, its local images embedded and its external links turned into text. Images are limited to their
container's width (CSS ``max-width:100%``); wide tables scroll inside their own box.
:func:`render_page` assembles the whole page from a finished run (``sebench report`` calls it).
"""
from __future__ import annotations

import base64
import html
import io
import mimetypes
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.leaderboard import NOISY, display_rows, metric_spec_rows, notes_list

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1360px;color:#222;
background:#fff;line-height:1.4;padding:0 16px}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #ccc;padding-bottom:2px;margin-top:1.6em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #bbb;padding:3px 6px;
text-align:right;vertical-align:top}th{background:#eef2f7}td:first-child,th:first-child{text-align:left}
table.prov td,table.prov th,table.spec td,table.spec th{text-align:left}tr:nth-child(even) td{background:#f8f9fb}
img{max-width:100%;height:auto}
figure{margin:16px 0;max-width:100%}figure img{display:block;border:1px solid #ddd}
figcaption{font-size:14px;color:#444;max-width:1100px;margin-top:4px}figcaption b{color:#222}
.banner{border:2px solid #b00;background:#fff0f0;padding:8px 12px;font-size:16px}
.note{font-size:13px;color:#555}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
.card{border:1px solid #ddd;padding:8px 16px;background:#fcfcfc;overflow-x:auto}
table.audio td{text-align:center;vertical-align:middle}table.audio td:first-child{text-align:left}
audio{width:190px;max-width:100%;height:32px}
"""
_EXT_LINK = re.compile(r'<a href="(https?://[^"]*)"[^>]*>(.*?)</a>', re.S)


def img_tag(png: bytes, alt: str, mime: str = "image/png") -> str:
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{base64.b64encode(png).decode()}">'


def figure(png: bytes | None, caption: str, missing: str | None = None, fid: str | None = None,
           title: str | None = None) -> str:
    """A <figure> with the embedded PNG and a caption (bold ``title`` + what to read from it), or a note
    saying why the figure is absent."""
    if png is None:
        return f'<p class="note">Figure not available: {html.escape(title or caption)}: ' \
               f'{html.escape(missing or "no data")}</p>'
    cap = (f"<b>{html.escape(title)}.</b> " if title else "") + html.escape(caption)
    attr = f' id="{html.escape(fid)}"' if fid else ""
    return f"<figure{attr}>{img_tag(png, title or caption)}<figcaption>{cap}</figcaption></figure>"


def table(head: list[str], body: list[list[str]], tid: str | None = None, cls: str | None = None) -> str:
    """An HTML table (cells escaped) inside a horizontally scrolling box."""
    attrs = (f' id="{tid}"' if tid else "") + (f' class="{cls}"' if cls else "")
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body)
    return f'<div class="scroll"><table{attrs}><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table></div>'


# ---- Markdown -------------------------------------------------------------------------------------

_DELIM = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def _cells(line: str) -> int:
    """Number of GFM table cells of a row (unescaped pipes; a leading/trailing pipe opens/closes the row)."""
    s = line.strip()
    s = s[1:] if s.startswith("|") else s
    s = s[:-1] if s.endswith("|") and not s.endswith("\\|") else s
    return len(re.split(r"(?<!\\)\|", s))


def _escape_inner_pipes(line: str) -> str:
    """Escape pipes that are not cell separators: a separator starts/ends the row or has whitespace on both
    sides (the layout every writer in this project uses: ``| a | b |``); e.g. ``|plan - achieved|``."""
    s = line.rstrip("\n")
    first, last = len(s) - len(s.lstrip()), len(s.rstrip()) - 1
    out = []
    for i, ch in enumerate(s):
        if ch == "|" and i not in (first, last) and (i == 0 or s[i - 1] != "\\"):
            sep = s[i - 1].isspace() and (i + 1 < len(s) and s[i + 1].isspace())
            out.append("|" if sep else "\\|")
        else:
            out.append(ch)
    return "".join(out)


def repair_table_pipes(text: str) -> str:
    """Escape literal ``|`` inside the cells of GFM tables whose header has more cells than its delimiter row.

    GFM drops such a table to a paragraph of raw ``|`` text (what made the dataset card's "Splits" table
    unreadable: a header cell ``|plan - achieved| SNR``). Well-formed tables are left untouched.
    """
    lines = text.split("\n")
    i = 1
    while i < len(lines):
        if _DELIM.match(lines[i]) and "|" in lines[i - 1] and "-" in lines[i]:
            n = _cells(lines[i])
            if _cells(lines[i - 1]) != n:
                fixed = _escape_inner_pipes(lines[i - 1])
                if _cells(fixed) == n:
                    lines[i - 1] = fixed
            j = i + 1
            while j < len(lines) and lines[j].strip() and "|" in lines[j]:
                if _cells(lines[j]) > n:
                    fixed = _escape_inner_pipes(lines[j])
                    if _cells(fixed) == n:
                        lines[j] = fixed
                j += 1
            i = j
        else:
            i += 1
    return "\n".join(lines)


def md_to_html(text: str, base_dir: Path | None = None) -> str:
    """Markdown -> HTML with markdown-it-py (installed with rich; CommonMark + GFM tables), raw HTML off.

    Local images (relative to ``base_dir``) are embedded as data URIs; a missing or external image becomes a
    note; external links become text with the URL in brackets (the page links nowhere).
    """
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # keep the page buildable without it
        return f"<pre>{html.escape(text)}</pre>"
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(repair_table_pipes(text))
    for tok in tokens:
        for child in tok.children or []:
            if child.type != "image":
                continue
            src = str(child.attrGet("src") or "")
            alt = "".join(c.content for c in child.children or []) or src
            p = (Path(base_dir) / src) if base_dir is not None and not re.match(r"^[a-z]+:", src) else None
            if p is not None and p.is_file():
                mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
                child.attrSet("src", f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode()}")
            else:   # never an external or dangling source: the image turns into a text note
                child.type, child.tag, child.nesting, child.children = "text", "", 0, None
                child.content = f"[image not embedded: {alt} ({src} {'is external' if p is None else 'missing'})]"
                child.attrs = {}
    out = md.renderer.render(tokens, md.options, {})
    out = out.replace("<table>", '<div class="scroll"><table>').replace("</table>", "</table></div>")
    return _EXT_LINK.sub(lambda m: f"{m.group(2)} ({html.escape(m.group(1))})", out)


# ---- sections ---------------------------------------------------------------------------------------

def snr_breakdown_html(path: Path, systems: list[str] | None = None,
                       metrics=(("pesq_wb", "PESQ-wb", 3), ("stoi", "STOI", 3), ("si_sdr", "SI-SDR (dB)", 2))) -> str:
    """Tables of mean [95 % CI] per system (rows: ``systems`` in that order, default all) and SNR bin
    (columns) from ``scores_breakdown.csv`` (bench.score: group_by, group, system, metric, mean, ci95_low,
    ci95_high, n_scored, n_total)."""
    if not path.is_file():
        return f'<p class="note">{html.escape(str(path))} missing (run `sebench score`).</p>'
    df = pd.read_csv(path)
    need = {"group_by", "group", "system", "metric", "mean", "ci95_low", "ci95_high", "n_total"}
    if not need <= set(df.columns):
        return f'<p class="note">{html.escape(str(path))}: missing columns {sorted(need - set(df.columns))}.</p>'
    d = df[df["group_by"] == "snr_bin"]
    if d.empty:
        return f'<p class="note">{html.escape(str(path))} has no snr_bin rows.</p>'

    def lower(g: str) -> float:   # "<0" / "0-5" / ">=15" -> sort key
        m = re.match(r"^(<|>=)?(-?[\d.]+)", g)
        return -np.inf if m and m.group(1) == "<" else float(m.group(2)) if m else np.inf

    bins = sorted(d["group"].astype(str).unique(), key=lower)
    order = [s for s in (systems or []) if s in set(d["system"])]
    if systems is None:
        order = list(dict.fromkeys(d["system"]))
    n = {b: int(d.loc[d["group"].astype(str) == b, "n_total"].max()) for b in bins}
    parts = []
    for metric, name, digits in metrics:
        m = d[d["metric"] == metric]
        if m.empty:
            continue
        idx = {(str(r.group), r.system): r for r in m.itertuples(index=False)}
        body = []
        for s in order:
            row = [s]
            for b in bins:
                r = idx.get((b, s))
                row.append("n/a" if r is None or not np.isfinite(r.mean) else
                           f"{r.mean:.{digits}f} [{r.ci95_low:.{digits}f}, {r.ci95_high:.{digits}f}]")
            body.append(row)
        parts.append(f"<h3>{html.escape(name)} by SNR</h3>" + table(
            ["system", *[f"SNR {b} dB (n={n[b]})" for b in bins]], body, tid=f"snr-{metric}"))
    return "".join(parts) or '<p class="note">no PESQ-wb / STOI / SI-SDR rows in the SNR breakdown.</p>'


def audio_tag(x: np.ndarray, sr: int, label: str) -> str:
    """``<audio controls>`` with the signal as an embedded 16-bit FLAC (lossless, about half of WAV)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(x, np.float32), -1, 1), sr, format="FLAC", subtype="PCM_16")
    b64 = base64.b64encode(buf.getvalue()).decode()
    return f'<audio controls preload="metadata" title="{html.escape(label)}" src="data:audio/flac;base64,{b64}">' \
           f"</audio>"


def audio_examples_html(params: dict, n_mixtures: int = 3, seconds: float = 3.0) -> str:
    """Clean / noisy / enhanced-per-level excerpts (``seconds`` long, from just before the first speech) of
    ``n_mixtures`` test mixtures at the lowest, median and highest SNR that every level enhanced."""
    import soundfile as sf

    from datagen.dataset import load_metadata, read_stem

    paths = params.get("paths") or {}
    ds, enh = Path(paths.get("dataset_dir", "data/dataset")), Path(paths.get("enhanced_dir", "data/enhanced"))
    from bench.report.plots import base_level

    levels = [lv for lv in (params.get("levels") or {}) if base_level(lv) == lv]   # no seed replicates
    try:
        meta = load_metadata(ds, "test")
    except FileNotFoundError as e:
        return f'<p class="note">Audio examples not available: {html.escape(str(e))}</p>'
    have = [lv for lv in levels if (enh / lv / "audio").is_dir()]
    ok = meta[[all((enh / lv / "audio" / f"{m}.wav").is_file() for lv in have) for m in meta["mixture_id"]]]
    if ok.empty:
        return '<p class="note">Audio examples not available: no test mixture with enhanced audio.</p>'
    ok = ok.sort_values(["snr_db", "mixture_id"]) if "snr_db" in ok else ok
    picks = sorted({0, len(ok) // 2, len(ok) - 1})[:n_mixtures]
    sr = int((params.get("frames") or {}).get("sample_rate_hz", 16000))
    hop = int((params.get("frames") or {}).get("hop_length", 256))
    head = ["test mixture", "clean target", "noisy input", *have]
    rows = []
    for i in picks:
        row = ok.iloc[i]
        vad = np.asarray(row["vad"]) if "vad" in row else np.zeros(0)
        first = int(np.argmax(vad > 0)) * hop if vad.size and vad.any() else 0
        a = max(0, first - int(0.3 * sr))
        n = int(row["n_samples"]) if "n_samples" in row else len(read_stem(ds, row, "noisy"))
        a = max(0, min(a, n - int(seconds * sr)))
        b = min(n, a + int(seconds * sr))
        cells = [audio_tag(read_stem(ds, row, s)[a:b], sr, f"{row['mixture_id']} {s}") for s in ("clean", "noisy")]
        for lv in have:
            y, fsr = sf.read(enh / lv / "audio" / f"{row['mixture_id']}.wav", dtype="float32", always_2d=False)
            cells.append(audio_tag(y[a:b], fsr, f"{row['mixture_id']} {lv}"))
        desc = (f"<b>{html.escape(str(row['mixture_id']))}</b><br>noise {html.escape(str(row.get('noise_class', '?')))}"
                f", SNR {float(row.get('snr_db', np.nan)):.1f} dB<br>{a / sr:.2f}-{b / sr:.2f} s")
        rows.append("<tr><td>" + desc + "</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return ('<p class="note">Excerpts of the same test mixtures, lowest, median and highest SNR, from 0.3 s before '
            "the first speech frame; played as written (no loudness normalisation), 16-bit FLAC.</p>"
            f'<div class="scroll"><table class="audio" id="audio-examples"><thead><tr>{th}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


#: what to read from each probe-stage figure, by file-name pattern (bench.probes.cli writes them)
PROBE_FIGURES = [
    (r"^tsne_(?P<lv>.+)\.png$", "t-SNE of test mask vectors, level {lv}",
     "Each dot is one test frame's mask vector, placed by t-SNE; coloured by VAD, noise class (legend) and F0. "
     "Clusters of one colour mean the masks separate that label without any training; mixed colours mean a "
     "probe has to find it in finer structure (t-SNE distances between clusters are not meaningful)."),
    (r"^heatmap_vad_(?P<lv>.+)\.png$", "Speech vs non-speech firing rate, level {lv}",
     "Per block (row) and channel (column): firing rate during speech minus during non-speech. Red channels fire "
     "more in speech, blue less; many saturated cells mean VAD can be read from few channels."),
    (r"^heatmap_noise_(?P<lv>.+)\.png$", "Noise-class firing-rate deviation, level {lv}",
     "Per channel: the largest deviation of one noise class's firing rate from the average over noise-active "
     "frames. Near-white maps mean the gates barely depend on the noise type."),
    (r"^confusion_(?P<task>noise_seg|noise)_(?P<lv>.+)\.png$", "Noise-class confusion ({task}), level {lv}",
     "Rows: true class, normalised to 1 (colour), counts in the cells; a strong diagonal is a good probe, "
     "off-diagonal blocks show which noise classes the masks confuse."),
]


def probe_figure_caption(name: str) -> tuple[str, str]:
    """(title, what to read) of a probe-stage PNG from its file name; a generic caption for others."""
    for pat, title, cap in PROBE_FIGURES:
        m = re.match(pat, name)
        if m:
            return title.format(**m.groupdict()), cap
    return name, "Figure of the probe stage (bench.probes)."


def page(lb: pd.DataFrame, prov_html: str, figures: list[str], sections: list[tuple[str, str]],
         title: str = "DynCP speech-enhancement benchmark report", after_leaderboard: list[tuple[str, str]] = ()
         ) -> str:
    """The whole page. ``figures``: HTML snippets; ``sections``: (heading, HTML body) after the figures;
    ``after_leaderboard``: (heading, HTML body) right after the leaderboard's notes."""
    head, body = display_rows(lb)
    spec = [[m, *((s.split(" | ", 2) + ["", ""])[:3])] for m, s in metric_spec_rows(lb)]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in notes_list(lb)) or "<li>none</li>"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>", *_banner(lb),
        f'<p class="note">Generated {html.escape(str(lb["run_id"].iloc[0]) if len(lb) else "")} by '
        "<code>sebench report</code>; every number below carries the provenance block at the end of this page. "
        "Full precision: <code>leaderboard.csv</code>.</p>",
        "<h2>Leaderboard</h2>", table(head, body, tid="leaderboard"),
        "<h3>Notes (reason for every n/a)</h3>", f'<ul class="note">{notes}</ul>',
        "<h3>Metric implementations</h3>",
        table(["metric", "implementation", "version", "mode"], spec, tid="metric-spec", cls="spec"),
    ]
    for h, b in after_leaderboard:
        parts += [f"<h2>{html.escape(h)}</h2>", b]
    parts += ["<h2>Figures</h2>", *figures]
    for h, b in sections:
        parts += [f"<h2>{html.escape(h)}</h2>", b]
    parts += ["<h2>Provenance</h2>", prov_html, "</body></html>"]
    return "\n".join(parts) + "\n"


def _banner(lb: pd.DataFrame) -> list[str]:
    """The validity gate's line (bench.report.leaderboard.validity_banner) at the top, when it did not pass."""
    from bench.report import leaderboard as L

    f = getattr(L, "validity_banner", None)
    msg = f(lb) if f is not None else None
    return [f'<p class="banner" id="validity-banner"><b>{html.escape(msg)}</b></p>'] if msg else []


def embed_existing_png(path: Path, caption: str, title: str | None = None) -> str:
    """Figure from a PNG another stage wrote, or a note that it is absent."""
    return figure(path.read_bytes() if path.is_file() else None, caption, f"{path} missing", title=title)


def render_page(params, lb, inp, prov: dict, reports_dir: Path, example_level=None, example_mixture=None,
                joint_md: str | None = None) -> str:
    """The HTML of index.html (all figures and audio embedded) from a finished run's outputs."""
    from bench.report import joint as J
    from bench.report import leaderboard as L
    from bench.report import plots as P
    from bench.report import provenance as V

    rc = params.get("report") or {}
    reference = rc.get("reference") or "static"
    ex_png, ex_cap = P.example_masks_png(params, inp.summaries, example_level, example_mixture)
    joint = [j for j, _ in J.twins(params)]
    levels = list((params.get("levels") or {}).keys())
    curves = P.training_curves(Path((params.get("paths") or {}).get("models_dir", "data/models")), levels)
    figs = [
        _fig(P.fig_pareto(lb, joint), "Quality vs compute", "pareto",
              "PESQ-wb (mean, 95 % bootstrap CI over test utterances) against dynamic MACs per second of audio for "
              "the static model and each pruning level; dashed: the noisy input. Left = cheaper, up = better. The "
              "CIs here are for each model alone and overlap because all models share the same hard and easy "
              "utterances; differences between models are read from the paired figure below.",
              "no scored model with MACs"),
        _fig(P.fig_paired(lb, joint, reference), "Paired differences vs MAC saving", "paired",
              f"Left: each model's PESQ-wb minus {reference}'s on the same utterances (95 % paired CI); an interval "
              "that excludes 0 is a real drop (or gain). Right: the share of the static model's improvement over "
              "the noisy input that each level keeps, (level − noisy) / (static − noisy), for PESQ-wb and STOI "
              "(1 = all of it, 0 = none). Hollow markers: not significant (the CI includes 0 or the training "
              "seeds disagree in sign). Causal twins (causal.gated_levels) are compared with their causal static "
              "model instead, so their points show the cost of pruning a model that streams. Read how much "
              "quality each step of MAC saving costs.",
              "the leaderboard has no paired differences or gain retained"),
        _fig(P.fig_training_curves(curves), "Training curves", "training",
              "Train and valid loss (compressed spectral loss) per epoch, one colour per level; gated levels are "
              "warm-started from static, so their epoch 1 continues from static's last. A valid loss that rises "
              "while the train loss falls is overfitting; a curve still falling at its last epoch means more "
              "training would help.", "no train_summary.json or dvclive logs under paths.models_dir"),
        _fig(P.fig_probes_vs_level(lb, joint), "Mask probes vs keep ratio", "probes-vs-keep",
              "Test score of the linear probes on the gate masks against the realized keep ratio (orange squares: "
              "levels trained with probe heads)" + ("; dashed red: P2's figures (VAD 93 %, noise 84 %, F0 R² 0.86)"
                                                    if P.paper_allowed(lb) else "; the papers' figures are withheld "
                                                    "(validity gate)") + ". A line falling to the left means "
              "pruning more channels removes the information.",
              "no probe results (probes.json)"),
        embed_existing_png(reports_dir / "probes" / "curves.png",
                           "Probe test score against the number of mask channels used (ranked by ANOVA F on train), "
                           "one line per level (mean ± std over probe seeds). Where a line flattens, more channels "
                           "add nothing: few channels carry the label.", "Probe score vs number of channels"),
        embed_existing_png(reports_dir / "aux_baselines.png",
                           "Standalone auxiliary models on the same frames (coloured, with 95 % CIs) and the mask "
                           "probes (stars), score against the extra MACs per second each needs (log scale). The "
                           "masks pay off where a star is level with a baseline at a small fraction of its MACs.",
                           "Auxiliary baselines vs mask probes"),
        _fig(P.fig_block_keep(inp.summaries), "Keep ratio per block", "block-keep",
              "Share of channels each gated block keeps on the test split, per level (colour bar 0-1). Equal "
              "values across a row: the budget is spread evenly; uneven rows show where the gates prune most.",
              "no gated level with an enhance summary"),
        _fig(ex_png, "Gate masks of one utterance", "example-masks",
              f"{ex_cap}. Top: frame labels (VAD, noise active, CREPE F0); middle: share of channels on per block; "
              "bottom: every channel (black = on). Vertical structure lined up with the label changes is what "
              "the probes read.", ex_cap),
    ]
    systems = [NOISY, *[lv for lv in levels if P.base_level(lv) == lv]]
    after = [("Scores by SNR", '<p class="note">Mean [95 % bootstrap CI] per input-SNR bin of the test split '
              "(<code>scores_breakdown.csv</code>, which also has noise-class and reverb breakdowns and the "
              "training-seed replicates); n = mixtures in the bin. Read where the models help: low-SNR gains, "
              "high-SNR harm.</p>"
              + snr_breakdown_html(reports_dir / "scores_breakdown.csv", systems))]
    sections = [("Audio examples", audio_examples_html(params))]
    more = sorted(p for p in (reports_dir / "probes").glob("*.png") if p.name != "curves.png") \
        if (reports_dir / "probes").is_dir() else []
    if more:
        body = "".join(embed_existing_png(p, *reversed(probe_figure_caption(p.name))) for p in more)
        sections.append(("More probe figures", f"<details><summary>{len(more)} figure{'' if len(more) == 1 else 's'} of the probe stage "
                         "(t-SNE, firing-rate maps, confusion matrices per level)</summary>" + body + "</details>"))
    if joint_md:
        sections.append(("Joint training with probe heads", md_to_html(joint_md.split("\n", 2)[2])))
    bl = reports_dir / "aux_baselines.csv"
    if bl.is_file():
        sec = L.baselines_section(bl)
        sections.append(("Standalone auxiliary baselines", md_to_html(sec.split("\n", 2)[2])))
    card = reports_dir / "dataset_card.md"
    sections.append(("Dataset card", f'<div class="card">{md_to_html(card.read_text(encoding="utf-8"), card.parent)}'
                     "</div>" if card.is_file() else f'<p class="note">{html.escape(str(card))} missing '
                     "(run `sebench labels`).</p>"))
    if inp.missing:
        sections.append(("Missing inputs", "<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in inp.missing)
                         + "</ul>"))
    return page(lb, V.to_html(prov), figs, sections, after_leaderboard=after)


def _fig(png: bytes | None, title: str, fid: str, caption: str, missing: str) -> str:
    """:func:`figure` with the argument order of the page's figure list (title, id, caption, reason if absent)."""
    return figure(png, caption, missing, fid=fid, title=title)
