"""MS-CLAP (microsoft/CLAP, ``msclap``) checkpoints → our ``CLAP`` keys.

Releases: **2022** (CNN14 audio, BERT-base text pooled at ``[CLS]``) and
**2023** (HTSAT-tiny audio, GPT-2 text pooled at the appended
``<|endoftext|>``). Both use ``ResidualProjection`` heads and store the log of
the temperature (``logit_scale``), our ``log_logit_scale``.

msclap's torchlibrosa front end (STFT kernels, mel matrix ``melW``) is in the
state dict; our :class:`~speechbrain_tclap.lobes.features.CLAPFeatures` is
stateless, so the converters check these tensors instead of carrying them:
Hann-windowed DFT kernels, and ``melW`` equal to the matrix msclap's code
builds (2022: 44.1 kHz, 50-14000 Hz; 2023: the 32 kHz, 50-14000 Hz matrix of
HTS-AT's config although audio runs at 44.1 kHz, see microsoft/CLAP#38). A
checkpoint whose matrix differs is refused, naming the design it matches.

Importing this module registers the ``msclap_2022`` and ``msclap_2023``
formats for the Pretrainer hook
:func:`speechbrain_tclap.convert.pretrainer.load_any_checkpoint`.

Authors
 * speechbrain-tclap developers 2026
"""

import math
import os
import re
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch

from speechbrain_tclap.convert.htsat_keys import (
    ConversionReport,
    laion_audio_branch_to_htsat,
    merge_encoder,
)
from speechbrain_tclap.convert.registry import register_format
from speechbrain_tclap.lobes.features import mel_filterbank
from speechbrain_tclap.lobes.tokenizers import MissingTokenizer, tokenizer_from_folder

StateDict = Dict[str, torch.Tensor]

_AUDIO = "audio_encoder.base."
_HTSAT = "audio_encoder.base.htsat."
_AUDIO_PROJ = "audio_encoder.projection."
_TEXT = "caption_encoder.base."
_TEXT_PROJ = "caption_encoder.projection."
_STFT_KEYS = (
    "spectrogram_extractor.stft.conv_real.weight",
    "spectrogram_extractor.stft.conv_imag.weight",
)
_MEL_KEY = "logmel_extractor.melW"
_CNN14_NAME = re.compile(r"^(bn0\.|conv_block[1-6]\.(conv1|conv2|bn1|bn2)\.|fc1\.)")
# buffers that older transformers versions saved and current ones rebuild
_LEGACY_TEXT_BUFFER = re.compile(
    r"^(h\.\d+\.attn\.(bias|masked_bias)"
    r"|embeddings\.(position_ids|token_type_ids))$"
)
_STFT_ATOL = 1e-5
_MEL_ATOL = 1e-6

#: The mel matrix msclap builds per release: (design sample rate, f_min, f_max),
#: n_fft 1024, 64 slaney mels.
MSCLAP_MEL_DESIGNS: Dict[str, Tuple[float, float, float]] = {
    "2022": (44100.0, 50.0, 14000.0),
    "2023": (32000.0, 50.0, 14000.0),
}
# other plausible designs (paper / yml values), named in the refusal message
_OTHER_MEL_DESIGNS = (
    (44100.0, 50.0, 8000.0),
    (44100.0, 50.0, 14000.0),
    (32000.0, 50.0, 14000.0),
    (32000.0, 50.0, 8000.0),
)

#: Tokenizer settings of msclap's ``CLAPWrapper.preprocess_text``.
MSCLAP_TEXT_SETTINGS: Dict[str, dict] = {
    "2022": dict(max_length=100, padding="max_length"),
    "2023": dict(
        max_length=77, padding="max_length", suffix=" <|endoftext|>", pad_token="!"
    ),
}
_TEXT_MODELS = {"2022": "bert-base-uncased", "2023": "gpt2"}
# the audio key that tells the releases apart
_MARKERS = {
    "2022": _AUDIO + "conv_block1.conv1.weight",
    "2023": _HTSAT + "patch_embed.proj.weight",
}


