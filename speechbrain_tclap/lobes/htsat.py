"""HTS-AT audio encoder: a Swin Transformer over a log-mel "image".

The log-mel ``(B, T, n_mels)`` is cut into ``freq_ratio`` time chunks stacked
along frequency into a square image (LAION-CLAP's ``reshape_wav2img``) and run
through shifted-window attention stages; the last map is put back into time
order: one embedding per ``frame_hop`` input frames, plus a clip embedding.
Parameter names follow LAION-CLAP's ``HTSAT_Swin_Transformer``, so LAION and HF
checkpoints map onto it with :mod:`speechbrain_tclap.convert.htsat_keys`.
Unlike the references, short inputs are padded and masked by default rather
than stretched (:class:`HTSAT`, ``time_fill``); ``enable_fusion=True`` builds
LAION's feature-fusion variant (:mod:`speechbrain_tclap.lobes.fusion`).

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_tclap.lobes.fusion import (
    FUSION_CHANNELS,
    AFFBlock,
    FusionInputs,
    fusion_inputs,
)
from speechbrain_tclap.lobes.features import check_feat_lens
from speechbrain_tclap.lobes.outputs import AudioEncoderOutput
from speechbrain_tclap.lobes.pooling import masked_mean
from speechbrain_tclap.utils.tracing import is_tracing, untraced_inference

TIME_FILLS = ("pad", "repeatpad", "stretch")

# Additive bias between the cyclic-shift regions of a shifted window; LAION,
# HF and the original Swin all use -100, so parity needs the same value.
SHIFT_MASK_VALUE = -100.0

# oneDNN linear with fused epilogues (bias, GELU, residual add); the op
# PyTorch's own CPU compiler emits. None where PyTorch is built without it.
_ONEDNN_LINEAR = (
    getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if torch.backends.mkldnn.is_available()
    else None
)

#: Configurations without a model file: doctests and unit tests build them
#: offline. Published architectures live in ``hparams/models/*.yaml`` only
#: (e.g. ``laion_clap_htsat_tiny.yaml``, ``laion_clap_htsat_base.yaml``).
HTSAT_PRESETS: Dict[str, dict] = {
    # A few thousand parameters: doctests and unit tests.
    "test": dict(
        n_mels=16,
        spec_size=32,
        patch_size=4,
        patch_stride=4,
        embed_dim=8,
        depths=(1, 2),
        num_heads=(1, 2),
        window_size=4,
    ),
}


def _pair(value: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """Returns ``(value, value)`` for an int, or checks a 2-sequence."""
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {value}")
    return value


def _cpu_autocast() -> bool:
    """Whether CPU autocast is on (the call changed in torch 2.4)."""
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:
        return torch.is_autocast_cpu_enabled()


def linear(
    x: torch.Tensor,
    layer: nn.Linear,
    gelu: bool = False,
    residual: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """``residual + gelu?(layer(x))``, fused by oneDNN in CPU fp32 inference.

    Bias, exact (erf) GELU and residual sum run in the matrix product's
    epilogue, not as extra passes; other devices, dtypes, training and
    tracing take the plain ops.

    Arguments
    ---------
    x : torch.Tensor
        ``(..., in_features)``.
    layer : torch.nn.Linear
        The projection.
    gelu : bool
        Apply GELU after the projection (not with ``residual``).
    residual : torch.Tensor, optional
        ``(..., out_features)`` added to the output.

    Returns
    -------
    torch.Tensor
        ``(..., out_features)``.

    Example
    -------
    >>> layer = nn.Linear(4, 6)
    >>> x = torch.randn(2, 3, 4)
    >>> with torch.no_grad():
    ...     fused = linear(x, layer, gelu=True)
    ...     plain = F.gelu(layer(x))
    >>> torch.allclose(fused, plain, atol=1e-6)
    True
    """
    if gelu and residual is not None:
        raise ValueError("linear() fuses either gelu or a residual, not both")
    if (
        _ONEDNN_LINEAR is not None
        and x.device.type == "cpu"
        and x.dtype == layer.weight.dtype == torch.float32
        and not _cpu_autocast()
        and untraced_inference(x, layer.weight, layer.bias, residual)
    ):
        if residual is not None:
            return _ONEDNN_LINEAR.binary(x, residual, layer.weight, layer.bias, "add")
        if gelu:
            return _ONEDNN_LINEAR(x, layer.weight, layer.bias, "gelu", [], "none")
        return _ONEDNN_LINEAR(x, layer.weight, layer.bias, "none", [], "")
    out = layer(x)
    if gelu:
        out = F.gelu(out)
    return out if residual is None else residual + out


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Cuts a feature map into non-overlapping square windows.

    Arguments
    ---------
    x : torch.Tensor
        Feature map ``(B, H, W, C)``; ``H`` and ``W`` are multiples of
        ``window_size``.
    window_size : int
        Side of a window, in tokens.

    Returns
    -------
    torch.Tensor
        ``(B * num_windows, window_size * window_size, C)``, windows in
        row-major order within each batch item.

    Example
    -------
    >>> x = torch.arange(16.0).view(1, 4, 4, 1)
    >>> windows = window_partition(x, 2)
    >>> windows.shape
    torch.Size([4, 4, 1])
    >>> windows[1, :, 0]
    tensor([2., 3., 6., 7.])
    """
    batch, height, width, channels = x.shape
    x = x.view(
        batch,
        height // window_size,
        window_size,
        width // window_size,
        window_size,
        channels,
    )
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, channels)


def window_order(
    height: int, width: int, window_size: int, shift_size: int = 0
) -> torch.Tensor:
    """Token permutation that cyclically shifts a map and cuts it into windows.

    ``tokens[:, order]`` equals rolling the ``(B, H, W, C)`` map by
    ``-shift_size`` on both axes and applying :func:`window_partition`, in
    one gather; ``argsort(order)`` undoes it.

    Arguments
    ---------
    height : int
        Height of the token map.
    width : int
        Width of the token map.
    window_size : int
        Side of a window, in tokens.
    shift_size : int
        Cyclic shift, in tokens.

    Returns
    -------
    torch.Tensor
        Long ``(height * width,)``: raster index of the token at each
        position of the windowed sequence.

    Example
    -------
    >>> window_order(4, 4, 2)
    tensor([ 0,  1,  4,  5,  2,  3,  6,  7,  8,  9, 12, 13, 10, 11, 14, 15])
    >>> tokens = torch.randn(2, 16, 3)
    >>> shifted = torch.roll(tokens.view(2, 4, 4, 3), (-1, -1), dims=(1, 2))
    >>> torch.equal(
    ...     tokens[:, window_order(4, 4, 2, 1)].view(-1, 4, 3),
    ...     window_partition(shifted, 2),
    ... )
    True
    """
    raster = torch.arange(height * width).view(1, height, width, 1)
    if shift_size:
        raster = torch.roll(raster, (-shift_size, -shift_size), dims=(1, 2))
    return window_partition(raster, window_size).flatten()


