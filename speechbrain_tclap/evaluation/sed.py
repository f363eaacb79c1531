"""Zero-shot sound event detection and text-to-audio grounding from frame scores.

Any CLAP model with frame outputs (``encode_audio(..., return_frames=True)``)
scores every frame against every text: ``frames @ text_emb.T`` (cosine). From
those scores:

* **sound event detection (SED)**: one prompt per class, every clip scored
  against every class; median filter over time (``median_window`` frames),
  thresholds, contiguous active frames become events
  (:func:`speechbrain_tclap.events.scores_to_events`: the decoding lives
  there, below the interface and this module);
* **text-to-audio grounding**: one query per (clip, phrase) for the phrases
  the clip contains (as AudioGrounding / MGA-CLAP's ``zero_shot_grounding.py``),
  the same decoding plus joining gaps of at most ``fill_gap_seconds``.

Metrics (:func:`detection_metrics`), over a sweep of thresholds:

* frame-level F1 (micro over clip x frame x class cells; a frame is active
  when its centre lies inside an event) and collar-based event F1 (macro over
  classes; onset within ``collar`` seconds, offset within
  ``max(collar, offset_collar_rate * length)``, one-to-one matching as
  sed_eval), each at the best threshold of the sweep (as MGA-CLAP reports
  SED F1 at the best operating point: optimistic, say so when quoting);
* PSDS (Bilen et al., 2020) from the ``psds_eval`` package (extra ``sed``),
  which integrates over all thresholds; with MGA-CLAP's settings by default
  (:data:`SED_PSDS`, :data:`GROUNDING_PSDS`).

The threshold sweep uses ``num_thresholds`` quantiles of the (filtered)
scores of the evaluated frames, so models whose cosines live in different
ranges are swept equally finely; it is deterministic. A frame is active when
its score is at least the threshold.

:class:`FrameEventEvaluator` runs both on a manifest at the end of
``CLAPBrain``'s validation and test (YAML ``extra_evaluations``) and saves a
few pictures (:func:`speechbrain_tclap.plotting.plot_frame_scores`). The
pretrained interface offers the same decoding
(:meth:`speechbrain_tclap.inference.CLAP.detect_events`).

Authors
 * speechbrain-tclap developers 2026
"""

import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.evaluation.base import Evaluator
from speechbrain_tclap.events import (
    SCORE_LABELS,
    SCORE_NORMALIZATIONS,
    EventTable,
    decode_events,
    frame_bounds,
    gap_frames,
    median_filter_time,
    normalize_frame_scores,
)

logger = get_logger(__name__)

#: PSDS1 and PSDS2 of DCASE / MGA-CLAP's SED (sed_scores_eval settings; the
#: cross-trigger threshold of PSDS1 is unused as alpha_ct = 0).
SED_PSDS = {
    "psds1": dict(dtc=0.7, gtc=0.7, cttc=0.3, alpha_ct=0.0, alpha_st=1.0, max_efpr=100.0),
    "psds2": dict(dtc=0.1, gtc=0.1, cttc=0.3, alpha_ct=0.5, alpha_st=1.0, max_efpr=100.0),
}
#: MGA-CLAP's grounding PSDS (psds_eval, alpha_ct = alpha_st = 0, max_efpr 800).
GROUNDING_PSDS = {
    "psds1": dict(dtc=0.7, gtc=0.7, cttc=0.0, alpha_ct=0.0, alpha_st=0.0, max_efpr=800.0),
    "psds2": dict(dtc=0.1, gtc=0.1, cttc=0.0, alpha_ct=0.0, alpha_st=0.0, max_efpr=800.0),
}


# ---------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------
def events_to_activity(
    events: Sequence[Mapping], labels: Sequence[str], times: np.ndarray
) -> np.ndarray:
    """Frame-level ground truth: is a frame's centre inside an event?

    Arguments
    ---------
    events : sequence of dict
        With ``event_label`` (or ``label``), ``onset`` and ``offset``.
    labels : sequence of str
        Column labels.
    times : numpy.ndarray
        ``(T,)`` frame centres.

    Returns
    -------
    numpy.ndarray
        Boolean ``(T, C)``.

    Example
    -------
    >>> events_to_activity([{"label": "dog", "onset": 0.4, "offset": 1.0}],
    ...                    ["dog", "bell"], np.array([0.25, 0.75]))[:, 0].tolist()
    [False, True]
    """
    times = np.asarray(times, dtype=np.float64)
    column = {label: i for i, label in enumerate(labels)}
    active = np.zeros((times.shape[0], len(labels)), dtype=bool)
    for event in events:
        c = column.get(_label(event))
        if c is not None:
            active[:, c] |= (times >= float(event["onset"])) & (times < float(event["offset"]))
    return active


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------
def _label(event: Mapping) -> str:
    return str(event.get("event_label", event.get("label")))


