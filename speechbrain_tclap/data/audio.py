"""Audio reading with explicit errors, resampling, and fixed-length crop/pad.

:func:`read_audio` fails loudly, naming the file and the problem, on anything
a training run should not silently swallow; :func:`to_waveforms` checks
in-memory waveforms the same way; :func:`resample_audio` is the one resampler
of both; :func:`crop_or_pad` brings a waveform to the model window as CLAP
recipes do.

Authors
 * speechbrain-tclap developers 2026
"""

import contextlib
import functools
import io
import math
import os
from typing import Callable, Optional, Tuple, Union

import numpy as np
import soundfile as sf
import torch

CROP_MODES = ("left", "center", "loudest", "random")
PAD_MODES = ("zero", "repeat")

#: Largest peak a float file may have: above it, the samples are not a
#: ``[-1, 1]`` waveform (e.g. int16 values stored as float) and are refused.
MAX_FLOAT_PEAK = 2.0


class AudioReadError(ValueError):
    """An audio file could not be used; the message names the file and why.

    Arguments
    ---------
    path : str or os.PathLike
        The file that failed.
    problem : str
        What is wrong with it.

    Example
    -------
    >>> err = AudioReadError("clip.wav", "file not found")
    >>> print(err)
    clip.wav: file not found
    >>> err.problem
    'file not found'
    """

    def __init__(self, path: Union[str, os.PathLike], problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def read_audio(
    path: Union[str, os.PathLike],
    sample_rate: Optional[int] = None,
    resample: bool = False,
    mono: bool = True,
    window: Optional[Callable[[int], Optional[Tuple[int, int]]]] = None,
) -> torch.Tensor:
    """Reads an audio file into a float32 tensor in ``[-1, 1]``.

    Integer PCM is scaled by soundfile; float files are taken as they are up
    to a peak of :data:`MAX_FLOAT_PEAK`. A WAV, RF64, Wave64, AIFF or AU file
    holding fewer samples than its header declares (a truncated copy, which
    libsndfile decodes silently) is an error.

    Arguments
    ---------
    path : str, os.PathLike or io.IOBase
        Audio file (any format libsndfile reads), or a seekable file object
        (e.g. a :class:`~speechbrain_tclap.data.shards.ShardMember`; errors
        use its ``name``).
    sample_rate : int, optional
        Expected sample rate; another one raises unless ``resample=True``.
    resample : bool
        Resample to ``sample_rate`` (:func:`resample_audio`) on a mismatch.
    mono : bool
        Average the channels. With ``False`` the result is ``(C, L)``.
    window : callable, optional
        ``length -> (start, count) or None``: when resampling, compute only
        these samples of the ``length``-sample resampled clip (a cheap crop).

    Returns
    -------
    torch.Tensor
        ``(L,)`` float32 (``(C, L)`` if ``mono=False``).

    Raises
    ------
    AudioReadError
        On a missing, empty, corrupt, truncated or zero-length file,
        non-finite samples, a float peak above :data:`MAX_FLOAT_PEAK`, or an
        unexpected sample rate.

    Example
    -------
    >>> import soundfile as sf
    >>> path = str(getfixture("tmpdir") / "tone.wav")
    >>> t = np.arange(800) / 8000
    >>> tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    >>> sf.write(path, tone, 8000, subtype="PCM_16")
    >>> wav = read_audio(path, sample_rate=8000)
    >>> wav.shape, wav.dtype
    (torch.Size([800]), torch.float32)
    >>> read_audio(path, sample_rate=16000, resample=True).shape
    torch.Size([1600])
    >>> try:
    ...     read_audio(path, sample_rate=16000)
    ... except AudioReadError as err:
    ...     print(err.problem)
    sample rate is 8000 Hz, expected 16000 Hz (pass resample=True to convert)
    """
    if isinstance(path, io.IOBase):  # e.g. a shard member, named <shard>:<member>
        size = path.seek(0, io.SEEK_END)
        path.seek(0)
        # a shard member libsndfile can read in place gives a descriptor (closed by sf.read)
        descriptor = path.open_descriptor() if size and hasattr(path, "open_descriptor") else None
        source = io.BytesIO(path.read()) if descriptor is None else descriptor
        path = getattr(path, "name", "<audio file object>")
    else:
        source = path = os.fspath(path)
        if not os.path.exists(path):
            raise AudioReadError(path, "file not found")
        if os.path.isdir(path):
            raise AudioReadError(path, "is a directory, not an audio file")
        size = os.path.getsize(path)
    if size == 0:
        raise AudioReadError(path, "empty file (0 bytes)")
    try:
        data, file_rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioReadError(path, f"cannot decode audio ({exc})") from exc
    missing = _missing_sample_bytes(source, size)
    if missing:
        raise AudioReadError(
            path, f"truncated: the file's header declares {missing} more bytes of "
            f"samples than the file holds ({data.shape[0]} frames read)",
        )
    if data.shape[0] == 0:
        raise AudioReadError(path, "zero-length audio (no samples)")
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(np.argwhere(~finite)[0, 0])
        raise AudioReadError(
            path,
            f"contains NaN/Inf samples ({int((~finite).sum())} values, "
            f"first at sample {bad})",
        )

    peak = max(float(data.max()), -float(data.min()))  # no |data| copy
    if peak > MAX_FLOAT_PEAK:
        raise AudioReadError(
            path, f"peak amplitude {peak:g} is far beyond full scale 1.0 (a float "
            "file holding e.g. int16 values?); rescale it to [-1, 1]",
        )

    wav = torch.from_numpy(np.ascontiguousarray(data.T))  # (C, L)
    if mono:
        wav = wav[0] if wav.shape[0] == 1 else wav.mean(dim=0)

    if sample_rate is not None and file_rate != sample_rate:
        if not resample:
            raise AudioReadError(
                path,
                f"sample rate is {file_rate} Hz, expected {sample_rate} Hz "
                "(pass resample=True to convert)",
            )
        span = window(resampled_length(wav.shape[-1], file_rate, sample_rate)) if window else None
        wav = resample_audio(wav, int(file_rate), int(sample_rate), *(span or ()))
    return wav.to(torch.float32).contiguous()


def resampled_length(length: int, orig_freq: int, new_freq: int) -> int:
    """Samples of a ``length``-sample clip resampled from ``orig_freq`` to ``new_freq``.

    Arguments
    ---------
    length : int
        Input samples.
    orig_freq, new_freq : int
        Sample rates.

    Returns
    -------
    int
        ``ceil(length * new_freq / orig_freq)``.

    Example
    -------
    >>> resampled_length(441, 44100, 16000)
    160
    """
    return -(-int(new_freq) * int(length) // int(orig_freq))


def resample_audio(
    wav: torch.Tensor,
    orig_freq: int,
    new_freq: int,
    start: int = 0,
    count: Optional[int] = None,
) -> torch.Tensor:
    """Band-limited resampling of the last axis, as a cached polyphase matmul.

    The filter is ``torchaudio.functional.resample``'s default (Hann-windowed
    sinc, 6 zero crossings, roll-off 0.99), so the output matches it to float
    rounding; one matrix product per block of input periods is several times
    faster on CPU than a strided convolution. Only the blocks holding outputs
    ``start`` to ``start + count`` are computed.

    Arguments
    ---------
    wav : torch.Tensor
        ``(..., L)`` float waveform.
    orig_freq, new_freq : int
        Sample rates.
    start : int
        First output sample wanted.
    count : int, optional
        Output samples wanted (default: to the end).

    Returns
    -------
    torch.Tensor
        ``(..., ceil(L * new_freq / orig_freq))`` (or the ``count`` wanted).

    Example
    -------
    >>> resample_audio(torch.ones(48), 48000, 16000).shape
    torch.Size([16])
    >>> wav = torch.randn(480)
    >>> window = resample_audio(wav, 48000, 16000, start=70, count=20)
    >>> torch.allclose(window, resample_audio(wav, 48000, 16000)[70:90], atol=1e-6)
    True
    """
    divisor = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // divisor, int(new_freq) // divisor
    target = resampled_length(wav.shape[-1], orig, new)
    stop = target if count is None else min(target, start + count)
    if orig == new:
        return wav[..., start:stop]
    matrix, width, span = _resampling_matrix(orig, new, max(1, 48 // new))
    per_block = matrix.shape[1]
    hop = orig * (per_block // new)
    first, last = start // per_block, -(-stop // per_block)
    low, high = first * hop - width, (last - 1) * hop + span - width  # input samples used
    segment = wav[..., max(low, 0) : max(min(high, wav.shape[-1]), 0)]
    segment = torch.nn.functional.pad(segment, (max(-low, 0), high - low - segment.shape[-1] - max(-low, 0)))
    out = segment.unfold(-1, span, hop) @ matrix.to(wav.dtype)
    offset = start - first * per_block
    return out.reshape(*wav.shape[:-1], -1)[..., offset : offset + stop - start]


@functools.lru_cache(maxsize=16)
def _resampling_matrix(orig: int, new: int, periods: int):
    """``(matrix, width, span)``: ``periods`` input periods of ``orig``
    samples (plus the filter's reach, ``span`` samples in all) to their
    ``new * periods`` outputs; ``width`` is the left padding."""
    zeros, base = 6, min(orig, new) * 0.99
    width = math.ceil(zeros * orig / base)
    offsets = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    phases = -torch.arange(new, dtype=torch.float64)[:, None] / new
    t = ((phases + offsets) * base).clamp(-zeros, zeros)
    window = torch.cos(t * math.pi / zeros / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, 1.0, t))
    kernel = sinc * window * (base / orig)  # (new, taps)
    taps = kernel.shape[1]
    span = orig * periods + taps - orig
    matrix = torch.zeros(new * periods, span, dtype=torch.float64)
    for period in range(periods):
        matrix[new * period : new * (period + 1), orig * period : orig * period + taps] = kernel
    return matrix.t().contiguous().float(), width, span


def _missing_sample_bytes(source, size: int) -> int:
    """Bytes of samples a header declares beyond the end of the file.

    For the uncompressed containers libsndfile decodes silently when cut
    short (WAV, RF64, Wave64, AIFF/AIFC, AU); 0 otherwise, for a complete
    file, a streaming writer's unknown size, or a descriptor ``source``.
    """
    if isinstance(source, int):
        return 0
    opened = isinstance(source, (str, os.PathLike))
    with open(source, "rb") if opened else contextlib.nullcontext(source) as f:
        f.seek(0)
        declared = _declared_samples(f, f.read(16))
    if declared is None:
        return 0
    length, start = declared
    return max(0, length - (size - start))


def _declared_samples(f, magic: bytes):
    """``(declared sample bytes, offset of the first sample)`` from a header, or None."""
    if magic[:4] in (b"RIFF", b"RF64") and magic[8:12] == b"WAVE":
        f.seek(12)
        return _chunk_walk(f, "little", b"data", wide_size=magic[:4] == b"RF64")
    if magic[:4] == b"FORM" and magic[8:12] in (b"AIFF", b"AIFC"):
        f.seek(12)
        found = _chunk_walk(f, "big", b"SSND")
        # SSND holds an offset and a block size before the samples
        return None if found is None else (found[0] - 8, found[1] + 8)
    if magic[:4] == b"riff" and magic[4:16] == _W64_GUID_TAIL:
        f.seek(40)  # riff GUID, 64-bit size, wave GUID
        while True:
            header = f.read(24)  # GUID, 64-bit size that counts the header
            if len(header) < 24:
                return None
            length = int.from_bytes(header[16:], "little") - 24
            if header[:4] == b"data":
                return (length, f.tell()) if length > 0 else None
            f.seek(length + (-(length + 24)) % 8, os.SEEK_CUR)  # 8-byte aligned
    if magic[:4] == b".snd":
        start, length = int.from_bytes(magic[4:8], "big"), int.from_bytes(magic[8:12], "big")
        return None if length in (0, 0xFFFFFFFF) else (length, start)
    return None


# the GUID of Wave64's "riff" chunk after its first four bytes
_W64_GUID_TAIL = bytes.fromhex("2e91cf11a5d628db04c10000")


def _chunk_walk(f, byteorder: str, wanted: bytes, wide_size: bool = False):
    """Finds chunk ``wanted`` in a RIFF / IFF chunk list: ``(size, start)`` or
    None. RF64 (``wide_size``) keeps the real size in ``ds64``; 0 or
    0xFFFFFFFF elsewhere is a streaming writer's "unknown"."""
    wide = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        length = int.from_bytes(chunk[4:], byteorder)
        if wide_size and chunk[:4] == b"ds64":
            wide = int.from_bytes(f.read(16)[8:], "little")  # after the RIFF size
            f.seek(length - 16, os.SEEK_CUR)
            continue
        if chunk[:4] == wanted:
            if length == 0xFFFFFFFF and wide is not None:
                length = wide
            return None if length in (0, 0xFFFFFFFF) else (length, f.tell())
        f.seek(length + length % 2, os.SEEK_CUR)  # chunks are word-aligned


#: Full scale of the integer sample formats that are converted to float.
INTEGER_FULL_SCALE = {torch.int16: 2.0**15, torch.int32: 2.0**31}


def to_waveforms(
    audio: Union[np.ndarray, torch.Tensor], sample_rate: int, target_rate: int
) -> torch.Tensor:
    """Waveforms given in memory as a float32 batch ``(B, L)`` at ``target_rate``.

    int16 / int32 PCM is scaled to ``[-1, 1)``; other integer and boolean
    types, empty batches or clips, more than two dimensions and NaN/Inf
    samples are refused.

    Arguments
    ---------
    audio : numpy.ndarray or torch.Tensor
        ``(L,)`` or ``(B, L)`` samples.
    sample_rate : int
        Their rate in Hz.
    target_rate : int
        The rate wanted (resampled when it differs).

    Returns
    -------
    torch.Tensor
        Float32 ``(B, L')``.

    Example
    -------
    >>> to_waveforms(np.array([16384, -32768], dtype=np.int16), 16000, 16000)
    tensor([[ 0.5000, -1.0000]])
    >>> to_waveforms(torch.zeros(2, 8000), 8000, 16000).shape
    torch.Size([2, 16000])
    >>> to_waveforms(torch.zeros(0, 100), 16000, 16000)
    Traceback (most recent call last):
        ...
    ValueError: no audio: the batch has shape (0, 100)
    """
    wav = torch.as_tensor(audio)
    if wav.dtype in INTEGER_FULL_SCALE:
        wav = wav.float() / INTEGER_FULL_SCALE[wav.dtype]
    elif not wav.is_floating_point():
        raise TypeError(
            f"audio samples of type {wav.dtype} are not supported: give float "
            "samples in [-1, 1] or int16 / int32 PCM"
        )
    if wav.dim() == 1:
        wav = wav.unsqueeze(0)
    if wav.dim() != 2:
        raise ValueError(f"expected a waveform (L,) or a batch (B, L), got {tuple(wav.shape)}")
    if wav.numel() == 0:
        problem = "zero-length audio (no samples)" if wav.shape[0] else "no audio"
        raise ValueError(f"{problem}: the batch has shape {tuple(wav.shape)}")
    if not torch.isfinite(wav).all():
        raise ValueError("the audio contains NaN/Inf samples")
    wav = wav.float()
    if int(sample_rate) != int(target_rate):
        wav = resample_audio(wav, int(sample_rate), int(target_rate))
    return wav


def crop_or_pad(
    wav: torch.Tensor,
    num_samples: int,
    crop: str = "left",
    pad: str = "zero",
    generator: Optional[torch.Generator] = None,
) -> Tuple[torch.Tensor, int]:
    """Brings a waveform to exactly ``num_samples`` samples (last axis).

    Longer inputs are cropped: ``"left"`` keeps the start, ``"center"`` the
    middle, ``"loudest"`` the highest-energy window (the earliest on a tie),
    ``"random"`` a uniform draw from ``generator``. Shorter inputs are padded
    on the right: ``"zero"``, or ``"repeat"`` as LAION-CLAP's ``repeatpad``
    (whole tiles of the clip, then zeros).

    Arguments
    ---------
    wav : torch.Tensor
        Waveform ``(..., L)`` (loudest: energy summed over leading axes).
    num_samples : int
        Target length.
    crop : str
        One of ``"left"``, ``"center"``, ``"loudest"``, ``"random"``.
    pad : str
        One of ``"zero"``, ``"repeat"``.
    generator : torch.Generator, optional
        Random source for ``crop="random"`` (the global one if None).

    Returns
    -------
    wav : torch.Tensor
        ``(..., num_samples)``.
    valid_samples : int
        Real samples: the input length when zero-padded, else ``num_samples``.

    Example
    -------
    >>> wav = torch.tensor([0.0, 0.1, 0.9, 0.8, 0.1, 0.0])
    >>> crop_or_pad(wav, 2, crop="loudest")
    (tensor([0.9000, 0.8000]), 2)
    >>> crop_or_pad(wav, 4, crop="center")[0]
    tensor([0.1000, 0.9000, 0.8000, 0.1000])
    >>> crop_or_pad(torch.tensor([1.0, 2.0]), 5, pad="zero")
    (tensor([1., 2., 0., 0., 0.]), 2)
    >>> crop_or_pad(torch.tensor([1.0, 2.0]), 5, pad="repeat")
    (tensor([1., 2., 1., 2., 0.]), 5)
    """
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    if wav.dim() == 0:
        raise ValueError("wav must have at least one dimension (..., L)")
    length = wav.shape[-1]
    if length == 0:
        raise ValueError("cannot crop or pad an empty waveform (L = 0)")

    if length == num_samples:
        return wav, num_samples

    if length > num_samples:
        start = crop_start(length, num_samples, crop, generator, wav)
        return wav[..., start : start + num_samples], num_samples

    missing = num_samples - length
    if pad == "repeat":
        n_repeat = num_samples // length
        tiled = wav.repeat(*([1] * (wav.dim() - 1)), n_repeat)
        out = torch.nn.functional.pad(tiled, (0, num_samples - tiled.shape[-1]))
        return out, num_samples
    return torch.nn.functional.pad(wav, (0, missing)), length


def crop_start(
    length: int,
    num_samples: int,
    crop: str,
    generator: Optional[torch.Generator] = None,
    wav: Optional[torch.Tensor] = None,
) -> int:
    """Where :func:`crop_or_pad` starts its window in a longer clip.

    Arguments
    ---------
    length : int
        Clip samples (more than ``num_samples``).
    num_samples : int
        Window samples.
    crop : str
        One of :data:`CROP_MODES`; ``"loudest"`` needs ``wav``.
    generator : torch.Generator, optional
        Random source of ``"random"`` (one draw).
    wav : torch.Tensor, optional
        The clip, for ``"loudest"``.

    Returns
    -------
    int
        The first sample of the window.

    Example
    -------
    >>> crop_start(10, 4, "center")
    3
    """
    excess = length - num_samples
    if crop == "left":
        return 0
    if crop == "center":
        return excess // 2
    if crop == "random":
        return int(torch.randint(0, excess + 1, (1,), generator=generator))
    return loudest_start(wav, num_samples)


def loudest_start(wav: torch.Tensor, window: int) -> int:
    """Start index of the ``window``-long segment with the highest energy.

    Arguments
    ---------
    wav : torch.Tensor
        ``(L,)`` or ``(C, L)`` audio (channels summed), ``L >= window``.
    window : int
        Segment length in samples.

    Returns
    -------
    int
        The first sample of the loudest segment (the earliest on ties).

    Example
    -------
    >>> loudest_start(torch.tensor([0.0, 0.1, 0.9, 0.8, 0.0]), 2)
    2
    """
    energy = wav.detach().to(torch.float64).pow(2)
    if energy.dim() > 1:
        energy = energy.reshape(-1, energy.shape[-1]).sum(dim=0)
    # float64: window differences of a long cumsum stay exact enough
    csum = torch.nn.functional.pad(energy.cumsum(0), (1, 0))
    window_energy = csum[window:] - csum[:-window]
    return int(torch.argmax(window_energy))
