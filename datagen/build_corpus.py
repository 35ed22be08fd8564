"""``sebench build-corpus``: rebuild ``datagen/embedded/`` (the shipped default corpus) from Debian packages.

Speech: Asterisk IVR prompts (``asterisk-core-sounds-{en,es,fr,it,ru}-g722``), 4 speakers; LibriSpeech
readers (``--librispeech-dir``); Fish Fillets NG nl/cs fish voices and the KDE education voices
(klettres, ktuberling, kajongg). Noise: OpenSFX (``openttd-opensfx``), Minetest (``minetest-data``),
freedesktop sounds (``sound-theme-freedesktop``), Asterisk music on hold (``asterisk-moh-opsound-g722``),
bucklespring keystrokes and Fish Fillets effects, mapped to a small fixed taxonomy by hand-curated
tables below (each entry names its licence and author from the package's copyright/README files).

Deterministic: sorted file lists and a fixed selection rule (candidates ordered by sha256 of their
package-relative path, taken until a per-speaker budget is met), so the same packages give the same
bytes. Output: 16 kHz mono 16-bit FLAC + ``embedded.csv``, ``ATTRIBUTION.md``; ``--f0-only``
(re)computes the shipped full-model CREPE tracks in ``f0_cache/``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from datagen.atomic import write_bytes
from datagen.config import add_params_arg, load_params
from datagen.errors import SebenchError

SR = 16000
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
MAX_TOTAL_MB = 100.0
CSV_COLUMNS = ["source_id", "kind", "path", "duration_s", "orig_sample_rate_hz", "orig_channels", "speaker",
               "noise_class", "split_group", "licence", "author", "origin", "sha256", "gender"]

ASTERISK_DIR = Path("/usr/share/asterisk/sounds")
OPENSFX_CAT = Path("/usr/share/games/openttd/baseset/opensfx/opensfx.cat")
MINETEST_MODS = Path("/usr/share/games/minetest/games/minetest_game/mods")
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
MOH_DIR = Path("/usr/share/asterisk/moh")
BUCKLESPRING_DIR = Path("/usr/share/buckle/wav")

# ----------------------------------------------------------------------------------------------------
# Speech sources: (speaker, language tag, directory, Debian package, licence, author); genders below
SPEAKER_GENDER = {"allison": "F", "june": "F", "carlo": "M", "ivrvoice_ru": "F"}
SPEECH_SOURCES = [
    ("allison", "en_US", "en_US_f_Allison", "asterisk-core-sounds-en-g722", "CC-BY-SA-3.0", "Allison Smith"),
    ("allison", "es_MX", "es_MX_f_Allison", "asterisk-core-sounds-es-g722", "CC-BY-SA-3.0", "Allison Smith"),
    ("june", "fr_CA", "fr_CA_f_June", "asterisk-core-sounds-fr-g722", "CC-BY-SA-3.0",
     "June Wallack (translation: Clod Patry, Kristopher Lalletti, June Wallack)"),
    ("carlo", "it_IT", "it_IT_m_Carlo", "asterisk-core-sounds-it-g722", "CC-BY-3.0",
     "Carlo Flora (translation: Silvia Petrin)"),
    ("ivrvoice_ru", "ru_RU", "ru_RU_f_IvrvoiceRU", "asterisk-core-sounds-ru-g722", "CC-BY-3.0",
     "Maxim Topal (ivrvoice.ru)"),
]
SKIP_SPEECH_DIRS = {"silence", "digits", "letters", "phonetic"}
MIN_PROMPT_S = 1.5
MAX_PROMPT_S = 12.0
SILENCE_THRESHOLD = 10.0 / 32768.0   # |x| below this at the edges counts as digital silence (~ -70 dBFS)
EDGE_MARGIN_S = 0.02                  # keep this much around the first/last non-silent sample

# ----------------------------------------------------------------------------------------------------
# Noise taxonomy. Classes with < 3 distinct source groups are dropped (crowd_applause: only 2 in OpenSFX).
NOISE_CLASSES = ["vehicles_traffic", "machinery_tools", "animals_birds", "water_nature", "domestic_impacts",
                 "alarms_signals", "music", "keyboard_typing"]
MIN_NOISE_S = 0.4
MAX_NOISE_S = 12.0
MOH_EXCERPT = (30.0, 20.0)            # (start_s, duration_s) of the music excerpt taken from each track

# OpenSFX entry index -> class (Toyland/comedy mixes, explosions, crashes, splats and the 2 crowd clips
# are left out on purpose: mixed or ambiguous content).
OPENSFX_CLASSES = {
    4: "vehicles_traffic", 5: "vehicles_traffic", 6: "vehicles_traffic", 7: "vehicles_traffic",
    8: "vehicles_traffic", 9: "vehicles_traffic", 10: "vehicles_traffic", 24: "vehicles_traffic",
    25: "vehicles_traffic", 26: "vehicles_traffic", 27: "vehicles_traffic", 28: "vehicles_traffic",
    35: "vehicles_traffic", 59: "vehicles_traffic", 61: "vehicles_traffic", 65: "vehicles_traffic",
    71: "vehicles_traffic",
    11: "machinery_tools", 12: "machinery_tools", 13: "machinery_tools", 33: "machinery_tools",
    39: "machinery_tools", 40: "machinery_tools", 56: "machinery_tools",
    36: "animals_birds", 37: "animals_birds", 38: "animals_birds", 66: "animals_birds", 67: "animals_birds",
    68: "animals_birds", 72: "animals_birds",
    52: "water_nature", 57: "water_nature",
    20: "domestic_impacts",
    3: "alarms_signals", 14: "alarms_signals", 22: "alarms_signals",
}

# Minetest (minetest-data): file stem (without the .N variant suffix) -> (class, licence, author).
# Authors/licences from mods/*/README.txt and /usr/share/doc/minetest-data/copyright.
_MT_SA = "CC-BY-SA-3.0"
MINETEST_CLIPS = {
    "carts/carts_cart_moving": ("vehicles_traffic", _MT_SA, "Minetest Game contributors (mod carts)"),
    "env_sounds/env_sounds_water": ("water_nature", "CC0-1.0", "Yuval (freesound 197023)"),
    "env_sounds/env_sounds_lava": ("water_nature", "CC0-1.0", "Halion (freesound 17785)"),
    "fire/fire_fire": ("water_nature", "CC-BY-3.0", "Dynamicell (freesound 17548)"),
    "fire/fire_large": ("water_nature", "CC-BY-3.0", "Dynamicell (freesound 17548)"),
    "fire/fire_small": ("water_nature", "CC-BY-3.0", "dobroide (freesound 4211)"),
    "default/default_furnace_active": ("water_nature", "CC0-1.0", "iankath (freesound 173991)"),
    "default/default_break_glass": ("domestic_impacts", "CC-BY-3.0",
                                    "cmusounddesign (71947), Tomlija (97669), lsprice (88808) on freesound"),
    "default/default_chest_open": ("domestic_impacts", "CC-BY-3.0",
                                   "sofar, mixed from Sevin7, Percy Duke, kingsamas, bulbastre, Yoyodaman234"),
    "default/default_chest_close": ("domestic_impacts", "CC-BY-3.0",
                                    "sofar, mixed from Sevin7, Percy Duke, kingsamas, bulbastre, Yoyodaman234"),
    "default/default_grass_footstep": ("domestic_impacts", _MT_SA, "Mito551"),
    "default/default_dirt_footstep": ("domestic_impacts", _MT_SA, "Mito551"),
    "default/default_place_node": ("domestic_impacts", _MT_SA, "Mito551"),
    "default/default_water_footstep": ("domestic_impacts", "CC-BY-3.0", "AGFX (freesound pack 1253)"),
    "default/default_dug_metal": ("domestic_impacts", "CC0-1.0", "Iwan Gabovitch (qubodup)"),
    "default/default_place_node_metal": ("domestic_impacts", "CC0-1.0", "Ogrebane"),
    "doors/doors_door_open": ("domestic_impacts", "CC-BY-3.0", "CGEffex, modified by BlockMen"),
    "doors/doors_door_close": ("domestic_impacts", "CC-BY-3.0", "bennstir"),
    "doors/doors_fencegate_open": ("domestic_impacts", "CC0-1.0", "mhtaylor67 (freesound 126041)"),
    "doors/doors_fencegate_close": ("domestic_impacts", "CC-BY-3.0", "BarkersPinhead, rivernile7 (freesound)"),
    "doors/doors_glass_door_open": ("domestic_impacts", "CC0-1.0", "SkeetMasterFunk69 (freesound 235546)"),
    "doors/doors_glass_door_close": ("domestic_impacts", "CC0-1.0", "SkeetMasterFunk69 (freesound 235546)"),
    "doors/doors_steel_door_close": ("domestic_impacts", "CC-BY-3.0", "HazMattt (freesound 187283)"),
    "xpanes/xpanes_steel_bar_door_open": ("domestic_impacts", _MT_SA, "TumeniNodes"),
    "xpanes/xpanes_steel_bar_door_close": ("domestic_impacts", _MT_SA, "TumeniNodes"),
}
# Split groups for Minetest: variants .1/.2/.3 and open/close pairs are cut from one recording.
MINETEST_GROUP_OVERRIDES = {
    "fire/fire_large": "minetest:fire_dynamicell", "fire/fire_fire": "minetest:fire_dynamicell",
    "default/default_chest_open": "minetest:default_chest", "default/default_chest_close": "minetest:default_chest",
    "doors/doors_glass_door_open": "minetest:doors_glass_door",
    "doors/doors_glass_door_close": "minetest:doors_glass_door",
    "xpanes/xpanes_steel_bar_door_open": "minetest:xpanes_steel_bar_door",
    "xpanes/xpanes_steel_bar_door_close": "minetest:xpanes_steel_bar_door",
}

# freedesktop sound theme: file stem -> (class, licence, author) from its debian/copyright.
FREEDESKTOP_CLIPS = {
    "alarm-clock-elapsed": ("alarms_signals", "CC-BY-SA-3.0", "Tim/corsica_s"),
    "phone-incoming-call": ("alarms_signals", "GPL-2.0-or-later", "Damien Sandras"),
    "phone-outgoing-busy": ("alarms_signals", "GPL-2.0-or-later", "Damien Sandras"),
    "phone-outgoing-calling": ("alarms_signals", "GPL-2.0-or-later", "Damien Sandras"),
    "complete": ("alarms_signals", "CC-BY-3.0", "Dr. Richard Boulanger et al"),
    "suspend-error": ("alarms_signals", "CC-BY-SA-3.0", "Red Hat, Inc."),
}
FREEDESKTOP_GROUP_OVERRIDES = {  # the three phone tones come from one author's one tone set
    "phone-incoming-call": "freedesktop:phone", "phone-outgoing-busy": "freedesktop:phone",
    "phone-outgoing-calling": "freedesktop:phone",
}

MOH_TRACKS = {
    "macroform-cold_day": "Paul Shuler (Macroform)",
    "macroform-robot_dity": "Paul Shuler (Macroform)",
    "macroform-the_simplicity": "Paul Shuler (Macroform)",
    "manolo_camp-morning_coffee": "Manolo Camp",
    "reno_project-system": "Reno Project",
}


class CorpusBuildError(SebenchError, RuntimeError):
    """A source package is missing/unreadable or the built corpus violates its limits."""


@dataclass
class Clip:
    """One output clip before writing: mono float32 audio at 16 kHz and its CSV fields."""
    source_id: str
    kind: str
    relpath: str
    audio: np.ndarray
    orig_sample_rate_hz: int
    orig_channels: int
    speaker: str
    noise_class: str
    split_group: str
    licence: str
    author: str
    origin: str
    gender: str = ""


# ---------------------------------------------------------------------------------------------------- audio
def decode_g722(path: Path) -> np.ndarray:
    """Raw G.722 64 kbit/s file -> float32 (n,) at 16 kHz in [-1, 1)."""
    import G722
    data = path.read_bytes()
    if not data:
        raise CorpusBuildError(f"{path}: empty G.722 file")
    return np.asarray(G722.G722(SR, 64000).decode(data), dtype=np.int16).astype(np.float32) / 32768.0


def trim_silence(x: np.ndarray, threshold: float = SILENCE_THRESHOLD, margin_s: float = EDGE_MARGIN_S) -> np.ndarray:
    """Drop leading/trailing digital silence (|x| < threshold), keeping ``margin_s`` around the content."""
    idx = np.flatnonzero(np.abs(x) >= threshold)
    if len(idx) == 0:
        return x[:0]
    m = int(margin_s * SR)
    return x[max(0, idx[0] - m): min(len(x), idx[-1] + 1 + m)]


def to_16k_mono(x: np.ndarray, sr: int) -> np.ndarray:
    """(n,) or (n, ch) float -> mono float32 at 16 kHz (channel mean; soxr 'HQ' resampling)."""
    import soxr
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sr != SR:
        x = soxr.resample(x, sr, SR, quality="HQ")
    return x.astype(np.float32)


def read_audio_bytes(data: bytes, name: str) -> tuple[np.ndarray, int, int]:
    try:
        x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:
        raise CorpusBuildError(f"{name}: cannot decode audio ({e})") from e
    return x, int(sr), int(x.shape[1])


def flac_bytes(x: np.ndarray) -> bytes:
    """Mono float32 -> 16 kHz 16-bit FLAC bytes (peak-limited to avoid int16 wrap-around)."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 32767 / 32768:
        x = x * (32767 / 32768 / peak)
    pcm = np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, SR, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()


