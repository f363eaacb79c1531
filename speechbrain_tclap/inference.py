"""Pretrained CLAP interface for SpeechBrain.

``CLAP.from_hparams(source=folder)`` loads a folder written by
:func:`speechbrain_tclap.export.export_pretrained` (or any folder with a
``hyperparams.yaml`` defining ``clap``, ``sample_rate``, ``modules`` and a
``pretrainer``) and offers:

* ``encode_audio(audio, wav_lens=None)``: files, one waveform, or a batch of
  waveforms with relative lengths → normalised embeddings;
* ``encode_text(texts)`` → normalised embeddings;
* ``similarity(audio, texts)`` → cosine similarities ``(N_audio, N_text)``;
* ``classify_zero_shot(audio, labels, template="This is a sound of {}.")``.

Evaluation is deterministic: files are read whole, resampled to the model
rate, and padded (never randomly cropped).

Authors
 * speechbrain-tclap developers 2026
"""

from typing import List, Optional, Sequence, Tuple, Union

import torch
from speechbrain.inference.interfaces import Pretrained

from speechbrain_tclap.data.audio import read_audio
from speechbrain_tclap.data.labels import readable_label

AudioInput = Union[str, Sequence[str], torch.Tensor]


class CLAP(Pretrained):
    """Zero-shot audio classification, retrieval and embeddings with a CLAP model.

    Arguments
    ---------
    *args, **kwargs
        As :class:`speechbrain.inference.interfaces.Pretrained`.

    Example
    -------
    See the README's zero-shot example and ``tests/integration``.
    """

    HPARAMS_NEEDED = ["sample_rate", "clap"]
    MODULES_NEEDED = ["clap"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sample_rate = int(self.hparams.sample_rate)
        self.model = self.mods.clap

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

    @torch.no_grad()
    def encode_audio(
        self,
        audio: AudioInput,
        wav_lens: Optional[torch.Tensor] = None,
        normalize: bool = True,
        return_frames: bool = False,
    ):
        """Embed audio files or waveforms.

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
        """
        wavs, lens = self._batch_audio(audio, wav_lens)
        with self.inference_ctx:
            return self.model.encode_audio(
                wavs.to(self.device),
                lens.to(self.device),
                normalize=normalize,
                return_frames=return_frames,
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
            self.hparams, "zero_shot_template", "This is a sound of {}."
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
