"""Preparation of the zero-shot benchmark datasets from their standard layouts.

Every function reads one dataset as it is distributed (nothing is
downloaded) and writes one SpeechBrain JSON manifest of the clips to
evaluate, ``<save_folder>/<name>.json``::

    {"<id>": {"wav": "/abs/path.wav", "labels": ["dog"], "duration": 5.0, ...}}

(retrieval sets hold ``captions`` instead of ``labels``), and returns its
path. A fingerprint of the options, metadata and audio files (names, sizes,
times) makes a second call return at once. Unreadable audio files are
skipped, counted and logged; a missing metadata file or a malformed row
raises an error naming the file (and line). ESC-50, AudioCaps and Clotho
reuse the recipes' preparations (:mod:`speechbrain_tclap.data.prepare`).

Authors
 * speechbrain-tclap developers 2026
"""

import hashlib
import json
import os
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.caption_datasets import (
    AUDIO_EXTENSIONS,
    audio_info,
    file_signature,
    prepared_manifests,
    read_caption_csv,
    write_prepared,
)
from speechbrain_tclap.data.manifest import ManifestError
from speechbrain_tclap.data.prepare.audiocaps import prepare_audiocaps
from speechbrain_tclap.data.prepare.clotho import prepare_clotho
from speechbrain_tclap.data.prepare.esc50 import prepare_esc50

logger = get_logger(__name__)

#: One clip to list: ``(id, audio path, labels, extra fields)``.
Entry = Tuple[str, str, List[str], Dict[str, Any]]

#: Audio extensions listed; the original GTZAN archive ships Sun ``.au`` files.
EXTENSIONS = AUDIO_EXTENSIONS + (".au",)


def audio_files(folder: str) -> List[str]:
    """Audio files under ``folder`` (recursive, sorted, hidden folders skipped).

    Arguments
    ---------
    folder : str
        Root folder.

    Returns
    -------
    list of str
        Absolute paths.

    Example
    -------
    >>> root = getfixture("tmpdir")
    >>> _ = (root / "b.wav").write("x"), (root / "a.FLAC").write("x"), (root / "n.txt").write("x")
    >>> [os.path.basename(p) for p in audio_files(str(root))]
    ['a.FLAC', 'b.wav']
    """
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.join(parent, name)
            for name in sorted(files)
            if os.path.splitext(name)[1].lower() in EXTENSIONS
        ]
    return [os.path.abspath(p) for p in found]


def folder_signature(folder: str) -> str:
    """Digest of the audio files under ``folder`` (relative names, sizes, times).

    Arguments
    ---------
    folder : str
        Root folder.

    Returns
    -------
    str
        SHA-256 hex digest.

    Example
    -------
    >>> len(folder_signature(str(getfixture("tmpdir"))))
    64
    """
    listing = [
        [os.path.relpath(p, folder)] + file_signature(p)[1:] for p in audio_files(folder)
    ]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def find_folder(root: str, names: Sequence[str], depth: int = 2) -> Optional[str]:
    """The first folder under ``root`` (``root`` included) named one of ``names``.

    Breadth first, sorted, at most ``depth`` levels down.

    Arguments
    ---------
    root : str
        Where to look.
    names : sequence of str
        Accepted folder names.
    depth : int
        Levels below ``root``.

    Returns
    -------
    str or None
        The folder.

    Example
    -------
    >>> root = getfixture("tmpdir")
    >>> _ = (root / "x" / "music_wav").ensure(dir=True)
    >>> os.path.basename(find_folder(str(root), ["music_wav"]))
    'music_wav'
    """
    level = [root]
    for _ in range(depth + 1):
        following = []
        for folder in level:
            if os.path.basename(os.path.normpath(folder)) in names:
                return folder
            try:
                children = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            following += [e.path for e in children if e.is_dir() and not e.name.startswith(".")]
        level = following
    return None


