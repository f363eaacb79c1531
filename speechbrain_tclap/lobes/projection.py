"""Projection heads mapping encoder outputs into the joint embedding space.

Parameter names follow the published checkpoints, so that converted weights
load with ``strict=True``: :class:`MLPProjection` matches LAION-CLAP's
``audio_projection`` / ``text_projection`` (``0.*``, ``2.*``) and
:class:`ResidualProjection` matches MS-CLAP's ``Projection``
(``linear1``, ``linear2``, ``layer_norm``).

Authors
 * speechbrain-tclap developers 2026
"""

from typing import Callable, Optional

import torch
from torch import nn


class MLPProjection(nn.Sequential):
    """Linear -> activation -> Linear, LAION-CLAP's projection head.

    A ``nn.Sequential`` so that the state-dict keys are ``0.weight``,
    ``0.bias``, ``2.weight``, ``2.bias``, exactly as in LAION checkpoints.

    Arguments
    ---------
    input_size : int
        Width of the encoder output.
    output_size : int
        Width of the joint embedding space.
    hidden_size : int, optional
        Width of the hidden layer; default ``output_size`` (as in LAION).
    activation : Callable[[], nn.Module]
        Builds the activation module; default ``nn.ReLU``.

    Example
    -------
    >>> proj = MLPProjection(768, 512)
    >>> proj(torch.randn(4, 768)).shape
    torch.Size([4, 512])
    >>> list(proj.state_dict())
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_size: Optional[int] = None,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ):
        hidden_size = output_size if hidden_size is None else hidden_size
        super().__init__(
            nn.Linear(input_size, hidden_size),
            activation(),
            nn.Linear(hidden_size, output_size),
        )
        self.input_size = input_size
        self.output_size = output_size
        self.output_dim = output_size


class ResidualProjection(nn.Module):
    """MS-CLAP's projection head: a residual two-layer MLP with LayerNorm.

    ``h = linear1(x)``; ``out = layer_norm(h + dropout(linear2(gelu(h))))``.
    Both linear layers have no bias, as in MS-CLAP 2022 and 2023.

    Arguments
    ---------
    input_size : int
        Width of the encoder output.
    output_size : int
        Width of the joint embedding space (1024 in MS-CLAP).
    dropout : float
        Dropout on the second branch (0.5 in MS-CLAP).
    bias : bool
        Whether the linear layers have biases (``False`` in MS-CLAP).

    Example
    -------
    >>> proj = ResidualProjection(768, 1024)
    >>> proj(torch.randn(4, 768)).shape
    torch.Size([4, 1024])
    >>> sorted(proj.state_dict())
    ['layer_norm.bias', 'layer_norm.weight', 'linear1.weight', 'linear2.weight']
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        dropout: float = 0.5,
        bias: bool = False,
    ):
        super().__init__()
        self.linear1 = nn.Linear(input_size, output_size, bias=bias)
        self.linear2 = nn.Linear(output_size, output_size, bias=bias)
        self.activation = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(output_size)
        self.input_size = input_size
        self.output_size = output_size
        self.output_dim = output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projects ``x``.

        Arguments
        ---------
        x : torch.Tensor
            Input of shape ``(..., input_size)``.

        Returns
        -------
        torch.Tensor
            Output of shape ``(..., output_size)``; not L2-normalised.

        Example
        -------
        >>> ResidualProjection(8, 4)(torch.randn(2, 3, 8)).shape
        torch.Size([2, 3, 4])
        """
        hidden = self.linear1(x)
        branch = self.drop(self.linear2(self.activation(hidden)))
        return self.layer_norm(hidden + branch)


class LinearProjection(nn.Linear):
    """A single linear layer, the head for small models.

    Subclasses ``nn.Linear``, so its keys are ``weight`` and ``bias``.

    Arguments
    ---------
    input_size : int
        Width of the encoder output.
    output_size : int
        Width of the joint embedding space.
    bias : bool
        Whether the layer has a bias.

    Example
    -------
    >>> proj = LinearProjection(32, 16)
    >>> proj(torch.randn(4, 32)).shape
    torch.Size([4, 16])
    >>> list(proj.state_dict())
    ['weight', 'bias']
    """

    def __init__(self, input_size: int, output_size: int, bias: bool = True):
        super().__init__(input_size, output_size, bias=bias)
        self.input_size = input_size
        self.output_size = output_size
        self.output_dim = output_size
