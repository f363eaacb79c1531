"""Frame scores to sound events: normalisation, median filter, decoding.

Turns a clip's ``(T, C)`` frame-by-text scores (cosines) into events
``{"filename", "event_label", "onset", "offset"}``: optional per-frame
normalisation, median filter over time, threshold, runs of active frames as
events (gaps of at most ``fill_gap_seconds`` joined). The one decoding of the
package: :meth:`speechbrain_tclap.inference.CLAP.detect_events` and the SED /
grounding metrics (:mod:`speechbrain_tclap.evaluation.detection_metrics`).

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

Event = Dict[str, object]  # {"filename", "event_label", "onset", "offset"}

#: Per-frame score normalisations (:func:`normalize_frame_scores`).
SCORE_NORMALIZATIONS = ("none", "prompt_mean")
#: What the scores of each normalisation are (picture colour bars).
SCORE_LABELS = {"none": "cosine similarity", "prompt_mean": "cosine minus its mean over the prompts"}


def event_label(event) -> str:
    """The class of an event dict: its ``event_label``, else its ``label``.

    Arguments
    ---------
    event : mapping
        A detection (``event_label``) or a manifest reference (``label``).

    Returns
    -------
    str
        The label.

    Example
    -------
    >>> event_label({"label": "dog", "onset": 0.0, "offset": 1.0})
    'dog'
    """
    return str(event.get("event_label", event.get("label")))


def ordered_event_pairs(events: Sequence[Event]) -> List[Tuple[Event, Event]]:
    """Every two events of different labels, the first ending before the second starts.

    The one definition of "A followed by B" (frame order loss, ``grounding_order_acc``).

    Arguments
    ---------
    events : sequence of dict
        Events with a label (:func:`event_label`), ``onset`` and ``offset``.

    Returns
    -------
    list of (dict, dict)
        ``(first, second)`` pairs, in onset order.

    Example
    -------
    >>> events = [dict(label="rain", onset=1.0, offset=2.0),
    ...           dict(label="dog", onset=0.0, offset=1.0),
    ...           dict(label="dog", onset=1.5, offset=2.5)]
    >>> [(event_label(a), event_label(b)) for a, b in ordered_event_pairs(events)]
    [('dog', 'rain')]
    """
    events = sorted(events, key=lambda e: float(e["onset"]))
    return [
        (first, second)
        for i, first in enumerate(events)
        for second in events[i + 1:]
        if event_label(first) != event_label(second)
        and float(first["offset"]) <= float(second["onset"])
    ]


def normalize_frame_scores(scores, kind: str = "none"):
    """Per-frame normalisation of frame-by-prompt scores ``(..., T, N)``.

    ``"none"``: unchanged (MGA-CLAP's raw cosines); ``"prompt_mean"``: minus each
    frame's mean over the ``N`` prompts, removing what all prompts share (small
    models give a silent frame a high cosine with every caption).

    Arguments
    ---------
    scores : numpy.ndarray or torch.Tensor
        Scores with the prompts on the last axis.
    kind : str
        One of :data:`SCORE_NORMALIZATIONS`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Same type and shape.

    Example
    -------
    >>> normalize_frame_scores(np.array([[0.9, 0.7], [0.1, 0.3]]), "prompt_mean").round(2).tolist()
    [[0.1, -0.1], [-0.1, 0.1]]
    """
    if kind not in SCORE_NORMALIZATIONS:
        raise ValueError(f"score normalization must be one of {SCORE_NORMALIZATIONS}, got {kind!r}")
    if kind == "prompt_mean":
        return scores - scores.mean(-1, keepdims=True)
    return scores


class EventTable(NamedTuple):
    """Events as arrays; ``group`` numbers a (file, class) pair.

    Arguments
    ---------
    group : numpy.ndarray
        Int64 ``(E,)``.
    onset : numpy.ndarray
        ``(E,)`` seconds.
    offset : numpy.ndarray
        ``(E,)`` seconds.

    Example
    -------
    >>> EventTable(np.zeros(1, np.int64), np.zeros(1), np.ones(1)).offset
    array([1.])
    """

    group: np.ndarray
    onset: np.ndarray
    offset: np.ndarray

    def positive(self) -> "EventTable":
        """The events of positive length."""
        keep = self.offset > self.onset
        return EventTable(self.group[keep], self.onset[keep], self.offset[keep])


def median_filter_time(scores: np.ndarray, window: int) -> np.ndarray:
    """Median filter along time (axis 0) of ``(T, C)`` scores.

    ``scipy.ndimage.median_filter``, ``"reflect"`` edges, as MGA-CLAP's SED script.

    Arguments
    ---------
    scores : numpy.ndarray
        ``(T, C)``.
    window : int
        Odd number of frames (1: no filter).

    Returns
    -------
    numpy.ndarray
        ``(T, C)``.

    Example
    -------
    >>> median_filter_time(np.array([[0.0], [1.0], [0.0], [0.0]]), 3)[:, 0].tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"median_window must be a positive odd number, got {window}")
    scores = np.asarray(scores, dtype=np.float64)
    if window == 1 or scores.shape[0] == 0:
        return scores
    from scipy.ndimage import median_filter

    return median_filter(scores, size=(window, 1))


