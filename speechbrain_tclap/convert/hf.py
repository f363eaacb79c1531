"""Hugging Face ``ClapModel`` checkpoints to and from our ``CLAP``.

Pure functions over state dicts (nothing is built or downloaded).
:func:`hf_to_clap` maps a ``transformers`` ``ClapModel`` state dict (the files
of ``laion/clap-htsat-*``) onto :class:`speechbrain_tclap.lobes.clap.CLAP` with
an HTSAT audio tower, a RoBERTa ``HFTextEncoder`` and ``MLPProjection`` heads;
:func:`clap_to_hf` is its inverse. The audio encoder goes through
:func:`~speechbrain_tclap.convert.htsat_keys.hf_audio_encoder_to_htsat`; the
fusion branch already has LAION's names and is carried over. ``text_model.*``
↔ ``text_encoder.model.*`` (``position_ids`` / ``token_type_ids`` buffers
dropped), ``linear1/2`` ↔ ``0/2`` in the projections, ``logit_scale_a`` ↔
``log_logit_scale``; ``logit_scale_t`` is dropped (HF applies it to
``logits_per_text`` only and LAION's default loss never trains it).

Importing this module registers the ``"hf_clap"`` format.

Authors
 * speechbrain-tclap developers 2026
"""

import math
import os
import re
from typing import Dict, Mapping, Optional, Tuple

import torch

from speechbrain_tclap.convert.htsat_keys import (
    HF_BLOCK,
    HF_BLOCK_RENAMES,
    HF_TOP_LEVEL,
    ConversionReport,
    hf_audio_encoder_to_htsat,
    merge_encoder,
)
from speechbrain_tclap.convert.registry import register_format
from speechbrain_tclap.lobes.htsat import relative_position_index

HF_AUDIO_PREFIX = "audio_model.audio_encoder."
HF_TEXT_PREFIX = "text_model."
OUR_AUDIO_PREFIX = "audio_encoder."
OUR_TEXT_PREFIX = "text_encoder.model."

# LAION aff_2d names, shared by HF; no other fusion variant was released
FUSION_PREFIXES = ("patch_embed.mel_conv2d.", "patch_embed.fusion_model.")
_AFF_2D = re.compile(
    r"^patch_embed\.(mel_conv2d\.(weight|bias)"
    r"|fusion_model\.(local_att\.[0134]|global_att\.[1245])\."
    r"(weight|bias|running_mean|running_var|num_batches_tracked))$"
)
TEXT_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
_HF_PROJECTION = re.compile(r"^(audio|text)_projection\.linear([12])\.(weight|bias)$")
_OUR_PROJECTION = re.compile(r"^(audio|text)_projection\.([02])\.(weight|bias)$")
_LOGIT_SCALE_T_REASON = (
    "text logit scale: HF uses it for logits_per_text only and LAION's "
    "default loss never trains it; CLAP keeps one scale (logit_scale_a)"
)
# our Swin-block names -> HF's (no new name is a prefix of another: order is free)
_TO_HF_BLOCK = tuple((ours, theirs) for theirs, ours in HF_BLOCK_RENAMES)


def text_logit_scale(
    value: torch.Tensor, logit_scale_t: Optional[float]
) -> torch.Tensor:
    """The text logit scale to export (LAION / HF ``logit_scale_t``).

    Arguments
    ---------
    value : torch.Tensor
        Our one ``log_logit_scale``.
    logit_scale_t : float, optional
        A value to export instead (e.g. the original file's).

    Returns
    -------
    torch.Tensor
        ``logit_scale_t`` if given, else a copy of ``value``.

    Example
    -------
    >>> scale = torch.tensor(2.0)
    >>> text_logit_scale(scale, None), text_logit_scale(scale, 3)
    (tensor(2.), tensor(3.))
    """
    if logit_scale_t is None:
        return value.clone()
    return torch.tensor(float(logit_scale_t), dtype=value.dtype)


