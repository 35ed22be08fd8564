"""``sebench render``: audio from the plan table only, one independent job per mixture.

Every value comes from the plan row (and the source audio it names), so any shard count (``--shard
k/n``) and worker order gives byte-identical files. Resumable: a mixture is finished when its
``render_meta/<id>.json`` exists (written last); finished mixtures are skipped, unfinished ones redone.
Every file is written under a temporary name and renamed, so no partial file is ever visible.

Concurrent shards (job arrays) may start, die (even SIGKILL) and restart at any time into one dataset
folder. Each render process is a temp-file *owner*: it holds an ``flock`` on
``{dataset_dir}/.render_locks/<tag>.lock`` for its lifetime and names its temp files
``<final name>.<tag>.tmp`` with ``tag = <pid>-<random hex>@<host>``. At start a render removes only temp
files that are provably stale (:func:`remove_stale_temps`): their owner's lock is not held AND (the owner
ran on this host and its pid is gone, or the temp is older than :data:`STALE_AGE_S`).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import secrets
import socket
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from datagen.config import add_params_arg, load_params
from datagen.frames import FrameGrid
from datagen.mix import active_sample_mask, mix
from datagen.paired import render_paired
from datagen.placement import loop_segment, place_audio, place_frames
from datagen.reverb import measure_rt60_s, reverberate, room_rir
from datagen.vad import vad_from_params

_STATE: dict = {}

#: A temp file of an owner whose lock is free counts as stale after this age even when its pid looks alive
#: (pid reuse) or it was written on another host (flock may not reach across NFS clients). Writing one
#: temp file takes well under a second, so 6 h is generous.
STALE_AGE_S = 6 * 3600.0
LOCK_DIR = ".render_locks"
#: ``<final name>.<pid>-<8 hex>@<host>.tmp``
_TEMP_RE = re.compile(r"^(?P<final>.+?)\.(?P<pid>\d+)-(?P<token>[0-9a-f]{8})@(?P<host>[A-Za-z0-9_.-]+)\.tmp$")
_TAG_RE = re.compile(r"^(?P<pid>\d+)-(?P<token>[0-9a-f]{8})@(?P<host>[A-Za-z0-9_.-]+)$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname() or "localhost")[:64] or "localhost"


def _set_parent_death_signal() -> None:
    """Linux: SIGKILL this worker when the render process dies, so no orphaned worker keeps writing (or holding
    the owner's inherited lock) after a kill -9 of its parent. prctl has no stdlib binding, hence ctypes."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _init(manifest_paths: dict, params: dict, owner_tag: str | None = None, worker: bool = False,
          source_sha: dict | None = None) -> None:
    if worker:
        _set_parent_death_signal()
    _STATE.clear()
    _STATE.update(paths=manifest_paths, params=params, owner_tag=owner_tag, sha=source_sha)
    _load.cache_clear()


@lru_cache(maxsize=512)
def _load(source_id: str) -> np.ndarray:
    from datagen.audio_io import load_audio

    sr = int(_STATE["params"]["frames"]["sample_rate_hz"])
    x, _ = load_audio(_STATE["paths"][source_id], target_sr=sr)
    return np.asarray(x, np.float64)


@lru_cache(maxsize=512)
def _source_vad(source_id: str) -> np.ndarray:
    p = _STATE["params"]
    return vad_from_params(_load(source_id), FrameGrid.from_params(p["frames"]), p["labels"]["vad"])


