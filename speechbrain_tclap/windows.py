"""Sliding windows over long audio: placement, batched encoding, stitching.

An audio encoder holds a fixed number of log-mel frames (HTSAT-tiny: 1024
frames, 10.24 s at 48 kHz / hop 480). Longer audio is cut into windows of
``window`` samples every ``hop`` samples, the last one aligned to the clip's
end, so only a clip shorter than one window is padded (and masked). Placement
depends on the lengths alone: no random crop, no random fusion. The clip
embedding is the renormalised mean of the window embeddings
(:func:`pool_windows`); frame embeddings of overlapping windows are stitched
onto one grid per clip (:func:`stitch_accumulate`, :func:`stitch_finish`), whose
time axis is the model's ``frame_geometry``
(:class:`~speechbrain_tclap.lobes.outputs.FrameGeometry`).
:class:`AudioEmbedder` is the one audio embedder of the package (interface,
ZSTE, SED / grounding, benchmark).

Frame times. Output frame ``k`` of HTSAT (``time_fill`` ``"pad"`` or
``"repeatpad"``) pools log-mel frames ``k * frame_hop`` to
``(k + 1) * frame_hop - 1``; log-mel frame ``t`` is centred on sample
``t * hop_length`` (``center=True``; ``t * hop_length + n_fft / 2``
otherwise). A window starting at sample ``s`` thus puts its frame ``k`` at grid
position ``s / (frame_hop * hop_length) + k``; grid cell ``j`` is centred at
``(j * frame_hop + (frame_hop - 1) / 2) * hop_length / sample_rate`` seconds.
Windows starting on a multiple of the frame period (``frame_hop * hop_length``
samples) land exactly on cells; the end-aligned last window in general does
not, and each of its frames is shared between the two nearest cells with
linear-interpolation weights. Each cell is the weighted mean of what landed on
it, so it holds its own time span where aligned windows cover it, else what
lies within one frame period of it. With ``time_fill="stretch"`` (reference
parity) a window's frames are spread over its real length and placed the same
way.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from speechbrain_tclap.events import normalize_frame_scores
from speechbrain_tclap.lobes.clap import EncodedAudio
from speechbrain_tclap.lobes.outputs import FrameGeometry


class WindowedEmbedding(NamedTuple):
    """Embeddings of long audio cut into sliding windows.

    Arguments
    ---------
    embedding : torch.Tensor
        ``(B, D)`` renormalised mean of the windows (:func:`pool_windows`).
    window_embeddings : torch.Tensor
        ``(B, W, D)`` one embedding per window (zero where masked).
    window_mask : torch.Tensor
        Boolean ``(B, W)``: which windows exist (clips may have different counts).
    window_times : torch.Tensor
        ``(B, W, 2)`` start and end in seconds (zero where masked); per clip, as
        each clip's last window ends at its own end.

    Example
    -------
    >>> w = WindowedEmbedding(torch.zeros(1, 4), torch.zeros(1, 2, 4),
    ...     torch.ones(1, 2, dtype=torch.bool), torch.zeros(1, 2, 2))
    >>> w.window_embeddings.shape
    torch.Size([1, 2, 4])
    """

    embedding: torch.Tensor
    window_embeddings: torch.Tensor
    window_mask: torch.Tensor
    window_times: torch.Tensor


class StitchedFrames(NamedTuple):
    """Frame embeddings of a whole clip on one time grid.

    Arguments
    ---------
    frames : torch.Tensor
        ``(B, T, D)`` frame embeddings (zero where masked).
    times : torch.Tensor
        ``(T,)`` frame centres in seconds, shared by the batch; a frame spans one
        period around its centre (a clip's last frame may be partial).
    mask : torch.Tensor
        Boolean ``(B, T)``: frames that hold real audio of that clip.

    Example
    -------
    >>> s = StitchedFrames(torch.zeros(1, 3, 4), torch.tensor([0.1, 0.3, 0.5]),
    ...     torch.ones(1, 3, dtype=torch.bool))
    >>> s.frames.shape, s.times.shape
    (torch.Size([1, 3, 4]), torch.Size([3]))
    """

    frames: torch.Tensor
    times: torch.Tensor
    mask: torch.Tensor


class FrameScores(NamedTuple):
    """Frame-level audio-text similarities.

    Arguments
    ---------
    scores : torch.Tensor
        ``(B, T, N_text)`` cosine similarities (zero where masked).
    times : torch.Tensor
        ``(T,)`` frame centres in seconds (see :class:`StitchedFrames`).
    mask : torch.Tensor
        Boolean ``(B, T)``.

    Example
    -------
    >>> f = FrameScores(torch.zeros(2, 5, 3), torch.arange(5.0),
    ...     torch.ones(2, 5, dtype=torch.bool))
    >>> f.scores.shape
    torch.Size([2, 5, 3])
    """

    scores: torch.Tensor
    times: torch.Tensor
    mask: torch.Tensor


def relative_to_samples(
    wav_lens: Optional[torch.Tensor], num_samples: int, batch: int
) -> torch.Tensor:
    """Converts relative lengths to sample counts (as the front end does).

    Arguments
    ---------
    wav_lens : torch.Tensor, optional
        ``(B,)`` relative lengths in ``(0, 1]``; ``None`` means all ``1``.
    num_samples : int
        Padded length ``L`` of the batch.
    batch : int
        Batch size ``B``.

    Returns
    -------
    torch.Tensor
        Long ``(B,)`` valid samples, in ``[1, L]``.

    Example
    -------
    >>> relative_to_samples(torch.tensor([1.0, 0.5]), 10, 2)
    tensor([10,  5])
    """
    if wav_lens is None:
        return torch.full((batch,), num_samples, dtype=torch.long)
    if wav_lens.shape != (batch,):
        raise ValueError(
            f"wav_lens must have shape ({batch},), got {tuple(wav_lens.shape)}"
        )
    if not torch.isfinite(wav_lens).all() or bool(
        ((wav_lens <= 0) | (wav_lens > 1)).any()
    ):
        raise ValueError(f"wav_lens must lie in (0, 1], got {wav_lens.tolist()}")
    lengths = torch.round(wav_lens.detach().cpu().double() * num_samples)
    return lengths.long().clamp(1, num_samples)


def window_starts(num_samples: int, window: int, hop: int) -> torch.Tensor:
    """Start samples of the sliding windows of one clip.

    Windows start at ``0, hop, 2 * hop, ...``; the last one starts at
    ``num_samples - window``, so none reaches past the clip. A clip of at most
    ``window`` samples has one window, starting at 0.

    Arguments
    ---------
    num_samples : int
        Clip length in samples.
    window, hop : int
        Window length and distance between starts, in samples (``1 <= hop <= window``).

    Returns
    -------
    torch.Tensor
        Long ``(W,)`` increasing starts,
        ``W = 1 + ceil((num_samples - window) / hop)`` for long clips.

    Example
    -------
    >>> window_starts(100, 40, 20)
    tensor([ 0, 20, 40, 60])
    >>> window_starts(90, 40, 20)  # the last window ends at sample 90
    tensor([ 0, 20, 40, 50])
    >>> window_starts(40, 40, 20), window_starts(25, 40, 20)
    (tensor([0]), tensor([0]))
    """
    _check_window_hop(window, hop)
    if num_samples < 1:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    if num_samples <= window:
        return torch.zeros(1, dtype=torch.long)
    count = 1 + -(-(num_samples - window) // hop)  # ceil division
    starts = torch.arange(count, dtype=torch.long) * hop
    starts[-1] = num_samples - window
    return starts


def window_bounds(
    lengths: torch.Tensor, window: int, hop: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Window placement for a batch of clips of different lengths.

    Arguments
    ---------
    lengths : torch.Tensor
        Long ``(B,)`` valid samples per clip.
    window, hop : int
        Window length and distance between starts, in samples (``1 <= hop <= window``).

    Returns
    -------
    bounds : torch.Tensor
        Long ``(B, W)`` × 2: ``bounds[b, w] = (start, end)`` in samples,
        ``end - start = min(window, lengths[b])``; zero where masked.
    mask : torch.Tensor
        Boolean ``(B, W)``: which windows exist.

    Example
    -------
    >>> bounds, mask = window_bounds(torch.tensor([90, 30]), 40, 20)
    >>> bounds[0].tolist()
    [[0, 40], [20, 60], [40, 80], [50, 90]]
    >>> bounds[1, 0].tolist(), mask[1].tolist()
    ([0, 30], [True, False, False, False])
    """
    starts = [window_starts(int(n), window, hop) for n in lengths.tolist()]
    count = max(len(s) for s in starts)
    bounds = torch.zeros(len(starts), count, 2, dtype=torch.long)
    mask = torch.zeros(len(starts), count, dtype=torch.bool)
    for b, (s, n) in enumerate(zip(starts, lengths.tolist())):
        bounds[b, : len(s), 0] = s
        bounds[b, : len(s), 1] = s + min(window, int(n))
        mask[b, : len(s)] = True
    return bounds, mask


def pool_windows(
    window_embeddings: torch.Tensor,
    window_mask: torch.Tensor,
    normalize: bool = True,
) -> torch.Tensor:
    """Clip embedding from window embeddings: masked mean, renormalised.

    Every window counts once, whatever its overlap (the end-aligned last window
    may overlap more); renormalising keeps cosines comparable to a short clip's.

    Arguments
    ---------
    window_embeddings : torch.Tensor
        ``(B, W, D)``.
    window_mask : torch.Tensor
        Boolean ``(B, W)``; every clip has at least one window.
    normalize : bool
        L2-normalise the mean.

    Returns
    -------
    torch.Tensor
        ``(B, D)``.

    Example
    -------
    >>> emb = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    >>> pool_windows(emb, torch.tensor([[True, True, False]]))
    tensor([[0.7071, 0.7071]])
    """
    weights = window_mask.to(window_embeddings.dtype).unsqueeze(-1)
    pooled = (window_embeddings * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return F.normalize(pooled, dim=-1) if normalize else pooled


def stitch_accumulate(
    frames: torch.Tensor,
    positions: torch.Tensor,
    valid: torch.Tensor,
    clip_index: torch.Tensor,
    num_cells: torch.Tensor,
    sums: Optional[torch.Tensor] = None,
    weights: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Adds frames of (overlapping) windows to each clip's frame grid.

    A frame at grid position ``p`` adds weight ``1 - (p - floor(p))`` to cell
    ``floor(p)`` and the rest to the next (a frame on a cell goes to it only);
    cells at or past ``num_cells`` are dropped. Running sums let window batches
    be stitched one at a time with bounded memory, then :func:`stitch_finish`.

    Arguments
    ---------
    frames : torch.Tensor
        ``(N, K, D)`` frame embeddings of ``N`` windows.
    positions : torch.Tensor
        ``(N, K)`` grid positions (see :meth:`FrameGeometry.frame_positions`).
    valid : torch.Tensor
        Boolean ``(N, K)``: frames to use.
    clip_index : torch.Tensor
        Long ``(N,)``: the clip each window belongs to.
    num_cells : torch.Tensor
        Long ``(B,)``: grid cells of each clip.
    sums : torch.Tensor, optional
        ``(B, T, D)`` running sums (created when ``None``).
    weights : torch.Tensor, optional
        ``(B, T)`` running weights.

    Returns
    -------
    sums : torch.Tensor
        ``(B, T, D)``.
    weights : torch.Tensor
        ``(B, T)``.

    Example
    -------
    >>> s, w = stitch_accumulate(torch.ones(1, 2, 3), torch.tensor([[0.5, 1.5]]),
    ...     torch.ones(1, 2, dtype=torch.bool), torch.tensor([0]), torch.tensor([3]))
    >>> w.tolist()
    [[0.5, 1.0, 0.5]]
    """
    frames = frames.float()  # accumulate in fp32, also under autocast
    n_windows, n_frames, dim = frames.shape
    batch, total = len(num_cells), int(num_cells.max())
    device = frames.device
    if sums is None:
        sums = torch.zeros(batch, total, dim, dtype=frames.dtype, device=device)
        weights = torch.zeros(batch, total, dtype=frames.dtype, device=device)
    positions = positions.to(device)
    low = torch.floor(positions)
    frac = (positions - low).to(frames.dtype)
    low = low.long()
    clip = clip_index.to(device)[:, None].expand(-1, n_frames)
    limit = num_cells.to(device)[clip]
    valid = valid.to(device)
    flat_frames = frames.reshape(-1, dim)
    for cell, weight in ((low, 1.0 - frac), (low + 1, frac)):
        keep = valid & (cell >= 0) & (cell < limit) & (weight > 0)
        index = (clip * total + cell.clamp(0, total - 1))[keep]
        w = weight[keep]
        sums.view(-1, dim).index_add_(0, index, flat_frames[keep.flatten()] * w[:, None])
        weights.view(-1).index_add_(0, index, w)
    return sums, weights


def stitch_finish(
    sums: torch.Tensor, weights: torch.Tensor, normalize: bool = True
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Turns running sums into the stitched frames and their mask.

    Arguments
    ---------
    sums : torch.Tensor
        ``(B, T, D)`` from :func:`stitch_accumulate`.
    weights : torch.Tensor
        ``(B, T)``.
    normalize : bool
        L2-normalise each frame.

    Returns
    -------
    stitched : torch.Tensor
        ``(B, T, D)``, zero where masked.
    mask : torch.Tensor
        Boolean ``(B, T)``.

    Example
    -------
    >>> out, mask = stitch_finish(torch.tensor([[[3.0, 4.0], [0.0, 0.0]]]),
    ...                           torch.tensor([[2.0, 0.0]]))
    >>> out, mask
    (tensor([[[0.6000, 0.8000],
             [0.0000, 0.0000]]]), tensor([[ True, False]]))
    """
    mask = weights > 0
    stitched = sums / weights.clamp(min=1e-12).unsqueeze(-1)
    if normalize:
        stitched = F.normalize(stitched, dim=-1)
    return stitched * mask.unsqueeze(-1).to(stitched.dtype), mask


def _check_window_hop(window: int, hop: int) -> None:
    """Raises ``ValueError`` unless ``1 <= hop <= window``."""
    if window < 1:
        raise ValueError(f"window must be at least one sample, got {window}")
    if not 1 <= hop <= window:
        raise ValueError(
            f"hop must lie in [1, window={window}] samples (windows must "
            f"cover the clip), got {hop}"
        )


def seconds_to_samples(seconds: float, sample_rate: int, name: str) -> int:
    """Rounds a duration to samples, refusing non-positive results.

    Arguments
    ---------
    seconds : float
        Duration.
    sample_rate : int
        Rate in Hz.
    name : str
        Argument name for the error message.

    Returns
    -------
    int
        Samples.

    Example
    -------
    >>> seconds_to_samples(2.5, 16000, "window_seconds")
    40000
    """
    samples = int(round(float(seconds) * sample_rate))
    if samples < 1:
        raise ValueError(f"{name} must be positive, got {seconds}")
    return samples


@torch.no_grad()
def encode_windows(
    clap,
    wavs: torch.Tensor,
    wav_lens: Optional[torch.Tensor] = None,
    window: Optional[int] = None,
    hop: Optional[int] = None,
    max_windows_per_batch: int = 16,
    normalize: bool = True,
    return_frames: bool = False,
) -> Union[WindowedEmbedding, Tuple[WindowedEmbedding, StitchedFrames]]:
    """Encodes clips of any length with sliding windows.

    Windows (:func:`window_bounds`) of all clips are encoded together, at most
    ``max_windows_per_batch`` at a time; the clip embedding is
    :func:`pool_windows`, frames are stitched (:func:`stitch_accumulate`). A
    clip's results do not depend on its batch (with a batch-independent
    encoder, e.g. HTSAT ``"pad"``).

    Arguments
    ---------
    clap : torch.nn.Module
        A :class:`speechbrain_tclap.lobes.clap.CLAP`.
    wavs : torch.Tensor
        ``(B, L)`` waveforms at the front end's rate.
    wav_lens : torch.Tensor, optional
        ``(B,)`` relative lengths.
    window : int, optional
        Window length in samples; default the model's ``window_samples``.
    hop : int, optional
        Hop in samples; default :meth:`FrameGeometry.default_hop`.
    max_windows_per_batch : int
        Windows encoded per forward pass.
    normalize : bool
        L2-normalise window embeddings, the pooled embedding and frames.
    return_frames : bool
        Also return the stitched frames.

    Returns
    -------
    WindowedEmbedding or tuple
        The embeddings, and :class:`StitchedFrames` if ``return_frames``.

    Example
    -------
    >>> from speechbrain_tclap.lobes.clap import CLAP
    >>> from speechbrain_tclap.lobes.features import CLAPFeatures
    >>> from speechbrain_tclap.lobes.htsat import HTSAT
    >>> clap = CLAP(CLAPFeatures(sample_rate=8000, n_fft=256, hop_length=80,
    ...                          n_mels=16, f_max=4000.0),
    ...             HTSAT.from_preset("test"), torch.nn.Linear(16, 8),
    ...             torch.nn.Identity(), torch.nn.Identity()).eval()
    >>> out, frames = encode_windows(
    ...     clap, torch.randn(2, 12000), torch.tensor([1.0, 0.25]),
    ...     window=4000, hop=2000, return_frames=True)
    >>> out.window_mask.tolist()
    [[True, True, True, True, True], [True, False, False, False, False]]
    >>> out.window_times[0, -1].tolist()
    [1.0, 1.5]
    >>> frames.frames.shape, frames.mask.sum(1).tolist()
    (torch.Size([2, 19, 8]), [19, 5])
    """
    geometry = FrameGeometry.from_model(clap)
    batch, num_samples = wavs.shape
    lengths = relative_to_samples(wav_lens, num_samples, batch)
    limit = geometry.max_window_samples()
    if window is None:
        window = clap.window_samples
        if window is None:
            raise ValueError("the encoder is unbounded: give a window length")
    if limit is not None and window > limit:
        raise ValueError(
            f"a window of {window} samples ({window / geometry.sample_rate:g} s) "
            f"gives more log-mel frames than the encoder holds "
            f"({geometry.time_capacity}); the longest is {limit} samples"
        )
    hop = geometry.default_hop(window) if hop is None else hop
    _check_window_hop(window, hop)
    if max_windows_per_batch < 1:
        raise ValueError(
            f"max_windows_per_batch must be positive, got {max_windows_per_batch}"
        )

    bounds, window_mask = window_bounds(lengths, window, hop)
    width = min(window, int(lengths.max()))
    items = window_mask.nonzero()  # (N, 2): clip, window
    num_cells = torch.div(
        geometry.mel_frames(lengths) + geometry.frame_hop - 1,
        geometry.frame_hop,
        rounding_mode="floor",
    )
    device = wavs.device
    embeddings = sums = weights = None
    for chunk in items.split(max_windows_per_batch):
        clips, slots = chunk[:, 0], chunk[:, 1]
        starts, ends = bounds[clips, slots, 0], bounds[clips, slots, 1]
        valid = ends - starts
        segment = wavs.new_zeros(len(chunk), width)
        for i, (b, s, n) in enumerate(
            zip(clips.tolist(), starts.tolist(), valid.tolist())
        ):
            segment[i, :n] = wavs[b, s : s + n]
        rel = (valid.double() / width).float().to(device)
        encoded = clap.encode_audio(
            segment, rel, normalize=normalize, return_frames=return_frames
        )
        emb = encoded.embedding if return_frames else encoded
        if embeddings is None:
            embeddings = emb.new_zeros(*window_mask.shape, emb.shape[-1])
        embeddings[clips.to(emb.device), slots.to(emb.device)] = emb
        if return_frames:
            positions, frame_ok = geometry.frame_positions(
                starts, valid, encoded.frames.shape[1]
            )
            frame_ok = frame_ok.to(encoded.frame_mask.device) & encoded.frame_mask
            sums, weights = stitch_accumulate(
                encoded.frames, positions, frame_ok, clips, num_cells, sums, weights
            )

    window_times = bounds.double() / geometry.sample_rate
    window_times = (window_times * window_mask[..., None]).float()
    result = WindowedEmbedding(
        pool_windows(embeddings, window_mask.to(embeddings.device), normalize),
        embeddings,
        window_mask.to(embeddings.device),
        window_times.to(embeddings.device),
    )
    if not return_frames:
        return result
    frames, frame_mask = stitch_finish(sums, weights, normalize)
    times = geometry.grid_times(frames.shape[1]).to(frames.device)
    return result, StitchedFrames(frames, times, frame_mask)


class AudioEmbedder:
    """The one path from waveforms of any length to a CLAP module's audio embeddings.

    Clips within the window (the model's ``window_samples``: its
    ``clip_seconds``, else the most its encoder holds) are encoded whole; so
    are all clips for fusion encoders and towers without a time axis (CNN14).
    Longer clips go through :func:`encode_windows`.

    Arguments
    ---------
    model : speechbrain_tclap.lobes.clap.CLAP
        The module (eval mode).
    window_seconds : float, optional
        Window length; default the model's window.
    hop_seconds : float, optional
        Default half a window, in whole frames (:meth:`FrameGeometry.default_hop`).
    max_windows_per_batch : int
        Windows encoded per forward pass (bounds memory).
    whole : bool
        Encode every clip in one pass, refusing clips longer than the encoder
        holds (ZSTE's ``window="whole"``).

    Example
    -------
    >>> from speechbrain_tclap.lobes.clap import CLAP
    >>> from speechbrain_tclap.lobes.features import CLAPFeatures
    >>> from speechbrain_tclap.lobes.htsat import HTSAT
    >>> clap = CLAP(CLAPFeatures(sample_rate=8000, n_fft=256, hop_length=80,
    ...     n_mels=16, f_max=4000.0), HTSAT.from_preset("test"), torch.nn.Linear(16, 8),
    ...     torch.nn.Identity(), torch.nn.Identity(), clip_seconds=0.5).eval()
    >>> embedder = AudioEmbedder(clap)
    >>> embedder.window, embedder.window_seconds
    (4000, 0.5)
    >>> out = embedder.encode_audio(torch.randn(2, 12000), torch.tensor([1.0, 0.25]),
    ...                             return_frames=True)
    >>> out.embedding.shape, out.frames.shape, out.frame_mask.sum(1).tolist()
    (torch.Size([2, 8]), torch.Size([2, 19, 8]), [19, 5])
    >>> AudioEmbedder(clap, whole=True).encode_audio(torch.randn(1, 9000))
    Traceback (most recent call last):
        ...
    ValueError: clips of 1.125 s exceed what the audio encoder holds in one pass (0.639875 s); embed them in sliding windows (whole=False) or pass shorter clips
    """

    def __init__(
        self,
        model,
        window_seconds: Optional[float] = None,
        hop_seconds: Optional[float] = None,
        max_windows_per_batch: int = 16,
        whole: bool = False,
    ):
        self.model = model
        self.geometry = model.frame_geometry
        self.sample_rate = model.sample_rate
        self.window = (
            model.window_samples
            if window_seconds is None
            else seconds_to_samples(window_seconds, self.sample_rate, "window_seconds")
        )
        self.hop = (
            None
            if hop_seconds is None
            else seconds_to_samples(hop_seconds, self.sample_rate, "hop_seconds")
        )
        self.max_windows_per_batch = int(max_windows_per_batch)
        self.whole = bool(whole)

    @property
    def window_seconds(self) -> Optional[float]:
        """The window in seconds (``None``: clips are always encoded whole)."""
        return None if self.window is None else self.window / self.sample_rate

    @torch.no_grad()
    def encode_windows(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor] = None,
        normalize: bool = True,
        return_frames: bool = False,
    ) -> Union[WindowedEmbedding, Tuple[WindowedEmbedding, StitchedFrames]]:
        """:func:`encode_windows` with this embedder's window and hop.

        Arguments
        ---------
        wavs, wav_lens, normalize, return_frames
            As :meth:`encode_audio`.

        Returns
        -------
        WindowedEmbedding or tuple
            As :func:`encode_windows`.
        """
        return encode_windows(
            self.model, wavs, wav_lens, self.window, self.hop,
            self.max_windows_per_batch, normalize, return_frames,
        )

    @torch.no_grad()
    def encode_audio(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor] = None,
        normalize: bool = True,
        return_frames: bool = False,
    ):
        """Clip embeddings (and frames) of a batch of waveforms of any length.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(B, L)`` waveforms at the model rate.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths.
        normalize : bool
            L2-normalise.
        return_frames : bool
            Also return frame embeddings and mask (stitched for windowed clips).

        Returns
        -------
        torch.Tensor or EncodedAudio
            ``(B, D)`` embeddings, or the model's ``EncodedAudio``.
        """
        batch, num_samples = wavs.shape
        lengths = relative_to_samples(wav_lens, num_samples, batch)
        longest = int(lengths.max())
        device = next(self.model.parameters()).device
        wavs = wavs.to(device)
        fused = bool(getattr(self.model.audio_encoder, "enable_fusion", False))
        if self.whole and self.geometry is not None:
            limit = self.geometry.max_window_samples()
            if limit is not None and longest > limit:
                raise ValueError(
                    f"clips of {longest / self.sample_rate:g} s exceed what the audio "
                    f"encoder holds in one pass ({limit / self.sample_rate:g} s); embed "
                    "them in sliding windows (whole=False) or pass shorter clips"
                )
        elif self.window is not None and longest > self.window and not fused:
            out = self.encode_windows(wavs, wav_lens, normalize, return_frames)
            if not return_frames:
                return out.embedding
            windows, frames = out
            return EncodedAudio(windows.embedding, frames.frames, frames.mask)
        # one pass: drop the batch padding past the longest clip
        return self.model.encode_audio(
            wavs[:, :longest],
            (lengths.float() / longest).to(device),
            normalize=normalize,
            return_frames=return_frames,
        )

    @torch.no_grad()
    def frame_scores(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor],
        text_embeddings: torch.Tensor,
        score_normalization: str = "none",
    ) -> FrameScores:
        """Cosine similarity of every stitched frame with every text embedding.

        Arguments
        ---------
        wavs, wav_lens
            As :meth:`encode_audio`.
        text_embeddings : torch.Tensor
            ``(N_text, D)`` normalised text embeddings.
        score_normalization : str
            ``"none"`` (cosines) or ``"prompt_mean"``, see
            :func:`speechbrain_tclap.events.normalize_frame_scores`.

        Returns
        -------
        FrameScores
            ``scores (B, T, N_text)`` (zero where masked), ``times (T,)``,
            ``mask (B, T)``.
        """
        device = next(self.model.parameters()).device
        _, frames = self.encode_windows(wavs.to(device), wav_lens, return_frames=True)
        text = text_embeddings.float().to(frames.frames.device)
        scores = normalize_frame_scores(frames.frames.float() @ text.T, score_normalization)
        scores = scores * frames.mask.unsqueeze(-1).to(scores.dtype)
        return FrameScores(scores, frames.times, frames.mask)
