"""Aggregators that turn masked frame (or token) features into one vector.

An aggregator is any module with ``forward(features (B, T, C), mask (B, T))
-> (B, C)``. The CLAP module takes one for the audio side; when none is given
the encoder's own clip embedding is used.

* :class:`MaskedMeanPooling` is HTSAT's average pooling restricted to real
  frames. It is (nearly) blind to the order of events.
* :class:`TemporalTransformerPooling` adds learned time embeddings to the
  frames and runs a small Transformer over the real frames before pooling, so
  "A followed by B" and "B followed by A" can give different embeddings.

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

    The time embeddings are initialised at unit scale relative to the
    normalised frames: a prototype here showed that positions at the usual
    std of 0.02 are drowned by the content and the model stays order-blind.

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

    ``mean(x) + W · TemporalTransformerPooling(x)`` with ``W`` initialised at
    zero: at the start it is exactly the masked mean of the inputs, so a
    pretrained sentence encoder's embedding (mean over tokens) is kept as it
    is, and training adds only what the order of the items requires ("A
    followed by B" vs "B followed by A", which mean-pooled token states of a
    pretrained language model hardly separate).

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
        add to another aggregator's embedding (e.g. beside MGA-CLAP's
        codebook, :class:`~speechbrain_tclap.lobes.clap.CLAP`).

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
        return masked_mean(features, mask) + correction if self.include_mean else correction


class FramePooling(nn.Module):
    """An aggregator chosen by name, so YAML can switch it with one override.

    ``kind="mean"`` is :class:`MaskedMeanPooling` (order-blind);
    ``kind="temporal_transformer"`` is :class:`TemporalTransformerPooling`
    (order-aware); ``kind="residual_temporal_transformer"`` is
    :class:`ResidualTemporalPooling` (the mean plus a zero-initialised
    order-aware term: for pretrained token states);
    ``kind="temporal_correction"`` is that order term alone (zero at the
    start: added to an aligner's embedding); ``kind="none"`` holds nothing
    and stands for "no pooling module" (:class:`~speechbrain_tclap.lobes.clap.CLAP`
    then uses the encoder's or the aligner's own embedding), so a model file
    can switch a head off without changing its checkpoints. Keeping every option's arguments in one mapping lets a
    training YAML (or the command line, ``--audio_pooling=mean``) change the
    aggregator of an included model file, which HyperPyYAML cannot do by
    replacing a ``!new:`` node.

    Arguments
    ---------
    kind : str
        ``"mean"``, ``"temporal_transformer"`` or
        ``"residual_temporal_transformer"``, ``"temporal_correction"`` or
        ``"none"``.
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

    KINDS = ("mean", "temporal_transformer", "residual_temporal_transformer", "temporal_correction", "none")

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
            raise ValueError(f"FramePooling kind must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        args = (input_size, max_frames, num_layers, nhead, dropout, time_init_std)
        if kind == "none":
            self.pool = None
        elif kind == "mean":
            self.pool = MaskedMeanPooling()
        elif kind == "temporal_transformer":
            self.pool = TemporalTransformerPooling(*args)
        else:
            self.pool = ResidualTemporalPooling(*args, include_mean=kind != "temporal_correction")

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
            raise RuntimeError("FramePooling(kind='none') pools nothing; CLAP treats it as absent")
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
