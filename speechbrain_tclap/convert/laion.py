"""LAION-CLAP checkpoints to and from our ``CLAP``.

LAION's released files (``630k-*best.pt``, ``music_*.pt``) are
``{"state_dict": {...}, ...}`` with a DDP ``module.`` prefix on every key.
:func:`laion_to_clap` maps them onto :class:`speechbrain_tclap.lobes.clap.CLAP`
with an HTSAT audio tower (plain or ``enable_fusion=True``), a RoBERTa
``HFTextEncoder`` and ``MLPProjection`` heads: ``audio_branch.*`` →
``audio_encoder.*`` (through ``laion_audio_branch_to_htsat``; fusion weights
keep their names), ``text_branch.*`` → ``text_encoder.model.*``, projections
keep their names, ``logit_scale_a`` → ``log_logit_scale``.

Dropped, with the reason in the report: the audio branch's front end,
derived buffers and AudioSet head (unless asked for), the text buffers
``transformers`` rebuilds, ``audio_transform`` / ``text_transform`` (heads of
LAION's ``mlp_loss`` option, unused by its default loss) and ``logit_scale_t``
(LAION's default loss trains ``logit_scale_a`` only).

Importing this module registers the ``"laion_clap"`` format, so the
``Pretrainer`` hook :func:`speechbrain_tclap.convert.pretrainer.load_any_checkpoint`
loads a LAION ``.pt`` file directly.

Authors
 * speechbrain-tclap developers 2026
"""

import os
import re
from typing import Dict, Mapping, Optional, Tuple, Union

import torch

from speechbrain_tclap.convert.hf import (
    FUSION_PREFIXES,
    OUR_AUDIO_PREFIX,
    OUR_TEXT_PREFIX,
    map_tower_key,
    text_logit_scale,
)
from speechbrain_tclap.convert.htsat_keys import (
    ConversionReport,
    laion_audio_branch_to_htsat,
    merge_encoder,
)
from speechbrain_tclap.convert.registry import register_format
from speechbrain_tclap.lobes.tokenizers import tokenizer_from_folder

LAION_AUDIO = "audio_branch."
LAION_TEXT = "text_branch."

_PROJECTION = re.compile(r"^(audio|text)_projection\.[02]\.(weight|bias)$")
_MLP_LOSS_HEADS = ("audio_transform.", "text_transform.")
_LOGIT_SCALE_T_REASON = (
    "text logit scale: LAION's default loss (mlp_loss off) never trains it; "
    "CLAP keeps one scale (logit_scale_a)"
)


def _strip_module(key: str) -> str:
    """Removes DistributedDataParallel's ``module.`` prefix."""
    return key[len("module.") :] if key.startswith("module.") else key


