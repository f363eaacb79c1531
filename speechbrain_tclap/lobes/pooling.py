"""Aggregators that turn masked frame (or token) features into one vector.

An aggregator is any module with ``forward(features (B, T, C), mask (B, T))
-> (B, C)``; without one, CLAP uses the encoder's own clip embedding.
:class:`MaskedMeanPooling` is order-blind; :class:`TemporalTransformerPooling`
(time embeddings + a small Transformer) can tell "A followed by B" from "B
followed by A".

Authors
 * speechbrain-tclap developers 2026
"""

from typing import Optional

import torch
from torch import nn


def masked_mean(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the positions where ``mask`` is True.

    Arguments
    ---------
    features : torch.Tensor
        ``(B, T, C)``.
    mask : torch.Tensor
        Boolean ``(B, T)``; every row needs at least one True.

    Returns
    -------
    torch.Tensor
        ``(B, C)``.

    Example
    -------
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_mean(x, torch.tensor([[True, True, False]]))
    tensor([[2.]])
    """
    weights = mask.to(features.dtype).unsqueeze(-1)
    count = weights.sum(dim=1).clamp(min=1.0)
    return (features * weights).sum(dim=1) / count


class MaskedMeanPooling(nn.Module):
    """Average of the real frames (padding excluded).

    Example
    -------
    >>> pool = MaskedMeanPooling()
    >>> pool(torch.ones(2, 5, 3), torch.ones(2, 5, dtype=torch.bool)).shape
    torch.Size([2, 3])
    """

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool ``features`` over the masked time axis.

        Arguments
        ---------
        features : torch.Tensor
            ``(B, T, C)``.
        mask : torch.Tensor
            Boolean ``(B, T)``.

        Returns
        -------
        torch.Tensor
            ``(B, C)``.
        """
        return masked_mean(features, mask)


class TemporalTransformerPooling(nn.Module):
    """Order-aware pooling: time embeddings + a small Transformer + mean.

    Time embeddings start at unit scale relative to the normalised frames: at
    the usual std of 0.02 they are drowned by the content (order-blind).

    Arguments
    ---------
    input_size : int
        Frame feature width C.
    max_frames : int
        Longest frame sequence accepted.
    num_layers : int
        Transformer layers.
    nhead : int
        Attention heads (must divide ``input_size``).
    dropout : float
        Dropout inside the Transformer.
    time_init_std : float
        Std of the time-embedding initialisation.

    Example
    -------
    >>> pool = TemporalTransformerPooling(16, max_frames=8, nhead=2)
    >>> pool(torch.randn(2, 8, 16), torch.ones(2, 8, dtype=torch.bool)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self,
        input_size: int,
        max_frames: int,
        num_layers: int = 1,
        nhead: int = 4,
        dropout: float = 0.0,
        time_init_std: float = 1.0,
    ):
        super().__init__()
        self.max_frames = max_frames
        self.input_norm = nn.LayerNorm(input_size)
        self.time_embedding = nn.Parameter(
            torch.randn(max_frames, input_size) * time_init_std
        )
        layer = nn.TransformerEncoderLayer(
            d_model=input_size,
            nhead=nhead,
            dim_feedforward=2 * input_size,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(
            layer, num_layers=num_layers, enable_nested_tensor=False
        )
        self.output_norm = nn.LayerNorm(input_size)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool ``features`` with their order taken into account.

        Arguments
        ---------
        features : torch.Tensor
            ``(B, T, C)`` with ``T <= max_frames``.
        mask : torch.Tensor
            Boolean ``(B, T)``.

        Returns
        -------
        torch.Tensor
            ``(B, C)``.
        """
        num_frames = features.shape[1]
        if num_frames > self.max_frames:
            raise ValueError(
                f"TemporalTransformerPooling got {num_frames} frames but was "
                f"built for at most {self.max_frames} (max_frames)"
            )
        x = self.input_norm(features) + self.time_embedding[:num_frames]
        x = self.transformer(x, src_key_padding_mask=~mask)
        return masked_mean(self.output_norm(x), mask)


class ResidualTemporalPooling(nn.Module):
    """Masked mean plus a zero-initialised order-aware correction.

    ``mean(x) + W · TemporalTransformerPooling(x)`` with ``W`` zero at the
    start: a pretrained sentence encoder's mean embedding is kept, and training
    adds only what the order of the items requires.

    Arguments
    ---------
    input_size : int
        Feature width C.
    max_frames : int
        Longest sequence accepted.
    num_layers : int
        Transformer layers.
    nhead : int
        Attention heads.
    dropout : float
        Dropout inside the Transformer.
    time_init_std : float
        Std of the position-embedding initialisation.
    include_mean : bool
        ``False``: the correction alone (zero at the start), an order term to
        add to another aggregator's embedding (e.g. MGA-CLAP's codebook).

    Example
    -------
    >>> pool = ResidualTemporalPooling(16, max_frames=8, nhead=2)
    >>> x, mask = torch.randn(2, 8, 16), torch.ones(2, 8, dtype=torch.bool)
    >>> torch.allclose(pool(x, mask), x.mean(dim=1))  # before training
    True
    >>> ResidualTemporalPooling(16, 8, nhead=2, include_mean=False)(x, mask).abs().max().item()
    0.0
    """

    def __init__(
        self,
        input_size: int,
        max_frames: int,
        num_layers: int = 1,
        nhead: int = 4,
        dropout: float = 0.0,
        time_init_std: float = 1.0,
        include_mean: bool = True,
    ):
        super().__init__()
        self.include_mean = include_mean
        self.temporal = TemporalTransformerPooling(
            input_size, max_frames, num_layers, nhead, dropout, time_init_std
        )
        self.correction = nn.Linear(input_size, input_size)
        nn.init.zeros_(self.correction.weight)
        nn.init.zeros_(self.correction.bias)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked mean plus the learned order correction.

        Arguments
        ---------
        features : torch.Tensor
            ``(B, T, C)`` with ``T <= max_frames``.
        mask : torch.Tensor
            Boolean ``(B, T)``.

        Returns
        -------
        torch.Tensor
            ``(B, C)``.
        """
        correction = self.correction(self.temporal(features, mask))
        return (
            masked_mean(features, mask) + correction
            if self.include_mean
            else correction
        )


class FramePooling(nn.Module):
    """An aggregator chosen by name, so YAML can switch it with one override.

    A training YAML or the command line (``--audio_pooling=mean``) can then
    change the aggregator of an included model file, which HyperPyYAML cannot
    do by replacing a ``!new:`` node.

    Arguments
    ---------
    kind : str
        ``"mean"`` (:class:`MaskedMeanPooling`), ``"temporal_transformer"``
        (:class:`TemporalTransformerPooling`), ``"residual_temporal_transformer"``
        (:class:`ResidualTemporalPooling`, for pretrained token states),
        ``"temporal_correction"`` (its order term alone, added to an aligner's
        embedding) or ``"none"`` (no pooling:
        :class:`~speechbrain_tclap.lobes.clap.CLAP` uses the encoder's or
        aligner's own embedding; checkpoints unchanged).
    input_size : int
        Frame width (used by the Transformer).
    max_frames : int
        Longest frame sequence (used by the Transformer).
    num_layers : int
        Transformer layers.
    nhead : int
        Transformer heads.
    dropout : float
        Transformer dropout.
    time_init_std : float
        Std of the time embeddings.

    Example
    -------
    >>> pool = FramePooling("temporal_transformer", input_size=16, max_frames=8, nhead=2)
    >>> pool(torch.randn(2, 8, 16), torch.ones(2, 8, dtype=torch.bool)).shape
    torch.Size([2, 16])
    >>> FramePooling("mean")(torch.ones(1, 3, 4), torch.ones(1, 3, dtype=torch.bool)).shape
    torch.Size([1, 4])
    """

    KINDS = (
        "mean",
        "temporal_transformer",
        "residual_temporal_transformer",
        "temporal_correction",
        "none",
    )

    def __init__(
        self,
        kind: str = "mean",
        input_size: int = 0,
        max_frames: int = 0,
        num_layers: int = 1,
        nhead: int = 4,
        dropout: float = 0.0,
        time_init_std: float = 1.0,
    ):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(
                f"FramePooling kind must be one of {self.KINDS}, got {kind!r}"
            )
        self.kind = kind
        # The width the aggregator depends on (None: any width).
        self.input_size = None if kind in ("none", "mean") else input_size
        args = (input_size, max_frames, num_layers, nhead, dropout, time_init_std)
        if kind == "none":
            self.pool = None
        elif kind == "mean":
            self.pool = MaskedMeanPooling()
        elif kind == "temporal_transformer":
            self.pool = TemporalTransformerPooling(*args)
        else:
            self.pool = ResidualTemporalPooling(
                *args, include_mean=kind != "temporal_correction"
            )

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool ``features`` with the chosen aggregator.

        Arguments
        ---------
        features : torch.Tensor
            ``(B, T, C)``.
        mask : torch.Tensor
            Boolean ``(B, T)``.

        Returns
        -------
        torch.Tensor
            ``(B, C)``.
        """
        if self.pool is None:
            raise RuntimeError(
                "FramePooling(kind='none') pools nothing; CLAP treats it as absent"
            )
        return self.pool(features, mask)


def pooling_or_none(pooling: Optional[nn.Module]) -> Optional[nn.Module]:
    """``None`` for an absent pooling (``None`` or ``FramePooling("none")``).

    Arguments
    ---------
    pooling : torch.nn.Module, optional
        A pooling module.

    Returns
    -------
    torch.nn.Module or None
        The module, or ``None`` when it stands for no pooling.

    Example
    -------
    >>> pooling_or_none(FramePooling("none")) is None
    True
    """
    if isinstance(pooling, FramePooling) and pooling.kind == "none":
        return None
    return pooling
