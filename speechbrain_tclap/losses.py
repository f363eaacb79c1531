"""Contrastive losses for CLAP training: one core, several named losses.

Every loss is a view of :func:`contrastive_loss`: scaled cosine similarities
of ``Na`` audio and ``Nt`` text items, a boolean positive matrix, optional
log-weights on the negatives, and a cross-entropy in one or both directions.
Plain CLAP has positives on the diagonal; T-CLAP adds text-only negatives
(order-swapped captions); TeminAL stacks ``K * B`` views with log-weights on
the off-diagonal blocks.

Positives are *keys*: an audio and a text item are a positive pair exactly
when their keys (hashes of the captions) are equal, so two clips with the same
caption are not pushed apart. Every loss built on :func:`contrastive_loss`
supports YAML ``local_loss`` under DDP (:class:`LocalRows`).

Authors
 * speechbrain-tclap developers 2026
"""

import functools
import math
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from speechbrain_tclap.data.batching import ViewRole, view_names
from speechbrain_tclap.data.captions import check_prompt_template
from speechbrain_tclap.events import normalize_frame_scores
from speechbrain_tclap.utils.distributed import LocalRows


def positive_mask_from_keys(
    audio_keys: torch.Tensor, text_keys: torch.Tensor
) -> torch.Tensor:
    """Return the ``(Na, Nt)`` boolean matrix of pairs whose keys are equal.

    Arguments
    ---------
    audio_keys : torch.Tensor
        Integer key per audio item, shape ``(Na,)``.
    text_keys : torch.Tensor
        Integer key per text item, shape ``(Nt,)``.

    Returns
    -------
    torch.Tensor
        Boolean ``(Na, Nt)``.

    Example
    -------
    >>> positive_mask_from_keys(torch.tensor([0, 1]), torch.tensor([1, 0, 2]))
    tensor([[False,  True, False],
            [ True, False, False]])
    """
    return audio_keys.unsqueeze(1) == text_keys.unsqueeze(0)