def _order_key(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------- speech
def _prompt_files(lang_dir: Path) -> list[Path]:
    if not lang_dir.is_dir():
        raise CorpusBuildError(f"{lang_dir}: missing; install the asterisk-core-sounds-*-g722 packages")
    out = []
    for p in sorted(lang_dir.rglob("*.g722")):
        rel = p.relative_to(lang_dir)
        if rel.parts[0] in SKIP_SPEECH_DIRS:
            continue
        out.append(p)
    return out


def select_speech(per_speaker_s: float) -> list[Clip]:
    """Per speaker: prompts >= MIN_PROMPT_S after trimming, ordered by sha256(lang/relpath), taken until
    ``per_speaker_s`` is reached. A speaker with two languages (allison) alternates between them."""
    by_speaker: dict[str, list[list[tuple]]] = {}
    for speaker, lang, dname, pkg, licence, author in SPEECH_SOURCES:
        lang_dir = ASTERISK_DIR / dname
        cands = []
        for p in _prompt_files(lang_dir):
            rel = p.relative_to(lang_dir).as_posix()
            # cheap pre-filter on the file size (8000 bytes per second at 64 kbit/s)
            if not MIN_PROMPT_S <= p.stat().st_size / 8000 <= MAX_PROMPT_S + 1:
                continue
            cands.append((_order_key(f"{lang}/{rel}"), lang, rel, p, pkg, licence, author))
        cands.sort()
        by_speaker.setdefault(speaker, []).append(cands)
    clips = []
    for speaker in sorted(by_speaker):
        queues = [list(c) for c in by_speaker[speaker]]
        total, i = 0.0, 0
        while total < per_speaker_s and any(queues):
            q = queues[i % len(queues)]
            i += 1
            if not q:
                continue
            _, lang, rel, p, pkg, licence, author = q.pop(0)
            x = trim_silence(decode_g722(p))
            dur = len(x) / SR
            if not MIN_PROMPT_S <= dur <= MAX_PROMPT_S:
                continue
            stem = _slug(rel[: -len(".g722")])
            clips.append(Clip(
                source_id=f"emb-sp-{speaker}-{lang.lower()}-{stem}", kind="speech",
                relpath=f"speech/{speaker}__{lang.lower()}__{stem}.flac", audio=x, orig_sample_rate_hz=SR,
                orig_channels=1, speaker=speaker, noise_class="", split_group=speaker, licence=licence,
                author=author, origin=f"{pkg}:{(ASTERISK_DIR / SPEECH_SOURCES_DIR[lang] / rel).as_posix()}",
                gender=SPEAKER_GENDER[speaker]))
            total += dur
        if total < per_speaker_s:
            raise CorpusBuildError(f"speaker {speaker}: only {total:.1f} s of prompts, need {per_speaker_s} s")
    return clips


SPEECH_SOURCES_DIR = {lang: d for _, lang, d, *_ in SPEECH_SOURCES}


# ---------------------------------------------------------------------------------------------------- noise
def parse_opensfx(path: Path = OPENSFX_CAT) -> list[dict]:
    """Entries of OpenTTD's sample container: [{index, description, wav (bytes)}] (empty entries skipped).

    Layout: little-endian (offset, size) uint32 table, count = first offset / 8 (high bit of offset is a
    flag, masked); at each offset a length byte, a NUL-padded Latin-1 description, then RIFF/WAV bytes.
    Hand-written: no maintained library reads this container.
    """
    if not path.is_file():
        raise CorpusBuildError(f"{path}: missing; install the openttd-opensfx package")
    b = path.read_bytes()
    if len(b) < 8:
        raise CorpusBuildError(f"{path}: too short for an OpenTTD .cat container")
    n = (struct.unpack_from("<I", b, 0)[0] & 0x7FFFFFFF) // 8
    out = []
    for i in range(n):
        off, size = struct.unpack_from("<II", b, i * 8)
        off &= 0x7FFFFFFF
        if off + size > len(b) or size == 0:
            raise CorpusBuildError(f"{path}: entry {i} (offset {off}, size {size}) lies outside the file")
        nlen = b[off]
        desc = b[off + 1: off + 1 + nlen].rstrip(b"\0").decode("latin-1")
        wav = b[off + 1 + nlen: off + size]
        if wav[:4] != b"RIFF":
            continue
        out.append({"index": i, "description": desc, "wav": wav})
    return out


_LICENCE_MAP = [("Attribution-ShareAlike 3.0", "CC-BY-SA-3.0"), ("Attribution 3.0", "CC-BY-3.0"),
                ("Creative Commons Zero 1.0", "CC0-1.0")]


def opensfx_meta(desc: str) -> tuple[str, str, str, str]:
    """(title, author credit, SPDX-like licence, split group) from an OpenSFX description."""
    m = re.match(r'"(.+?)"\.\s*(.*?)\s*License:\s*(.+)$', desc)
    if not m:
        raise CorpusBuildError(f"OpenSFX description not understood: {desc!r}")
    title, credit, lic_text = m.groups()
    licence = next((code for key, code in _LICENCE_MAP if key in lic_text), None)
    if licence is None:
        raise CorpusBuildError(f"OpenSFX licence not recognised: {lic_text!r}")
    orig = re.search(r'Original "(.+?)"', credit)
    group = f"opensfx:{_slug(orig.group(1))}" if orig else ""
    return title, credit.strip() or "unknown", licence, group


def _noise_clip(x: np.ndarray, sr: int, ch: int, source_id: str, relpath: str, cls: str, group: str,
                licence: str, author: str, origin: str) -> Clip | None:
    y = trim_silence(to_16k_mono(x, sr))
    y = y[: int(MAX_NOISE_S * SR)]
    if len(y) < MIN_NOISE_S * SR:
        return None
    return Clip(source_id, "noise", relpath, y, sr, ch, "", cls, group, licence, author, origin)


def select_noise(keyboard: bool = True, fillets: bool = True) -> list[Clip]:
    clips: list[Clip] = select_keyboard() if keyboard else []
    clips += select_fillets_effects() if fillets else []
    for e in parse_opensfx():
        cls = OPENSFX_CLASSES.get(e["index"])
        if cls is None:
            continue
        title, credit, licence, group = opensfx_meta(e["description"])
        x, sr, ch = read_audio_bytes(e["wav"], f"{OPENSFX_CAT}#{e['index']}")
        name = f"opensfx_{e['index']:02d}_{_slug(title)}"
        c = _noise_clip(x, sr, ch, f"emb-nz-{name}", f"noise/{cls}__{name}.flac", cls,
                        group or f"opensfx:{e['index']:02d}", licence, credit,
                        f"openttd-opensfx:{OPENSFX_CAT}#{e['index']} \"{title}\"")
        if c:
            clips.append(c)
    if not MINETEST_MODS.is_dir():
        raise CorpusBuildError(f"{MINETEST_MODS}: missing; install the minetest-data package")
    for key in sorted(MINETEST_CLIPS):
        cls, licence, author = MINETEST_CLIPS[key]
        mod, stem = key.split("/")
        files = sorted((MINETEST_MODS / mod / "sounds").glob(f"{stem}.ogg")) + \
            sorted((MINETEST_MODS / mod / "sounds").glob(f"{stem}.[0-9].ogg"))
        if not files:
            raise CorpusBuildError(f"{MINETEST_MODS / mod / 'sounds'}: no {stem}*.ogg")
        group = MINETEST_GROUP_OVERRIDES.get(key, f"minetest:{stem}")
        for f in files:
            x, sr, ch = read_audio_bytes(f.read_bytes(), str(f))
            name = f"minetest_{_slug(f.stem)}"
            c = _noise_clip(x, sr, ch, f"emb-nz-{name}", f"noise/{cls}__{name}.flac", cls, group, licence,
                            author, f"minetest-data:{f}")
            if c:
                clips.append(c)
    for stem in sorted(FREEDESKTOP_CLIPS):
        cls, licence, author = FREEDESKTOP_CLIPS[stem]
        f = FREEDESKTOP_DIR / f"{stem}.oga"
        if not f.is_file():
            raise CorpusBuildError(f"{f}: missing; install the sound-theme-freedesktop package")
        x, sr, ch = read_audio_bytes(f.read_bytes(), str(f))
        name = f"freedesktop_{_slug(stem)}"
        c = _noise_clip(x, sr, ch, f"emb-nz-{name}", f"noise/{cls}__{name}.flac", cls,
                        FREEDESKTOP_GROUP_OVERRIDES.get(stem, f"freedesktop:{stem}"), licence, author,
                        f"sound-theme-freedesktop:{f}")
        if c:
            clips.append(c)
    if MOH_DIR.is_dir():
        start_s, dur_s = MOH_EXCERPT
        for stem in sorted(MOH_TRACKS):
            f = MOH_DIR / f"{stem}.g722"
            if not f.is_file():
                raise CorpusBuildError(f"{f}: missing from asterisk-moh-opsound-g722")
            x = decode_g722(f)[int(start_s * SR): int((start_s + dur_s) * SR)]
            name = f"moh_{_slug(stem)}"
            clips.append(Clip(f"emb-nz-{name}", "noise", f"noise/music__{name}.flac", x, SR, 1, "", "music",
                              f"moh:{stem}", "CC-BY-SA-3.0", MOH_TRACKS[stem],
                              f"asterisk-moh-opsound-g722:{f} [{start_s:g} s, +{dur_s:g} s]"))
    else:
        print(f"note: {MOH_DIR} missing (apt-get install asterisk-moh-opsound-g722): no music class")
    # Drop classes that cannot appear in train and test (need >= 3 source groups).
    groups: dict[str, set] = {}
    for c in clips:
        groups.setdefault(c.noise_class, set()).add(c.split_group)
    keep = {k for k, g in groups.items() if len(g) >= 3}
    for k in sorted(set(groups) - keep):
        print(f"note: dropping noise class {k}: only {len(groups[k])} source group(s)")
    return [c for c in clips if c.noise_class in keep]


# ---------------------------------------------------------------------------------------------------- LibriSpeech
LIBRISPEECH_AUTHOR = "LibriVox reader {name}; LibriSpeech ASR corpus (c) 2014 Vassil Panayotov"
DC_LIMIT = 1e-3             # |mean| above this (-60 dBFS) is a recording's DC offset: subtracted


MAX_PAUSE_S = 2.0           # LibriSpeech utterances are cut at longer internal pauses (see split_at_pauses)
PAUSE_MARGIN_S = 0.2


def remove_dc(y: np.ndarray) -> tuple[np.ndarray, str]:
    """``(y without its mean, origin note)`` when ``|mean| > DC_LIMIT``, else ``(y, "")``."""
    dc = float(np.mean(y, dtype=np.float64)) if len(y) else 0.0
    if abs(dc) <= DC_LIMIT:
        return y, ""
    return (y.astype(np.float64) - dc).astype(np.float32), f" [DC offset {dc:+.4f} FS removed]"


def split_at_pauses(x: np.ndarray, vad_params: dict | None, max_pause_s: float = MAX_PAUSE_S,
                    margin_s: float = PAUSE_MARGIN_S) -> list[tuple[int, int]]:
    """``[(start, end)]`` sample ranges of ``x`` (16 kHz) cut at pauses longer than ``max_pause_s`` (reference
    VAD of ``labels.vad``), keeping ``margin_s`` of each pause. A few readers pause for 3-5 s mid-utterance;
    a 4 s mixture excerpt inside such a pause has no active speech, so its SNR is undefined and the render
    stage refuses it. After the cut, every excerpt of >= max_pause_s holds speech."""
    if vad_params is None or len(x) == 0:
        return [(0, len(x))]
    from datagen.frames import FrameGrid
    from datagen.vad import vad_from_params

    grid = FrameGrid(sample_rate_hz=SR, hop_length=256, n_fft=512)
    v = np.asarray(vad_from_params(x, grid, vad_params), bool)
    hop, n_max, m = 256, int(max_pause_s * SR / 256), int(margin_s * SR)
    act = np.flatnonzero(v)
    if len(act) == 0:
        return [(0, len(x))]
    cuts, start = [], 0
    gaps = np.flatnonzero(np.diff(act) > n_max)
    for gi in gaps:
        a, b = int(act[gi] + 1) * hop, int(act[gi + 1]) * hop     # pause [a, b) in samples
        cuts.append((start, min(len(x), a + m)))
        start = max(0, b - m)
    cuts.append((start, len(x)))
    return cuts


def select_librispeech(root: Path, max_per_speaker: int = 1, vad_params: dict | None = None) -> list[Clip]:
    """LibriSpeech utterances below ``root`` (flat ``<spk>-<chap>-<utt>.flac`` files or the standard
    ``<subset>/<spk>/<chap>/`` tree) with ``SPEAKERS.TXT`` at ``root``: the first ``max_per_speaker`` files
    per reader in sorted order, digital silence trimmed, as speaker ``ls<spk>`` with its gender."""
    from datagen.sources.librispeech import FILE_RE, parse_speakers_txt

    if not root.is_dir():
        raise CorpusBuildError(f"{root}: LibriSpeech folder not found (--librispeech-dir)")
    genders = parse_speakers_txt(root / "SPEAKERS.TXT")
    names = {}
    for line in (root / "SPEAKERS.TXT").read_text(encoding="utf-8", errors="replace").splitlines():
        parts = [q.strip() for q in line.split("|")]
        if len(parts) >= 5 and parts[0].isdigit():
            names[parts[0]] = parts[4]
    files = sorted(root.rglob("*.flac"), key=lambda f: f.name)
    if not files:
        raise CorpusBuildError(f"{root}: no *.flac files")
    clips, taken = [], {}
    for f in files:
        m = FILE_RE.match(f.stem)
        if not m:
            raise CorpusBuildError(f"{f}: not a LibriSpeech file name (<speaker>-<chapter>-<utt>.flac)")
        spk = m.group(1)
        if spk not in genders:
            raise CorpusBuildError(f"{f}: speaker {spk} missing from {root / 'SPEAKERS.TXT'}")
        if taken.get(spk, 0) >= max_per_speaker:
            continue
        taken[spk] = taken.get(spk, 0) + 1
        x, sr, ch = read_audio_bytes(f.read_bytes(), str(f))
        y = trim_silence(to_16k_mono(x, sr))
        y, note = remove_dc(y)   # some LibriVox recordings carry a DC offset (up to 0.26 FS = 97 % of power)
        segs = split_at_pauses(y, vad_params)
        for i, (a, b) in enumerate(segs):
            tag = f"_{i}" if len(segs) > 1 else ""
            seg_note = f" [segment {i + 1}/{len(segs)}: samples {a}-{b}, cut at pauses > {MAX_PAUSE_S:g} s]" \
                if len(segs) > 1 else ""
            clips.append(Clip(
                source_id=f"emb-sp-ls{spk}-{f.stem}{tag}", kind="speech",
                relpath=f"speech/ls{spk}__{f.stem}{tag}.flac", audio=trim_silence(y[a:b]), orig_sample_rate_hz=sr,
                orig_channels=ch, speaker=f"ls{spk}", noise_class="", split_group=f"ls{spk}", licence="CC-BY-4.0",
                author=LIBRISPEECH_AUTHOR.format(name=names.get(spk, spk)),
                origin=f"LibriSpeech train-clean-100:{m.group(1)}/{m.group(2)}/{f.name}{note}{seg_note}",
                gender=genders[spk]))
    return clips


# ---------------------------------------------------------------------------------------------------- keyboard
KEYBOARD_GROUPS = 12        # disjoint key subsets -> 12 typing clips, each its own split group
KEYBOARD_CLIP_S = 8.0


def arrange_typing(sounds: dict, group_keys: list[str], seed_name: str, clip_s: float) -> np.ndarray:
    """Word-like bursts of keystrokes, float32 (clip_s * SR,). ``sounds[key] = ([press, (release)], sr, ch)``
    (16 kHz mono arrays; the release, if any, starts 60-120 ms after the press); keys drawn from
    ``group_keys`` and timing from an RNG seeded by sha256(``seed_name``). Hand-written: no library
    arranges per-key recordings into typing."""
    n = int(clip_s * SR)
    rng = np.random.default_rng(int(_order_key(seed_name)[:8], 16))
    y = np.zeros(n + SR, np.float64)
    t = int(rng.uniform(0.05, 0.3) * SR)
    while t < n:
        for _ in range(int(rng.integers(3, 9))):          # one word: 3..8 keystrokes
            k = group_keys[int(rng.integers(len(group_keys)))]
            parts, _, _ = sounds[k]
            up = t + int(rng.uniform(0.06, 0.12) * SR)
            for s0, snd in zip((t, up), parts):
                e = min(len(y), s0 + len(snd))
                y[s0:e] += snd[: e - s0]
            t += int(rng.uniform(0.09, 0.22) * SR)          # inter-key interval
        t += int(rng.uniform(0.25, 0.7) * SR)               # gap between words
    return y[:n].astype(np.float32)


def select_keyboard(wav_dir: Path = BUCKLESPRING_DIR, n_groups: int = KEYBOARD_GROUPS,
                    clip_s: float = KEYBOARD_CLIP_S) -> list[Clip]:
    """Keyboard-typing clips from bucklespring's real IBM Model M recordings (``<key>-0.wav`` press,
    ``<key>-1.wav`` release). The keys are dealt into ``n_groups`` disjoint subsets (by sha256 of the key
    name); each clip types word-like bursts with keys of one subset only, timing drawn from an RNG seeded
    by the subset's name, so a split by group never shares a recording. Hand-written: no library arranges
    per-key recordings into typing."""
    if not wav_dir.is_dir():
        raise CorpusBuildError(f"{wav_dir}: missing; install the bucklespring-data package")
    keys = sorted({f.stem.rsplit("-", 1)[0] for f in wav_dir.glob("*-0.wav")
                   if (wav_dir / f"{f.stem.rsplit('-', 1)[0]}-1.wav").is_file()})
    if len(keys) < n_groups:
        raise CorpusBuildError(f"{wav_dir}: only {len(keys)} keys with press+release recordings")
    keys.sort(key=lambda k: _order_key(f"bucklespring/{k}"))
    sounds = {}
    for k in keys:
        pair = []
        for part in ("0", "1"):
            x, sr, ch = read_audio_bytes((wav_dir / f"{k}-{part}.wav").read_bytes(), str(wav_dir / f"{k}-{part}.wav"))
            pair.append(to_16k_mono(x, sr))
        sounds[k] = (pair, sr, ch)
    clips = []
    for g in range(n_groups):
        group_keys = keys[g::n_groups]
        y = arrange_typing(sounds, group_keys, f"bucklespring-group-{g}", clip_s)
        sr0, ch0 = sounds[group_keys[0]][1], sounds[group_keys[0]][2]
        name = f"bucklespring_typing_{g:02d}"
        clips.append(Clip(f"emb-nz-{name}", "noise", f"noise/keyboard_typing__{name}.flac", y, sr0, ch0, "",
                          "keyboard_typing", f"bucklespring:keys{g:02d}", "GPL-2.0-or-later",
                          "Ico Doornekampt (bucklespring)",
                          f"bucklespring-data:{wav_dir} keys {' '.join(group_keys)} (typing arranged, seeded)"))
    return clips


# ---------------------------------------------------------------------------------------------------- game / KDE voices
# More voices for the train split (Debian, GPL): acted dialogue of Fish Fillets NG (nl and cs dubbing, the two
# fish) and the KDE education voices (klettres letters/syllables, ktuberling words, kajongg game calls). Their
# speakers are listed in params.yaml's corpus.speech_split.train (or have no known gender), so the valid/test
# draw from the LibriSpeech readers is unchanged. One voice per folder is assumed (klettres/ktuberling: one
# volunteer per language; the same person may have recorded a language for both programs).
FILLETS_SOUND_DIR = Path("/usr/share/games/fillets-ng/sound")
KLETTRES_DIR = Path("/usr/share/klettres")
KTUBERLING_DIR = Path("/usr/share/ktuberling/sounds")
KAJONGG_DIR = Path("/usr/share/kajongg/voices")
FILLETS_AUTHOR = "Fish Fillets NG (ALTAR interactive; Ivo and Pavel Danihelka et al.), {lang} dubbing"
#: speaker -> (language folder, role code in the file names, gender). Role codes from the game's scripts
#: (fillets-ng-data script/*/dialogs_*.lua): ``<level>-m-*`` = the small fish (female voice), ``-v-`` the big fish (male).
FILLETS_VOICES = {"fillets_nl_m": ("nl", "m", "F"), "fillets_nl_v": ("nl", "v", "M"),
                  "fillets_cs_m": ("cs", "m", "F"), "fillets_cs_v": ("cs", "v", "M")}
FILLETS_PER_SPEAKER_S = 75.0
#: klettres languages kept: ml, tn, hu, cs dropped (clipped or noisy recordings, listened to)
KLETTRES_LANGS = ["ar", "da", "de", "en", "en_GB", "es", "fr", "he", "it", "lt", "nb", "nds", "nl", "pt_BR", "ru", "uk"]
#: ktuberling languages kept: gl, nl, sr* dropped (noisy or 8 kHz-band); files below 16 kHz are skipped too
KTUBERLING_LANGS = ["ca", "da", "de", "el", "en", "lt", "ru", "sl", "uk", "wa"]
KAJONGG_VOICES = {"female1": "F", "female2": "F", "male1": "M", "male2": "M"}   # each in en (top level) and de/
KDE_PER_SPEAKER_S = 25.0
MIN_WORD_S = 0.4                      # single words / letters: shorter clips after trimming are dropped
MIN_PEAK = 0.01                       # quieter recordings (peak below -40 dBFS; some Kajongg calls) are skipped
CLIPPED_LEVEL = 0.99                  # a recording with more than MAX_CLIPPED_FRACTION of its samples at or
MAX_CLIPPED_FRACTION = 1e-3           # above CLIPPED_LEVEL full scale is clipped: skipped


def _take_voice(speaker: str, queues: list[list[tuple]], budget_s: float, min_s: float, gender: str,
                licence: str, author: str, pkg: str) -> list[Clip]:
    """Clips of one speaker from candidate queues ``[(order key, tag, path), ...]`` (each sorted by key),
    alternating between queues, until ``budget_s`` seconds; clips outside [min_s, MAX_PROMPT_S] after
    trimming, below 16 kHz, clipped or with a peak below MIN_PEAK are skipped. DC offsets above DC_LIMIT are removed as for LibriSpeech."""
    clips, total, i = [], 0.0, 0
    queues = [list(q) for q in queues]
    while total < budget_s and any(queues):
        q = queues[i % len(queues)]
        i += 1
        if not q:
            continue
        _, tag, p = q.pop(0)
        x, sr, ch = read_audio_bytes(p.read_bytes(), str(p))
        if sr < SR or np.mean(np.abs(x) >= CLIPPED_LEVEL) > MAX_CLIPPED_FRACTION:
            continue
        y = trim_silence(to_16k_mono(x, sr))
        if not min_s <= len(y) / SR <= MAX_PROMPT_S or np.abs(y).max() < MIN_PEAK:
            continue
        y, note = remove_dc(y)
        stem = _slug(tag)
        clips.append(Clip(source_id=f"emb-sp-{speaker}-{stem}", kind="speech",
                          relpath=f"speech/{speaker}__{stem}.flac", audio=y, orig_sample_rate_hz=sr,
                          orig_channels=ch, speaker=speaker, noise_class="", split_group=speaker, licence=licence,
                          author=author, origin=f"{pkg}:{p.as_posix()}{note}", gender=gender))
        total += len(y) / SR
    if not clips:
        raise CorpusBuildError(f"speaker {speaker}: no usable clip in {pkg}")
    return clips


def _queue(files: list[Path], root: Path, prefix: str) -> list[tuple]:
    """Candidates ordered by sha256 of ``<prefix>/<path relative to root>`` (the selection order)."""
    out = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        out.append((_order_key(f"{prefix}/{rel}"), rel[: -len(p.suffix)], p))
    return sorted(out)


def select_game_voices(fillets_s: float = FILLETS_PER_SPEAKER_S, kde_s: float = KDE_PER_SPEAKER_S) -> list[Clip]:
    """Fillets nl/cs fish voices (``fillets_s`` each, sentences >= MIN_PROMPT_S) and the KDE voices
    (``kde_s`` each, words >= MIN_WORD_S): speakers ``fillets_<lang>_<m|v>``, ``klettres_<lang>``,
    ``ktuberling_<lang>`` (gender unknown: never drawn for valid/test) and ``kajongg_<voice>``."""
    for d, pkg in ((FILLETS_SOUND_DIR, "fillets-ng-data-nl / fillets-ng-data-cs"), (KLETTRES_DIR, "klettres-data"),
                   (KTUBERLING_DIR, "ktuberling-data"), (KAJONGG_DIR, "kajongg (apt-get download kajongg; "
                                                                      "dpkg-deb -x kajongg_*.deb /)")):
        if not d.is_dir():
            raise CorpusBuildError(f"{d}: missing; install {pkg}")
    clips: list[Clip] = []
    for spk, (lang, role, gender) in sorted(FILLETS_VOICES.items()):
        files = sorted(f for f in FILLETS_SOUND_DIR.glob(f"*/{lang}/*-{role}-*.ogg"))
        clips += _take_voice(spk, [_queue(files, FILLETS_SOUND_DIR, "fillets")], fillets_s, MIN_PROMPT_S, gender,
                             "GPL-2.0-only", FILLETS_AUTHOR.format(lang=lang), f"fillets-ng-data-{lang}")
    for lang in KLETTRES_LANGS:
        qs = [_queue(sorted((KLETTRES_DIR / lang / sub).glob("*.ogg")), KLETTRES_DIR, "klettres")
              for sub in ("alpha", "syllab")]
        clips += _take_voice(f"klettres_{_slug(lang)}", [q for q in qs if q], kde_s, MIN_WORD_S, "", "GPL-2.0-or-later",
                             "KLettres contributors (KDE Education; voice: a volunteer per language)", "klettres-data")
    for lang in KTUBERLING_LANGS:
        q = _queue(sorted((KTUBERLING_DIR / lang).glob("*.ogg")), KTUBERLING_DIR, "ktuberling")
        clips += _take_voice(f"ktuberling_{_slug(lang)}", [q], kde_s, MIN_WORD_S, "", "GPL-2.0-or-later",
                             "KTuberling contributors (KDE; voice: a volunteer per language)", "ktuberling-data")
    for voice, gender in sorted(KAJONGG_VOICES.items()):
        qs = [_queue(sorted((KAJONGG_DIR / sub).glob("*.ogg")), KAJONGG_DIR, "kajongg") for sub in (voice, f"de/{voice}")]
        clips += _take_voice(f"kajongg_{voice}", qs, kde_s, MIN_WORD_S, gender, "GPL-2.0-or-later",
                             "Wolfgang Rohdewald (Kajongg voices)", "kajongg")
    return clips


#: hand map of the useful Fish Fillets NG sound effects (Czech-abbreviated names; listened to): file glob
#: relative to the sound folder -> (noise class, split group)
FILLETS_EFFECTS = {
    "share/sp-bubles_0[0-9].ogg": ("water_nature", "fillets:bubbles"),
    "share/sp-impact_*.ogg": ("domestic_impacts", "fillets:impacts"),
    "keys/en/unlocking-[0-9].ogg": ("domestic_impacts", "fillets:lock"),
    "dump/en/sm-x-tiktak.ogg": ("domestic_impacts", "fillets:clock_tick"),
    "bathyscaph/en/bat-t-phone[0-9].ogg": ("alarms_signals", "fillets:phone"),
    "steel/en/steel-x-redalert.ogg": ("alarms_signals", "fillets:red_alert"),
    "engine/en/mot-x-motor.ogg": ("machinery_tools", "fillets:motor"),
    "bathroom/en/br-x-pracka.ogg": ("machinery_tools", "fillets:washing_machine"),
    "cancan/en/kan-klavir-music.ogg": ("music", "fillets:cancan_piano"),
}
FILLETS_KEYBOARD_GROUPS = 3   # the game's PC-keyboard keystrokes (linux/en/{key,enter,space}*.ogg) -> 3 typing clips


def select_fillets_effects(sound_dir: Path = FILLETS_SOUND_DIR) -> list[Clip]:
    """Noise clips from :data:`FILLETS_EFFECTS` plus keyboard typing arranged from the game's keystrokes."""
    if not sound_dir.is_dir():
        raise CorpusBuildError(f"{sound_dir}: missing; install fillets-ng-data")
    clips = []
    author = "Fish Fillets NG (ALTAR interactive; Ivo and Pavel Danihelka et al.)"
    for pattern in sorted(FILLETS_EFFECTS):
        cls, group = FILLETS_EFFECTS[pattern]
        files = sorted(sound_dir.glob(pattern))
        if not files:
            raise CorpusBuildError(f"{sound_dir}: no {pattern}")
        for f in files:
            x, sr, ch = read_audio_bytes(f.read_bytes(), str(f))
            name = f"fillets_{_slug(f.relative_to(sound_dir).as_posix()[:-4])}"
            c = _noise_clip(x, sr, ch, f"emb-nz-{name}", f"noise/{cls}__{name}.flac", cls, group,
                            "GPL-2.0-only", author, f"fillets-ng-data:{f}")
            if c:
                clips.append(c)
    keys = sorted(sound_dir.glob("linux/en/*.ogg"), key=lambda f: _order_key(f"fillets/{f.name}"))
    if len(keys) < FILLETS_KEYBOARD_GROUPS:
        raise CorpusBuildError(f"{sound_dir / 'linux/en'}: only {len(keys)} keystroke recordings")
    sounds = {}
    for f in keys:
        x, sr, ch = read_audio_bytes(f.read_bytes(), str(f))
        sounds[f.stem] = ([to_16k_mono(x, sr)], sr, ch)
    for g in range(FILLETS_KEYBOARD_GROUPS):
        group_keys = [f.stem for f in keys[g::FILLETS_KEYBOARD_GROUPS]]
        y = arrange_typing(sounds, group_keys, f"fillets-keys-group-{g}", KEYBOARD_CLIP_S)
        name = f"fillets_typing_{g:02d}"
        clips.append(Clip(f"emb-nz-{name}", "noise", f"noise/keyboard_typing__{name}.flac", y,
                          sounds[group_keys[0]][1], sounds[group_keys[0]][2], "", "keyboard_typing",
                          f"fillets:keys{g:02d}", "GPL-2.0-only", author,
                          f"fillets-ng-data:{sound_dir / 'linux/en'} keys {' '.join(group_keys)} (typing arranged, seeded)"))
    return clips


# ---------------------------------------------------------------------------------------------------- writing
def write_corpus(clips: list[Clip], out_dir: Path) -> list[dict]:
    """Write FLACs + embedded.csv (+ ATTRIBUTION.md) atomically; remove stale FLACs; check the size cap."""
    ids = [c.source_id for c in clips]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise CorpusBuildError(f"duplicate source ids: {dup[:5]}")
    rows = []
    for c in clips:
        data = flac_bytes(c.audio)
        write_bytes(out_dir / c.relpath, data)
        rows.append({"source_id": c.source_id, "kind": c.kind, "path": c.relpath,
                     "duration_s": round(len(c.audio) / SR, 6), "orig_sample_rate_hz": c.orig_sample_rate_hz,
                     "orig_channels": c.orig_channels, "speaker": c.speaker, "noise_class": c.noise_class,
                     "split_group": c.split_group, "licence": c.licence, "author": c.author,
                     "origin": c.origin, "sha256": hashlib.sha256(data).hexdigest(), "gender": c.gender})
    wanted = {r["path"] for r in rows}
    for sub in ("speech", "noise"):
        for f in sorted((out_dir / sub).glob("*.flac")):
            if f.relative_to(out_dir).as_posix() not in wanted:
                f.unlink()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_bytes(out_dir / "embedded.csv", buf.getvalue().encode())
    write_bytes(out_dir / "ATTRIBUTION.md", attribution_md(rows).encode())
    return rows


def attribution_md(rows: list[dict]) -> str:
    lines = ["# Attribution of the embedded corpus", "",
             "Generated by `sebench build-corpus` (datagen/build_corpus.py); do not edit by hand.",
             "Every clip was decoded, downmixed to mono, resampled to 16 kHz (soxr HQ), lightly trimmed of",
             "digital silence (noise clips cut to at most 12 s, music to a 20 s excerpt) and stored as 16-bit FLAC.",
             "These are modifications of the original works. Licences: see LICENSE in this folder.", "",
             "| file | source (package:path) | author | licence |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['path']} | {r['origin'].replace('|', '/')} | {r['author'].replace('|', '/')} "
                     f"| {r['licence']} |")
    return "\n".join(lines) + "\n"


def dir_size_mb(d: Path) -> float:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) / 1e6


