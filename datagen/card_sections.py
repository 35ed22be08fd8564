"""Dataset-card sections derived from the corpus manifest: sources, licences, languages, speakers, material.

Every number comes from the manifest rows of the clips the mixtures actually use (``speech_ids``,
``noise_id`` of the metadata) joined on ``source_id``; optional manifest columns (``gender``,
``language``) are reported as "not recorded" when absent. :func:`hf_yaml` builds the YAML header of
the Hugging Face style ``README.md`` written beside the data.

Licence duties are hand-written facts (not derivable from data): attribution for CC BY, share-alike for
CC BY-SA and the GPL, none for CC0. Compatibility of the two share-alike families follows Creative
Commons' list of compatible licences (https://creativecommons.org/share-your-work/licensing-considerations/compatible-licenses):
only CC BY-SA 4.0 is one-way compatible with GPLv3, so a mixture holding CC BY-SA 3.0 (or older) and
GPL material cannot meet both licences.
"""
from __future__ import annotations

import re
from collections import Counter

import pandas as pd

SPLITS_ORDER = ("train", "valid", "test")
UNKNOWN = "unknown"

# origin prefix (text before ":" in the manifest's `origin`) -> kind of material; fallback: the prefix itself
MATERIAL = {
    "asterisk-core-sounds": "telephone voice prompts (IVR), read by professional voice talents",
    "asterisk-moh-opsound": "music on hold",
    "LibriSpeech": "read audiobooks (LibriVox volunteers; LibriSpeech ASR corpus)",
    "bucklespring": "keyboard typing (recorded key presses)",
    "openttd-opensfx": "video-game sound effects (OpenTTD OpenSFX)",
    "minetest-data": "video-game sound effects (Minetest)",
    "sound-theme-freedesktop": "desktop notification sounds (freedesktop sound theme)",
    "procedural": "procedurally generated noise",
    # longer keys first: the lookup takes the first key the origin starts with
    "fillets-ng-data-cs": "acted game dialogue, Czech (Fish Fillets NG, the two fish)",
    "fillets-ng-data-nl": "acted game dialogue, Dutch (Fish Fillets NG, the two fish)",
    "fillets-ng-data": "video-game sound effects (Fish Fillets NG)",
    "klettres-data": "spoken letters and syllables (KDE KLettres volunteers, one voice per language)",
    "ktuberling-data": "spoken single words (KDE KTuberling volunteers, one voice per language)",
    "kajongg": "spoken game calls, English and German (KDE Kajongg voices)",
}


def licence_family(lic: str) -> str:
    """``"public-domain" | "attribution" | "share-alike" | "copyleft" | "unknown"`` for an SPDX-like id."""
    s = str(lic or "").upper()
    if s.startswith("CC0") or s in ("PD", "PUBLIC-DOMAIN", "PUBLIC DOMAIN"):
        return "public-domain"
    if s.startswith("CC-BY-SA"):
        return "share-alike"
    if s.startswith("CC-BY-NC") or s.startswith("CC-BY-ND"):
        return UNKNOWN   # non-free terms: the card tells users to check them
    if s.startswith("CC-BY"):
        return "attribution"
    if re.match(r"^(L?GPL|AGPL)", s):
        return "copyleft"
    return UNKNOWN


def _cc_sa_version(lic: str) -> float | None:
    m = re.match(r"^CC-BY-SA-(\d+(?:\.\d+)?)", str(lic).upper())
    return float(m.group(1)) if m else None


def sa_conflict(licences) -> bool:
    """True if a set of licences holds GPL material and CC BY-SA < 4.0 material (no common licence)."""
    lics = list(licences)
    gpl = any(licence_family(x) == "copyleft" for x in lics)
    old_sa = any((v := _cc_sa_version(x)) is not None and v < 4.0 for x in lics)
    return gpl and old_sa


def hf_licence_id(lic: str) -> str:
    """The Hugging Face Hub licence id (lowercase SPDX, ``-or-later``/``-only`` dropped; else "unknown")."""
    s = str(lic or "").strip().lower()
    if not s or s == UNKNOWN:
        return UNKNOWN
    return re.sub(r"-(or-later|only)$", "", s)


