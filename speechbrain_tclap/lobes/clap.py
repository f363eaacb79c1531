"""The CLAP module: an audio tower, a text tower and one learnable temperature.

``CLAP`` is the one object recipes train and interfaces serve, composed from
lobes given in YAML: a front end, an audio encoder, optional aggregators, a
text encoder, two projection heads and optionally an ``aligner`` (MGA-CLAP's
codebook) that builds both global embeddings from the *projected* frames and
tokens. The API follows open_clip: ``encode_audio`` / ``encode_text`` return
L2-normalised embeddings, ``logit_scale()`` is the clamped temperature shared
by every loss. ``window_samples`` and ``frame_geometry`` describe its audio
window for the sliding-window embedder of :mod:`speechbrain_tclap.windows`.

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from speechbrain.utils.checkpoints import (
    mark_as_transfer,
    register_checkpoint_hooks,
)
from speechbrain.utils.logger import get_logger
from torch import nn

from speechbrain_tclap.lobes.outputs import FrameGeometry
from speechbrain_tclap.lobes.pooling import pooling_or_none
from speechbrain_tclap.utils.checkpointing import read_checkpoint

logger = get_logger(__name__)


def input_width(module: Optional[nn.Module]) -> Optional[int]:
    """The feature width a lobe takes: its ``input_size``, or that of its (first)
    ``Linear`` / ``LayerNorm`` layer.

    Arguments
    ---------
    module : torch.nn.Module, optional
        A pooling or projection lobe.

    Returns
    -------
    int or None
        The width, or None when the lobe does not tell.

    Example
    -------
    >>> input_width(nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 4))), input_width(None)
    (6, None)
    """
    if getattr(module, "input_size", None):
        return int(module.input_size)
    if isinstance(module, nn.Sequential) and len(module):
        module = module[0]
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, nn.LayerNorm):
        return module.normalized_shape[-1]
    return None


def output_width(encoder: nn.Module) -> int:
    """The width of an encoder's outputs (its ``output_dim``), for model files:
    ``!apply:speechbrain_tclap.lobes.clap.output_width [!ref <audio_encoder>]``.

    Arguments
    ---------
    encoder : torch.nn.Module
        An audio or text encoder.

    Returns
    -------
    int
        Its ``output_dim``.

    Example
    -------
    >>> from speechbrain_tclap.lobes.htsat import HTSAT
    >>> output_width(HTSAT.from_preset("test"))
    16
    """
    width = getattr(encoder, "output_dim", None)
    if width is None:
        raise ValueError(f"{type(encoder).__name__} does not say its output width (output_dim)")
    return int(width)


def check_tower_widths(tower, encoder, pooling, projection) -> None:
    """Fail at construction, naming the model-file keys, when a lobe's input
    width is not its encoder's (rather than a shape error at the first batch).

    Arguments
    ---------
    tower : str
        ``"audio"`` or ``"text"``.
    encoder : torch.nn.Module
        The tower's encoder (its ``output_dim`` is the width it gives).
    pooling : torch.nn.Module, optional
        The tower's aggregator.
    projection : torch.nn.Module
        The tower's projection head.

    Raises
    ------
    ValueError
        Naming the key whose width differs.

    Example
    -------
    >>> encoder = nn.Linear(4, 8)
    >>> encoder.output_dim = 8
    >>> check_tower_widths("audio", encoder, None, nn.Linear(8, 2))
    >>> try:
    ...     check_tower_widths("audio", encoder, None, nn.Linear(6, 2))
    ... except ValueError as err:
    ...     print(str(err)[:67])
    audio_projection takes 6-d inputs but audio_encoder gives 8 (its ou
    """
    width = getattr(encoder, "output_dim", None)
    for part, module in (("pooling", pooling), ("projection", projection)):
        expected = input_width(module)
        if width is not None and expected is not None and expected != width:
            raise ValueError(
                f"{tower}_{part} takes {expected}-d inputs but {tower}_encoder "
                f"gives {width} (its output_dim): set {tower}_{part}'s input size "
                f"in the model file from the encoder, e.g. "
                f"input_size: !apply:speechbrain_tclap.lobes.clap.output_width [!ref <{tower}_encoder>]"
            )


class EncodedAudio(NamedTuple):
    """Audio embeddings with frame-level detail.

    Arguments
    ---------
    embedding : torch.Tensor
        ``(B, D)`` clip embedding in the joint space.
    frames : torch.Tensor
        ``(B, T, D)`` frame embeddings in the joint space.
    frame_mask : torch.Tensor
        Boolean ``(B, T)``.

    Example
    -------
    >>> e = EncodedAudio(torch.zeros(1, 2), torch.zeros(1, 3, 2),
    ...     torch.ones(1, 3, dtype=torch.bool))
    >>> e.frames.shape
    torch.Size([1, 3, 2])
    """

    embedding: torch.Tensor
    frames: torch.Tensor
    frame_mask: torch.Tensor


class EncodedText(NamedTuple):
    """Text embeddings with token-level detail.

    Arguments
    ---------
    embedding : torch.Tensor
        ``(B, D)`` sentence embedding in the joint space.
    tokens : torch.Tensor
        ``(B, L, D)`` token embeddings in the joint space.
    token_mask : torch.Tensor
        Boolean ``(B, L)``.

    Example
    -------
    >>> e = EncodedText(torch.zeros(1, 2), torch.zeros(1, 3, 2),
    ...     torch.ones(1, 3, dtype=torch.bool))
    >>> e.tokens.shape
    torch.Size([1, 3, 2])
    """

    embedding: torch.Tensor
    tokens: torch.Tensor
    token_mask: torch.Tensor


def _encoded(out, normalize: bool, detail: bool, cls):
    """A head tuple's embedding, or ``cls(embedding, local, mask)`` with ``detail``."""
    embedding, local, mask, *_ = out
    if normalize:
        embedding = F.normalize(embedding, dim=-1)
    if not detail:
        return embedding
    return cls(embedding, F.normalize(local, dim=-1) if normalize else local, mask)


def _aligned(model, tower: str, local, mask):
    """A head's tuple with an aligner (``model``: a CLAP or an exported tower)."""
    local = getattr(model, f"{tower}_projection")(local)
    aligned = getattr(model.aligner, f"aggregate_{tower}")(local, mask)
    embedding, order = model._add_order_head(
        aligned.embedding, getattr(model, f"{tower}_pooling"), local, mask
    )
    return embedding, local, mask, aligned.weights, order


def unique_texts(texts) -> Tuple[List[str], Optional[torch.Tensor]]:
    """Distinct texts of a batch, and where each original row comes from.

    Arguments
    ---------
    texts : sequence of str
        The batch.

    Returns
    -------
    unique : list of str
        Distinct texts in order of first appearance.
    rows : torch.Tensor or None
        Long ``(len(texts),)``: ``texts[i] == unique[rows[i]]``; ``None``
        when every text is distinct (nothing to gather).

    Example
    -------
    >>> unique_texts(["a dog", "a cat", "a dog"])
    (['a dog', 'a cat'], tensor([0, 1, 0]))
    >>> unique_texts(["a dog", "a cat"])
    (['a dog', 'a cat'], None)
    """
    texts = list(texts)
    index: Dict[str, int] = {}
    rows = [index.setdefault(text, len(index)) for text in texts]
    if len(index) == len(texts):
        return texts, None
    return list(index), torch.tensor(rows)


def encode_text_chunks(clap, texts: List[str], chunk_size: int = 256) -> torch.Tensor:
    """Normalised text embeddings on the CPU, ``chunk_size`` texts per pass.

    Arguments
    ---------
    clap : CLAP
        The model (unwrapped), in the mode the caller wants (eval, no grad).
    texts : list of str
        The texts.
    chunk_size : int
        Texts per ``encode_text`` call (bounds memory for long lists).

    Returns
    -------
    torch.Tensor
        Float32 ``(len(texts), D)`` on the CPU.

    Example
    -------
    >>> class Echo:
    ...     def encode_text(self, texts):
    ...         return torch.ones(len(texts), 3)
    >>> encode_text_chunks(Echo(), ["a"] * 5, chunk_size=2).shape
    torch.Size([5, 3])
    """
    return torch.cat(
        [
            clap.encode_text(texts[k : k + chunk_size]).float().cpu()
            for k in range(0, len(texts), chunk_size)
        ]
    )


@register_checkpoint_hooks
class CLAP(nn.Module):
    """Contrastive language-audio model composed from lobes.

    Arguments
    ---------
    audio_features : torch.nn.Module
        ``(wavs, wav_lens) -> (feats, feat_lens)`` front end.
    audio_encoder : torch.nn.Module
        ``(feats, feat_lens) -> AudioEncoderOutput``.
    audio_projection : torch.nn.Module
        Maps encoder width to the joint space.
    text_encoder : torch.nn.Module
        ``(texts) -> TextEncoderOutput``.
    text_projection : torch.nn.Module
        Maps text width to the joint space.
    audio_pooling : torch.nn.Module, optional
        ``(frames, frame_mask) -> (B, C)``; default: the encoder's clip output.
        With an ``aligner``: an order head over the projected frames, added to
        the aligner's embedding (a codebook sum is blind to frame order).
    aligner : torch.nn.Module, optional
        Builds both global embeddings from projected local features with
        ``aggregate_audio(frames, frame_mask)`` and ``aggregate_text(tokens,
        token_mask)``, each returning an ``AlignerOutput`` (e.g.
        :class:`~speechbrain_tclap.lobes.codebook.SharedCodebook`).
    logit_scale_init : float
        Initial value of the (exponentiated) logit scale, 1/0.07 as in CLIP.
    logit_scale_max : float
        Clamp of the logit scale (100 as in CLIP / LAION).
    learn_logit_scale : bool
        Whether the temperature is trained.
    text_pooling : torch.nn.Module, optional
        ``(tokens, token_mask) -> (B, C)`` replacing the text encoder's pooled
        output. With an ``aligner``: an order head over the projected tokens,
        added to the aligner's embedding.
    clip_seconds : float, optional
        Audio window in seconds (default: what the audio encoder holds);
        must fit in the encoder.
    order_heads_detach : bool
        With an ``aligner``: the order heads read the projected frames and
        tokens through a stop-gradient, so they do not reshape the frames the
        aligner, SED and grounding use.

    Example
    -------
    >>> from speechbrain_tclap.lobes.outputs import (
    ...     AudioEncoderOutput, TextEncoderOutput)
    >>> class Frames(nn.Module):
    ...     def forward(self, wavs, wav_lens=None):
    ...         return wavs.unflatten(1, (-1, 4)), wav_lens
    >>> class Audio(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lin = nn.Linear(4, 6)
    ...     def forward(self, feats, lens=None):
    ...         h = self.lin(feats)
    ...         mask = torch.ones(h.shape[:2], dtype=torch.bool)
    ...         return AudioEncoderOutput(h.mean(1), h, mask)
    >>> class Text(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.emb = nn.Embedding(128, 6)
    ...     def forward(self, texts):
    ...         ids = torch.tensor([[ord(c) % 128 for c in t[:3]] for t in texts])
    ...         h = self.emb(ids)
    ...         mask = torch.ones(ids.shape, dtype=torch.bool)
    ...         return TextEncoderOutput(h.mean(1), h, mask)
    >>> clap = CLAP(Frames(), Audio(), nn.Linear(6, 5), Text(), nn.Linear(6, 5))
    >>> clap.encode_audio(torch.randn(2, 16)).shape
    torch.Size([2, 5])
    >>> clap.encode_text(["dog", "cat"]).shape
    torch.Size([2, 5])
    >>> clap.encode_audio(torch.randn(2, 16), return_frames=True).frames.shape
    torch.Size([2, 4, 5])
    >>> round(float(clap.logit_scale().detach()), 2)
    14.29
    >>> clap.frame_geometry is None, clap.window_samples  # no time axis
    (True, None)
    >>> from speechbrain_tclap.lobes.codebook import SharedCodebook
    >>> mga = CLAP(Frames(), Audio(), nn.Linear(6, 5), Text(), nn.Linear(6, 5),
    ...            aligner=SharedCodebook(5, num_codewords=7, text_boundary_tokens=False))
    >>> audio, text, scale, audio_codes, text_codes = mga(
    ...     torch.randn(2, 16), None, ["dog", "cat"], return_codewords=True)
    >>> audio.shape, audio_codes.shape, text_codes.shape
    (torch.Size([2, 5]), torch.Size([2, 7]), torch.Size([2, 7]))
    >>> mga(torch.randn(2, 16), None, ["dog", "cat"], return_order=True)[3:]  # no heads
    (None, None)
    """

    def __init__(
        self,
        audio_features: nn.Module,
        audio_encoder: nn.Module,
        audio_projection: nn.Module,
        text_encoder: nn.Module,
        text_projection: nn.Module,
        audio_pooling: Optional[nn.Module] = None,
        logit_scale_init: float = 1 / 0.07,
        logit_scale_max: float = 100.0,
        learn_logit_scale: bool = True,
        aligner: Optional[nn.Module] = None,
        text_pooling: Optional[nn.Module] = None,
        clip_seconds: Optional[float] = None,
        order_heads_detach: bool = False,
    ):
        super().__init__()
        self.order_heads_detach = order_heads_detach
        # None or the module (registered only when given: checkpoints unchanged)
        self.aligner = aligner
        self.audio_features = audio_features
        self.audio_encoder = audio_encoder
        self.audio_pooling = pooling_or_none(audio_pooling)
        self.audio_projection = audio_projection
        self.text_encoder = text_encoder
        self.text_pooling = pooling_or_none(text_pooling)
        self.text_projection = text_projection
        self.log_logit_scale = nn.Parameter(
            torch.tensor(math.log(logit_scale_init)),
            requires_grad=learn_logit_scale,
        )
        self.log_logit_scale_max = math.log(logit_scale_max)
        for tower in ("audio", "text"):
            # With an aligner the poolings (order heads) take projected features.
            pooling = None if aligner is not None else getattr(self, f"{tower}_pooling", None)
            check_tower_widths(tower, getattr(self, f"{tower}_encoder"), pooling,
                               getattr(self, f"{tower}_projection"))
        rate = getattr(audio_features, "sample_rate", None)
        self.sample_rate = None if rate is None else int(rate)
        self.clip_seconds = None if clip_seconds is None else float(clip_seconds)
        self.window_samples = self._window_samples()

    @property
    def frame_geometry(self) -> Optional[FrameGeometry]:
        """The time axis of the audio frames (``None`` for towers without one)."""
        try:
            return FrameGeometry.from_model(self)
        except ValueError:
            return None

    def _window_samples(self) -> Optional[int]:
        """``clip_seconds`` in samples, else the encoder's capacity; checked against it."""
        if self.clip_seconds is not None and not self.clip_seconds > 0:
            raise ValueError(f"CLAP: clip_seconds must be positive, got {self.clip_seconds}")
        geometry = self.frame_geometry
        if geometry is None:  # no time axis: clips of any length are encoded whole
            return None
        limit = geometry.max_window_samples()
        if self.clip_seconds is None:
            return limit
        window = int(round(self.clip_seconds * geometry.sample_rate))
        if limit is not None and window > limit:
            raise ValueError(
                f"CLAP: clip_seconds={self.clip_seconds:g} is longer than the audio "
                f"encoder holds ({limit / self.sample_rate:g} s)"
            )
        return window

    def logit_scale(self) -> torch.Tensor:
        """Return ``exp(log_logit_scale)`` clamped to ``logit_scale_max``.

        Returns
        -------
        torch.Tensor
            Scalar.
        """
        return self.log_logit_scale.clamp(max=self.log_logit_scale_max).exp()

    def encode_audio(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor] = None,
        normalize: bool = True,
        return_frames: bool = False,
    ):
        """Embed waveforms into the joint space.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(B, L)`` waveforms at the front end's sample rate.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths.
        normalize : bool
            L2-normalise the embeddings.
        return_frames : bool
            Also return projected frame embeddings and their mask.

        Returns
        -------
        torch.Tensor or EncodedAudio
            ``(B, D)``, or an :class:`EncodedAudio` when ``return_frames``.
        """
        out = self._embed_audio(wavs, wav_lens, return_frames)
        return _encoded(out, normalize, return_frames, EncodedAudio)

    def _embed_audio(self, wavs, wav_lens, return_frames: bool = False):
        """Unnormalised ``(embedding, projected frames or None, frame mask,
        codeword weights or None)``."""
        feats, feat_lens = self.audio_features(wavs, wav_lens)
        return self.audio_head(self.audio_encoder(feats, feat_lens), return_frames)

    def audio_head(self, encoded, return_frames: bool = False):
        """Pooling and projection of the audio encoder's output.

        Arguments
        ---------
        encoded : AudioEncoderOutput
            The audio encoder's output.
        return_frames : bool
            Also project the frames.

        Returns
        -------
        tuple
            Unnormalised ``(embedding, projected frames or None, frame mask,
            codeword weights or None, order embedding or None)``.
        """
        if self.aligner is not None:
            return _aligned(self, "audio", encoded.frames, encoded.frame_mask)
        if self.audio_pooling is None:
            clip = encoded.clip
        else:
            clip = self.audio_pooling(encoded.frames, encoded.frame_mask)
        frames = self.audio_projection(encoded.frames) if return_frames else None
        return self.audio_projection(clip), frames, encoded.frame_mask, None, None

    def _add_order_head(self, aligned, head, local, mask):
        """``(aligned + head(local), aligned behind a stop-gradient + head(local))``;
        ``(aligned, None)`` without a head."""
        if head is None:
            return aligned, None
        order = head(self._order_head_input(local), mask)
        return aligned + order, aligned.detach() + order

    def _order_head_input(self, local: torch.Tensor) -> torch.Tensor:
        """Projected frames or tokens as an order head reads them."""
        return local.detach() if self.order_heads_detach else local

    def encode_text(
        self,
        texts: List[str],
        normalize: bool = True,
        return_tokens: bool = False,
    ):
        """Embed captions into the joint space.

        Arguments
        ---------
        texts : list of str
            Captions.
        normalize : bool
            L2-normalise the embeddings.
        return_tokens : bool
            Also return projected token embeddings and their mask.

        Returns
        -------
        torch.Tensor or EncodedText
            ``(B, D)``, or an :class:`EncodedText` when ``return_tokens``.
        """
        out = self._embed_text(texts, return_tokens)
        return _encoded(out, normalize, return_tokens, EncodedText)

    def _embed_text(self, texts, return_tokens: bool = False):
        """:meth:`text_head`'s tuple, running each distinct caption once (repeated
        rows are gathered: gradients add up as over copies; one dropout draw)."""
        unique, rows = unique_texts(texts)
        out = self.text_head(self.text_encoder(unique), return_tokens)
        if rows is None:
            return out
        return tuple(None if t is None else t[rows.to(t.device)] for t in out)

    def text_head(self, encoded, return_tokens: bool = False):
        """Pooling and projection of the text tower's output.

        Arguments
        ---------
        encoded : TextEncoderOutput
            The text encoder's output (``forward`` or ``forward_ids``).
        return_tokens : bool
            Also project the token states.

        Returns
        -------
        tuple
            Unnormalised ``(embedding, projected tokens or None, token mask,
            codeword weights or None, order embedding or None)``.
        """
        if self.aligner is not None:
            return _aligned(self, "text", encoded.tokens, encoded.token_mask)
        tokens = self.text_projection(encoded.tokens) if return_tokens else None
        pooled = encoded.pooled
        if self.text_pooling is not None:
            pooled = self.text_pooling(encoded.tokens, encoded.token_mask)
        return self.text_projection(pooled), tokens, encoded.token_mask, None, None

    def forward(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor],
        texts: List[str],
        return_codewords: bool = False,
        return_order: bool = False,
        return_frames: bool = False,
    ):
        """Return normalised audio and text embeddings and the logit scale.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(B, L)`` waveforms.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths.
        texts : list of str
            Captions.
        return_codewords : bool
            Also return the aligner's codeword weights (``None`` without a
            codebook aligner).
        return_order : bool
            Also return the normalised order embeddings of audio and text
            (the aligner's embedding behind a stop-gradient plus the order
            head, e.g. for ``TemporalFocusedLoss(temporal_on="order_heads")``;
            ``None`` for a tower without one).
        return_frames : bool
            Also return the normalised projected audio frames and their mask.

        Returns
        -------
        tuple
            ``(audio_emb, text_emb, logit_scale)``, with ``return_codewords``
            followed by ``(audio_codewords, text_codewords)``, then with
            ``return_order`` by ``(audio_order, text_order)``, then with
            ``return_frames`` by ``(frames, frame_mask)``.
        """
        audio, frames, frame_mask, audio_codes, audio_order = self._embed_audio(
            wavs, wav_lens, return_frames
        )
        text, _, _, text_codes, text_order = self._embed_text(texts)
        out = (
            F.normalize(audio, dim=-1),
            F.normalize(text, dim=-1),
            self.logit_scale(),
        )
        if return_codewords:
            out = out + (audio_codes, text_codes)
        if return_order:
            out = out + tuple(
                None if e is None else F.normalize(e, dim=-1) for e in (audio_order, text_order)
            )
        if return_frames:
            out = out + (F.normalize(frames, dim=-1), frame_mask)
        return out

    @property
    def has_order_heads(self) -> bool:
        """Whether order heads sit beside an aligner (``return_order`` gives embeddings)."""
        return self.aligner is not None and (
            self.audio_pooling is not None or self.text_pooling is not None
        )

    @property
    def has_codebook(self) -> bool:
        """Whether the aligner produces codeword weights (a codebook)."""
        return getattr(self.aligner, "codebook", None) is not None

    @mark_as_transfer
    def _load_pretrained(self, path) -> None:
        """Strict, weights-only load of our own state dicts (``Pretrainer`` transfer hook).

        A checkpoint that does not fit must fail loudly (SpeechBrain's default
        is non-strict). Foreign checkpoints load through the ``custom_hooks``
        entry ``speechbrain_tclap.convert.pretrainer.load_any_checkpoint``.

        Arguments
        ---------
        path : str or pathlib.Path
            A checkpoint file holding this module's ``state_dict()``.
        """
        state_dict = read_checkpoint(path)  # an export's safetensors too
        if not isinstance(state_dict, dict) or "log_logit_scale" not in state_dict:
            raise ValueError(
                f"{path} is not a state dict of this CLAP module (no 'log_logit_scale'); "
                "a foreign checkpoint (LAION-CLAP, Hugging Face, msclap, MGA-CLAP) loads "
                "through the Pretrainer hook speechbrain_tclap.convert.pretrainer."
                "load_any_checkpoint (custom_hooks: {clap: ...})"
            )
        self.load_state_dict(state_dict, strict=True)
        logger.info("loaded CLAP weights from %s (%d tensors)", path, len(state_dict))
