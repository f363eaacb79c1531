"""Deployable encoders: a CLAP model's towers as ``torch.export`` programs and ONNX.

:class:`AudioTower` (waveforms ``(B, L)`` and relative lengths ``(B,)``),
:class:`FusionViewsTower` (fusion HTSAT) and :class:`TextTower` (token ids and
mask ``(B, N)``; tokenization stays outside, with the tokenizer files of the
pretrained folder) give normalised embeddings ``(B, D)`` of every model of the
package. :func:`export_towers` writes ``audio.pt2`` / ``text.pt2``
(``torch.export.save``) and ``audio.onnx`` / ``text.onnx`` (``dynamo=True``),
batch and length dynamic where the model allows (else static, the report says
why), and checks each file against the eager tower on other shapes than the
traced ones (ONNX through onnxruntime, if installed). Command line
(:mod:`speechbrain_tclap.export_cli`)::

    speechbrain-tclap export --source PRETRAINED_FOLDER --output_folder OUT

``pip install "speechbrain-tclap[export]"`` installs ``onnx``,
``onnxscript`` and ``onnxruntime``.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from speechbrain.utils.logger import get_logger
from torch import nn

from speechbrain_tclap.lobes.clap import CLAP

logger = get_logger(__name__)

#: What the audio head of CLAP reads (``CLAP.audio_head``).
AUDIO_PARTS = ("audio_encoder", "audio_pooling", "audio_projection", "aligner")

#: Captions that trace and check the text tower (any captions do).
EXAMPLE_CAPTIONS = (
    "a dog barks then a car passes by",
    "rain",
    "a bell rings twice followed by footsteps on gravel",
)


class _Tower(nn.Module):
    """The ``PARTS`` of a CLAP model only (no other tower's weights), on which
    ``CLAP.audio_head`` / ``CLAP.text_head`` run as on the model."""

    PARTS: Tuple[str, ...] = ()
    # The heads' helpers for order heads beside an aligner (MGA + T-CLAP).
    _add_order_head = CLAP._add_order_head
    _order_head_input = CLAP._order_head_input

    def __init__(self, clap: nn.Module):
        super().__init__()
        for part in self.PARTS:
            setattr(self, part, getattr(clap, part, None))
        self.order_heads_detach = getattr(clap, "order_heads_detach", False)


class AudioTower(_Tower):
    """Waveforms -> normalised audio embeddings of a CLAP model.

    Arguments
    ---------
    clap : speechbrain_tclap.lobes.clap.CLAP
        The model (put in eval mode by the caller).

    Example
    -------
    >>> from speechbrain_tclap.lobes.features import CLAPFeatures
    >>> from speechbrain_tclap.lobes.htsat import HTSAT
    >>> features = CLAPFeatures(16000, n_fft=256, hop_length=160, n_mels=16, f_max=8000)
    >>> clap = CLAP(features, HTSAT.from_preset("test"), nn.Linear(16, 8),
    ...             nn.Identity(), nn.Identity()).eval()
    >>> wavs, lens = torch.randn(2, 8000), torch.tensor([1.0, 0.6])
    >>> tower = AudioTower(clap)
    >>> torch.allclose(tower(wavs, lens), clap.encode_audio(wavs, lens), atol=1e-6)
    True
    >>> sorted(name for name, _ in tower.named_children())  # no text weights
    ['audio_encoder', 'audio_features', 'audio_projection']
    """

    PARTS = AUDIO_PARTS + ("audio_features",)

    def forward(
        self, wavs: torch.Tensor, wav_lens: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Embeds ``wavs (B, L)`` with relative lengths ``wav_lens (B,)``
        (``None``: every clip whole)."""
        feats, feat_lens = self.audio_features(wavs, wav_lens)
        encoded = self.audio_encoder(feats, feat_lens)
        return F.normalize(CLAP.audio_head(self, encoded)[0], dim=-1)


class FusionViewsTower(_Tower):
    """Fusion views -> normalised audio embeddings of a fusion-HTSAT CLAP.

    Fusion views (a global view and three local windows) are cut at
    data-dependent lengths, which a graph cannot express, so this tower starts
    after them: ``views (B, 4, T, n_mels)`` of
    :func:`speechbrain_tclap.lobes.fusion.fusion_inputs` (or HF's
    ``ClapFeatureExtractor``), ``is_longer (B,)`` and relative lengths ``(B,)``.

    Arguments
    ---------
    clap : speechbrain_tclap.lobes.clap.CLAP
        A model whose audio encoder is a fusion HTSAT.

    Example
    -------
    >>> from speechbrain_tclap.lobes.features import CLAPFeatures
    >>> from speechbrain_tclap.lobes.fusion import fusion_inputs
    >>> from speechbrain_tclap.lobes.htsat import HTSAT
    >>> features = CLAPFeatures(16000, n_fft=256, hop_length=160, n_mels=16, f_max=8000)
    >>> encoder = HTSAT.from_preset("test", enable_fusion=True, fusion_window=40)
    >>> clap = CLAP(features, encoder, nn.Linear(16, 8), nn.Identity(), nn.Identity()).eval()
    >>> wavs = torch.randn(2, 16000)  # 101 frames: longer than the window
    >>> views, lens, is_longer = fusion_inputs(*features(wavs), window=40)
    >>> embedding = FusionViewsTower(clap)(views, is_longer, lens)
    >>> torch.allclose(embedding, clap.encode_audio(wavs), atol=1e-6)
    True
    """

    PARTS = AUDIO_PARTS

    def forward(
        self,
        views: torch.Tensor,
        is_longer: torch.Tensor,
        feat_lens: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Embeds fusion ``views`` with ``is_longer`` and ``feat_lens``
        (``None``: every view whole)."""
        encoded = self.audio_encoder(views, feat_lens, is_longer)
        return F.normalize(CLAP.audio_head(self, encoded)[0], dim=-1)


class TextTower(_Tower):
    """Token ids and mask -> normalised text embeddings of a CLAP model.

    Arguments
    ---------
    clap : speechbrain_tclap.lobes.clap.CLAP
        The model (put in eval mode by the caller).

    Example
    -------
    >>> from speechbrain_tclap.lobes.text import TransformerTextEncoder
    >>> text = TransformerTextEncoder(None, vocab_size=20, d_model=8, nhead=2,
    ...                               num_layers=1, max_length=6, dropout=0.0)
    >>> clap = CLAP(nn.Identity(), nn.Identity(), nn.Identity(), text, nn.Linear(8, 4))
    >>> ids = torch.tensor([[3, 5, 7, 0], [4, 6, 0, 0]])
    >>> TextTower(clap.eval())(ids, ids > 0).shape
    torch.Size([2, 4])
    """

    PARTS = ("text_encoder", "text_pooling", "text_projection", "aligner")

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embeds right-padded ``ids (B, N)`` with ``mask (B, N)``."""
        encoded = self.text_encoder.forward_ids(ids, mask)
        return F.normalize(CLAP.text_head(self, encoded)[0], dim=-1)


@dataclass
class TowerExport:
    """What :func:`export_tower` wrote and measured.

    ``dynamic``: the dynamic input dimensions (or why none); ``*_max_diff``:
    from the eager tower (``None``: not checked); times in seconds.
    """

    name: str
    dynamic: str
    export_seconds: float
    program_max_diff: float
    files: List[str] = field(default_factory=list)
    onnx_seconds: Optional[float] = None
    onnx_max_diff: Optional[float] = None


def export_tower(
    tower: nn.Module,
    name: str,
    example: Tuple[torch.Tensor, ...],
    check: Tuple[torch.Tensor, ...],
    dynamic_shapes: Tuple[Dict[int, object], ...],
    folder: str,
    onnx: bool = True,
) -> TowerExport:
    """Exports one tower to ``<name>.pt2`` (and ``<name>.onnx``), then checks them.

    Arguments
    ---------
    tower : torch.nn.Module
        The module, in eval mode.
    name : str
        File stem.
    example : tuple of torch.Tensor
        Inputs to trace with.
    check : tuple of torch.Tensor
        Inputs to compare files and eager tower on (other shapes than ``example``).
    dynamic_shapes : tuple of dict
        ``torch.export`` dynamic shapes; if tracing with them fails, the tower is
        exported and checked for ``example``'s shapes.
    folder : str
        Output folder (created).
    onnx : bool
        Also write and check the ONNX file.

    Returns
    -------
    TowerExport
        Files, dynamic dimensions, export times and differences.

    Example
    -------
    >>> tower = nn.Linear(4, 3).eval()
    >>> batch = torch.export.Dim("batch")
    >>> report = export_tower(tower, "linear", (torch.randn(2, 4),), (torch.randn(5, 4),),
    ...                       ({0: batch},), getfixture("tmpdir"), onnx=False)
    >>> report.dynamic, report.program_max_diff < 1e-6
    ('input[0]', True)
    """
    os.makedirs(folder, exist_ok=True)
    start = time.perf_counter()
    try:
        program = torch.export.export(tower, example, dynamic_shapes=dynamic_shapes)
        dynamic = ", ".join(
            f"{arg}[{dim}]"
            for arg, dims in zip(_input_names(tower), dynamic_shapes)
            for dim in dims
        )
    except Exception as error:  # noqa: BLE001 - any tracing failure: go static
        reason = str(error).strip().splitlines()[0][:200]
        logger.warning("%s: no dynamic shapes (%s); exporting static shapes", name, reason)
        program = torch.export.export(tower, example)
        dynamic, check = f"none (static shapes: {reason})", example
    pt2 = os.path.join(folder, f"{name}.pt2")
    torch.export.save(program, pt2)
    report = TowerExport(name, dynamic, time.perf_counter() - start, float("nan"), [pt2])
    with torch.no_grad():
        expected = tower(*check)
        loaded = torch.export.load(pt2).module()
        report.program_max_diff = _max_diff(loaded(*check), expected)
    if onnx:
        start = time.perf_counter()
        path = os.path.join(folder, f"{name}.onnx")
        torch.onnx.export(program, (), path, dynamo=True, external_data=False)
        report.onnx_seconds = time.perf_counter() - start
        report.files.append(path)
        session = onnx_session(path)
        if session is not None:
            feed = {i.name: t.numpy() for i, t in zip(session.get_inputs(), check)}
            got = torch.from_numpy(session.run(None, feed)[0])
            report.onnx_max_diff = _max_diff(got, expected)
    return report


def onnx_session(path: str, threads: Optional[int] = None):
    """An onnxruntime CPU session for ``path``, or ``None`` without onnxruntime.

    Its threads do not spin while idle, leaving the cores to what runs next.

    Arguments
    ---------
    path : str
        An ONNX file.
    threads : int, optional
        Intra-op threads; default torch's ``get_num_threads()``.

    Returns
    -------
    onnxruntime.InferenceSession or None
        The session.
    """
    try:
        import onnxruntime
    except ImportError:
        logger.warning("onnxruntime is not installed: %s is not checked", path)
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _max_diff(got: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest absolute difference (inf when the shapes differ)."""
    if got.shape != expected.shape:
        return float("inf")
    return float((got.float() - expected.float()).abs().max())


def _input_names(tower: nn.Module) -> List[str]:
    """Names of the tower's ``forward`` arguments."""
    code = tower.forward.__code__
    return list(code.co_varnames[1 : code.co_argcount])


def export_towers(
    clap: nn.Module,
    folder: str,
    sample_rate: Optional[int] = None,
    clip_seconds: Optional[float] = None,
    tokenizer=None,
    onnx: bool = True,
    captions: Sequence[str] = EXAMPLE_CAPTIONS,
    towers: Sequence[str] = ("audio", "text"),
) -> List[TowerExport]:
    """Exports the audio and text towers of ``clap`` and writes ``export.json``.

    Audio: traced on 2 clips of ``clip_seconds``, checked on 3 of 0.6 that
    length (dynamic from 0.5 s). Text: traced on two captions, checked on all
    (tokens dynamic up to the tokenizer's ``max_length``).

    Arguments
    ---------
    clap : speechbrain_tclap.lobes.clap.CLAP
        The model; it is put in eval mode.
    folder : str
        Output folder.
    sample_rate : int, optional
        Sampling rate of the audio front end; default the model's.
    clip_seconds : float, optional
        Longest clip the audio tower takes; default the model's window.
    tokenizer : callable, optional
        ``tokenizer(texts) -> (ids, mask)``; default the text encoder's.
    onnx : bool
        Also write (and check) the ONNX files.
    captions : sequence of str
        At least three captions for tracing and checking.
    towers : sequence of str
        Which towers to export: ``"audio"``, ``"text"`` or both.

    Returns
    -------
    list of TowerExport
        One per tower, audio first.
    """
    unknown = set(towers) - {"audio", "text"}
    if unknown or not towers:
        raise ValueError(f"towers must be 'audio' and/or 'text', got {list(towers)}")
    clap.eval()
    sample_rate = sample_rate or clap.sample_rate
    if clip_seconds is None and clap.window_samples is None:
        raise ValueError(
            "this audio tower takes clips of any length: give clip_seconds, the "
            "length the exported tower is traced and checked at"
        )
    clip_seconds = clip_seconds or clap.window_samples / sample_rate
    reports = []
    batch = torch.export.Dim("batch", min=1, max=4096)
    if "audio" in towers:
        reports.append(_export_audio(clap, folder, sample_rate, clip_seconds, batch, onnx))
    if "text" in towers:
        tokenizer = tokenizer or clap.text_encoder.tokenizer
        ids, mask = tokenizer(list(captions))
        limit = max(int(getattr(tokenizer, "max_length", 512)), ids.shape[1])
        tokens = torch.export.Dim.DYNAMIC(max=limit)
        reports.append(export_tower(
            TextTower(clap), "text", tokenizer(list(captions[:2])), (ids, mask),
            ({0: batch, 1: tokens}, {0: batch, 1: tokens}), folder, onnx,
        ))
    with open(os.path.join(folder, "export.json"), "w") as f:
        json.dump([asdict(r) for r in reports], f, indent=2)
    return reports


def _export_audio(clap, folder, sample_rate, clip_seconds, batch, onnx) -> TowerExport:
    """The audio tower of :func:`export_towers` (fusion views for a fusion HTSAT).

    A ``time_fill="stretch"`` HTSAT resizes each length on its own, a loop a
    graph cannot hold: its tower takes no lengths (every clip whole).
    """
    generator = torch.Generator().manual_seed(0)
    samples = int(round(sample_rate * clip_seconds))
    short = int(0.6 * samples)
    example = (0.1 * torch.randn(2, samples, generator=generator), torch.tensor([1.0, 0.7]))
    check = (0.1 * torch.randn(3, short, generator=generator), torch.tensor([1.0, 0.5, 0.8]))
    whole = getattr(clap.audio_encoder, "time_fill", None) == "stretch"
    if getattr(clap.audio_encoder, "enable_fusion", False):
        tower = FusionViewsTower(clap)
        example, check = _fusion_views(clap, *example), _fusion_views(clap, *check)
        frames = torch.export.Dim.DYNAMIC(max=clap.audio_encoder.time_capacity)
        dims = ({0: batch, 2: frames}, {0: batch}, {0: batch})
    else:
        tower = AudioTower(clap)
        length = torch.export.Dim.DYNAMIC(min=min(sample_rate // 2, short), max=samples)
        dims = ({0: batch, 1: length}, {0: batch})
    if whole:
        example, check, dims = example[:-1], check[:-1], dims[:-1]
    return export_tower(tower, "audio", example, check, dims, folder, onnx)


def _fusion_views(clap: nn.Module, wavs: torch.Tensor, wav_lens: torch.Tensor):
    """``(views, is_longer, feat_lens)`` of a fusion HTSAT for ``wavs``."""
    from speechbrain_tclap.lobes.fusion import fusion_inputs

    with torch.no_grad():
        feats, feat_lens = clap.audio_features(wavs, wav_lens)
    views = fusion_inputs(feats, feat_lens, clap.audio_encoder.fusion_window)
    return views.feats, views.is_longer, views.feat_lens