def check_fusion_key(name: str, source: str) -> None:
    """Raises unless ``name`` belongs to the ``aff_2d`` fusion branch.

    Arguments
    ---------
    name : str
        Key relative to the audio encoder (``patch_embed.fusion_model...``).
    source : str
        The original key, for the error message.

    Example
    -------
    >>> check_fusion_key("patch_embed.fusion_model.local_att.0.weight", "k")
    >>> check_fusion_key("patch_embed.fusion_model.local_att2.0.weight", "k")
    Traceback (most recent call last):
    ...
    ValueError: k: not a key of LAION's 'aff_2d' fusion block; only aff_2d fusion checkpoints (the released ones) are supported
    """
    if not _AFF_2D.match(name):
        raise ValueError(
            f"{source}: not a key of LAION's 'aff_2d' fusion block; only "
            "aff_2d fusion checkpoints (the released ones) are supported"
        )


def map_tower_key(new, report, audio, key, value, name, tower, fusion=False) -> None:
    """Files one tensor of a full LAION / HF model under our names.

    Fusion-branch and text tensors go to ``new`` under our names, text buffers
    are dropped, other audio tensors go to ``audio`` for the HTSAT key map.

    Arguments
    ---------
    new, audio : dict
        Our converted tensors; the audio-encoder tensors still to map.
    report : ConversionReport
        Records what happened to ``key``.
    key : str
        The source key; ``name`` is the key without its tower prefix.
    value : torch.Tensor
        The tensor.
    name : str
        ``key`` without its tower prefix.
    tower : str
        ``"audio"`` or ``"text"``.
    fusion : bool
        Whether ``name`` is a fusion-branch tensor (kept as it is, checked).

    Example
    -------
    >>> new, audio, report = {}, {}, ConversionReport()
    >>> map_tower_key(new, report, audio, "text_model.pooler.dense.bias",
    ...               torch.zeros(2), "pooler.dense.bias", "text")
    >>> list(new), report.summary()
    (['text_encoder.model.pooler.dense.bias'], '1 renamed, 0 merged, 0 dropped')
    """
    if tower == "audio" and not fusion:
        audio[key] = value
        return
    if tower == "text" and name in TEXT_BUFFERS:
        report.dropped.append((key, "derived buffer, rebuilt by the text model"))
        return
    if fusion:
        check_fusion_key(name, key)
    target = (OUR_AUDIO_PREFIX if tower == "audio" else OUR_TEXT_PREFIX) + name
    new[target] = value
    report.renamed.append((key, target))


