"""MGA-CLAP's modality-shared codebook: one set of bases for audio and text.

MGA-CLAP (Li et al., 2024, "Advancing Multi-grained Alignment for
Contrastive Language-Audio Pre-training") builds both global embeddings from
*local* features (projected frames, projected words) with K codewords that
both modalities share:

.. code-block:: text

    S   = X Cᵀ / sqrt(D) / T          X (B, L, D) local features, C (K, D) codebook
    s_k = max_l S[:, l, k]            max over frames / words     (B, K)
    w   = sparsemax(s)                sparse, non-negative, sums to 1
    e   = w C                         the global embedding (L2-normalised later)

In a shared basis, a frame's similarity with a caption embedding says how
much of the caption is heard in it: what zero-shot sound event detection and
grounding read (:mod:`speechbrain_tclap.evaluation.sed`).

Masking: the released code (``models/ase_model.py``) multiplies the scores by
the mask before the max, so every text row (always with a masked ``[SEP]``)
gets ``s_k = max(max_words S_k, 0)``; ``masking="multiply"`` reproduces that
(needed to match its checkpoint), ``"exclude"`` (default) leaves masked
positions out of the max. Sparsemax is the ``entmax`` package's (Peters,
Niculae and Martins; closed-form Jacobian backward). The codeword regulariser
("modality-shared semantics" in the paper) is
:class:`speechbrain_tclap.losses.CodewordSharingLoss`.

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import NamedTuple, Optional

import torch
from entmax import sparsemax
from torch import nn

from speechbrain_tclap.lobes.pooling import masked_mean
from speechbrain_tclap.utils.tracing import is_tracing

MASKINGS = ("exclude", "multiply")
AGGREGATIONS = ("codebook", "mean")


class AlignerOutput(NamedTuple):
    """Global embeddings of an aligner, with the codeword weights.

    Arguments
    ---------
    embedding : torch.Tensor
        ``(B, D)`` global embedding (not normalised).
    weights : torch.Tensor or None
        ``(B, K)`` sparsemax codeword weights (rows sum to 1); ``None`` for
        ``aggregation="mean"``.
    scores : torch.Tensor or None
        ``(B, K)`` max-pooled codeword scores (the sparsemax input).

    Example
    -------
    >>> out = AlignerOutput(torch.zeros(2, 4), None, None)
    >>> out.embedding.shape
    torch.Size([2, 4])
    """

    embedding: torch.Tensor
    weights: Optional[torch.Tensor]
    scores: Optional[torch.Tensor]


class SharedCodebook(nn.Module):
    """Aggregates local features of either modality over shared codewords.

    Arguments
    ---------
    dim : int
        Width ``D`` of the local features (the joint space).
    num_codewords : int
        ``K`` (MGA-CLAP: 4096).
    temperature : float
        ``T`` dividing the scores (MGA-CLAP: 1000).
    scale_by_sqrt_dim : bool
        Divide the scores by ``sqrt(D)`` (as MGA-CLAP).
    masking : str
        ``"exclude"``: masked positions never win the max; ``"multiply"``:
        masked scores become 0 first (released code, see module docstring).
    text_boundary_tokens : bool
        Texts are wrapped in start/end tokens (``[CLS]``/``[SEP]``, bos/eos):
        leave both out so only words vote, as MGA-CLAP does.
    aggregation : str
        ``"codebook"`` or ``"mean"`` (masked mean of the local features, no
        codebook: the ablation).
    init_std : float
        Std of the normal initialisation of the codebook (MGA-CLAP: 1).

    Example
    -------
    >>> codebook = SharedCodebook(dim=8, num_codewords=16)
    >>> frames = torch.randn(2, 5, 8)
    >>> out = codebook.aggregate_audio(frames, torch.ones(2, 5, dtype=torch.bool))
    >>> out.embedding.shape, out.weights.shape
    (torch.Size([2, 8]), torch.Size([2, 16]))
    >>> torch.allclose(out.weights.sum(-1), torch.ones(2))
    True
    >>> tokens = torch.randn(2, 6, 8)
    >>> mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]).bool()
    >>> codebook.aggregate_text(tokens, mask).embedding.shape
    torch.Size([2, 8])
    """

    def __init__(
        self,
        dim: int,
        num_codewords: int = 4096,
        temperature: float = 1000.0,
        scale_by_sqrt_dim: bool = True,
        masking: str = "exclude",
        text_boundary_tokens: bool = True,
        aggregation: str = "codebook",
        init_std: float = 1.0,
    ):
        super().__init__()
        if masking not in MASKINGS:
            raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}")
        if aggregation not in AGGREGATIONS:
            raise ValueError(
                f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}"
            )
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = int(dim)
        self.temperature = float(temperature)
        self.scale_by_sqrt_dim = bool(scale_by_sqrt_dim)
        self.masking = masking
        self.text_boundary_tokens = bool(text_boundary_tokens)
        self.aggregation = aggregation
        if aggregation == "codebook":
            if num_codewords < 2:
                raise ValueError(
                    f"num_codewords must be at least 2, got {num_codewords}"
                )
            self.codebook = nn.Parameter(torch.randn(num_codewords, dim) * init_std)
        else:
            self.register_parameter("codebook", None)

    @property
    def num_codewords(self) -> int:
        """``K`` (0 without a codebook)."""
        return 0 if self.codebook is None else int(self.codebook.shape[0])

    def scores(self, local: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Max-pooled codeword scores ``s`` (the sparsemax input).

        Arguments
        ---------
        local : torch.Tensor
            ``(B, L, D)`` local features.
        mask : torch.Tensor
            Boolean ``(B, L)``, True at positions that may vote.

        Returns
        -------
        torch.Tensor
            ``(B, K)``.
        """
        scale = self.temperature
        if self.scale_by_sqrt_dim:
            scale = scale * math.sqrt(self.dim)
        # fp32: at T = 1000 the scores differ in the 4th decimal
        raw = local.float() @ self.codebook.float().T / scale
        keep = mask.unsqueeze(-1)
        if self.masking == "multiply":
            raw = raw * keep.to(raw.dtype)
        else:
            raw = raw.masked_fill(~keep, float("-inf"))
        return raw.max(dim=1).values

    def forward(self, local: torch.Tensor, mask: torch.Tensor) -> AlignerOutput:
        """Aggregate local features into global embeddings.

        Arguments
        ---------
        local : torch.Tensor
            ``(B, L, D)`` local features (projected frames or tokens).
        mask : torch.Tensor
            Boolean ``(B, L)``, True at positions that may vote.

        Returns
        -------
        AlignerOutput
            ``embedding (B, D)`` (not normalised), ``weights`` and ``scores``
            ``(B, K)`` (None for ``aggregation="mean"``).
        """
        if local.dim() != 3 or local.shape[-1] != self.dim:
            raise ValueError(
                f"SharedCodebook expects local features (B, L, {self.dim}), got "
                f"{tuple(local.shape)}"
            )
        mask = mask.to(device=local.device, dtype=torch.bool)
        if mask.shape != local.shape[:2]:
            raise ValueError(
                f"mask {tuple(mask.shape)} does not match local features "
                f"{tuple(local.shape)}"
            )
        if not is_tracing() and not bool(mask.any(dim=1).all()):
            raise ValueError(
                "SharedCodebook: a row has no position left to aggregate "
                "(all masked; a text of boundary tokens only?)"
            )
        if self.codebook is None:
            return AlignerOutput(masked_mean(local, mask), None, None)
        scores = self.scores(local, mask)
        weights = sparsemax(scores, dim=-1)
        embedding = weights @ self.codebook.float()
        return AlignerOutput(embedding.to(local.dtype), weights, scores)

    def aggregate_audio(
        self, frames: torch.Tensor, frame_mask: torch.Tensor
    ) -> AlignerOutput:
        """The global audio embedding from projected frames.

        Arguments
        ---------
        frames : torch.Tensor
            ``(B, T, D)``.
        frame_mask : torch.Tensor
            Boolean ``(B, T)``.

        Returns
        -------
        AlignerOutput
            See :meth:`forward`.
        """
        return self(frames, frame_mask)

    def aggregate_text(
        self, tokens: torch.Tensor, token_mask: torch.Tensor
    ) -> AlignerOutput:
        """The global text embedding from projected tokens (words only).

        Arguments
        ---------
        tokens : torch.Tensor
            ``(B, L, D)``.
        token_mask : torch.Tensor
            Boolean ``(B, L)``, True on real tokens (right padding).

        Returns
        -------
        AlignerOutput
            See :meth:`forward`.
        """
        return self(tokens, self.word_mask(token_mask))

    def word_mask(self, token_mask: torch.Tensor) -> torch.Tensor:
        """The token mask without the start and end tokens (if configured).

        Arguments
        ---------
        token_mask : torch.Tensor
            Boolean ``(B, L)``, right-padded.

        Returns
        -------
        torch.Tensor
            Boolean ``(B, L)``.

        Example
        -------
        >>> SharedCodebook(4, 2).word_mask(torch.tensor([[1, 1, 1, 1, 0]]).bool())
        tensor([[False,  True,  True, False, False]])
        """
        if not self.text_boundary_tokens:
            return token_mask
        mask = token_mask.clone().bool()
        lengths = mask.sum(dim=1)
        rows = torch.arange(mask.shape[0], device=mask.device)
        mask[:, 0] = False
        mask[rows, (lengths - 1).clamp(min=0)] = False
        return mask

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_codewords={self.num_codewords}, "
            f"temperature={self.temperature:g}, masking={self.masking}, "
            f"aggregation={self.aggregation}"
        )