def relative_position_index(window_size: int) -> torch.Tensor:
    """Index into a Swin relative-position bias table for every token pair.

    Arguments
    ---------
    window_size : int
        Side of a window, in tokens.

    Returns
    -------
    torch.Tensor
        Long tensor ``(N, N)`` with ``N = window_size ** 2``; entry ``(i, j)``
        indexes the ``(2 * window_size - 1) ** 2`` table by the offset of
        token ``j`` from token ``i``.

    Example
    -------
    >>> index = relative_position_index(2)
    >>> index.shape
    torch.Size([4, 4])
    >>> int(index.max()), int(index.diagonal().unique())
    (8, 4)
    """
    coords = torch.stack(
        torch.meshgrid(
            torch.arange(window_size), torch.arange(window_size), indexing="ij"
        )
    ).flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :] + (window_size - 1)
    return offsets[0] * (2 * window_size - 1) + offsets[1]


def shift_window_mask(
    height: int, width: int, window_size: int, shift_size: int
) -> torch.Tensor:
    """Additive mask that keeps the cyclic-shift regions of a window apart.

    After a cyclic shift, a window at the border holds tokens from up to
    four regions that are not neighbours in the unshifted map; attention
    between different regions gets ``SHIFT_MASK_VALUE``.

    Arguments
    ---------
    height : int
        Height of the feature map, in tokens.
    width : int
        Width of the feature map, in tokens.
    window_size : int
        Side of a window, in tokens.
    shift_size : int
        Cyclic shift, in tokens (``0 < shift_size < window_size``).

    Returns
    -------
    torch.Tensor
        Float ``(num_windows, N, N)`` with ``N = window_size ** 2``; 0 within
        a region, ``SHIFT_MASK_VALUE`` across regions.

    Example
    -------
    >>> mask = shift_window_mask(4, 4, 2, 1)
    >>> mask.shape
    torch.Size([4, 4, 4])
    >>> int((mask[0] != 0).sum()), int((mask[3] != 0).sum())
    (0, 12)
    """

    def regions(size):
        index = torch.arange(size)
        return (index >= size - window_size).long() + (
            index >= size - shift_size
        ).long()

    region = regions(height)[:, None] * 3 + regions(width)[None, :]
    region = window_partition(region[None, :, :, None].float(), window_size)
    region = region.squeeze(-1)
    different = region[:, None, :] != region[:, :, None]
    return different.float() * SHIFT_MASK_VALUE


class DropPath(nn.Module):
    """Stochastic depth: drops a whole residual branch per example.

    Arguments
    ---------
    drop_prob : float
        Probability of dropping the branch during training.

    Example
    -------
    >>> drop = DropPath(0.5).eval()
    >>> x = torch.ones(4, 3, 2)
    >>> torch.equal(drop(x), x)
    True
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drops (and rescales) the branch ``x`` per example in training.

        Arguments
        ---------
        x : torch.Tensor
            Residual branch output ``(B, ...)``.

        Returns
        -------
        torch.Tensor
            Same shape as ``x``.
        """
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = x.new_empty(shape).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class Mlp(nn.Module):
    """Transformer feed-forward block: Linear, GELU, Linear (LAION names).

    Arguments
    ---------
    dim : int
        Input and output width.
    hidden_dim : int
        Hidden width.
    dropout : float
        Dropout after each Linear.

    Example
    -------
    >>> mlp = Mlp(8, 32)
    >>> mlp(torch.randn(2, 5, 8)).shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, residual: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Applies the block (GELU is the exact, erf form).

        Arguments
        ---------
        x : torch.Tensor
            ``(..., dim)``.
        residual : torch.Tensor, optional
            ``(..., dim)`` added to the output (fused into ``fc2`` in
            inference, see :func:`linear`).

        Returns
        -------
        torch.Tensor
            ``(..., dim)``.
        """
        hidden = self.drop(linear(x, self.fc1, gelu=True))
        if residual is None or self.training:
            out = self.drop(linear(hidden, self.fc2))
            return out if residual is None else residual + out
        return linear(hidden, self.fc2, residual=residual)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with relative position bias.

    Uses ``torch.nn.functional.scaled_dot_product_attention``; the relative
    position bias, the shift mask and the padding mask are passed as one
    additive float mask.

    Arguments
    ---------
    dim : int
        Token width.
    window_size : int
        Side of a window, in tokens.
    num_heads : int
        Number of heads; must divide ``dim``.
    qkv_bias : bool
        Whether the fused query/key/value projection has a bias.
    attn_drop : float
        Dropout on attention weights (training only).
    proj_drop : float
        Dropout after the output projection.

    Example
    -------
    >>> attn = WindowAttention(8, window_size=2, num_heads=2)
    >>> windows = torch.randn(6, 4, 8)
    >>> attn(windows).shape
    torch.Size([6, 4, 8])
    """

    def __init__(
        self,
        dim: int,
        window_size: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"width {dim} is not a multiple of num_heads={num_heads}")
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_drop = attn_drop
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # derived from window_size, so kept out of checkpoints
        self.register_buffer(
            "relative_position_index",
            relative_position_index(window_size),
            persistent=False,
        )
        self._bias, self._bias_key = None, None
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def relative_position_bias(self) -> torch.Tensor:
        """Gathers the per-head bias for every token pair of a window.

        Returns
        -------
        torch.Tensor
            ``(num_heads, N, N)`` with ``N = window_size ** 2``.
        """
        table = self.relative_position_bias_table
        # in inference the gathered bias is kept until the table changes
        # (in place, e.g. a checkpoint load, or by moving it)
        key = None
        if untraced_inference(table):
            key = (table._version, table.data_ptr(), table.dtype, table.device)
        if key is not None and key == self._bias_key:
            return self._bias
        n_tokens = self.window_size * self.window_size
        bias = table.index_select(0, self.relative_position_index.view(-1))
        bias = bias.view(n_tokens, n_tokens, self.num_heads).permute(2, 0, 1)
        if key is not None:
            self._bias, self._bias_key = bias.contiguous(), key
            return self._bias
        return bias

    def forward(
        self,
        windows: torch.Tensor,
        window_bias: Optional[torch.Tensor] = None,
        residual: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Attends within each window.

        Arguments
        ---------
        windows : torch.Tensor
            ``(B * num_windows, N, dim)``.
        window_bias : torch.Tensor, optional
            Additive mask ``(Bm, num_windows, 1, N, N)`` (``Bm`` is 1 or
            ``B``) holding shift and padding terms; the relative position
            bias is added here.
        residual : torch.Tensor, optional
            ``(B * num_windows, N, dim)`` added to the output (fused into
            the output projection in inference; dropout is not applied with
            it, so give it only in eval mode).

        Returns
        -------
        torch.Tensor
            ``(B * num_windows, N, dim)``.
        """
        n_windows, n_tokens, _ = windows.shape
        qkv = linear(windows, self.qkv).view(
            n_windows, n_tokens, 3, self.num_heads, self.head_dim
        )
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.relative_position_bias().to(query.dtype)
        if window_bias is None:
            # one (1, heads, N, N) mask broadcasts over windows cheaply
            mask = bias.unsqueeze(0)
        else:
            # SDPA on CPU is fastest with a dense per-window mask
            batch = n_windows // window_bias.shape[1]
            mask = (bias + window_bias).expand(batch, -1, -1, -1, -1)
            mask = mask.reshape(n_windows, self.num_heads, n_tokens, n_tokens)
            mask = mask.to(query.dtype)  # autocast: q may be half precision
        out = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=mask,
            dropout_p=self.attn_drop if self.training else 0.0,
        )
        out = out.transpose(1, 2)
        if is_tracing():
            # a traced reshape becomes a view of the eager kernel's layout,
            # which a decomposed attention (ONNX) does not share
            out = out.clone(memory_format=torch.contiguous_format)
        out = out.reshape(n_windows, n_tokens, self.dim)
        if residual is not None:
            return linear(out, self.proj, residual=residual)
        return self.proj_drop(linear(out, self.proj))

    def value_path(self, tokens: torch.Tensor) -> torch.Tensor:
        """Each token's own projected value (MGA-CLAP's locality-aware path).

        Attention with the identity: no token mixes with another, so windows,
        shifts and masks do not matter. The value rows of ``qkv`` are its last
        third.

        Arguments
        ---------
        tokens : torch.Tensor
            ``(B, N, dim)``.

        Returns
        -------
        torch.Tensor
            ``(B, N, dim)``.

        Example
        -------
        >>> attn = WindowAttention(8, window_size=2, num_heads=2)
        >>> attn.value_path(torch.randn(3, 4, 8)).shape
        torch.Size([3, 4, 8])
        """
        weight = self.qkv.weight[2 * self.dim :]
        bias = None if self.qkv.bias is None else self.qkv.bias[2 * self.dim :]
        return self.proj_drop(self.proj(F.linear(tokens, weight, bias)))


