"""Log-mel front end shared by the CLAP audio towers.

STFT, mel filterbank and dB conversion follow librosa / torchlibrosa exactly
(what LAION-CLAP, MS-CLAP and MGA-CLAP were trained with), batched in torch and
honouring SpeechBrain's relative lengths (:class:`CLAPFeatures`).

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import Optional, Tuple

import torch
from torch import nn

from speechbrain.utils.logger import get_logger

from speechbrain_tclap.utils.tracing import is_tracing

logger = get_logger(__name__)

MEL_SCALES = ("slaney", "htk")
MEL_NORMS = ("slaney", None)
PAD_MODES = ("reflect", "constant", "replicate", "circular")

# Slaney's auditory-toolbox mel scale: linear below 1 kHz, logarithmic above.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(freqs: torch.Tensor, mel_scale: str = "slaney") -> torch.Tensor:
    """Converts frequencies in Hz to mels (librosa's ``hz_to_mel``).

    Arguments
    ---------
    freqs : torch.Tensor
        Frequencies in Hz, any shape.
    mel_scale : str
        ``"slaney"`` (linear below 1 kHz, log above) or ``"htk"``
        (``2595 * log10(1 + f / 700)``).

    Returns
    -------
    torch.Tensor
        Mels, same shape and dtype as ``freqs``.

    Example
    -------
    >>> hz = torch.tensor([0.0, 1000.0, 8000.0], dtype=torch.float64)
    >>> hz_to_mel(hz, "slaney")
    tensor([ 0.0000, 15.0000, 45.2456], dtype=torch.float64)
    >>> hz_to_mel(hz, "htk").round()
    tensor([   0., 1000., 2840.], dtype=torch.float64)
    """
    _check_choice("mel_scale", mel_scale, MEL_SCALES)
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + freqs / 700.0)
    linear = freqs / _SLANEY_HZ_PER_MEL
    # clamp keeps log() finite on the branch that where() discards
    log_part = (
        _SLANEY_MIN_LOG_MEL
        + torch.log(freqs.clamp(min=_SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ)
        / _SLANEY_LOG_STEP
    )
    return torch.where(freqs >= _SLANEY_MIN_LOG_HZ, log_part, linear)


def mel_to_hz(mels: torch.Tensor, mel_scale: str = "slaney") -> torch.Tensor:
    """Converts mels to frequencies in Hz (inverse of :func:`hz_to_mel`).

    Arguments
    ---------
    mels : torch.Tensor
        Mel values, any shape.
    mel_scale : str
        ``"slaney"`` or ``"htk"``.

    Returns
    -------
    torch.Tensor
        Frequencies in Hz, same shape and dtype as ``mels``.

    Example
    -------
    >>> hz = torch.tensor([50.0, 1000.0, 14000.0], dtype=torch.float64)
    >>> back = mel_to_hz(hz_to_mel(hz, "slaney"), "slaney")
    >>> torch.allclose(back, hz)
    True
    >>> back.shape
    torch.Size([3])
    """
    _check_choice("mel_scale", mel_scale, MEL_SCALES)
    if mel_scale == "htk":
        return 700.0 * (torch.pow(10.0, mels / 2595.0) - 1.0)
    linear = mels * _SLANEY_HZ_PER_MEL
    log_part = _SLANEY_MIN_LOG_HZ * torch.exp(
        _SLANEY_LOG_STEP * (mels - _SLANEY_MIN_LOG_MEL)
    )
    return torch.where(mels >= _SLANEY_MIN_LOG_MEL, log_part, linear)


def mel_filterbank(
    n_freqs: int,
    f_min: float,
    f_max: float,
    n_mels: int,
    sample_rate: float,
    mel_scale: str = "slaney",
    norm: Optional[str] = "slaney",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Triangular mel filterbank with librosa's formulas (computed in float64).

    Filter edges are ``n_mels + 2`` points evenly spaced in mels from ``f_min``
    to ``f_max``; triangles lie over ``linspace(0, sample_rate / 2, n_freqs)``.

    Arguments
    ---------
    n_freqs : int
        Number of STFT bins, ``n_fft // 2 + 1``.
    f_min : float
        Lowest filter edge in Hz.
    f_max : float
        Highest filter edge in Hz (at most ``sample_rate / 2``).
    n_mels : int
        Number of mel filters.
    sample_rate : float
        Sample rate the filterbank is designed for, in Hz.
    mel_scale : str
        ``"slaney"`` (librosa default, LAION non-fusion, MS-CLAP, MGA-CLAP)
        or ``"htk"`` (torchaudio default, LAION fusion).
    norm : str or None
        ``"slaney"``: each triangle scaled by ``2 / (f_hi - f_lo)`` (equal
        areas); ``None``: peak-1 triangles.
    dtype : torch.dtype
        Output dtype.

    Returns
    -------
    torch.Tensor
        Filterbank of shape ``(n_freqs, n_mels)``; ``power_spec @ fb`` gives
        the mel spectrogram.

    Example
    -------
    >>> fb = mel_filterbank(513, 50.0, 14000.0, 64, 48000)
    >>> fb.shape, fb.dtype
    (torch.Size([513, 64]), torch.float32)
    >>> bool((fb >= 0).all())
    True
    """
    _check_choice("mel_scale", mel_scale, MEL_SCALES)
    _check_choice("norm", norm, MEL_NORMS)
    if n_freqs < 2:
        raise ValueError(f"n_freqs must be >= 2, got {n_freqs}")
    if n_mels < 1:
        raise ValueError(f"n_mels must be >= 1, got {n_mels}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            "need 0 <= f_min < f_max <= sample_rate / 2, got "
            f"f_min={f_min}, f_max={f_max}, sample_rate={sample_rate}"
        )

    f64 = torch.float64
    fft_freqs = torch.linspace(0.0, sample_rate / 2, n_freqs, dtype=f64)
    mel_edges = torch.linspace(
        float(hz_to_mel(torch.tensor(f_min, dtype=f64), mel_scale)),
        float(hz_to_mel(torch.tensor(f_max, dtype=f64), mel_scale)),
        n_mels + 2,
        dtype=f64,
    )
    hz_edges = mel_to_hz(mel_edges, mel_scale)

    widths = hz_edges.diff()  # (n_mels + 1,)
    # distance of each filter edge above each FFT frequency: (n_freqs, n_mels + 2)
    ramps = hz_edges.unsqueeze(0) - fft_freqs.unsqueeze(1)
    rising = -ramps[:, :-2] / widths[:-1]
    falling = ramps[:, 2:] / widths[1:]
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)

    if norm == "slaney":
        weights = weights * (2.0 / (hz_edges[2:] - hz_edges[:-2]))

    empty = (weights.amax(dim=0) == 0).nonzero().flatten().tolist()
    if empty:
        logger.warning(
            "mel filters %s are all zero: n_mels=%d is too many for n_freqs=%d",
            empty,
            n_mels,
            n_freqs,
        )
    return weights.to(dtype)