def frame_bounds(times: np.ndarray, period: float, duration: float) -> Tuple[np.ndarray, np.ndarray]:
    """Start and end (seconds) of frames given their centres.

    Arguments
    ---------
    times : numpy.ndarray
        ``(T,)`` frame centres.
    period : float
        Seconds between frames.
    duration : float
        Clip length: bounds are clipped to ``[0, duration]``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(starts, ends)``.

    Example
    -------
    >>> frame_bounds(np.array([0.15, 0.47]), 0.32, 0.6)
    (array([0.  , 0.31]), array([0.31, 0.6 ]))
    """
    times = np.asarray(times, dtype=np.float64)
    starts = np.clip(times - period / 2, 0.0, duration)
    ends = np.clip(times + period / 2, 0.0, duration)
    return starts, ends


def decode_events(
    scores: np.ndarray,
    threshold: float,
    starts: np.ndarray,
    ends: np.ndarray,
    fill_gap_frames: int = 0,
) -> EventTable:
    """Runs of ``scores >= threshold`` of ``(N, T, C)`` scores as events.

    Events are numbered by group ``n * C + c``; empty ones are dropped.

    Arguments
    ---------
    scores : numpy.ndarray
        ``(N, T, C)`` scores of ``N`` clips (padded frames below any threshold).
    threshold : float
        A frame is active when its score is at least this.
    starts : numpy.ndarray
        ``(N, T)`` frame starts in seconds.
    ends : numpy.ndarray
        ``(N, T)`` frame ends in seconds.
    fill_gap_frames : int
        Join runs of one group separated by at most this many frames.

    Returns
    -------
    EventTable
        The events of positive length, ordered by group and onset.

    Example
    -------
    >>> s = np.array([[[0.9], [0.1], [0.8]]])
    >>> bounds = np.array([[0.0, 1.0, 2.0]]), np.array([[1.0, 2.0, 3.0]])
    >>> decode_events(s, 0.5, *bounds).onset.tolist()
    [0.0, 2.0]
    >>> decode_events(s, 0.5, *bounds, fill_gap_frames=1).offset.tolist()
    [3.0]
    """
    num_clips, _, num_classes = scores.shape
    active = np.moveaxis(scores >= threshold, 2, 1)  # (N, C, T): runs in order
    edges = np.diff(np.pad(active, ((0, 0), (0, 0), (1, 1))).astype(np.int8), axis=2)
    clip, cls, first = np.nonzero(edges == 1)
    last = np.nonzero(edges == -1)[2] - 1
    group = clip * num_classes + cls
    if fill_gap_frames > 0 and group.size > 1:
        join = (group[1:] == group[:-1]) & (first[1:] - last[:-1] - 1 <= fill_gap_frames)
        keep_first, keep_last = np.r_[True, ~join], np.r_[~join, True]
        clip, group, first, last = clip[keep_first], group[keep_first], first[keep_first], last[keep_last]
    return EventTable(group, starts[clip, first], ends[clip, last]).positive()


def scores_to_events(
    scores: np.ndarray,
    times: np.ndarray,
    labels: Sequence[str],
    threshold: float,
    period: float,
    duration: float,
    median_window: int = 3,
    fill_gap_seconds: float = 0.0,
    filename: str = "clip",
) -> List[Event]:
    """Events ``score >= threshold`` of one clip's ``(T, C)`` frame scores.

    Median-filtered scores are thresholded; a run of active frames is an event
    from its first frame's start to its last's end (frames span one period
    around their centres, clipped to the clip).

    Arguments
    ---------
    scores : numpy.ndarray
        ``(T, C)`` scores of the clip's real frames.
    times : numpy.ndarray
        ``(T,)`` frame centres in seconds.
    labels : sequence of str
        Label of each column.
    threshold : float
        Decision threshold.
    period : float
        Seconds between frames.
    duration : float
        Clip length in seconds.
    median_window : int
        Median filter length in frames (odd).
    fill_gap_seconds : float
        Join events separated by at most this much silence.
    filename : str
        Clip name stored in each event.

    Returns
    -------
    list of dict
        ``{"filename", "event_label", "onset", "offset"}``.

    Example
    -------
    >>> s = np.array([[0.1, 0.9], [0.8, 0.9], [0.9, 0.1], [0.2, 0.1]])
    >>> times = np.array([0.25, 0.75, 1.25, 1.75])
    >>> for e in scores_to_events(s, times, ["dog", "bell"], 0.5, 0.5, 2.0, median_window=1):
    ...     print(e["event_label"], e["onset"], e["offset"])
    dog 0.5 1.5
    bell 0.0 1.0
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(labels):
        raise ValueError(
            f"scores must be (T, {len(labels)}) for {len(labels)} labels, got {scores.shape}"
        )
    starts, ends = frame_bounds(times, period, duration)
    table = decode_events(
        median_filter_time(scores, median_window)[None], threshold, starts[None],
        ends[None], gap_frames(fill_gap_seconds, period),
    )
    return [
        {"filename": filename, "event_label": labels[int(g)], "onset": float(on), "offset": float(off)}
        for g, on, off in zip(table.group, table.onset, table.offset)
    ]


def gap_frames(fill_gap_seconds: float, period: float) -> int:
    """Frames of a gap of ``fill_gap_seconds`` (MGA-CLAP: ceil(0.5 / 0.3125)).

    Arguments
    ---------
    fill_gap_seconds : float
        Longest gap to join, in seconds (0 or less: none).
    period : float
        Seconds between frames.

    Returns
    -------
    int
        The gap in frames.

    Example
    -------
    >>> gap_frames(0.5, 0.3125)
    2
    """
    if fill_gap_seconds <= 0:
        return 0
    return int(math.ceil(fill_gap_seconds / period - 1e-9))