class SwinBlock(nn.Module):
    """Pre-norm Swin block: (shifted) window attention, then an MLP.

    Arguments
    ---------
    dim : int
        Token width.
    resolution : tuple of int
        ``(height, width)`` of the token map.
    num_heads : int
        Attention heads.
    window_size : int
        Side of a window. If the map is not larger than the window, the
        window covers the whole map and there is no shift (as in LAION).
    shift_size : int
        Cyclic shift in tokens (0 for a regular window block).
    mlp_ratio : float
        Hidden width of the MLP relative to ``dim``.
    qkv_bias : bool
        Bias on the fused query/key/value projection.
    drop : float
        Dropout after the attention projection and in the MLP.
    attn_drop : float
        Dropout on attention weights.
    drop_path : float
        Stochastic depth rate of both residual branches.

    Example
    -------
    >>> block = SwinBlock(8, (4, 4), num_heads=2, window_size=2, shift_size=1)
    >>> block(torch.randn(3, 16, 8)).shape
    torch.Size([3, 16, 8])
    """

    def __init__(
        self,
        dim: int,
        resolution: Tuple[int, int],
        num_heads: int,
        window_size: int,
        shift_size: int = 0,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.resolution = tuple(resolution)
        if min(self.resolution) <= window_size:
            # a single window already sees the whole map
            window_size = min(self.resolution)
            shift_size = 0
        height, width = self.resolution
        if height % window_size or width % window_size:
            raise ValueError(
                f"token map {height}x{width} is not a multiple of "
                f"window_size={window_size}"
            )
        if not 0 <= shift_size < window_size:
            raise ValueError(
                f"shift_size must be in [0, {window_size}), got {shift_size}"
            )
        self.window_size = window_size
        self.shift_size = shift_size
        # roll + window partition as one gather (much faster than torch.roll
        # plus permute copies); a single unshifted window needs neither
        self.windowed = window_size < max(height, width)
        order = window_order(height, width, window_size, shift_size)
        self.register_buffer("window_order", order, persistent=False)
        self.register_buffer("raster_order", torch.argsort(order), persistent=False)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(
            dim, window_size, num_heads, qkv_bias, attn_drop, drop
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(
        self, x: torch.Tensor, window_bias: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Applies the block.

        Arguments
        ---------
        x : torch.Tensor
            Tokens ``(B, H * W, dim)`` in row-major order.
        window_bias : torch.Tensor, optional
            Additive shift/padding mask ``(Bm, num_windows, 1, N, N)`` for
            this block's window layout (see :class:`HTSATStage`).

        Returns
        -------
        torch.Tensor
            ``(B, H * W, dim)``.
        """
        if self.windowed:
            # everything but attention acts token by token, so the whole
            # block runs in window order: two gathers, no other copy
            x = x.index_select(1, self.window_order)
        windows = self.norm1(x).view(-1, self.window_size**2, x.shape[-1])
        if self.training:  # dropout and stochastic depth act on the branches
            attended = self.attn(windows, window_bias).view(x.shape)
            x = x + self.drop_path(attended)
            x = x + self.drop_path(self.mlp(self.norm2(x)))
        else:  # residual sums fused into the output projections
            residual = x.view(windows.shape)
            x = self.attn(windows, window_bias, residual=residual).view(x.shape)
            x = self.mlp(self.norm2(x), residual=x)
        if self.windowed:
            x = x.index_select(1, self.raster_order)
        return x

    def locality_path(self, x: torch.Tensor) -> torch.Tensor:
        """MGA-CLAP's locality-aware block on this block's input.

        ``v = x + proj(V(norm1(x)))`` (value only, no query-key attention),
        then ``v + norm2(v)`` (no MLP): the released code's block, which
        reuses this block's weights and adds none.

        Arguments
        ---------
        x : torch.Tensor
            Tokens ``(B, H * W, dim)``, the block's input.

        Returns
        -------
        torch.Tensor
            ``(B, H * W, dim)``.

        Example
        -------
        >>> block = SwinBlock(8, (2, 2), num_heads=2, window_size=2)
        >>> block.locality_path(torch.randn(3, 4, 8)).shape
        torch.Size([3, 4, 8])
        """
        v = x + self.drop_path(self.attn.value_path(self.norm1(x)))
        return v + self.drop_path(self.norm2(v))


class PatchMerging(nn.Module):
    """Halves the token map: concatenates 2x2 neighbours, then projects.

    Arguments
    ---------
    dim : int
        Input width; the output width is ``2 * dim``.
    resolution : tuple of int
        ``(height, width)`` of the input map (both even).

    Example
    -------
    >>> merge = PatchMerging(8, (4, 6))
    >>> merge(torch.randn(2, 24, 8)).shape
    torch.Size([2, 6, 16])
    """

    def __init__(self, dim: int, resolution: Tuple[int, int]):
        super().__init__()
        self.resolution = tuple(resolution)
        if self.resolution[0] % 2 or self.resolution[1] % 2:
            raise ValueError(f"cannot halve a {self.resolution} token map")
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Merges 2x2 neighbourhoods.

        Arguments
        ---------
        x : torch.Tensor
            ``(B, H * W, dim)``.

        Returns
        -------
        torch.Tensor
            ``(B, H * W / 4, 2 * dim)``.
        """
        height, width = self.resolution
        batch, _, channels = x.shape
        x = x.view(batch, height // 2, 2, width // 2, 2, channels)
        # LAION's concat order: (row 0, col 0), (1, 0), (0, 1), (1, 1)
        x = x.permute(0, 1, 3, 4, 2, 5).reshape(batch, -1, 4 * channels)
        return linear(self.norm(x), self.reduction)


class HTSATStage(nn.Module):
    """One resolution of HTS-AT: Swin blocks, then optional patch merging.

    The blocks alternate regular and shifted windows. Shift masks are built
    once per device and dtype and cached (not stored in checkpoints); the
    padding mask is built per call from the token validity map.

    Arguments
    ---------
    dim : int
        Token width.
    resolution : tuple of int
        ``(height, width)`` of the token map.
    depth : int
        Number of Swin blocks.
    num_heads : int
        Attention heads.
    window_size : int
        Side of a window.
    mlp_ratio : float
        MLP hidden width relative to ``dim``.
    qkv_bias : bool
        Bias on the fused query/key/value projection.
    drop : float
        Dropout rate.
    attn_drop : float
        Attention dropout rate.
    drop_path : list of float
        Stochastic depth rate of each block.
    downsample : bool
        Whether to end with :class:`PatchMerging`.

    Example
    -------
    >>> stage = HTSATStage(8, (4, 4), depth=2, num_heads=2, window_size=2,
    ...                    drop_path=[0.0, 0.0], downsample=True)
    >>> stage(torch.randn(3, 16, 8)).shape
    torch.Size([3, 4, 16])
    """

    def __init__(
        self,
        dim: int,
        resolution: Tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: Optional[List[float]] = None,
        downsample: bool = False,
    ):
        super().__init__()
        drop_path = drop_path if drop_path is not None else [0.0] * depth
        if len(drop_path) != depth:
            raise ValueError(f"need {depth} drop_path rates, got {len(drop_path)}")
        self.resolution = tuple(resolution)
        self.blocks = nn.ModuleList(
            [
                SwinBlock(
                    dim,
                    self.resolution,
                    num_heads,
                    window_size,
                    shift_size=0 if i % 2 == 0 else window_size // 2,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop=drop,
                    attn_drop=attn_drop,
                    drop_path=drop_path[i],
                )
                for i in range(depth)
            ]
        )
        self.downsample = PatchMerging(dim, self.resolution) if downsample else None
        self._shift_masks: Dict[tuple, torch.Tensor] = {}

    def _shift_mask(
        self, window_size: int, shift_size: int, device, dtype
    ) -> torch.Tensor:
        """Cached ``(num_windows, N, N)`` shift mask for this map."""
        key = (window_size, shift_size, str(device), dtype)
        if key not in self._shift_masks:
            mask = shift_window_mask(*self.resolution, window_size, shift_size)
            self._shift_masks[key] = mask.to(device=device, dtype=dtype)
        return self._shift_masks[key]

    def _window_bias(
        self,
        block: SwinBlock,
        token_valid: Optional[torch.Tensor],
        dtype: torch.dtype,
        device: torch.device,
    ) -> Optional[torch.Tensor]:
        """Shift + padding mask ``(Bm, num_windows, 1, N, N)`` or ``None``."""
        window, shift = block.window_size, block.shift_size
        bias = None
        if shift:
            bias = self._shift_mask(window, shift, device, dtype)
            bias = bias[None, :, None]
        if token_valid is None:
            return bias
        batch = token_valid.shape[0]
        valid = token_valid.flatten(1)[:, block.window_order]
        valid = valid.view(batch, -1, window * window)
        # a window of only padding attends normally (keeps softmax finite);
        # elsewhere padded keys are hidden from every query
        keep = valid | ~valid.any(dim=-1, keepdim=True)
        pad = torch.zeros(keep.shape, dtype=dtype, device=device)
        pad = pad.masked_fill(~keep, torch.finfo(dtype).min)
        pad = pad.view(batch, -1, 1, 1, window * window)
        return pad if bias is None else bias + pad

    def forward(
        self,
        x: torch.Tensor,
        token_valid: Optional[torch.Tensor] = None,
        locality: bool = False,
    ):
        """Runs the blocks and the optional merging.

        Arguments
        ---------
        x : torch.Tensor
            Tokens ``(B, H * W, dim)``.
        token_valid : torch.Tensor, optional
            Bool ``(B, H, W)``, ``True`` where a token covers real input.
            ``None`` means every token is real.
        locality : bool
            Also return the locality-aware path of the last block
            (:meth:`SwinBlock.locality_path`, merged like the trunk).

        Returns
        -------
        torch.Tensor or tuple
            ``(B, H * W, dim)``, or ``(B, H * W / 4, 2 * dim)`` after
            merging; with ``locality``, ``(trunk, locality path)``.
        """
        biases = {}
        local = None
        for i, block in enumerate(self.blocks):
            key = (block.window_size, block.shift_size)
            if key not in biases:
                biases[key] = self._window_bias(block, token_valid, x.dtype, x.device)
            if locality and i == len(self.blocks) - 1:
                local = block.locality_path(x)
            x = block(x, biases[key])
        if self.downsample is not None:
            x = self.downsample(x)
            local = None if local is None else self.downsample(local)
        return (x, local) if locality else x


class PatchEmbed(nn.Module):
    """Strided convolution from the spectrogram image to tokens.

    Arguments
    ---------
    in_channels : int
        Image channels.
    embed_dim : int
        Token width.
    patch_size : tuple of int
        Convolution kernel.
    patch_stride : tuple of int
        Convolution stride.

    Example
    -------
    >>> embed = PatchEmbed(1, 8, (4, 4), (4, 4))
    >>> embed(torch.randn(2, 1, 16, 16)).shape
    torch.Size([2, 16, 8])
    """

    def __init__(
        self,
        in_channels: int,
        embed_dim: int,
        patch_size: Tuple[int, int],
        patch_stride: Tuple[int, int],
    ):
        super().__init__()
        padding = tuple((p - s) // 2 for p, s in zip(patch_size, patch_stride))
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, patch_stride, padding)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Embeds patches.

        Arguments
        ---------
        image : torch.Tensor
            ``(B, in_channels, height, width)``.

        Returns
        -------
        torch.Tensor
            Tokens ``(B, H * W, embed_dim)`` in row-major order.
        """
        return self.norm(self.proj(image).flatten(2).transpose(1, 2))


class FusionPatchEmbed(PatchEmbed):
    """Patch embedding of a fusion HTS-AT (LAION ``aff_2d``).

    Channel 0 (the global view) goes through ``proj``. For rows marked
    ``is_longer``, channels 1-3 (front, middle, back views) each go through
    ``mel_conv2d``, are laid side by side in time, padded or cut to the global
    map's width and merged into it by ``fusion_model``
    (:class:`~speechbrain_tclap.lobes.fusion.AFFBlock`); other rows keep the
    global embedding.

    Arguments
    ---------
    embed_dim : int
        Token width.
    patch_size : tuple of int
        Kernel of ``proj``; ``mel_conv2d`` uses ``(p0, 3 * p1)``.
    patch_stride : tuple of int
        Stride of ``proj``; ``mel_conv2d`` uses ``(s0, 3 * s1)``.
    reduction : int
        Bottleneck reduction of the fusion block.

    Example
    -------
    >>> embed = FusionPatchEmbed(8, (4, 4), (4, 4))
    >>> image = torch.randn(3, 4, 16, 16)
    >>> tokens = embed(image, torch.tensor([True, False, True]))
    >>> tokens.shape
    torch.Size([3, 16, 8])
    >>> plain = PatchEmbed(1, 8, (4, 4), (4, 4))
    >>> _ = plain.load_state_dict(embed.state_dict(), strict=False)
    >>> torch.equal(tokens[1], plain(image[1:2, :1])[0])  # not longer: global only
    True
    """

    def __init__(
        self,
        embed_dim: int,
        patch_size: Tuple[int, int],
        patch_stride: Tuple[int, int],
        reduction: int = 4,
    ):
        super().__init__(1, embed_dim, patch_size, patch_stride)
        padding = tuple((p - s) // 2 for p, s in zip(patch_size, patch_stride))
        self.mel_conv2d = nn.Conv2d(
            1,
            embed_dim,
            kernel_size=(patch_size[0], 3 * patch_size[1]),
            stride=(patch_stride[0], 3 * patch_stride[1]),
            padding=padding,
        )
        self.fusion_model = AFFBlock(embed_dim, reduction)

    def forward(
        self, image: torch.Tensor, is_longer: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Embeds the global view, fused with the local views where longer.

        Arguments
        ---------
        image : torch.Tensor
            ``(B, 4, height, width)``: global, front, middle, back views.
        is_longer : torch.Tensor, optional
            Bool ``(B,)``; ``None`` means no row is fused.

        Returns
        -------
        torch.Tensor
            Tokens ``(B, H * W, embed_dim)`` in row-major order.
        """
        fmap = self.proj(image[:, :1])
        if is_longer is not None and is_tracing():
            # no data-dependent row selection in a graph: fuse every row,
            # keep the fused map where is_longer
            rows = torch.arange(image.shape[0], device=image.device)
        elif is_longer is not None:
            rows = is_longer.nonzero().flatten()
        else:
            rows = image.new_zeros(0, dtype=torch.long)
        if rows.numel():
            local = image[rows, 1:]
            count, views, height, width = local.shape
            local = self.mel_conv2d(local.reshape(count * views, 1, height, width))
            _, channels, rows_out, cols_out = local.shape
            # (count, views, C, H', W') -> (count, C, H', views * W')
            local = local.view(count, views, channels, rows_out, cols_out)
            local = local.permute(0, 2, 3, 1, 4).flatten(3)
            target = fmap.shape[-1]
            if local.shape[-1] < target:
                local = F.pad(local, (0, target - local.shape[-1]))
            else:
                local = local[..., :target]
            fused = self.fusion_model(fmap[rows], local).to(fmap.dtype)
            if is_tracing():
                fmap = torch.where(is_longer[:, None, None, None], fused, fmap)
            else:
                fmap = fmap.index_put((rows,), fused)
        return self.norm(fmap.flatten(2).transpose(1, 2))


FUSION_KEY_MARKERS = ("patch_embed.mel_conv2d.", "patch_embed.fusion_model.")


def _explain_fusion_mismatch(module: nn.Module, incompatible) -> None:
    """``load_state_dict`` post-hook: the ~30 fusion keys of a fusion/plain
    mismatch become, in place, one entry that says what to build instead."""
    prefix = getattr(module, "_load_prefix", "")
    markers = tuple(prefix + m for m in FUSION_KEY_MARKERS)
    cases = (
        (
            incompatible.unexpected_keys,
            "the checkpoint has feature-fusion weights but this HTSAT was "
            "built with enable_fusion=False; build it with enable_fusion=True "
            "(e.g. hparams/models/laion_clap_htsat_tiny_fused.yaml)",
        ),
        (
            incompatible.missing_keys,
            "this HTSAT was built with enable_fusion=True but the checkpoint "
            "has no feature-fusion weights; build it with enable_fusion=False "
            "(e.g. hparams/models/laion_clap_htsat_tiny.yaml)",
        ),
    )
    for keys, explanation in cases:
        found = [k for k in keys if k.startswith(markers)]
        if found:
            keys[:] = [k for k in keys if not k.startswith(markers)]
            keys.append(
                f"{prefix}patch_embed.{{mel_conv2d,fusion_model}}.* "
                f"({len(found)} tensors: {explanation})"
            )


class HTSAT(nn.Module):
    """HTS-AT audio encoder with LAION-CLAP parameter names.

    The log-mel ``(B, T, n_mels)`` is normalised per mel bin by ``bn0`` (in
    training, batch statistics over real frames only), filled up to
    ``time_capacity`` frames by ``time_fill``, folded into a square image of
    ``freq_ratio`` stacked time chunks and encoded by a Swin Transformer; the
    last map gives ``num_frames`` time-ordered frames of ``frame_hop`` input
    frames each. Longer inputs are refused (the inference interface splits
    long audio into sliding windows). SpecAugment and mixup are not included.

    ``time_fill`` for inputs shorter than the capacity:

    * ``"pad"``: pad (after ``bn0``) and mask. Padded tokens are hidden from
      attention in windows with real tokens, frames of padding only get
      ``frame_mask=False`` (and zero embeddings), the clip embedding is the
      mean over valid frames: outputs do not depend on the rest of the batch.
    * ``"repeatpad"``: repeat the valid frames up to the capacity (LAION's
      ``repeatpad``); every frame is valid.
    * ``"stretch"``: bicubic stretch to the capacity, as LAION-CLAP and HF
      ``ClapAudioModel`` do. It distorts time (a 5 s clip yields as many
      frames as a 10 s one): only for parity with reference checkpoints. The
      clip embedding is the mean of the whole map.

    With ``enable_fusion=True`` (LAION ``aff_2d``) the patch embedding is a
    :class:`FusionPatchEmbed`. The encoder then takes a log-mel of any length,
    made into fusion views by
    :func:`~speechbrain_tclap.lobes.fusion.fusion_inputs` (``fusion_window``
    frames), or ready views ``(B, 4, T, n_mels)`` with ``is_longer (B,)`` (as
    HF's feature extractor makes them). For clips longer than the window the
    frames follow the global view: each spans ``1 / num_frames`` of the clip.

    With ``locality_aware=True`` (MGA-CLAP) the frames come from the last
    block's :meth:`SwinBlock.locality_path`, then ``norm``; the clip embedding
    still comes from the trunk. No parameters are added.

    Attributes: ``output_dim`` (``embed_dim * 2 ** (len(depths) - 1)``),
    ``time_capacity`` (``spec_size * freq_ratio`` mel frames, with
    ``freq_ratio = spec_size // n_mels``), ``num_frames``, ``frame_hop``
    (HTSAT-tiny: 768, 1024, 32, 32) and ``max_input_frames``
    (``time_capacity``, or ``None``, any length, with fusion).

    Arguments
    ---------
    n_mels : int
        Mel bins of the input.
    spec_size : int
        Side of the square spectrogram image; a multiple of ``n_mels``.
    patch_size : int or tuple of int
        Patch-embedding kernel.
    patch_stride : int or tuple of int
        Patch-embedding stride.
    in_channels : int
        Image channels (1 for a log-mel; ``feats`` may then be 3-D).
    embed_dim : int
        Width of the first stage; doubles at every merge.
    depths : sequence of int
        Swin blocks per stage.
    num_heads : sequence of int
        Attention heads per stage.
    window_size : int
        Attention window side, in tokens.
    mlp_ratio : float
        MLP hidden width relative to the token width.
    qkv_bias : bool
        Bias on the fused query/key/value projections.
    drop_rate : float
        Dropout after the patch embedding, attention projections and MLPs.
    attn_drop_rate : float
        Dropout on attention weights.
    drop_path_rate : float
        Stochastic depth, increasing linearly to this rate over all blocks.
    time_fill : str
        ``"pad"``, ``"repeatpad"`` or ``"stretch"`` (see above).
    with_audioset_head : bool
        Build LAION's AudioSet head (``tscam_conv``, ``head``) so that
        checkpoints that carry it load, and enable :meth:`audioset_logits`.
    num_classes : int
        Classes of the AudioSet head.
    enable_fusion : bool
        Build the feature-fusion variant (``in_channels`` must be 1).
    fusion_window : int, optional
        Frames of a fusion view (LAION: 1001, i.e. 10 s at hop 480); default
        ``time_capacity``. At most ``time_capacity``.
    fusion_reduction : int
        Bottleneck reduction of the fusion block (LAION / HF: 4).
    locality_aware : bool
        Frames from MGA-CLAP's locality-aware path (see above).

    Example
    -------
    >>> encoder = HTSAT.from_preset("test")
    >>> encoder.time_capacity, encoder.num_frames, encoder.frame_hop
    (64, 8, 8)
    >>> feats = torch.randn(2, 50, 16)
    >>> out = encoder(feats, torch.tensor([1.0, 0.5]))
    >>> out.clip.shape, out.frames.shape
    (torch.Size([2, 16]), torch.Size([2, 8, 16]))
    >>> out.frame_mask.sum(dim=1)
    tensor([7, 4])
    """

    def __init__(
        self,
        n_mels: int = 64,
        spec_size: int = 256,
        patch_size: Union[int, Tuple[int, int]] = 4,
        patch_stride: Union[int, Tuple[int, int]] = 4,
        in_channels: int = 1,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (4, 8, 16, 32),
        window_size: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        time_fill: str = "pad",
        with_audioset_head: bool = False,
        num_classes: int = 527,
        enable_fusion: bool = False,
        fusion_window: Optional[int] = None,
        fusion_reduction: int = 4,
        locality_aware: bool = False,
    ):
        super().__init__()
        if time_fill not in TIME_FILLS:
            raise ValueError(
                f"time_fill must be one of {TIME_FILLS}, got {time_fill!r}"
            )
        depths, num_heads = tuple(depths), tuple(num_heads)
        if len(depths) != len(num_heads) or not depths:
            raise ValueError(
                f"depths {depths} and num_heads {num_heads} must be non-empty "
                "and of equal length"
            )
        if n_mels <= 0 or spec_size % n_mels:
            raise ValueError(
                f"spec_size={spec_size} must be a multiple of n_mels={n_mels}: "
                "the image stacks spec_size // n_mels time chunks"
            )
        self.n_mels = n_mels
        self.spec_size = spec_size
        self.in_channels = in_channels
        self.time_fill = time_fill
        self.freq_ratio = spec_size // n_mels
        self.time_capacity = spec_size * self.freq_ratio
        self.patch_size = _pair(patch_size, "patch_size")
        self.patch_stride = _pair(patch_stride, "patch_stride")
        self.depths = depths
        self.num_layers = len(depths)
        scale = 2 ** (self.num_layers - 1)
        self.output_dim = embed_dim * scale

        grid = tuple(spec_size // s for s in self.patch_stride)
        if any(spec_size % (s * scale) for s in self.patch_stride):
            raise ValueError(
                f"spec_size={spec_size} must be divisible by patch_stride "
                f"{self.patch_stride} times 2**{self.num_layers - 1} "
                "(one halving per merge)"
            )
        final = (grid[0] // scale, grid[1] // scale)
        if final[0] % self.freq_ratio:
            raise ValueError(
                f"the last token map has {final[0]} rows, not a multiple of "
                f"the {self.freq_ratio} stacked time chunks; use a larger "
                "spec_size or fewer stages"
            )
        self.final_resolution = final
        self.rows_per_chunk = final[0] // self.freq_ratio
        self.num_frames = self.freq_ratio * final[1]
        self.frame_hop = self.time_capacity // self.num_frames

        self.enable_fusion = bool(enable_fusion)
        self.locality_aware = bool(locality_aware)
        self.embed_dim = embed_dim
        self.bn0 = nn.BatchNorm2d(n_mels)
        if self.enable_fusion:
            if in_channels != 1:
                raise ValueError(
                    "enable_fusion=True needs in_channels=1 (each of the "
                    f"{FUSION_CHANNELS} fusion views is one log-mel), got "
                    f"in_channels={in_channels}"
                )
            window = self.time_capacity if fusion_window is None else fusion_window
            if not 1 <= window <= self.time_capacity:
                raise ValueError(
                    f"fusion_window must be in [1, time_capacity="
                    f"{self.time_capacity}], got {window}"
                )
            self.fusion_window = int(window)
            # any length: longer clips are fused, not refused
            self.max_input_frames = None
            self.input_channels = FUSION_CHANNELS
            self.patch_embed = FusionPatchEmbed(
                embed_dim, self.patch_size, self.patch_stride, fusion_reduction
            )
        else:
            if fusion_window is not None:
                raise ValueError("fusion_window needs enable_fusion=True")
            self.fusion_window = None
            self.max_input_frames = self.time_capacity
            self.input_channels = in_channels
            self.patch_embed = PatchEmbed(
                in_channels, embed_dim, self.patch_size, self.patch_stride
            )
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            self.layers.append(
                HTSATStage(
                    dim=embed_dim * 2**i,
                    resolution=(grid[0] // 2**i, grid[1] // 2**i),
                    depth=depth,
                    num_heads=num_heads[i],
                    window_size=window_size,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=rates[sum(depths[:i]) : sum(depths[: i + 1])],
                    downsample=i < self.num_layers - 1,
                )
            )
        self.norm = nn.LayerNorm(self.output_dim)
        self.with_audioset_head = with_audioset_head
        if with_audioset_head:
            self.tscam_conv = nn.Conv2d(
                self.output_dim,
                num_classes,
                kernel_size=(self.rows_per_chunk, 3),
                padding=(0, 1),
            )
            # LAION keeps this layer in its checkpoints but never applies it
            self.head = nn.Linear(num_classes, num_classes)
        self.apply(self._init_weights)
        self.register_load_state_dict_post_hook(_explain_fusion_mismatch)

    @staticmethod
    def _init_weights(module: nn.Module):
        """LAION's init: truncated normal Linear weights, zero biases."""
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def _load_from_state_dict(self, state_dict, prefix, *args):
        """Notes where this encoder sits in the state dict being loaded, and
        explains a width mismatch (an error in any case)."""
        super()._load_from_state_dict(state_dict, prefix, *args)
        self._load_prefix = prefix
        error_msgs = args[-1]
        proj = state_dict.get(prefix + "patch_embed.proj.weight")
        if proj is not None and proj.shape[0] != self.embed_dim:
            error_msgs.append(
                f"the checkpoint's HTSAT has embed_dim={proj.shape[0]} but "
                f"this one has embed_dim={self.embed_dim} (HTSAT-tiny: 96, "
                "HTSAT-base: 128, used by LAION's music checkpoints)"
            )

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "HTSAT":
        """Builds a named configuration (random init).

        Arguments
        ---------
        name : str
            ``"test"`` (a tiny config for tests); published architectures
            are model files (``hparams/models/laion_clap_htsat_*.yaml``).
        **overrides
            Constructor arguments that replace the preset's.

        Returns
        -------
        HTSAT
            The encoder.

        Example
        -------
        >>> HTSAT.from_preset("test", time_fill="stretch").output_dim
        16
        """
        if name not in HTSAT_PRESETS:
            raise ValueError(
                f"unknown HTSAT preset {name!r}; choose from "
                f"{sorted(HTSAT_PRESETS)}"
            )
        return cls(**{**HTSAT_PRESETS[name], **overrides})

    def frame_rate(self, hop_length: int, sample_rate: int) -> float:
        """Output frames per second for a given feature front end.

        Exact for ``time_fill`` ``"pad"`` and ``"repeatpad"``; with
        ``"stretch"`` the real rate depends on the input length.

        Arguments
        ---------
        hop_length : int
            Hop of the log-mel front end, in samples.
        sample_rate : int
            Sampling rate, in Hz.

        Returns
        -------
        float
            Frames per second.

        Example
        -------
        >>> encoder = HTSAT.from_preset("test")  # one frame per 8 mel frames
        >>> encoder.frame_rate(hop_length=480, sample_rate=48000)
        12.5
        """
        return sample_rate / (hop_length * self.frame_hop)

    def _fusion_views(
        self,
        feats: torch.Tensor,
        feat_lens: Optional[torch.Tensor],
        is_longer: Optional[torch.Tensor],
    ) -> FusionInputs:
        """The 4 fusion views: built from a log-mel, or checked as given."""
        if feats.dim() == 3:
            if is_longer is not None:
                raise ValueError(
                    "is_longer is derived from the clip lengths when HTSAT "
                    "gets a log-mel (B, T, n_mels); pass it only with ready "
                    f"fusion views (B, {FUSION_CHANNELS}, T, n_mels)"
                )
            if feats.shape[-1] != self.n_mels:
                raise ValueError(
                    f"HTSAT was built for n_mels={self.n_mels} but feats have "
                    f"{feats.shape[-1]} mel bins (last dim of "
                    f"{tuple(feats.shape)})"
                )
            return fusion_inputs(feats, feat_lens, self.fusion_window)
        if is_longer is None:
            raise ValueError(
                f"fusion views (B, {FUSION_CHANNELS}, T, n_mels) need "
                "is_longer (B,): which rows hold a clip longer than the window"
            )
        is_longer = is_longer.reshape(-1).to(device=feats.device, dtype=torch.bool)
        if is_longer.shape[0] != feats.shape[0]:
            raise ValueError(
                f"is_longer has {is_longer.shape[0]} entries for a batch of "
                f"{feats.shape[0]}"
            )
        return FusionInputs(feats, feat_lens, is_longer)

    def _check_input(
        self, feats: torch.Tensor, feat_lens: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """Validates the input and returns it as ``(B, C, T, n_mels)``."""
        if feats.dim() == 3 and self.input_channels == 1:
            feats = feats.unsqueeze(1)
        if feats.dim() != 4 or feats.shape[1] != self.input_channels:
            expected = (
                "(B, T, n_mels)"
                if self.input_channels == 1
                else f"(B, {self.input_channels}, T, n_mels)"
            )
            if self.enable_fusion:
                expected = f"(B, T, n_mels) or {expected} with is_longer"
            raise ValueError(
                f"HTSAT expects feats of shape {expected}, got {tuple(feats.shape)}"
            )
        batch, _, n_frames, n_mels = feats.shape
        if n_mels != self.n_mels:
            raise ValueError(
                f"HTSAT was built for n_mels={self.n_mels} but feats have "
                f"{n_mels} mel bins (last dim of {tuple(feats.shape)})"
            )
        if n_frames < 1:
            raise ValueError("feats have no frames")
        if n_frames > self.time_capacity:
            raise ValueError(
                f"input has {n_frames} frames but HTSAT holds at most "
                f"time_capacity={self.time_capacity}; split long audio into "
                "windows (the inference interface's sliding windows do this)"
            )
        check_feat_lens(feat_lens, batch)
        return feats

    def _normalize(
        self, x: torch.Tensor, valid: Optional[torch.Tensor]
    ) -> torch.Tensor:
        """``bn0`` over mel bins; batch statistics ignore padded frames."""
        if self.training and valid is not None:
            # (B, C, T, F) -> rows of real frames only, so that padding does
            # not bias the batch statistics and running averages
            rows = valid[:, None, :].expand(x.shape[:3])
            picked = x[rows]
            normed = self.bn0(picked[:, :, None, None]).flatten(1)
            return torch.zeros_like(x).index_put((rows,), normed)
        return self.bn0(x.transpose(1, 3)).transpose(1, 3)

    def _stretch(self, x: torch.Tensor) -> torch.Tensor:
        """Bicubic stretch of ``(B, C, T, F)`` to ``time_capacity`` frames."""
        if x.shape[2] == self.time_capacity:
            return x
        return F.interpolate(
            x,
            (self.time_capacity, self.n_mels),
            mode="bicubic",
            align_corners=True,
        )

    def _fill(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        variable: bool,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Fills ``(B, C, T, F)`` up to the capacity.

        Returns the filled input and, in pad mode, the bool ``(B, capacity)``
        mask of real frames (``None`` otherwise).
        """
        batch, channels, n_frames, _ = x.shape
        capacity = self.time_capacity
        positions = torch.arange(capacity, device=x.device)
        if self.time_fill == "pad":
            valid = positions[None, :] < lengths[:, None]
            x = F.pad(x, (0, 0, 0, capacity - n_frames))
            return x * valid[:, None, :, None].to(x.dtype), valid
        if self.time_fill == "repeatpad":
            index = positions[None, :] % lengths[:, None]
            index = index[:, None, :, None]
            index = index.expand(-1, channels, -1, self.n_mels)
            return x.gather(2, index), None
        if not variable or is_tracing():
            # traced: a loop over the batch's lengths cannot be a graph, so
            # every clip is stretched whole (export_onnx gives no lengths)
            return self._stretch(x), None
        # legacy mode: stretch each distinct length on its own
        out = x.new_empty(batch, channels, capacity, self.n_mels)
        for length in torch.unique(lengths).tolist():
            rows = (lengths == length).nonzero().squeeze(1)
            out = out.index_put((rows,), self._stretch(x[rows, :, :length]))
        return out, None

    def _to_image(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, capacity, F)`` -> ``(B, C, freq_ratio * F, spec_size)``.

        Time chunk ``k`` occupies image rows ``k * F`` to ``(k + 1) * F``.
        """
        batch, channels = x.shape[:2]
        x = x.view(batch, channels, self.freq_ratio, self.spec_size, self.n_mels)
        x = x.permute(0, 1, 2, 4, 3)
        return x.reshape(batch, channels, self.spec_size, self.spec_size)

    def _token_validity(self, valid: torch.Tensor) -> List[torch.Tensor]:
        """Per-stage bool ``(B, H, W)`` maps: does a token cover real input."""
        batch = valid.shape[0]
        image = valid.view(batch, self.freq_ratio, 1, self.spec_size)
        image = image.expand(-1, -1, self.n_mels, -1)
        image = image.reshape(batch, 1, self.spec_size, self.spec_size)
        image = image.float()
        maps = [F.max_pool2d(image, self.patch_stride)]
        for _ in range(self.num_layers - 1):
            maps.append(F.max_pool2d(maps[-1], 2))
        return [m.squeeze(1) > 0 for m in maps]

    def _encode(
        self,
        feats: torch.Tensor,
        feat_lens: Optional[torch.Tensor],
        is_longer: Optional[torch.Tensor] = None,
        locality: bool = False,
    ):
        """Runs the trunk.

        Returns the time-ordered map ``(B, C, rows_per_chunk, num_frames)``
        (zero on invalid frames) and the bool frame mask ``(B, num_frames)``;
        with ``locality``, also the map of the locality-aware path (third).
        """
        if self.enable_fusion:
            feats, feat_lens, is_longer = self._fusion_views(
                feats, feat_lens, is_longer
            )
        elif is_longer is not None:
            raise ValueError(
                "is_longer is only used by a fusion HTSAT (enable_fusion=True)"
            )
        x = self._check_input(feats, feat_lens)
        batch, _, n_frames, _ = x.shape
        if feat_lens is None:
            lengths = torch.full((batch,), n_frames, dtype=torch.long, device=x.device)
        else:
            lengths = torch.round(feat_lens.to(x.device) * n_frames).long()
            lengths = lengths.clamp(1, n_frames)
            x_valid = torch.arange(n_frames, device=x.device) < lengths[:, None]

        x = self._normalize(x, None if feat_lens is None else x_valid)
        x, valid = self._fill(x, lengths, variable=feat_lens is not None)
        if self.enable_fusion:
            tokens = self.patch_embed(self._to_image(x), is_longer)
        else:
            tokens = self.patch_embed(self._to_image(x))
        tokens = self.pos_drop(tokens)

        token_valid = [None] * self.num_layers
        if valid is not None:
            token_valid = self._token_validity(valid)
        last = self.num_layers - 1
        for i, (layer, layer_valid) in enumerate(zip(self.layers, token_valid)):
            if locality and i == last:
                tokens, local = layer(tokens, layer_valid, locality=True)
            else:
                tokens = layer(tokens, layer_valid)
        maps = [self._time_map(self.norm(tokens))]
        if locality:
            maps.append(self._time_map(self.norm(local)))

        starts = torch.arange(self.num_frames, device=x.device) * self.frame_hop
        if valid is None:
            frame_mask = torch.ones(
                batch, self.num_frames, dtype=torch.bool, device=x.device
            )
        else:
            frame_mask = starts[None, :] < lengths[:, None]
            keep = frame_mask[:, None, None, :]
            maps = [m * keep.to(m.dtype) for m in maps]
        if locality:
            return maps[0], frame_mask, maps[1]
        return maps[0], frame_mask

    def _time_map(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final tokens ``(B, H*W, C)`` -> ``(B, C, rows_per_chunk, num_frames)``."""
        # chunk k's rows come back as time steps k * W ... (k + 1) * W - 1
        batch = tokens.shape[0]
        width = self.final_resolution[1]
        fmap = tokens.transpose(1, 2).reshape(
            batch, self.output_dim, self.freq_ratio, self.rows_per_chunk, width
        )
        return fmap.permute(0, 1, 3, 2, 4).reshape(
            batch, self.output_dim, self.rows_per_chunk, self.num_frames
        )

    def forward(
        self,
        feats: torch.Tensor,
        feat_lens: Optional[torch.Tensor] = None,
        is_longer: Optional[torch.Tensor] = None,
    ) -> AudioEncoderOutput:
        """Encodes a batch of log-mel spectrograms.

        Arguments
        ---------
        feats : torch.Tensor
            Log-mel ``(B, T, n_mels)`` with ``T <= time_capacity`` (or
            ``(B, in_channels, T, n_mels)``). With fusion: a log-mel of any
            length, or fusion views ``(B, 4, T, n_mels)``.
        feat_lens : torch.Tensor, optional
            Relative lengths ``(B,)`` in ``(0, 1]``; ``None`` means all
            frames are real.
        is_longer : torch.Tensor, optional
            Fusion only, with ready views: bool ``(B,)`` (or ``(B, 1)``),
            the rows whose local views are fused.

        Returns
        -------
        AudioEncoderOutput
            ``clip (B, output_dim)``, ``frames (B, num_frames, output_dim)``
            (zero where masked) and ``frame_mask (B, num_frames)``.

        Example
        -------
        >>> encoder = HTSAT.from_preset("test", time_fill="repeatpad").eval()
        >>> out = encoder(torch.randn(3, 20, 16))
        >>> out.frames.shape, bool(out.frame_mask.all())
        (torch.Size([3, 8, 16]), True)
        >>> fused = HTSAT.from_preset("test", enable_fusion=True).eval()
        >>> long_clip = torch.randn(1, 150, 16)  # longer than the 64-frame window
        >>> fused(long_clip).clip.shape
        torch.Size([1, 16])
        >>> local = HTSAT.from_preset("test", locality_aware=True).eval()
        >>> local(torch.randn(2, 30, 16)).frames.shape
        torch.Size([2, 8, 16])
        """
        if self.locality_aware:
            fmap, frame_mask, local = self._encode(
                feats, feat_lens, is_longer, locality=True
            )
        else:
            fmap, frame_mask = self._encode(feats, feat_lens, is_longer)
        frames = fmap.mean(dim=2).transpose(1, 2)
        clip = masked_mean(frames, frame_mask)
        if self.locality_aware:
            frames = local.mean(dim=2).transpose(1, 2)
        return AudioEncoderOutput(clip, frames, frame_mask)

    def audioset_logits(
        self,
        feats: torch.Tensor,
        feat_lens: Optional[torch.Tensor] = None,
        is_longer: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """AudioSet tagging with LAION's ``tscam_conv`` head.

        LAION reports ``sigmoid`` of these logits as ``clipwise_output`` and
        ``framewise_output`` (the latter repeated ``frame_hop`` times).

        Arguments
        ---------
        feats : torch.Tensor
            Log-mel ``(B, T, n_mels)``.
        feat_lens : torch.Tensor, optional
            Relative lengths ``(B,)``.
        is_longer : torch.Tensor, optional
            Fusion only, as in :meth:`forward`.

        Returns
        -------
        clip_logits : torch.Tensor
            ``(B, num_classes)``: mean of the frame logits over valid frames.
        frame_logits : torch.Tensor
            ``(B, num_frames, num_classes)``.
        frame_mask : torch.Tensor
            Bool ``(B, num_frames)``.

        Example
        -------
        >>> encoder = HTSAT.from_preset(
        ...     "test", with_audioset_head=True, num_classes=5
        ... )
        >>> clip, frames, mask = encoder.audioset_logits(torch.randn(2, 64, 16))
        >>> clip.shape, frames.shape
        (torch.Size([2, 5]), torch.Size([2, 8, 5]))
        """
        if not self.with_audioset_head:
            raise RuntimeError("this HTSAT was built with with_audioset_head=False")
        fmap, frame_mask = self._encode(feats, feat_lens, is_longer)
        frame_logits = self.tscam_conv(fmap).flatten(2).transpose(1, 2)
        return masked_mean(frame_logits, frame_mask), frame_logits, frame_mask
