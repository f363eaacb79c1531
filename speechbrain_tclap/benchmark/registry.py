"""The registry of zero-shot benchmark tasks (MS-CLAP 2023's protocol).

A :class:`BenchmarkTask` says where a dataset lives under the data root, how
to prepare it (:mod:`speechbrain_tclap.benchmark.datasets`), prompt it, score
it (MS-CLAP: softmax for single-label, sigmoid for multi-label, raw
similarities for retrieval) and which metric to report. :data:`TASKS` holds
the built-in tasks in the order of the paper's Table 2 (its figures are
``paper``); :func:`register_task` adds one.

Prompts follow CLAP 2022's rules ("This is a sound of [label]", "this person
is feeling [label]", the bare keyword, "[n] persons speaking"); where a label
is not a sound's name (NSynth, FSDD) the template is ours.

Authors
 * speechbrain-tclap developers 2026
"""

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from speechbrain_tclap.benchmark import datasets as ds
from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.data.captions import DEFAULT_PROMPT_TEMPLATE, class_prompts

#: Task kinds, their score activation (the paper's rule) and primary metrics.
KINDS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "single_label": ("softmax", ("acc",)),
    "multi_label": ("sigmoid", ("mAP",)),
    "retrieval": ("none", ("a2t_R@1", "a2t_mAP@10", "t2a_R@1", "t2a_mAP@10")),
}

#: Metrics a classification task may report.
CLASSIFICATION_METRICS = ("acc", "mAP", "F1")

#: Templates tried by ``--templates_sweep`` besides each task's own.
SWEEP_TEMPLATES = (
    DEFAULT_PROMPT_TEMPLATE,
    "this is the sound of {}",
    "a recording of {}",
    "{} can be heard",
    "{}",
)


@dataclass(frozen=True)
class BenchmarkTask:
    """One zero-shot task.

    Arguments
    ---------
    name : str
        Task name (``--tasks``).
    dataset : str
        Dataset name for the tables.
    folders : tuple of str
        Sub-folders of the data root that may hold it (first found wins).
    prepare : callable
        ``(data_folder, save_folder, **options) -> manifest path``.
    kind : str
        ``"single_label"``, ``"multi_label"`` or ``"retrieval"``.
    layout : str
        The expected on-disk layout, for the docs and error messages.
    metric : str
        ``"acc"``, ``"mAP"`` or ``"F1"`` (retrieval reports R@1, mAP@10 both ways).
    template : str
        Prompt template with ``{}`` for the label words.
    label_words : mapping
        Label -> prompt words (default: the label with ``_``/``-`` as spaces).
    options : mapping
        Default keyword arguments of ``prepare``.
    paper : mapping
        MS-CLAP 2023's figures (Table 2), by metric.
    threshold : float
        Sigmoid threshold of multi-label F1.

    Example
    -------
    >>> task = get_task("cremad")
    >>> task.activation, task.prompts(["sad"])
    ('softmax', ['this person is feeling sad'])
    """

    name: str
    dataset: str
    folders: Tuple[str, ...]
    prepare: Callable[..., str]
    kind: str
    layout: str
    metric: str = "acc"
    template: str = DEFAULT_PROMPT_TEMPLATE
    label_words: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, object] = field(default_factory=dict)
    paper: Mapping[str, float] = field(default_factory=dict)
    threshold: float = 0.5

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name!r}: kind must be one of {sorted(KINDS)}")
        if self.kind != "retrieval" and self.metric not in CLASSIFICATION_METRICS:
            raise ValueError(
                f"task {self.name!r}: metric must be one of {CLASSIFICATION_METRICS}"
            )

    @property
    def activation(self) -> str:
        """``softmax`` (single-label), ``sigmoid`` (multi-label) or ``none``."""
        return KINDS[self.kind][0]

    @property
    def metrics(self) -> Tuple[str, ...]:
        """Metrics reported (the task's one, or the four retrieval ones)."""
        return KINDS["retrieval"][1] if self.kind == "retrieval" else (self.metric,)

    def words(self, label: str) -> str:
        """The words that stand for ``label`` in a prompt.

        Arguments
        ---------
        label : str
            Class label.

        Returns
        -------
        str
            Prompt words.
        """
        return self.label_words.get(label, readable_label(label))

    def prompts(self, labels: Sequence[str], template: Optional[str] = None) -> List[str]:
        """One prompt per label.

        Arguments
        ---------
        labels : sequence of str
            Class labels.
        template : str, optional
            Default: the task's template.

        Returns
        -------
        list of str
            Prompts.
        """
        return class_prompts(labels, template or self.template, self.words)


