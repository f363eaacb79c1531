"""Key maps from foreign HTS-AT checkpoints to our ``HTSAT`` lobe.

Pure functions over state dicts, for HF ``ClapAudioModel`` / ``ClapModel``
(:func:`hf_audio_encoder_to_htsat`) and LAION-CLAP (:func:`laion_audio_branch_to_htsat`)
audio towers. Each returns the new state dict and a :class:`ConversionReport` of
what was renamed, merged and dropped, and why. Fusion keys are refused here (the
full-model converters carry them over themselves).

Authors
 * speechbrain-tclap developers 2026
"""

import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch

FUSION_MARKERS = ("mel_conv2d", "mel_conv1d", "fusion_model")

HF_BLOCK = re.compile(r"^(layers\.\d+\.blocks\.\d+\.)(.+)$")
_HF_QKV = re.compile(r"^attention\.self\.(query|key|value)\.(weight|bias)$")
# order matters: the attention output projection also ends in "output.dense"
HF_BLOCK_RENAMES = (
    ("attention.output.dense.", "attn.proj."),
    (
        "attention.self.relative_position_bias_table",
        "attn.relative_position_bias_table",
    ),
    ("layernorm_before.", "norm1."),
    ("layernorm_after.", "norm2."),
    ("intermediate.dense.", "mlp.fc1."),
    ("output.dense.", "mlp.fc2."),
)
HF_TOP_LEVEL = re.compile(
    r"^(patch_embed\.(proj|norm)\."
    r"|layers\.\d+\.downsample\.(reduction|norm)\."
    r"|norm\.)"
)

_LAION_FRONT_END = ("spectrogram_extractor.", "logmel_extractor.")
_LAION_HEAD = ("tscam_conv.", "head.")


