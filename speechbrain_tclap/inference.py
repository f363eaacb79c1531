"""Pretrained CLAP interface for SpeechBrain.

``CLAP.from_hparams(source=folder)`` loads a folder written by
:func:`speechbrain_tclap.export.export_pretrained` (or any folder whose
``hyperparams.yaml`` defines ``clap``, ``sample_rate``, ``modules`` and a
``pretrainer``); ``CLAP.from_pretrained(name)`` also takes a registry name
(:mod:`speechbrain_tclap.pretrained`) or an interface YAML, from any directory.
It embeds audio and text, scores similarities, classifies zero-shot, scores
frames against texts and detects events (zero-shot SED / text-to-audio
grounding); the table of methods is in ``docs/interfaces.md``.

Audio. Every method takes a file (``str`` or ``pathlib.Path``), a list of
files, a numpy array or tensor (``(L,)``, or ``(B, L)`` with ``wav_lens``), or
a list of 1-D waveforms. Files are resampled to the model rate; arrays and
tensors are taken at the model rate unless ``sample_rate=`` says otherwise.
int16 / int32 PCM is scaled to ``[-1, 1)``. Lists are encoded ``batch_size``
clips at a time (attribute, default 16), with a progress bar when they need
more than one batch (``progress=`` forces it). Empty inputs, zero-length clips
and NaN/Inf samples raise a clear error. ``return_numpy=True`` gives numpy
arrays.

Long audio. Clips within the model's window (``clip_seconds`` of the CLAP
module, else the most its encoder holds) are encoded whole; longer ones in
sliding windows (:class:`speechbrain_tclap.windows.AudioEmbedder`), by default
half a window apart, the last one aligned to the clip's end, at most
``max_windows_per_batch`` per forward pass (default 16). Their embedding is the
renormalised mean of the window embeddings; their frames are stitched onto one
time grid. Fusion encoders (LAION's fused models) see long clips whole.
Evaluation is deterministic: no random crops.

Authors
 * speechbrain-tclap developers 2026
"""

import os
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from hyperpyyaml import load_hyperpyyaml
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.checkpoints import (
    DEFAULT_TRANSFER_HOOKS,
    get_default_hook,
    torch_parameter_transfer,
)
from speechbrain.utils.fetching import FetchConfig, LocalStrategy, fetch
from tqdm import tqdm

from speechbrain_tclap.convert.pretrainer import load_any_checkpoint
from speechbrain_tclap.data.audio import read_audio, to_waveforms
from speechbrain_tclap.data.captions import class_prompts
from speechbrain_tclap.events import SCORE_LABELS, scores_to_events
from speechbrain_tclap.lobes.clap import CLAP as CLAPModule
from speechbrain_tclap.lobes.clap import EncodedAudio
from speechbrain_tclap.utils.checkpointing import read_checkpoint
from speechbrain_tclap.utils.safe_yaml import check_yaml_safe
from speechbrain_tclap.windows import (
    AudioEmbedder,
    FrameScores,
    WindowedEmbedding,
    relative_to_samples,
)

