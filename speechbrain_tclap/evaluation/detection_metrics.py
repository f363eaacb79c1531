"""Sound event detection metrics: frame F1, collar and intersection event F1, PSDS.

Events are dicts (``filename``, ``event_label`` or ``label``, ``onset``,
``offset`` in seconds) or, inside the sweep,
:class:`~speechbrain_tclap.events.EventTable` arrays. :func:`detection_metrics`
sweeps thresholds (quantiles of the filtered scores, :func:`sweep_levels`; a
frame is active when its score is at least the threshold), decodes each with
:mod:`speechbrain_tclap.events`, and reports frame and event F1 at the best
threshold (as MGA-CLAP: optimistic, say so when quoting) and PSDS (Bilen et
al., 2020, by ``psds_eval``, extra ``sed``) over the whole sweep. The rules
and settings are described in docs/mgaclap.md ("Fine-grained evaluation").

Authors
 * speechbrain-tclap developers 2026
"""

import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.events import (
    EventTable,
    decode_events,
    event_label,
    frame_bounds,
    gap_frames,
    median_filter_time,
    ordered_event_pairs,
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
        c = column.get(event_label(event))
        if c is not None:
            active[:, c] |= (times >= float(event["onset"])) & (times < float(event["offset"]))
    return active


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


def _collar_counts(
    det: EventTable, ref: EventTable, num_groups: int, collar: float, rate: float
):
    """``(tp, fp, fn)`` per group under the collar rule (one-to-one matching)."""
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
    fp = np.bincount(det.group, minlength=num_groups) - tp
    return tp, fp, np.bincount(ref.group, minlength=num_groups) - tp


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
            key = (str(e["filename"]), event_label(e))
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

    A detection matches a reference of the same file and class when its onset
    is within ``collar`` seconds and its offset within ``max(collar,
    offset_collar_rate * reference length)``; one-to-one (maximum matching).

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
    counts = _collar_counts(det, ref, group_class.shape[0], collar, offset_collar_rate)
    macro, micro = _class_f1(*counts, group_class, num_classes, ref)
    return {"f1_macro": macro, "f1_micro": micro}


def intersection_f1(
    detections: Sequence[Mapping],
    ground_truth: Sequence[Mapping],
    dtc: float = 0.5,
    gtc: float = 0.5,
) -> float:
    """Intersection-based macro F1, as ``psds_eval``'s ``compute_macro_f_score``.

    A detection passes when at least ``dtc`` of it overlaps references of its
    class; a reference is found (TP, else FN) when passing detections cover at
    least ``gtc`` of it; failing detections are FP. Averaged over classes with
    references; a class without TP counts as 0 (``psds_eval``: NaN, left out).
    Numpy only (no ``sed`` extra needed); tested against ``psds_eval``.

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

    The last step before ``max_x`` extends to it: the area PSDS integrates
    (Bilen et al.), used instead of ``psds_eval``'s, which fails under NumPy 2.

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
        # psds_eval 0.5.3's area calls int() on a 2-D array (NumPy 2 error)
        @staticmethod
        def _auc(x, y, max_x=None, decreasing_y=False):
            return staircase_area(x, y, np.max(x) if max_x is None else max_x)

        def _effective_fp_rate(self, alpha_ct=0.0):
            rates = super()._effective_fp_rate(alpha_ct)
            # One class (grounding) has no cross-triggers: psds_eval's mean over
            # them is NaN, and so was every eFPR; the eFPR is the FPR
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
            # duplicate operating points and pandas warnings: not actionable
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
             "offset": float(e["offset"]), "event_label": event_label(e)}
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


def score_centre(scores: np.ndarray, times: np.ndarray) -> float:
    """Centre of mass in time of one frame-score curve.

    The mass of a frame is its score above the curve's median (so a constant
    offset or a broad floor does not pull the centre to the middle); a flat
    curve has its centre in the middle of the clip.

    Arguments
    ---------
    scores : numpy.ndarray
        ``(T,)`` scores of one query.
    times : numpy.ndarray
        ``(T,)`` frame centres in seconds.

    Returns
    -------
    float
        Seconds.

    Example
    -------
    >>> round(score_centre(np.array([0.0, 0.0, 1.0, 3.0]), np.arange(4.0)), 3)
    2.833
    """
    mass = np.clip(scores - np.median(scores), 0.0, None)
    if mass.sum() <= 0:
        return float(times.mean())
    return float((mass * times).sum() / mass.sum())


def event_order_accuracy(clips: Sequence[ScoredClip]) -> Optional[float]:
    """How often the frame scores put two events in their true order.

    Every pair of reference events of two scored labels where ``A`` ends
    before ``B`` starts counts as right when ``A``'s :func:`score_centre`
    precedes ``B``'s, half when they coincide (T-Classify on frames; chance
    0.5).

    Arguments
    ---------
    clips : sequence of ScoredClip
        Scores with one column per label (``labels``) and the references.

    Returns
    -------
    float or None
        Fraction of ordered pairs placed right; ``None`` without such pairs.

    Example
    -------
    >>> t = np.arange(4.0) + 0.5
    >>> s = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> ref = [dict(label="a", onset=0, offset=2), dict(label="b", onset=2, offset=4)]
    >>> event_order_accuracy([ScoredClip("x", s, t, ["a", "b"], 4.0, ref)])
    1.0
    >>> event_order_accuracy([ScoredClip("x", s[::-1], t, ["a", "b"], 4.0, ref)])
    0.0
    """
    right = []
    for clip in clips:
        column = {label: i for i, label in enumerate(clip.labels)}
        centre = {}
        for first, second in ordered_event_pairs(
            [e for e in clip.events if event_label(e) in column]
        ):
            a, b = event_label(first), event_label(second)
            for label in (a, b):
                if label not in centre:
                    centre[label] = score_centre(clip.scores[:, column[label]], clip.times)
            right.append(0.5 if centre[a] == centre[b] else float(centre[a] < centre[b]))
    return float(np.mean(right)) if right else None


def sweep_levels(num_thresholds: int, tail_points: int = 12) -> np.ndarray:
    """Quantile levels of the threshold sweep: an even grid plus a tail to 1.

    The tail halves the mass above the even grid ``(i + 0.5) / n`` down to
    the highest score, so PSDS has operating points below ``max_efpr`` (the
    grid alone gave PSDS 0 for every model; docs/mgaclap.md).

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
        Points of the :func:`sweep_levels` grid (its tail comes on top).
    median_window : int
        Median filter length in frames.
    fill_gap_seconds : float
        Join events separated by at most this much.
    collar : float
        Collar of the event F1.
    offset_collar_rate : float
        Relative offset collar of the event F1.
    psds_settings : mapping, optional
        Name -> PSDS settings (:func:`psds_scores`); skipped when empty or
        when ``psds_eval`` is missing (with a warning).
    psds_thresholds : int, optional
        Operating points given to PSDS (evenly picked); default all.

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
            if event_label(event) in column:
                ref_group.append(n * num_labels + column[event_label(event)])
                ref_on.append(float(event["onset"]))
                ref_off.append(float(event["offset"]))
    ref = EventTable(np.array(ref_group, np.int64), np.array(ref_on), np.array(ref_off)).positive()
    num_groups = num_clips * num_labels
    group_class = np.tile(np.arange(num_labels), num_clips)
    thresholds = np.unique(np.quantile(filtered[valid], sweep_levels(num_thresholds)))
    gap = gap_frames(fill_gap_seconds, period)

    best = {"frame_f1": 0.0, "event_f1": 0.0, "intersection_f1": 0.0, "threshold": float(thresholds[0])}
    tables = []
    for threshold in thresholds:
        best["frame_f1"] = max(best["frame_f1"], frame_f1(filtered[valid] >= threshold, truth[valid]))
        det = decode_events(filtered, threshold, starts, ends, gap)
        tables.append(det)
        counts = _collar_counts(det, ref, num_groups, collar, offset_collar_rate)
        event = _class_f1(*counts, group_class, num_labels, ref)[0]
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