def count_frames(num_samples, hop_length: int, n_fft: int, center: bool):
    """STFT frames of a length (an int) or of each length (a tensor).

    Arguments
    ---------
    num_samples : int or torch.Tensor
        Lengths in samples.
    hop_length, n_fft : int
        STFT hop and window.
    center : bool
        Whether the STFT pads by ``n_fft // 2`` on each side.

    Returns
    -------
    int or torch.Tensor
        Frame counts (below 1 for lengths under ``n_fft`` without ``center``).

    Example
    -------
    >>> count_frames(torch.tensor([0, 1000, 4800]), 480, 1024, center=True)
    tensor([ 1,  3, 11])
    """
    return 1 + (num_samples - (0 if center else n_fft)) // hop_length  # floor


def check_feat_lens(feat_lens: Optional[torch.Tensor], batch: int) -> None:
    """Raises ``ValueError`` unless ``feat_lens`` are ``(batch,)`` relative lengths.

    Values must lie in ``(0, 1]``; that check is skipped while traced.

    Arguments
    ---------
    feat_lens : torch.Tensor, optional
        Relative lengths given to an audio encoder; ``None`` passes.
    batch : int
        Batch size of the features.

    Example
    -------
    >>> check_feat_lens(torch.tensor([1.0, 0.5]), 2)
    >>> check_feat_lens(torch.tensor([0.0]), 1)
    Traceback (most recent call last):
      ...
    ValueError: feat_lens are relative lengths and must lie in (0, 1], got [0.0]
    """
    if feat_lens is None:
        return
    if feat_lens.shape != (batch,):
        raise ValueError(
            f"feat_lens must have shape ({batch},), got {tuple(feat_lens.shape)}"
        )
    if not is_tracing() and bool(((feat_lens <= 0) | (feat_lens > 1.0 + 1e-6)).any()):
        raise ValueError(
            "feat_lens are relative lengths and must lie in (0, 1], "
            f"got {feat_lens.tolist()}"
        )


