"""Clotho v2 data preparation: caption CSVs + audio -> JSON manifests.

Expected layout (as extracted from the Zenodo archives)::

    <data_folder>/
        clotho_captions_development.csv
        clotho_captions_validation.csv
        clotho_captions_evaluation.csv
        development/*.wav   validation/*.wav   evaluation/*.wav

Each caption CSV has the columns ``file_name, caption_1, ..., caption_5``
(one clip per line). Audio is looked up by file name (NFC and NFD alike) in
``<data_folder>/<audio_subdir or split>/``. Clips whose audio is missing or
unreadable (or at another rate than ``sample_rate`` when given) are skipped,
counted and logged.

Each split gives ``<save_folder>/<split>.json`` in SpeechBrain JSON, keyed by
the file name without extension::

    {"<stem>": {"wav": "/abs/path.wav", "caption": "<caption_1>",
      "captions": ["<caption_1>", ..., "<caption_5>"], "duration": 21.4,
      "file_name": "<file_name>"}}

Idempotent: a fingerprint of the options, CSVs and audio files (paths, sizes)
makes a second call with nothing changed return at once.

Authors
 * speechbrain-tclap developers 2026
"""

import os
from collections import Counter
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.caption_datasets import (
    AudioIndex,
    SplitTally,
    file_signature,
    read_caption_csv,
    write_splits,
)
from speechbrain_tclap.data.manifest import ManifestError, manifest_paths

logger = get_logger(__name__)

CAPTION_COLUMNS = tuple(f"caption_{i}" for i in range(1, 6))
FINGERPRINT_FILE = "clotho_prepare.json"


def read_clotho_csv(path: str) -> Dict[str, Dict[str, Any]]:
    """Captions of a Clotho caption CSV by file name.

    Arguments
    ---------
    path : str
        ``clotho_captions_<split>.csv``.

    Returns
    -------
    dict
        ``{file_name: {"captions": [5 captions], "line": line number}}`` in
        file order.

    Raises
    ------
    ManifestError
        Naming the file and line (as :func:`read_caption_csv`, or a repeated
        file name).

    Example
    -------
    >>> path = getfixture("tmpdir") / "clotho_captions_validation.csv"
    >>> _ = path.write("file_name,caption_1,caption_2,caption_3,caption_4,caption_5\\n"
    ...     'a.wav,A dog barks.,"Wind, then rain.",c,d,e\\n')
    >>> read_clotho_csv(str(path))["a.wav"]["captions"][:2]
    ['A dog barks.', 'Wind, then rain.']
    """
    clips: Dict[str, Dict[str, Any]] = {}
    for line, row in read_caption_csv(path, ("file_name",) + CAPTION_COLUMNS):
        name = row["file_name"]
        if name in clips:
            raise ManifestError(
                path,
                f"file_name {name!r} repeated (first at line {clips[name]['line']})",
                row=f"line {line}",
            )
        captions = [" ".join(row[c].split()) for c in CAPTION_COLUMNS]
        clips[name] = {"captions": captions, "line": line}
    return clips


