"""MGA-CLAP (Ming-er/MGA-CLAP) ``model.pt`` → our ``CLAP`` keys.

The checkpoint is ``{"model": state_dict, ...}`` (the registry unwraps it);
the target architecture is ``hparams/models/mgaclap.yaml``. Mapping:

* ``audio_encoder.audio_enc.*`` (WavCaps' HTS-AT, LAION names; the
  locality-aware block adds no weights) → ``audio_encoder.*`` through
  :func:`~speechbrain_tclap.convert.htsat_keys.laion_audio_branch_to_htsat`;
  its torchlibrosa front end (``audio_feats_extractor.*``) is checked as
  msclap 2023's (32 kHz, 50-14000 Hz, 64-mel slaney ``melW``) and dropped;
* ``text_encoder.text_encoder.*`` (``BertModel`` without pooler) →
  ``text_encoder.model.*``, legacy buffers dropped (Ming-er/MGA-CLAP#3);
* ``frame_proj.*`` / ``word_proj.*`` (LayerNorm, Linear, GELU, LayerNorm,
  Linear) → ``audio_projection.*`` / ``text_projection.*``;
* ``codebook`` → ``aligner.codebook``; ``temp`` (logits are divided by it)
  → ``log_logit_scale = -log(temp)``.

Importing this module registers the ``mgaclap`` format for the Pretrainer
hook :func:`speechbrain_tclap.convert.pretrainer.load_any_checkpoint`.

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import Dict, Mapping, Tuple

import torch

from speechbrain_tclap.convert.htsat_keys import (
    ConversionReport,
    laion_audio_branch_to_htsat,
    merge_encoder,
)
from speechbrain_tclap.convert.hf import TEXT_BUFFERS
from speechbrain_tclap.convert.msclap import check_msclap_front_end
from speechbrain_tclap.convert.registry import register_format
from speechbrain_tclap.lobes.tokenizers import tokenizer_from_folder

StateDict = Dict[str, torch.Tensor]

_AUDIO = "audio_encoder.audio_enc."
_TEXT = "text_encoder.text_encoder."
_FRONT_END = "audio_feats_extractor."
# MGA-CLAP's front-end names -> torchlibrosa's (as msclap stores them)
_TORCHLIBROSA_NAMES = {
    "mel_trans.stft.conv_real.weight": "spectrogram_extractor.stft.conv_real.weight",
    "mel_trans.stft.conv_imag.weight": "spectrogram_extractor.stft.conv_imag.weight",
    "log_trans.melW": "logmel_extractor.melW",
}
_HEADS = {"frame_proj.": "audio_projection.", "word_proj.": "text_projection."}
_HEAD_LAYERS = ("0", "1", "3", "4")


def is_mgaclap(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict is MGA-CLAP's ``ASE`` model.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        A loaded state dict.

    Returns
    -------
    bool
        Whether it holds a codebook, frame projections and WavCaps' HTSAT.

    Example
    -------
    >>> is_mgaclap({"codebook": 0, "frame_proj.1.weight": 0,
    ...             "audio_encoder.audio_enc.norm.weight": 0})
    True
    >>> is_mgaclap({"log_logit_scale": 0})
    False
    """
    return (
        "codebook" in state_dict
        and any(k.startswith("frame_proj.") for k in state_dict)
        and any(k.startswith(_AUDIO) for k in state_dict)
    )


def _check_front_end(
    front_end: Dict[str, Tuple[str, torch.Tensor]], report: ConversionReport
) -> None:
    """Checks the front end with msclap 2023's check (the same torchlibrosa modules
    and mel design), under its names; records it as dropped."""
    unknown = sorted(set(front_end) - set(_TORCHLIBROSA_NAMES))
    if unknown:
        raise ValueError(f"unrecognised MGA-CLAP front-end keys: {unknown}")
    renamed = {_TORCHLIBROSA_NAMES[name]: item for name, item in front_end.items()}
    try:
        check_msclap_front_end(renamed, "2023", report)
    except ValueError as err:
        raise ValueError(f"MGA-CLAP front end (same design as msclap 2023's): {err}") from err