def _row_losses(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row against its positives (uniform soft target)."""
    log_probs = F.log_softmax(logits, dim=1)
    targets = positives.to(log_probs.dtype) / positives.sum(dim=1, keepdim=True)
    # Removed negatives (log-weight -inf) must give 0, not 0 * -inf = NaN.
    return -(targets * log_probs.masked_fill(~positives, 0.0)).sum(dim=1)


def _directional_loss(
    logits: torch.Tensor,
    positives: torch.Tensor,
    row_weights: Optional[torch.Tensor],
    rows: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Mean (or ``row_weights``-weighted mean) cross-entropy of the rows that
    have a positive; with a ``rows`` mask, ``logits`` holds only those rows and
    the result is their share of the mean over every row with a positive."""
    has_positive = positives.any(dim=1)
    if not bool(has_positive.any()):
        raise ValueError(
            "contrastive loss: no row has a positive; check the keys "
            "of the audio and text items"
        )
    if rows is None:
        per_row = _row_losses(logits[has_positive], positives[has_positive])
        if row_weights is None:
            return per_row.mean()
        weights = row_weights[has_positive].to(per_row.dtype)
        return (weights * per_row).sum() / weights.sum()
    own = has_positive[rows]
    per_row = _row_losses(logits[own], positives[rows][own])
    if row_weights is None:
        return per_row.sum() / has_positive.sum()
    weights = row_weights.to(per_row.dtype)
    return (weights[rows][own] * per_row).sum() / weights[has_positive].sum()


def contrastive_loss(
    audio_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: torch.Tensor,
    positive_mask: Optional[torch.Tensor] = None,
    log_weights: Optional[torch.Tensor] = None,
    audio_weights: Optional[torch.Tensor] = None,
    text_weights: Optional[torch.Tensor] = None,
    audio_to_text: bool = True,
    text_to_audio: bool = True,
    row_log_weights: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    local: Optional[LocalRows] = None,
) -> torch.Tensor:
    """The one contrastive core every named loss is built on.

    ``logits = logit_scale * audio_emb @ text_emb.T (+ log_weights on
    negatives)``, a cross-entropy over audio rows and/or text columns, the mean
    of the enabled directions. Rows with several positives use a uniform target
    (as MGA-CLAP and WavCaps); rows with none are only negatives of the other
    direction.

    Arguments
    ---------
    audio_emb : torch.Tensor
        ``(Na, D)`` audio embeddings (normalised for cosine similarity).
    text_emb : torch.Tensor
        ``(Nt, D)`` text embeddings.
    logit_scale : torch.Tensor
        Scalar multiplier (the exponentiated learnable temperature).
    positive_mask : torch.Tensor, optional
        Boolean ``(Na, Nt)``; default: the identity (requires ``Na == Nt``).
    log_weights : torch.Tensor, optional
        ``(Na, Nt)`` added to the logits of negatives only (``log(w + 1e-8)``
        multiplies a negative's ``exp`` term by ``w``; TeminAL's alphas).
    audio_weights : torch.Tensor, optional
        ``(Na,)`` weights of the audio→text rows (TeminAL's beta).
    text_weights : torch.Tensor, optional
        ``(Nt,)`` weights of the text→audio rows.
    audio_to_text : bool
        Include the audio→text direction.
    text_to_audio : bool
        Include the text→audio direction.
    row_log_weights : callable, optional
        ``logits -> log-weights`` of the same shape, called on each direction's
        ``(rows, columns)`` logits and added to the negatives (MGA-CLAP's
        hard-negative weights); must treat rows independently.
    local : LocalRows, optional
        Compute only this rank's rows (``local_loss``): the result is
        ``world_size`` times this rank's share of the loss.

    Returns
    -------
    torch.Tensor
        Scalar loss.

    Example
    -------
    >>> a = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> t = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> loss = contrastive_loss(a, t, torch.tensor(10.0))
    >>> loss.shape
    torch.Size([])
    >>> halves = [LocalRows(torch.arange(4) // 2 == r, torch.arange(4) // 2 == r, 2)
    ...           for r in range(2)]
    >>> shares = [contrastive_loss(a, t, torch.tensor(10.0), local=h) for h in halves]
    >>> bool(torch.isclose(sum(shares) / 2, loss))
    True
    """
    if audio_emb.dim() != 2 or text_emb.dim() != 2:
        raise ValueError(
            "contrastive loss expects 2-D embeddings, got "
            f"{tuple(audio_emb.shape)} and {tuple(text_emb.shape)}"
        )
    if not (audio_to_text or text_to_audio):
        raise ValueError("contrastive loss: enable at least one direction")
    num_audio, num_text = audio_emb.shape[0], text_emb.shape[0]
    if positive_mask is None:
        if num_audio != num_text:
            raise ValueError(
                "contrastive loss: positive_mask is required when the "
                f"numbers of audio ({num_audio}) and text ({num_text}) differ"
            )
        positive_mask = torch.eye(
            num_audio, dtype=torch.bool, device=audio_emb.device
        )
    if local is not None and (
        tuple(local.audio.shape) != (num_audio,) or tuple(local.text.shape) != (num_text,)
    ):
        raise ValueError(
            f"contrastive loss: local rows of {tuple(local.audio.shape)} audio and "
            f"{tuple(local.text.shape)} text items for {num_audio} and {num_text} "
            "embeddings; select them with the items (LocalRows.select)"
        )
    # fp32 even under autocast: half precision loses the ranking of large logits.
    audio, text, scale = audio_emb.float(), text_emb.float(), logit_scale.float()
    if local is None:
        with torch.autocast(audio_emb.device.type, enabled=False):
            logits = scale * (audio @ text.T)
        if log_weights is not None:
            logits = logits + log_weights.float().masked_fill(positive_mask, 0.0)
    terms = []
    for a2t in (True, False):
        if not (audio_to_text if a2t else text_to_audio):
            continue
        positives = positive_mask if a2t else positive_mask.T
        rows = None
        if local is None:
            block = logits if a2t else logits.T
        else:  # only this rank's rows, against every column
            rows = local.audio if a2t else local.text
            anchors, others = (audio, text) if a2t else (text, audio)
            with torch.autocast(audio_emb.device.type, enabled=False):
                block = scale * (anchors[rows] @ others.T)
            if log_weights is not None:
                own_log_weights = (log_weights if a2t else log_weights.T)[rows]
                block = block + own_log_weights.float().masked_fill(positives[rows], 0.0)
        if row_log_weights is not None:
            own = positives if rows is None else positives[rows]
            block = block + row_log_weights(block).masked_fill(own, 0.0)
        weights = audio_weights if a2t else text_weights
        terms.append(_directional_loss(block, positives, weights, rows))
    loss = torch.stack(terms).mean()
    return loss if local is None else local.world_size * loss


def block_log_weights(
    num_views: int,
    batch_size: int,
    alpha_same: float = 1.0,
    alpha_cross: float = 1.0,
    eps: float = 1e-8,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """Log-weights for ``num_views`` stacked views of ``batch_size`` samples.

    Item ``v * B + i`` is view ``v`` of sample ``i``. Off-diagonal view blocks
    get ``log(alpha_same + eps)`` for the same sample and ``log(alpha_cross +
    eps)`` for others; diagonal blocks get 0. Alphas of 1 give plain InfoNCE;
    an alpha of 0 removes those negatives (up to ``eps``), as in TeminAL.

    Arguments
    ---------
    num_views : int
        Number of stacked views K.
    batch_size : int
        Samples per view B.
    alpha_same : float
        Weight of a sample's other views.
    alpha_cross : float
        Weight of other samples' other views.
    eps : float
        Added before the log so that a weight of 0 stays finite.
    device : torch.device, optional
        Where to create the matrix.

    Returns
    -------
    torch.Tensor
        ``(K*B, K*B)`` float matrix.

    Example
    -------
    >>> w = block_log_weights(2, 2, alpha_same=0.5, alpha_cross=1.0)
    >>> w.shape
    torch.Size([4, 4])
    >>> round(float(w[0, 2].exp()), 3), float(w[0, 3])
    (0.5, 0.0)
    """
    size = num_views * batch_size
    idx = torch.arange(size, device=device)
    view = idx // batch_size
    sample = idx % batch_size
    other_view = view.unsqueeze(1) != view.unsqueeze(0)
    same_sample = sample.unsqueeze(1) == sample.unsqueeze(0)
    weights = torch.ones(size, size, device=device)
    weights[other_view & same_sample] = alpha_same
    weights[other_view & ~same_sample] = alpha_cross
    return torch.log(weights + eps).masked_fill(~other_view, 0.0)


@dataclass
class ContrastiveInputs:
    """What a contrastive loss needs from one batch (every named loss reads it).

    Arguments
    ---------
    audio_emb : torch.Tensor
        ``(Na, D)`` audio embeddings.
    text_emb : torch.Tensor
        ``(Nt, D)`` text embeddings.
    logit_scale : torch.Tensor
        Scalar.
    audio_keys : torch.Tensor
        ``(Na,)`` caption key of each audio item.
    text_keys : torch.Tensor
        ``(Nt,)`` caption key of each text item.
    text_is_negative : torch.Tensor
        ``(Nt,)`` True for texts the contrastive loss leaves out (extra
        negatives, ordered captions only ``L_t`` reads).
    audio_views : torch.Tensor, optional
        ``(Na,)`` :class:`~speechbrain_tclap.data.batching.ViewRole` code of
        each audio item.
    text_views : torch.Tensor, optional
        ``(Nt,)`` view code of each text item.
    audio_sample : torch.Tensor, optional
        ``(Na,)`` index of the sample each audio item belongs to.
    text_sample : torch.Tensor, optional
        ``(Nt,)`` index of the sample each text item belongs to.
    audio_codewords : torch.Tensor, optional
        ``(Na, K)`` codeword weights of the audio items (codebook aligner).
    text_codewords : torch.Tensor, optional
        ``(Nt, K)`` codeword weights of the text items.
    audio_order_emb : torch.Tensor, optional
        ``(Na, D)`` order embeddings of the audio items
        (``CLAP.forward(return_order=True)``).
    text_order_emb : torch.Tensor, optional
        ``(Nt, D)`` order embeddings of the text items.
    pair_frames : torch.Tensor, optional
        ``(P, T, D)`` normalised frames of each ordered event pair's audio
        (:class:`FrameOrderLoss`); this rank's rows only, never gathered.
    pair_frame_mask : torch.Tensor, optional
        Boolean ``(P, T)``: real frames.
    pair_texts : torch.Tensor, optional
        ``(P, 2, D)`` normalised prompt embeddings of each pair's first and
        second event.
    local : LocalRows, optional
        This rank's items of a gathered batch (``local_loss``); None: the
        whole loss.

    Example
    -------
    >>> x = ContrastiveInputs(torch.zeros(2, 3), torch.zeros(2, 3),
    ...     torch.tensor(1.0), torch.arange(2), torch.arange(2),
    ...     torch.zeros(2, dtype=torch.bool))
    >>> x.audio_emb.shape
    torch.Size([2, 3])
    """

    audio_emb: torch.Tensor
    text_emb: torch.Tensor
    logit_scale: torch.Tensor
    audio_keys: torch.Tensor
    text_keys: torch.Tensor
    text_is_negative: torch.Tensor
    audio_views: Optional[torch.Tensor] = None
    text_views: Optional[torch.Tensor] = None
    audio_sample: Optional[torch.Tensor] = None
    text_sample: Optional[torch.Tensor] = None
    audio_codewords: Optional[torch.Tensor] = None
    text_codewords: Optional[torch.Tensor] = None
    audio_order_emb: Optional[torch.Tensor] = None
    text_order_emb: Optional[torch.Tensor] = None
    pair_frames: Optional[torch.Tensor] = None
    pair_frame_mask: Optional[torch.Tensor] = None
    pair_texts: Optional[torch.Tensor] = None
    local: Optional[LocalRows] = None


def _local(inputs: ContrastiveInputs, audio=None, text=None) -> Optional[LocalRows]:
    """``inputs.local`` restricted to the items a loss selects (or None)."""
    return None if inputs.local is None else inputs.local.select(audio, text)


def _kept_texts(inputs: ContrastiveInputs):
    """Texts not flagged negative, and the audio's positive mask against them."""
    keep = ~inputs.text_is_negative
    return keep, positive_mask_from_keys(inputs.audio_keys, inputs.text_keys[keep])


class InfoNCELoss(torch.nn.Module):
    """Symmetric InfoNCE (LAION-CLAP / open_clip) over a batch of pairs.

    Texts flagged ``text_is_negative`` are left out; positives are pairs with
    equal caption keys.

    Arguments
    ---------
    audio_to_text : bool
        Include the audio→text term.
    text_to_audio : bool
        Include the text→audio term.

    Example
    -------
    >>> emb = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    >>> inputs = ContrastiveInputs(
    ...     audio_emb=emb, text_emb=emb, logit_scale=torch.tensor(1.0),
    ...     audio_keys=torch.arange(3), text_keys=torch.arange(3),
    ...     text_is_negative=torch.zeros(3, dtype=torch.bool),
    ... )
    >>> InfoNCELoss()(inputs).shape
    torch.Size([])
    """

    def __init__(self, audio_to_text: bool = True, text_to_audio: bool = True):
        super().__init__()
        self.audio_to_text = audio_to_text
        self.text_to_audio = text_to_audio

    def forward(self, inputs: ContrastiveInputs) -> torch.Tensor:
        """Compute the loss.

        Arguments
        ---------
        inputs : ContrastiveInputs
            Embeddings, keys and roles of one batch.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        keep, mask = _kept_texts(inputs)
        return contrastive_loss(
            inputs.audio_emb, inputs.text_emb[keep], inputs.logit_scale,
            positive_mask=mask, audio_to_text=self.audio_to_text,
            text_to_audio=self.text_to_audio, local=_local(inputs, text=keep),
        )


def reads_order_embeddings(loss: Optional[torch.nn.Module]) -> bool:
    """Whether ``loss`` or a loss inside it reads ``ContrastiveInputs``'
    order embeddings (``TemporalFocusedLoss(temporal_on="order_heads")``).

    Arguments
    ---------
    loss : torch.nn.Module, optional
        A loss, possibly wrapping others (:class:`CodewordSharingLoss`,
        :class:`LossSum`).

    Returns
    -------
    bool
        True when a submodule says so.

    Example
    -------
    >>> reads_order_embeddings(LossSum([TemporalFocusedLoss(temporal_on="order_heads")]))
    True
    >>> reads_order_embeddings(InfoNCELoss()), reads_order_embeddings(None)
    (False, False)
    """
    modules = _modules_of(loss)
    return any(getattr(m, "temporal_on", None) == "order_heads" for m in modules)


def _modules_of(loss) -> List[torch.nn.Module]:
    """Every module inside ``loss`` (none when it is not a module)."""
    return list(loss.modules()) if isinstance(loss, torch.nn.Module) else []


def ordered_caption_rows(inputs: ContrastiveInputs) -> ContrastiveInputs:
    """The batch as ``L_t`` reads it when ``L_c`` trains on order-free captions.

    With caption style ``"unordered_with_ordered"`` each sample carries its
    ordered caption aside (view ``"ordered"``, flagged negative for ``L_c``);
    ``L_t`` reads only the ordered captions (positives of their main audio) and
    the swapped ones (negatives). A batch without ordered captions is returned
    as it is.

    Arguments
    ---------
    inputs : ContrastiveInputs
        One batch.

    Returns
    -------
    ContrastiveInputs
        The batch restricted to ordered and swapped captions, with each main
        audio keyed by its ordered caption.

    Example
    -------
    >>> from speechbrain_tclap.data.batching import view_codes
    >>> emb = torch.eye(3)
    >>> inputs = ContrastiveInputs(
    ...     audio_emb=emb[:1], text_emb=emb, logit_scale=torch.tensor(1.0),
    ...     audio_keys=torch.tensor([7]), text_keys=torch.tensor([7, 8, 9]),
    ...     text_is_negative=torch.tensor([False, True, True]),
    ...     audio_views=view_codes(["main"]),
    ...     text_views=view_codes(["main", "ordered", "swapped"]),
    ...     audio_sample=torch.tensor([0]), text_sample=torch.tensor([0, 0, 0]))
    >>> rows = ordered_caption_rows(inputs)
    >>> rows.audio_keys.tolist(), rows.text_keys.tolist(), rows.text_is_negative.tolist()
    ([8], [8, 9], [False, True])
    """
    if inputs.text_views is None or inputs.text_sample is None:
        return inputs
    ordered = inputs.text_views == ViewRole.ORDERED
    if not bool(ordered.any()):
        return inputs
    rows = ordered | (inputs.text_views == ViewRole.SWAPPED)

    def text_rows(values, mask=rows):  # the masks live where the views do
        return None if values is None else values[mask.to(values.device)]

    key_of_sample = dict(
        zip(text_rows(inputs.text_sample, ordered).tolist(), text_rows(inputs.text_keys, ordered).tolist())
    )
    audio_keys = torch.tensor(
        [
            key_of_sample.get(sample, key)
            for sample, key in zip(inputs.audio_sample.tolist(), inputs.audio_keys.tolist())
        ],
        dtype=inputs.audio_keys.dtype, device=inputs.audio_keys.device,
    )
    return replace(
        inputs,
        audio_keys=audio_keys,
        text_emb=text_rows(inputs.text_emb),
        text_keys=text_rows(inputs.text_keys),
        text_is_negative=text_rows(~ordered),
        text_views=text_rows(torch.where(ordered, int(ViewRole.MAIN), inputs.text_views)),
        text_sample=text_rows(inputs.text_sample),
        text_codewords=text_rows(inputs.text_codewords),
        text_order_emb=text_rows(inputs.text_order_emb),
        local=None if inputs.local is None else inputs.local.select(text=rows),
    )


class TemporalFocusedLoss(torch.nn.Module):
    """T-CLAP's objective ``L = L_c + temporal_weight * L_t``.

    ``L_c`` is the symmetric InfoNCE over every audio view and every positive
    text. ``L_t``: each ``"main"`` audio must prefer its (ordered) caption to
    order-swapped captions (:func:`ordered_caption_rows`).

    * ``form="batch"``: every main audio against the batch's positive captions
      and all swapped negatives (``N x 2N`` audio→text InfoNCE); with
      ``"reversed"`` audio, also each main caption against all main and
      reversed audio (text→audio).
    * ``form="pairwise"``: each main audio against its own swapped caption,
      ``-log(e^s+ / (e^s+ + e^s-))``; with reversed audio, each main caption
      against its own reversed audio too.

    The T-CLAP paper does not print ``L_t``; both readings are documented in
    docs/architecture.md. Both terms share the logit scale. Under ``local_loss``
    ``L_c`` and the batch form compute this rank's rows only; the pairwise form
    (``O(N)``) is computed whole on every rank, which keeps the gradients exact.

    Arguments
    ---------
    temporal_weight : float
        Lambda (0.5 in T-CLAP).
    form : str
        ``"batch"`` or ``"pairwise"``.
    contrastive : torch.nn.Module, optional
        ``L_c`` (default :class:`InfoNCELoss`), e.g. :class:`HardNegativeLoss`.
    temporal_on : str
        What ``L_t`` reads: ``"embeddings"`` (the joint embeddings) or
        ``"order_heads"`` (``audio_order_emb`` / ``text_order_emb``: ``L_t``
        then trains the order heads alone, the aligner is behind a
        stop-gradient).

    Example
    -------
    >>> from speechbrain_tclap.data.batching import view_codes
    >>> emb = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> inputs = ContrastiveInputs(
    ...     audio_emb=emb[:2], text_emb=emb, logit_scale=torch.tensor(10.0),
    ...     audio_keys=torch.tensor([0, 1]), text_keys=torch.tensor([0, 1, 2, 3]),
    ...     text_is_negative=torch.tensor([False, False, True, True]),
    ...     audio_views=view_codes(["main", "main"]),
    ...     text_views=view_codes(["main", "main", "swapped", "swapped"]),
    ...     audio_sample=torch.tensor([0, 1]), text_sample=torch.tensor([0, 1, 0, 1]))
    >>> TemporalFocusedLoss()(inputs).shape
    torch.Size([])
    """

    def __init__(
        self,
        temporal_weight: float = 0.5,
        form: str = "batch",
        contrastive: Optional[torch.nn.Module] = None,
        temporal_on: str = "embeddings",
    ):
        super().__init__()
        if form not in ("batch", "pairwise"):
            raise ValueError(f"TemporalFocusedLoss form must be 'batch' or 'pairwise', got {form!r}")
        if temporal_on not in ("embeddings", "order_heads"):
            raise ValueError(
                "TemporalFocusedLoss temporal_on must be 'embeddings' or 'order_heads', "
                f"got {temporal_on!r}"
            )
        self.temporal_weight = temporal_weight
        self.form = form
        self.temporal_on = temporal_on
        self.contrastive = InfoNCELoss() if contrastive is None else contrastive

    def forward(self, inputs: ContrastiveInputs) -> torch.Tensor:
        """Compute ``L_c + temporal_weight * L_t``.

        Arguments
        ---------
        inputs : ContrastiveInputs
            Embeddings, keys, views and roles of one batch.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        loss = self.contrastive(inputs)
        if self.temporal_weight == 0:
            return loss
        inputs = ordered_caption_rows(inputs)
        if self.temporal_on == "order_heads":
            if inputs.audio_order_emb is None or inputs.text_order_emb is None:
                raise ValueError(
                    "TemporalFocusedLoss(temporal_on='order_heads') needs order embeddings: "
                    "a model with order heads on both towers beside an aligner "
                    "(order_heads: temporal_correction)"
                )
            inputs = replace(
                inputs, audio_emb=inputs.audio_order_emb, text_emb=inputs.text_order_emb
            )
        temporal = (
            self._batch_form(inputs) if self.form == "batch" else self._pairwise_form(inputs)
        )
        if temporal is None:
            return loss
        return loss + self.temporal_weight * temporal

    @staticmethod
    def _views(inputs, role, audio=True):
        """Boolean rows of the audio (or text) items of view ``role`` (all
        rows without view codes)."""
        views = inputs.audio_views if audio else inputs.text_views
        if views is None:
            rows = len(inputs.audio_emb if audio else inputs.text_emb)
            return torch.ones(rows, dtype=torch.bool, device=inputs.audio_emb.device)
        return (views == int(role)).to(inputs.audio_emb.device)

    def _batch_form(self, inputs: ContrastiveInputs) -> Optional[torch.Tensor]:
        main_audio = self._views(inputs, ViewRole.MAIN)
        has_negatives = bool(inputs.text_is_negative.any())
        reversed_audio = self._views(inputs, ViewRole.REVERSED)
        terms = []
        if has_negatives and main_audio.any():
            mask = positive_mask_from_keys(inputs.audio_keys[main_audio], inputs.text_keys)
            terms.append(
                contrastive_loss(
                    inputs.audio_emb[main_audio], inputs.text_emb, inputs.logit_scale,
                    positive_mask=mask, text_to_audio=False,
                    local=_local(inputs, audio=main_audio),
                )
            )
        if reversed_audio.any():
            main_text = self._views(inputs, ViewRole.MAIN, audio=False) & ~inputs.text_is_negative
            audio_rows = main_audio | reversed_audio
            mask = positive_mask_from_keys(inputs.audio_keys[audio_rows], inputs.text_keys[main_text])
            terms.append(
                contrastive_loss(
                    inputs.audio_emb[audio_rows], inputs.text_emb[main_text], inputs.logit_scale,
                    positive_mask=mask, audio_to_text=False,
                    local=_local(inputs, audio=audio_rows, text=main_text),
                )
            )
        return torch.stack(terms).mean() if terms else None

    def _pairwise_form(self, inputs: ContrastiveInputs) -> Optional[torch.Tensor]:
        # Index triples from CPU lists, then one batched two-way softmax.
        audio_views = (
            [ViewRole.MAIN] * len(inputs.audio_emb)
            if inputs.audio_views is None else inputs.audio_views.tolist()
        )
        audio_sample = inputs.audio_sample.tolist()
        audio_keys = inputs.audio_keys.tolist()
        texts_of: Dict[int, List[Tuple[int, int, bool]]] = {}
        for j, (sample, key, negative) in enumerate(
            zip(inputs.text_sample.tolist(), inputs.text_keys.tolist(), inputs.text_is_negative.tolist())
        ):
            texts_of.setdefault(sample, []).append((j, key, negative))
        reversed_of: Dict[int, int] = {}
        for i, (view, sample) in enumerate(zip(audio_views, audio_sample)):
            if view == ViewRole.REVERSED:
                reversed_of.setdefault(sample, i)
        # (anchor, positive, negative): audio vs its caption / swapped caption,
        # and caption vs its audio / the reversed audio.
        a_rows, a_pos, a_neg, t_rows, t_pos, t_neg = [], [], [], [], [], []
        for i, (view, sample) in enumerate(zip(audio_views, audio_sample)):
            if view != ViewRole.MAIN:
                continue
            own = texts_of.get(sample, [])
            positives = [j for j, key, negative in own if not negative and key == audio_keys[i]]
            if not positives:
                continue
            for j, _, negative in own:
                if negative:
                    a_rows.append(i), a_pos.append(positives[0]), a_neg.append(j)
            if sample in reversed_of:
                t_rows.append(positives[0]), t_pos.append(i), t_neg.append(reversed_of[sample])
        scale = inputs.logit_scale.float()
        audio, text = inputs.audio_emb.float(), inputs.text_emb.float()
        losses = []
        for anchors, positives, negatives in (
            (audio[a_rows], text[a_pos], text[a_neg]),
            (text[t_rows], audio[t_pos], audio[t_neg]),
        ):
            if len(anchors):
                logits = scale * torch.stack(
                    [(anchors * positives).sum(-1), (anchors * negatives).sum(-1)], dim=-1
                )
                losses.append(-torch.log_softmax(logits, dim=-1)[:, 0])
        return torch.cat(losses).mean() if losses else None


# --- Event order in the frame scores (ours): L_t's order, asked of the frames ---
def score_time_centres(
    scores: torch.Tensor, mask: torch.Tensor, sharpness: float
) -> torch.Tensor:
    """Soft centre in time of each frame-score curve, in ``(0, 1)``.

    A softmax over the real frames (``sharpness * score``) weighs their
    positions ``(t + 0.5) / T_real``: a differentiable version of
    :func:`~speechbrain_tclap.evaluation.detection_metrics.score_centre`.

    Arguments
    ---------
    scores : torch.Tensor
        ``(P, T, E)`` frame scores, one curve per column.
    mask : torch.Tensor
        Boolean ``(P, T)``: real frames (at least one per row).
    sharpness : float
        Inverse temperature of the softmax over time.

    Returns
    -------
    torch.Tensor
        ``(P, E)`` centres.

    Example
    -------
    >>> s = torch.tensor([[[9.0, 0.0], [0.0, 0.0], [0.0, 9.0]]])
    >>> score_time_centres(s, torch.ones(1, 3, dtype=torch.bool), 10.0).round(decimals=2)
    tensor([[0.1700, 0.8300]])
    """
    real = mask.to(scores.dtype)
    count = real.sum(dim=1, keepdim=True).clamp(min=1.0)
    position = (torch.arange(scores.shape[1], device=scores.device) + 0.5) / count
    logits = (sharpness * scores).masked_fill(~mask.unsqueeze(-1), float("-inf"))
    weights = torch.softmax(logits, dim=1)
    return (weights * position.unsqueeze(-1)).sum(dim=1)


class FrameOrderLoss(torch.nn.Module):
    """Event order asked of the frame scores: "A followed by B" puts A first.

    Our design (docs/temporal_grounding.md): for every ordered event pair of a
    training clip (different labels, the first ending before the second
    starts), the soft time centre (:func:`score_time_centres`) of the first
    event's prompt over the clip's frames must precede the second's:
    ``softplus(slope * (c_first - c_second))``. Only the order is asked, as an
    ordered caption asks of the clip. Use it in a :class:`LossSum`;
    ``CLAPBrain`` fills ``pair_frames``, ``pair_frame_mask`` and ``pair_texts``
    with each label's prompt from ``template``. Under DDP each rank computes
    its own rows.

    Arguments
    ---------
    template : str
        Prompt of an event's label (one ``{}``), e.g. the single-event
        training caption.
    sharpness : float
        Inverse temperature of the softmax over time (cosines in [-1, 1]).
    slope : float
        Slope of the softplus on the centre difference (centres in (0, 1)).
    contrast : bool
        Subtract the pair's mean cosine at each frame (as the evaluation's
        ``prompt_mean``), so a frame both prompts match pulls neither centre.

    Example
    -------
    >>> frames = torch.nn.functional.normalize(torch.tensor(  # 2 frames per event
    ...     [[[1.0, 0.0], [1.0, 0.1], [0.1, 1.0], [0.0, 1.0]]]), dim=-1)
    >>> texts = torch.eye(2)[None]  # first event ~ axis 0, second ~ axis 1
    >>> emb = torch.nn.functional.normalize(torch.randn(1, 2), dim=-1)
    >>> inputs = ContrastiveInputs(emb, emb, torch.tensor(1.0), torch.arange(1),
    ...     torch.arange(1), torch.zeros(1, dtype=torch.bool), pair_frames=frames,
    ...     pair_frame_mask=torch.ones(1, 4, dtype=torch.bool), pair_texts=texts)
    >>> loss = FrameOrderLoss("the sound of {}")
    >>> right = loss(inputs)
    >>> wrong = loss(replace(inputs, pair_texts=texts.flip(1)))
    >>> bool(right < 0.1 < wrong)
    True
    """

    def __init__(
        self, template: str, sharpness: float = 10.0, slope: float = 10.0, contrast: bool = False
    ):
        super().__init__()
        if sharpness <= 0 or slope <= 0:
            raise ValueError(f"sharpness and slope must be > 0, got {sharpness}, {slope}")
        self.template = check_prompt_template(template)
        self.sharpness = float(sharpness)
        self.slope = float(slope)
        self.contrast = bool(contrast)

    def forward(self, inputs: ContrastiveInputs) -> torch.Tensor:
        """Mean order penalty over the batch's ordered event pairs.

        Arguments
        ---------
        inputs : ContrastiveInputs
            One batch; without pairs (``pair_frames`` None or empty) the
            loss is a zero that keeps the embeddings in the graph.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        frames, texts = inputs.pair_frames, inputs.pair_texts
        if frames is None or frames.shape[0] == 0:
            return 0.0 * inputs.audio_emb.sum()
        if texts is None or inputs.pair_frame_mask is None or texts.shape[:2] != (frames.shape[0], 2):
            raise ValueError(
                "FrameOrderLoss needs pair_texts (P, 2, D) and pair_frame_mask (P, T) "
                f"beside pair_frames {tuple(frames.shape)}"
            )
        scores = normalize_frame_scores(
            torch.einsum("ptd,ped->pte", frames.float(), texts.float()),
            "prompt_mean" if self.contrast else "none",
        )
        centres = score_time_centres(scores, inputs.pair_frame_mask, self.sharpness)
        return F.softplus(self.slope * (centres[:, 0] - centres[:, 1])).mean()


def frame_order_template(loss: Optional[torch.nn.Module]) -> Optional[str]:
    """The prompt template of a :class:`FrameOrderLoss` in ``loss``, else None.

    Arguments
    ---------
    loss : torch.nn.Module, optional
        A loss, possibly wrapping others.

    Returns
    -------
    str or None
        The template the Brain fills with event labels.

    Example
    -------
    >>> frame_order_template(LossSum([InfoNCELoss(), FrameOrderLoss("a {}")]))
    'a {}'
    >>> frame_order_template(InfoNCELoss()) is None
    True
    """
    found = [m.template for m in _modules_of(loss) if isinstance(m, FrameOrderLoss)]
    return found[0] if found else None


# --- TeminAL (Sinha et al. 2024): weighted multi-view NCE (stage A and TNCE) ---
def _view_major_rows(
    views: torch.Tensor, samples: torch.Tensor, roles, keep=None
) -> dict:
    """``{role: {sample index: row}}`` for the rows of the given view roles."""
    out = {role: {} for role in roles}
    for row, (view, sample) in enumerate(zip(views.tolist(), samples.tolist())):
        if view not in out or (keep is not None and not keep[row]):
            continue
        if sample in out[view]:
            raise ValueError(
                f"TemporalNCELoss: sample {sample} has two items of view "
                f"{str(ViewRole.of(view))!r}"
            )
        out[view][sample] = row
    return out


class TemporalNCELoss(torch.nn.Module):
    """TeminAL's weighted multi-view InfoNCE: stage A (K=2) and TNCE (K=3).

    The items of the ``views`` of every sample holding all of them are stacked
    view-major (item ``v * B + i``) into a ``KB x KB`` similarity ``S``;
    off-diagonal view blocks get :func:`block_log_weights` (``alpha_same``
    for a sample's own other views, ``alpha_cross`` for other samples';
    blocks touching ``overlap_view`` may have their own alphas), rows of
    every view but the first weigh ``beta``, and in both directions::

        l_a2t(i) = -log exp(S_ii) / sum_j w_ij exp(S_ij)   (w = alpha or 1)

    Positives are by caption key (``positives="diagonal"``: ``i == j``, as
    the authors' code).

    * ``mode="sane"`` (default): ``S = logit_scale * cos``, mean of the
      directions; one view with alphas 1 is :class:`InfoNCELoss` exactly.
    * ``mode="paper"``: the authors' code, ``S = a . t`` without temperature
      (cosine at temperature 1 for ``CLAPBrain``'s normalised embeddings),
      ``paper_scale * (CE_t2a + CE_a2t)``, ``eps = 1e-8`` in the log-weights.

    Stage A: ``views=["single", "main"]``; stage B (TNCE): ``["main",
    "reversed", "overlay"]`` (docs/teminal.md).

    Arguments
    ---------
    views : sequence of str or ViewRole
        View names or roles in block order (the first is the un-augmented one).
    alpha_same : float
        Weight of a sample's own other views as negatives (0 removes them).
    alpha_cross : float
        Weight of other samples' other views as negatives.
    beta : float
        Row weight of the views after the first (both directions).
    overlap_view : str or ViewRole, optional
        View whose blocks use ``overlap_alpha_same`` / ``overlap_alpha_cross``.
    overlap_alpha_same : float, optional
        Default ``alpha_same``.
    overlap_alpha_cross : float, optional
        Default ``alpha_cross``.
    mode : str
        ``"sane"`` or ``"paper"``.
    paper_scale : float
        Multiplier of the summed directions in paper mode.
    positives : str
        ``"keys"`` or ``"diagonal"``.
    eps : float, optional
        Added to the alphas before the log; default 0 (sane) or 1e-8 (paper).
    audio_to_text : bool
        Include the audio→text direction.
    text_to_audio : bool
        Include the text→audio direction.

    Example
    -------
    >>> from speechbrain_tclap.data.batching import view_codes
    >>> B, views = 2, ["main", "reversed", "overlay"]
    >>> emb = torch.nn.functional.normalize(torch.randn(3 * B, 8), dim=-1)
    >>> codes = view_codes([v for _ in range(B) for v in views])  # sample-major
    >>> inputs = ContrastiveInputs(
    ...     audio_emb=emb, text_emb=emb, logit_scale=torch.tensor(10.0),
    ...     audio_keys=torch.arange(3 * B), text_keys=torch.arange(3 * B),
    ...     text_is_negative=torch.zeros(3 * B, dtype=torch.bool),
    ...     audio_views=codes, text_views=codes,
    ...     audio_sample=torch.arange(B).repeat_interleave(3),
    ...     text_sample=torch.arange(B).repeat_interleave(3))
    >>> TemporalNCELoss(views, alpha_same=0.5).items(inputs)[0].shape
    torch.Size([6])
    >>> TemporalNCELoss(views, alpha_same=0.5)(inputs).shape
    torch.Size([])
    """

    def __init__(
        self,
        views=("main", "reversed", "overlay"),
        alpha_same: float = 1.0,
        alpha_cross: float = 1.0,
        beta: float = 1.0,
        overlap_view: Optional[str] = None,
        overlap_alpha_same: Optional[float] = None,
        overlap_alpha_cross: Optional[float] = None,
        mode: str = "sane",
        paper_scale: float = 0.8,
        positives: str = "keys",
        eps: Optional[float] = None,
        audio_to_text: bool = True,
        text_to_audio: bool = True,
    ):
        super().__init__()
        self.views = [ViewRole.of(v) for v in views]
        if not self.views or len(set(self.views)) != len(self.views):
            raise ValueError(f"TemporalNCELoss: views must be distinct names, got {views!r}")
        if mode not in ("sane", "paper"):
            raise ValueError(f"TemporalNCELoss mode must be 'sane' or 'paper', got {mode!r}")
        if positives not in ("keys", "diagonal"):
            raise ValueError(
                f"TemporalNCELoss positives must be 'keys' or 'diagonal', got {positives!r}"
            )
        if overlap_view is not None:
            overlap_view = ViewRole.of(overlap_view)
            if overlap_view not in self.views:
                raise ValueError(
                    f"TemporalNCELoss: overlap_view {str(overlap_view)!r} is not in "
                    f"views {[str(v) for v in self.views]}"
                )
        alphas = [alpha_same, alpha_cross, overlap_alpha_same, overlap_alpha_cross]
        if any(a is not None and a < 0 for a in alphas) or beta < 0:
            raise ValueError("TemporalNCELoss: alphas and beta must be >= 0")
        self.alpha_same = float(alpha_same)
        self.alpha_cross = float(alpha_cross)
        self.beta = float(beta)
        self.overlap_view = overlap_view
        self.overlap_alpha_same = float(
            alpha_same if overlap_alpha_same is None else overlap_alpha_same
        )
        self.overlap_alpha_cross = float(
            alpha_cross if overlap_alpha_cross is None else overlap_alpha_cross
        )
        self.mode = mode
        self.paper_scale = float(paper_scale)
        self.positives = positives
        self.eps = (1e-8 if mode == "paper" else 0.0) if eps is None else float(eps)
        self.audio_to_text = audio_to_text
        self.text_to_audio = text_to_audio

    def items(self, inputs: ContrastiveInputs):
        """Rows of the audio and text items in view-major order.

        Arguments
        ---------
        inputs : ContrastiveInputs
            One batch (views and sample indices are required).

        Returns
        -------
        tuple
            ``(audio_rows, text_rows)``, each ``(K * B,)`` long tensors over
            the ``B`` samples that hold every view on both sides.
        """
        if inputs.audio_views is None or inputs.text_views is None:
            raise ValueError("TemporalNCELoss needs the view codes of the items")
        if inputs.audio_sample is None or inputs.text_sample is None:
            raise ValueError("TemporalNCELoss needs the sample index of every item")
        audio = _view_major_rows(inputs.audio_views, inputs.audio_sample, self.views)
        text = _view_major_rows(
            inputs.text_views, inputs.text_sample, self.views,
            keep=(~inputs.text_is_negative).tolist(),
        )
        complete = set.intersection(
            *(set(rows) for side in (audio, text) for rows in side.values())
        )
        if not complete:
            raise ValueError(
                "TemporalNCELoss: no sample has audio and text of every view "
                f"{[str(v) for v in self.views]} "
                f"(audio views: {view_names(inputs.audio_views.unique())}, "
                f"text views: {view_names(inputs.text_views.unique())}); "
                "check the sample builder"
            )
        samples = sorted(complete)
        device = inputs.audio_emb.device

        def rows(side):
            return torch.tensor(
                [side[v][s] for v in self.views for s in samples],
                dtype=torch.long, device=device,
            )

        return rows(audio), rows(text)

    def log_weights(self, batch_size: int, device=None) -> Optional[torch.Tensor]:
        """The ``KB x KB`` alpha log-weights, or None when every alpha is 1.

        Arguments
        ---------
        batch_size : int
            Samples B.
        device : torch.device, optional
            Where to build the matrix.

        Returns
        -------
        torch.Tensor or None
            Log-weights (0 on the diagonal view blocks).
        """
        num_views = len(self.views)
        alphas = (
            self.alpha_same, self.alpha_cross,
            self.overlap_alpha_same, self.overlap_alpha_cross,
        )
        if num_views == 1 or (all(a == 1.0 for a in alphas) and self.eps == 0.0):
            return None
        weights = block_log_weights(
            num_views, batch_size, self.alpha_same, self.alpha_cross, self.eps, device
        )
        if self.overlap_view is None:
            return weights
        overlap = block_log_weights(
            num_views, batch_size, self.overlap_alpha_same,
            self.overlap_alpha_cross, self.eps, device,
        )
        view = torch.arange(num_views * batch_size, device=device) // batch_size
        is_overlap = view == self.views.index(self.overlap_view)
        touches = is_overlap.unsqueeze(1) | is_overlap.unsqueeze(0)
        return torch.where(touches, overlap, weights)

    def forward(self, inputs: ContrastiveInputs) -> torch.Tensor:
        """Compute the loss.

        Arguments
        ---------
        inputs : ContrastiveInputs
            Embeddings, keys, views and sample indices of one batch.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        audio_rows, text_rows = self.items(inputs)
        num_items = len(audio_rows)
        batch_size = num_items // len(self.views)
        device = inputs.audio_emb.device
        if self.positives == "keys":
            mask = positive_mask_from_keys(
                inputs.audio_keys[audio_rows], inputs.text_keys[text_rows]
            )
            if not bool(mask.diagonal().all()):
                raise ValueError(
                    "TemporalNCELoss: an audio view's key differs from the key of "
                    "the same view's text; check the sample builder"
                )
        else:
            mask = torch.eye(num_items, dtype=torch.bool, device=device)
        row_weights = None
        if self.beta != 1.0:
            row_weights = torch.ones(num_items, device=device)
            row_weights[batch_size:] = self.beta
        scale = (
            inputs.logit_scale if self.mode == "sane" else torch.ones((), device=device)
        )
        loss = contrastive_loss(
            inputs.audio_emb[audio_rows],
            inputs.text_emb[text_rows],
            scale,
            positive_mask=mask,
            log_weights=self.log_weights(batch_size, device),
            audio_weights=row_weights,
            text_weights=row_weights,
            audio_to_text=self.audio_to_text,
            text_to_audio=self.text_to_audio,
            local=_local(inputs, audio=audio_rows, text=text_rows),
        )
        if self.mode == "sane":
            return loss
        # The core averages the directions; the authors' code sums them.
        directions = int(self.audio_to_text) + int(self.text_to_audio)
        return self.paper_scale * directions * loss


class LossSum(torch.nn.Module):
    """Weighted sum of named losses on the same batch (e.g. joint TeminAL A+B).

    Arguments
    ---------
    losses : sequence of torch.nn.Module
        Losses reading :class:`ContrastiveInputs`.
    weights : sequence of float, optional
        One weight per loss (default 1).

    Example
    -------
    >>> emb = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    >>> inputs = ContrastiveInputs(emb, emb, torch.tensor(1.0), torch.arange(3),
    ...     torch.arange(3), torch.zeros(3, dtype=torch.bool))
    >>> both = LossSum([InfoNCELoss(), InfoNCELoss()], weights=[1.0, 0.5])
    >>> torch.allclose(both(inputs), 1.5 * InfoNCELoss()(inputs))
    True
    """

    def __init__(self, losses, weights=None):
        super().__init__()
        self.losses = torch.nn.ModuleList(losses)
        self.weights = [1.0] * len(self.losses) if weights is None else [float(w) for w in weights]
        if not self.losses or len(self.weights) != len(self.losses):
            raise ValueError(
                f"LossSum needs one weight per loss, got {len(self.losses)} losses "
                f"and {len(self.weights)} weights"
            )

    def forward(self, inputs: ContrastiveInputs) -> torch.Tensor:
        """Compute the weighted sum.

        Arguments
        ---------
        inputs : ContrastiveInputs
            One batch.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        return sum(w * loss(inputs) for w, loss in zip(self.weights, self.losses))


# --- MGA-CLAP: hard-negative guided loss ---
def hard_negative_log_weights(logits: torch.Tensor, beta: float) -> torch.Tensor:
    """Log of MGA-CLAP's hard-negative weights, one row per anchor.

    With ``s~ = s - max_k s_k`` (max detached) and ``N`` columns,
    ``w_j = (N - 1) exp(beta s~_j) / (sum_k exp(beta s~_k) - exp(beta s~_j))``.
    As in the released code the weights are not detached.

    Arguments
    ---------
    logits : torch.Tensor
        ``(N_rows, N)`` scaled similarities of each anchor (a row).
    beta : float
        Sharpness (MGA-CLAP: 0.15).

    Returns
    -------
    torch.Tensor
        ``(N_rows, N)`` ``log w``.

    Example
    -------
    >>> w = hard_negative_log_weights(torch.tensor([[3.0, 1.0, 1.0]]), 0.15).exp()
    >>> [round(float(x), 3) for x in w[0]]
    [1.35, 0.851, 0.851]
    """
    if logits.shape[1] < 2:
        raise ValueError(
            "hard-negative weights need at least 2 candidates per row, got "
            f"{logits.shape[1]}"
        )
    shifted = beta * (logits - logits.max(dim=1, keepdim=True).values.detach())
    total = shifted.exp().sum(dim=1, keepdim=True)
    others = total - shifted.exp()
    return math.log(logits.shape[1] - 1) + shifted - others.log()


class HardNegativeLoss(torch.nn.Module):
    """MGA-CLAP's hard-negative guided contrastive loss.

    The contrastive core with every negative's ``exp`` term multiplied by its
    weight (:func:`hard_negative_log_weights` of that direction's rows), as
    ``tools/losses.py::AudioTextContrastiveLoss_HN`` (without its ``1e-7`` in
    the normaliser's log); mean of both directions, flagged texts left out.
    ``embedding_regularization`` adds WavCaps' ``embed_reg``, ``mean|A| /
    ||A||_F + mean|T| / ||T||_F`` (computed whole on every rank under
    ``local_loss``, which keeps the gradients exact).

    Arguments
    ---------
    beta : float
        Sharpness of the weights (0.15 in the released code).
    embedding_regularization : bool
        Add WavCaps' ``embed_reg`` term.

    Example
    -------
    >>> emb = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> inputs = ContrastiveInputs(
    ...     audio_emb=emb, text_emb=emb, logit_scale=torch.tensor(10.0),
    ...     audio_keys=torch.arange(4), text_keys=torch.arange(4),
    ...     text_is_negative=torch.zeros(4, dtype=torch.bool))
    >>> HardNegativeLoss()(inputs).shape
    torch.Size([])
    >>> bool(torch.isclose(HardNegativeLoss(beta=0.0)(inputs), InfoNCELoss()(inputs)))
    True
    """

    def __init__(self, beta: float = 0.15, embedding_regularization: bool = False):
        super().__init__()
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = float(beta)
        self.embedding_regularization = bool(embedding_regularization)

    def forward(self, inputs: ContrastiveInputs) -> torch.Tensor:
        """Compute the loss.

        Arguments
        ---------
        inputs : ContrastiveInputs
            Embeddings, keys and roles of one batch.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        keep, mask = _kept_texts(inputs)
        audio, text = inputs.audio_emb, inputs.text_emb[keep]
        loss = contrastive_loss(
            audio, text, inputs.logit_scale, positive_mask=mask,
            row_log_weights=functools.partial(hard_negative_log_weights, beta=self.beta),
            local=_local(inputs, text=keep),
        )
        if self.embedding_regularization:
            for emb in (audio.float(), text.float()):
                loss = loss + emb.abs().mean() / emb.pow(2).sum().sqrt()
        return loss


# --- Codeword regulariser of MGA-CLAP's shared codebook (ours) ---
#: Forms of :func:`codeword_sharing_penalty`.
SHARING_FORMS = ("pair", "usage")


def codeword_sharing_penalty(
    audio_weights: torch.Tensor,
    text_weights: torch.Tensor,
    positive_mask: torch.Tensor,
    form: str = "pair",
) -> torch.Tensor:
    """Our codeword regulariser: codewords must serve both modalities.

    Arguments
    ---------
    audio_weights : torch.Tensor
        ``(Na, K)`` sparsemax weights of the audio items.
    text_weights : torch.Tensor
        ``(Nt, K)`` sparsemax weights of the text items.
    positive_mask : torch.Tensor
        Boolean ``(Na, Nt)``: positive pairs.
    form : str
        ``"pair"``: mean total variation ``½ ||w_a - w_t||_1`` over positive
        pairs; ``"usage"``: total variation between the mean codeword usage of
        the audio and of the text rows that have a positive.

    Returns
    -------
    torch.Tensor
        Scalar in ``[0, 1]``.

    Example
    -------
    >>> w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> codeword_sharing_penalty(w, w, torch.eye(2, dtype=torch.bool))
    tensor(0.)
    >>> codeword_sharing_penalty(w, w.flip(0), torch.eye(2, dtype=torch.bool))
    tensor(1.)
    >>> codeword_sharing_penalty(w, w.flip(0), torch.eye(2, dtype=torch.bool), "usage")
    tensor(0.)
    """
    if form not in SHARING_FORMS:
        raise ValueError(f"form must be one of {SHARING_FORMS}, got {form!r}")
    if audio_weights.shape[1] != text_weights.shape[1]:
        raise ValueError(
            f"audio and text codeword weights differ in K: "
            f"{tuple(audio_weights.shape)} vs {tuple(text_weights.shape)}"
        )
    if positive_mask.shape != (audio_weights.shape[0], text_weights.shape[0]):
        raise ValueError(
            f"positive_mask {tuple(positive_mask.shape)} does not match "
            f"{audio_weights.shape[0]} audio and {text_weights.shape[0]} text rows"
        )
    audio_weights, text_weights = audio_weights.float(), text_weights.float()
    if not bool(positive_mask.any()):
        raise ValueError("codeword_sharing_penalty: the batch has no positive pair")
    if form == "usage":
        audio_rows = positive_mask.any(dim=1)
        text_rows = positive_mask.any(dim=0)
        usage_a = audio_weights[audio_rows].mean(dim=0)
        usage_t = text_weights[text_rows].mean(dim=0)
        return 0.5 * (usage_a - usage_t).abs().sum()
    audio_idx, text_idx = positive_mask.nonzero(as_tuple=True)
    distance = 0.5 * (audio_weights[audio_idx] - text_weights[text_idx]).abs().sum(-1)
    return distance.mean()


class CodewordSharingLoss(torch.nn.Module):
    """Any contrastive loss plus ``weight`` times the codeword regulariser.

    Our design: MGA-CLAP's codewords are "regularized to encode
    modality-shared semantics" but its formula was not released
    (docs/mgaclap.md). Reads ``audio_codewords`` / ``text_codewords`` of a
    codebook aligner; positives by caption key, flagged texts left out.
    ``weight=0`` is the wrapped loss (the "no regulariser" ablation).

    Arguments
    ---------
    loss : torch.nn.Module
        The contrastive loss (e.g. ``HardNegativeLoss``).
    weight : float
        Weight of :func:`codeword_sharing_penalty`.
    form : str
        ``"pair"`` or ``"usage"`` (see :func:`codeword_sharing_penalty`).

    Example
    -------
    >>> emb = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    >>> codes = torch.softmax(torch.randn(3, 5), dim=-1)
    >>> inputs = ContrastiveInputs(emb, emb, torch.tensor(10.0), torch.arange(3),
    ...     torch.arange(3), torch.zeros(3, dtype=torch.bool),
    ...     audio_codewords=codes, text_codewords=codes)
    >>> loss = CodewordSharingLoss(InfoNCELoss(), weight=0.5)
    >>> bool(torch.isclose(loss(inputs), InfoNCELoss()(inputs)))  # same codes: no penalty
    True
    """

    def __init__(self, loss: torch.nn.Module, weight: float = 0.1, form: str = "pair"):
        super().__init__()
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        if form not in SHARING_FORMS:
            raise ValueError(f"form must be one of {SHARING_FORMS}, got {form!r}")
        self.loss = loss
        self.weight = float(weight)
        self.form = form

    def forward(self, inputs) -> torch.Tensor:
        """Compute ``loss(inputs) + weight * penalty``.

        Arguments
        ---------
        inputs : ContrastiveInputs
            One batch, with ``audio_codewords`` and ``text_codewords``.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        loss = self.loss(inputs)
        if self.weight == 0:
            return loss
        audio, text = inputs.audio_codewords, inputs.text_codewords
        if audio is None or text is None:
            raise ValueError(
                "CodewordSharingLoss needs codeword weights: the model has no "
                "codebook aligner (SharedCodebook with aggregation='codebook'); "
                "set the regulariser weight to 0 for other models"
            )
        if audio.shape[0] != inputs.audio_emb.shape[0] or text.shape[0] != inputs.text_emb.shape[0]:
            raise ValueError(
                f"codeword weights ({audio.shape[0]} audio, {text.shape[0]} text "
                f"rows) do not match the embeddings ({inputs.audio_emb.shape[0]}, "
                f"{inputs.text_emb.shape[0]}); were the embeddings gathered "
                "across ranks without the codeword weights?"
            )
        keep, mask = _kept_texts(inputs)
        penalty = codeword_sharing_penalty(audio, text[keep], mask, self.form)
        return loss + self.weight * penalty