#: A file, a waveform (array or tensor), a batch, or a list of files / waveforms.
AudioInput = Union[str, os.PathLike, np.ndarray, torch.Tensor, Sequence]

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
        Windows of long audio per forward pass (hyperparameter, default 16).
    batch_size : int
        Clips loaded and encoded at a time (default 16; ``batch_size=`` overrides).

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
    ...     torch.nn.Linear(8, 8), clip_seconds=0.5)
    >>> clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
    ...             hparams={"sample_rate": 8000, "clap": model})
    >>> clap.encode_audio(torch.randn(2, 16000)).shape  # 2 s: 7 windows each
    torch.Size([2, 8])
    >>> probs, labels = clap.classify_zero_shot(torch.randn(8000), ["dog", "cat"])
    >>> probs.shape
    torch.Size([1, 2])
    >>> ranked = clap.top_labels(torch.randn(8000), ["dog", "cat"], k=2)[0]
    >>> sorted(label for label, _ in ranked), ranked[0][1] >= ranked[1][1]
    (['cat', 'dog'], True)
    >>> clap.encode_audio(np.zeros(22050, dtype=np.int16), sample_rate=44100,
    ...                   return_numpy=True).shape  # 0.5 s, resampled to 8 kHz
    (1, 8)
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
        self.batch_size = 16

    @classmethod
    def from_hparams(
        cls,
        source: str,
        hparams_file: str = "hyperparams.yaml",
        savedir: Optional[str] = None,
        overrides: Optional[dict] = None,
        allow_unsafe_yaml: bool = False,
        fetch_config: Optional[FetchConfig] = None,
        local_strategy: LocalStrategy = LocalStrategy.SYMLINK,
        **kwargs,
    ) -> "CLAP":
        """Loads a model folder (or one YAML file of a folder), safely.

        As SpeechBrain's ``Pretrained.from_hparams``, but: the YAML must pass
        :func:`speechbrain_tclap.utils.safe_yaml.check_yaml_safe` unless
        ``allow_unsafe_yaml=True`` (trusted authors only: HyperPyYAML runs what
        the file names); files are linked afresh into ``savedir``, so a reused
        ``savedir`` never serves another source's files; weights load
        weights-only, and a NaN or Inf tensor is refused, naming file and tensor.

        Arguments
        ---------
        source : str
            Folder, Hugging Face repo or URL holding ``hparams_file``.
        hparams_file : str
            HyperPyYAML file (``modules``, ``pretrainer``, ``clap``, ``sample_rate``).
        savedir : str, optional
            Where the files are linked.
        overrides : dict, optional
            Hyperparameter overrides (e.g. ``{"checkpoint": path}``).
        allow_unsafe_yaml : bool
            Skip the safe-mode check of the YAML file.
        fetch_config : speechbrain.utils.fetching.FetchConfig, optional
            Default: ``FetchConfig(overwrite=True)``.
        local_strategy : speechbrain.utils.fetching.LocalStrategy
            How files are put into ``savedir``.
        **kwargs : dict
            For the constructor (e.g. ``run_opts``).

        Returns
        -------
        CLAP
            The interface.
        """
        fetching = dict(
            savedir=savedir,
            local_strategy=local_strategy,
            fetch_config=fetch_config or FetchConfig(overwrite=True),
        )
        hparams_path = str(fetch(filename=hparams_file, source=source, **fetching))
        if not allow_unsafe_yaml:
            check_yaml_safe(hparams_path)
        with open(hparams_path, encoding="utf-8") as fin:
            hparams = load_hyperpyyaml(fin, overrides or {})
        missing = [key for key in ("modules", "pretrainer") if key not in hparams]
        if missing:
            raise ValueError(f"{hparams_path} defines no {missing}: not an interface file")
        hparams["savedir"] = savedir
        pretrainer = hparams["pretrainer"]
        pretrainer.set_collect_in(savedir)
        files = pretrainer.collect_files(
            default_source=source,
            local_strategy=local_strategy,
            fetch_config=fetching["fetch_config"],
        )
        for name, obj in pretrainer.loadables.items():
            # Weights-only even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD (which
            # SpeechBrain's default hook obeys); read errors name the file.
            hook = pretrainer.custom_hooks.get(name)
            if hook is None and isinstance(obj, CLAPModule):
                hook = load_any_checkpoint
            elif hook is None and get_default_hook(obj, DEFAULT_TRANSFER_HOOKS) is torch_parameter_transfer:
                hook = _load_state_dict_weights_only
            if hook is not None:
                pretrainer.custom_hooks[name] = _from_real_path(hook)
        pretrainer.load_collected()
        for name, obj in pretrainer.loadables.items():
            if isinstance(obj, torch.nn.Module) and name in files:
                _refuse_non_finite(obj, os.path.realpath(files[name]))
        return cls(modules=hparams["modules"], hparams=hparams, **kwargs)

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
        interface file shipped with the package; a missing local path is a
        ``FileNotFoundError`` at once, without a Hub lookup.

        Arguments
        ---------
        name : str
            A registry name (e.g. ``"laion-630k-audioset"``, ``"msclap-2023"``),
            a folder that a recipe exported, or an interface YAML.
        checkpoint : str, optional
            Local file or ``"<HF repo id>/<file>"``; default the name's public one.
        tokenizer_folder : str, optional
            Local folder with the tokenizer files (for text).
        savedir : str, optional
            Default :func:`speechbrain_tclap.pretrained.default_savedir`.
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
        path : str or pathlib.Path
            Audio file.
        savedir : str, optional
            Unused (files are read in place).

        Returns
        -------
        torch.Tensor
            ``(L,)`` waveform.
        """
        return read_audio(path, self.sample_rate, resample=True)

    # -- inputs --------------------------------------------------------------
    def _load_one(self, item, sample_rate: Optional[int]) -> torch.Tensor:
        """One clip of a list: a file or a 1-D waveform, as ``(L,)`` at the model rate."""
        if isinstance(item, (str, os.PathLike)):
            return self.load_audio(item)
        if not isinstance(item, (np.ndarray, torch.Tensor)):
            raise TypeError(
                f"audio items must be file paths, numpy arrays or tensors, got {type(item).__name__}"
            )
        wav = to_waveforms(item, sample_rate or self.sample_rate, self.sample_rate)
        if wav.shape[0] != 1:
            raise ValueError(f"a list item must be one waveform (L,), got {tuple(item.shape)}")
        return wav[0]

    def _batches(
        self,
        audio: AudioInput,
        wav_lens: Optional[torch.Tensor] = None,
        sample_rate: Optional[int] = None,
        batch_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``(wavs (b, L), relative lengths (b,))`` at the model rate."""
        size = int(batch_size or self.batch_size)
        if size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if isinstance(audio, (str, os.PathLike)):
            audio = [audio]
        if isinstance(audio, (np.ndarray, torch.Tensor)):
            wavs = to_waveforms(audio, sample_rate or self.sample_rate, self.sample_rate)
            lens = torch.ones(len(wavs)) if wav_lens is None else torch.as_tensor(wav_lens).float()
            relative_to_samples(lens, wavs.shape[1], wavs.shape[0])  # checks them
            starts = range(0, len(wavs), size)
            batches = ((wavs[s : s + size], lens[s : s + size]) for s in starts)
        else:
            items = list(audio)
            if not items:
                raise ValueError("no audio given: the list is empty")
            if wav_lens is not None:
                raise ValueError("wav_lens goes with a padded batch tensor, not with a list")
            starts = range(0, len(items), size)
            batches = (self._padded([self._load_one(x, sample_rate) for x in items[s : s + size]]) for s in starts)
        show = progress if progress is not None else len(starts) > 1
        yield from tqdm(batches, total=len(starts), desc="audio", disable=not show, leave=False)

    @staticmethod
    def _padded(signals: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Zero-padded batch and relative lengths of 1-D waveforms."""
        wavs = torch.nn.utils.rnn.pad_sequence(signals, batch_first=True)
        return wavs, torch.tensor([len(s) / wavs.shape[1] for s in signals])

    def _embedder(self, window_seconds=None, hop_seconds=None, max_windows_per_batch=None):
        return AudioEmbedder(
            self.model, window_seconds, hop_seconds,
            max_windows_per_batch or self.max_windows_per_batch,
        )

    def _each_batch(self, run, audio, wav_lens, sample_rate, batch_size, progress):
        """``run(wavs, lens)`` on every batch, under the inference context; results merged."""
        parts = []
        for wavs, lens in self._batches(audio, wav_lens, sample_rate, batch_size, progress):
            with self.inference_ctx:
                parts.append(run(wavs.to(self.device), lens))
        return _merge(parts)

    # -- audio ---------------------------------------------------------------
    @torch.no_grad()
    def encode_audio(
        self,
        audio: AudioInput,
        wav_lens: Optional[torch.Tensor] = None,
        normalize: bool = True,
        return_frames: bool = False,
        *,
        sample_rate: Optional[int] = None,
        batch_size: Optional[int] = None,
        progress: Optional[bool] = None,
        return_numpy: bool = False,
    ) -> Union[torch.Tensor, np.ndarray, EncodedAudio]:
        """Embed audio files or waveforms of any length.

        Clips within one model window (and any clip, for fusion encoders) are
        encoded whole; longer ones get the pooled embedding of
        :meth:`encode_audio_windows` and, with ``return_frames``, the stitched
        frames of :meth:`frame_scores` (one per encoder frame period).

        Arguments
        ---------
        audio : str, pathlib.Path, numpy.ndarray, torch.Tensor or list
            File(s), or waveforms ``(L,)`` / ``(B, L)`` (see the module docstring).
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths for a padded batch.
        normalize : bool
            L2-normalise.
        return_frames : bool
            Also return frame embeddings and mask.
        sample_rate : int, optional
            Rate of arrays / tensors (default the model's; files use their own).
        batch_size : int, optional
            Clips per batch (default the ``batch_size`` attribute).
        progress : bool, optional
            Progress bar (default: when more than one batch).
        return_numpy : bool
            Return numpy arrays instead of tensors.

        Returns
        -------
        torch.Tensor, numpy.ndarray or EncodedAudio
            ``(B, D)`` embeddings (or frames too).

        Example
        -------
        >>> from speechbrain_tclap.lobes.clap import CLAP as CLAPModule
        >>> from speechbrain_tclap.lobes.features import CLAPFeatures
        >>> from speechbrain_tclap.lobes.htsat import HTSAT
        >>> model = CLAPModule(CLAPFeatures(sample_rate=8000, n_fft=256,
        ...     hop_length=80, n_mels=16, f_max=4000.0), HTSAT.from_preset("test"),
        ...     torch.nn.Linear(16, 8), torch.nn.Identity(), torch.nn.Identity(),
        ...     clip_seconds=0.5)
        >>> clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
        ...             hparams={"sample_rate": 8000, "clap": model})
        >>> wavs = torch.randn(2, 12000)  # 1.5 s: windows for the first clip
        >>> out = clap.encode_audio(wavs, torch.tensor([1.0, 0.25]), return_frames=True)
        >>> out.embedding.shape, out.frames.shape, out.frame_mask.sum(1).tolist()
        (torch.Size([2, 8]), torch.Size([2, 19, 8]), [19, 5])
        >>> short = clap.encode_audio(wavs[1, :3000])  # one window: encoded whole
        >>> torch.allclose(short, out.embedding[1], atol=1e-5)
        True
        """
        embedder = self._embedder()
        out = self._each_batch(
            lambda wavs, lens: embedder.encode_audio(wavs, lens, normalize, return_frames),
            audio, wav_lens, sample_rate, batch_size, progress,
        )
        return _numpy(out) if return_numpy else out

    @torch.no_grad()
    def encode_audio_windows(
        self,
        audio: AudioInput,
        window_seconds: Optional[float] = None,
        hop_seconds: Optional[float] = None,
        *,
        wav_lens: Optional[torch.Tensor] = None,
        max_windows_per_batch: Optional[int] = None,
        sample_rate: Optional[int] = None,
        batch_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> WindowedEmbedding:
        """Embed audio in sliding windows (deterministic placement).

        The last window ends at the clip's end, so only a clip shorter than one
        window is padded (:func:`speechbrain_tclap.windows.window_starts`).

        Arguments
        ---------
        audio : str, pathlib.Path, numpy.ndarray, torch.Tensor or list
            As :meth:`encode_audio`.
        window_seconds : float, optional
            Window length; default the model's window (longer ones are refused).
        hop_seconds : float, optional
            Distance between window starts, at most ``window_seconds``; default
            half a window in whole encoder frames (5.12 s for HTSAT-tiny's 10 s).
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths for a padded batch.
        max_windows_per_batch : int, optional
            Windows per forward pass; default the attribute.
        sample_rate, batch_size, progress : optional
            As :meth:`encode_audio`.

        Returns
        -------
        WindowedEmbedding
            ``embedding (B, D)`` (renormalised window mean), ``window_embeddings
            (B, W, D)``, ``window_mask (B, W)``, ``window_times (B, W, 2)`` (s).

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
        embedder = self._embedder(window_seconds, hop_seconds, max_windows_per_batch)
        return self._each_batch(
            embedder.encode_windows, audio, wav_lens, sample_rate, batch_size, progress
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
        *,
        sample_rate: Optional[int] = None,
        batch_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> FrameScores:
        """Cosine similarity of every audio frame with every text.

        Frames are the normalised frame embeddings of the model, one per encoder
        frame period (``frame_hop`` × front-end hop; 0.32 s for HTSAT-tiny at
        48 kHz) from the clip's start; frames of overlapping windows are
        averaged (:mod:`speechbrain_tclap.windows`).

        Arguments
        ---------
        audio : str, pathlib.Path, numpy.ndarray, torch.Tensor or list
            As :meth:`encode_audio`.
        texts : str or list of str
            Captions or prompts.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths for a padded batch.
        window_seconds, hop_seconds, max_windows_per_batch : optional
            As :meth:`encode_audio_windows`.
        score_normalization : str
            ``"none"`` (cosines) or ``"prompt_mean"`` (minus each frame's mean over
            ``texts``), see :func:`speechbrain_tclap.events.normalize_frame_scores`.
        sample_rate, batch_size, progress : optional
            As :meth:`encode_audio`.

        Returns
        -------
        FrameScores
            ``scores (B, T, N_text)`` (zero where masked), ``times (T,)`` frame
            centres in seconds, ``mask (B, T)`` (frames of real audio).

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
        ...     torch.nn.Linear(8, 8), clip_seconds=0.5)
        >>> clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
        ...             hparams={"sample_rate": 8000, "clap": model})
        >>> out = clap.frame_scores(torch.randn(12000), ["a dog", "a bell"])
        >>> out.scores.shape, out.times[:2]  # a frame every 0.08 s
        (torch.Size([1, 19, 2]), tensor([0.0350, 0.1150]))
        >>> bool(out.scores.abs().max() <= 1.0 + 1e-6)
        True
        """
        text = self.encode_text(texts).float()
        embedder = self._embedder(window_seconds, hop_seconds, max_windows_per_batch)
        return self._each_batch(
            lambda wavs, lens: embedder.frame_scores(wavs, lens, text, score_normalization),
            audio, wav_lens, sample_rate, batch_size, progress,
        )

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
        *,
        sample_rate: Optional[int] = None,
        batch_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> List[List[dict]]:
        """Where each text is heard: zero-shot SED / text-to-audio grounding.

        Each clip's :meth:`frame_scores` are median-filtered and every run of
        frames at or above ``threshold`` becomes an event
        (:func:`speechbrain_tclap.events.scores_to_events`).

        Arguments
        ---------
        audio : str, pathlib.Path, numpy.ndarray, torch.Tensor or list
            As :meth:`encode_audio`.
        texts : str or list of str
            Class prompts or captions.
        threshold : float
            Cosine similarity at or above which a frame is active; models differ
            in range, so pick it on data (:mod:`speechbrain_tclap.evaluation.sed`).
        median_window : int
            Median filter length in frames (odd; 1 disables it).
        fill_gap_seconds : float
            Join events of one text separated by at most this much.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths for a padded batch.
        score_normalization : str
            As :meth:`frame_scores` (the threshold applies to the normalised scores).
        sample_rate, batch_size, progress : optional
            As :meth:`encode_audio`.

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
        texts = _texts(texts)
        text = self.encode_text(texts).float()
        embedder = self._embedder()
        period = embedder.geometry.frame_period / self.sample_rate
        out = []
        for wavs, lens in self._batches(audio, wav_lens, sample_rate, batch_size, progress):
            lengths = relative_to_samples(lens, wavs.shape[1], wavs.shape[0])
            with self.inference_ctx:
                result = embedder.frame_scores(wavs.to(self.device), lens, text, score_normalization)
            times = result.times.cpu().numpy()
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
        *,
        sample_rate: Optional[int] = None,
    ) -> Optional[str]:
        """Save a PNG of one clip's frame-by-text similarity over time.

        One row per text (:meth:`frame_scores`), reference events as boxes on
        their row (:func:`speechbrain_tclap.plotting.plot_frame_scores`; needs
        matplotlib, extra ``plot``).

        Arguments
        ---------
        audio : str, pathlib.Path, numpy.ndarray or torch.Tensor
            One file or one waveform ``(L,)``.
        texts : str or list of str
            Captions, one row each.
        path : str
            PNG file to write.
        events : list of dict, optional
            True events ``{"text" or "label", "onset", "offset"}`` (seconds), the
            text one of ``texts``.
        title : str, optional
            Figure title.
        score_normalization : str
            As :meth:`frame_scores`.
        sample_rate : int, optional
            As :meth:`encode_audio`.

        Returns
        -------
        str or None
            ``path``, or None without matplotlib.
        """
        from speechbrain_tclap.plotting import plot_frame_scores

        texts = _texts(texts)
        one = isinstance(audio, (str, os.PathLike)) or (
            isinstance(audio, (np.ndarray, torch.Tensor)) and (audio.ndim == 1 or audio.shape[0] == 1)
        )
        if not one:
            raise ValueError("plot_frame_scores draws one clip: give one file or one waveform")
        result = self.frame_scores(
            audio, texts, score_normalization=score_normalization, sample_rate=sample_rate
        )
        mask = result.mask[0].cpu()
        boxes = [dict(e, label=e.get("text", e.get("label"))) for e in events or []]
        return plot_frame_scores(
            result.scores[0][mask].cpu().numpy(), result.times[mask].cpu().numpy(),
            texts, path, events=boxes, title=title,
            colorbar_label=SCORE_LABELS[score_normalization],
        )

    # -- text, similarity, zero-shot -------------------------------------------
    @torch.no_grad()
    def encode_text(
        self,
        texts: Union[str, List[str]],
        normalize: bool = True,
        *,
        return_numpy: bool = False,
    ):
        """Embed captions.

        Arguments
        ---------
        texts : str or list of str
            Captions.
        normalize : bool
            L2-normalise.
        return_numpy : bool
            Return a numpy array.

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``(N, D)``.
        """
        with self.inference_ctx:
            out = self.model.encode_text(_texts(texts), normalize=normalize)
        return _numpy(out) if return_numpy else out

    def embedding_similarity(
        self,
        audio_embeddings,
        text_embeddings,
        scaled: bool = False,
        *,
        return_numpy: bool = False,
    ):
        """Cosine similarity of embeddings computed before (e.g. stored).

        Arguments
        ---------
        audio_embeddings, text_embeddings : torch.Tensor or numpy.ndarray
            ``(N_audio, D)`` / ``(N_text, D)`` or ``(D,)``, e.g. stored outputs
            of :meth:`encode_audio` and :meth:`encode_text`.
        scaled : bool
            Multiply by the model's logit scale (the training logits).
        return_numpy : bool
            Return a numpy array.

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``(N_audio, N_text)``; both sides are L2-normalised first.
        """
        audio = torch.as_tensor(audio_embeddings, device=self.device).float()
        text = torch.as_tensor(text_embeddings, device=self.device).float()
        sim = F.normalize(audio.reshape(-1, audio.shape[-1]), dim=-1) @ F.normalize(
            text.reshape(-1, text.shape[-1]), dim=-1
        ).T
        if scaled:
            sim = sim * self.model.logit_scale().detach().float()
        return _numpy(sim) if return_numpy else sim

    @torch.no_grad()
    def similarity(
        self,
        audio: AudioInput,
        texts: Union[str, List[str]],
        wav_lens: Optional[torch.Tensor] = None,
        scaled: bool = False,
        **options,
    ):
        """Cosine similarity of every audio with every text.

        Arguments
        ---------
        audio : str, pathlib.Path, numpy.ndarray, torch.Tensor or list
            As :meth:`encode_audio`.
        texts : str or list of str
            Captions.
        wav_lens : torch.Tensor, optional
            Relative lengths for a padded batch.
        scaled : bool
            Multiply by the model's logit scale (the training logits).
        **options
            ``sample_rate``, ``batch_size``, ``progress`` (as
            :meth:`encode_audio`) and ``return_numpy``.

        Returns
        -------
        torch.Tensor or numpy.ndarray
            ``(N_audio, N_text)``.
        """
        return_numpy = options.pop("return_numpy", False)
        sim = self.encode_audio(audio, wav_lens, **options).float() @ self.encode_text(texts).float().T
        if scaled:
            sim = sim * self.model.logit_scale()
        return _numpy(sim) if return_numpy else sim

    @torch.no_grad()
    def classify_zero_shot(
        self,
        audio: AudioInput,
        labels: Sequence[str],
        template: Optional[str] = None,
        wav_lens: Optional[torch.Tensor] = None,
        **options,
    ) -> Tuple[torch.Tensor, List[str]]:
        """Zero-shot classification by prompt similarity (softmax over labels).

        Arguments
        ---------
        audio : str, pathlib.Path, numpy.ndarray, torch.Tensor or list
            As :meth:`encode_audio`.
        labels : sequence of str
            Class names (underscores are read as spaces).
        template : str, optional
            Prompt with one ``{}``; default the model's ``zero_shot_template``
            (else ``"This is a sound of {}."``): another wording can cost accuracy.
        wav_lens : torch.Tensor, optional
            Relative lengths for a padded batch.
        **options
            ``sample_rate``, ``batch_size``, ``progress`` (as
            :meth:`encode_audio`) and ``return_numpy``.

        Returns
        -------
        tuple
            ``(probabilities (N, K), predicted label per audio)``.
        """
        labels = list(labels)
        if not labels:
            raise ValueError("no labels given: zero-shot classification needs at least one")
        template = template or getattr(self.hparams, "zero_shot_template", None)
        prompts = class_prompts(labels, template)
        return_numpy = options.pop("return_numpy", False)
        probs = self.similarity(audio, prompts, wav_lens, scaled=True, **options).softmax(dim=-1)
        best = [labels[i] for i in probs.argmax(dim=-1).tolist()]
        return (_numpy(probs) if return_numpy else probs), best

    def top_labels(
        self,
        audio: AudioInput,
        labels: Sequence[str],
        k: int = 5,
        template: Optional[str] = None,
        **options,
    ) -> List[List[Tuple[str, float]]]:
        """The ``k`` most likely labels of each clip with their probabilities, best first.

        Arguments
        ---------
        audio : str, pathlib.Path, numpy.ndarray, torch.Tensor or list
            As :meth:`encode_audio`.
        labels : sequence of str
            Class names.
        k : int
            Labels per clip (at most ``len(labels)``).
        template : str, optional
            As :meth:`classify_zero_shot`.
        **options
            As :meth:`classify_zero_shot` (``wav_lens``, ``sample_rate``,
            ``batch_size``, ``progress``).

        Returns
        -------
        list of list of tuple
            Per clip, ``[(label, probability), ...]`` sorted by probability.
        """
        labels = list(labels)
        probs, _ = self.classify_zero_shot(audio, labels, template, **options)
        values, indices = probs.float().cpu().topk(min(int(k), len(labels)), dim=-1)
        return [
            [(labels[i], float(v)) for v, i in zip(row_v.tolist(), row_i.tolist())]
            for row_v, row_i in zip(values, indices)
        ]

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


def _from_real_path(hook):
    """A loading hook given the file behind ``savedir``'s link, so errors name the source."""
    return lambda obj, path: hook(obj, os.path.realpath(path))


def _load_state_dict_weights_only(module: torch.nn.Module, path) -> None:
    """Strict ``Pretrainer`` hook for plain modules: weights-only torch or safetensors."""
    module.load_state_dict(read_checkpoint(path), strict=True)


def _refuse_non_finite(module: torch.nn.Module, path: str) -> None:
    """Raises ``ValueError`` naming ``path`` and the first tensor with NaN or Inf."""
    for key, tensor in module.state_dict().items():
        bad = int((~torch.isfinite(tensor)).sum()) if tensor.is_floating_point() else 0
        if bad:
            raise ValueError(
                f"{path}: tensor {key!r} is not finite ({bad} of {tensor.numel()} "
                "values NaN or Inf); these weights are broken (e.g. a diverged "
                "run) and are not loaded"
            )


def _texts(texts: Union[str, Sequence[str]]) -> List[str]:
    """A list of texts; an empty one is refused."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ValueError("no texts given: the list is empty")
    return texts


def _numpy(x):
    """A tensor (or a named tuple of them) as float32 numpy arrays on the CPU."""
    if isinstance(x, tuple):
        return type(x)(*map(_numpy, x))
    return x.detach().float().cpu().numpy() if x.is_floating_point() else x.cpu().numpy()


def _merge(parts: list):
    """Results of consecutive batches as one: batch-first tensors padded along
    dim 1 and concatenated; 1-D time axes keep the longest; tuples per field."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if isinstance(first, tuple):
        return type(first)(*(_merge(list(field)) for field in zip(*parts)))
    if first.dim() == 1:
        return max(parts, key=len)
    width = max(p.shape[1] for p in parts)
    return torch.cat([F.pad(p, [0, 0] * (p.dim() - 2) + [0, width - p.shape[1]]) for p in parts])
