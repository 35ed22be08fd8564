"""Speech-quality metrics, one function per metric, each described by a ``METRIC_INFO`` entry.

Every function takes float signals (n_samples,) at ``sr`` Hz and returns a float. Reference-based
metrics take ``(ref, est, sr)``; DNSMOS is reference-free and returns its four outputs at once.
A metric that cannot produce a value raises :class:`MetricFailure` with a short reason; the runner
records it as a failed row (failures are data, never dropped).

Names used in tables: ``pesq_wb``, ``pesq_nb``, ``stoi``, ``estoi``, ``si_sdr``, ``dnsmos_sig``,
``dnsmos_bak``, ``dnsmos_ovrl``, ``dnsmos_p808`` (``dnsmos`` in params expands to the last four).
"""
from __future__ import annotations

import importlib.metadata
import warnings
from pathlib import Path

import numpy as np
from datagen.errors import SebenchError


class MetricFailure(SebenchError, RuntimeError):
    """A metric could not be computed for this utterance (recorded as status "failed")."""


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - env problem
        return "not installed"


_DNSMOS_MODE = "DNSMOS P.835 sig_bak_ovr.onnx (non-personalised polyfit) + P.808 model_v8.onnx, 9.01 s windows, 1 s hop"
METRIC_INFO: dict[str, dict] = {
    "pesq_wb": dict(implementation="pesq (ludlows, ITU-T P.862 reference C code)", version=_version("pesq"),
                    mode="wb, ITU-T P.862.2, MOS-LQO", unit="MOS-LQO", range=(1.04, 4.64),
                    higher_is_better=True, reference=True),
    "pesq_nb": dict(implementation="pesq (ludlows, ITU-T P.862 reference C code)", version=_version("pesq"),
                    mode="nb, ITU-T P.862 + P.862.1 mapping, MOS-LQO", unit="MOS-LQO", range=(1.02, 4.55),
                    higher_is_better=True, reference=True),
    "stoi": dict(implementation="pystoi", version=_version("pystoi"), mode="STOI (Taal 2011), extended=False",
                 unit="", range=(0.0, 1.0), higher_is_better=True, reference=True),
    "estoi": dict(implementation="pystoi", version=_version("pystoi"), mode="ESTOI (Jensen 2016), extended=True",
                  unit="", range=(0.0, 1.0), higher_is_better=True, reference=True),
    "si_sdr": dict(implementation="bench.score.metrics.si_sdr (hand-written, Le Roux et al. 2019)",
                   version="1", mode="scale-invariant SDR, zero-mean signals", unit="dB",
                   range=(-np.inf, np.inf), higher_is_better=True, reference=True),
    **{f"dnsmos_{k}": dict(implementation="speechmos (Microsoft DNSMOS ONNX models in the wheel)",
                           version=_version("speechmos"), mode=f"{_DNSMOS_MODE}; output {k}",
                           unit="MOS", range=(1.0, 5.0), higher_is_better=True, reference=False)
       for k in ("sig", "bak", "ovrl", "p808")},
}
DNSMOS_METRICS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
ALL_METRICS = tuple(METRIC_INFO)


def expand_metrics(names) -> list[str]:
    """Params names -> table metric names (``dnsmos`` -> its four outputs); unknown names raise."""
    out: list[str] = []
    for n in names:
        sub = list(DNSMOS_METRICS) if n == "dnsmos" else [n]
        for s in sub:
            if s not in METRIC_INFO:
                raise ValueError(f"unknown metric {n!r}; expected one of {sorted(set(ALL_METRICS) | {'dnsmos'})}")
            if s not in out:
                out.append(s)
    return out


def _check(ref: np.ndarray | None, est: np.ndarray) -> None:
    if ref is not None and len(ref) != len(est):
        raise ValueError(f"reference has {len(ref)} samples, estimate {len(est)}: align them first")
    for name, x in (("reference", ref), ("estimate", est)):
        if x is not None and not np.all(np.isfinite(x)):
            raise MetricFailure(f"{name} has non-finite samples")


def _pesq(ref, est, sr, mode):
    from pesq import PesqError, pesq

    if sr not in (8000, 16000) or (mode == "wb" and sr != 16000):
        raise ValueError(f"PESQ {mode} needs sr 16000{' or 8000' if mode == 'nb' else ''} Hz, got {sr}")
    _check(ref, est)
    if not np.any(ref):
        raise MetricFailure("PESQ: reference is silent (all zeros): No utterances detected")
    if not np.any(est):
        raise MetricFailure("PESQ: estimate is silent (all zeros)")
    try:
        return float(pesq(sr, np.asarray(ref, np.float64), np.asarray(est, np.float64), mode,
                          on_error=PesqError.RAISE_EXCEPTION))
    except PesqError as e:  # NoUtterancesError, BufferTooShortError, ...
        raise MetricFailure(f"PESQ: {type(e).__name__}: {e}") from None