def mgaclap_to_clap(
    state_dict: Mapping[str, torch.Tensor],
    keep_audioset_head: bool = False,
) -> Tuple[StateDict, ConversionReport]:
    """Maps MGA-CLAP's released state dict onto our ``CLAP`` (module docstring).

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        The ``"model"`` entry of ``model.pt``.
    keep_audioset_head : bool
        Keep ``tscam_conv`` and ``head`` (for ``HTSAT(with_audioset_head=True)``).

    Returns
    -------
    tuple
        ``(state_dict, report)``: our ``CLAP`` keys (load with ``strict=True``);
        renamed and dropped keys.

    Example
    -------
    >>> sd = {
    ...     "temp": torch.tensor(0.05),
    ...     "codebook": torch.zeros(6, 4),
    ...     "audio_encoder.audio_enc.norm.weight": torch.ones(4),
    ...     "audio_encoder.audio_enc.head.bias": torch.zeros(5),
    ...     "text_encoder.text_encoder.embeddings.position_ids": torch.zeros(1, 8),
    ...     "text_encoder.text_encoder.embeddings.word_embeddings.weight": torch.zeros(9, 4),
    ...     "frame_proj.1.weight": torch.zeros(4, 4),
    ...     "word_proj.1.weight": torch.zeros(4, 4),
    ... }
    >>> new, report = mgaclap_to_clap(sd)
    >>> sorted(new)  # doctest: +NORMALIZE_WHITESPACE
    ['aligner.codebook', 'audio_encoder.norm.weight', 'audio_projection.1.weight',
     'log_logit_scale', 'text_encoder.model.embeddings.word_embeddings.weight',
     'text_projection.1.weight']
    >>> round(float(new["log_logit_scale"].exp()), 2)  # 1 / temp
    20.0
    >>> print(report.summary())  # doctest: +NORMALIZE_WHITESPACE
    6 renamed, 0 merged, 2 dropped (transformers buffer, rebuilt by the text
    model: 1, AudioSet head not requested: 1)
    """
    sd = dict(state_dict)
    if not is_mgaclap(sd):
        raise ValueError(
            "not an MGA-CLAP state dict (needs 'codebook', 'frame_proj.*' and "
            f"'{_AUDIO}*' keys; first keys: {list(sd)[:5]})"
        )
    report = ConversionReport()
    new: StateDict = {}
    htsat: StateDict = {}
    front_end: Dict[str, Tuple[str, torch.Tensor]] = {}
    unknown = []
    for key, value in sd.items():
        if key.startswith(_AUDIO):
            name = key[len(_AUDIO) :]
            if name.startswith(_FRONT_END):
                front_end[name[len(_FRONT_END) :]] = (key, value)
            else:
                htsat[name] = value
            continue
        if key.startswith(_TEXT):
            name = key[len(_TEXT) :]
            if name in TEXT_BUFFERS:
                report.dropped.append((key, "transformers buffer, rebuilt by the text model"))
                continue
            target = "text_encoder.model." + name
        elif key == "codebook":
            target = "aligner.codebook"
        elif key == "temp":
            temp = float(value)
            if temp <= 0:
                raise ValueError(f"temp must be positive, got {temp}")
            # MGA-CLAP divides the logits by temp; we multiply by exp(log scale)
            target, value = "log_logit_scale", torch.tensor(-math.log(temp), dtype=value.dtype)
        else:
            head = next((h for h in _HEADS if key.startswith(h)), None)
            layer = key[len(head) :].split(".")[0] if head else None
            if layer not in _HEAD_LAYERS:
                unknown.append(key)
                continue
            target = _HEADS[head] + key[len(head) :]
        new[target] = value
        report.renamed.append((key, target))
    if unknown:
        raise ValueError(f"unrecognised MGA-CLAP keys: {unknown}")
    missing = [k for k in ("temp", "codebook") if k not in sd]
    if missing or not htsat or not any(k.startswith(_TEXT) for k in sd):
        raise ValueError(
            "not a complete MGA-CLAP state dict: missing "
            f"{missing + ([] if htsat else [_AUDIO + '*'])}"
        )
    _check_front_end(front_end, report)
    audio = laion_audio_branch_to_htsat(htsat, keep_audioset_head=keep_audioset_head)
    merge_encoder(new, report, audio, source=_AUDIO.__add__)
    return new, report


def without_pooler(encoder):
    """Removes the pooler of an ``HFTextEncoder``'s BERT, which MGA-CLAP's lacks
    (``add_pooling_layer=False``: the checkpoint holds no pooler weights).

    Arguments
    ---------
    encoder : speechbrain_tclap.lobes.text.HFTextEncoder
        An encoder whose pooling is not ``"pooler"``.

    Returns
    -------
    HFTextEncoder
        The same encoder, without ``model.pooler``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> enc = SimpleNamespace(pooling="cls", model=SimpleNamespace(pooler=1))
    >>> without_pooler(enc).model.pooler is None
    True
    """
    if encoder.pooling == "pooler":
        raise ValueError("without_pooler: the encoder pools with its pooler; use 'cls' or 'mean'")
    encoder.model.pooler = None
    return encoder


def mgaclap_tokenizer(folder=None):
    """MGA-CLAP's text tokenizer (bert-base-uncased), read from a local folder.

    As MGA-CLAP's: padded to the longest text, truncated at 30 tokens,
    ``[CLS]`` / ``[SEP]`` added (the codebook leaves them out).

    Arguments
    ---------
    folder : str, optional
        Local folder with the bert-base-uncased tokenizer files; ``None``
        gives a :class:`~speechbrain_tclap.lobes.tokenizers.MissingTokenizer`.

    Returns
    -------
    HFTokenizer or MissingTokenizer
        The tokenizer.

    Example
    -------
    >>> mgaclap_tokenizer()
    MissingTokenizer('MGA-CLAP needs the bert-base-uncased...)
    """
    return tokenizer_from_folder(
        folder,
        "MGA-CLAP needs the bert-base-uncased tokenizer files: set "
        "`tokenizer_folder` to a local folder holding them (for example "
        "`hf download bert-base-uncased --local-dir <folder>`); "
        "nothing is downloaded here.",
        max_length=30,
        padding="longest",
    )


register_format("mgaclap", is_mgaclap, mgaclap_to_clap)