@dataclass
class ConversionReport:
    """What a key map did to a state dict.

    Arguments
    ---------
    renamed : list of (str, str)
        ``(source key, new key)`` for every tensor carried over.
    merged : list of (tuple of str, str)
        ``(source keys, new key)`` for tensors concatenated into one.
    dropped : list of (str, str)
        ``(source key, reason)`` for every tensor left out.

    Example
    -------
    >>> report = ConversionReport()
    >>> report.dropped.append(("x.attn_mask", "derived buffer"))
    >>> print(report.summary())
    0 renamed, 0 merged, 1 dropped (derived buffer: 1)
    """

    renamed: List[Tuple[str, str]] = field(default_factory=list)
    merged: List[Tuple[Tuple[str, ...], str]] = field(default_factory=list)
    dropped: List[Tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line with counts, dropped keys grouped by reason.

        Returns
        -------
        str
            E.g. ``"200 renamed, 0 merged, 12 dropped (front end: 3, ...)"``.
        """
        reasons: Dict[str, int] = {}
        for _, reason in self.dropped:
            reasons[reason] = reasons.get(reason, 0) + 1
        detail = ", ".join(f"{r}: {n}" for r, n in reasons.items())
        text = (
            f"{len(self.renamed)} renamed, {len(self.merged)} merged, "
            f"{len(self.dropped)} dropped"
        )
        return f"{text} ({detail})" if detail else text


def merge_encoder(new, report, converted, prefix="audio_encoder.", source=str) -> None:
    """Put a converted encoder's tensors under ``prefix`` and merge its report.

    Arguments
    ---------
    new : dict
        The full model's state dict, extended in place.
    report : ConversionReport
        The full model's report, extended in place.
    converted : tuple
        ``(state_dict, ConversionReport)`` of the encoder.
    prefix : str
        Prefix of the encoder's keys in ``new``.
    source : callable
        Maps a source key of the encoder's report to the key in the file.

    Example
    -------
    >>> new, report = {}, ConversionReport()
    >>> sub = ConversionReport(renamed=[("x.w", "w")])
    >>> merge_encoder(new, report, ({"w": torch.ones(1)}, sub), source="m.".__add__)
    >>> list(new), report.renamed
    (['audio_encoder.w'], [('m.x.w', 'audio_encoder.w')])
    """
    encoder, sub = converted
    new.update((prefix + name, value) for name, value in encoder.items())
    report.renamed.extend((source(s), prefix + t) for s, t in sub.renamed)
    report.merged.extend((tuple(map(source, s)), prefix + t) for s, t in sub.merged)
    report.dropped.extend((source(s), reason) for s, reason in sub.dropped)


def _refuse_fusion(keys) -> None:
    """Raises if any key belongs to LAION's feature-fusion branch."""
    fusion = [k for k in keys if any(m in k for m in FUSION_MARKERS)]
    if fusion:
        raise ValueError(
            "this is a feature-fusion HTSAT checkpoint (keys such as "
            f"{fusion[:3]}); the fusion branch is not supported yet, use a "
            "non-fusion checkpoint"
        )


def hf_audio_encoder_to_htsat(
    state_dict: Mapping[str, torch.Tensor],
) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Maps an HF CLAP audio encoder state dict onto :class:`HTSAT` names.

    Keys after ``audio_encoder.`` are taken (``ClapAudioModel``, ``ClapModel``
    and ``ClapAudioModelWithProjection`` dicts all work); other keys are
    dropped and reported. ``query``/``key``/``value`` are concatenated into
    ``attn.qkv``, ``batch_norm`` becomes ``bn0``, block names become HTSAT's
    (``norm1``, ``attn.proj``, ``mlp.fc1``, ...); ``relative_position_index``
    buffers are dropped.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        HF state dict.

    Returns
    -------
    tuple
        ``(state_dict, report)``: :class:`HTSAT` names (load with
        ``strict=True``); renamed, merged and dropped keys.

    Example
    -------
    >>> block = "audio_encoder.layers.0.blocks.0."
    >>> sd = {
    ...     "audio_encoder.batch_norm.weight": torch.ones(4),
    ...     block + "attention.self.query.weight": torch.zeros(2, 2),
    ...     block + "attention.self.key.weight": torch.ones(2, 2),
    ...     block + "attention.self.value.weight": torch.ones(2, 2),
    ...     block + "attention.output.dense.bias": torch.zeros(2),
    ...     block + "output.dense.bias": torch.zeros(2),
    ...     "logit_scale_a": torch.tensor(1.0),
    ... }
    >>> new, report = hf_audio_encoder_to_htsat(sd)
    >>> sorted(new)  # doctest: +NORMALIZE_WHITESPACE
    ['bn0.weight', 'layers.0.blocks.0.attn.proj.bias',
     'layers.0.blocks.0.attn.qkv.weight', 'layers.0.blocks.0.mlp.fc2.bias']
    >>> new["layers.0.blocks.0.attn.qkv.weight"].shape
    torch.Size([6, 2])
    >>> report.dropped
    [('logit_scale_a', 'not part of the audio encoder')]
    """
    report = ConversionReport()
    encoder: Dict[str, Tuple[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        marker = key.find("audio_encoder.")
        if marker < 0:
            report.dropped.append((key, "not part of the audio encoder"))
            continue
        encoder[key[marker + len("audio_encoder.") :]] = (key, value)
    if not encoder:
        raise ValueError(
            "no 'audio_encoder.' keys found: this is not an HF CLAP audio "
            "state dict"
        )
    _refuse_fusion(encoder)

    new: Dict[str, torch.Tensor] = {}
    qkv_parts: Dict[Tuple[str, str], Dict[str, Tuple[str, torch.Tensor]]] = {}
    unknown = []
    for name, (source, value) in encoder.items():
        if name.startswith("batch_norm."):
            target = "bn0." + name[len("batch_norm.") :]
        elif name.endswith("relative_position_index"):
            report.dropped.append((source, "derived buffer, rebuilt by HTSAT"))
            continue
        elif HF_TOP_LEVEL.match(name):
            target = name
        else:
            match = HF_BLOCK.match(name)
            if match is None:
                unknown.append(source)
                continue
            block, rest = match.groups()
            qkv = _HF_QKV.match(rest)
            if qkv:
                part, kind = qkv.groups()
                qkv_parts.setdefault((block, kind), {})[part] = (source, value)
                continue
            for old, replacement in HF_BLOCK_RENAMES:
                if rest.startswith(old):
                    target = block + replacement + rest[len(old) :]
                    break
            else:
                unknown.append(source)
                continue
        new[target] = value
        report.renamed.append((source, target))
    if unknown:
        raise ValueError(f"unrecognised HF audio-encoder keys: {unknown}")

    for (block, kind), parts in sorted(qkv_parts.items()):
        missing = {"query", "key", "value"} - set(parts)
        if missing:
            raise ValueError(
                f"{block}attention.self.*.{kind}: missing {sorted(missing)}, "
                "cannot build the fused qkv"
            )
        sources, tensors = zip(*(parts[p] for p in ("query", "key", "value")))
        new[f"{block}attn.qkv.{kind}"] = torch.cat(tensors, dim=0)
        report.merged.append((sources, f"{block}attn.qkv.{kind}"))
    return new, report


def laion_audio_branch_to_htsat(
    state_dict: Mapping[str, torch.Tensor],
    keep_audioset_head: bool = False,
) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Maps a LAION-CLAP (or HTS-AT) audio state dict onto :class:`HTSAT`.

    Strips ``module.`` and ``audio_branch.`` (or HTS-AT's ``sed_model.``);
    with ``audio_branch.`` keys present, all other keys are dropped. Also
    dropped: the in-model front end, the stored ``attn_mask`` and
    ``relative_position_index`` buffers and, unless ``keep_audioset_head``,
    the AudioSet head (``tscam_conv``, ``head``). Other names are HTSAT's.

    Arguments
    ---------
    state_dict : Mapping[str, torch.Tensor]
        LAION checkpoint's ``state_dict`` (full CLAP or audio branch only).
    keep_audioset_head : bool
        Keep ``tscam_conv.*`` and ``head.*`` (``HTSAT(with_audioset_head=True)``).

    Returns
    -------
    tuple
        ``(state_dict, report)``: :class:`HTSAT` names; renamed and dropped keys.

    Example
    -------
    >>> sd = {
    ...     "module.audio_branch.bn0.weight": torch.ones(4),
    ...     "module.audio_branch.logmel_extractor.melW": torch.ones(5, 4),
    ...     "module.audio_branch.layers.0.blocks.1.attn_mask": torch.zeros(1),
    ...     "module.audio_branch.tscam_conv.bias": torch.zeros(3),
    ...     "module.text_branch.pooler.dense.bias": torch.zeros(2),
    ... }
    >>> new, report = laion_audio_branch_to_htsat(sd)
    >>> list(new)
    ['bn0.weight']
    >>> print(report.summary())  # doctest: +NORMALIZE_WHITESPACE
    1 renamed, 0 merged, 4 dropped (not part of the audio branch: 1,
    in-model front end: 1, derived buffer: 1, AudioSet head not requested: 1)
    """
    report = ConversionReport()
    stripped: List[Tuple[str, str, torch.Tensor]] = []
    has_branch = any("audio_branch." in k for k in state_dict)
    for key, value in state_dict.items():
        name = key
        if name.startswith("module."):
            name = name[len("module.") :]
        if has_branch:
            if not name.startswith("audio_branch."):
                report.dropped.append((key, "not part of the audio branch"))
                continue
            name = name[len("audio_branch.") :]
        elif name.startswith("sed_model."):
            name = name[len("sed_model.") :]
        stripped.append((key, name, value))
    if not stripped:
        raise ValueError("no audio-branch keys found in the state dict")
    _refuse_fusion(name for _, name, _ in stripped)

    new: Dict[str, torch.Tensor] = {}
    for source, name, value in stripped:
        reason: Optional[str] = None
        if name.startswith(_LAION_FRONT_END):
            reason = "in-model front end"
        elif name.endswith(("attn_mask", "relative_position_index")):
            reason = "derived buffer"
        elif name.startswith(_LAION_HEAD) and not keep_audioset_head:
            reason = "AudioSet head not requested"
        if reason is not None:
            report.dropped.append((source, reason))
            continue
        new[name] = value
        report.renamed.append((source, name))
    return new, report
