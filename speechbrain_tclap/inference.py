"""Pretrained CLAP interface for SpeechBrain.

``CLAP.from_hparams(source=folder)`` loads a folder written by
:func:`speechbrain_tclap.export.export_pretrained` (or any folder with a
``hyperparams.yaml`` defining ``clap``, ``sample_rate``, ``modules`` and a
``pretrainer``) and offers:

* ``encode_audio(audio, wav_lens=None)``: files, one waveform, or a batch of
  waveforms with relative lengths → normalised embeddings;
* ``encode_text(texts)`` → normalised embeddings;
* ``similarity(audio, texts)`` → cosine similarities ``(N_audio, N_text)``;
* ``classify_zero_shot(audio, labels, template="This is a sound of {}.")``;
* ``encode_audio_windows(audio, window_seconds=None, hop_seconds=None)`` →
  :class:`~speechbrain_tclap.windows.WindowedEmbedding` (per-window
  embeddings with their start/end times, and the pooled clip embedding);
* ``frame_scores(audio, texts)`` →
  :class:`~speechbrain_tclap.windows.FrameScores` (frame-text cosine
  similarities with frame times in seconds);
* ``detect_events(audio, texts, threshold)`` → per clip, the events
  (text, onset, offset in seconds) where each text is heard: zero-shot sound
  event detection and text-to-audio grounding;
* ``plot_frame_scores(audio, texts, path, events=None)`` → a PNG of the
  frame-by-text similarity over time with the true event boundaries.

Long audio. The model window is ``clip_seconds`` from the hyperparameters
(else the most the encoder holds). Audio longer than that is cut into
sliding windows (:mod:`speechbrain_tclap.windows`): by default half a window
apart (rounded to whole encoder frames), the last window aligned to the
clip's end, at most ``max_windows_per_batch`` windows per forward pass
(hyperparameter or attribute, default 16). A long clip's embedding is the mean of the
window embeddings, renormalised; so ``encode_audio``, ``similarity`` and
``classify_zero_shot`` take long files as they are. Frame embeddings of
overlapping windows are stitched onto one time grid. Clips of at most one
window are encoded whole, padded and masked.

Evaluation is deterministic: files are read whole, resampled to the model
rate, padded or cut into fixed windows (never randomly cropped).

``CLAP.from_pretrained(name)`` loads a public checkpoint by short name
(:mod:`speechbrain_tclap.pretrained`), an exported folder or an interface
YAML, from any directory (the command lines, :mod:`speechbrain_tclap.cli`,
load through it).

Authors
 * speechbrain-tclap developers 2026
"""

from typing import List, Optional, Sequence, Tuple, Union

import torch
from speechbrain.inference.interfaces import Pretrained

from speechbrain_tclap.data.audio import read_audio
from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.events import SCORE_LABELS, normalize_frame_scores, scores_to_events
from speechbrain_tclap.lobes.clap import EncodedAudio
from speechbrain_tclap.data.captions import DEFAULT_PROMPT_TEMPLATE
from speechbrain_tclap.windows import (
    FrameGeometry,
    FrameScores,
    WindowedEmbedding,
    encode_windows,
    relative_to_samples,
    seconds_to_samples,
)

AudioInput = Union[str, Sequence[str], torch.Tensor]

__all__ = ["CLAP", "FrameScores", "WindowedEmbedding"]


