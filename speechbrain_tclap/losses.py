"""Contrastive losses for CLAP training: one core, several named losses.

Every loss in this package is a view of the same computation: a matrix of
scaled cosine similarities between ``Na`` audio items and ``Nt`` text items,
a boolean matrix saying which pairs are positives, an optional log-weight
bias on the negatives, and a cross-entropy in one or both directions.

* plain CLAP (LAION / open_clip): ``Na == Nt``, positives on the diagonal
  (or wherever two items share a caption key), both directions;
* extra text-only negatives (T-CLAP's order-swapped captions): text columns
  that no audio holds as a positive;
* several views per sample (TeminAL): ``K * B`` items, positives between the
  audio and text of the same view, log-weights on the off-diagonal blocks.

Positives are given as *keys*: an audio item and a text item are a positive
pair exactly when their keys are equal. A batch builds keys from captions, so
two clips with the same caption are not pushed apart and a negative caption
can never be used as a positive of its own clip.

Authors
 * speechbrain-tclap developers 2026
"""

from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.nn.functional as F


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


def _directional_loss(
    logits: torch.Tensor,
    positives: torch.Tensor,
    row_weights: Optional[torch.Tensor],
) -> torch.Tensor:
    """Cross-entropy of each row against its positives (uniform soft target).

    Rows without any positive are skipped (they are negatives only). With one
    positive per row this is ``F.cross_entropy``; ``row_weights`` follow the
    ``weight`` semantics of ``F.cross_entropy`` (weighted mean).
    """
    has_positive = positives.any(dim=1)
    if not bool(has_positive.any()):
        raise ValueError(
            "contrastive loss: no row has a positive; check the keys "
            "of the audio and text items"
        )
    log_probs = F.log_softmax(logits[has_positive], dim=1)
    pos = positives[has_positive]
    targets = pos.to(log_probs.dtype) / pos.sum(dim=1, keepdim=True)
    # Removed negatives (log-weight -inf) must give 0, not 0 * -inf = NaN.
    per_row = -(targets * log_probs.masked_fill(~pos, 0.0)).sum(dim=1)
    if row_weights is None:
        return per_row.mean()
    weights = row_weights[has_positive].to(per_row.dtype)
    return (weights * per_row).sum() / weights.sum()


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
) -> torch.Tensor:
    """The one contrastive core every named loss is built on.

    ``logits = logit_scale * audio_emb @ text_emb.T (+ log_weights on
    negatives)``; audio→text is a cross-entropy over each audio row, text→audio
    over each text column; the result is the mean of the enabled directions.
    Rows with several positives use a uniform target over them (as MGA-CLAP
    and WavCaps do for clips with several captions); rows with no positive
    (text-only or audio-only negatives) do not produce a loss term of their
    own but appear as negatives in the other direction.

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
        ``(Na, Nt)`` added to the logits of negative pairs only: a weight
        ``w`` on a negative multiplies its ``exp`` term by ``w`` (pass
        ``log(w + 1e-8)``; TeminAL's alpha weights). Positives are never
        re-weighted.
    audio_weights : torch.Tensor, optional
        ``(Na,)`` weights of the audio→text rows (TeminAL's beta).
    text_weights : torch.Tensor, optional
        ``(Nt,)`` weights of the text→audio rows.
    audio_to_text : bool
        Include the audio→text direction.
    text_to_audio : bool
        Include the text→audio direction.

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
    # The loss is computed in fp32 even under autocast: the logits of a
    # large scale are where half precision loses the ranking.
    logits = logit_scale.float() * (audio_emb.float() @ text_emb.float().T)
    if log_weights is not None:
        logits = logits + log_weights.float().masked_fill(positive_mask, 0.0)
    terms = []
    if audio_to_text:
        terms.append(_directional_loss(logits, positive_mask, audio_weights))
    if text_to_audio:
        terms.append(
            _directional_loss(logits.T, positive_mask.T, text_weights)
        )
    return torch.stack(terms).mean()


def block_log_weights(
    num_views: int,
    batch_size: int,
    alpha_same: float = 1.0,
    alpha_cross: float = 1.0,
    eps: float = 1e-8,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """Log-weights for ``num_views`` stacked views of ``batch_size`` samples.

    Items are ordered view-major: item ``v * B + i`` is view ``v`` of sample
    ``i``. Off-diagonal view blocks get ``log(alpha_same + eps)`` for the same
    sample (e.g. a clip against its own reversed caption) and
    ``log(alpha_cross + eps)`` for other samples; diagonal blocks get 0. With
    both alphas at 1 the bias vanishes and the loss is plain InfoNCE; an alpha
    of 0 removes those negatives (up to ``eps``), as in TeminAL's code.

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
    """What a contrastive loss needs from one batch.

    All named losses read this record, so a recipe can switch losses in YAML
    without touching the Brain.

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
        ``(Nt,)`` True for texts that are extra negatives only.
    audio_views : list of str, optional
        View name of each audio item (``"main"``, ``"reversed"``, ...).
    text_views : list of str, optional
        View name of each text item.
    audio_sample : torch.Tensor, optional
        ``(Na,)`` index of the sample each audio item belongs to.
    text_sample : torch.Tensor, optional
        ``(Nt,)`` index of the sample each text item belongs to.

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
    audio_views: Optional[List[str]] = None
    text_views: Optional[List[str]] = None
    audio_sample: Optional[torch.Tensor] = None
    text_sample: Optional[torch.Tensor] = None


class InfoNCELoss(torch.nn.Module):
    """Symmetric InfoNCE (LAION-CLAP / open_clip) over a batch of pairs.

    Only the text items whose role is ``"positive"`` take part, so the same
    batch can carry extra negatives for other losses without changing this
    one. Positives are pairs with equal caption keys.

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
        keep = ~inputs.text_is_negative
        text_emb = inputs.text_emb[keep]
        mask = positive_mask_from_keys(
            inputs.audio_keys, inputs.text_keys[keep]
        )
        return contrastive_loss(
            inputs.audio_emb,
            text_emb,
            inputs.logit_scale,
            positive_mask=mask,
            audio_to_text=self.audio_to_text,
            text_to_audio=self.text_to_audio,
        )