def _strip_module(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Removes a DDP ``module.`` prefix carried by every key."""
    keys = list(state_dict)
    if keys and all(k.startswith("module.") for k in keys):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def _is_msclap(state_dict: Mapping[str, torch.Tensor], version: str) -> bool:
    """Whether ``state_dict`` holds ``version``'s audio marker and caption keys."""
    sd = _strip_module(state_dict)
    return _MARKERS[version] in sd and any(k.startswith("caption_encoder.") for k in sd)


def is_msclap_2022(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict is an MS-CLAP 2022 (CNN14 + BERT) model.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        A loaded state dict (``module.`` prefixes allowed).

    Returns
    -------
    bool
        Whether it is msclap's ``CLAP`` with a CNN14 audio encoder.

    Example
    -------
    >>> is_msclap_2022({"audio_encoder.base.conv_block1.conv1.weight": 0,
    ...                 "caption_encoder.projection.linear1.weight": 0})
    True
    >>> is_msclap_2022({"log_logit_scale": 0})
    False
    """
    return _is_msclap(state_dict, "2022")


def is_msclap_2023(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict is an MS-CLAP 2023 (HTSAT + GPT-2) model.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        A loaded state dict (``module.`` prefixes allowed).

    Returns
    -------
    bool
        Whether it is msclap's ``CLAP`` with an HTSAT audio encoder (not the
        captioning model ``clapcap``, whose keys start with ``clap.``).

    Example
    -------
    >>> is_msclap_2023({"audio_encoder.base.htsat.patch_embed.proj.weight": 0,
    ...                 "caption_encoder.base.wte.weight": 0})
    True
    >>> is_msclap_2023({"clap.base.htsat.patch_embed.proj.weight": 0})
    False
    """
    return _is_msclap(state_dict, "2023")


def stft_kernel_error(conv_real: torch.Tensor, conv_imag: torch.Tensor) -> float:
    """Distance of torchlibrosa STFT kernels from Hann-windowed DFT kernels.

    torchlibrosa convolves with ``conv_real[k, 0, n] = cos(2 pi k n / N) w[n]``
    and ``conv_imag[k, 0, n] = -sin(2 pi k n / N) w[n]`` (``w`` the periodic
    Hann window): what ``torch.stft`` computes in our front end.

    Arguments
    ---------
    conv_real : torch.Tensor
        ``(N // 2 + 1, 1, N)`` real-part kernel.
    conv_imag : torch.Tensor
        ``(N // 2 + 1, 1, N)`` imaginary-part kernel.

    Returns
    -------
    float
        Largest absolute difference from the expected kernels.

    Example
    -------
    >>> n = torch.arange(8.0, dtype=torch.float64)
    >>> k = torch.arange(5.0, dtype=torch.float64)[:, None]
    >>> w = torch.hann_window(8, periodic=True, dtype=torch.float64)
    >>> real = (torch.cos(2 * math.pi * k * n / 8) * w)[:, None]
    >>> imag = (-torch.sin(2 * math.pi * k * n / 8) * w)[:, None]
    >>> stft_kernel_error(real.float(), imag.float()) < 1e-6
    True
    """
    if conv_real.shape != conv_imag.shape or conv_real.dim() != 3:
        raise ValueError(
            "STFT kernels must both be (n_freqs, 1, n_fft), got "
            f"{tuple(conv_real.shape)} and {tuple(conv_imag.shape)}"
        )
    n_freqs, _, n_fft = conv_real.shape
    if n_freqs != n_fft // 2 + 1:
        raise ValueError(
            f"{n_freqs} kernels do not fit n_fft={n_fft} "
            f"(expected {n_fft // 2 + 1})"
        )
    k = torch.arange(n_freqs, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]
    # reduce k * n modulo N first: exact angles for large products
    angle = 2 * math.pi * torch.remainder(k * n, n_fft) / n_fft
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    real = torch.cos(angle) * window
    imag = -torch.sin(angle) * window
    error_real = (conv_real[:, 0].double() - real).abs().max()
    error_imag = (conv_imag[:, 0].double() - imag).abs().max()
    return float(torch.maximum(error_real, error_imag))


def _mel_design(sample_rate: float, f_min: float, f_max: float) -> torch.Tensor:
    """The ``(513, 64)`` slaney matrix librosa builds for ``n_fft=1024``."""
    return mel_filterbank(
        n_freqs=513,
        f_min=f_min,
        f_max=f_max,
        n_mels=64,
        sample_rate=sample_rate,
        mel_scale="slaney",
        norm="slaney",
        dtype=torch.float64,
    )


def _describe(design: Tuple[float, float, float]) -> str:
    """``"sr=... Hz, f_min-f_max Hz"`` for messages."""
    sample_rate, f_min, f_max = design
    return f"sr={sample_rate:g} Hz, {f_min:g}-{f_max:g} Hz"


def check_msclap_front_end(
    front_end: Dict[str, Tuple[str, torch.Tensor]],
    version: str,
    report: ConversionReport,
) -> None:
    """Raises unless msclap's front end is what ours recomputes; records it as dropped.

    Arguments
    ---------
    front_end : dict
        torchlibrosa name (``stft.conv_real.weight``, ``logmel_extractor.melW``,
        ...) -> ``(checkpoint key, tensor)``.
    version : str
        ``"2022"`` or ``"2023"``: which mel design the filterbank must match.
    report : ConversionReport
        The front-end tensors are recorded as dropped (ours recomputes them).

    Example
    -------
    >>> report = ConversionReport()
    >>> check_msclap_front_end({}, "2023", report)
    >>> check_msclap_front_end({"x": ("k", torch.zeros(1))}, "2023", report)
    Traceback (most recent call last):
    ...
    ValueError: unrecognised msclap front-end keys: ['x']
    """
    unknown = sorted(set(front_end) - set(_STFT_KEYS) - {_MEL_KEY})
    if unknown:
        raise ValueError(f"unrecognised msclap front-end keys: {unknown}")
    if all(k in front_end for k in _STFT_KEYS):
        (real_key, real), (_, imag) = (front_end[k] for k in _STFT_KEYS)
        error = stft_kernel_error(real, imag)
        if error > _STFT_ATOL:
            raise ValueError(
                f"{real_key} and its imaginary part are not Hann-windowed DFT "
                f"kernels (max |diff| = {error:.3g}); our front end cannot "
                "reproduce this STFT"
            )
    for name in _STFT_KEYS:
        if name in front_end:
            report.dropped.append(
                (front_end[name][0], "STFT kernel, recomputed by torch.stft")
            )
    if _MEL_KEY not in front_end:
        return
    key, stored = front_end[_MEL_KEY]
    if tuple(stored.shape) != (513, 64):
        raise ValueError(f"{key} has shape {tuple(stored.shape)}, expected (513, 64)")
    expected = MSCLAP_MEL_DESIGNS[version]
    error = float((stored.double() - _mel_design(*expected)).abs().max())
    if error > _MEL_ATOL:
        matches = [
            _describe(design)
            for design in _OTHER_MEL_DESIGNS
            if design != expected
            and float((stored.double() - _mel_design(*design)).abs().max())
            <= _MEL_ATOL
        ]
        found = (
            f"it matches the design {matches[0]}: build the front end with "
            "that mel_sample_rate / f_min / f_max and convert again"
            if matches
            else "it matches none of the designs tried"
        )
        raise ValueError(
            f"{key} is not the mel matrix msclap {version}'s code builds "
            f"({_describe(expected)}; max |diff| = {error:.3g}); {found}. "
            "Our front end rebuilds its matrix from the configuration, so "
            "this checkpoint cannot be loaded as it is."
        )
    report.dropped.append(
        (
            key,
            f"mel matrix, equal to the front end's ({_describe(expected)}, "
            f"max |diff| {error:.1g})",
        )
    )


def _convert_heads(state_dict: Mapping[str, torch.Tensor], version: str):
    """Checks the release, maps projections, text tower and temperature.

    Returns ``(sd, new, report, unknown, text_keys)``: the state dict without
    ``module.``, the mapped tensors, their report, unknown non-audio keys and
    the text tower's keys.
    """
    sd = _strip_module(state_dict)
    if not _is_msclap(sd, version):
        raise ValueError(
            f"not an msclap {version} state dict (no "
            f"'{_MARKERS[version]}' or no caption_encoder keys)"
        )
    new: StateDict = {}
    report = ConversionReport()
    unknown: List[str] = []
    text_keys: List[str] = []
    for key, value in sd.items():
        if key.startswith(_AUDIO_PROJ):
            target = "audio_projection." + key[len(_AUDIO_PROJ) :]
        elif key.startswith(_TEXT_PROJ):
            target = "text_projection." + key[len(_TEXT_PROJ) :]
        elif key.startswith(_TEXT):
            name = key[len(_TEXT) :]
            if _LEGACY_TEXT_BUFFER.match(name):
                report.dropped.append(
                    (key, "transformers buffer, rebuilt by the text model")
                )
                continue
            target = "text_encoder.model." + name
            text_keys.append(target)
        elif key == "logit_scale":
            # msclap stores the log of the scale (it applies .exp())
            target = "log_logit_scale"
            value = value.reshape(())
        elif key.startswith(_AUDIO):
            continue  # audio encoder, handled by the caller
        else:
            unknown.append(key)
            continue
        new[target] = value
        report.renamed.append((key, target))
    return sd, new, report, unknown, text_keys


def _finish(new, report, unknown, text_keys, front_end, version) -> None:
    """Raises on unknown keys or a missing part of the model; checks the front end."""
    if unknown:
        raise ValueError(f"unrecognised msclap {version} keys: {unknown}")
    needed = {
        "log_logit_scale": "logit_scale",
        "audio_projection.linear1.weight": _AUDIO_PROJ + "linear1.weight",
        "text_projection.linear1.weight": _TEXT_PROJ + "linear1.weight",
    }
    missing = [source for target, source in needed.items() if target not in new]
    if not text_keys:
        missing.append(_TEXT + "*")
    if missing:
        raise ValueError(
            f"not a complete msclap {version} CLAP state dict: no {missing}"
        )
    check_msclap_front_end(front_end, version, report)


def msclap_2022_to_clap(
    state_dict: Mapping[str, torch.Tensor],
    keep_audioset_head: bool = False,
) -> Tuple[StateDict, ConversionReport]:
    """Maps an MS-CLAP 2022 state dict (CNN14 + BERT) onto our ``CLAP``.

    ``audio_encoder.base.*`` → ``audio_encoder.*``, ``caption_encoder.base.*``
    → ``text_encoder.model.*``, ``{audio,caption}_encoder.projection.*`` →
    ``{audio,text}_projection.*``, ``logit_scale`` → ``log_logit_scale``.
    Dropped, with a reason each: the checked front end, ``fc_audioset`` unless
    ``keep_audioset_head``, and legacy transformers buffers.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        msclap's ``CLAP`` state dict (the ``"model"`` entry of the ``.pth``).
    keep_audioset_head : bool
        Keep ``fc_audioset`` (for a ``CNN14(with_audioset_head=True)``).

    Returns
    -------
    tuple
        ``(state_dict, report)``: our ``CLAP`` keys (load with ``strict=True``);
        renamed and dropped keys.

    Example
    -------
    >>> sd = {
    ...     "logit_scale": torch.tensor(2.0),
    ...     "audio_encoder.base.conv_block1.conv1.weight": torch.zeros(4, 1, 3, 3),
    ...     "audio_encoder.base.fc_audioset.bias": torch.zeros(5),
    ...     "audio_encoder.projection.linear1.weight": torch.zeros(8, 4),
    ...     "caption_encoder.base.embeddings.position_ids": torch.zeros(1, 9),
    ...     "caption_encoder.base.pooler.dense.bias": torch.zeros(6),
    ...     "caption_encoder.projection.linear1.weight": torch.zeros(8, 6),
    ... }
    >>> new, report = msclap_2022_to_clap(sd)
    >>> sorted(new)  # doctest: +NORMALIZE_WHITESPACE
    ['audio_encoder.conv_block1.conv1.weight',
     'audio_projection.linear1.weight', 'log_logit_scale',
     'text_encoder.model.pooler.dense.bias', 'text_projection.linear1.weight']
    >>> print(report.summary())  # doctest: +NORMALIZE_WHITESPACE
    5 renamed, 0 merged, 2 dropped (transformers buffer, rebuilt by the text
    model: 1, AudioSet head not requested: 1)
    """
    sd, new, report, unknown, text_keys = _convert_heads(state_dict, "2022")
    front_end: Dict[str, Tuple[str, torch.Tensor]] = {}
    for key, value in sd.items():
        if not key.startswith(_AUDIO):
            continue
        name = key[len(_AUDIO) :]
        if name.startswith(("spectrogram_extractor.", "logmel_extractor.")):
            front_end[name] = (key, value)
        elif name.startswith("fc_audioset."):
            if keep_audioset_head:
                new["audio_encoder." + name] = value
                report.renamed.append((key, "audio_encoder." + name))
            else:
                report.dropped.append((key, "AudioSet head not requested"))
        elif _CNN14_NAME.match(name):
            new["audio_encoder." + name] = value
            report.renamed.append((key, "audio_encoder." + name))
        else:
            unknown.append(key)
    _finish(new, report, unknown, text_keys, front_end, "2022")
    return new, report


def msclap_2023_to_clap(
    state_dict: Mapping[str, torch.Tensor],
    keep_audioset_head: bool = False,
) -> Tuple[StateDict, ConversionReport]:
    """Maps an MS-CLAP 2023 state dict (HTSAT + GPT-2) onto our ``CLAP``.

    ``audio_encoder.base.htsat.*`` (LAION names) → ``audio_encoder.*`` through
    :func:`~speechbrain_tclap.convert.htsat_keys.laion_audio_branch_to_htsat`;
    ``caption_encoder.base.*`` (``GPT2Model``, Conv1D weights as they are) →
    ``text_encoder.model.*``; the rest as :func:`msclap_2022_to_clap`.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        msclap's ``CLAP`` state dict (the ``"model"`` entry of the ``.pth``).
    keep_audioset_head : bool
        Keep ``tscam_conv`` and ``head`` (``HTSAT(with_audioset_head=True)``).

    Returns
    -------
    tuple
        ``(state_dict, report)``: our ``CLAP`` keys (load with ``strict=True``);
        renamed and dropped keys.

    Example
    -------
    >>> sd = {
    ...     "logit_scale": torch.tensor(2.0),
    ...     "audio_encoder.base.htsat.patch_embed.proj.weight": torch.zeros(8, 1, 4, 4),
    ...     "audio_encoder.base.htsat.layers.0.blocks.1.attn_mask": torch.zeros(4, 4, 4),
    ...     "audio_encoder.base.htsat.head.bias": torch.zeros(5),
    ...     "audio_encoder.projection.linear1.weight": torch.zeros(8, 4),
    ...     "caption_encoder.base.h.0.attn.bias": torch.ones(1, 1, 4, 4),
    ...     "caption_encoder.base.h.0.attn.c_attn.bias": torch.zeros(18),
    ...     "caption_encoder.projection.linear1.weight": torch.zeros(8, 6),
    ... }
    >>> new, report = msclap_2023_to_clap(sd)
    >>> sorted(new)  # doctest: +NORMALIZE_WHITESPACE
    ['audio_encoder.patch_embed.proj.weight', 'audio_projection.linear1.weight',
     'log_logit_scale', 'text_encoder.model.h.0.attn.c_attn.bias',
     'text_projection.linear1.weight']
    >>> len(report.dropped)
    3
    """
    sd, new, report, unknown, text_keys = _convert_heads(state_dict, "2023")
    front_end: Dict[str, Tuple[str, torch.Tensor]] = {}
    htsat: StateDict = {}
    for key, value in sd.items():
        if not key.startswith(_AUDIO):
            continue
        if not key.startswith(_HTSAT):
            unknown.append(key)
            continue
        name = key[len(_HTSAT) :]
        if name.startswith(("spectrogram_extractor.", "logmel_extractor.")):
            front_end[name] = (key, value)
        else:
            htsat[name] = value
    _finish(new, report, unknown, text_keys, front_end, "2023")
    audio = laion_audio_branch_to_htsat(htsat, keep_audioset_head=keep_audioset_head)
    merge_encoder(new, report, audio, source=_HTSAT.__add__)
    return new, report


def msclap_tokenizer(version: str, folder: Optional[Union[str, os.PathLike]] = None):
    """The tokenizer of an MS-CLAP release, read from a local folder.

    As msclap's ``preprocess_text`` (:data:`MSCLAP_TEXT_SETTINGS`): 2022
    BERT-base-uncased padded to 100 tokens; 2023 GPT-2 with ``" <|endoftext|>"``
    appended, pad ``"!"`` (id 0), 77 tokens. Longer texts fail in msclap and
    are truncated here, keeping the end-of-text token.

    Arguments
    ---------
    version : str
        ``"2022"`` or ``"2023"``.
    folder : str or os.PathLike, optional
        Local folder with the tokenizer files; ``None`` gives a ``MissingTokenizer``.

    Returns
    -------
    HFTokenizer or MissingTokenizer
        The tokenizer.

    Example
    -------
    >>> msclap_tokenizer("2022")
    MissingTokenizer('MS-CLAP 2022 needs the bert-base-uncased'...)
    >>> MSCLAP_TEXT_SETTINGS["2023"]["suffix"]
    ' <|endoftext|>'
    """
    if version not in MSCLAP_TEXT_SETTINGS:
        raise ValueError(
            f"version must be one of {sorted(MSCLAP_TEXT_SETTINGS)}, got "
            f"{version!r}"
        )
    name = _TEXT_MODELS[version]
    return tokenizer_from_folder(
        folder,
        f"MS-CLAP {version} needs the {name} tokenizer files: set "
        "`tokenizer_folder` to a local folder holding them (for example "
        f"`hf download {name} --local-dir <folder>`); "
        "nothing is downloaded here.",
        **MSCLAP_TEXT_SETTINGS[version],
    )


register_format("msclap_2022", is_msclap_2022, msclap_2022_to_clap)
register_format("msclap_2023", is_msclap_2023, msclap_2023_to_clap)