def is_laion_clap(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` is a full LAION-CLAP state dict.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        A loaded state dict (``module.`` prefix or not).

    Returns
    -------
    bool
        Whether it holds ``audio_branch.*`` keys and the text branch or
        ``logit_scale_a``.

    Example
    -------
    >>> is_laion_clap({"module.audio_branch.bn0.bias": torch.zeros(1),
    ...                "module.logit_scale_a": torch.zeros(())})
    True
    >>> is_laion_clap({"audio_model.audio_encoder.norm.bias": torch.zeros(1)})
    False
    """
    names = [_strip_module(k) for k in state_dict]
    return any(n.startswith(LAION_AUDIO) for n in names) and any(
        n.startswith(LAION_TEXT) or n == "logit_scale_a" for n in names
    )


def laion_to_clap(
    state_dict: Mapping[str, torch.Tensor],
    keep_audioset_head: bool = False,
) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Maps a LAION-CLAP state dict onto our ``CLAP`` keys.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        The ``state_dict`` of a LAION checkpoint (fused or not).
    keep_audioset_head : bool
        Keep the AudioSet head (``HTSAT(with_audioset_head=True)``).

    Returns
    -------
    tuple
        ``(state_dict, report)``: our ``CLAP`` keys (load with ``strict=True``);
        renamed and dropped keys (source keys as in the file).

    Example
    -------
    >>> sd = {
    ...     "module.audio_branch.bn0.weight": torch.ones(4),
    ...     "module.audio_branch.logmel_extractor.melW": torch.ones(5, 4),
    ...     "module.text_branch.embeddings.position_ids": torch.arange(5)[None],
    ...     "module.text_branch.pooler.dense.bias": torch.zeros(3),
    ...     "module.audio_projection.0.weight": torch.zeros(2, 4),
    ...     "module.audio_transform.sequential.0.bias": torch.zeros(2),
    ...     "module.logit_scale_a": torch.tensor(2.0),
    ...     "module.logit_scale_t": torch.tensor(2.6),
    ... }
    >>> new, report = laion_to_clap(sd)
    >>> sorted(new)  # doctest: +NORMALIZE_WHITESPACE
    ['audio_encoder.bn0.weight', 'audio_projection.0.weight',
     'log_logit_scale', 'text_encoder.model.pooler.dense.bias']
    >>> len(report.dropped)
    4
    """
    report = ConversionReport()
    new: Dict[str, torch.Tensor] = {}
    audio: Dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        name = _strip_module(key)
        if name.startswith(LAION_AUDIO):
            rest = name[len(LAION_AUDIO) :]
            fusion = rest.startswith(FUSION_PREFIXES) or "mel_conv1d" in rest
            map_tower_key(new, report, audio, key, value, rest, "audio", fusion)
        elif name.startswith(LAION_TEXT):
            rest = name[len(LAION_TEXT) :]
            map_tower_key(new, report, audio, key, value, rest, "text")
        elif _PROJECTION.match(name):
            new[name] = value
            report.renamed.append((key, name))
        elif name.startswith(_MLP_LOSS_HEADS):
            report.dropped.append(
                (key, "mlp_loss head, unused by LAION's default loss")
            )
        elif name == "logit_scale_a":
            new["log_logit_scale"] = value
            report.renamed.append((key, "log_logit_scale"))
        elif name == "logit_scale_t":
            report.dropped.append((key, _LOGIT_SCALE_T_REASON))
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"unrecognised LAION-CLAP keys: {unknown[:10]}")
    if not audio:
        raise ValueError("no 'audio_branch.' keys: not a LAION-CLAP state dict")
    merge_encoder(new, report, laion_audio_branch_to_htsat(audio, keep_audioset_head))
    return new, report


def clap_to_laion(
    state_dict: Mapping[str, torch.Tensor],
    prefix: str = "module.",
    logit_scale_t: Optional[float] = None,
) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Maps our ``CLAP`` state dict onto LAION-CLAP names (the inverse map).

    Only tensors with a LAION counterpart are produced (LAION's model also
    stores buffers it computes itself): load the result with ``strict=False``.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        State dict of a ``CLAP`` with an HTSAT, an ``HFTextEncoder`` and
        ``MLPProjection`` heads.
    prefix : str
        Prefix of every key (``"module."`` as in LAION's files).
    logit_scale_t : float, optional
        Log of LAION's text logit scale; default: our ``log_logit_scale``.

    Returns
    -------
    tuple
        ``(state_dict, report)``: LAION keys; renamed keys.

    Example
    -------
    >>> sd = {"audio_encoder.bn0.bias": torch.zeros(4),
    ...       "text_encoder.model.pooler.dense.bias": torch.zeros(3),
    ...       "log_logit_scale": torch.tensor(2.0)}
    >>> sorted(clap_to_laion(sd)[0])  # doctest: +NORMALIZE_WHITESPACE
    ['module.audio_branch.bn0.bias', 'module.logit_scale_a',
     'module.logit_scale_t', 'module.text_branch.pooler.dense.bias']
    """
    report = ConversionReport()
    new: Dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        if key.startswith(OUR_AUDIO_PREFIX):
            target = LAION_AUDIO + key[len(OUR_AUDIO_PREFIX) :]
        elif key.startswith(OUR_TEXT_PREFIX):
            target = LAION_TEXT + key[len(OUR_TEXT_PREFIX) :]
        elif _PROJECTION.match(key):
            target = key
        elif key == "log_logit_scale":
            target = "logit_scale_a"
            new[prefix + "logit_scale_t"] = text_logit_scale(value, logit_scale_t)
        else:
            unknown.append(key)
            continue
        new[prefix + target] = value
        report.renamed.append((key, prefix + target))
    if unknown:
        raise ValueError(f"keys with no LAION-CLAP counterpart: {unknown[:10]}")
    return new, report


def laion_tokenizer(
    folder: Optional[Union[str, os.PathLike]] = None,
    max_length: int = 77,
    padding: str = "max_length",
):
    """LAION-CLAP's text tokenizer: roberta-base's, read from a local folder.

    As LAION tokenizes: ``<s>`` / ``</s>`` added, padded and truncated to
    ``max_length`` (77) tokens, pad id 1.

    Arguments
    ---------
    folder : str or os.PathLike, optional
        Local folder with the roberta-base tokenizer files (e.g. HF's
        ``laion/clap-htsat-unfused``). ``None`` gives a
        :class:`~speechbrain_tclap.lobes.tokenizers.MissingTokenizer`.
    max_length : int
        Tokens per text, special tokens included.
    padding : str
        ``"max_length"`` (LAION's) or ``"longest"`` (the same embeddings, as
        pads are masked and RoBERTa's positions skip them; cheaper, what
        fine-tuning uses).

    Returns
    -------
    HFTokenizer or MissingTokenizer
        The tokenizer.

    Example
    -------
    >>> laion_tokenizer()
    MissingTokenizer('no RoBERTa tokenizer: set tokenizer_fold'...)
    """
    return tokenizer_from_folder(
        folder,
        "no RoBERTa tokenizer: set tokenizer_folder to a local folder "
        "with the roberta-base tokenizer files (vocab.json, merges.txt; "
        "e.g. `hf download laion/clap-htsat-unfused "
        "--local-dir <folder>`); nothing is downloaded here",
        pad_id=1,  # roberta-base's
        max_length=max_length,
        padding=padding,
    )


register_format("laion_clap", is_laion_clap, laion_to_clap)