# Settings shared by every published front end (``CLAPFeatures.PRESETS``).
_BASE = dict(
    n_fft=1024,
    win_length=1024,
    n_mels=64,
    f_min=50.0,
    f_max=14000.0,
    mel_scale="slaney",
    mel_norm="slaney",
)


class CLAPFeatures(nn.Module):
    """Batched log-mel spectrogram in dB, as used by the CLAP audio towers.

    ``wav -> |STFT|^power -> @ mel filterbank -> 10 * log10(max(., amin))``
    with a periodic Hann window, then optional per-clip ``top_db`` clipping:
    torchlibrosa's ``Spectrogram`` + ``LogmelFilterBank(ref=1.0)``, librosa's
    ``melspectrogram`` + ``power_to_db``. Always float32, also under autocast.
    With ``center=True`` each clip is padded by ``n_fft // 2`` samples at its
    start and at *its own* end (``wav_lens``; later samples are ignored), so a
    clip's valid frames do not depend on the rest of its batch.

    Arguments
    ---------
    sample_rate : int
        Sample rate of the input waveform in Hz.
    n_fft : int
        FFT size.
    hop_length : int
        Hop between frames in samples.
    win_length : int, optional
        Hann window length (zero-padded to ``n_fft``); default ``n_fft``.
    n_mels : int
        Number of mel bins.
    f_min : float
        Lowest mel filter edge in Hz.
    f_max : float
        Highest mel filter edge in Hz.
    mel_scale : str
        ``"slaney"`` or ``"htk"``.
    mel_norm : str or None
        ``"slaney"`` or ``None``.
    power : float
        Exponent of the magnitude (2.0: power spectrogram).
    amin : float
        Floor before the logarithm.
    top_db : float, optional
        If given, values below ``peak - top_db`` are raised to it, per clip.
    center : bool
        Whether frame ``t`` is centred on sample ``t * hop_length``.
    pad_mode : str
        Padding when ``center=True``: ``"reflect"`` (librosa, torchlibrosa),
        ``"constant"`` (zeros), ``"replicate"`` or ``"circular"``.
    mel_sample_rate : float, optional
        Sample rate the filterbank is *designed* for (default ``sample_rate``);
        differs only in ``"msclap_2023"``, a mismatch of the original code.

    Example
    -------
    >>> feats = CLAPFeatures(sample_rate=16000, n_fft=512, hop_length=160, n_mels=40,
    ...                      f_min=0.0, f_max=8000.0)
    >>> wavs = torch.randn(2, 16000)
    >>> mels, feat_lens = feats(wavs, torch.tensor([1.0, 0.5]))
    >>> mels.shape, feat_lens
    (torch.Size([2, 101, 40]), tensor([1.0000, 0.5050]))
    >>> feats.n_frames(16000), feats.frame_rate
    (101, 100.0)
    """

    PRESETS: dict = {
        # LAION-CLAP non-fusion models: torchlibrosa inside the model.
        "laion": dict(_BASE, sample_rate=48000, hop_length=480),
        # LAION-CLAP fusion models: torchaudio MelSpectrogram in the data loader.
        "laion_fusion": dict(
            _BASE, sample_rate=48000, hop_length=480, mel_scale="htk", mel_norm=None
        ),
        # MS-CLAP 2022 (CNN14): the yml values do reach the front end.
        "msclap_2022": dict(_BASE, sample_rate=44100, hop_length=320),
        # MS-CLAP 2023 (HTSAT) as the released code runs it: 44.1 kHz audio
        # framed with 1024 / 320, but librosa's mel matrix for sr=32000 (the
        # HTSAT wrapper ignores its yml, microsoft/CLAP#38), so the filters span
        # about 69 Hz to 19.3 kHz. The checkpoint stores its own matrix
        # (``logmel_extractor.melW``); converters install it with ``set_mel_matrix``.
        "msclap_2023": dict(
            _BASE, sample_rate=44100, hop_length=320, mel_sample_rate=32000
        ),
        # MGA-CLAP / WavCaps HTSAT: 32 kHz torchlibrosa front end.
        "mgaclap": dict(_BASE, sample_rate=32000, hop_length=320),
    }

    def __init__(
        self,
        sample_rate: int = 48000,
        n_fft: int = 1024,
        hop_length: int = 480,
        win_length: Optional[int] = None,
        n_mels: int = 64,
        f_min: float = 50.0,
        f_max: float = 14000.0,
        mel_scale: str = "slaney",
        mel_norm: Optional[str] = "slaney",
        power: float = 2.0,
        amin: float = 1e-10,
        top_db: Optional[float] = None,
        center: bool = True,
        pad_mode: str = "reflect",
        mel_sample_rate: Optional[float] = None,
    ):
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        if n_fft < 2 or hop_length < 1 or not 1 <= win_length <= n_fft:
            raise ValueError(
                "need n_fft >= 2, hop_length >= 1 and 1 <= win_length <= n_fft, "
                f"got n_fft={n_fft}, hop_length={hop_length}, win_length={win_length}"
            )
        if power <= 0:
            raise ValueError(f"power must be positive, got {power}")
        if amin <= 0:
            raise ValueError(f"amin must be positive, got {amin}")
        if top_db is not None and top_db < 0:
            raise ValueError(f"top_db must be non-negative, got {top_db}")
        _check_choice("pad_mode", pad_mode, PAD_MODES)

        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.f_min = f_min
        self.f_max = f_max
        self.mel_scale = mel_scale
        self.mel_norm = mel_norm
        self.power = power
        self.amin = amin
        self.top_db = top_db
        self.center = center
        self.pad_mode = pad_mode
        self.mel_sample_rate = (
            sample_rate if mel_sample_rate is None else mel_sample_rate
        )

        # derived from the config: kept out of checkpoints
        self.register_buffer(
            "window", torch.hann_window(win_length, periodic=True), persistent=False
        )
        self.register_buffer(
            "mel_matrix",
            mel_filterbank(
                n_freqs=n_fft // 2 + 1,
                f_min=f_min,
                f_max=f_max,
                n_mels=n_mels,
                sample_rate=self.mel_sample_rate,
                mel_scale=mel_scale,
                norm=mel_norm,
            ),
            persistent=False,
        )

    @classmethod
    def from_preset(cls, name: str, **override) -> "CLAPFeatures":
        """Builds the front end of a published CLAP family.

        Arguments
        ---------
        name : str
            One of ``CLAPFeatures.PRESETS``: ``"laion"``, ``"laion_fusion"``,
            ``"msclap_2022"``, ``"msclap_2023"``, ``"mgaclap"``.
        **override
            Constructor arguments replacing the preset's values.

        Returns
        -------
        CLAPFeatures
            The configured front end.

        Example
        -------
        >>> feats = CLAPFeatures.from_preset("laion", top_db=80.0)
        >>> feats.sample_rate, feats.n_frames(480000), feats.top_db
        (48000, 1001, 80.0)
        """
        if name not in cls.PRESETS:
            raise ValueError(
                f"unknown preset {name!r}; choose one of {sorted(cls.PRESETS)}"
            )
        return cls(**{**cls.PRESETS[name], **override})

    @property
    def frame_rate(self) -> float:
        """Frames per second of the output (``sample_rate / hop_length``)."""
        return self.sample_rate / self.hop_length

    def n_frames(self, num_samples: int) -> int:
        """Number of frames produced for a clip of ``num_samples`` samples.

        Arguments
        ---------
        num_samples : int
            Clip length in samples.

        Returns
        -------
        int
            Frame count (0 when ``center=False`` and the clip is shorter
            than ``n_fft``).

        Example
        -------
        >>> CLAPFeatures.from_preset("msclap_2023").n_frames(7 * 44100)
        965
        """
        return max(0, count_frames(num_samples, self.hop_length, self.n_fft, self.center))

    @torch.no_grad()
    def set_mel_matrix(self, matrix: torch.Tensor) -> None:
        """Replaces the mel filterbank, e.g. by one stored in a checkpoint.

        Arguments
        ---------
        matrix : torch.Tensor
            Filterbank of shape ``(n_fft // 2 + 1, n_mels)``.

        Example
        -------
        >>> feats = CLAPFeatures.from_preset("msclap_2023")
        >>> feats.set_mel_matrix(torch.rand(513, 64))
        >>> feats.mel_matrix.shape
        torch.Size([513, 64])
        """
        expected = (self.n_fft // 2 + 1, self.n_mels)
        if tuple(matrix.shape) != expected:
            raise ValueError(
                f"mel matrix must have shape {expected}, got {tuple(matrix.shape)}"
            )
        if not torch.isfinite(matrix).all():
            raise ValueError("mel matrix contains NaN or Inf")
        self.mel_matrix = matrix.detach().to(
            device=self.mel_matrix.device, dtype=torch.float32
        )

    def forward(
        self, wavs: torch.Tensor, wav_lens: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Computes log-mel features in dB.

        Arguments
        ---------
        wavs : torch.Tensor
            Floating waveforms of shape ``(B, L)``.
        wav_lens : torch.Tensor, optional
            Relative lengths ``(B,)`` in ``(0, 1]``; ``None`` means all ``1``.

        Returns
        -------
        feats : torch.Tensor
            Float32 log-mel ``(B, T, n_mels)`` with ``T = n_frames(L)``.
            Frames past a clip's valid frames see only its end padding and
            zeros (about ``10 * log10(amin)`` dB).
        feat_lens : torch.Tensor
            Relative lengths ``(B,)`` in ``(0, 1]``: frames whose centre lies
            within the clip (``n_frames`` of its valid length) over ``T``.

        Example
        -------
        >>> feats = CLAPFeatures.from_preset("mgaclap")
        >>> mels, lens = feats(torch.randn(3, 32000), torch.tensor([1.0, 0.5, 0.25]))
        >>> mels.shape, lens
        (torch.Size([3, 101, 64]), tensor([1.0000, 0.5050, 0.2574]))
        """
        self._check_inputs(wavs, wav_lens)
        batch, num_samples = wavs.shape
        if not self.center and num_samples < self.n_fft:
            raise ValueError(
                f"with center=False the input needs >= n_fft={self.n_fft} "
                f"samples, got {num_samples}"
            )
        with torch.autocast(device_type=wavs.device.type, enabled=False):
            wavs = wavs.float()
            if wav_lens is None:
                valid = torch.full(
                    (batch,), num_samples, dtype=torch.long, device=wavs.device
                )
            else:
                valid = torch.round(wav_lens.to(wavs.device).double() * num_samples)
                valid = valid.long().clamp(1, num_samples)
            framed = self._pad(wavs, valid)
            spec = torch.stft(
                framed,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=self.window.float(),
                center=False,
                return_complex=True,
            )  # (B, n_freqs, T)
            if self.power == 2.0:
                mag = spec.real.square() + spec.imag.square()
            else:
                mag = spec.abs().pow(self.power)
            mel = torch.matmul(mag.transpose(1, 2), self.mel_matrix.float())
            feats = 10.0 * torch.log10(torch.clamp(mel, min=self.amin))

            total_frames = feats.shape[1]
            valid_frames = count_frames(
                valid, self.hop_length, self.n_fft, self.center
            )
            valid_frames = valid_frames.clamp(1, total_frames)
            if self.top_db is not None:
                frame_ok = torch.arange(total_frames, device=feats.device)
                frame_ok = frame_ok.unsqueeze(0) < valid_frames.unsqueeze(1)
                peak = feats.masked_fill(~frame_ok.unsqueeze(-1), -torch.inf).amax(
                    dim=(1, 2), keepdim=True
                )
                feats = torch.maximum(feats, peak - self.top_db)
            feat_lens = valid_frames.float() / total_frames
        return feats, feat_lens

    def _pad(self, wavs: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Pads every clip at its own end (later samples become zeros) for
        ``torch.stft(center=False)``: ``(B, L + 2 * pad)``, ``pad = n_fft // 2``
        if ``center`` else 0."""
        batch, num_samples = wavs.shape
        pad = self.n_fft // 2 if self.center else 0
        # traced: the general path, which holds for any lengths
        all_full = not is_tracing() and bool((valid == num_samples).all())
        if all_full and pad == 0:
            return wavs
        if all_full and (self.pad_mode != "reflect" or num_samples > pad):
            # fast path, same values as the general one below
            return torch.nn.functional.pad(
                wavs.unsqueeze(1), (pad, pad), mode=self.pad_mode
            ).squeeze(1)

        # per clip, the source index of every output sample in [-pad, L + pad)
        pos = torch.arange(-pad, num_samples + pad, device=wavs.device).unsqueeze(0)
        n = valid.unsqueeze(1)
        if self.pad_mode == "reflect":
            # reflection without edge repeat, iterated for very short clips
            period = (2 * (n - 1)).clamp(min=1)
            src = torch.remainder(pos, period)
            src = torch.where(src >= n, period - src, src)
            src = torch.minimum(src, n - 1)
        elif self.pad_mode == "circular":
            src = torch.remainder(pos, n)
        else:  # replicate and constant
            src = torch.minimum(pos.clamp(min=0), n - 1)
        keep = pos < n + pad
        if self.pad_mode == "constant":
            keep = keep & (pos >= 0) & (pos < n)
        src = torch.where(keep, src, torch.zeros_like(src))
        padded = torch.gather(wavs, 1, src)
        return padded * keep

    def _check_inputs(
        self, wavs: torch.Tensor, wav_lens: Optional[torch.Tensor]
    ) -> None:
        """Raises ``ValueError`` naming the problem with the inputs."""
        if not isinstance(wavs, torch.Tensor):
            raise ValueError(f"wavs must be a torch.Tensor, got {type(wavs).__name__}")
        if wavs.dim() != 2:
            raise ValueError(
                f"wavs must be 2-D (batch, samples), got shape {tuple(wavs.shape)}"
            )
        if not wavs.is_floating_point():
            raise ValueError(f"wavs must be floating point, got {wavs.dtype}")
        if wavs.shape[0] == 0 or wavs.shape[1] == 0:
            raise ValueError(f"wavs is empty, shape {tuple(wavs.shape)}")
        if wav_lens is not None and (
            not isinstance(wav_lens, torch.Tensor) or wav_lens.shape != (wavs.shape[0],)
        ):
            raise ValueError(
                f"wav_lens must be a tensor of shape ({wavs.shape[0]},), got "
                f"{getattr(wav_lens, 'shape', type(wav_lens).__name__)}"
            )
        if is_tracing():  # the value checks below cannot be traced
            return
        if not torch.isfinite(wavs).all():
            raise ValueError("wavs contains NaN or Inf")
        if wav_lens is None:
            return
        if (
            not torch.isfinite(wav_lens).all()
            or (wav_lens <= 0).any()
            or (wav_lens > 1).any()
        ):
            raise ValueError(f"wav_lens must lie in (0, 1], got {wav_lens.tolist()}")

    def extra_repr(self) -> str:
        """Summary shown by ``print(module)``."""
        text = (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, "
            f"hop_length={self.hop_length}, win_length={self.win_length}, "
            f"n_mels={self.n_mels}, f_min={self.f_min}, f_max={self.f_max}, "
            f"mel_scale={self.mel_scale}, mel_norm={self.mel_norm}, "
            f"top_db={self.top_db}"
        )
        if self.mel_sample_rate != self.sample_rate:
            text += f", mel_sample_rate={self.mel_sample_rate}"
        return text


def _check_choice(name: str, value, choices: tuple) -> None:
    """Raises ``ValueError`` if ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
