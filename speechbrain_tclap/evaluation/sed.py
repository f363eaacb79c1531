"""Zero-shot sound event detection and text-to-audio grounding of a CLAP model.

A model with frame outputs scores every frame against every text (cosine,
:func:`frame_text_scores`). SED scores every clip against one prompt per
class; grounding asks one query per (clip, class present in it), as
MGA-CLAP's ``zero_shot_grounding.py``, and also joins gaps of at most
``fill_gap_seconds``. Both decode with :mod:`speechbrain_tclap.events` and
are scored by
:func:`~speechbrain_tclap.evaluation.detection_metrics.detection_metrics`.
:class:`FrameEventEvaluator` runs them in a recipe (YAML
``extra_evaluations``) or from :mod:`speechbrain_tclap.evaluation.sed_cli`;
the interface decodes alike (:meth:`speechbrain_tclap.inference.CLAP.detect_events`).
Details in docs/mgaclap.md ("Fine-grained evaluation").

Authors
 * speechbrain-tclap developers 2026
"""

import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence

import numpy as np
import torch

from speechbrain_tclap.data.captions import class_prompts
from speechbrain_tclap.evaluation.base import Evaluator
from speechbrain_tclap.evaluation.detection_metrics import (
    GROUNDING_PSDS,
    SED_PSDS,
    ScoredClip,
    detection_metrics,
    event_order_accuracy,
)
from speechbrain_tclap.events import (
    SCORE_LABELS,
    event_label,
    median_filter_time,
    normalize_frame_scores,
)
from speechbrain_tclap.windows import AudioEmbedder


@dataclass
class EvalClip:
    """One evaluation clip: waveform, real length and reference events.

    Arguments
    ---------
    id : str
        Clip id.
    wav : torch.Tensor
        ``(L,)`` waveform at the model rate.
    valid_samples : int
        Real samples (the rest is padding).
    events : list of dict
        ``label``, ``onset``, ``offset`` in seconds from the clip start.

    Example
    -------
    >>> EvalClip("a", torch.zeros(8), 8, []).valid_samples
    8
    """

    id: str
    wav: torch.Tensor
    valid_samples: int
    events: List[Mapping]


class FrameTextScores(NamedTuple):
    """Frame-text scores of a list of clips (see :func:`frame_text_scores`).

    Arguments
    ---------
    scores : list of numpy.ndarray
        ``(T_i, N_text)`` per clip.
    times : numpy.ndarray
        Frame centres in seconds.
    period : float
        Seconds between frames.
    sample_rate : int
        Model sample rate.

    Example
    -------
    >>> FrameTextScores([np.zeros((2, 1))], np.array([0.1, 0.3]), 0.2, 16000).period
    0.2
    """

    scores: List[np.ndarray]
    times: np.ndarray
    period: float
    sample_rate: int


@torch.no_grad()
def frame_text_scores(
    model,
    clips: Sequence[EvalClip],
    texts: Sequence[str],
    window_seconds: Optional[float] = None,
    batch_size: int = 16,
) -> "FrameTextScores":
    """Cosine similarity of every real frame of every clip with every text.

    Clips are encoded in sliding windows of ``window_seconds`` (default: the
    model's window) by :meth:`speechbrain_tclap.windows.AudioEmbedder.frame_scores`.

    Arguments
    ---------
    model : speechbrain_tclap.lobes.clap.CLAP
        The model (in eval mode).
    clips : sequence of EvalClip
        Clips.
    texts : sequence of str
        Prompts or captions.
    window_seconds : float, optional
        Window length.
    batch_size : int
        Clips per forward pass.

    Returns
    -------
    FrameTextScores
        Real frames only; ``times`` of the longest clip (a prefix for others).
    """
    embedder = AudioEmbedder(model, window_seconds)
    text_emb = model.encode_text(list(texts))
    scores, times = [], np.zeros(0)
    for start in range(0, len(clips), batch_size):
        chunk = clips[start : start + batch_size]
        longest = max(c.valid_samples for c in chunk)
        wavs = torch.zeros(len(chunk), longest)
        for i, c in enumerate(chunk):
            wavs[i, : c.valid_samples] = c.wav[: c.valid_samples]
        lens = torch.tensor([c.valid_samples / longest for c in chunk])
        out = embedder.frame_scores(wavs, lens, text_emb)
        sim, mask = out.scores.cpu().numpy(), out.mask.cpu().numpy()
        scores += [sim[i][mask[i]] for i in range(len(chunk))]
        if out.times.shape[0] > times.shape[0]:
            times = out.times.cpu().numpy().astype(np.float64)
    rate = embedder.sample_rate
    return FrameTextScores(scores, times, embedder.geometry.frame_period / rate, rate)