class RenderOwner:
    """This process as an owner of temp files in ``dataset_dir`` (context manager).

    On enter: creates ``{dataset_dir}/.render_locks/<tag>.lock`` already locked (locked under a private name,
    then renamed), so the lock file is visible only while held; forked workers inherit the lock. On exit:
    removes it. ``tag`` = ``<pid>-<8 hex>@<host>`` names this owner's temp files."""

    def __init__(self, dataset_dir: Path):
        self.dataset_dir = Path(dataset_dir)
        self.tag = f"{os.getpid()}-{secrets.token_hex(4)}@{_host()}"
        self.lock_path = self.dataset_dir / LOCK_DIR / f"{self.tag}.lock"
        self._fd: int | None = None

    def __enter__(self) -> "RenderOwner":
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        private = self.lock_path.with_name(f".{self.lock_path.name}.new")
        fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{self.tag}\n".encode())
        os.replace(private, self.lock_path)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            self.lock_path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def temp_path(path: Path) -> Path:
    """This process's temp name for ``path`` (same folder): ``<name>.<owner tag>.tmp``.

    Outside :func:`render` (no owner lock) the tag is ``<pid>-00000000@<host>``: protected while the pid lives."""
    tag = _STATE.get("owner_tag") or f"{os.getpid()}-00000000@{_host()}"
    return path.with_name(f"{path.name}.{tag}.tmp")


def _replace_from_temp(path: Path, write) -> None:
    """``write(tmp)`` then rename onto ``path``; the temp is removed if writing fails."""
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_wav_atomic(path: Path, x_int16: np.ndarray, sr: int) -> None:
    """16-bit PCM WAV via this owner's temp name + ``os.replace``."""
    _replace_from_temp(Path(path), lambda t: sf.write(t, x_int16, sr, subtype="PCM_16", format="WAV"))


def write_json_atomic(path: Path, obj: dict) -> None:
    """Render-meta JSON (indent 1, sorted keys) via this owner's temp name + ``os.replace``."""
    _replace_from_temp(Path(path), lambda t: t.write_text(json.dumps(obj, indent=1, sort_keys=True)))


def _pid_running(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed but not yet reaped child is a zombie: dead for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:].split()[0] != "Z"
    except (OSError, ValueError, IndexError):
        return True