def prepare_clotho(
    data_folder: Union[str, os.PathLike],
    save_folder: Union[str, os.PathLike],
    splits: Sequence[str] = ("development", "validation", "evaluation"),
    audio_subdirs: Optional[Mapping[str, str]] = None,
    sample_rate: Optional[int] = None,
    skip_prep: bool = False,
) -> Dict[str, str]:
    """Writes one JSON manifest per Clotho split (see the module docstring).

    Arguments
    ---------
    data_folder : str or os.PathLike
        Dataset root holding the CSVs and the audio folders.
    save_folder : str or os.PathLike
        Where ``<split>.json`` and the fingerprint go (created).
    splits : sequence of str
        Splits to prepare (CSV ``clotho_captions_<split>.csv``).
    audio_subdirs : mapping, optional
        ``{split: audio folder}`` relative to ``data_folder`` (default: the
        split name).
    sample_rate : int, optional
        When given, clips at another rate are skipped and counted (Clotho is
        44.1 kHz).
    skip_prep : bool
        Return the manifest paths without doing anything.

    Returns
    -------
    dict
        ``{split: manifest path}``.

    Raises
    ------
    ManifestError
        A CSV is missing or malformed (the message names file and line).
    ValueError
        A split has no clip with audio.

    Example
    -------
    >>> import numpy, soundfile
    >>> root = getfixture("tmpdir")
    >>> _ = (root / "clotho_captions_evaluation.csv").write(
    ...     "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\\n"
    ...     "rain.wav,Rain falls.,Rain,Drops,Water,Wet\\n")
    >>> _ = (root / "evaluation").mkdir()
    >>> soundfile.write(str(root / "evaluation" / "rain.wav"), numpy.zeros(4410), 44100)
    >>> paths = prepare_clotho(root, root / "prepared", splits=["evaluation"])
    >>> from speechbrain_tclap.data.manifest import load_manifest
    >>> row = load_manifest(paths["evaluation"])["rain"]
    >>> row["caption"], len(row["captions"]), row["duration"]
    ('Rain falls.', 5, 0.1)
    """
    data_folder = os.path.abspath(os.fspath(data_folder))
    save_folder = os.path.abspath(os.fspath(save_folder))
    splits = [str(s) for s in splits]
    manifests = manifest_paths(save_folder, splits)
    if skip_prep:
        return manifests
    audio_subdirs = dict(audio_subdirs or {})
    csv_paths = {
        s: os.path.join(data_folder, f"clotho_captions_{s}.csv") for s in splits
    }
    audio_roots = {
        s: os.path.join(data_folder, audio_subdirs.get(s, s)) for s in splits
    }
    for split, path in csv_paths.items():
        if not os.path.isfile(path):
            raise ManifestError(
                path, f"Clotho caption CSV of split {split!r} not found"
            )
    indexes = {s: AudioIndex(audio_roots[s]) for s in splits}
    config = {
        "data_folder": data_folder,
        "splits": splits,
        "audio_roots": audio_roots,
        "sample_rate": sample_rate,
        "csv": {s: file_signature(p) for s, p in csv_paths.items()},
        "audio": {s: index.signature() for s, index in indexes.items()},
    }
    write_splits(
        config, manifests,
        lambda s: _prepare_split(
            s, csv_paths[s], indexes[s], sample_rate, audio_roots[s]
        ),
        save_folder=save_folder, corpus="Clotho", fingerprint_name=FINGERPRINT_FILE,
        log=logger,
    )
    return manifests


def _prepare_split(
    split: str,
    csv_path: str,
    index: AudioIndex,
    sample_rate: Optional[int],
    audio_root: str,
) -> Tuple[Dict[str, Dict[str, Any]], Counter]:
    """Manifest rows of one split and the counts of what was skipped."""
    clips = read_clotho_csv(csv_path)
    tally = SplitTally("Clotho", split, len(clips))
    rows: Dict[str, Dict[str, Any]] = {}
    seen: Dict[str, str] = {}
    for name, clip in clips.items():
        path = index.find([name])
        if path is None:
            tally.missing.append(name)
            continue
        duration = tally.duration(path, sample_rate)
        if duration is None:
            continue
        clip_id = os.path.splitext(name)[0]
        if clip_id in seen:
            raise ManifestError(
                csv_path,
                f"file names {seen[clip_id]!r} and {name!r} give the same id {clip_id!r}",
                row=f"line {clip['line']}",
            )
        seen[clip_id] = name
        rows[clip_id] = {
            "wav": path,
            "caption": clip["captions"][0],
            "captions": clip["captions"],
            "duration": round(duration, 6),
            "file_name": name,
        }
    return rows, tally.finish(logger, rows, f"{csv_path} has audio under {audio_root}")