def _f1(tp, fp, fn):
    """Elementwise ``2TP / (2TP + FP + FN)`` (0 where undefined)."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1e-300), 0.0)


def _max_matching(adjacency: List[List[int]]) -> int:
    """Size of a maximum bipartite matching (augmenting paths; tiny graphs)."""
    match: Dict[int, int] = {}

    def augment(left, seen):
        for right in adjacency[left]:
            if right not in seen:
                seen.add(right)
                if right not in match or augment(match[right], seen):
                    match[right] = left
                    return True
        return False

    return sum(augment(left, set()) for left in range(len(adjacency)))


def _pairs(det: EventTable, ref: EventTable) -> Tuple[np.ndarray, np.ndarray]:
    """Indices ``(ref_idx, det_idx)`` of every same-group pair."""
    order = np.argsort(det.group, kind="stable")
    sorted_groups = det.group[order]
    lo = np.searchsorted(sorted_groups, ref.group, "left")
    counts = np.searchsorted(sorted_groups, ref.group, "right") - lo
    ref_idx = np.repeat(np.arange(ref.group.shape[0]), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return ref_idx, order[np.repeat(lo, counts) + within]


def _collar_tp(det: EventTable, ref: EventTable, num_groups: int, collar: float, rate: float) -> np.ndarray:
    """True positives per group under the collar rule (one-to-one)."""
    r, d = _pairs(det, ref)
    tolerance = np.maximum(collar, rate * (ref.offset[r] - ref.onset[r]))
    ok = (np.abs(det.onset[d] - ref.onset[r]) <= collar) & (
        np.abs(det.offset[d] - ref.offset[r]) <= tolerance
    )
    r, d = r[ok], d[ok]
    # Where no event has two candidates the pairs are the matching; other
    # groups (rare: events of one class closer than the collar) are matched.
    shared = (np.bincount(r, minlength=ref.group.shape[0])[r] > 1) | (
        np.bincount(d, minlength=det.group.shape[0])[d] > 1
    )
    hard = np.unique(ref.group[r[shared]])
    simple = ~np.isin(ref.group[r], hard)
    tp = np.bincount(ref.group[r[simple]], minlength=num_groups)
    for g in hard:
        rows = ref.group[r] == g
        lefts = {i: k for k, i in enumerate(np.unique(r[rows]))}
        adjacency: List[List[int]] = [[] for _ in lefts]
        for i, j in zip(r[rows], d[rows]):
            adjacency[lefts[i]].append(int(j))
        tp[g] = _max_matching(adjacency)
    return tp


def _intersection_counts(det: EventTable, ref: EventTable, num_groups: int, dtc: float, gtc: float):
    """``(tp, fp, fn)`` per group under psds_eval's DTC / GTC rules."""
    det, ref = det.positive(), ref.positive()
    r, d = _pairs(det, ref)
    overlap = np.minimum(det.offset[d], ref.offset[r]) - np.maximum(det.onset[d], ref.onset[r])
    keep = overlap > 0
    r, d, overlap = r[keep], d[keep], overlap[keep]
    precision = np.bincount(d, overlap, minlength=det.group.shape[0]) / (det.offset - det.onset)
    passes = precision >= dtc
    cover = np.bincount(r[passes[d]], overlap[passes[d]], minlength=ref.group.shape[0])
    found = cover / (ref.offset - ref.onset) >= gtc
    tp = np.bincount(ref.group, found, minlength=num_groups)
    fn = np.bincount(ref.group, ~found, minlength=num_groups)
    fp = np.bincount(det.group, ~passes, minlength=num_groups)
    return tp, fp, fn


def _class_f1(tp, fp, fn, group_class: np.ndarray, num_classes: int, ref: EventTable):
    """Macro F1 over classes with reference events, and micro F1."""
    per = [np.bincount(group_class, v, minlength=num_classes) for v in (tp, fp, fn)]
    has_ref = np.bincount(group_class[ref.group], minlength=num_classes) > 0
    macro = float(_f1(*per)[has_ref].mean()) if has_ref.any() else 0.0
    return macro, float(_f1(*(p.sum() for p in per)))