class TemporalFocusedLoss(torch.nn.Module):
    """T-CLAP's objective ``L = L_c + temporal_weight * L_t``.

    ``L_c`` is the symmetric InfoNCE over every audio view and every text that
    is a positive of some audio (keys decide). ``L_t`` focuses on order: each
    ``"main"`` audio must prefer its caption to order-swapped captions.

    * ``form="batch"`` (batch-extended): every main audio against the batch's
      positive captions *and* all its order-swapped negatives (an ``N x 2N``
      audio→text InfoNCE). When the batch also holds order-reversed audio
      (view ``"reversed"``), the symmetric text→audio term is added: each main
      caption against all main and reversed audio.
    * ``form="pairwise"``: each main audio against its own swapped caption
      only, ``-log(e^s+ / (e^s+ + e^s-))`` (a hard-negative form); with
      reversed audio, each main caption against its own reversed audio too.

    The T-CLAP paper does not print ``L_t``; both readings are offered and
    documented (docs/architecture.md). The logit scale is shared by both terms.

    Arguments
    ---------
    temporal_weight : float
        Lambda (0.5 in T-CLAP).
    form : str
        ``"batch"`` or ``"pairwise"``.

    Example
    -------
    >>> emb = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> inputs = ContrastiveInputs(
    ...     audio_emb=emb[:2], text_emb=emb, logit_scale=torch.tensor(10.0),
    ...     audio_keys=torch.tensor([0, 1]), text_keys=torch.tensor([0, 1, 2, 3]),
    ...     text_is_negative=torch.tensor([False, False, True, True]),
    ...     audio_views=["main", "main"], text_views=["main", "main", "swapped", "swapped"],
    ...     audio_sample=torch.tensor([0, 1]), text_sample=torch.tensor([0, 1, 0, 1]))
    >>> TemporalFocusedLoss()(inputs).shape
    torch.Size([])
    """

    def __init__(self, temporal_weight: float = 0.5, form: str = "batch"):
        super().__init__()
        if form not in ("batch", "pairwise"):
            raise ValueError(f"TemporalFocusedLoss form must be 'batch' or 'pairwise', got {form!r}")
        self.temporal_weight = temporal_weight
        self.form = form
        self.contrastive = InfoNCELoss()

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
        temporal = (
            self._batch_form(inputs) if self.form == "batch" else self._pairwise_form(inputs)
        )
        if temporal is None:
            return loss
        return loss + self.temporal_weight * temporal

    @staticmethod
    def _views(inputs, name, audio=True):
        views = inputs.audio_views if audio else inputs.text_views
        device = inputs.audio_emb.device
        if views is None:
            return torch.ones(len(inputs.audio_emb if audio else inputs.text_emb), dtype=torch.bool, device=device)
        return torch.tensor([v == name for v in views], dtype=torch.bool, device=device)

    def _batch_form(self, inputs: ContrastiveInputs) -> Optional[torch.Tensor]:
        main_audio = self._views(inputs, "main")
        has_negatives = bool(inputs.text_is_negative.any())
        reversed_audio = self._views(inputs, "reversed")
        terms = []
        if has_negatives and main_audio.any():
            mask = positive_mask_from_keys(inputs.audio_keys[main_audio], inputs.text_keys)
            terms.append(
                contrastive_loss(
                    inputs.audio_emb[main_audio], inputs.text_emb, inputs.logit_scale,
                    positive_mask=mask, text_to_audio=False,
                )
            )
        if reversed_audio.any():
            main_text = self._views(inputs, "main", audio=False) & ~inputs.text_is_negative
            audio_rows = main_audio | reversed_audio
            mask = positive_mask_from_keys(inputs.audio_keys[audio_rows], inputs.text_keys[main_text])
            terms.append(
                contrastive_loss(
                    inputs.audio_emb[audio_rows], inputs.text_emb[main_text], inputs.logit_scale,
                    positive_mask=mask, audio_to_text=False,
                )
            )
        return torch.stack(terms).mean() if terms else None

    def _pairwise_form(self, inputs: ContrastiveInputs) -> Optional[torch.Tensor]:
        scale = inputs.logit_scale.float()
        audio, text = inputs.audio_emb.float(), inputs.text_emb.float()
        main_audio = self._views(inputs, "main").nonzero().squeeze(1).tolist()
        reversed_rows = self._views(inputs, "reversed")
        losses = []
        for row in main_audio:
            sample = inputs.audio_sample[row]
            own = inputs.text_sample == sample
            positive = own & (inputs.text_keys == inputs.audio_keys[row])
            negative = own & inputs.text_is_negative
            if positive.any() and negative.any():
                pos = int(positive.nonzero()[0])
                for neg in negative.nonzero().squeeze(1).tolist():
                    pair = scale * torch.stack([audio[row] @ text[pos], audio[row] @ text[neg]])
                    losses.append(-torch.log_softmax(pair, dim=0)[0])
            rev = reversed_rows & (inputs.audio_sample == sample)
            if positive.any() and rev.any():
                pos = int(positive.nonzero()[0])
                other = int(rev.nonzero()[0])
                pair = scale * torch.stack([text[pos] @ audio[row], text[pos] @ audio[other]])
                losses.append(-torch.log_softmax(pair, dim=0)[0])
        return torch.stack(losses).mean() if losses else None
