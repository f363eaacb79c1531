"""TeminAL's training samples: stage A (one sound or two) and stage B (order).

TeminAL (Sinha et al. 2024) post-trains CLAP on pairs (A, B) of single-event
clips of different classes: stage A tells one sound from two (A alone vs A
then B, each the other's hard negative in one batch); stage B instils order
with the triplet "A before B", "B before A" and "A while B", trained with
:class:`~speechbrain_tclap.losses.TemporalNCELoss`. :class:`TeminALViewBuilder`
only names the views and writes the captions; the audio comes from
:meth:`~speechbrain_tclap.data.temporal.TemporalViewBuilder.render`, pair rows
from :func:`~speechbrain_tclap.data.temporal.make_pair_rows` (see
``docs/teminal.md``).

==========  ==========================  ==================================
stage       audio views                 captions
==========  ==========================  ==================================
A           ``single``: A; ``main``:    "Single sound of A";
            A then B                    "Combined sound of A and B"
B           ``main``, ``reversed``,     "A before B", "B before A",
            ``overlay`` (A + B)         "A while B" (names sorted)
AB (joint)  ``single``, ``combined``,   stage A's two, then stage B's three
            then stage B's three
==========  ==========================  ==================================

Every stage has a ``main`` audio: the one the Brain evaluates.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import Any, Dict, List, Optional, Sequence

from speechbrain_tclap.data.batching import AudioView, CLAPSample, TextView
from speechbrain_tclap.data.captions import TEMPLATE_SLOT
from speechbrain_tclap.data.temporal import (
    TemporalViewBuilder,
    check_template,
    fill_template,
    label_pairs,
)

#: The authors' captions (``TeminAL_A/clap_dds_2.py``, ``T-CLAP/model/main.py``).
SINGLE_TEMPLATE = "Single sound of {A}"
COMBINED_TEMPLATE = "Combined sound of {A} and {B}"
BEFORE_TEMPLATE = "{A} before {B}"
WHILE_TEMPLATE = "{A} while {B}"

#: Stages and the loss views of each (``TemporalNCELoss(views=...)``).
STAGE_VIEWS = {
    "A": ("single", "main"),
    "B": ("main", "reversed", "overlay"),
    "AB": ("single", "combined", "main", "reversed", "overlay"),
}


def _check_single_template(template: str) -> str:
    """A single-sound template names ``{A}`` once and nothing else."""
    if sorted(TEMPLATE_SLOT.findall(template)) != ["A"]:
        raise ValueError(
            f"a single-sound template must contain {{A}} once, got {template!r}"
        )
    return template


class TeminALViewBuilder:
    """Sample builder of TeminAL stage A, stage B, or both (joint ablation).

    Arguments
    ---------
    pair_builder : TemporalViewBuilder
        Synthesises the audio (segment length, crop, gain, clip length,
        label names, seed); its own caption settings are not used.
    stage : str
        ``"A"``, ``"B"`` or ``"AB"`` (joint).
    single_template : str
        Caption of clip A alone (``{A}``).
    combined_template : str
        Caption of "A then B" in stage A.
    before_template : str
        Ordered caption of stage B (``{A}`` first); the reversed audio's
        caption is the same template with the events exchanged.
    while_template : str
        Caption of the overlay (names sorted: a mix has no order).

    Example
    -------
    >>> import numpy, soundfile
    >>> tmp = getfixture("tmpdir")
    >>> for name in ("dog", "rain"):
    ...     soundfile.write(str(tmp / f"{name}.wav"), numpy.full(800, 0.1, "float32"), 8000)
    >>> row = {"id": "d__r", "a": {"id": "d", "wav": str(tmp / "dog.wav"), "labels": ["dog"]},
    ...        "b": {"id": "r", "wav": str(tmp / "rain.wav"), "labels": ["rain"]}}
    >>> pairs = TemporalViewBuilder(8000, segment_seconds=0.1)
    >>> a = TeminALViewBuilder(pairs, stage="A")(row, train=False)
    >>> [(v.view, v.key, v.wav.shape[0], v.valid_samples) for v in a.audio]
    [('single', 'single sound of dog', 1600, 800), ('main', 'combined sound of dog and rain', 1600, 1600)]
    >>> b = TeminALViewBuilder(pairs, stage="B")(row, train=False)
    >>> [(t.view, t.text) for t in b.texts]
    [('main', 'dog before rain'), ('reversed', 'rain before dog'), ('overlay', 'dog while rain')]
    """

    def __init__(
        self,
        pair_builder: TemporalViewBuilder,
        stage: str = "B",
        single_template: str = SINGLE_TEMPLATE,
        combined_template: str = COMBINED_TEMPLATE,
        before_template: str = BEFORE_TEMPLATE,
        while_template: str = WHILE_TEMPLATE,
    ):
        if stage not in STAGE_VIEWS:
            raise ValueError(
                f"TeminAL stage must be one of {sorted(STAGE_VIEWS)}, got {stage!r}"
            )
        if not hasattr(pair_builder, "render"):
            raise TypeError(
                "pair_builder must be a TemporalViewBuilder (it synthesises the audio), "
                f"got {type(pair_builder).__name__}"
            )
        self.pair_builder = pair_builder
        self.stage = stage
        self.single_template = _check_single_template(single_template)
        self.combined_template = check_template(combined_template)
        self.before_template = check_template(before_template)
        self.while_template = check_template(while_template)

    @property
    def views(self) -> Sequence[str]:
        """The audio views of this stage, in loss order."""
        return STAGE_VIEWS[self.stage]

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of an epoch (forwarded to the pair builder).

        Arguments
        ---------
        epoch : int
            Current epoch.
        """
        self.pair_builder.set_epoch(epoch)

    def captions(self, label_a: str, label_b: str) -> Dict[str, str]:
        """Every TeminAL caption of the pair (A, B), by view.

        Arguments
        ---------
        label_a : str
            Label of A (heard first in "main").
        label_b : str
            Label of B.

        Returns
        -------
        dict
            ``single``, ``combined``, ``main``, ``reversed``, ``overlay``.

        Example
        -------
        >>> b = TeminALViewBuilder(TemporalViewBuilder(16000, 1.0))
        >>> b.captions("sea_waves", "dog")["overlay"]
        'dog while sea waves'
        """
        first, second = self.pair_builder.name(label_a), self.pair_builder.name(label_b)
        return {
            "single": TEMPLATE_SLOT.sub(lambda _: first, self.single_template),
            "combined": fill_template(self.combined_template, first, second),
            "main": fill_template(self.before_template, first, second),
            "reversed": fill_template(self.before_template, second, first),
            "overlay": fill_template(self.while_template, *sorted((first, second))),
        }

    def all_captions(self, labels: Sequence[str]) -> List[str]:
        """Captions of every stage for all pairs of ``labels`` (no audio read).

        Lists both stages whatever ``stage`` is: stage B starts from stage A's
        export, so stage A's tokenizer must already hold stage B's words.

        Arguments
        ---------
        labels : sequence of str
            Class labels.

        Returns
        -------
        list of str
            Distinct captions, sorted.

        Example
        -------
        >>> b = TeminALViewBuilder(TemporalViewBuilder(16000, 1.0), stage="A")
        >>> len(b.all_captions(["dog", "rain", "bell"]))  # 3 + 6 + 6 + 3
        18
        """
        return sorted(
            {c for a, b in label_pairs(labels) for c in self.captions(a, b).values()}
        )

    def __call__(self, row: Dict[str, Any], train: bool) -> Optional[CLAPSample]:
        """Builds the sample of a pair row, or returns None (unreadable audio).

        Arguments
        ---------
        row : dict
            Pair row (:func:`~speechbrain_tclap.data.temporal.make_pair_rows`).
        train : bool
            Training mode (random crop if the pair builder draws one).

        Returns
        -------
        CLAPSample or None
            The sample with this stage's audio and text views.
        """
        wanted = {"single": "single_a", "combined": "main"}
        rendered = self.pair_builder.render(
            row, train, sorted({wanted.get(v, v) for v in self.views})
        )
        if rendered is None:
            return None
        captions = self.captions(*rendered.labels)
        if self.stage == "A":
            # The combined audio is this stage's "main" (what the Brain evaluates).
            captions["main"] = captions["combined"]
        audio, texts, keys, view_events = [], [], {}, {}
        for view in self.views:
            wav, valid, events = rendered.views[wanted.get(view, view)]
            text = TextView(captions[view], view=view)
            audio.append(AudioView(wav, text.key, view, valid))
            texts.append(text)
            keys[view] = text.key
            view_events[view] = events
        meta = {
            "sources": list(rendered.sources),
            "events": rendered.views["main"][2],
            "view_events": view_events,
            "keys": keys,
            "stage": self.stage,
        }
        return CLAPSample(rendered.id, audio, texts, list(rendered.labels), meta)