class FrameEventEvaluator(Evaluator):
    """Zero-shot SED and text-to-audio grounding as a ``CLAPBrain`` evaluation.

    Builds each manifest row with the recipe's evaluation sample builder
    (``train=False``) and keeps the samples whose ``meta`` holds reference
    events (synthetic rows: keep ``eval_crop: left`` so the times stay valid;
    ESC-50 pairs of ``TemporalViewBuilder``). Metrics are prefixed ``sed_``
    and ``grounding_``; chance levels are those of uniform random scores
    (seeded, once per stage). At ``plot_stages`` the first ``num_plots``
    clips are drawn into ``<output_folder>/<plot_folder>/``.

    Arguments
    ---------
    manifests : mapping
        Stage name (``valid``, ``test``) -> manifest path; stages without one
        are not evaluated.
    sample_builder : callable
        ``(row, train) -> CLAPSample`` (the recipe's evaluation builder).
    template : str
        Prompt of a class label (``{}``: its readable name).
    classes : list of str, optional
        SED classes (default: every event label of the manifest).
    median_window : int
        Median filter in frames (MGA-CLAP: 3).
    num_thresholds : int
        Thresholds of the sweep.
    collar : float
        Collar of the event F1 (seconds).
    offset_collar_rate : float
        Relative offset collar of the event F1.
    grounding : bool
        Also evaluate grounding (one query per clip and present class).
    grounding_fill_gap_seconds : float
        Join grounding events closer than this (MGA-CLAP: 0.5 s).
    psds_stages : list of str
        Stages computing PSDS (needs ``psds_eval``; the slowest part).
    psds_thresholds : int, optional
        Operating points given to PSDS (default: the whole sweep).
    window_seconds : float, optional
        Window length (default: the model's window).
    max_clips : int or mapping, optional
        Evaluate only the first clips with events (quick runs); a mapping
        gives a limit per stage (e.g. ``{valid: 100}``).
    num_plots : int
        Pictures per plotted stage.
    plot_stages : list of str
        Stages that save pictures.
    plot_folder : str
        Sub-folder of the output folder for the pictures.
    stages : list of str, optional
        Stage names to run at (default: those with a manifest).
    seed : int
        Seed of the chance-level random scores.
    score_normalization : str
        ``"none"`` (MGA-CLAP's raw cosines) or ``"prompt_mean"``: subtract each
        frame's mean score over the prompts (what all prompts share, as a
        background class would; silent frames score high with every caption).

    Example
    -------
    >>> FrameEventEvaluator({"test": "test.json"}, sample_builder=None).stages
    ('TEST',)
    """

    def __init__(
        self,
        manifests: Mapping[str, str],
        sample_builder,
        template: str = "{}",
        classes: Optional[Sequence[str]] = None,
        median_window: int = 3,
        num_thresholds: int = 50,
        collar: float = 0.2,
        offset_collar_rate: float = 0.2,
        grounding: bool = True,
        grounding_fill_gap_seconds: float = 0.5,
        psds_stages: Sequence[str] = ("TEST",),
        psds_thresholds: Optional[int] = None,
        window_seconds: Optional[float] = None,
        max_clips=None,
        num_plots: int = 4,
        plot_stages: Sequence[str] = ("TEST",),
        plot_folder: str = "frame_scores",
        stages: Optional[Sequence[str]] = None,
        seed: int = 0,
        score_normalization: str = "none",
    ):
        normalize_frame_scores(np.zeros((1, 1)), score_normalization)  # validates it
        self.score_normalization = score_normalization
        self.manifests = {str(k).upper(): str(v) for k, v in dict(manifests).items() if v}
        if not self.manifests:
            raise ValueError("FrameEventEvaluator needs at least one manifest (e.g. {test: path})")
        self.stages = tuple(s.upper() for s in stages) if stages else tuple(self.manifests)
        self.sample_builder = sample_builder
        class_prompts([], template)  # validates it
        self.template = template
        self.classes = list(classes) if classes else None
        median_filter_time(np.zeros((1, 1)), median_window)  # validates the window
        self.median_window = int(median_window)
        self.num_thresholds = int(num_thresholds)
        self.collar = float(collar)
        self.offset_collar_rate = float(offset_collar_rate)
        self.grounding = bool(grounding)
        self.grounding_fill_gap_seconds = float(grounding_fill_gap_seconds)
        self.psds_stages = tuple(s.upper() for s in psds_stages or ())
        self.psds_thresholds = psds_thresholds
        self.window_seconds = window_seconds
        if isinstance(max_clips, Mapping):
            self.max_clips = {str(k).upper(): int(v) for k, v in max_clips.items() if v}
        else:
            self.max_clips = {s: int(max_clips) for s in self.manifests} if max_clips else {}
        self.num_plots = int(num_plots)
        self.plot_stages = tuple(s.upper() for s in plot_stages)
        self.plot_folder = plot_folder
        self.seed = int(seed)
        self._clips: Dict[str, List[EvalClip]] = {}
        self._chance: Dict[str, Dict[str, float]] = {}
        self._last_stage: Optional[str] = None

    def load_clips(self, stage: str) -> List[EvalClip]:
        """Clips with reference events of a stage's manifest (cached).

        Arguments
        ---------
        stage : str
            Stage name.

        Returns
        -------
        list of EvalClip
            In manifest order.
        """
        stage = stage.upper()
        if stage in self._clips:
            return self._clips[stage]
        if stage not in self.manifests:
            raise ValueError(f"FrameEventEvaluator has no manifest for stage {stage}")
        from speechbrain_tclap.data.manifest import load_manifest

        path = self.manifests[stage]
        rows = load_manifest(path, required=("id",))
        clips = []
        for row_id, row in rows.items():
            row = dict(row, id=row_id)
            sample = self.sample_builder(row, False)
            if sample is None or not sample.audio:
                continue
            events = sample.meta.get("view_events", {}).get("main", sample.meta.get("events"))
            if not events:
                continue
            audio = next((a for a in sample.audio if a.view == "main"), sample.audio[0])
            clips.append(EvalClip(str(row_id), audio.wav, int(audio.valid_samples), list(events)))
            if len(clips) == self.max_clips.get(stage, -1):
                break
        if not clips:
            raise ValueError(
                f"{path}: no row gave a sample with reference events (meta 'events'); "
                "FrameEventEvaluator needs event onsets and offsets"
            )
        self._clips[stage] = clips
        return clips

    def evaluate(self, brain, stage) -> Dict[str, float]:
        """SED and grounding metrics of ``brain``'s model.

        Arguments as :meth:`Evaluator.evaluate`.

        Returns
        -------
        dict
            ``sed_*`` and ``grounding_*`` metrics.
        """
        return self.evaluate_model(
            self.model(brain), stage, str(getattr(brain.hparams, "output_folder", "."))
        )

    def evaluate_model(
        self, model, stage, output_folder: str = "."
    ) -> Dict[str, float]:
        """SED and grounding metrics of a CLAP model (no Brain needed).

        Arguments
        ---------
        model : speechbrain_tclap.lobes.clap.CLAP
            The model, in eval mode.
        stage : speechbrain.Stage or str
            Whose manifest to read (e.g. ``"TEST"``).
        output_folder : str
            Where the pictures go (``<output_folder>/<plot_folder>``).

        Returns
        -------
        dict
            ``sed_*`` and ``grounding_*`` metrics.
        """
        name = getattr(stage, "name", str(stage)).upper()
        self._last_stage = name
        clips = self.load_clips(name)
        classes = self.classes or sorted({event_label(e) for c in clips for e in c.events})
        prompts = class_prompts(classes, self.template)
        scores, times, period, rate = frame_text_scores(model, clips, prompts, self.window_seconds)
        scores = [normalize_frame_scores(s, self.score_normalization) for s in scores]
        psds = name in self.psds_stages
        metrics = self.metrics(
            clips, scores, times, period, classes, rate, psds, self.psds_thresholds
        )
        if name not in self._chance:
            rng = np.random.default_rng(self.seed)
            noise = [rng.random(s.shape) for s in scores]
            # random scores: PSDS is near 0 anyway, a coarse sweep saves time
            self._chance[name] = self.metrics(
                clips, noise, times, period, classes, rate, psds, psds_thresholds=10
            )
        if name in self.plot_stages and self.num_plots > 0:
            folder = os.path.join(output_folder, self.plot_folder)
            self.save_plots(clips[: self.num_plots], scores, times, prompts, classes, folder, name.lower())
        return metrics

    def metrics(
        self,
        clips: Sequence[EvalClip],
        scores: Sequence[np.ndarray],
        times: np.ndarray,
        period: float,
        classes: Sequence[str],
        sample_rate: int,
        psds: bool = False,
        psds_thresholds: Optional[int] = None,
    ) -> Dict[str, float]:
        """SED and grounding metrics of given frame scores.

        Arguments
        ---------
        clips : sequence of EvalClip
            The clips.
        scores : sequence of numpy.ndarray
            ``(T_i, C)`` per clip, columns in ``classes`` order.
        times : numpy.ndarray
            Frame centres (prefixes per clip).
        period : float
            Seconds between frames.
        classes : sequence of str
            Column labels.
        sample_rate : int
            Rate of the clips' waveforms.
        psds : bool
            Also compute PSDS.
        psds_thresholds : int, optional
            Operating points given to PSDS (default: the whole sweep).

        Returns
        -------
        dict
            Prefixed metrics.
        """
        sed, grounding = [], []
        column = {c: i for i, c in enumerate(classes)}
        for clip, s in zip(clips, scores):
            duration = clip.valid_samples / sample_rate
            t = times[: s.shape[0]]
            sed.append(ScoredClip(clip.id, s, t, list(classes), duration, clip.events))
            if self.grounding:
                for label in sorted({event_label(e) for e in clip.events} & set(column)):
                    own = [e for e in clip.events if event_label(e) == label]
                    grounding.append(
                        ScoredClip(f"{clip.id}#{label}", s[:, [column[label]]], t, ["query"],
                                   duration, [dict(e, label="query") for e in own])
                    )
        common = dict(
            period=period, num_thresholds=self.num_thresholds, median_window=self.median_window,
            collar=self.collar, offset_collar_rate=self.offset_collar_rate,
            psds_thresholds=psds_thresholds,
        )
        out = {f"sed_{k}": v for k, v in detection_metrics(
            sed, psds_settings=SED_PSDS if psds else None, **common).items()}
        order = event_order_accuracy(sed)
        if order is not None:
            out["grounding_order_acc"] = order
        if grounding:
            out.update({f"grounding_{k}": v for k, v in detection_metrics(
                grounding, fill_gap_seconds=self.grounding_fill_gap_seconds,
                psds_settings=GROUNDING_PSDS if psds else None, **common).items()})
        return out

    def chance_levels(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """The metrics of uniform random scores (same clips and decoding).

        Arguments as :meth:`Evaluator.chance_levels`.

        Returns
        -------
        dict
            Metric name -> chance value (threshold entries left out).
        """
        chance = self._chance.get(self._last_stage or "", {})
        return {k: v for k, v in chance.items() if not k.endswith("threshold")}

    def save_plots(self, clips, scores, times, prompts, classes, folder, prefix) -> List[str]:
        """Save frame-by-prompt pictures of ``clips``.

        Arguments
        ---------
        clips : sequence of EvalClip
            Clips to draw.
        scores : sequence of numpy.ndarray
            Their scores (at least as many as ``clips``).
        times : numpy.ndarray
            Frame centres.
        prompts : sequence of str
            Prompt of each column.
        classes : sequence of str
            Label of each column.
        folder : str
            Output folder.
        prefix : str
            File name prefix.

        Returns
        -------
        list of str
            Written files.
        """
        from speechbrain_tclap.plotting import plot_frame_scores

        os.makedirs(folder, exist_ok=True)
        written = []
        for clip, s in zip(clips, scores):
            present = sorted({event_label(e) for e in clip.events} & set(classes))
            # present classes first, then the strongest absent ones: a few rows
            others = sorted(set(classes) - set(present), key=lambda c: -float(s[:, classes.index(c)].max()))
            rows = present + others[: max(0, 6 - len(present))]
            cols = [classes.index(c) for c in rows]
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in clip.id)
            path = plot_frame_scores(
                s[:, cols], times[: s.shape[0]], [prompts[i] for i in cols],
                os.path.join(folder, f"{prefix}-{safe}.png"),
                events=[dict(e, label=p) for e, p in zip(clip.events, class_prompts(map(event_label, clip.events), self.template))],
                title=clip.id,
                colorbar_label=SCORE_LABELS[self.score_normalization],
            )
            if path:
                written.append(path)
        return written
