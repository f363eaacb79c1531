"""CNN14 audio encoder (PANNs), as the MS-CLAP 2022 audio tower uses it.

Six convolution blocks (two 3x3 conv + BatchNorm + ReLU, then 2x2 average
pooling, except the last) turn a log-mel ``(B, T, n_mels)`` into a
``(B, 2048, T / 32, n_mels / 32)`` map. Parameter names are PANNs' and
msclap's, so msclap checkpoints load by stripping a prefix
(:mod:`speechbrain_tclap.convert.msclap`); the front end is
:class:`~speechbrain_tclap.lobes.features.CLAPFeatures` preset
``"msclap_2022"``. Unlike PANNs, with ``feat_lens`` the padding is zeroed
before every convolution, so in eval mode a clip's outputs do not depend on
the rest of the batch (in training, BatchNorm statistics include the zeros).

Authors
 * speechbrain-tclap developers 2026
"""

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_tclap.lobes.features import check_feat_lens
from speechbrain_tclap.lobes.outputs import AudioEncoderOutput
from speechbrain_tclap.lobes.pooling import masked_mean

#: Channel widths of the six PANNs CNN14 blocks.
CNN14_CHANNELS = (64, 128, 256, 512, 1024, 2048)


def _zero_padding(x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
    """Zeroes time steps ``>= lengths`` of a ``(B, C, T, F)`` map."""
    if lengths is None:
        return x
    keep = torch.arange(x.shape[2], device=x.device) < lengths[:, None]
    return x * keep[:, None, :, None].to(x.dtype)


class ConvBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and ReLU, then average pooling.

    Arguments
    ---------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels.

    Example
    -------
    >>> block = ConvBlock(1, 8)
    >>> x, lengths = block(torch.randn(2, 1, 10, 16), torch.tensor([10, 7]))
    >>> x.shape, lengths
    (torch.Size([2, 8, 5, 8]), tensor([5, 3]))
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride=1, padding=1, bias=False
        )
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, stride=1, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.out_channels = out_channels

    def forward(
        self,
        x: torch.Tensor,
        lengths: Optional[torch.Tensor] = None,
        pool_size: Tuple[int, int] = (2, 2),
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Applies the block.

        Arguments
        ---------
        x : torch.Tensor
            ``(B, C_in, T, F)``, zero past ``lengths``.
        lengths : torch.Tensor, optional
            Long ``(B,)`` valid time steps; ``None``: all are valid.
        pool_size : tuple of int
            Average-pooling kernel (and stride) over ``(time, frequency)``.

        Returns
        -------
        x : torch.Tensor
            ``(B, C_out, T // pool_t, F // pool_f)``, zero past the new
            lengths.
        lengths : torch.Tensor or None
            Valid time steps after pooling (``lengths // pool_t``).
        """
        x = F.relu(self.bn1(self.conv1(x)))
        x = _zero_padding(x, lengths)
        x = F.relu(self.bn2(self.conv2(x)))
        if pool_size != (1, 1):
            x = F.avg_pool2d(x, kernel_size=pool_size)
        if lengths is not None:
            lengths = torch.div(lengths, pool_size[0], rounding_mode="floor")
            x = _zero_padding(x, lengths)
        return x, lengths


class CNN14(nn.Module):
    """PANNs CNN14 with msclap's parameter names and masked pooling.

    ``forward(feats, feat_lens)`` returns an
    :class:`~speechbrain_tclap.lobes.outputs.AudioEncoderOutput`:

    * ``clip``: ``relu(fc1(max_t(h) + mean_t(h)))``, ``h`` the last map
      averaged over frequency, max and mean over valid steps: MS-CLAP 2022's
      ``embedding`` (``fc_audioset`` only feeds AudioSet tagging);
    * ``frames``: ``relu(fc1(h_t))`` per time step (one per ``frame_hop`` =
      32 input frames), in the space of ``clip``; zero where masked;
    * ``frame_mask``: the first ``max(1, valid_frames // 32)`` steps.

    Dropout acts in training only, as in PANNs. Inputs need at least
    ``frame_hop`` frames and have no upper limit.

    Attributes: ``output_dim`` (``embed_dim``), ``frame_hop`` (32),
    ``time_capacity`` (``None``: unbounded).

    Arguments
    ---------
    n_mels : int
        Mel bins of the input (64 in PANNs and msclap; at least 32).
    channels : sequence of int
        Widths of the six blocks (PANNs: 64, 128, 256, 512, 1024, 2048).
    embed_dim : int
        Width of ``fc1`` (msclap's ``out_emb``, 2048).
    with_audioset_head : bool
        Build ``fc_audioset`` (AudioSet tagging head) so that checkpoints
        carrying it load, and enable :meth:`audioset_logits`.
    num_classes : int
        Classes of the AudioSet head.
    block_dropout : float
        Dropout after every convolution block.
    embed_dropout : float
        Dropout before and after ``fc1``.

    Example
    -------
    >>> encoder = CNN14(n_mels=32, channels=(4, 4, 8, 8, 16, 16),
    ...                 embed_dim=12).eval()
    >>> out = encoder(torch.randn(2, 100, 32), torch.tensor([1.0, 0.5]))
    >>> out.clip.shape, out.frames.shape
    (torch.Size([2, 12]), torch.Size([2, 3, 12]))
    >>> out.frame_mask.tolist()
    [[True, True, True], [True, False, False]]
    """

    frame_hop = 32
    time_capacity = None

    def __init__(
        self,
        n_mels: int = 64,
        channels: Sequence[int] = CNN14_CHANNELS,
        embed_dim: int = 2048,
        with_audioset_head: bool = False,
        num_classes: int = 527,
        block_dropout: float = 0.2,
        embed_dropout: float = 0.5,
    ):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) != 6:
            raise ValueError(
                f"CNN14 has six blocks, got {len(channels)} channel widths"
            )
        if n_mels < 32:
            raise ValueError(
                f"n_mels={n_mels} is too small: five 2x2 poolings need at "
                "least 32 mel bins"
            )
        self.n_mels = n_mels
        self.channels = channels
        self.output_dim = int(embed_dim)
        self.block_dropout = block_dropout
        self.embed_dropout = embed_dropout
        self.bn0 = nn.BatchNorm2d(n_mels)
        widths = (1,) + channels
        for i in range(6):
            block = ConvBlock(widths[i], widths[i + 1])
            self.add_module(f"conv_block{i + 1}", block)
        self.fc1 = nn.Linear(channels[-1], embed_dim, bias=True)
        self.with_audioset_head = with_audioset_head
        if with_audioset_head:
            self.fc_audioset = nn.Linear(embed_dim, num_classes, bias=True)
        self._init_weights()

    def _init_weights(self):
        """PANNs' init: Xavier-uniform weights, zero biases, unit BN."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def blocks(self) -> Tuple[ConvBlock, ...]:
        """The six convolution blocks, in order."""
        return tuple(getattr(self, f"conv_block{i}") for i in range(1, 7))

    def _check_input(
        self, feats: torch.Tensor, feat_lens: Optional[torch.Tensor]
    ) -> None:
        """Raises ``ValueError`` naming the problem with the inputs."""
        if feats.dim() != 3 or feats.shape[2] != self.n_mels:
            raise ValueError(
                f"CNN14 expects feats of shape (B, T, {self.n_mels}), got "
                f"{tuple(feats.shape)}"
            )
        if feats.shape[1] < self.frame_hop:
            raise ValueError(
                f"CNN14 needs at least {self.frame_hop} frames (five 2x2 "
                f"poolings), got {feats.shape[1]}"
            )
        check_feat_lens(feat_lens, feats.shape[0])

    def _trunk(
        self, feats: torch.Tensor, feat_lens: Optional[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns ``h (B, T', C)`` (zero where masked) and the mask."""
        self._check_input(feats, feat_lens)
        batch, n_frames, _ = feats.shape
        x = feats.unsqueeze(1)  # (B, 1, T, F)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        lengths = None
        if feat_lens is not None:
            lengths = torch.round(feat_lens.to(x.device) * n_frames).long()
            lengths = lengths.clamp(1, n_frames)
            x = _zero_padding(x, lengths)
        for i, block in enumerate(self.blocks):
            pool = (2, 2) if i < 5 else (1, 1)
            x, lengths = block(x, lengths, pool)
            x = F.dropout(x, p=self.block_dropout, training=self.training)
        h = x.mean(dim=3).transpose(1, 2)  # (B, T', C)
        if lengths is None:
            mask = torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)
        else:
            # a clip shorter than frame_hop keeps one (partial) frame
            lengths = lengths.clamp(min=1)
            mask = torch.arange(h.shape[1], device=h.device) < lengths[:, None]
        return h, mask

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """``dropout(relu(fc1(dropout(x))))`` (PANNs' embedding)."""
        x = F.dropout(x, p=self.embed_dropout, training=self.training)
        x = F.relu(self.fc1(x))
        return F.dropout(x, p=self.embed_dropout, training=self.training)

    @staticmethod
    def _max_plus_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``max_t + mean_t`` of ``(B, T', C)`` over valid steps."""
        peak = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        return peak + masked_mean(h, mask)

    def forward(
        self, feats: torch.Tensor, feat_lens: Optional[torch.Tensor] = None
    ) -> AudioEncoderOutput:
        """Encodes a batch of log-mel spectrograms.

        Arguments
        ---------
        feats : torch.Tensor
            Log-mel ``(B, T, n_mels)``, ``T >= 32``.
        feat_lens : torch.Tensor, optional
            Relative lengths ``(B,)`` in ``(0, 1]``; ``None`` means all
            frames are real (PANNs' and msclap's computation exactly).

        Returns
        -------
        AudioEncoderOutput
            ``clip (B, embed_dim)``, ``frames (B, T // 32, embed_dim)``
            (zero where masked) and ``frame_mask (B, T // 32)``.

        Example
        -------
        >>> encoder = CNN14(n_mels=32, channels=(4, 4, 8, 8, 16, 16),
        ...                 embed_dim=12).eval()
        >>> out = encoder(torch.randn(3, 64, 32))
        >>> out.clip.shape, out.frames.shape, bool(out.frame_mask.all())
        (torch.Size([3, 12]), torch.Size([3, 2, 12]), True)
        """
        h, mask = self._trunk(feats, feat_lens)
        clip = self._embed(self._max_plus_mean(h, mask))
        frames = self._embed(h) * mask.unsqueeze(-1).to(h.dtype)
        return AudioEncoderOutput(clip, frames, mask)

    def audioset_logits(
        self, feats: torch.Tensor, feat_lens: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """AudioSet tagging logits (PANNs' ``clipwise_output`` before sigmoid).

        As in PANNs, the head reads ``relu(fc1(.))`` before the output
        dropout.

        Arguments
        ---------
        feats : torch.Tensor
            Log-mel ``(B, T, n_mels)``.
        feat_lens : torch.Tensor, optional
            Relative lengths ``(B,)``.

        Returns
        -------
        torch.Tensor
            ``(B, num_classes)``.

        Example
        -------
        >>> encoder = CNN14(n_mels=32, channels=(4, 4, 8, 8, 16, 16),
        ...                 embed_dim=12, with_audioset_head=True,
        ...                 num_classes=5).eval()
        >>> encoder.audioset_logits(torch.randn(2, 64, 32)).shape
        torch.Size([2, 5])
        """
        if not self.with_audioset_head:
            raise RuntimeError("this CNN14 was built with with_audioset_head=False")
        h, mask = self._trunk(feats, feat_lens)
        x = self._max_plus_mean(h, mask)
        x = F.dropout(x, p=self.embed_dropout, training=self.training)
        return self.fc_audioset(F.relu(self.fc1(x)))
