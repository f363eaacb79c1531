"""Temporal views of clip pairs: pair manifests and "A then B" synthesis.

T-CLAP and TeminAL teach event order with two single-event clips A and B of
different classes: "A then B" is the positive of "dog followed by rain", the
swapped caption "rain followed by dog" a hard negative.
:func:`make_pair_rows` draws seeded pairs from ONE split's rows (each pair row
holds both source rows, so splits never mix); :class:`TemporalViewBuilder`
turns a pair row into a sample (audio views, captions, event times). Pair
manifests are read with
``make_clap_dataset(path, builder, train, required=PAIR_REQUIRED)``.

Authors
 * speechbrain-tclap developers 2026
"""

import os
import random
from typing import (
    Any,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import torch
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.audio import (
    CROP_MODES,
    AudioReadError,
    loudest_start,
    read_audio,
)
from speechbrain_tclap.data.batching import AudioView, CLAPSample, TextView, caption_key
from speechbrain_tclap.data.captions import TEMPLATE_SLOT, contrastive_style
from speechbrain_tclap.data.datasets import EpochSeededBuilder, row_labels
from speechbrain_tclap.data.labels import readable_label

logger = get_logger(__name__)

#: Joins the two source ids into a pair id: ``"<idA>__<idB>"``.
PAIR_SEPARATOR = "__"

#: Fields a pair manifest row must have (pass to ``make_clap_dataset``).
PAIR_REQUIRED = ("id", "a", "b")

#: Ordered caption templates; training draws one, evaluation uses the first.
DEFAULT_ORDERED_TEMPLATES = (
    "{A} followed by {B}",
    "{A}, then {B}",
    "{B} after {A}",
    "{A} before {B}",
    "{A} and then {B}",
)

#: Order-free templates (names sorted), for the plain-CLAP baseline.
DEFAULT_UNORDERED_TEMPLATES = (
    "{A} and {B}",
    "{A} as well as {B}",
    "both {A} and {B}",
)

#: Caption of the overlay view (names sorted: a mix has no order).
DEFAULT_OVERLAY_TEMPLATE = "{A} while {B}"

#: Level each segment is normalised to, in dBFS (RMS or peak).
DEFAULT_GAIN_DB = {"rms": -20.0, "peak": -3.0}

# Segments quieter than this (RMS or peak) are left as they are.
_SILENCE = 1e-6
# Samples above this magnitude count as activity for source rows without
# event times (ESC-50 pads short recordings with digital silence).
_ACTIVITY = 1e-4

RowsLike = Union[Mapping[str, Mapping[str, Any]], Sequence[Mapping[str, Any]]]


# ---------------------------------------------------------------------------
# Pair manifests
# ---------------------------------------------------------------------------
def pair_id(id_a: str, id_b: str) -> str:
    """The id of the ordered pair (A, B).

    Arguments
    ---------
    id_a : str
        Id of the first clip.
    id_b : str
        Id of the second clip.

    Returns
    -------
    str
        ``"<id_a>__<id_b>"``.

    Example
    -------
    >>> pair_id("1-100032-A-0", "2-30709-A-10")
    '1-100032-A-0__2-30709-A-10'
    """
    return f"{id_a}{PAIR_SEPARATOR}{id_b}"


def single_label(
    row: Mapping[str, Any], label_key: Optional[str] = None
) -> Optional[str]:
    """The one class label of a single-event row, or None.

    Arguments
    ---------
    row : mapping
        A manifest row.
    label_key : str, optional
        Field holding the label (a string or a one-element list). None looks
        at ``labels``, ``events``, ``label`` and ``category`` in that order.

    Returns
    -------
    str or None
        The label; None when the row has no label or more than one.

    Example
    -------
    >>> single_label({"labels": ["dog"], "category": "dog"})
    'dog'
    >>> single_label({"labels": ["dog", "rain"]}) is None
    True
    >>> single_label({"target": 3}, label_key="target")
    '3'
    """
    if label_key is None:
        labels = row_labels(dict(row))
    else:
        value = row.get(label_key)
        if value is None or value == "":
            labels = []
        elif isinstance(value, (list, tuple)):
            labels = [str(x) for x in value]
        else:
            labels = [str(value)]
    return labels[0] if len(labels) == 1 else None


def make_pair_rows(
    single_rows: RowsLike,
    num_pairs: int,
    seed: int = 0,
    label_key: Optional[str] = None,
    allow_same_class: bool = False,
    include_reversed: bool = False,
) -> List[Dict[str, Any]]:
    """Draws seeded (A, B) pairs of single-event clips of different classes.

    Pairs are distinct as unordered pairs, each with a drawn order; rows
    without exactly one label are left out. The result depends only on the
    rows (in order), ``num_pairs`` and ``seed``. Call it on ONE split's rows.
    A pair row is ``{"id": "<idA>__<idB>", "a": row A, "b": row B, "labels":
    [label A, label B]}`` (source rows copied whole). ``include_reversed``
    follows each with its reverse, marked ``"reverse_of": "<idA>__<idB>"``
    (:class:`~speechbrain_tclap.data.samplers.PairAwareBatchSampler` keeps the
    two out of one batch).

    Arguments
    ---------
    single_rows : mapping or sequence
        ``{id: row}`` (as ``load_manifest`` returns) or rows with an ``id``.
    num_pairs : int
        Number of drawn pairs (rows: twice as many with ``include_reversed``).
    seed : int
        Seed of the draw.
    label_key : str, optional
        Field holding the class label; None: see :func:`single_label`.
    allow_same_class : bool
        Also pair clips of the same class.
    include_reversed : bool
        Add (B, A) after every (A, B).

    Returns
    -------
    list of dict
        Pair rows in draw order.

    Raises
    ------
    ValueError
        When fewer than ``num_pairs`` distinct valid pairs exist.

    Example
    -------
    >>> rows = {f"c{i}": {"wav": f"c{i}.wav", "labels": [lab]}
    ...         for i, lab in enumerate(["dog", "dog", "rain", "bell"])}
    >>> pairs = make_pair_rows(rows, num_pairs=3, seed=1)
    >>> [p["id"] for p in pairs] == [p["id"] for p in make_pair_rows(rows, 3, seed=1)]
    True
    >>> all(p["labels"][0] != p["labels"][1] for p in pairs)
    True
    >>> sorted(pairs[0])
    ['a', 'b', 'id', 'labels']
    """
    if num_pairs < 0:
        raise ValueError(f"num_pairs must be >= 0, got {num_pairs}")
    rows = _as_row_list(single_rows)
    usable: List[Tuple[Dict[str, Any], str]] = []
    for row in rows:
        label = single_label(row, label_key)
        if label is not None:
            usable.append((row, label))
    skipped = len(rows) - len(usable)
    if skipped:
        logger.info(
            "make_pair_rows: %d of %d rows have no single label and are not paired",
            skipped,
            len(rows),
        )
    n = len(usable)
    class_sizes: Dict[str, int] = {}
    for _, label in usable:
        class_sizes[label] = class_sizes.get(label, 0) + 1
    possible = n * (n - 1) // 2
    if not allow_same_class:
        possible -= sum(c * (c - 1) // 2 for c in class_sizes.values())
    if num_pairs > possible:
        raise ValueError(
            f"cannot draw {num_pairs} distinct pairs: only {possible} exist "
            f"({n} single-label clips in {len(class_sizes)} classes, "
            f"allow_same_class={allow_same_class})"
        )

    rng = random.Random(f"pairs-{seed}")
    labels = [label for _, label in usable]

    def valid(i: int, j: int) -> bool:
        return i != j and (allow_same_class or labels[i] != labels[j])

    drawn: List[Tuple[int, int]] = []
    if 2 * num_pairs > possible:
        # Dense request: enumerate every valid pair, then sample and orient.
        every = [(i, j) for i in range(n) for j in range(i + 1, n) if valid(i, j)]
        for i, j in rng.sample(every, num_pairs):
            drawn.append((i, j) if rng.random() < 0.5 else (j, i))
    else:
        # Sparse request: rejection sampling of ordered draws.
        seen = set()
        while len(drawn) < num_pairs:
            i, j = rng.randrange(n), rng.randrange(n)
            key = (min(i, j), max(i, j))
            if not valid(i, j) or key in seen:
                continue
            seen.add(key)
            drawn.append((i, j))

    out: List[Dict[str, Any]] = []
    for i, j in drawn:
        (row_a, label_a), (row_b, label_b) = usable[i], usable[j]
        forward = pair_id(row_a["id"], row_b["id"])
        out.append(
            {
                "id": forward,
                "a": dict(row_a),
                "b": dict(row_b),
                "labels": [label_a, label_b],
            }
        )
        if include_reversed:
            out.append(
                {
                    "id": pair_id(row_b["id"], row_a["id"]),
                    "a": dict(row_b),
                    "b": dict(row_a),
                    "labels": [label_b, label_a],
                    "reverse_of": forward,
                }
            )
    return out


def _as_row_list(rows: RowsLike) -> List[Dict[str, Any]]:
    """Rows as a list of dicts that each carry their ``id``."""
    if isinstance(rows, Mapping):
        return [{**dict(row), "id": str(key)} for key, row in rows.items()]
    out = []
    for index, row in enumerate(rows):
        if "id" not in row:
            raise ValueError(f"row {index} has no 'id'")
        out.append(dict(row))
    return out


# ---------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------
def check_template(template: str) -> str:
    """Checks that a pair template names ``{A}`` and ``{B}`` once each.

    Arguments
    ---------
    template : str
        e.g. ``"{A} followed by {B}"``.

    Returns
    -------
    str
        The template.

    Raises
    ------
    ValueError
        For any other set of slots.

    Example
    -------
    >>> check_template("{B} after {A}")
    '{B} after {A}'
    """
    slots = sorted(TEMPLATE_SLOT.findall(template))
    if slots != ["A", "B"]:
        raise ValueError(
            f"a pair template must contain {{A}} and {{B}} once each, got {template!r}"
        )
    return template


def fill_template(template: str, first: str, second: str) -> str:
    """Writes a pair caption: ``{A}`` becomes ``first``, ``{B}`` ``second``.

    Arguments
    ---------
    template : str
        A template with ``{A}`` and ``{B}``.
    first : str
        Name of the event heard first.
    second : str
        Name of the event heard second.

    Returns
    -------
    str
        The caption.

    Example
    -------
    >>> fill_template("{B} after {A}", "dog", "rain")
    'rain after dog'
    """
    names = {"A": first, "B": second}
    return TEMPLATE_SLOT.sub(lambda m: names.get(m.group(1), m.group(0)), template)


def label_pairs(labels: Sequence[str]) -> List[Tuple[str, str]]:
    """Every ordered pair of two different labels (for caption and prompt lists).

    Arguments
    ---------
    labels : sequence of str
        Class labels.

    Returns
    -------
    list of tuple
        ``(a, b)`` with ``a != b``, in ``labels`` order (``a`` outer).

    Example
    -------
    >>> label_pairs(["dog", "rain", "bell"])[:3]
    [('dog', 'rain'), ('dog', 'bell'), ('rain', 'dog')]
    """
    return [(a, b) for a in labels for b in labels if a != b]


# ---------------------------------------------------------------------------
# View synthesis
# ---------------------------------------------------------------------------
#: Audio views :meth:`TemporalViewBuilder.render` synthesises.
RENDER_VIEWS = ("main", "reversed", "overlay", "single_a", "single_b")


class PairRender(NamedTuple):
    """The synthesised audio of one pair row.

    Arguments
    ---------
    id : str
        Pair id.
    labels : tuple of str
        Labels of A and B.
    template : str
        Caption template drawn for this sample (the first at evaluation).
    sources : tuple of str
        Ids of the two source clips.
    views : dict
        View name -> ``(wav, valid_samples, events)``: ``wav`` padded to the
        clip, ``events`` with label, onset, offset (seconds) and source.

    Example
    -------
    >>> PairRender("a__b", ("dog", "rain"), "{A} before {B}", ("a", "b"), {}).labels
    ('dog', 'rain')
    """

    id: str
    labels: Tuple[str, str]
    template: str
    sources: Tuple[str, str]
    views: Dict[str, Tuple[torch.Tensor, int, List[Dict[str, Any]]]]


class _Segment(NamedTuple):
    """A source clip cut to one slot: zero-padded audio and where it sounds."""

    wav: torch.Tensor  # (segment_samples,)
    valid: int  # real samples at the start of ``wav``
    span: Tuple[int, int]  # event onset/offset in samples within the segment
    label: str
    source: str


class TemporalViewBuilder(EpochSeededBuilder):
    """Sample builder for pair rows: "A then B" audio with temporal captions.

    Each clip is cut to ``segment_seconds`` (shorter ones zero-padded, so B
    starts at ``segment + gap - crossfade``) and gain-normalised. Audio views:
    ``"main"`` (A then B, key: the positive caption), ``"reversed"``
    (``reversed_audio``: B then A, key: the swapped caption) and
    ``"overlay"`` (``overlay``: both summed from time 0, "dog while rain",
    names sorted). Text views: the positive (``"main"``), the swapped caption
    with the SAME template (``"swapped"``, ``negative=True``, when
    ``order_negative``) and the overlay caption. With ``reversed_audio`` the
    swapped caption is the reversed audio's positive, so it is emitted once as
    ``"reversed"`` with ``negative=False`` (losses that use positives only
    drop negative texts); it stays the main audio's order negative through
    ``meta["keys"]["swapped"]``. Same-class pairs emit no negative.

    ``caption_style="unordered"`` writes order-free captions ("dog and rain")
    and no order negative: the plain-CLAP baseline on the same audio (main and
    reversed audio then share one key).
    ``"unordered_with_ordered"`` (with ``order_negative``) gives the
    contrastive loss the order-free caption and sets the ordered caption (view
    ``"ordered"``) and its swapped twin aside for the temporal loss, both
    ``negative=True`` (see ``docs/temporal_grounding.md``).

    Views are zero-padded to the clip, ``valid_samples`` ending with the last
    segment; a view peaking above 1 is scaled down as a whole. ``meta`` holds
    ``sources``, ``events`` (label, onset/offset in seconds, source of A and B
    in the main audio: the source row's event times if it has one event,
    else the non-silent span), ``view_events`` (per view), ``keys`` and
    ``template``. For evaluation keep ``reversed_audio`` and ``overlay`` off
    and add reversed pairs as rows (``include_reversed``): evaluation counts
    every non-negative text of a sample as a caption of its main audio.

    Arguments
    ---------
    sample_rate : int
        Model sample rate.
    segment_seconds : float
        Length of each source segment.
    clip_seconds : float, optional
        Output length; default ``2 * segment + gap - crossfade``.
    gap_seconds : float
        Silence between A and B.
    crossfade_seconds : float
        Linear crossfade between A and B (exclusive with a gap).
    gain : str, optional
        ``"rms"`` or ``"peak"``: normalise each segment to ``gain_db`` dBFS;
        None keeps the recorded levels.
    segment_crop : str
        ``"loudest"`` (highest-energy window), ``"left"``, ``"center"`` or
        ``"random"`` (training only; evaluation uses ``eval_segment_crop``).
    templates : sequence of str, optional
        Templates with ``{A}`` (first) and ``{B}``; default
        :data:`DEFAULT_ORDERED_TEMPLATES` (or the unordered ones). Training
        draws one per sample and epoch, evaluation uses the first. In the
        ``"unordered_with_ordered"`` style, the templates of the set-aside
        ordered captions.
    order_negative : bool
        Add the swapped caption as a negative (and, in the
        ``"unordered_with_ordered"`` style, set the ordered caption aside).
    reversed_audio : bool
        Add the reversed audio view (B then A).
    overlay : bool
        Add the overlay audio view (A and B mixed).
    caption_style : str
        ``"ordered"``, ``"unordered"`` or ``"unordered_with_ordered"``.
    label_names : mapping, optional
        Label -> name used in captions; default
        :func:`~speechbrain_tclap.data.labels.readable_label`.
    seed : int
        Base seed of the training draws, which depend only on (seed, epoch,
        pair id).
    resample : bool
        Resample files at another rate (e.g. 44.1 kHz ESC-50 for a 48 kHz
        model); otherwise such files are skipped.
    gain_db : float, optional
        Target level in dBFS; default -20 (RMS) or -3 (peak).
    eval_segment_crop : str, optional
        Deterministic crop at evaluation; default ``segment_crop``
        (``"loudest"`` for ``"random"``).
    overlay_template : str
        Template of the overlay caption.
    order_aside_share : float
        Style ``"unordered_with_ordered"``: share of training draws whose order
        goes aside to ``L_t`` (the others are captioned as the ordered style
        does); evaluation always sets it aside.

    Example
    -------
    >>> import numpy, soundfile
    >>> tmp = getfixture("tmpdir")
    >>> for name, level in (("dog", 0.5), ("rain", 0.1)):
    ...     soundfile.write(str(tmp / f"{name}.wav"),
    ...                     numpy.full(1600, level, "float32"), 8000)
    >>> row = {"id": "d__r",
    ...        "a": {"id": "d", "wav": str(tmp / "dog.wav"), "labels": ["dog"]},
    ...        "b": {"id": "r", "wav": str(tmp / "rain.wav"), "labels": ["rain"]}}
    >>> build = TemporalViewBuilder(8000, segment_seconds=0.1, gap_seconds=0.05,
    ...                             reversed_audio=True)
    >>> s = build(row, train=False)
    >>> [(a.view, a.key, a.wav.shape[0]) for a in s.audio]
    [('main', 'dog followed by rain', 2000), ('reversed', 'rain followed by dog', 2000)]
    >>> [(t.view, t.text, t.negative) for t in s.texts]
    [('main', 'dog followed by rain', False), ('reversed', 'rain followed by dog', False)]
    >>> [(e["label"], e["onset"], e["offset"]) for e in s.meta["events"]]
    [('dog', 0.0, 0.1), ('rain', 0.15, 0.25)]
    >>> round(float(s.audio[0].wav[:800].pow(2).mean().sqrt()), 3)  # -20 dBFS RMS
    0.1
    """

    def __init__(
        self,
        sample_rate: int,
        segment_seconds: float,
        clip_seconds: Optional[float] = None,
        gap_seconds: float = 0.0,
        crossfade_seconds: float = 0.0,
        gain: Optional[str] = "rms",
        segment_crop: str = "loudest",
        templates: Optional[Sequence[str]] = None,
        order_negative: bool = True,
        reversed_audio: bool = False,
        overlay: bool = False,
        caption_style: str = "ordered",
        label_names: Optional[Mapping[str, str]] = None,
        seed: int = 0,
        resample: bool = False,
        gain_db: Optional[float] = None,
        eval_segment_crop: Optional[str] = None,
        overlay_template: str = DEFAULT_OVERLAY_TEMPLATE,
        order_aside_share: float = 1.0,
    ):
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.segment_samples = int(round(segment_seconds * sample_rate))
        if self.segment_samples <= 0:
            raise ValueError(
                f"segment_seconds={segment_seconds} gives no samples at {sample_rate} Hz"
            )
        if gap_seconds < 0 or crossfade_seconds < 0:
            raise ValueError("gap_seconds and crossfade_seconds must be >= 0")
        self.gap_samples = int(round(gap_seconds * sample_rate))
        self.crossfade_samples = int(round(crossfade_seconds * sample_rate))
        if self.gap_samples and self.crossfade_samples:
            raise ValueError("use either a gap or a crossfade, not both")
        if self.crossfade_samples > self.segment_samples:
            raise ValueError(
                f"crossfade_seconds={crossfade_seconds} exceeds segment_seconds={segment_seconds}"
            )
        self.sequence_samples = (
            2 * self.segment_samples + self.gap_samples - self.crossfade_samples
        )
        if clip_seconds is None:
            self.clip_samples = self.sequence_samples
        else:
            self.clip_samples = int(round(clip_seconds * sample_rate))
            if self.clip_samples < self.sequence_samples:
                raise ValueError(
                    f"clip_seconds={clip_seconds} is shorter than two segments "
                    f"plus gap ({self.sequence_samples / sample_rate:g} s)"
                )
        if gain not in (None, "rms", "peak"):
            raise ValueError(f"gain must be 'rms', 'peak' or None, got {gain!r}")
        self.gain = gain
        self.gain_db = (
            None
            if gain is None
            else float(DEFAULT_GAIN_DB[gain] if gain_db is None else gain_db)
        )
        if segment_crop not in CROP_MODES:
            raise ValueError(
                f"segment_crop must be one of {CROP_MODES}, got {segment_crop!r}"
            )
        self.segment_crop = segment_crop
        if eval_segment_crop is None:
            eval_segment_crop = "loudest" if segment_crop == "random" else segment_crop
        if eval_segment_crop not in CROP_MODES or eval_segment_crop == "random":
            raise ValueError(
                "eval_segment_crop must be 'left', 'center' or 'loudest', "
                f"got {eval_segment_crop!r}"
            )
        self.eval_segment_crop = eval_segment_crop
        self.caption_style = caption_style
        self.order_free = contrastive_style(caption_style) == "unordered"
        self.order_aside = caption_style == "unordered_with_ordered" and bool(
            order_negative
        )
        if not 0.0 <= order_aside_share <= 1.0:
            raise ValueError(
                f"order_aside_share must lie in [0, 1], got {order_aside_share!r}"
            )
        self.order_aside_share = float(order_aside_share)
        if self.order_aside and reversed_audio:
            raise ValueError(
                "caption_style 'unordered_with_ordered' sets the ordered caption "
                "aside for the main audio only; it cannot go with reversed_audio"
            )
        if isinstance(templates, str):
            templates = [templates]
        # The order-aside style reads ``templates`` as its ordered captions'.
        self.order_templates = (
            [check_template(t) for t in (templates or DEFAULT_ORDERED_TEMPLATES)]
            if self.order_aside
            else []
        )
        if templates is None or self.order_aside:
            templates = (
                DEFAULT_UNORDERED_TEMPLATES
                if self.order_free
                else DEFAULT_ORDERED_TEMPLATES
            )
        self.templates = [check_template(t) for t in templates]
        if not self.templates:
            raise ValueError("templates is empty")
        self.overlay_template = check_template(overlay_template)
        self.order_negative = bool(order_negative)
        self.reversed_audio = bool(reversed_audio)
        self.overlay = bool(overlay)
        self.label_names = dict(label_names or {})
        self.seed = seed
        self.resample = bool(resample)
        self.epoch = 0

    def name(self, label: str) -> str:
        """The caption name of a class label.

        Arguments
        ---------
        label : str
            Class label.

        Returns
        -------
        str
            ``label_names[label]`` or the readable label.

        Example
        -------
        >>> TemporalViewBuilder(16000, 1.0, label_names={"dog": "a dog"}).name("dog")
        'a dog'
        >>> TemporalViewBuilder(16000, 1.0).name("sea_waves")
        'sea waves'
        """
        return self.label_names.get(label, readable_label(label))

    def captions(self, label_a: str, label_b: str, template: str) -> Tuple[str, str]:
        """Positive and order-swapped captions of "A then B".

        Arguments
        ---------
        label_a : str
            Label of the first event.
        label_b : str
            Label of the second event.
        template : str
            Template (``{A}`` first, ``{B}`` second).

        Returns
        -------
        positive : str
            The caption of A then B.
        swapped : str
            The same template with A and B exchanged (equal to ``positive``
            in the unordered style).

        Example
        -------
        >>> b = TemporalViewBuilder(16000, 1.0)
        >>> b.captions("dog", "crackling_fire", "{B} after {A}")
        ('crackling fire after dog', 'dog after crackling fire')
        >>> TemporalViewBuilder(16000, 1.0, caption_style="unordered").captions(
        ...     "rain", "dog", "{A} and {B}")
        ('dog and rain', 'dog and rain')
        """
        first, second = self.name(label_a), self.name(label_b)
        if self.order_free:
            first, second = sorted((first, second))
            caption = fill_template(template, first, second)
            return caption, caption
        return self._both_orders(template, label_a, label_b)

    def _both_orders(
        self, template: str, label_a: str, label_b: str
    ) -> Tuple[str, str]:
        """``template`` with A then B, and with the two exchanged."""
        first, second = self.name(label_a), self.name(label_b)
        return fill_template(template, first, second), fill_template(
            template, second, first
        )

    def __call__(self, row: Dict[str, Any], train: bool) -> Optional[CLAPSample]:
        """Builds the sample of a pair row, or logs and returns None.

        Arguments
        ---------
        row : dict
            Pair row: ``id``, ``a`` and ``b`` (source rows with ``wav`` and a
            label), optionally ``labels`` (overrides the sources').
        train : bool
            Training mode (template draw, random crop).

        Returns
        -------
        CLAPSample or None
            The sample; None when a source clip cannot be read.
        """
        views = ["main"]
        if self.reversed_audio:
            views.append("reversed")
        if self.overlay:
            views.append("overlay")
        rendered = self.render(row, train, views)
        if rendered is None:
            return None
        label_a, label_b = rendered.labels
        template = rendered.template
        positive, swapped = self.captions(label_a, label_b, template)
        ordered_positive = self.caption_style == "ordered"
        aside = None  # (ordered, swapped) captions set aside for L_t
        if self.order_aside and label_a != label_b:
            order_template = self._order_template(rendered.id, train)
            aside = self._both_orders(order_template, label_a, label_b)
            if (
                train
                and self.sample_rng(f"{rendered.id}/share").random()
                >= self.order_aside_share
            ):
                # This draw keeps its order in L_c, as the ordered style does.
                template, (positive, swapped), aside = order_template, aside, None
                ordered_positive = True
        key, swapped_key = caption_key(positive), caption_key(swapped)
        distinct = swapped_key != key

        wav, valid, events = rendered.views["main"]
        audio = [AudioView(wav, key, "main", valid)]
        texts = [TextView(positive, key, "main")]
        keys = {"main": key}
        view_events = {"main": events}
        if ordered_positive and distinct:
            keys["swapped"] = swapped_key
        if self.reversed_audio:
            wav_r, valid_r, events_r = rendered.views["reversed"]
            audio.append(AudioView(wav_r, swapped_key, "reversed", valid_r))
            keys["reversed"] = swapped_key
            view_events["reversed"] = events_r
            if distinct:
                # Positive of the reversed audio: must stay a candidate text.
                texts.append(TextView(swapped, swapped_key, "reversed", negative=False))
        elif self.order_negative and "swapped" in keys:
            texts.append(TextView(swapped, swapped_key, "swapped", negative=True))
        elif aside:
            ordered = TextView(aside[0], view="ordered", negative=True)
            twin = TextView(aside[1], view="swapped", negative=True)
            texts += [ordered, twin]
            keys["ordered"], keys["swapped"] = ordered.key, twin.key
        if self.overlay:
            first, second = sorted((self.name(label_a), self.name(label_b)))
            overlay_caption = fill_template(self.overlay_template, first, second)
            overlay_key = caption_key(overlay_caption)
            wav_o, valid_o, events_o = rendered.views["overlay"]
            audio.append(AudioView(wav_o, overlay_key, "overlay", valid_o))
            keys["overlay"] = overlay_key
            view_events["overlay"] = events_o
            if overlay_key not in (key, swapped_key):
                texts.append(TextView(overlay_caption, overlay_key, "overlay"))

        meta = {
            "sources": list(rendered.sources),
            "events": events,
            "view_events": view_events,
            "keys": keys,
            "template": template,
        }
        return CLAPSample(rendered.id, audio, texts, [label_a, label_b], meta)

    def _order_template(self, sample_id, train) -> str:
        """The ordered template of a sample (drawn in training, else the first)."""
        index = self.sample_rng(f"{sample_id}/order").randrange(
            len(self.order_templates)
        )
        return self.order_templates[index if train else 0]

    def render(
        self, row: Dict[str, Any], train: bool, views: Sequence[str] = ("main",)
    ) -> Optional["PairRender"]:
        """Reads a pair row's clips and synthesises the named audio views.

        The package's one synthesis path (T-CLAP, TeminAL and ZSTE views);
        random crop and template are drawn in training only.

        Arguments
        ---------
        row : dict
            Pair row with ``id``, ``a`` and ``b``.
        train : bool
            Training mode (random crop, template draw).
        views : sequence of str
            Any of :data:`RENDER_VIEWS`: ``"main"`` (A then B), ``"reversed"``,
            ``"overlay"`` (summed from 0), ``"single_a"`` / ``"single_b"``
            (one segment alone); all zero-padded to the clip.

        Returns
        -------
        PairRender or None
            None when a source clip cannot be read (logged).

        Example
        -------
        >>> import numpy, soundfile
        >>> tmp = getfixture("tmpdir")
        >>> for name in ("dog", "rain"):
        ...     soundfile.write(str(tmp / f"{name}.wav"), numpy.full(800, 0.1, "float32"), 8000)
        >>> row = {"id": "d__r", "a": {"id": "d", "wav": str(tmp / "dog.wav"), "labels": ["dog"]},
        ...        "b": {"id": "r", "wav": str(tmp / "rain.wav"), "labels": ["rain"]}}
        >>> out = TemporalViewBuilder(8000, 0.1).render(row, False, ["main", "single_a"])
        >>> out.labels, {v: (w.shape[0], n) for v, (w, n, _) in out.views.items()}
        (('dog', 'rain'), {'main': (1600, 1600), 'single_a': (1600, 800)})
        """
        unknown = [v for v in views if v not in RENDER_VIEWS]
        if unknown:
            raise ValueError(
                f"unknown pair views {unknown}; choose from {RENDER_VIEWS}"
            )
        row_id = str(row.get("id"))
        source_a, source_b = row.get("a"), row.get("b")
        if not isinstance(source_a, Mapping) or not isinstance(source_b, Mapping):
            raise ValueError(
                f"pair row {row_id!r} needs source rows 'a' and 'b' (see make_pair_rows)"
            )
        for slot, source in (("a", source_a), ("b", source_b)):
            if not source.get("wav"):
                raise ValueError(f"pair row {row_id!r}: source {slot!r} has no 'wav'")
        label_a, label_b = self._labels(row, source_a, source_b)
        try:
            wav_a = read_audio(
                source_a["wav"], self.sample_rate, resample=self.resample
            )
            wav_b = read_audio(
                source_b["wav"], self.sample_rate, resample=self.resample
            )
        except AudioReadError as err:
            logger.warning("skipping pair %s: %s", row_id, err)
            return None

        rng = self.sample_rng(row_id)
        generator = torch.Generator().manual_seed(rng.randrange(2**62))
        template_index = rng.randrange(len(self.templates))
        template = self.templates[template_index if train else 0]
        crop = self.segment_crop if train else self.eval_segment_crop
        seg_a = self._segment(wav_a, source_a, label_a, crop, generator)
        seg_b = self._segment(wav_b, source_b, label_b, crop, generator)
        makers = {
            "main": lambda: self._sequence(seg_a, seg_b),
            "reversed": lambda: self._sequence(seg_b, seg_a),
            "overlay": lambda: self._overlay(seg_a, seg_b),
            "single_a": lambda: self._single(seg_a),
            "single_b": lambda: self._single(seg_b),
        }
        return PairRender(
            row_id,
            (label_a, label_b),
            template,
            (seg_a.source, seg_b.source),
            {view: makers[view]() for view in views},
        )

    def all_captions(self, labels: Sequence[str]) -> List[str]:
        """Every caption this builder can write for pairs of ``labels``.

        Both orders, every template, set-aside and overlay captions when on;
        no audio is read (for tokenizer training).

        Arguments
        ---------
        labels : sequence of str
            Class labels.

        Returns
        -------
        list of str
            Captions (with repeats in the unordered style).

        Example
        -------
        >>> TemporalViewBuilder(16000, 1.0, templates=["{A} before {B}"]).all_captions(["dog", "rain"])
        ['dog before rain', 'rain before dog', 'rain before dog', 'dog before rain']
        """
        pairs = label_pairs(labels)
        out = [
            c for t in self.templates for a, b in pairs for c in self.captions(a, b, t)
        ]
        if self.order_aside:
            out += [
                fill_template(t, self.name(a), self.name(b))
                for t in self.order_templates
                for a, b in pairs
            ]
        if self.overlay:
            names = sorted({self.name(label) for label in labels})
            out += [
                fill_template(self.overlay_template, a, b)
                for i, a in enumerate(names)
                for b in names[i + 1 :]
            ]
        return out

    # -- helpers ------------------------------------------------------------
    @staticmethod
    def _labels(
        row: Mapping[str, Any], source_a: Mapping[str, Any], source_b: Mapping[str, Any]
    ) -> Tuple[str, str]:
        """The two class labels, from ``row["labels"]`` or the source rows."""
        labels = row.get("labels")
        if isinstance(labels, (list, tuple)) and len(labels) == 2:
            return str(labels[0]), str(labels[1])
        label_a, label_b = single_label(source_a), single_label(source_b)
        if label_a is None or label_b is None:
            raise ValueError(
                f"pair row {row.get('id')!r}: each source row needs exactly one "
                "label ('labels', 'events', 'label' or 'category')"
            )
        return label_a, label_b

    def _segment(
        self,
        wav: torch.Tensor,
        source: Mapping[str, Any],
        label: str,
        crop: str,
        generator: torch.Generator,
    ) -> _Segment:
        """Cuts, pads and gain-normalises one source clip."""
        n = self.segment_samples
        length = int(wav.shape[-1])
        start = 0
        if length > n:
            excess = length - n
            if crop == "center":
                start = excess // 2
            elif crop == "random":
                start = int(torch.randint(0, excess + 1, (1,), generator=generator))
            elif crop == "loudest":
                start = loudest_start(wav, n)
        valid = min(length, n)
        cut = wav[start : start + valid]
        cut = self._normalise(cut)
        padded = torch.zeros(n)
        padded[:valid] = cut
        span = self._event_span(source, cut, start, valid)
        source_id = str(source.get("id", os.path.basename(str(source.get("wav", "")))))
        return _Segment(padded, valid, span, label, source_id)

    def _normalise(self, cut: torch.Tensor) -> torch.Tensor:
        """Scales a segment to the target RMS or peak level."""
        if self.gain is None:
            return cut
        if self.gain == "rms":
            level = float(cut.double().pow(2).mean().sqrt())
        else:
            level = float(cut.abs().max())
        if level < _SILENCE:
            return cut
        target = 10.0 ** (self.gain_db / 20.0)
        return cut * (target / level)

    def _event_span(
        self, source: Mapping[str, Any], cut: torch.Tensor, start: int, valid: int
    ) -> Tuple[int, int]:
        """Where the source's event sounds within its segment, in samples."""
        events = source.get("events")
        if isinstance(events, list) and len(events) == 1:
            event = events[0]
            if isinstance(event, Mapping) and "onset" in event and "offset" in event:
                onset = int(round(float(event["onset"]) * self.sample_rate)) - start
                offset = int(round(float(event["offset"]) * self.sample_rate)) - start
                onset = min(max(onset, 0), valid)
                offset = min(max(offset, onset), valid)
                return onset, offset
        active = (cut.abs() > _ACTIVITY).nonzero()
        if active.numel() == 0:
            return 0, 0
        return int(active[0]), int(active[-1]) + 1

    def _fades(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Linear fade-out and fade-in envelopes over the crossfade."""
        c = self.crossfade_samples
        fade_in = torch.arange(1, c + 1, dtype=torch.float32) / (c + 1)
        return 1.0 - fade_in, fade_in

    def _sequence(
        self, first: _Segment, second: _Segment
    ) -> Tuple[torch.Tensor, int, List[Dict[str, Any]]]:
        """``first`` then ``second`` (gap or crossfade), padded to the clip."""
        n, c = self.segment_samples, self.crossfade_samples
        out = torch.zeros(self.clip_samples)
        head, tail = first.wav.clone(), second.wav.clone()
        if c:
            fade_out, fade_in = self._fades()
            head[n - c :] *= fade_out
            tail[:c] *= fade_in
        second_start = n + self.gap_samples - c
        out[:n] += head
        out[second_start : second_start + n] += tail
        valid = second_start + second.valid
        events = [self._event(first, 0), self._event(second, second_start)]
        return self._limit(out), valid, events

    def _single(
        self, segment: _Segment
    ) -> Tuple[torch.Tensor, int, List[Dict[str, Any]]]:
        """One segment alone from time 0, padded to the clip."""
        out = torch.zeros(self.clip_samples)
        out[: self.segment_samples] = segment.wav
        return out, segment.valid, [self._event(segment, 0)]

    def _overlay(
        self, first: _Segment, second: _Segment
    ) -> Tuple[torch.Tensor, int, List[Dict[str, Any]]]:
        """Both segments summed from time 0, padded to the clip."""
        out = torch.zeros(self.clip_samples)
        out[: self.segment_samples] = first.wav + second.wav
        valid = max(first.valid, second.valid)
        events = [self._event(first, 0), self._event(second, 0)]
        return self._limit(out), valid, events

    def _event(self, segment: _Segment, offset: int) -> Dict[str, Any]:
        """An event record (seconds) for a segment placed at ``offset``."""
        onset, end = segment.span
        return {
            "label": segment.label,
            "onset": (offset + onset) / self.sample_rate,
            "offset": (offset + end) / self.sample_rate,
            "source": segment.source,
        }

    @staticmethod
    def _limit(wav: torch.Tensor) -> torch.Tensor:
        """Scales the whole view down if it peaks above 1."""
        peak = float(wav.abs().max())
        return wav / peak if peak > 1.0 else wav