def _tables(detections: Sequence[Mapping], ground_truth: Sequence[Mapping]):
    """Event dicts -> (det, ref, group_class, num_classes) with shared groups."""
    groups: Dict[Tuple[str, str], int] = {}
    classes: Dict[str, int] = {}

    def table(events):
        ids = []
        for e in events:
            key = (str(e["filename"]), _label(e))
            classes.setdefault(key[1], len(classes))
            ids.append(groups.setdefault(key, len(groups)))
        onset = np.array([float(e["onset"]) for e in events], dtype=np.float64)
        offset = np.array([float(e["offset"]) for e in events], dtype=np.float64)
        return EventTable(np.array(ids, dtype=np.int64), onset, offset)

    ref, det = table(ground_truth), table(detections)
    group_class = np.array([classes[label] for _, label in groups], dtype=np.int64)
    return det, ref, group_class, len(classes)


def collar_event_f1(
    detections: Sequence[Mapping],
    ground_truth: Sequence[Mapping],
    collar: float = 0.2,
    offset_collar_rate: float = 0.2,
) -> Dict[str, float]:
    """Collar-based event F1 (sed_eval's ``EventBasedMetrics`` rule).

    A detection matches a reference event of the same file and class when
    its onset is within ``collar`` seconds and its offset within
    ``max(collar, offset_collar_rate * reference length)``; each event is
    matched at most once (maximum bipartite matching).

    Arguments
    ---------
    detections : sequence of dict
        ``{"filename", "event_label", "onset", "offset"}``.
    ground_truth : sequence of dict
        The same fields (``label`` is accepted for ``event_label``).
    collar : float
        Onset (and minimum offset) tolerance in seconds.
    offset_collar_rate : float
        Offset tolerance relative to the reference length.

    Returns
    -------
    dict
        ``f1_macro`` (mean over classes with reference events) and
        ``f1_micro``.

    Example
    -------
    >>> ref = [{"filename": "a", "label": "dog", "onset": 0.0, "offset": 1.0}]
    >>> det = [{"filename": "a", "event_label": "dog", "onset": 0.1, "offset": 1.1},
    ...        {"filename": "a", "event_label": "dog", "onset": 2.0, "offset": 3.0}]
    >>> collar_event_f1(det, ref)["f1_micro"]
    0.6666666666666666
    """
    det, ref, group_class, num_classes = _tables(detections, ground_truth)
    num_groups = group_class.shape[0]
    tp = _collar_tp(det, ref, num_groups, collar, offset_collar_rate)
    fp = np.bincount(det.group, minlength=num_groups) - tp
    fn = np.bincount(ref.group, minlength=num_groups) - tp
    macro, micro = _class_f1(tp, fp, fn, group_class, num_classes, ref)
    return {"f1_macro": macro, "f1_micro": micro}


def intersection_f1(
    detections: Sequence[Mapping],
    ground_truth: Sequence[Mapping],
    dtc: float = 0.5,
    gtc: float = 0.5,
) -> float:
    """Intersection-based macro F1, as ``psds_eval``'s ``compute_macro_f_score``.

    A detection passes the detection tolerance criterion when at least
    ``dtc`` of it overlaps reference events of its class; a reference event
    is found when the passing detections of its class cover at least ``gtc``
    of it. Per class, ``TP`` = found references, ``FN`` = the others, ``FP``
    = detections failing the criterion; ``F1 = 2TP / (2TP + FP + FN)``,
    averaged over the classes with reference events (``psds_eval`` leaves a
    class without any true positive out of its mean, as NaN; here it counts
    as 0). Written with numpy only, so it runs without the ``sed`` extra;
    tested against ``psds_eval``.

    Arguments
    ---------
    detections : sequence of dict
        ``{"filename", "event_label", "onset", "offset"}``.
    ground_truth : sequence of dict
        The same fields.
    dtc : float
        Detection tolerance criterion.
    gtc : float
        Ground-truth intersection criterion.

    Returns
    -------
    float
        Macro F1.

    Example
    -------
    >>> ref = [{"filename": "a", "label": "dog", "onset": 0.0, "offset": 1.0}]
    >>> det = [{"filename": "a", "event_label": "dog", "onset": 0.2, "offset": 1.1}]
    >>> intersection_f1(det, ref)
    1.0
    """
    det, ref, group_class, num_classes = _tables(detections, ground_truth)
    counts = _intersection_counts(det, ref, group_class.shape[0], dtc, gtc)
    return _class_f1(*counts, group_class, num_classes, ref.positive())[0]