def read_embedded_csv(out_dir: Path = EMBEDDED_DIR) -> list[dict]:
    path = out_dir / "embedded.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `sebench build-corpus`")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or list(rows[0].keys()) != CSV_COLUMNS:
        raise ValueError(f"{path}: expected columns {CSV_COLUMNS}")
    return rows


def summary(rows: list[dict], out_dir: Path) -> str:
    sp: dict[str, float] = {}
    nz: dict[str, list] = {}
    for r in rows:
        if r["kind"] == "speech":
            sp[r["speaker"]] = sp.get(r["speaker"], 0.0) + float(r["duration_s"])
        else:
            nz.setdefault(r["noise_class"], []).append(r)
    out = ["speech (minutes per speaker):"]
    out += [f"  {k:<14}{v / 60:6.2f} min" for k, v in sorted(sp.items())]
    out.append(f"  {'total':<14}{sum(sp.values()) / 60:6.2f} min")
    out.append("noise (clips / source groups / seconds per class):")
    for k, v in sorted(nz.items()):
        out.append(f"  {k:<18}{len(v):4d} clips {len({r['split_group'] for r in v}):3d} groups "
                   f"{sum(float(r['duration_s']) for r in v):7.1f} s")
    out.append(f"size of {out_dir}: {dir_size_mb(out_dir):.2f} MB (limit {MAX_TOTAL_MB} MB)")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------- F0