def pesq_wb(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Wide-band PESQ (P.862.2) MOS-LQO, ``sr`` must be 16000."""
    return _pesq(ref, est, sr, "wb")


def pesq_nb(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Narrow-band PESQ (P.862 raw score mapped to MOS-LQO by P.862.1); ``sr`` 8000 or 16000."""
    return _pesq(ref, est, sr, "nb")


def _stoi(ref, est, sr, extended):
    from pystoi import stoi as _pystoi

    _check(ref, est)
    if not np.any(ref):
        raise MetricFailure("pystoi: reference is silent (all zeros)")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        v = float(_pystoi(np.asarray(ref, np.float64), np.asarray(est, np.float64), sr, extended=extended))
    # pystoi returns 1e-5 with a warning when too few non-silent frames remain: that is a failure.
    for m in w:
        if "Not enough STFT frames" in str(m.message):
            raise MetricFailure("pystoi: not enough non-silent STFT frames (would return 1e-5)")
    if not np.isfinite(v):
        raise MetricFailure("pystoi returned a non-finite value")
    return v


def stoi(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """STOI in [0, 1] (pystoi, internal resampling to 10 kHz)."""
    return _stoi(ref, est, sr, False)


def estoi(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Extended STOI in [0, 1] (pystoi ``extended=True``)."""
    return _stoi(ref, est, sr, True)


def si_sdr(ref: np.ndarray, est: np.ndarray, sr: int | None = None) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., ICASSP 2019, eq. 2), signals made zero-mean first.

    Hand-written because it is three lines, exact, and torchmetrics is not installed:
    ``alpha = <est, ref> / ||ref||^2``, ``target = alpha ref``, ``SI-SDR = 10 log10 ||target||^2 / ||est - target||^2``
    (residual energy floored at 1e-12 ||ref||^2, i.e. at most ~120 dB).
    """
    _check(ref, est)
    ref = np.asarray(ref, np.float64) - np.mean(ref)
    est = np.asarray(est, np.float64) - np.mean(est)
    e_ref = float(np.dot(ref, ref))
    if e_ref <= 0.0:
        raise MetricFailure("SI-SDR: reference has zero energy")
    target = (np.dot(est, ref) / e_ref) * ref
    e_res = float(np.sum((est - target) ** 2))
    e_tgt = float(np.dot(target, target))
    if e_tgt <= 0.0:
        raise MetricFailure("SI-SDR: estimate is orthogonal to the reference (target energy 0)")
    # residual floored at 1e-12 of the reference energy: a perfect copy scores ~120 dB, not inf
    return 10.0 * float(np.log10(e_tgt / max(e_res, 1e-12 * e_ref)))


_DNSMOS_CACHE: dict = {}


def _dnsmos_model():
    """speechmos' DNSMOS with single-threaded ONNX sessions (one per process; parallelism is by process)."""
    if "m" not in _DNSMOS_CACHE:
        import onnxruntime as ort
        from speechmos import dnsmos as sm

        d = Path(sm.__file__).parent / "dnsmos_models"
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        m = sm.DNSMOS.__new__(sm.DNSMOS)  # same model + features as speechmos.dnsmos.run, thread-capped
        m.primary_model_path = str(d / "sig_bak_ovr.onnx")
        m.onnx_sess = ort.InferenceSession(m.primary_model_path, so, providers=["CPUExecutionProvider"])
        m.p808_onnx_sess = ort.InferenceSession(str(d / "model_v8.onnx"), so, providers=["CPUExecutionProvider"])
        _DNSMOS_CACHE["m"] = m
    return _DNSMOS_CACHE["m"]


def dnsmos(est: np.ndarray, sr: int) -> dict[str, float]:
    """DNSMOS P.835 SIG/BAK/OVRL and P.808 MOS of ``est`` (reference-free); ``sr`` must be 16000.

    Returns ``{"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"}``. Input must lie in [-1, 1].
    """
    if sr != 16000:
        raise ValueError(f"DNSMOS needs sr 16000 Hz, got {sr}")
    _check(None, est)
    est = np.asarray(est, np.float32)
    if est.size == 0 or not np.any(est):
        raise MetricFailure("DNSMOS: estimate is empty or silent")
    peak = float(np.max(np.abs(est)))
    if peak > 1.0:
        raise MetricFailure(f"DNSMOS: samples outside [-1, 1] (peak {peak:.3f})")
    r = _dnsmos_model()(est, sr, False)
    out = {"dnsmos_sig": float(r["sig_mos"]), "dnsmos_bak": float(r["bak_mos"]),
           "dnsmos_ovrl": float(r["ovrl_mos"]), "dnsmos_p808": float(r["p808_mos"])}
    if not all(np.isfinite(v) for v in out.values()):
        raise MetricFailure("DNSMOS returned a non-finite value")
    return out


SIGNIFICANT_DIGITS = 9


def _round(v: float) -> float:
    """Round to 9 significant digits: numpy's SIMD reductions depend on memory alignment, so the same
    input can differ by 1 ulp between processes (seen in pystoi ESTOI); rounding makes serial and
    parallel runs bit-identical (a boundary straddle has probability ~1e-7 per value)."""
    return float(f"{v:.{SIGNIFICANT_DIGITS}g}") if np.isfinite(v) else float(v)


REFERENCE_METRICS = {"pesq_wb": pesq_wb, "pesq_nb": pesq_nb, "stoi": stoi, "estoi": estoi, "si_sdr": si_sdr}


def compute(metrics: list[str], ref: np.ndarray, est: np.ndarray, sr: int) -> dict[str, tuple[float, str, str]]:
    """All requested ``metrics`` of one utterance: ``{name: (value, status, reason)}``.

    ``status`` is "ok" or "failed" (value NaN, ``reason`` says why); values rounded to 9 significant digits. Programming/contract errors
    (wrong sample rate, unaligned lengths) raise instead of being recorded.
    """
    out: dict[str, tuple[float, str, str]] = {}
    for name in metrics:
        if name in REFERENCE_METRICS:
            try:
                out[name] = (_round(REFERENCE_METRICS[name](ref, est, sr)), "ok", "")
            except MetricFailure as e:
                out[name] = (float("nan"), "failed", str(e))
    dn = [m for m in metrics if m in DNSMOS_METRICS]
    if dn:
        try:
            r = dnsmos(est, sr)
            for m in dn:
                out[m] = (_round(r[m]), "ok", "")
        except MetricFailure as e:
            for m in dn:
                out[m] = (float("nan"), "failed", str(e))
    return {m: out[m] for m in metrics}