def frame_f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Micro F1 over frame x class cells.

    Arguments
    ---------
    predicted : numpy.ndarray
        Boolean, any shape.
    truth : numpy.ndarray
        Boolean, the same shape.

    Returns
    -------
    float
        ``2TP / (2TP + FP + FN)``.

    Example
    -------
    >>> frame_f1(np.array([1, 1, 0], bool), np.array([1, 0, 0], bool))
    0.6666666666666666
    """
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    tp = (predicted & truth).sum()
    return float(_f1(tp, (predicted & ~truth).sum(), (~predicted & truth).sum()))


def staircase_area(x: np.ndarray, y: np.ndarray, max_x: float) -> float:
    """Area under a step curve up to ``max_x`` (``y[i]`` holds from ``x[i]``).

    The last step before ``max_x`` extends to it. This is the area PSDS
    integrates (Bilen et al.: rectangles, not trapezoids); :func:`psds_scores`
    uses it instead of ``psds_eval``'s own, which fails under NumPy 2.

    Arguments
    ---------
    x : numpy.ndarray
        Non-decreasing abscissae.
    y : numpy.ndarray
        Values.
    max_x : float
        Upper bound of the integral.

    Returns
    -------
    float
        The area.

    Example
    -------
    >>> staircase_area(np.array([0.0, 1.0, 3.0]), np.array([0.5, 1.0, 1.0]), 2.0)
    1.5
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    if np.any(np.diff(x) < 0):
        raise ValueError("x must be non-decreasing")
    keep = x <= max_x
    if not keep.any():
        return 0.0
    steps = np.append(x[keep], max_x)
    return float(np.sum(np.diff(steps) * y[keep]))


def psds_available() -> bool:
    """Whether ``psds_eval`` (extra ``sed``) is installed.

    Returns
    -------
    bool
        True when PSDS can be computed.

    Example
    -------
    >>> isinstance(psds_available(), bool)
    True
    """
    try:
        import psds_eval  # noqa: F401
    except ImportError:
        return False
    return True


_COLUMNS = ["filename", "onset", "offset", "event_label"]


def _psds_evaluator_class():
    """``psds_eval.PSDSEval`` with two repairs (the package is optional)."""
    from psds_eval import PSDSEval

    class _PSDSEval(PSDSEval):
        # psds_eval 0.5.3's area calls int() on a 2-D array (an error since
        # NumPy 2); everything else is the package's.
        @staticmethod
        def _auc(x, y, max_x=None, decreasing_y=False):
            return staircase_area(x, y, np.max(x) if max_x is None else max_x)

        def _effective_fp_rate(self, alpha_ct=0.0):
            rates = super()._effective_fp_rate(alpha_ct)
            # One class (grounding) has no cross-triggers: psds_eval's mean
            # over an empty set is NaN, and alpha_ct * NaN made every eFPR
            # NaN (PSDS 0 for any model). Its eFPR is its FPR.
            if rates.ct_rate.shape[0] == 1:
                rates = rates._replace(effective_fp_rate=rates.fp_rate)
            return rates

    return _PSDSEval


def _psds_frames(operating_points, ground_truth, metadata, settings) -> Dict[str, float]:
    """PSDS of DataFrames (psds_eval's columns) for every setting."""
    evaluator_class = _psds_evaluator_class()
    results = {}
    for name, cfg in settings.items():
        evaluator = evaluator_class(
            dtc_threshold=cfg["dtc"], gtc_threshold=cfg["gtc"], cttc_threshold=cfg["cttc"],
            ground_truth=ground_truth, metadata=metadata,
        )
        with warnings.catch_warnings():
            # psds_eval skips (with a warning) operating points equal to an
            # earlier one, and its pandas calls raise deprecation and
            # empty-slice warnings: expected, not actionable here
            warnings.simplefilter("ignore")
            for index, table in enumerate(operating_points):
                evaluator.add_operating_point(table, info={"threshold_index": index})
            score = evaluator.psds(
                alpha_ct=cfg["alpha_ct"], alpha_st=cfg["alpha_st"], max_efpr=cfg["max_efpr"]
            )
        results[name] = float(score.value)
    return results


def psds_scores(
    operating_points: Sequence[Sequence[Mapping]],
    ground_truth: Sequence[Mapping],
    durations: Mapping[str, float],
    settings: Mapping[str, Mapping[str, float]],
) -> Dict[str, float]:
    """PSDS over operating points (one detection list per threshold), by psds_eval.

    Arguments
    ---------
    operating_points : sequence of sequence of dict
        Detections at each threshold (``filename``, ``event_label``,
        ``onset``, ``offset``).
    ground_truth : sequence of dict
        Reference events (``label`` is accepted for ``event_label``).
    durations : mapping
        Filename -> duration in seconds (every evaluated file).
    settings : mapping
        Name -> ``dict(dtc, gtc, cttc, alpha_ct, alpha_st, max_efpr)``.

    Returns
    -------
    dict
        Name -> PSDS.
    """
    import pandas as pd

    def frame(events):
        rows = [
            {"filename": str(e["filename"]), "onset": float(e["onset"]),
             "offset": float(e["offset"]), "event_label": _label(e)}
            for e in events
        ]
        return pd.DataFrame(rows, columns=_COLUMNS)

    metadata = pd.DataFrame(
        [{"filename": f, "duration": float(d)} for f, d in sorted(durations.items())],
        columns=["filename", "duration"],
    )
    return _psds_frames([frame(op) for op in operating_points], frame(ground_truth), metadata, settings)