def remove_stale_temps(dataset_dir: Path, now: float | None = None) -> list[Path]:
    """Remove the temp files (and lock files) of render owners that are provably gone; returns what was removed.

    A temp is stale iff its owner's lock is not held (lock file absent, or ``flock`` obtainable) AND (its owner
    ran on this host and that pid is not running, or the temp is older than :data:`STALE_AGE_S`). Temps of
    live owners (other shards writing right now) are never touched. Names without an owner tag (older
    versions) count as ownerless: stale once older than :data:`STALE_AGE_S`."""
    dataset_dir = Path(dataset_dir)
    now = time.time() if now is None else now
    here = _host()
    lock_dir = dataset_dir / LOCK_DIR
    temps: dict[str | None, list[Path]] = {}
    for t in list(dataset_dir.glob("audio/*/*.tmp")) + list(dataset_dir.glob("audio/*/*.tmp.wav")) \
            + list(dataset_dir.glob("render_meta/*.tmp")):
        m = _TEMP_RE.match(t.name)
        temps.setdefault(f"{m['pid']}-{m['token']}@{m['host']}" if m else None, []).append(t)
    tags = set(temps) - {None} | {p.name[:-len(".lock")] for p in lock_dir.glob("*.lock")}
    removed: list[Path] = []

    def old(p: Path) -> bool:
        try:
            return now - p.stat().st_mtime > STALE_AGE_S
        except FileNotFoundError:
            return False

    def unlink(p: Path) -> None:
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass

    for t in temps.get(None, []):
        if old(t):
            unlink(t)
    for p in lock_dir.glob(".*.lock.new"):   # an owner killed while creating its lock file
        m = _TAG_RE.match(p.name[1:-len(".lock.new")])
        if m and m["host"] == here and not _pid_running(int(m["pid"])):
            unlink(p)
    for tag in sorted(tags):
        m = _TAG_RE.match(tag)
        if m is None:
            continue
        local_dead = m["host"] == here and not _pid_running(int(m["pid"]))
        lock = lock_dir / f"{tag}.lock"
        fd = None
        try:
            fd = os.open(lock, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except FileNotFoundError:
            fd = None                      # no lock file: the owner released it (or never took one)
        except BlockingIOError:
            os.close(fd)
            continue                       # held: the owner is alive, keep everything of it
        try:
            for t in temps.get(tag, []):
                if local_dead or old(t):
                    unlink(t)
            if fd is not None and (local_dead or old(lock)) and not any(t.exists() for t in temps.get(tag, [])):
                unlink(lock)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def render_item(row: dict, out_dir: Path) -> dict:
    """Render one plan row into ``out_dir``; returns the realised values (also written as JSON)."""
    p = _STATE["params"]
    if row.get("paired") is True or row.get("paired") is np.True_:  # pre-mixed noisy/clean pair: datagen/paired.py
        sid = row["speech_ids"][0]
        return render_paired(row, out_dir, _load(sid), _source_vad(sid), _STATE["paths"][sid], p,
                             row_hash(row, p, _STATE.get("sha")), write_wav_atomic, write_json_atomic)
    grid = FrameGrid.from_params(p["frames"])
    sr, hop, n, mid = grid.sample_rate_hz, grid.hop_length, int(row["n_samples"]), row["mixture_id"]
    nf = grid.n_frames(n)
    speech = np.zeros(n)
    vad = np.zeros(nf, np.uint8)
    for sid, s0, d0, ln in zip(row["speech_ids"], row["speech_src_start_samples"],
                               row["speech_dst_start_samples"], row["speech_n_samples"]):
        place_audio(speech, _load(sid), int(s0), int(d0), int(ln))
        place_frames(vad, _source_vad(sid), int(s0), int(d0), int(ln), hop)
    noise = loop_segment(_load(row["noise_id"]), int(row["noise_offset_samples"]), n)

    realised = dict(mixture_id=mid, rt60_measured_s=float("nan"), plan_row_hash=row_hash(row, p, _STATE.get("sha")))
    target = None
    if row["reverb"]:
        rir = room_rir(row["rt60_target_s"], row["room_dim_m"], row["src_pos_m"], row["mic_pos_m"], sr)
        speech, target = reverberate(speech, rir, float(row["early_ms"]), sr)
        realised["rt60_measured_s"] = measure_rt60_s(rir, sr)
    active = active_sample_mask(vad, n, hop)
    res = mix(speech, noise, active, float(row["snr_db"]), float(row["target_level_dbfs"]), target,
              context=f"mixture {mid}")
    split_dir = out_dir / "audio" / row["split"]
    split_dir.mkdir(parents=True, exist_ok=True)
    stems = {"noisy": res.noisy_q, "clean": res.target_q, "noise": res.noise_q}
    if row["reverb"]:
        stems["speech"] = res.speech_q
    for stem, x in stems.items():
        write_wav_atomic(split_dir / f"{mid}_{stem}.wav", x, sr)
    realised.update(
        speech_gain=res.speech_gain, noise_gain=res.noise_gain, clip_rescale=res.clip_rescale,
        achieved_snr_db=res.achieved_snr_db, achieved_level_dbfs=res.achieved_level_dbfs,
        noisy_path=f"audio/{row['split']}/{mid}_noisy.wav", clean_path=f"audio/{row['split']}/{mid}_clean.wav",
        noise_path=f"audio/{row['split']}/{mid}_noise.wav",
        speech_path=f"audio/{row['split']}/{mid}_{'speech' if row['reverb'] else 'clean'}.wav",
    )
    meta_dir = out_dir / "render_meta"
    meta_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(meta_dir / f"{mid}.json", realised)
    return realised


def source_sha256s(manifest: pd.DataFrame) -> dict[str, str]:
    """``{source_id: sha256 of the file}`` from the corpus manifest (the content half of a row's identity)."""
    return dict(zip(manifest["source_id"].astype(str), manifest["sha256"].astype(str)))


def row_hash(row: dict, params: dict, source_sha: dict | None = None) -> str:
    """Identity of a mixture's inputs: its plan row + the params that shape its audio + the content hashes
    of its source clips (``source_sha``), so a rebuilt corpus whose clip changed under the same id (e.g.
    procedural babble after its speech pool changed) re-renders instead of keeping stale audio."""
    import hashlib

    key = {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in sorted(row.items())}
    key["_params"] = {k: params[k] for k in ("frames",)} | {"vad": params["labels"]["vad"]}
    if source_sha is not None:
        key["_sources"] = [source_sha.get(str(i), "") for i in list(row.get("speech_ids") or []) + [row.get("noise_id")]]
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_done(out_dir: Path, row: dict, params: dict, source_sha: dict | None = None) -> bool:
    """Finished iff its meta JSON exists and was rendered from this exact plan row (resume check)."""
    p = out_dir / "render_meta" / f"{row['mixture_id']}.json"
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("plan_row_hash") == row_hash(row, params, source_sha)
    except json.JSONDecodeError:
        return False


def _job(args) -> str:
    row, out_dir = args
    render_item(row, Path(out_dir))
    return row["mixture_id"]


def parse_shard(s: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in s.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like k/n (e.g. 0/4), got {s!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise argparse.ArgumentTypeError(f"--shard {s!r}: need 0 <= k < n")
    return k, n


def plan_rows(plan: pd.DataFrame) -> list[dict]:
    rows = []
    for r in plan.to_dict("records"):
        for key in ("speech_ids", "speech_src_start_samples", "speech_dst_start_samples", "speech_n_samples",
                    "room_dim_m", "src_pos_m", "mic_pos_m"):
            r[key] = list(r[key]) if r[key] is not None else []
        rows.append(r)
    return rows


def render(params: dict, shard: tuple[int, int] = (0, 1), workers: int = 1, limit: int | None = None) -> dict:
    """Render this shard's unfinished mixtures. Returns counts."""
    paths = params["paths"]
    plan = pd.read_parquet(Path(paths["plan_dir"]) / "plan.parquet").sort_values("mixture_id").reset_index(drop=True)
    manifest = pd.read_parquet(Path(paths["corpus_dir"]) / "manifest.parquet")
    out_dir = Path(paths["dataset_dir"])
    k, n_shards = shard
    rows = [r for i, r in enumerate(plan_rows(plan)) if i % n_shards == k]
    sha = source_sha256s(manifest)
    todo = [r for r in rows if not is_done(out_dir, r, params, sha)]
    if limit is not None:
        todo = todo[:limit]
    src_paths = dict(zip(manifest["source_id"], manifest["path"]))
    jobs = [(r, str(out_dir)) for r in todo]
    desc = f"render shard {k}/{n_shards}"
    with RenderOwner(out_dir) as owner:
        # leftovers of killed runs only (never visible under a final name); live shards' temps are kept
        remove_stale_temps(out_dir)
        if workers <= 1:
            _init(src_paths, params, owner.tag, False, sha)
            for j in tqdm(jobs, desc=desc, unit="mix"):
                _job(j)
        else:
            with ProcessPoolExecutor(workers, initializer=_init, initargs=(src_paths, params, owner.tag, True, sha)) as ex:
                for _ in tqdm(ex.map(_job, jobs, chunksize=4), total=len(jobs), desc=desc, unit="mix"):
                    pass
    return dict(shard=f"{k}/{n_shards}", in_shard=len(rows), rendered=len(todo), skipped=len(rows) - len(todo))


def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="sebench render", description=__doc__.split("\n")[0])
    add_params_arg(ap)
    ap.add_argument("--shard", type=parse_shard, default=(0, 1), help="render only shard k of n (k/n)")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: render.workers)")
    ap.add_argument("--limit", type=int, default=None, help="render at most this many (testing)")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    workers = args.workers if args.workers is not None else int(params["render"]["workers"])
    print("render:", render(params, args.shard, workers, args.limit))
    return 0