class CLAP(Pretrained):
    """Zero-shot audio classification, retrieval and embeddings with a CLAP model.

    Arguments
    ---------
    *args, **kwargs
        As :class:`speechbrain.inference.interfaces.Pretrained`.

    Attributes
    ----------
    max_windows_per_batch : int
        Windows of long audio encoded per forward pass (hyperparameter
        ``max_windows_per_batch``, default 16): bounds memory.

    Example
    -------
    A pretrained folder loads with ``CLAP.from_hparams(source=folder)``
    (see the README and ``tests/integration``). Modules in memory work too:

    >>> from speechbrain_tclap.lobes.clap import CLAP as CLAPModule
    >>> from speechbrain_tclap.lobes.features import CLAPFeatures
    >>> from speechbrain_tclap.lobes.htsat import HTSAT
    >>> from speechbrain_tclap.lobes.text import TransformerTextEncoder
    >>> def tokenize(texts):  # toy character tokenizer
    ...     ids = torch.tensor([[ord(c) % 64 for c in t[:6].ljust(6)] for t in texts])
    ...     return ids, torch.ones_like(ids, dtype=torch.bool)
    >>> model = CLAPModule(
    ...     CLAPFeatures(sample_rate=8000, n_fft=256, hop_length=80, n_mels=16,
    ...                  f_max=4000.0),
    ...     HTSAT.from_preset("test"), torch.nn.Linear(16, 8),
    ...     TransformerTextEncoder(tokenize, vocab_size=64, d_model=8, nhead=2,
    ...                            num_layers=1, max_length=8),
    ...     torch.nn.Linear(8, 8))
    >>> clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
    ...             hparams={"sample_rate": 8000, "clap": model, "clip_seconds": 0.5})
    >>> clap.encode_audio(torch.randn(2, 16000)).shape  # 2 s: 7 windows each
    torch.Size([2, 8])
    >>> probs, labels = clap.classify_zero_shot(torch.randn(8000), ["dog", "cat"])
    >>> probs.shape
    torch.Size([1, 2])
    """

    HPARAMS_NEEDED = ["sample_rate", "clap"]
    MODULES_NEEDED = ["clap"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sample_rate = int(self.hparams.sample_rate)
        self.model = self.mods.clap
        self.max_windows_per_batch = int(
            getattr(self.hparams, "max_windows_per_batch", 16)
        )

    @classmethod
    def from_pretrained(
        cls,
        name: str,
        checkpoint: Optional[str] = None,
        tokenizer_folder: Optional[str] = None,
        savedir: Optional[str] = None,
        device: str = "cpu",
        overrides: Optional[dict] = None,
        **kwargs,
    ) -> "CLAP":
        """Load a model by short name, exported folder or interface YAML, from any directory.

        Names (:func:`speechbrain_tclap.pretrained.list_pretrained`) select an
        interface file shipped with the package; local paths are checked first
        (a missing one is a ``FileNotFoundError`` at once, without a Hub
        lookup), then :meth:`from_hparams` loads as usual.

        Arguments
        ---------
        name : str
            A registry name (e.g. ``"laion-630k-audioset"``, ``"msclap-2023"``),
            a folder that a recipe exported, or an interface YAML.
        checkpoint : str, optional
            The weights: a local file, or ``"<HF repo id>/<file>"``; default the
            name's public checkpoint.
        tokenizer_folder : str, optional
            Local folder with the tokenizer files (for text).
        savedir : str, optional
            Where the interface collects its files; default
            :func:`speechbrain_tclap.pretrained.default_savedir`.
        device : str
            Device.
        overrides : dict, optional
            Further hyperparameter overrides.
        **kwargs
            Passed to :meth:`from_hparams`.

        Returns
        -------
        CLAP
            The interface.

        Example
        -------
        >>> CLAP.from_pretrained("msclap-2023", checkpoint="/no/such/CLAP_weights_2023.pth")
        Traceback (most recent call last):
            ...
        FileNotFoundError: checkpoint '/no/such/CLAP_weights_2023.pth': no such file (give a local file, or '<HF repo id>/<file>' to download)
        """
        from speechbrain_tclap.pretrained import default_savedir, resolve_pretrained

        source, hparams_file, overrides = resolve_pretrained(
            name, checkpoint, tokenizer_folder, overrides
        )
        return cls.from_hparams(
            source=source,
            hparams_file=hparams_file,
            savedir=savedir or default_savedir(name),
            overrides=overrides,
            run_opts={"device": device, **kwargs.pop("run_opts", {})},
            **kwargs,
        )

    def load_audio(self, path: str, savedir: Optional[str] = None) -> torch.Tensor:
        """Read a file with soundfile, resampled to the model rate.

        Arguments
        ---------
        path : str
            Audio file.
        savedir : str, optional
            Unused (files are read in place).

        Returns
        -------
        torch.Tensor
            ``(L,)`` waveform.
        """
        return read_audio(path, self.sample_rate, resample=True)

    def _batch_audio(
        self, audio: AudioInput, wav_lens: Optional[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Turn files or tensors into a padded batch with relative lengths."""
        if isinstance(audio, str):
            audio = [audio]
        if isinstance(audio, torch.Tensor):
            wavs = audio.unsqueeze(0) if audio.dim() == 1 else audio
            if wavs.dim() != 2:
                raise ValueError(
                    f"expected a waveform (L,) or a batch (B, L), got {tuple(audio.shape)}"
                )
            if wav_lens is None:
                wav_lens = torch.ones(wavs.shape[0])
            return wavs.float(), wav_lens.float()
        signals = [self.load_audio(p) for p in audio]
        max_len = max(s.shape[0] for s in signals)
        wavs = torch.zeros(len(signals), max_len)
        for i, s in enumerate(signals):
            wavs[i, : s.shape[0]] = s
        lens = torch.tensor([s.shape[0] / max_len for s in signals])
        return wavs, lens

    def _frame_geometry(self) -> Optional[FrameGeometry]:
        """The model's time axis, or ``None`` for towers without one."""
        try:
            return FrameGeometry.from_model(self.model)
        except ValueError:
            return None

    def _window_samples(
        self, geometry: FrameGeometry, window_seconds: Optional[float]
    ) -> Optional[int]:
        """Window length in samples: given, else ``clip_seconds``, else the capacity."""
        if window_seconds is None:
            window_seconds = getattr(self.hparams, "clip_seconds", None)
        if window_seconds is None:
            return geometry.max_window_samples()
        return seconds_to_samples(window_seconds, self.sample_rate, "window_seconds")

    def _encode_windows(
        self,
        wavs: torch.Tensor,
        lens: torch.Tensor,
        window_seconds: Optional[float],
        hop_seconds: Optional[float],
        max_windows_per_batch: Optional[int],
        normalize: bool = True,
        return_frames: bool = False,
    ):
        """Runs :func:`speechbrain_tclap.windows.encode_windows` on the model."""
        geometry = FrameGeometry.from_model(self.model)
        window = self._window_samples(geometry, window_seconds)
        hop = (
            None
            if hop_seconds is None
            else seconds_to_samples(hop_seconds, self.sample_rate, "hop_seconds")
        )
        with self.inference_ctx:
            return encode_windows(
                self.model,
                wavs.to(self.device),
                lens,
                window=window,
                hop=hop,
                max_windows_per_batch=max_windows_per_batch
                or self.max_windows_per_batch,
                normalize=normalize,
                return_frames=return_frames,
            )

    @torch.no_grad()
    def encode_audio(
        self,
        audio: AudioInput,
        wav_lens: Optional[torch.Tensor] = None,
        normalize: bool = True,
        return_frames: bool = False,
    ) -> Union[torch.Tensor, EncodedAudio]:
        """Embed audio files or waveforms of any length.

        Clips of at most one model window are encoded whole (padded and
        masked); so are clips of any length for fusion encoders (LAION's
        fused models, deterministic views). Longer clips are otherwise
        encoded in sliding windows and get the
        pooled embedding of :meth:`encode_audio_windows` (mean of the window
        embeddings, renormalised); their frames, with ``return_frames``, are
        the stitched frames of :meth:`frame_scores`, one per encoder frame
        period from the clip's start.

        Arguments
        ---------
        audio : str, list of str, or torch.Tensor
            File path(s), or ``(L,)`` / ``(B, L)`` waveforms at the model rate.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths for batched tensors.
        normalize : bool
            L2-normalise.
        return_frames : bool
            Also return frame embeddings and mask.

        Returns
        -------
        torch.Tensor or EncodedAudio
            ``(B, D)`` embeddings (or frames too).

        Example
        -------
        >>> from speechbrain_tclap.lobes.clap import CLAP as CLAPModule
        >>> from speechbrain_tclap.lobes.features import CLAPFeatures
        >>> from speechbrain_tclap.lobes.htsat import HTSAT
        >>> model = CLAPModule(CLAPFeatures(sample_rate=8000, n_fft=256,
        ...     hop_length=80, n_mels=16, f_max=4000.0), HTSAT.from_preset("test"),
        ...     torch.nn.Linear(16, 8), torch.nn.Identity(), torch.nn.Identity())
        >>> clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
        ...             hparams={"sample_rate": 8000, "clap": model, "clip_seconds": 0.5})
        >>> wavs = torch.randn(2, 12000)  # 1.5 s: windows for the first clip
        >>> out = clap.encode_audio(wavs, torch.tensor([1.0, 0.25]), return_frames=True)
        >>> out.embedding.shape, out.frames.shape, out.frame_mask.sum(1).tolist()
        (torch.Size([2, 8]), torch.Size([2, 19, 8]), [19, 5])
        >>> short = clap.encode_audio(wavs[1, :3000])  # one window: encoded whole
        >>> torch.allclose(short, out.embedding[1], atol=1e-5)
        True
        """
        wavs, lens = self._batch_audio(audio, wav_lens)
        batch, num_samples = wavs.shape
        lengths = relative_to_samples(lens, num_samples, batch)
        longest = int(lengths.max())
        geometry = self._frame_geometry()
        window = None if geometry is None else self._window_samples(geometry, None)
        # A fusion encoder sees long clips whole (its global + 3 fixed views).
        fused = bool(getattr(self.model.audio_encoder, "enable_fusion", False))
        if window is not None and longest > window and not fused:
            out = self._encode_windows(
                wavs, lens, None, None, None, normalize, return_frames
            )
            if not return_frames:
                return out.embedding
            windows, frames = out
            return EncodedAudio(windows.embedding, frames.frames, frames.mask)
        # one window per clip: drop the batch padding past the longest clip
        wavs = wavs[:, :longest]
        lens = lengths.float() / longest
        with self.inference_ctx:
            return self.model.encode_audio(
                wavs.to(self.device),
                lens.to(self.device),
                normalize=normalize,
                return_frames=return_frames,
            )

    @torch.no_grad()
    def encode_audio_windows(
        self,
        audio: AudioInput,
        window_seconds: Optional[float] = None,
        hop_seconds: Optional[float] = None,
        *,
        wav_lens: Optional[torch.Tensor] = None,
        max_windows_per_batch: Optional[int] = None,
    ) -> WindowedEmbedding:
        """Embed audio in sliding windows (deterministic placement).

        Windows of ``window_seconds`` start every ``hop_seconds``; the last
        one ends at the clip's end, so only a clip shorter than one window
        is padded. See :func:`speechbrain_tclap.windows.window_starts`.

        Arguments
        ---------
        audio : str, list of str, or torch.Tensor
            File path(s), or ``(L,)`` / ``(B, L)`` waveforms at the model rate.
        window_seconds : float, optional
            Window length; default ``clip_seconds`` of the model, else the
            most its encoder holds (longer windows are refused).
        hop_seconds : float, optional
            Distance between window starts, at most ``window_seconds``;
            default half a window, rounded to whole encoder frames (e.g.
            5.12 s for 10-s windows of HTSAT-tiny at 48 kHz).
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths for batched tensors.
        max_windows_per_batch : int, optional
            Windows per forward pass; default the ``max_windows_per_batch``
            attribute.

        Returns
        -------
        WindowedEmbedding
            ``embedding (B, D)`` (mean of the window embeddings,
            renormalised), ``window_embeddings (B, W, D)``,
            ``window_mask (B, W)``, ``window_times (B, W, 2)`` (start, end in
            seconds; per clip, as each clip's last window ends at its end).

        Example
        -------
        >>> from speechbrain_tclap.lobes.clap import CLAP as CLAPModule
        >>> from speechbrain_tclap.lobes.features import CLAPFeatures
        >>> from speechbrain_tclap.lobes.htsat import HTSAT
        >>> model = CLAPModule(CLAPFeatures(sample_rate=8000, n_fft=256,
        ...     hop_length=80, n_mels=16, f_max=4000.0), HTSAT.from_preset("test"),
        ...     torch.nn.Linear(16, 8), torch.nn.Identity(), torch.nn.Identity())
        >>> clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
        ...             hparams={"sample_rate": 8000, "clap": model})
        >>> out = clap.encode_audio_windows(torch.randn(11000), 0.5, 0.25)
        >>> out.window_times[0].tolist()
        [[0.0, 0.5], [0.25, 0.75], [0.5, 1.0], [0.75, 1.25], [0.875, 1.375]]
        >>> out.window_embeddings.shape, out.embedding.shape
        (torch.Size([1, 5, 8]), torch.Size([1, 8]))
        """
        wavs, lens = self._batch_audio(audio, wav_lens)
        return self._encode_windows(
            wavs, lens, window_seconds, hop_seconds, max_windows_per_batch
        )

    @torch.no_grad()
    def frame_scores(
        self,
        audio: AudioInput,
        texts: Union[str, List[str]],
        wav_lens: Optional[torch.Tensor] = None,
        window_seconds: Optional[float] = None,
        hop_seconds: Optional[float] = None,
        max_windows_per_batch: Optional[int] = None,
        score_normalization: str = "none",
    ) -> FrameScores:
        """Cosine similarity of every audio frame with every text.

        Frames are the projected, L2-normalised frame embeddings of
        :meth:`speechbrain_tclap.lobes.clap.CLAP.encode_audio`
        (``return_frames=True``), on one grid per clip: a frame every
        encoder frame period (``frame_hop`` log-mel frames × the front-end
        hop; 0.32 s for HTSAT-tiny at 48 kHz) from the clip's start.
        Long audio is encoded in sliding windows as in
        :meth:`encode_audio_windows`, and where windows overlap their frames
        are averaged (then renormalised); see :mod:`speechbrain_tclap.windows`.

        Arguments
        ---------
        audio : str, list of str, or torch.Tensor
            File path(s), or ``(L,)`` / ``(B, L)`` waveforms at the model rate.
        texts : str or list of str
            Captions or prompts.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths for batched tensors.
        window_seconds : float, optional
            As :meth:`encode_audio_windows`.
        hop_seconds : float, optional
            As :meth:`encode_audio_windows`.
        max_windows_per_batch : int, optional
            As :meth:`encode_audio_windows`.
        score_normalization : str
            ``"none"`` (cosines) or ``"prompt_mean"`` (minus each frame's mean
            over ``texts``; give several prompts), see
            :func:`speechbrain_tclap.events.normalize_frame_scores`.

        Returns
        -------
        FrameScores
            ``scores (B, T, N_text)`` (zero where masked), ``times (T,)``
            frame centres in seconds, ``mask (B, T)`` (frames of real
            audio; clips of a batch may differ in length).

        Example
        -------
        >>> from speechbrain_tclap.lobes.clap import CLAP as CLAPModule
        >>> from speechbrain_tclap.lobes.features import CLAPFeatures
        >>> from speechbrain_tclap.lobes.htsat import HTSAT
        >>> from speechbrain_tclap.lobes.text import TransformerTextEncoder
        >>> def tokenize(texts):  # toy character tokenizer
        ...     ids = torch.tensor([[ord(c) % 64 for c in t[:6].ljust(6)] for t in texts])
        ...     return ids, torch.ones_like(ids, dtype=torch.bool)
        >>> model = CLAPModule(CLAPFeatures(sample_rate=8000, n_fft=256,
        ...     hop_length=80, n_mels=16, f_max=4000.0), HTSAT.from_preset("test"),
        ...     torch.nn.Linear(16, 8), TransformerTextEncoder(tokenize,
        ...     vocab_size=64, d_model=8, nhead=2, num_layers=1, max_length=8),
        ...     torch.nn.Linear(8, 8))
        >>> clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
        ...             hparams={"sample_rate": 8000, "clap": model, "clip_seconds": 0.5})
        >>> out = clap.frame_scores(torch.randn(12000), ["a dog", "a bell"])
        >>> out.scores.shape, out.times[:2]  # a frame every 0.08 s
        (torch.Size([1, 19, 2]), tensor([0.0350, 0.1150]))
        >>> bool(out.scores.abs().max() <= 1.0 + 1e-6)
        True
        """
        wavs, lens = self._batch_audio(audio, wav_lens)
        _, frames = self._encode_windows(
            wavs,
            lens,
            window_seconds,
            hop_seconds,
            max_windows_per_batch,
            return_frames=True,
        )
        text = self.encode_text(texts).float()
        scores = frames.frames.float() @ text.T.to(frames.frames.device)
        scores = normalize_frame_scores(scores, score_normalization)
        scores = scores * frames.mask.unsqueeze(-1).to(scores.dtype)
        return FrameScores(scores, frames.times, frames.mask)

    @torch.no_grad()
    def detect_events(
        self,
        audio: AudioInput,
        texts: Union[str, List[str]],
        threshold: float,
        median_window: int = 3,
        fill_gap_seconds: float = 0.0,
        wav_lens: Optional[torch.Tensor] = None,
        score_normalization: str = "none",
    ) -> List[List[dict]]:
        """Where each text is heard: zero-shot SED / text-to-audio grounding.

        The :meth:`frame_scores` of each clip are median-filtered over
        ``median_window`` frames and thresholded; every run of frames at or
        above ``threshold`` (a cosine similarity; models differ in range, so pick
        it on data with :mod:`speechbrain_tclap.evaluation.sed`) becomes an
        event with onset and offset in seconds
        (:func:`speechbrain_tclap.events.scores_to_events`).

        Arguments
        ---------
        audio : str, list of str, or torch.Tensor
            As :meth:`frame_scores`.
        texts : str or list of str
            Class prompts or captions.
        threshold : float
            Cosine similarity above which a frame is active.
        median_window : int
            Median filter length in frames (odd; 1 disables it).
        fill_gap_seconds : float
            Join events of one text separated by at most this much.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths for batched tensors.
        score_normalization : str
            As :meth:`frame_scores` (the threshold applies to the
            normalised scores).

        Returns
        -------
        list of list of dict
            Per clip, events ``{"text", "onset", "offset"}`` in time order.

        Example
        -------
        >>> from speechbrain_tclap.lobes.clap import CLAP as CLAPModule
        >>> from speechbrain_tclap.lobes.features import CLAPFeatures
        >>> from speechbrain_tclap.lobes.htsat import HTSAT
        >>> from speechbrain_tclap.lobes.text import TransformerTextEncoder
        >>> def tokenize(texts):  # toy character tokenizer
        ...     ids = torch.tensor([[ord(c) % 64 for c in t[:6].ljust(6)] for t in texts])
        ...     return ids, torch.ones_like(ids, dtype=torch.bool)
        >>> model = CLAPModule(CLAPFeatures(sample_rate=8000, n_fft=256,
        ...     hop_length=80, n_mels=16, f_max=4000.0), HTSAT.from_preset("test"),
        ...     torch.nn.Linear(16, 8), TransformerTextEncoder(tokenize,
        ...     vocab_size=64, d_model=8, nhead=2, num_layers=1, max_length=8),
        ...     torch.nn.Linear(8, 8))
        >>> clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
        ...             hparams={"sample_rate": 8000, "clap": model})
        >>> events = clap.detect_events(torch.randn(4000), ["a dog", "a bell"], -1.0)
        >>> [(e["text"], e["onset"]) for e in events[0]]  # everything above -1
        [('a dog', 0.0), ('a bell', 0.0)]
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        wavs, lens = self._batch_audio(audio, wav_lens)
        lengths = relative_to_samples(lens, wavs.shape[1], wavs.shape[0])
        result = self.frame_scores(wavs, texts, lens, score_normalization=score_normalization)
        times = result.times.cpu().numpy()
        period = FrameGeometry.from_model(self.model).frame_period / self.sample_rate
        out = []
        for b in range(wavs.shape[0]):
            mask = result.mask[b].cpu().numpy()
            events = scores_to_events(
                result.scores[b].cpu().numpy()[mask], times[mask], texts, threshold,
                period, float(lengths[b]) / self.sample_rate, median_window,
                fill_gap_seconds,
            )
            events.sort(key=lambda e: (e["onset"], texts.index(e["event_label"])))
            out.append(
                [{"text": e["event_label"], "onset": e["onset"], "offset": e["offset"]} for e in events]
            )
        return out

    @torch.no_grad()
    def plot_frame_scores(
        self,
        audio: AudioInput,
        texts: Union[str, List[str]],
        path: str,
        events: Optional[List[dict]] = None,
        title: Optional[str] = None,
        score_normalization: str = "none",
    ) -> Optional[str]:
        """Save a PNG of one clip's frame-by-text similarity over time.

        One row per text (:meth:`frame_scores`); reference events, if given
        (``{"text" or "label", "onset", "offset"}`` in seconds, the text being
        one of ``texts``), are drawn as boxes on their row
        (:func:`speechbrain_tclap.plotting.plot_frame_scores`; needs
        matplotlib, extra ``plot``).

        Arguments
        ---------
        audio : str or torch.Tensor
            One file or one waveform ``(L,)`` at the model rate.
        texts : str or list of str
            Captions, one row each.
        path : str
            PNG file to write.
        events : list of dict, optional
            True events.
        title : str, optional
            Figure title.
        score_normalization : str
            As :meth:`frame_scores`.

        Returns
        -------
        str or None
            ``path``, or None without matplotlib.
        """
        from speechbrain_tclap.plotting import plot_frame_scores

        texts = [texts] if isinstance(texts, str) else list(texts)
        if not isinstance(audio, str) and not (
            isinstance(audio, torch.Tensor) and (audio.dim() == 1 or audio.shape[0] == 1)
        ):
            raise ValueError("plot_frame_scores draws one clip: give one file or one waveform")
        result = self.frame_scores(audio, texts, score_normalization=score_normalization)
        mask = result.mask[0].cpu()
        boxes = [dict(e, label=e.get("text", e.get("label"))) for e in events or []]
        return plot_frame_scores(
            result.scores[0][mask].cpu().numpy(), result.times[mask].cpu().numpy(),
            texts, path, events=boxes, title=title,
            colorbar_label=SCORE_LABELS[score_normalization],
        )

    @torch.no_grad()
    def encode_text(self, texts: Union[str, List[str]], normalize: bool = True):
        """Embed captions.

        Arguments
        ---------
        texts : str or list of str
            Captions.
        normalize : bool
            L2-normalise.

        Returns
        -------
        torch.Tensor
            ``(N, D)``.
        """
        if isinstance(texts, str):
            texts = [texts]
        with self.inference_ctx:
            return self.model.encode_text(list(texts), normalize=normalize)

    @torch.no_grad()
    def similarity(
        self,
        audio: AudioInput,
        texts: Union[str, List[str]],
        wav_lens: Optional[torch.Tensor] = None,
        scaled: bool = False,
    ) -> torch.Tensor:
        """Cosine similarity of every audio with every text.

        Arguments
        ---------
        audio : str, list of str, or torch.Tensor
            As :meth:`encode_audio`.
        texts : str or list of str
            Captions.
        wav_lens : torch.Tensor, optional
            Relative lengths for batched tensors.
        scaled : bool
            Multiply by the model's logit scale (the training logits).

        Returns
        -------
        torch.Tensor
            ``(N_audio, N_text)``.
        """
        sim = self.encode_audio(audio, wav_lens) @ self.encode_text(texts).T
        return sim * self.model.logit_scale() if scaled else sim

    @torch.no_grad()
    def classify_zero_shot(
        self,
        audio: AudioInput,
        labels: Sequence[str],
        template: Optional[str] = None,
        wav_lens: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, List[str]]:
        """Zero-shot classification by prompt similarity (softmax over labels).

        Arguments
        ---------
        audio : str, list of str, or torch.Tensor
            As :meth:`encode_audio`.
        labels : sequence of str
            Class names (underscores are read as spaces).
        template : str, optional
            Prompt with ``{}`` for the class name; default: the one stored
            with the model, else ``"This is a sound of {}."``.
        wav_lens : torch.Tensor, optional
            Relative lengths for batched tensors.

        Returns
        -------
        tuple
            ``(probabilities (N, K), predicted label per audio)``.
        """
        template = template or getattr(
            self.hparams, "zero_shot_template", DEFAULT_PROMPT_TEMPLATE
        )
        prompts = [template.format(readable_label(label)) for label in labels]
        logits = self.similarity(audio, prompts, wav_lens, scaled=True)
        probs = logits.softmax(dim=-1)
        best = probs.argmax(dim=-1).tolist()
        return probs, [labels[i] for i in best]

    def forward(self, wavs: torch.Tensor, wav_lens: Optional[torch.Tensor] = None):
        """Audio embeddings of a batch (the interface's default call).

        Arguments
        ---------
        wavs : torch.Tensor
            ``(B, L)`` waveforms.
        wav_lens : torch.Tensor, optional
            Relative lengths.

        Returns
        -------
        torch.Tensor
            ``(B, D)``.
        """
        return self.encode_audio(wavs, wav_lens)