TASKS: Dict[str, BenchmarkTask] = {}


def register_task(task: BenchmarkTask, replace: bool = False) -> BenchmarkTask:
    """Add a task to :data:`TASKS`.

    Arguments
    ---------
    task : BenchmarkTask
        The task.
    replace : bool
        Allow replacing a task of the same name.

    Returns
    -------
    BenchmarkTask
        The task.

    Example
    -------
    >>> toy = BenchmarkTask("toy", "Toy", ("toy",), ds.prepare_fsdd, "single_label", "toy/")
    >>> register_task(toy).name in TASKS
    True
    >>> _ = TASKS.pop("toy")
    """
    if task.name in TASKS and not replace:
        raise ValueError(f"a benchmark task called {task.name!r} exists already")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> BenchmarkTask:
    """The registered task called ``name``.

    Arguments
    ---------
    name : str
        Task name.

    Returns
    -------
    BenchmarkTask
        The task.
    """
    if name not in TASKS:
        raise KeyError(f"unknown benchmark task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


EMOTION = "this person is feeling {}"
_NSYNTH = ("nsynth-test", "nsynth", "NSynth")

for _task in (
    BenchmarkTask(
        "esc50", "ESC-50", ("ESC-50", "ESC-50-master", "esc50"), ds.prepare_esc50_task,
        "single_label", "meta/esc50.csv, audio/*.wav", paper={"acc": 0.939},
    ),
    BenchmarkTask(
        "esc10", "ESC-10", ("esc10", "ESC-10", "ESC-50", "ESC-50-master", "esc50"),
        partial(ds.prepare_esc50_task, esc10_only=True), "single_label",
        "ESC-50 layout (meta/esc50.csv with the esc10 column, audio/)",
    ),
    BenchmarkTask(
        "fsd50k", "FSD50K", ("FSD50K", "fsd50k"), ds.prepare_fsd50k, "multi_label",
        "FSD50K.ground_truth/eval.csv, FSD50K.eval_audio/*.wav", metric="mAP",
        paper={"mAP": 0.485},
    ),
    BenchmarkTask(
        "us8k", "UrbanSound8K", ("UrbanSound8K", "urbansound8k", "US8K"), ds.prepare_us8k,
        "single_label", "metadata/UrbanSound8K.csv, audio/fold<k>/*.wav", paper={"acc": 0.823},
    ),
    BenchmarkTask(
        "vocalsound", "VocalSound", ("VocalSound", "vocalsound", "vocalsound_16k", "vocalsound_44k"),
        ds.prepare_vocalsound, "single_label", "**/<speaker>_<n>_<label>.wav",
        label_words={"throatclearing": "throat clearing"}, paper={"acc": 0.80},
    ),
    BenchmarkTask(
        "tut2017", "TUT Acoustic Scenes 2017",
        ("TUT2017", "tut2017", *ds.TUT2017_FOLDERS), ds.prepare_tut2017, "single_label",
        "TUT-acoustic-scenes-2017-{evaluation,development}/meta.txt + audio/",
        label_words={"cafe/restaurant": "cafe or restaurant"}, paper={"acc": 0.538},
    ),
    BenchmarkTask(
        "gtzan_music_speech", "GTZAN music/speech",
        ("GTZAN_music_speech", "gtzan_music_speech", "music_speech"),
        ds.prepare_gtzan_music_speech, "single_label", "music_wav/*.wav, speech_wav/*.wav",
        paper={"acc": 0.992},
    ),
    BenchmarkTask(
        "gtzan_genres", "GTZAN genres", ("GTZAN", "gtzan", "gtzan_genres", "genres"),
        ds.prepare_gtzan_genres, "single_label",
        "<genre>/<genre>.000NN.{wav,au} in genres_original/, Data/genres_original/ or genres/",
        label_words={"hiphop": "hip hop"},
        paper={"acc": 0.584},
    ),
    BenchmarkTask(
        "nsynth_pitch", "NSynth pitch", _NSYNTH,
        partial(ds.prepare_nsynth, target="pitch"), "single_label",
        "[nsynth-test/]examples.json, audio/<note_str>.wav",
        template="This is the musical note {}.", paper={"acc": 0.444},
    ),
    BenchmarkTask(
        "nsynth_velocity", "NSynth velocity", _NSYNTH,
        partial(ds.prepare_nsynth, target="velocity"), "single_label",
        "[nsynth-test/]examples.json, audio/<note_str>.wav",
        template="This is a note played {}.", paper={"acc": 0.222},
    ),
    BenchmarkTask(
        "nsynth_qualities", "NSynth qualities", _NSYNTH,
        partial(ds.prepare_nsynth, target="qualities"), "multi_label",
        "[nsynth-test/]examples.json, audio/<note_str>.wav", metric="mAP",
        template="This is a {} sound.", paper={"mAP": 0.489},
    ),
    BenchmarkTask(
        "nsynth_instrument", "NSynth instrument family", _NSYNTH,
        partial(ds.prepare_nsynth, target="instrument_family"), "single_label",
        "[nsynth-test/]examples.json, audio/<note_str>.wav", paper={"acc": 0.479},
    ),
    BenchmarkTask(
        "cremad", "CREMA-D", ("CREMA-D", "crema-d", "CREMA_D", "cremad"), ds.prepare_cremad,
        "single_label", "**/<actor>_<sentence>_<EMO>_<level>.wav (AudioWAV/)",
        template=EMOTION, paper={"acc": 0.30},
    ),
    BenchmarkTask(
        "ravdess", "RAVDESS", ("RAVDESS", "ravdess", "Audio_Speech_Actors_01-24"),
        ds.prepare_ravdess, "single_label", "Actor_NN/03-CC-EE-II-SS-RR-AA.wav",
        template=EMOTION, paper={"acc": 0.315},
    ),
    BenchmarkTask(
        "speech_commands", "Speech Commands v2",
        ("speech_commands_v0.02", "SpeechCommands", "speech_commands"),
        ds.prepare_speech_commands, "single_label",
        "<word>/<id>_nohash_<n>.wav, testing_list.txt", template="{}", paper={"acc": 0.164},
    ),
    BenchmarkTask(
        "libricount", "LibriCount10", ("LibriCount", "LibriCount10-0dB", "libricount"),
        ds.prepare_libricount, "single_label", "**/<count>_<id>.wav",
        template="{} persons speaking", paper={"acc": 0.246},
    ),
    BenchmarkTask(
        "audiocaps", "AudioCaps", ("AudioCaps", "audiocaps"), ds.prepare_audiocaps_task,
        "retrieval", "test.csv (audiocap_id, youtube_id, start_time, caption), audio/",
        paper={"a2t_R@1": 0.425, "a2t_mAP@10": 0.319, "t2a_R@1": 0.356, "t2a_mAP@10": 0.51},
    ),
    BenchmarkTask(
        "clotho", "Clotho", ("Clotho", "clotho", "clotho_v2"), ds.prepare_clotho_task,
        "retrieval", "clotho_captions_evaluation.csv, evaluation/*.wav",
        paper={"a2t_R@1": 0.229, "a2t_mAP@10": 0.155, "t2a_R@1": 0.157, "t2a_mAP@10": 0.257},
    ),
    BenchmarkTask(
        "fsdd", "Free Spoken Digits", ("fsdd", "FSDD", "free-spoken-digit-dataset"),
        ds.prepare_fsdd, "single_label",
        "metadata.csv (filename, label, speaker, split) or recordings/<d>_<speaker>_<n>.wav",
        template="the spoken digit {}",
    ),
):
    register_task(_task)