def compute_f0_cache(out_dir: Path, settings, shard: tuple[int, int] = (0, 1), device: str = "cpu",
                     prune: bool = False, batch_size: int = 256) -> int:
    """Full-model CREPE tracks of every embedded speech file into ``out_dir/f0_cache`` (skips hits).

    ``shard=(k, n)`` processes files k, k+n, k+2n, ... (run n processes in parallel). Returns #computed.
    """
    from tqdm import tqdm

    from datagen.f0 import F0Cache, audio_sha256
    cache_dir = out_dir / "f0_cache"
    cache = F0Cache(dirs=[cache_dir], write_dir=cache_dir, device=device, batch_size=batch_size)
    rows = [r for r in read_embedded_csv(out_dir) if r["kind"] == "speech"]
    k, n = shard
    todo = rows[k::n]
    wanted = set()
    for r in tqdm(todo, desc=f"crepe {settings.model} shard {k}/{n}", unit="file"):
        x, sr = sf.read(out_dir / r["path"], dtype="float32")
        if sr != settings.sample_rate_hz:
            raise CorpusBuildError(f"{out_dir / r['path']}: {sr} Hz, settings want {settings.sample_rate_hz}")
        cache.get_or_compute(x, settings)
        wanted.add(audio_sha256(x))
    if prune and n == 1:  # drop tracks (any settings, e.g. tiny-model ones) of audio no longer shipped
        for f in sorted(cache_dir.glob("*.npz")):
            if f.name.split("-")[0] not in wanted:
                f.unlink()
    return cache.misses