@dataclass
class ScoredClip:
    """Frame scores of one clip (or one clip-query pair) with its reference.

    Arguments
    ---------
    name : str
        File name used in event tables.
    scores : numpy.ndarray
        ``(T, Q)`` scores of the clip's real frames.
    times : numpy.ndarray
        ``(T,)`` frame centres in seconds.
    labels : list of str
        Label of each score column (the same for every clip of a call).
    duration : float
        Clip length in seconds.
    events : list of dict
        Reference events (``label``/``event_label``, ``onset``, ``offset``).

    Example
    -------
    >>> c = ScoredClip("a", np.zeros((4, 2)), np.arange(4.0), ["x", "y"], 4.0)
    >>> c.scores.shape
    (4, 2)
    """

    name: str
    scores: np.ndarray
    times: np.ndarray
    labels: List[str]
    duration: float
    events: List[Mapping] = field(default_factory=list)


def sweep_levels(num_thresholds: int, tail_points: int = 12) -> np.ndarray:
    """Quantile levels of the threshold sweep: an even grid plus a tail to 1.

    The even grid ``(i + 0.5) / n`` stops at the ``1 - 0.5 / n`` quantile,
    whose detections on a test set of a few hours already exceed PSDS's
    ``max_efpr`` (100 false positives per hour); the ROC then starts beyond
    it and PSDS is 0 for every model. The tail halves the remaining mass
    ``tail_points`` times, down to the single highest score, so the curve has
    operating points with few false positives.

    Arguments
    ---------
    num_thresholds : int
        Points of the even grid.
    tail_points : int
        Extra levels between the grid's last level and 1 (1 included).

    Returns
    -------
    numpy.ndarray
        Increasing levels in ``(0, 1]``.

    Example
    -------
    >>> levels = sweep_levels(4, tail_points=3)
    >>> levels.round(4).tolist()
    [0.125, 0.375, 0.625, 0.875, 0.9375, 0.9688, 1.0]
    """
    grid = (np.arange(num_thresholds) + 0.5) / num_thresholds
    rest = 0.5 / num_thresholds
    tail = 1.0 - rest * 0.5 ** np.arange(1, tail_points)
    return np.concatenate([grid, tail, [1.0]])


