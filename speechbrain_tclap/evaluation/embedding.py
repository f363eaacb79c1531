"""Deterministic audio and text embeddings of a CLAP model, for evaluations.

:class:`CLAPEmbedder` embeds evaluation audio (each view in one pass, or in
the fixed sliding windows of :func:`speechbrain_tclap.windows.encode_windows`)
and prompts, in batches, without gradients, on any CLAP module or pretrained
interface (exported or converted checkpoints). ZSTE
(:mod:`speechbrain_tclap.evaluation.zste`) scores its prompts with it.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import Optional, Sequence

import torch

from speechbrain_tclap.windows import FrameGeometry, encode_windows, seconds_to_samples


class CLAPEmbedder:
    """Deterministic audio and text embeddings from a CLAP module.

    Arguments
    ---------
    model : torch.nn.Module
        A :class:`speechbrain_tclap.lobes.clap.CLAP` (in eval mode).
    device : str or torch.device
        Where the model runs.
    window : str
        ``"whole"``: each view is encoded in one pass (the paper's 10-s
        concatenation as one input; an error if the audio encoder cannot
        hold it). ``"sliding"``: fixed sliding windows of ``window_seconds``
        pooled as the pretrained interface does for long audio.
    window_seconds : float, optional
        Window of ``"sliding"`` (default: the most the encoder holds).
    batch_size : int
        Audio views or texts per forward pass.

    Example
    -------
    >>> from speechbrain_tclap.lobes.clap import CLAP
    >>> from speechbrain_tclap.lobes.features import CLAPFeatures
    >>> from speechbrain_tclap.lobes.htsat import HTSAT
    >>> clap = CLAP(CLAPFeatures(sample_rate=8000, n_fft=256, hop_length=80,
    ...     n_mels=16, f_max=4000.0), HTSAT.from_preset("test"), torch.nn.Linear(16, 8),
    ...     torch.nn.Identity(), torch.nn.Identity()).eval()
    >>> emb = CLAPEmbedder(clap).encode_audio(torch.randn(3, 4000), torch.tensor([1.0, 1.0, 0.5]))
    >>> emb.shape
    torch.Size([3, 8])
    """

    def __init__(
        self,
        model,
        device="cpu",
        window: str = "whole",
        window_seconds: Optional[float] = None,
        batch_size: int = 16,
    ):
        if window not in ("whole", "sliding"):
            raise ValueError(f"window must be 'whole' or 'sliding', got {window!r}")
        self.model = model
        self.device = device
        self.window = window
        self.window_seconds = window_seconds
        self.batch_size = int(batch_size)
        try:
            self.geometry = FrameGeometry.from_model(model)
        except ValueError:  # a tower without a time axis (e.g. CNN14): unbounded
            self.geometry = None

    @classmethod
    def from_interface(cls, interface, **kwargs) -> "CLAPEmbedder":
        """The embedder of a :class:`speechbrain_tclap.inference.CLAP` interface.

        Arguments
        ---------
        interface : speechbrain_tclap.inference.CLAP
            A loaded pretrained interface.
        **kwargs
            As the constructor (``window_seconds`` defaults to the
            interface's ``clip_seconds``).

        Returns
        -------
        CLAPEmbedder
            The embedder.
        """
        kwargs.setdefault("window_seconds", getattr(interface.hparams, "clip_seconds", None))
        interface.mods.eval()
        return cls(interface.mods.clap, interface.device, **kwargs)

    @property
    def sample_rate(self) -> int:
        """The model's sample rate (from its front end)."""
        return int(self.model.audio_features.sample_rate)

    def max_samples(self) -> Optional[int]:
        """Longest input the audio encoder holds in one pass (None: any)."""
        return None if self.geometry is None else self.geometry.max_window_samples()

    @torch.no_grad()
    def encode_audio(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> torch.Tensor:
        """Normalised embeddings of same-length views.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(N, L)`` waveforms at the model rate.
        wav_lens : torch.Tensor
            ``(N,)`` relative lengths.

        Returns
        -------
        torch.Tensor
            ``(N, D)`` float32 on CPU.
        """
        limit = self.max_samples()
        if self.window == "whole" and limit is not None and wavs.shape[1] > limit:
            raise ValueError(
                f"views of {wavs.shape[1] / self.sample_rate:g} s exceed what the "
                f"audio encoder holds in one pass ({limit / self.sample_rate:g} s); use "
                "window='sliding' (fixed windows) or shorter segment_seconds"
            )
        out = []
        for start in range(0, wavs.shape[0], self.batch_size):
            chunk = wavs[start : start + self.batch_size].to(self.device)
            lens = wav_lens[start : start + self.batch_size].to(self.device)
            if self.window == "whole":
                emb = self.model.encode_audio(chunk, lens)
            else:
                window = None
                if self.window_seconds is not None:
                    window = seconds_to_samples(
                        self.window_seconds, self.sample_rate, "window_seconds"
                    )
                emb = encode_windows(self.model, chunk, lens, window=window).embedding
            out.append(emb.float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Normalised embeddings of texts.

        Arguments
        ---------
        texts : sequence of str
            Prompts.

        Returns
        -------
        torch.Tensor
            ``(N, D)`` float32 on CPU.
        """
        texts = list(texts)
        return torch.cat(
            [
                self.model.encode_text(texts[k : k + self.batch_size]).float().cpu()
                for k in range(0, len(texts), self.batch_size)
            ]
        )
