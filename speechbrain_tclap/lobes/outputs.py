"""Output records of the audio and text towers, and the time axis of audio frames.

Every audio encoder returns an :class:`AudioEncoderOutput` and every text
encoder a :class:`TextEncoderOutput`, so towers, pooling, aligners and metrics
can be swapped in YAML. :class:`FrameGeometry` (CLAP's ``frame_geometry``) says
where in time an audio tower's frames lie.

Authors
 * speechbrain-tclap developers 2026
"""

from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple

import torch

from speechbrain_tclap.lobes.features import count_frames


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


@dataclass(frozen=True)
class FrameGeometry:
    """The time axis of an audio tower: front-end framing and encoder frames.

    Arguments
    ---------
    sample_rate : int
        Waveform rate in Hz.
    hop_length : int
        Front-end hop between log-mel frames, in samples.
    frame_hop : int
        Log-mel frames per encoder output frame (HTSAT-tiny: 32).
    time_capacity : int, optional
        Most log-mel frames the encoder takes (``None``: unbounded).
    center : bool
        Whether log-mel frame ``t`` is centred on sample ``t * hop_length``
        (else on ``t * hop_length + n_fft / 2``).
    n_fft : int
        Front-end FFT size.
    stretch : bool
        Whether the encoder stretches every input to ``time_capacity``
        (HTSAT ``time_fill="stretch"``): its frames then spread over the
        real length instead of ``frame_hop`` log-mel frames each.

    Example
    -------
    >>> geo = FrameGeometry(sample_rate=16000, hop_length=320, frame_hop=16,
    ...                     time_capacity=128)
    >>> geo.frame_period, geo.max_window_samples()
    (5120, 40959)
    >>> geo.grid_times(3)
    tensor([0.1500, 0.4700, 0.7900])
    """

    sample_rate: int
    hop_length: int
    frame_hop: int
    time_capacity: Optional[int] = None
    center: bool = True
    n_fft: int = 0
    stretch: bool = False

    @classmethod
    def from_model(cls, clap) -> "FrameGeometry":
        """Reads the geometry off a CLAP module's front end and encoder.

        Arguments
        ---------
        clap : torch.nn.Module
            With ``audio_features`` (``sample_rate``, ``hop_length``, optional
            ``center`` / ``n_fft``) and ``audio_encoder`` (``frame_hop``,
            optional ``time_capacity`` / ``time_fill``), like
            :class:`speechbrain_tclap.lobes.clap.CLAP`.

        Returns
        -------
        FrameGeometry
            The geometry.

        Example
        -------
        >>> from types import SimpleNamespace
        >>> from speechbrain_tclap.lobes.features import CLAPFeatures
        >>> from speechbrain_tclap.lobes.htsat import HTSAT
        >>> clap = SimpleNamespace(audio_features=CLAPFeatures.from_preset("laion"),
        ...                        audio_encoder=HTSAT.from_preset("test"))
        >>> geo = FrameGeometry.from_model(clap)  # HTSAT-tiny: 32, 1024, 0.32
        >>> geo.frame_hop, geo.time_capacity, geo.frame_period / geo.sample_rate
        (8, 64, 0.08)
        """
        features, encoder = clap.audio_features, clap.audio_encoder
        missing = [
            f"audio_features.{name}"
            for name in ("sample_rate", "hop_length")
            if not hasattr(features, name)
        ]
        if not hasattr(encoder, "frame_hop"):
            missing.append("audio_encoder.frame_hop")
        if missing:
            raise ValueError(
                "sliding windows and frame times need the attributes "
                f"{missing} (CLAPFeatures and HTSAT have them)"
            )
        return cls(
            sample_rate=int(features.sample_rate),
            hop_length=int(features.hop_length),
            frame_hop=int(encoder.frame_hop),
            time_capacity=getattr(encoder, "time_capacity", None),
            center=bool(getattr(features, "center", True)),
            n_fft=int(getattr(features, "n_fft", 0)),
            stretch=getattr(encoder, "time_fill", "pad") == "stretch",
        )

    @property
    def frame_period(self) -> int:
        """Samples between encoder output frames (``frame_hop * hop_length``)."""
        return self.frame_hop * self.hop_length

    def mel_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Log-mel frames of clips of ``num_samples`` samples (long tensor).

        Arguments
        ---------
        num_samples : torch.Tensor
            Long tensor of sample counts.

        Returns
        -------
        torch.Tensor
            Long tensor of the same shape (at least 1).

        Example
        -------
        >>> FrameGeometry(16000, 320, 16).mel_frames(torch.tensor([40000, 1]))
        tensor([126,   1])
        """
        frames = count_frames(num_samples, self.hop_length, self.n_fft, self.center)
        return frames.clamp(min=1)

    def max_window_samples(self) -> Optional[int]:
        """Longest input (samples) whose log-mel fits ``time_capacity``.

        Returns
        -------
        int or None
            ``None`` when the encoder is unbounded.
        """
        if self.time_capacity is None:
            return None
        if self.center:
            return self.time_capacity * self.hop_length - 1
        return self.n_fft + self.time_capacity * self.hop_length - 1

    def default_hop(self, window: int) -> int:
        """Half a window, rounded to a whole number of encoder frames.

        Rounding keeps every window but the end-aligned last one on the
        shared frame grid (:mod:`speechbrain_tclap.windows`); the hop stays in
        ``[frame_period, window]``, or is half a window when one frame period
        is longer than that.

        Arguments
        ---------
        window : int
            Window length in samples.

        Returns
        -------
        int
            Hop in samples.

        Example
        -------
        >>> geo = FrameGeometry(48000, 480, 32, 1024)  # HTSAT-tiny, LAION
        >>> geo.default_hop(480000) / 48000  # 10-s windows
        5.12
        """
        period = self.frame_period
        if period > window:
            return max(1, window // 2)
        frames = max(1, round(window / 2 / period))
        return min(frames * period, window)

    def grid_times(self, num_frames: int) -> torch.Tensor:
        """Centres, in seconds, of the first ``num_frames`` grid cells.

        Cell ``j`` covers log-mel frames ``j * frame_hop`` to
        ``(j + 1) * frame_hop - 1`` of the clip; its centre is the mean of
        their centres.

        Arguments
        ---------
        num_frames : int
            Number of cells.

        Returns
        -------
        torch.Tensor
            Float32 ``(num_frames,)`` (computed in float64).
        """
        mel = torch.arange(num_frames, dtype=torch.float64) * self.frame_hop
        mel = mel + (self.frame_hop - 1) / 2
        offset = 0.0 if self.center else self.n_fft / 2
        return ((mel * self.hop_length + offset) / self.sample_rate).float()

    def frame_positions(
        self,
        starts: torch.Tensor,
        valid_samples: torch.Tensor,
        num_frames: int,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Grid positions and validity of the output frames of windows.

        Arguments
        ---------
        starts : torch.Tensor
            Long ``(N,)`` window starts in samples (in clip coordinates).
        valid_samples : torch.Tensor
            Long ``(N,)`` real samples in each window.
        num_frames : int
            Output frames per window ``K``.

        Returns
        -------
        positions : torch.Tensor
            Float64 ``(N, K)`` grid positions (cell ``j`` is at ``j``).
        valid : torch.Tensor
            Boolean ``(N, K)``: frames that start within the real log-mel
            frames (all frames with ``stretch``).

        Example
        -------
        >>> geo = FrameGeometry(16000, 320, 16, 128)
        >>> pos, ok = geo.frame_positions(torch.tensor([0, 5120 * 3, 100]),
        ...                               torch.tensor([40000, 40000, 3000]), 8)
        >>> pos[1, :3].tolist(), round(pos[2, 0].item(), 4), ok[2].tolist()
        ([3.0, 4.0, 5.0], 0.0195, [True, False, False, False, False, False, False, False])
        """
        mel_valid = self.mel_frames(valid_samples).double()  # (N,)
        k = torch.arange(num_frames, dtype=torch.float64)
        centre = k * self.frame_hop + (self.frame_hop - 1) / 2  # (K,)
        if self.stretch and self.time_capacity is not None:
            # align_corners=True bicubic: stretched frame i reads source
            # frame i * (n - 1) / (capacity - 1)
            scale = (mel_valid - 1) / max(self.time_capacity - 1, 1)
            centre = centre[None, :] * scale[:, None]
            valid = torch.ones(len(starts), num_frames, dtype=torch.bool)
        else:
            centre = centre[None, :].expand(len(starts), -1)
            valid = (k[None, :] * self.frame_hop) < mel_valid[:, None]
        offset = starts.double()[:, None] / self.hop_length
        positions = (offset + centre - (self.frame_hop - 1) / 2) / self.frame_hop
        return positions, valid