def _origin_prefix(origin: str) -> str:
    o = str(origin or "").split(":", 1)[0].strip()
    for key in MATERIAL:
        if o.startswith(key):
            return key
    return o or UNKNOWN


def used_clips(per_split: dict[str, pd.DataFrame], manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per (split, mixture, source clip) used: columns split, mixture_id, role, source_id + manifest facts."""
    rows = []
    for split, d in per_split.items():
        for r in d.itertuples(index=False):
            for sid in (getattr(r, "speech_ids", None) if getattr(r, "speech_ids", None) is not None else []):
                rows.append((split, r.mixture_id, "speech", str(sid)))
            nid = getattr(r, "noise_id", None)
            if nid is not None and str(nid) and str(nid) != "nan":
                rows.append((split, r.mixture_id, "noise", str(nid)))
    u = pd.DataFrame(rows, columns=["split", "mixture_id", "role", "source_id"])
    cols = [c for c in ("source_id", "licence", "author", "origin", "speaker", "gender", "language", "noise_class")
            if c in manifest]
    m = manifest[cols].drop_duplicates("source_id").astype({"source_id": str})
    u = u.merge(m, on="source_id", how="left")
    for c in ("licence", "author", "origin"):
        u[c] = u[c].fillna("").replace("", UNKNOWN) if c in u else UNKNOWN
    u["material"] = [MATERIAL.get(p, p) for p in map(_origin_prefix, u["origin"])]
    u["source"] = [_origin_prefix(o) for o in u["origin"]]
    return u


def _table(header: list[str], rows: list[list]) -> list[str]:
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    return (["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(map(esc, r)) + " |" for r in rows])


def sources_section(u: pd.DataFrame) -> list[str]:
    rows = []
    for (src, role), g in u.groupby(["source", "role"], sort=True):
        rows.append([src, role, g["material"].iloc[0], g["source_id"].nunique(), g["mixture_id"].nunique(),
                     ", ".join(sorted(g["licence"].unique()))])
    return (["## Sources and material", "",
             "Source clips actually used by the mixtures, grouped by origin (the corpus manifest's `origin`).", ""]
            + _table(["origin", "role", "kind of material", "clips", "mixtures", "licences"], rows) + [""])


def licence_section(u: pd.DataFrame) -> list[str]:
    per_lic = []
    for lic, g in u.groupby("licence", sort=True):
        per_lic.append([lic, licence_family(lic), g.loc[g["role"] == "speech", "source_id"].nunique(),
                        g.loc[g["role"] == "noise", "source_id"].nunique(), g["mixture_id"].nunique()])
    mix_lics = u.groupby("mixture_id")["licence"].agg(lambda s: tuple(sorted(set(s))))
    n_mix = len(mix_lics)
    fam = mix_lics.map(lambda ls: {licence_family(x) for x in ls})
    n_sa = int(fam.map(lambda f: "share-alike" in f).sum())
    n_gpl = int(fam.map(lambda f: "copyleft" in f).sum())
    n_attr = int(fam.map(lambda f: bool(f & {"attribution", "share-alike"})).sum())
    n_unknown = int(fam.map(lambda f: UNKNOWN in f).sum())
    n_free = int(fam.map(lambda f: f <= {"public-domain"}).sum())
    n_conflict = int(mix_lics.map(sa_conflict).sum())
    sa_names = sorted({x for x in u["licence"] if licence_family(x) == "share-alike"})
    gpl_names = sorted({x for x in u["licence"] if licence_family(x) == "copyleft"})
    lines = ["## Licence", "",
             "The generated mixtures are adaptations of the source clips: each mixture carries the licence "
             "terms of every clip it contains (speech and noise). The code that generates them is Apache-2.0 "
             "(top-level `LICENSE`); it does not relicense the audio.", "",
             "Source clips used, by licence (from the manifest's per-clip `licence` column):", ""]
    lines += _table(["licence", "terms", "speech clips", "noise clips", "mixtures containing it"], per_lic)
    lines += ["", f"Duties for the {n_mix} mixtures:", ""]
    lines.append(f"- **Attribution** (CC BY and CC BY-SA): {n_attr} mixtures. Credit the author of every source "
                 "clip (manifest columns `author` and `origin`; for the embedded corpus "
                 "`datagen/embedded/ATTRIBUTION.md`), name the licence, link it and say that the clips were "
                 "modified (resampled, trimmed, scaled, mixed, possibly reverberated).")
    if n_sa:
        lines.append(f"- **Share-alike** ({', '.join(sa_names)}): {n_sa} mixtures. Distribute them, and "
                     "anything adapted from them, under the same licence (or a compatible later version).")
    if n_gpl:
        lines.append(f"- **GPL** ({', '.join(gpl_names)}): {n_gpl} mixtures. Distribute them under the same GPL "
                     "terms, with the corresponding source: the source clips plus this repository's code and "
                     "`params.yaml`, which regenerate each mixture bit for bit.")
    if n_conflict:
        lines.append(f"- **Incompatible share-alike terms**: {n_conflict} mixtures combine GPL and CC BY-SA "
                     "< 4.0 material; no licence satisfies both (Creative Commons lists only BY-SA 4.0 -> GPLv3 "
                     "as compatible). Use them locally, but do not redistribute them; regenerate without one of "
                     "the two sources to publish.")
    if n_free:
        lines.append(f"- **No conditions** (public-domain dedications only): {n_free} mixtures.")
    if n_unknown:
        lines.append(f"- **Unknown or non-free terms**: {n_unknown} mixtures hold clips whose licence is not "
                     "recorded or restricts use (NC/ND); check them before any redistribution.")
    return lines + [""]


def _gender(u: pd.DataFrame) -> pd.Series:
    if "gender" not in u:
        return pd.Series(UNKNOWN, index=u.index)
    g = u["gender"].fillna("").astype(str).str.upper().str.strip()
    return g.where(g.isin(["F", "M"]), UNKNOWN)


def speakers_section(u: pd.DataFrame) -> list[str]:
    s = u[u["role"] == "speech"].copy()
    s["gender"] = _gender(s)
    rows = []
    for split in [x for x in SPLITS_ORDER if x in set(s["split"])]:
        g = s[s["split"] == split].drop_duplicates("speaker")
        c = Counter(g["gender"])
        rows.append([split, len(g), c.get("F", 0), c.get("M", 0), c.get(UNKNOWN, 0)])
    lines = ["## Speakers by gender", "", "Distinct speakers per split (speech is speaker-disjoint across splits)."]
    if "gender" not in u:
        lines.append("The corpus manifest has no `gender` column: every speaker counts as unknown.")
    return lines + [""] + _table(["split", "speakers", "female", "male", "unknown"], rows) + [""]


def languages_section(u: pd.DataFrame) -> list[str]:
    s = u[u["role"] == "speech"]
    lines = ["## Languages", ""]
    if "language" not in s or s["language"].fillna("").astype(str).str.strip().eq("").all():
        return lines + ["Not recorded: the corpus manifest has no `language` column. The origins above name "
                        "the source corpora; see their documentation for the languages spoken.", ""]
    lang = s["language"].fillna("").astype(str).replace("", UNKNOWN)
    rows = [[lg, int(s.loc[lang == lg, "speaker"].nunique()), int(s.loc[lang == lg, "mixture_id"].nunique())]
            for lg in sorted(lang.unique())]
    return lines + _table(["language", "speakers", "mixtures"], rows) + [""]


def languages(u: pd.DataFrame) -> list[str]:
    s = u[u["role"] == "speech"]
    if "language" not in s:
        return []
    return sorted({str(x).split("-")[0].split("_")[0].lower() for x in s["language"].dropna() if str(x).strip()})


def usage_sections(per_split: dict[str, pd.DataFrame], u: pd.DataFrame, params: dict) -> list[str]:
    n_test_spk = u.loc[(u["role"] == "speech") & (u["split"] == "test"), "speaker"].nunique()
    hours = sum(float(d["duration_s"].sum()) for d in per_split.values()) / 3600
    sr = params["frames"]["sample_rate_hz"]
    return [
        "## Intended use", "",
        "Training and evaluating single-channel speech enhancement at "
        f"{sr // 1000} kHz, in particular dynamic-channel-pruning models, and probing what their pruning masks "
        "encode (voice activity, noise class, F0, SNR) on a fixed frame grid. Every mixture is reproducible "
        "from `params.yaml` and the source clips, so results can be compared across machines by the dataset hash.",
        "",
        "## Limitations", "",
        f"- Synthetic additive mixtures ({hours:.2f} h in all): speech and noise were recorded separately and "
        "summed at sampled SNRs, so there is no Lombard effect, no conversational speech and no real "
        "microphone chain; reverberation, where present, is simulated (pyroomacoustics shoebox rooms).",
        f"- Few speakers: the test split has {n_test_spk} distinct speaker(s), so speaker-level variance "
        "(e.g. between-speaker F0 ranges) is poorly sampled; see the gender table above.",
        "- Frame labels are algorithmic, not human annotations: an energy VAD on the dry speech, CREPE F0 and "
        "periodicity, an energy noise-activity mask (methods and versions below).",
        "- Noise classes are the source collections' own categories (see the noise class table); some are "
        "narrow (one source package), so class accuracy can reflect source identity as much as acoustics.",
        "- Not suitable for speaker identification, ASR benchmarking or any claim about real-world noise "
        "conditions.", ""]


LOADING = """Loading (offline; audio decoded with soundfile, `noise_class` a `ClassLabel`):

```python
from datagen.dataset import load_hf      # pip install dyncp-sebench, or from a clone of its repository
ds = load_hf("path/to/this/folder")       # DatasetDict(train/valid/test)
x = ds["test"][0]["noisy"]["array"]       # float32 waveform at 16 kHz
```

Without the package, `datasets.load_dataset("parquet", data_files=...)` on `metadata/*.parquet` (the
configs above) gives the metadata and frame labels; the `*_path` columns name the WAV stems relative to
this folder.

""" + "\n"


CITATION_BIBTEX = """@software{dyncp_sebench,
  title  = {dyncp-sebench: a reproducible benchmark and dataset-generation suite for
            dynamic-channel-pruning speech enhancement and mask probes},
  author = {{dyncp-sebench contributors}},
  year   = {2026},
  version = {0.1.0},
  note   = {Apache-2.0 code; generated audio under the licences of its source clips}
}"""


def citation_section(u: pd.DataFrame) -> list[str]:
    lines = ["## Citation", "",
             "Cite the suite (also in `CITATION.cff`), the method it benchmarks (Miccini et al., ICASSP 2025, "
             "arXiv:2412.17121; Miccini et al. 2026, arXiv:2602.10666) and the source corpora:", "",
             "```bibtex", CITATION_BIBTEX, "```", ""]
    if (u["source"] == "LibriSpeech").any():
        lines += ["LibriSpeech speech: V. Panayotov, G. Chen, D. Povey, S. Khudanpur, \"LibriSpeech: an ASR "
                  "corpus based on public domain audio books\", ICASSP 2015.", ""]
    return lines


def hf_yaml(per_split: dict[str, pd.DataFrame], u: pd.DataFrame) -> str:
    """YAML front matter of the Hugging Face dataset card (licences, languages, sizes, parquet configs)."""
    import yaml

    n = sum(len(d) for d in per_split.values())
    size = ("n<1K" if n < 1_000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000
            else "100K<n<1M" if n < 1_000_000 else "n>1M")
    meta = {
        "pretty_name": "dyncp-sebench generated noisy speech",
        "license": sorted({hf_licence_id(x) for x in u["licence"]}) or [UNKNOWN],
        "task_categories": ["audio-to-audio", "voice-activity-detection", "audio-classification"],
        "tags": ["speech-enhancement", "noise", "pitch", "synthetic-mixtures"],
        "size_categories": [size],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"metadata/{s}.parquet"} for s in per_split]}],
    }
    langs = languages(u)
    if langs:
        meta["language"] = langs
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"