def prepare_manifest(
    name: str,
    save_folder: str,
    config: Dict[str, Any],
    list_entries: Callable[[], Iterable[Entry]],
) -> str:
    """Write ``<save_folder>/<name>.json`` from entries, unless it is up to date.

    Arguments
    ---------
    name : str
        Manifest name (also names the fingerprint file).
    save_folder : str
        Output folder.
    config : dict
        What the manifest depends on (options, file signatures).
    list_entries : callable
        ``() -> iterable of (id, path, labels, extra)``; called only when
        the manifest must be (re)written.

    Returns
    -------
    str
        The manifest path.

    Example
    -------
    >>> import numpy, soundfile
    >>> tmp = str(getfixture("tmpdir"))
    >>> soundfile.write(tmp + "/a.wav", numpy.zeros(800), 8000)
    >>> path = prepare_manifest("toy", tmp, {"v": 1},
    ...     lambda: [("a", tmp + "/a.wav", ["dog"], {}), ("b", tmp + "/b.wav", ["cat"], {})])
    >>> rows = json.load(open(path))
    >>> list(rows), rows["a"]["duration"]
    (['a'], 0.1)
    """
    save_folder = os.path.abspath(save_folder)
    manifest = os.path.join(save_folder, f"{name}.json")
    fingerprint = os.path.join(save_folder, f"{name}_prepare.json")
    if prepared_manifests(fingerprint, config, {name: manifest}):
        logger.info("%s manifest %s is up to date", name, manifest)
        return manifest
    rows: Dict[str, Dict[str, Any]] = {}
    problems: List[str] = []
    for clip_id, path, labels, extra in list_entries():
        if clip_id in rows:
            raise ValueError(f"{name}: two clips with id {clip_id!r} ({path})")
        try:
            duration, _ = audio_info(path)
        except ValueError as err:
            problems.append(str(err))
            continue
        rows[clip_id] = {"wav": path, "labels": list(labels), "duration": round(duration, 6), **extra}
    if problems:
        logger.warning(
            "%s: skipped %d file(s) that could not be read, e.g. %s",
            name,
            len(problems),
            problems[0],
        )
    if not rows:
        raise ValueError(
            f"{name}: no readable clip found under {config.get('data_folder')} "
            "(see docs/benchmark.md for the expected layout)"
        )
    os.makedirs(save_folder, exist_ok=True)
    stats = {"clips": len(rows), "unreadable": len(problems)}
    write_prepared(fingerprint, config, {name: rows}, {name: manifest}, stats)
    logger.info("%s: %d clips -> %s", name, len(rows), manifest)
    return manifest


def _config(name: str, data_folder: str, files: Sequence[str] = (), **options) -> Dict[str, Any]:
    """Fingerprint content: options, metadata file signatures, audio listing."""
    return {
        "task": name,
        "data_folder": data_folder,
        "options": options,
        "files": [file_signature(p) for p in files],
        "audio": folder_signature(data_folder),
    }