# ---------------------------------------------------------------------------------------------------- CLI
def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="sebench build-corpus", description=__doc__.splitlines()[0])
    add_params_arg(ap)
    ap.add_argument("--out", default=str(EMBEDDED_DIR), help="output folder (default: datagen/embedded)")
    ap.add_argument("--speech-per-speaker-s", type=float, default=100.0,
                    help="speech budget per speaker in seconds (default 100)")
    ap.add_argument("--librispeech-dir", default=None,
                    help="LibriSpeech folder with SPEAKERS.TXT (flat <spk>-<chap>-<utt>.flac files or the "
                         "standard tree); adds its readers as speakers ls<spk>")
    ap.add_argument("--librispeech-per-speaker", type=int, default=1, help="utterances per reader (default 1)")
    ap.add_argument("--no-keyboard", action="store_true", help="skip the bucklespring keyboard-typing class")
    ap.add_argument("--no-game-voices", action="store_true",
                    help="skip the Fish Fillets / KDE voices and the Fish Fillets effects")
    ap.add_argument("--fillets-per-speaker-s", type=float, default=FILLETS_PER_SPEAKER_S,
                    help=f"speech per Fish Fillets voice in seconds (default {FILLETS_PER_SPEAKER_S:g})")
    ap.add_argument("--kde-per-speaker-s", type=float, default=KDE_PER_SPEAKER_S,
                    help=f"speech per KDE voice in seconds (default {KDE_PER_SPEAKER_S:g})")
    ap.add_argument("--f0-model", default=None, help="CREPE model of the F0 cache (default: labels.f0.model)")
    ap.add_argument("--f0", action="store_true", help="also compute the F0 cache after building")
    ap.add_argument("--f0-only", action="store_true", help="only (re)compute missing F0 cache entries")
    ap.add_argument("--f0-shard", default="0/1", help="k/n: this process handles files k, k+n, ...")
    ap.add_argument("--f0-prune", action="store_true", help="delete cache files (any settings) of audio that is no longer a speech file")
    ap.add_argument("--device", default="cpu", help="torch device for CREPE (cpu | cuda)")
    ap.add_argument("--batch-size", type=int, default=256,
                    help="CREPE frames per batch (256 keeps full-model CPU memory near 0.5 GB)")
    a = ap.parse_args(argv)
    out_dir = Path(a.out)
    from datagen.f0 import F0Settings
    p = load_params(a.params)
    settings = F0Settings.from_params(p, model=a.f0_model or p["labels"]["f0"].get("model", "full"))
    if not a.f0_only:
        clips = select_speech(a.speech_per_speaker_s)
        if a.librispeech_dir:
            clips += select_librispeech(Path(a.librispeech_dir), a.librispeech_per_speaker, p["labels"]["vad"])
        if not a.no_game_voices:
            clips += select_game_voices(a.fillets_per_speaker_s, a.kde_per_speaker_s)
        clips += select_noise(keyboard=not a.no_keyboard, fillets=not a.no_game_voices)
        rows = write_corpus(clips, out_dir)
        print(summary(rows, out_dir))
    if a.f0 or a.f0_only:
        m = re.fullmatch(r"(\d+)/(\d+)", a.f0_shard)
        if not m or not int(m.group(1)) < int(m.group(2)):
            ap.error(f"--f0-shard must be k/n with 0 <= k < n, got {a.f0_shard!r}")
        k, n = int(m.group(1)), int(m.group(2))
        computed = compute_f0_cache(out_dir, settings, (k, n), a.device, a.f0_prune, a.batch_size)
        print(f"F0 cache: computed {computed} track(s) with torchcrepe {settings.model} -> {out_dir / 'f0_cache'}")
    mb = dir_size_mb(out_dir)
    if mb > MAX_TOTAL_MB:
        raise CorpusBuildError(f"{out_dir}: {mb:.2f} MB exceeds the {MAX_TOTAL_MB} MB limit")
    return 0


if __name__ == "__main__":
    import sys
    raise SystemExit(cli(sys.argv[1:]))
