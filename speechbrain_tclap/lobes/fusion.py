"""Feature fusion for HTS-AT (LAION-CLAP ``aff_2d``, HF ``enable_fusion``).

A clip longer than the window is seen through four log-mel views stacked as
channels: the whole clip squeezed to the window (the *global* view) and three
window-long crops from its front, middle and back (the *local* views); HTS-AT
merges them in its patch embedding with :class:`AFFBlock` (LAION / HF
parameter names). Clips that fit get four identical copies and no fusion.

LAION's loader and HF's ``ClapFeatureExtractor`` draw the crops at random
(HF even marks a random clip "longer" when none is), so embeddings change
from call to call. :func:`fusion_inputs` places them deterministically at
starts LAION can always draw (:func:`fusion_chunk_starts` within
:func:`laion_start_ranges`). ``is_longer`` is true exactly for clips with
more than ``window`` real frames, as in LAION and HF.

The global view is a bilinear resize (``align_corners=False``) without
antialiasing: HF's computation, and LAION's ``torchvision`` ``Resize`` before
torchvision 0.17; ``antialias=True`` reproduces newer torchvision.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

FUSION_CHANNELS = 4


class AFFBlock(nn.Module):
    """Attentional feature fusion of two 2-D feature maps (LAION ``AFF``).

    With ``s = x + residual`` and ``w = sigmoid(local_att(s) + global_att(s))``
    (1x1-conv bottlenecks with BatchNorm; ``global_att`` after average
    pooling), the output is ``2 * x * w + 2 * residual * (1 - w)``. In training
    a batch of one is duplicated for BatchNorm, as LAION does.

    Arguments
    ---------
    channels : int
        Channels of both inputs.
    reduction : int
        Bottleneck reduction (LAION and HF use 4).

    Example
    -------
    >>> block = AFFBlock(8).eval()
    >>> x, residual = torch.randn(2, 8, 4, 6), torch.randn(2, 8, 4, 6)
    >>> block(x, residual).shape
    torch.Size([2, 8, 4, 6])
    >>> sorted({k.split(".")[0] + "." + k.split(".")[1]
    ...         for k in block.state_dict()})  # doctest: +NORMALIZE_WHITESPACE
    ['global_att.1', 'global_att.2', 'global_att.4', 'global_att.5',
     'local_att.0', 'local_att.1', 'local_att.3', 'local_att.4']
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        inner = int(channels // reduction)
        if inner < 1:
            raise ValueError(
                f"reduction={reduction} leaves no bottleneck channels for "
                f"{channels} channels"
            )
        self.local_att = nn.Sequential(
            nn.Conv2d(channels, inner, kernel_size=1),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner, channels, kernel_size=1),
            nn.BatchNorm2d(channels),
        )
        self.global_att = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, inner, kernel_size=1),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner, channels, kernel_size=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Fuses ``x`` (global view) with ``residual`` (local views).

        Arguments
        ---------
        x : torch.Tensor
            ``(B, channels, H, W)``.
        residual : torch.Tensor
            ``(B, channels, H, W)``.

        Returns
        -------
        torch.Tensor
            ``(B, channels, H, W)``.
        """
        summed = x + residual
        single = self.training and summed.shape[0] == 1
        if single:
            summed = summed.expand(2, -1, -1, -1)
        gate = torch.sigmoid(self.local_att(summed) + self.global_att(summed))
        if single:
            gate = gate[:1]
        return 2 * x * gate + 2 * residual * (1 - gate)


def laion_start_ranges(num_frames: int, window: int) -> Tuple[range, ...]:
    """The three ranges LAION-CLAP (and HF) draw the local-view starts from.

    The ``num_frames - window + 1`` possible starts are split into three
    consecutive ranges as ``np.array_split`` does (longer ones first); an empty
    middle or back range becomes ``[0]`` (LAION's ``get_audio_features``, HF's
    ``_random_mel_fusion``).

    Arguments
    ---------
    num_frames : int
        Real frames of the clip (more than ``window``).
    window : int
        Frames per view.

    Returns
    -------
    tuple of range
        Front, middle and back ranges of start frames.

    Example
    -------
    >>> laion_start_ranges(1002, 1001)
    (range(0, 1), range(1, 2), range(0, 1))
    >>> laion_start_ranges(1008, 1001)
    (range(0, 3), range(3, 6), range(6, 8))
    """
    if window < 1 or num_frames <= window:
        raise ValueError(
            f"local views need a clip longer than the window: got "
            f"{num_frames} frames for a window of {window}"
        )
    starts = num_frames - window + 1
    size, extra = divmod(starts, 3)
    ranges = []
    begin = 0
    for part in range(3):
        end = begin + size + (1 if part < extra else 0)
        ranges.append(range(begin, end) if end > begin else range(0, 1))
        begin = end
    return tuple(ranges)


def fusion_chunk_starts(num_frames: int, window: int) -> Tuple[int, int, int]:
    """Start frames of the front, middle and back local views.

    Each one LAION could draw from :func:`laion_start_ranges`: the first start
    of the front range, the middle start nearest ``(num_frames - window) // 2``
    and the last start of the back range. Except for clips one or three frames
    longer than the window, ``(0, (num_frames - window) // 2, num_frames - window)``.

    Arguments
    ---------
    num_frames : int
        Real frames of the clip (more than ``window``).
    window : int
        Frames per view.

    Returns
    -------
    tuple of int
        ``(front, middle, back)`` start frames.

    Example
    -------
    >>> fusion_chunk_starts(2001, 1001)
    (0, 500, 1000)
    >>> fusion_chunk_starts(1002, 1001), fusion_chunk_starts(1004, 1001)
    ((0, 1, 0), (0, 2, 3))
    """
    front, middle, back = laion_start_ranges(num_frames, window)
    centred = (num_frames - window) // 2
    return front[0], min(max(centred, middle[0]), middle[-1]), back[-1]


class FusionInputs(NamedTuple):
    """The 4-channel input of a fusion HTS-AT.

    Arguments
    ---------
    feats : torch.Tensor
        ``(B, 4, T, n_mels)``: global view, front, middle and back views
        (four copies of the clip for clips that fit in the window).
    feat_lens : torch.Tensor
        ``(B,)`` relative lengths of the real frames within ``T``.
    is_longer : torch.Tensor
        Bool ``(B,)``: the clip is longer than the window and gets fused.

    Example
    -------
    >>> inputs = FusionInputs(torch.zeros(1, 4, 8, 2), torch.ones(1),
    ...                       torch.zeros(1, dtype=torch.bool))
    >>> inputs.feats.shape
    torch.Size([1, 4, 8, 2])
    """

    feats: torch.Tensor
    feat_lens: torch.Tensor
    is_longer: torch.Tensor


def fusion_inputs(
    feats: torch.Tensor,
    feat_lens: Optional[torch.Tensor] = None,
    window: int = 1001,
    antialias: bool = False,
) -> FusionInputs:
    """Builds the fusion views of a batch of log-mels, deterministically.

    A clip with ``n > window`` real frames gets its global view (its ``n``
    frames resized to ``window``) and the windows at
    :func:`fusion_chunk_starts`; a shorter clip gets four copies of itself and
    keeps its relative length. The output has ``window`` frames if any clip is
    longer, else ``min(T, window)``.

    Arguments
    ---------
    feats : torch.Tensor
        Log-mel ``(B, T, n_mels)`` of any length.
    feat_lens : torch.Tensor, optional
        Relative lengths ``(B,)`` in ``(0, 1]``; ``None`` means all frames
        are real.
    window : int
        Frames of a view (LAION: 10 s at 48 kHz, hop 480 → 1001).
    antialias : bool
        Antialias the global view (LAION's code with torchvision >= 0.17);
        off matches HF and LAION's training.

    Returns
    -------
    FusionInputs
        ``feats (B, 4, T', n_mels)``, ``feat_lens (B,)``, ``is_longer (B,)``.

    Example
    -------
    >>> mels = torch.randn(2, 30, 4)
    >>> out = fusion_inputs(mels, torch.tensor([1.0, 0.2]), window=10)
    >>> out.feats.shape, out.is_longer.tolist()
    (torch.Size([2, 4, 10, 4]), [True, False])
    >>> [round(x, 2) for x in out.feat_lens.tolist()]  # the short clip: 6/10
    [1.0, 0.6]
    >>> torch.equal(out.feats[0, 3], mels[0, 20:])  # back view: last window
    True
    >>> bool((out.feats[1] == out.feats[1, :1]).all())  # short: 4 copies
    True
    """
    if feats.dim() != 3:
        raise ValueError(
            f"fusion_inputs expects log-mels (B, T, n_mels), got "
            f"{tuple(feats.shape)}"
        )
    batch, n_frames, n_mels = feats.shape
    if window < 1:
        raise ValueError(f"window must be positive, got {window}")
    if feat_lens is None:
        lengths = torch.full((batch,), n_frames, dtype=torch.long)
    else:
        if feat_lens.shape != (batch,):
            raise ValueError(
                f"feat_lens must have shape ({batch},), got "
                f"{tuple(feat_lens.shape)}"
            )
        lengths = torch.round(feat_lens.detach().cpu().double() * n_frames)
        lengths = lengths.long().clamp(1, n_frames)
    is_longer = lengths > window
    out_frames = window if bool(is_longer.any()) else min(n_frames, window)

    base = feats[:, :out_frames]
    if base.shape[1] < out_frames:
        base = F.pad(base, (0, 0, 0, out_frames - base.shape[1]))
    views = base.unsqueeze(1).repeat(1, FUSION_CHANNELS, 1, 1)
    for row in is_longer.nonzero().flatten().tolist():
        length = int(lengths[row])
        clip = feats[row, :length]
        squeezed = F.interpolate(
            clip[None, None],
            size=(window, n_mels),
            mode="bilinear",
            align_corners=False,
            antialias=antialias,
        )[0, 0]
        crops = [clip[s : s + window] for s in fusion_chunk_starts(length, window)]
        views[row] = torch.stack([squeezed] + crops)
    out_lens = torch.where(
        is_longer,
        torch.ones(batch, dtype=torch.double),
        lengths.double() / out_frames,
    )
    device = feats.device
    return FusionInputs(
        views,
        out_lens.to(device=device, dtype=torch.float32),
        is_longer.to(device),
    )