def detection_metrics(
    clips: Sequence[ScoredClip],
    period: float,
    num_thresholds: int = 50,
    median_window: int = 3,
    fill_gap_seconds: float = 0.0,
    collar: float = 0.2,
    offset_collar_rate: float = 0.2,
    psds_settings: Optional[Mapping[str, Mapping[str, float]]] = None,
    psds_thresholds: Optional[int] = None,
) -> Dict[str, float]:
    """Frame F1, event F1 (best threshold) and PSDS of scored clips.

    Arguments
    ---------
    clips : sequence of ScoredClip
        Scores and references (one label set for all).
    period : float
        Seconds between frames.
    num_thresholds : int
        Thresholds swept (quantiles of the filtered scores, see
        :func:`sweep_levels`; its tail points come on top).
    median_window : int
        Median filter length in frames.
    fill_gap_seconds : float
        Join events separated by at most this much.
    collar : float
        Collar of the event F1.
    offset_collar_rate : float
        Relative offset collar of the event F1.
    psds_settings : mapping, optional
        Name -> PSDS settings (see :func:`psds_scores`); skipped when empty
        or when ``psds_eval`` is missing (with a warning).
    psds_thresholds : int, optional
        Operating points given to PSDS (evenly picked from the sweep);
        default all.

    Returns
    -------
    dict
        ``frame_f1``, ``event_f1`` (macro, collar), ``intersection_f1``
        (macro, dtc = gtc = 0.5), ``threshold`` (of the best event F1), and
        one entry per PSDS setting.

    Example
    -------
    >>> times = np.arange(8) * 0.5 + 0.25
    >>> scores = np.zeros((8, 2)); scores[2:6, 0] = 1.0
    >>> clip = ScoredClip("a", scores, times, ["dog", "bell"], 4.0,
    ...                   [{"label": "dog", "onset": 1.0, "offset": 3.0}])
    >>> m = detection_metrics([clip], 0.5, num_thresholds=5, median_window=1)
    >>> m["frame_f1"], m["event_f1"]
    (1.0, 1.0)
    """
    if not clips:
        raise ValueError("detection_metrics: no clips to evaluate")
    labels = list(clips[0].labels)
    if any(list(c.labels) != labels for c in clips):
        raise ValueError("detection_metrics: every clip must score the same labels")
    column = {label: i for i, label in enumerate(labels)}
    num_clips, num_labels = len(clips), len(labels)
    length = max(c.scores.shape[0] for c in clips)
    filtered = np.full((num_clips, length, num_labels), -np.inf)
    truth = np.zeros(filtered.shape, dtype=bool)
    valid = np.zeros((num_clips, length), dtype=bool)
    starts, ends = np.zeros((num_clips, length)), np.zeros((num_clips, length))
    ref_group, ref_on, ref_off = [], [], []
    for n, clip in enumerate(clips):
        t = clip.scores.shape[0]
        filtered[n, :t] = median_filter_time(clip.scores, median_window)
        starts[n, :t], ends[n, :t] = frame_bounds(clip.times[:t], period, clip.duration)
        truth[n, :t] = events_to_activity(clip.events, labels, clip.times[:t])
        valid[n, :t] = True
        for event in clip.events:
            if _label(event) in column:
                ref_group.append(n * num_labels + column[_label(event)])
                ref_on.append(float(event["onset"]))
                ref_off.append(float(event["offset"]))
    ref = EventTable(np.array(ref_group, np.int64), np.array(ref_on), np.array(ref_off)).positive()
    num_groups = num_clips * num_labels
    group_class = np.tile(np.arange(num_labels), num_clips)
    thresholds = np.unique(np.quantile(filtered[valid], sweep_levels(num_thresholds)))
    gap = gap_frames(fill_gap_seconds, period)
    refs_per_group = np.bincount(ref.group, minlength=num_groups)

    best = {"frame_f1": 0.0, "event_f1": 0.0, "intersection_f1": 0.0, "threshold": float(thresholds[0])}
    tables = []
    for threshold in thresholds:
        best["frame_f1"] = max(best["frame_f1"], frame_f1(filtered[valid] >= threshold, truth[valid]))
        det = decode_events(filtered, threshold, starts, ends, gap)
        tables.append(det)
        tp = _collar_tp(det, ref, num_groups, collar, offset_collar_rate)
        fp = np.bincount(det.group, minlength=num_groups) - tp
        event = _class_f1(tp, fp, refs_per_group - tp, group_class, num_labels, ref)[0]
        if event > best["event_f1"]:
            best["event_f1"], best["threshold"] = event, float(threshold)
        counts = _intersection_counts(det, ref, num_groups, 0.5, 0.5)
        best["intersection_f1"] = max(best["intersection_f1"], _class_f1(*counts, group_class, num_labels, ref)[0])
    if psds_settings:
        if not psds_available():
            logger.warning("psds_eval is not installed (pip install .[sed]): no PSDS")
            return best
        import pandas as pd

        names = np.array([c.name for c in clips], dtype=object)
        label_array = np.array(labels, dtype=object)

        def frame(table):
            return pd.DataFrame({
                "filename": names[table.group // num_labels], "onset": table.onset,
                "offset": table.offset, "event_label": label_array[table.group % num_labels],
            }, columns=_COLUMNS)

        picks = np.arange(len(tables))
        if psds_thresholds and psds_thresholds < len(tables):
            picks = np.unique(np.linspace(0, len(tables) - 1, psds_thresholds).round().astype(int))
        metadata = pd.DataFrame({"filename": names, "duration": [c.duration for c in clips]})
        best.update(_psds_frames([frame(tables[i]) for i in picks], frame(ref), metadata, psds_settings))
    return best


# ---------------------------------------------------------------------------
# Scoring a model
# ---------------------------------------------------------------------------
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
    most the encoder holds) by :func:`speechbrain_tclap.windows.encode_windows`.

    Arguments
    ---------
    model : speechbrain_tclap.lobes.clap.CLAP
        The model (in eval mode).
    clips : sequence of EvalClip
        Clips.
    texts : sequence of str
        Prompts or captions.
    window_seconds : float, optional
        Model window.
    batch_size : int
        Clips per forward pass.

    Returns
    -------
    FrameTextScores
        ``scores`` (list of ``(T_i, N_text)``, real frames only), ``times``
        (frame centres of the longest clip; a prefix applies to the others),
        ``period`` (seconds between frames) and ``sample_rate``.
    """
    from speechbrain_tclap.windows import FrameGeometry, encode_windows

    geometry = FrameGeometry.from_model(model)
    rate = geometry.sample_rate
    window = None if window_seconds is None else int(round(window_seconds * rate))
    limit = geometry.max_window_samples()
    if window is not None and limit is not None:
        window = min(window, limit)
    device = next(model.parameters()).device
    text_emb = model.encode_text(list(texts)).float()
    scores, times = [], np.zeros(0)
    for start in range(0, len(clips), batch_size):
        chunk = clips[start : start + batch_size]
        longest = max(c.valid_samples for c in chunk)
        wavs = torch.zeros(len(chunk), longest)
        for i, c in enumerate(chunk):
            wavs[i, : c.valid_samples] = c.wav[: c.valid_samples]
        lens = torch.tensor([c.valid_samples / longest for c in chunk])
        _, frames = encode_windows(model, wavs.to(device), lens.to(device), window=window, return_frames=True)
        sim = (frames.frames.float() @ text_emb.T).cpu().numpy()
        mask = frames.mask.cpu().numpy()
        for i in range(len(chunk)):
            scores.append(sim[i][mask[i]])
        if frames.times.shape[0] > times.shape[0]:
            times = frames.times.cpu().numpy().astype(np.float64)
    return FrameTextScores(scores, times, geometry.frame_period / rate, rate)


class FrameEventEvaluator(Evaluator):
    """Zero-shot SED and text-to-audio grounding as a ``CLAPBrain`` evaluation.

    Reads a manifest per stage, builds each row with the recipe's evaluation
    sample builder (``train=False``) and keeps the samples whose ``meta``
    holds reference events: the synthetic generator's rows
    (``ClipSampleBuilder`` copies ``events``; keep ``eval_crop: left`` so the
    times stay valid) and ESC-50 pairs (``TemporalViewBuilder`` writes the
    onsets and offsets of both segments). Scores come from the model's
    projected, normalised frames against prompts ``template.format(label)``
    (:func:`frame_text_scores`). Metrics are prefixed ``sed_`` and
    ``grounding_`` (see :func:`detection_metrics`); chance levels are the
    same metrics of uniform random scores (seeded), computed once per stage.
    At the stages in ``plot_stages`` the first ``num_plots`` clips are drawn
    into ``<output_folder>/<plot_folder>/`` (frame-by-prompt similarity with
    the true events, :func:`speechbrain_tclap.plotting.plot_frame_scores`).

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
        Stages at which PSDS is computed (needs ``psds_eval``; the slowest
        part); empty: never.
    psds_thresholds : int, optional
        Operating points given to PSDS (evenly picked from the sweep);
        default the whole sweep.
    window_seconds : float, optional
        Model window (default: the Brain's ``clip_seconds`` hyperparameter).
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
        ``"none"`` (MGA-CLAP's raw cosines) or ``"prompt_mean"``: subtract
        from every frame its mean score over the SED prompts before
        decoding. A silent frame has a high cosine with every caption in
        our small models (the edges of the pictures); the per-frame mean
        removes what all prompts share, as a background class would.

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
        if "{}" not in template:
            raise ValueError(f"template must contain '{{}}' for the label, got {template!r}")
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

        Arguments
        ---------
        brain : CLAPBrain
            The running Brain.
        stage : speechbrain.Stage
            VALID or TEST.

        Returns
        -------
        dict
            ``sed_*`` and ``grounding_*`` metrics.
        """
        return self.evaluate_model(
            self.model(brain),
            stage,
            clip_seconds=getattr(brain.hparams, "clip_seconds", None),
            output_folder=str(getattr(brain.hparams, "output_folder", ".")),
        )

    def evaluate_model(
        self,
        model,
        stage,
        clip_seconds: Optional[float] = None,
        output_folder: str = ".",
    ) -> Dict[str, float]:
        """SED and grounding metrics of a CLAP model (no Brain needed).

        Arguments
        ---------
        model : speechbrain_tclap.lobes.clap.CLAP
            The model, in eval mode.
        stage : speechbrain.Stage or str
            Whose manifest to read (e.g. ``"TEST"``).
        clip_seconds : float, optional
            Model window when ``window_seconds`` was not given.
        output_folder : str
            Where the pictures go (``<output_folder>/<plot_folder>``).

        Returns
        -------
        dict
            ``sed_*`` and ``grounding_*`` metrics.
        """
        name = getattr(stage, "name", str(stage)).upper()
        self._last_stage = name
        window = self.window_seconds if self.window_seconds is not None else clip_seconds
        clips = self.load_clips(name)
        classes = self.classes or sorted({_label(e) for c in clips for e in c.events})
        prompts = [self.template.format(readable_label(c)) for c in classes]
        scores, times, period, rate = frame_text_scores(model, clips, prompts, window)
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
                for label in sorted({_label(e) for e in clip.events} & set(column)):
                    own = [e for e in clip.events if _label(e) == label]
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
        if grounding:
            out.update({f"grounding_{k}": v for k, v in detection_metrics(
                grounding, fill_gap_seconds=self.grounding_fill_gap_seconds,
                psds_settings=GROUNDING_PSDS if psds else None, **common).items()})
        return out

    def chance_levels(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """The metrics of uniform random scores (same clips and decoding).

        Arguments
        ---------
        metrics : dict
            All metrics of the stage.

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
            present = sorted({_label(e) for e in clip.events} & set(classes))
            # present classes first, then the strongest absent ones: a few rows
            others = sorted(set(classes) - set(present), key=lambda c: -float(s[:, classes.index(c)].max()))
            rows = present + others[: max(0, 6 - len(present))]
            cols = [classes.index(c) for c in rows]
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in clip.id)
            path = plot_frame_scores(
                s[:, cols], times[: s.shape[0]], [prompts[i] for i in cols],
                os.path.join(folder, f"{prefix}-{safe}.png"),
                events=[dict(e, label=self.template.format(readable_label(_label(e)))) for e in clip.events],
                title=clip.id,
                colorbar_label=SCORE_LABELS[self.score_normalization],
            )
            if path:
                written.append(path)
        return written


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Zero-shot SED and grounding of a pretrained model, from the command line.

    Reads a manifest whose rows carry ``events`` (label, onset, offset), e.g.
    the synthetic recipe's ``test.json``; writes ``sed.json`` (metrics and
    chance levels) and a few pictures into ``--output_folder``::

        python -m speechbrain_tclap.evaluation.sed --model <pretrained folder> \
            --manifest results/Synthetic/data/test.json --output_folder <folder>

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    dict
        The metrics.
    """
    import argparse
    import json

    import torch
    import yaml

    from speechbrain_tclap.data.datasets import ClipSampleBuilder, EventCaptioner
    from speechbrain_tclap.inference import load_interface

    parser = argparse.ArgumentParser(description="Zero-shot SED and grounding of a CLAP model.")
    parser.add_argument("--model", required=True, help="pretrained folder or hyperparams YAML")
    parser.add_argument("--manifest", required=True, help="JSON manifest with events per row")
    parser.add_argument("--output_folder", required=True)
    parser.add_argument("--overrides", default=None, help="YAML/JSON mapping of hparam overrides")
    parser.add_argument("--savedir", default=None, help="default: <output_folder>/model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--template", default="{}")
    parser.add_argument("--median_window", type=int, default=3)
    parser.add_argument("--num_thresholds", type=int, default=50)
    parser.add_argument("--num_plots", type=int, default=4)
    parser.add_argument("--no_psds", action="store_true", help="skip PSDS (slow on large sets)")
    parser.add_argument("--score_normalization", default="none", choices=SCORE_NORMALIZATIONS,
                        help="prompt_mean: subtract each frame's mean score over the prompts")
    args = parser.parse_args(argv)

    overrides = yaml.safe_load(args.overrides) if args.overrides else None
    interface = load_interface(
        args.model,
        args.savedir or os.path.join(args.output_folder, "model"),
        device=args.device,
        overrides=overrides,
    )
    model = interface.mods.clap.eval()
    clip_seconds = getattr(interface.hparams, "clip_seconds", None)
    builder = ClipSampleBuilder(
        sample_rate=interface.sample_rate,
        clip_seconds=clip_seconds,
        captioner=EventCaptioner(style="ordered"),
        eval_crop="left",
        pad="zero",
        resample=True,
    )
    evaluator = FrameEventEvaluator(
        {"test": args.manifest},
        builder,
        template=args.template,
        median_window=args.median_window,
        num_thresholds=args.num_thresholds,
        psds_stages=() if args.no_psds else ("TEST",),
        num_plots=args.num_plots,
        score_normalization=args.score_normalization,
    )
    with torch.no_grad():
        metrics = evaluator.evaluate_model(model, "TEST", clip_seconds, args.output_folder)
    chance = evaluator.chance_levels(metrics)
    os.makedirs(args.output_folder, exist_ok=True)
    with open(os.path.join(args.output_folder, "sed.json"), "w") as f:
        json.dump({"metrics": metrics, "chance": chance, "model": args.model,
                   "manifest": args.manifest,
                   "score_normalization": args.score_normalization}, f, indent=2, sort_keys=True)
    for key, value in sorted(metrics.items()):
        print(f"{key}: {value:.4f} (chance {chance.get(key, float('nan')):.4f})")
    return metrics


if __name__ == "__main__":
    main()