def is_hf_clap(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` is an HF ``ClapModel`` state dict.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        A loaded state dict.

    Returns
    -------
    bool
        Whether it holds ``audio_model.audio_encoder.*`` and ``text_model.*`` keys.

    Example
    -------
    >>> is_hf_clap({"audio_model.audio_encoder.norm.bias": torch.zeros(1),
    ...             "text_model.pooler.dense.bias": torch.zeros(1)})
    True
    >>> is_hf_clap({"module.audio_branch.norm.bias": torch.zeros(1)})
    False
    """
    keys = list(state_dict)
    return any(k.startswith(HF_AUDIO_PREFIX) for k in keys) and any(
        k.startswith(HF_TEXT_PREFIX) for k in keys
    )


def hf_to_clap(
    state_dict: Mapping[str, torch.Tensor],
) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Maps an HF ``ClapModel`` state dict onto our ``CLAP`` keys.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        HF ``ClapModel`` state dict (fused or not).

    Returns
    -------
    tuple
        ``(state_dict, report)``: our ``CLAP`` keys (load with ``strict=True``);
        renamed, merged (q/k/v → qkv) and dropped keys.

    Example
    -------
    >>> sd = {
    ...     "audio_model.audio_encoder.batch_norm.weight": torch.ones(4),
    ...     "text_model.pooler.dense.bias": torch.zeros(3),
    ...     "text_model.embeddings.position_ids": torch.arange(5)[None],
    ...     "audio_projection.linear1.weight": torch.zeros(2, 4),
    ...     "logit_scale_a": torch.tensor(2.0),
    ...     "logit_scale_t": torch.tensor(2.6),
    ... }
    >>> new, report = hf_to_clap(sd)
    >>> sorted(new)  # doctest: +NORMALIZE_WHITESPACE
    ['audio_encoder.bn0.weight', 'audio_projection.0.weight',
     'log_logit_scale', 'text_encoder.model.pooler.dense.bias']
    >>> [key for key, _ in report.dropped]
    ['text_model.embeddings.position_ids', 'logit_scale_t']
    """
    report = ConversionReport()
    new: Dict[str, torch.Tensor] = {}
    audio: Dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        if key.startswith(HF_AUDIO_PREFIX):
            name = key[len(HF_AUDIO_PREFIX) :]
            fusion = name.startswith(FUSION_PREFIXES)
            map_tower_key(new, report, audio, key, value, name, "audio", fusion)
        elif key.startswith(HF_TEXT_PREFIX):
            name = key[len(HF_TEXT_PREFIX) :]
            map_tower_key(new, report, audio, key, value, name, "text")
        elif _HF_PROJECTION.match(key):
            side, layer, kind = _HF_PROJECTION.match(key).groups()
            target = f"{side}_projection.{0 if layer == '1' else 2}.{kind}"
            new[target] = value
            report.renamed.append((key, target))
        elif key == "logit_scale_a":
            new["log_logit_scale"] = value
            report.renamed.append((key, "log_logit_scale"))
        elif key == "logit_scale_t":
            report.dropped.append((key, _LOGIT_SCALE_T_REASON))
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"unrecognised HF ClapModel keys: {unknown[:10]}")
    if audio:
        merge_encoder(new, report, hf_audio_encoder_to_htsat(audio), OUR_AUDIO_PREFIX)
    return new, report


def htsat_to_hf_audio(
    state_dict: Mapping[str, torch.Tensor], prefix: str = HF_AUDIO_PREFIX
) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Maps :class:`~speechbrain_tclap.lobes.htsat.HTSAT` keys onto HF's.

    The inverse of
    :func:`~speechbrain_tclap.convert.htsat_keys.hf_audio_encoder_to_htsat`;
    HF's ``relative_position_index`` buffers are rebuilt from the size of each
    bias table, and the AudioSet head (no HF counterpart) is dropped.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        HTSAT state dict.
    prefix : str
        Prefix of the HF keys (``"audio_model.audio_encoder."`` for a
        ``ClapModel``, ``"audio_encoder."`` for a ``ClapAudioModel``).

    Returns
    -------
    tuple
        ``(state_dict, report)``: HF keys; renamed, split (under ``merged``
        as target keys → source) and dropped keys.

    Example
    -------
    >>> block = "layers.0.blocks.0."
    >>> sd = {block + "attn.qkv.weight": torch.randn(6, 2),
    ...       block + "attn.relative_position_bias_table": torch.zeros(9, 1),
    ...       "bn0.weight": torch.ones(4)}
    >>> new, _ = htsat_to_hf_audio(sd, prefix="")
    >>> sorted(new)  # doctest: +NORMALIZE_WHITESPACE
    ['batch_norm.weight',
     'layers.0.blocks.0.attention.self.key.weight',
     'layers.0.blocks.0.attention.self.query.weight',
     'layers.0.blocks.0.attention.self.relative_position_bias_table',
     'layers.0.blocks.0.attention.self.relative_position_index',
     'layers.0.blocks.0.attention.self.value.weight']
    """
    report = ConversionReport()
    new: Dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        if key.startswith("bn0."):
            target = "batch_norm." + key[len("bn0.") :]
        elif key.startswith(("tscam_conv.", "head.")):
            report.dropped.append((key, "AudioSet head, not part of HF's model"))
            continue
        elif key.startswith(FUSION_PREFIXES) or HF_TOP_LEVEL.match(key):
            target = key
        else:
            match = HF_BLOCK.match(key)
            if match is None:
                unknown.append(key)
                continue
            block, rest = match.groups()
            if rest in ("attn.qkv.weight", "attn.qkv.bias"):
                kind = rest.rsplit(".", 1)[1]
                parts = value.chunk(3, dim=0)
                targets = []
                for part, tensor in zip(("query", "key", "value"), parts):
                    target = f"{prefix}{block}attention.self.{part}.{kind}"
                    new[target] = tensor.clone()
                    targets.append(target)
                report.merged.append((tuple(targets), key))
                continue
            for old, replacement in _TO_HF_BLOCK:
                if rest.startswith(old):
                    target = block + replacement + rest[len(old) :]
                    break
            else:
                unknown.append(key)
                continue
            if rest == "attn.relative_position_bias_table":
                side = (math.isqrt(value.shape[0]) + 1) // 2
                index_key = f"{prefix}{block}attention.self.relative_position_index"
                new[index_key] = relative_position_index(side)
        new[prefix + target] = value
        report.renamed.append((key, prefix + target))
    if unknown:
        raise ValueError(f"keys with no HF ClapAudioModel counterpart: {unknown[:10]}")
    return new, report


def clap_to_hf(
    state_dict: Mapping[str, torch.Tensor],
    logit_scale_t: Optional[float] = None,
) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Maps our ``CLAP`` state dict onto an HF ``ClapModel``'s keys.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        State dict of a ``CLAP`` with an HTSAT audio tower, an
        ``HFTextEncoder`` text tower and ``MLPProjection`` heads.
    logit_scale_t : float, optional
        Log of HF's text logit scale. Default: our ``log_logit_scale`` (HF's
        ``logits_per_text`` is then the transpose of ``logits_per_audio``).

    Returns
    -------
    tuple
        ``(state_dict, report)``: HF ``ClapModel`` keys, buffers included
        (loads with ``strict=True``); renamed, split and dropped keys.

    Example
    -------
    >>> sd = {"text_encoder.model.embeddings.position_embeddings.weight":
    ...           torch.zeros(6, 2),
    ...       "text_projection.2.bias": torch.zeros(3),
    ...       "log_logit_scale": torch.tensor(2.0)}
    >>> new, _ = clap_to_hf(sd)
    >>> sorted(new)  # doctest: +NORMALIZE_WHITESPACE
    ['logit_scale_a', 'logit_scale_t',
     'text_model.embeddings.position_embeddings.weight',
     'text_model.embeddings.position_ids',
     'text_model.embeddings.token_type_ids', 'text_projection.linear2.bias']
    """
    report = ConversionReport()
    new: Dict[str, torch.Tensor] = {}
    audio: Dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        if key.startswith(OUR_AUDIO_PREFIX):
            audio[key[len(OUR_AUDIO_PREFIX) :]] = value
        elif key.startswith(OUR_TEXT_PREFIX):
            target = HF_TEXT_PREFIX + key[len(OUR_TEXT_PREFIX) :]
            new[target] = value
            report.renamed.append((key, target))
        elif _OUR_PROJECTION.match(key):
            side, layer, kind = _OUR_PROJECTION.match(key).groups()
            target = f"{side}_projection.linear{1 if layer == '0' else 2}.{kind}"
            new[target] = value
            report.renamed.append((key, target))
        elif key == "log_logit_scale":
            new["logit_scale_a"] = value
            report.renamed.append((key, "logit_scale_a"))
            new["logit_scale_t"] = text_logit_scale(value, logit_scale_t)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f"keys with no HF ClapModel counterpart (e.g. an audio pooling or "
            f"another projection type): {unknown[:10]}"
        )
    positions = new.get(HF_TEXT_PREFIX + "embeddings.position_embeddings.weight")
    if positions is not None:
        ids = torch.arange(positions.shape[0])[None]
        new[HF_TEXT_PREFIX + "embeddings.position_ids"] = ids
        new[HF_TEXT_PREFIX + "embeddings.token_type_ids"] = torch.zeros_like(ids)
    if audio:
        encoder, sub = htsat_to_hf_audio(audio, HF_AUDIO_PREFIX)
        new.update(encoder)
        report.renamed.extend((OUR_AUDIO_PREFIX + s, t) for s, t in sub.renamed)
        report.merged.extend(
            (targets, OUR_AUDIO_PREFIX + s) for targets, s in sub.merged
        )
        report.dropped.extend((OUR_AUDIO_PREFIX + s, r) for s, r in sub.dropped)
    return new, report


register_format("hf_clap", is_hf_clap, hf_to_clap)
