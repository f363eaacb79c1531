"""Output records shared by the audio and text towers.

Every audio encoder returns an :class:`AudioEncoderOutput` and every text
encoder a :class:`TextEncoderOutput`, so that pooling, codebook aligners,
projections and frame-level metrics can be swapped in YAML.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import NamedTuple

import torch


class AudioEncoderOutput(NamedTuple):
    """What an audio encoder returns.

    Arguments
    ---------
    clip : torch.Tensor
        Clip-level embedding, shape ``(B, C)``.
    frames : torch.Tensor
        Frame-level embeddings, shape ``(B, T, C)``.
    frame_mask : torch.Tensor
        Boolean ``(B, T)``, ``True`` where a frame holds real audio.

    Example
    -------
    >>> out = AudioEncoderOutput(
    ...     torch.zeros(2, 8), torch.zeros(2, 5, 8), torch.ones(2, 5).bool()
    ... )
    >>> out.frames.shape
    torch.Size([2, 5, 8])
    """

    clip: torch.Tensor
    frames: torch.Tensor
    frame_mask: torch.Tensor


class TextEncoderOutput(NamedTuple):
    """What a text encoder returns.

    Arguments
    ---------
    pooled : torch.Tensor
        Sentence embedding, shape ``(B, C)``.
    tokens : torch.Tensor
        Token states, shape ``(B, L, C)``.
    token_mask : torch.Tensor
        Boolean ``(B, L)``, ``True`` for real tokens.

    Example
    -------
    >>> out = TextEncoderOutput(
    ...     torch.zeros(2, 8), torch.zeros(2, 4, 8), torch.ones(2, 4).bool()
    ... )
    >>> out.pooled.shape
    torch.Size([2, 8])
    """

    pooled: torch.Tensor
    tokens: torch.Tensor
    token_mask: torch.Tensor