def _require(path: str, dataset: str) -> str:
    """``path``, or FileNotFoundError naming the dataset."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{dataset}: {path} not found (see docs/benchmark.md for the expected layout)"
        )
    return path


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


# --- Datasets whose recipes already have a preparation ---
def prepare_esc50_task(
    data_folder: str,
    save_folder: str,
    folds: Sequence[int] = (1, 2, 3, 4, 5),
    esc10_only: bool = False,
) -> str:
    """ESC-50 (or its ESC-10 subset): ``meta/esc50.csv`` and ``audio/``.

    Every fold by default (zero-shot); ``folds`` restricts it, e.g. to a held-out fold.

    Arguments
    ---------
    data_folder : str
        ESC-50 root.
    save_folder : str
        Output folder.
    folds : sequence of int
        Folds to evaluate (absent folds are ignored).
    esc10_only : bool
        Keep the ESC-10 clips only.

    Returns
    -------
    str
        The manifest.
    """
    paths = prepare_esc50(
        data_folder,
        save_folder,
        train_folds=None,
        valid_folds=None,
        test_folds=list(folds),
        esc10_only=esc10_only,
    )
    return paths["test"]


def prepare_audiocaps_task(data_folder: str, save_folder: str, split: str = "test") -> str:
    """AudioCaps: the official caption CSVs and ``audio/`` (see the recipe).

    Arguments
    ---------
    data_folder : str
        AudioCaps root.
    save_folder : str
        Output folder.
    split : str
        CSV split.

    Returns
    -------
    str
        The manifest (rows with ``captions``).
    """
    return prepare_audiocaps(data_folder, save_folder, splits=[split])[split]


def prepare_clotho_task(data_folder: str, save_folder: str, split: str = "evaluation") -> str:
    """Clotho v2: ``clotho_captions_<split>.csv`` and ``<split>/`` audio.

    Arguments
    ---------
    data_folder : str
        Clotho root.
    save_folder : str
        Output folder.
    split : str
        Split name.

    Returns
    -------
    str
        The manifest (rows with ``captions``).
    """
    return prepare_clotho(data_folder, save_folder, splits=[split])[split]


# --- Sound events, scenes, vocal sounds ---
def prepare_us8k(
    data_folder: str, save_folder: str, folds: Sequence[int] = tuple(range(1, 11))
) -> str:
    """UrbanSound8K: ``metadata/UrbanSound8K.csv`` and ``audio/fold<k>/``.

    Arguments
    ---------
    data_folder : str
        UrbanSound8K root.
    save_folder : str
        Output folder.
    folds : sequence of int
        Folds to evaluate.

    Returns
    -------
    str
        The manifest.
    """
    data_folder = os.path.abspath(data_folder)
    csv_path = _require(os.path.join(data_folder, "metadata", "UrbanSound8K.csv"), "UrbanSound8K")
    folds = sorted(int(f) for f in folds)

    def entries():
        for line, row in read_caption_csv(csv_path, ("slice_file_name", "fold", "class")):
            try:
                fold = int(row["fold"])
            except ValueError:
                raise ManifestError(csv_path, "fold is not an integer", row=f"line {line}") from None
            if fold in folds:
                path = os.path.join(data_folder, "audio", f"fold{fold}", row["slice_file_name"])
                yield _stem(path), path, [row["class"]], {"fold": fold}

    config = _config("us8k", data_folder, [csv_path], folds=folds)
    return prepare_manifest("us8k", save_folder, config, entries)


def prepare_fsd50k(data_folder: str, save_folder: str, split: str = "eval") -> str:
    """FSD50K: ``FSD50K.ground_truth/<split>.csv`` and ``FSD50K.<split>_audio/``.

    The CSV's ``labels`` cell lists a clip's classes separated by commas.

    Arguments
    ---------
    data_folder : str
        FSD50K root.
    save_folder : str
        Output folder.
    split : str
        ``"eval"`` or ``"dev"``.

    Returns
    -------
    str
        The manifest (multi-label rows).
    """
    data_folder = os.path.abspath(data_folder)
    csv_path = _require(
        os.path.join(data_folder, "FSD50K.ground_truth", f"{split}.csv"), "FSD50K"
    )
    audio_folder = os.path.join(data_folder, f"FSD50K.{split}_audio")

    def entries():
        for _, row in read_caption_csv(csv_path, ("fname", "labels")):
            labels = [label.strip() for label in row["labels"].split(",") if label.strip()]
            yield row["fname"], os.path.join(audio_folder, row["fname"] + ".wav"), labels, {}

    config = _config("fsd50k", data_folder, [csv_path], split=split)
    return prepare_manifest(f"fsd50k_{split}", save_folder, config, entries)


#: TUT Acoustic Scenes 2017 folders, the evaluation set first.
TUT2017_FOLDERS = (
    "TUT-acoustic-scenes-2017-evaluation",
    "TUT-acoustic-scenes-2017-development",
)


def prepare_tut2017(data_folder: str, save_folder: str) -> str:
    """TUT Acoustic Scenes 2017: ``meta.txt`` (``audio/<file>.wav<TAB><scene>...``).

    The evaluation set is used when its folder is there, else the
    development set, else ``meta.txt`` in ``data_folder`` itself.

    Arguments
    ---------
    data_folder : str
        Folder holding a ``TUT-acoustic-scenes-2017-*`` folder (or one of them).
    save_folder : str
        Output folder.

    Returns
    -------
    str
        The manifest.
    """
    data_folder = os.path.abspath(data_folder)
    roots = [os.path.join(data_folder, name) for name in TUT2017_FOLDERS] + [data_folder]
    root = next((r for r in roots if os.path.isfile(os.path.join(r, "meta.txt"))), None)
    if root is None:
        raise FileNotFoundError(
            f"TUT2017: no meta.txt in {data_folder} or its {' / '.join(TUT2017_FOLDERS)} folders"
        )
    meta = os.path.join(root, "meta.txt")

    def entries():
        with open(meta, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                cells = line.rstrip("\n").split("\t") if "\t" in line else line.split()
                if len(cells) < 2 or not cells[1].strip():
                    raise ManifestError(meta, "expected '<file><TAB><scene>'", row=f"line {number}")
                path = os.path.join(root, cells[0].strip())
                yield _stem(path), path, [cells[1].strip()], {}

    config = _config("tut2017", root, [meta])
    return prepare_manifest("tut2017", save_folder, config, entries)


#: VocalSound classes as they end the file names (``f0003_0_cough.wav``).
VOCALSOUND_LABELS = ("laughter", "sigh", "cough", "throatclearing", "sneeze", "sniff")


def prepare_vocalsound(data_folder: str, save_folder: str) -> str:
    """VocalSound: audio files named ``<speaker>_<n>_<label>.wav`` (any sub-folder).

    Arguments
    ---------
    data_folder : str
        VocalSound root (e.g. holding ``audio_16k/``).
    save_folder : str
        Output folder.

    Returns
    -------
    str
        The manifest.
    """
    pattern = r"_(" + "|".join(VOCALSOUND_LABELS) + r")$"
    return _prepare_from_names("vocalsound", data_folder, save_folder, pattern, str)


def _prepare_from_names(
    name: str,
    data_folder: str,
    save_folder: str,
    pattern: str,
    label_of: Union[Mapping[str, str], Callable[[str], str]],
) -> str:
    """Clips labelled by their file name: ``label_of`` maps the pattern's
    first group to the label (files that do not match are skipped)."""
    data_folder = os.path.abspath(data_folder)
    regex = re.compile(pattern)
    lookup = label_of.get if isinstance(label_of, Mapping) else label_of

    def entries():
        unmatched = 0
        for path in audio_files(data_folder):
            match = regex.search(_stem(path))
            label = None if match is None else lookup(match.group(1))
            if label is None:
                unmatched += 1
                continue
            relative = os.path.splitext(os.path.relpath(path, data_folder))[0]
            yield relative.replace(os.sep, "/"), path, [label], {}
        if unmatched:
            logger.info("%s: %d audio file(s) without a label in their name ignored", name, unmatched)

    config = _config(name, data_folder, pattern=pattern)
    return prepare_manifest(name, save_folder, config, entries)


# --- Music ---
GTZAN_GENRES = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)  # fmt: skip


def prepare_gtzan_genres(data_folder: str, save_folder: str) -> str:
    """GTZAN genres: ``<genre>/<genre>.000NN.{wav,au}`` folders.

    Genre folders are looked for in ``genres_original/``, ``Data/genres_original/``
    (Kaggle), ``genres/`` (original archive) or ``data_folder``. Undecodable
    files (Kaggle's ``jazz.00054.wav``) are skipped and counted.

    Arguments
    ---------
    data_folder : str
        GTZAN root.
    save_folder : str
        Output folder.

    Returns
    -------
    str
        The manifest.
    """
    data_folder = os.path.abspath(data_folder)
    candidates = [
        os.path.join(data_folder, *parts)
        for parts in (("genres_original",), ("Data", "genres_original"), ("genres",), ())
    ]
    root = next(
        (c for c in candidates if any(os.path.isdir(os.path.join(c, g)) for g in GTZAN_GENRES)),
        None,
    )
    if root is None:
        raise FileNotFoundError(f"GTZAN: no genre folders ({', '.join(GTZAN_GENRES)}) in {data_folder}")

    def entries():
        for genre in GTZAN_GENRES:
            for path in audio_files(os.path.join(root, genre)):
                yield f"{genre}/{_stem(path)}", path, [genre], {}

    config = _config("gtzan_genres", root)
    return prepare_manifest("gtzan_genres", save_folder, config, entries)


def prepare_gtzan_music_speech(data_folder: str, save_folder: str) -> str:
    """GTZAN music/speech: ``music_wav/`` and ``speech_wav/`` (any depth up to 2).

    Arguments
    ---------
    data_folder : str
        Root of the music/speech collection.
    save_folder : str
        Output folder.

    Returns
    -------
    str
        The manifest (labels ``music`` / ``speech``).
    """
    data_folder = os.path.abspath(data_folder)
    folders = {label: find_folder(data_folder, [f"{label}_wav"]) for label in ("music", "speech")}
    missing = [f"{label}_wav" for label, folder in folders.items() if folder is None]
    if missing:
        raise FileNotFoundError(f"GTZAN music/speech: no {' or '.join(missing)} folder in {data_folder}")

    def entries():
        for label, folder in folders.items():
            for path in audio_files(folder):
                yield f"{label}/{_stem(path)}", path, [label], {}

    config = _config("gtzan_music_speech", data_folder)
    return prepare_manifest("gtzan_music_speech", save_folder, config, entries)


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

#: NSynth velocities as words (the prompts need words, not MIDI numbers).
NSYNTH_VELOCITIES = {25: "very softly", 50: "softly", 75: "moderately", 100: "loudly", 127: "very loudly"}

#: What an NSynth task classifies, and the ``examples.json`` field it reads.
NSYNTH_TARGETS = ("instrument_family", "pitch", "velocity", "qualities")


def midi_note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI note (60 -> ``C4``).

    Arguments
    ---------
    pitch : int
        MIDI note number.

    Returns
    -------
    str
        Note name with octave.

    Example
    -------
    >>> midi_note_name(60), midi_note_name(22)
    ('C4', 'A#0')
    """
    return f"{NOTE_NAMES[int(pitch) % 12]}{int(pitch) // 12 - 1}"


def prepare_nsynth(data_folder: str, save_folder: str, target: str = "instrument_family") -> str:
    """NSynth (test split): ``examples.json`` and ``audio/<note_str>.wav``.

    ``data_folder`` may hold them directly or in ``nsynth-test/``.

    Arguments
    ---------
    data_folder : str
        NSynth root.
    save_folder : str
        Output folder.
    target : str
        ``"instrument_family"`` (11 families), ``"pitch"`` (note names),
        ``"velocity"`` (five words) or ``"qualities"`` (multi-label).

    Returns
    -------
    str
        The manifest.
    """
    if target not in NSYNTH_TARGETS:
        raise ValueError(f"target must be one of {NSYNTH_TARGETS}, got {target!r}")
    data_folder = os.path.abspath(data_folder)
    roots = [data_folder, os.path.join(data_folder, "nsynth-test")]
    root = next((r for r in roots if os.path.isfile(os.path.join(r, "examples.json"))), None)
    if root is None:
        raise FileNotFoundError(f"NSynth: no examples.json in {' or '.join(roots)}")
    meta = os.path.join(root, "examples.json")

    def labels_of(note: str, info: Dict[str, Any]) -> List[str]:
        try:
            if target == "instrument_family":
                return [str(info["instrument_family_str"])]
            if target == "pitch":
                return [midi_note_name(info["pitch"])]
            if target == "velocity":
                return [NSYNTH_VELOCITIES.get(int(info["velocity"]), f"velocity {info['velocity']}")]
            return [str(q) for q in info["qualities_str"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(meta, f"no usable {target} field ({exc})", row=f"note {note!r}") from None

    def entries():
        try:
            with open(meta, encoding="utf-8") as f:
                notes = json.load(f)
        except ValueError as exc:
            raise ManifestError(meta, f"not valid JSON ({exc})") from None
        for note in sorted(notes):
            path = os.path.join(root, "audio", f"{note}.wav")
            yield note, path, labels_of(note, notes[note]), {}

    config = _config("nsynth", root, [meta], target=target)
    return prepare_manifest(f"nsynth_{target}", save_folder, config, entries)


# --- Speech ---
CREMAD_EMOTIONS = {
    "ANG": "angry", "DIS": "disgusted", "FEA": "fearful",
    "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}  # fmt: skip


def prepare_cremad(data_folder: str, save_folder: str) -> str:
    """CREMA-D: ``AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav``.

    Arguments
    ---------
    data_folder : str
        CREMA-D root.
    save_folder : str
        Output folder.

    Returns
    -------
    str
        The manifest (six emotions).
    """
    pattern = r"^\d+_[A-Z]+_([A-Z]{3})_[A-Z]+$"
    return _prepare_from_names("cremad", data_folder, save_folder, pattern, CREMAD_EMOTIONS)


RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}  # fmt: skip


def prepare_ravdess(data_folder: str, save_folder: str) -> str:
    """RAVDESS (audio-only): ``Actor_NN/03-CC-EE-II-SS-RR-AA.wav``.

    The third field is the emotion; only audio-only files (modality 03) count.

    Arguments
    ---------
    data_folder : str
        RAVDESS root (speech and/or song actors).
    save_folder : str
        Output folder.

    Returns
    -------
    str
        The manifest (eight emotions).
    """
    pattern = r"^03-\d\d-(\d\d)-\d\d-\d\d-\d\d-\d\d$"
    return _prepare_from_names("ravdess", data_folder, save_folder, pattern, RAVDESS_EMOTIONS)


def prepare_libricount(data_folder: str, save_folder: str) -> str:
    """LibriCount: ``<count>_<id>.wav`` mixtures of 0 to 10 speakers (any sub-folder).

    Arguments
    ---------
    data_folder : str
        LibriCount root (e.g. ``LibriCount10-0dB``).
    save_folder : str
        Output folder.

    Returns
    -------
    str
        The manifest (labels ``"0"`` ... ``"10"``).
    """
    return _prepare_from_names(
        "libricount", data_folder, save_folder, r"^(\d{1,2})_", lambda n: str(int(n))
    )


def prepare_speech_commands(data_folder: str, save_folder: str, split: str = "test") -> str:
    """Speech Commands v2: ``<word>/<speaker>_nohash_<n>.wav`` and the split lists.

    Arguments
    ---------
    data_folder : str
        Root holding the word folders and ``testing_list.txt`` /
        ``validation_list.txt`` (``_background_noise_`` is ignored).
    save_folder : str
        Output folder.
    split : str
        ``"test"`` (``testing_list.txt``), ``"validation"`` or ``"all"``.

    Returns
    -------
    str
        The manifest (labels: the words).
    """
    data_folder = os.path.abspath(data_folder)
    lists = {"test": "testing_list.txt", "validation": "validation_list.txt"}
    if split not in (*lists, "all"):
        raise ValueError(f"split must be 'test', 'validation' or 'all', got {split!r}")
    list_path = None if split == "all" else _require(
        os.path.join(data_folder, lists[split]), "Speech Commands"
    )

    def entries():
        if list_path is None:
            names = [
                os.path.relpath(p, data_folder).replace(os.sep, "/")
                for p in audio_files(data_folder)
            ]
        else:
            with open(list_path, encoding="utf-8") as f:
                names = [line.strip() for line in f if line.strip()]
        for name in names:
            word = name.split("/")[0]
            if "/" not in name or word.startswith("_"):
                continue
            yield os.path.splitext(name)[0], os.path.join(data_folder, name), [word], {}

    config = _config("speech_commands", data_folder, [list_path] if list_path else [], split=split)
    return prepare_manifest(f"speech_commands_{split}", save_folder, config, entries)


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def prepare_fsdd(data_folder: str, save_folder: str, split: str = "test") -> str:
    """Free Spoken Digit Dataset: ``metadata.csv`` or ``recordings/<d>_<speaker>_<n>.wav``.

    ``metadata.csv`` (``filename, label, speaker, split``) gives the split;
    otherwise recordings 0-4 of every speaker and digit are the test set.

    Arguments
    ---------
    data_folder : str
        FSDD root.
    save_folder : str
        Output folder.
    split : str
        ``"test"``, ``"train"`` or ``"all"``.

    Returns
    -------
    str
        The manifest (labels: digits as words; fields ``label``, ``speaker``,
        ``split``).

    Example
    -------
    >>> import numpy, soundfile
    >>> root = getfixture("tmpdir")
    >>> _ = (root / "recordings").mkdir()
    >>> for name in ("3_jackson_0", "3_jackson_7", "5_theo_1"):
    ...     soundfile.write(str(root / "recordings" / f"{name}.wav"), numpy.zeros(800), 8000)
    >>> rows = json.load(open(prepare_fsdd(str(root), str(root / "out"))))
    >>> [(k, r["labels"], r["split"]) for k, r in rows.items()]
    [('3_jackson_0', ['three'], 'test'), ('5_theo_1', ['five'], 'test')]
    """
    if split not in ("test", "train", "all"):
        raise ValueError(f"split must be 'test', 'train' or 'all', got {split!r}")
    data_folder = os.path.abspath(data_folder)
    metadata = os.path.join(data_folder, "metadata.csv")
    recordings = os.path.join(data_folder, "recordings")
    pattern = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")

    def from_metadata():
        for line, row in read_caption_csv(metadata, ("filename", "label", "speaker", "split")):
            if split in ("all", row["split"]):
                path = os.path.join(data_folder, row["filename"])
                extra = {"label": row["label"], "speaker": row["speaker"], "split": row["split"]}
                yield _stem(path), path, [row["label"]], extra

    def from_recordings():
        for path in audio_files(recordings):
            match = pattern.match(_stem(path))
            if match is None:
                continue
            clip_split = "test" if int(match.group(3)) < 5 else "train"
            if split in ("all", clip_split):
                word = DIGIT_WORDS[int(match.group(1))]
                extra = {"label": word, "speaker": match.group(2), "split": clip_split}
                yield _stem(path), path, [word], extra

    if os.path.isfile(metadata):
        config = _config("fsdd", data_folder, [metadata], split=split)
        return prepare_manifest(f"fsdd_{split}", save_folder, config, from_metadata)
    if os.path.isdir(recordings):
        config = _config("fsdd", recordings, split=split)
        return prepare_manifest(f"fsdd_{split}", save_folder, config, from_recordings)
    raise FileNotFoundError(f"FSDD: neither {metadata} nor {recordings}/ found")
