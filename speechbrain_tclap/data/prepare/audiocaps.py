"""AudioCaps data preparation: official caption CSVs + audio -> JSON manifests.

Expected layout (the audio is fetched from YouTube separately; nothing is
downloaded here)::

    <data_folder>/
        train.csv  val.csv  test.csv        (or dataset/train.csv, ...)
        <audio_subdir>/                      default "audio"
            [train/ val/ test/]              optional per-split folders
            <name>.wav | .flac | .ogg

The CSVs are the AudioCaps repository's (``audiocap_id, youtube_id,
start_time, caption``, one caption per line); a clip is a (``youtube_id``,
``start_time``) pair with its captions grouped (train one, val/test five).
Audio file names tried, in order (``S``/``E`` = start/end seconds, E = S+10)::

    Y<youtube_id>_<S>.000_<E>.000   <youtube_id>_<S>.000_<E>.000   (AudioSet)
    Y<youtube_id>_<S>_<E>           <youtube_id>_<S>_<E>
    Y<youtube_id>_<S>               <youtube_id>_<S>
    Y<youtube_id>                   <youtube_id>
    <audiocap_id>                   (of any caption of the clip)

Files inside ``<audio_subdir>/<split>/`` win over same-named files elsewhere;
a bare ``<youtube_id>`` file claimed by clips with different start times is
ambiguous and those clips are skipped. Clips without audio (or unreadable, or
at another rate than ``sample_rate`` when given) are skipped, counted, logged.

Each split gives ``<save_folder>/<split>.json`` in SpeechBrain JSON::

    {"<youtube_id>_<start>": {"wav": "/abs/path.wav", "caption": "...",
      "captions": ["...", ...], "duration": 10.0, "youtube_id": "...",
      "start_time": 30.0, "audiocap_ids": ["..."]}}

Idempotent: a fingerprint of the options, CSVs and audio files (paths, sizes)
makes a second call with nothing changed return at once.

Authors
 * speechbrain-tclap developers 2026
"""

import os
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

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

CSV_COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
FINGERPRINT_FILE = "audiocaps_prepare.json"
#: Length of an AudioCaps (AudioSet) clip in seconds.
CLIP_SECONDS = 10.0


def find_csv(data_folder: str, split: str) -> str:
    """Path of a split's caption CSV (``<split>.csv`` or ``dataset/<split>.csv``).

    Arguments
    ---------
    data_folder : str
        Dataset root.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.

    Returns
    -------
    str
        The CSV path.

    Raises
    ------
    FileNotFoundError
        Listing the places looked at.

    Example
    -------
    >>> root = getfixture("tmpdir")
    >>> _ = (root / "val.csv").write("audiocap_id,youtube_id,start_time,caption\\n")
    >>> os.path.basename(find_csv(str(root), "val"))
    'val.csv'
    """
    candidates = [
        os.path.join(data_folder, f"{split}.csv"),
        os.path.join(data_folder, "dataset", f"{split}.csv"),
    ]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"AudioCaps caption CSV for split {split!r} not found; looked for "
        + " and ".join(candidates)
    )


def _format_seconds(value: float) -> str:
    """``30`` for 30.0, ``30.5`` for 30.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def audio_names(
    youtube_id: str, start_time: float, audiocap_ids: Sequence[str] = ()
) -> List[str]:
    """Candidate file stems of a clip, most specific first.

    Arguments
    ---------
    youtube_id : str
        YouTube id.
    start_time : float
        Start of the clip in the video (seconds).
    audiocap_ids : sequence of str
        The clip's caption ids (last resort).

    Returns
    -------
    list of str
        Stems to look up.

    Example
    -------
    >>> audio_names("abc", 30)[:3]
    ['Yabc_30.000_40.000', 'abc_30.000_40.000', 'Yabc_30_40']
    >>> audio_names("abc", 30)[-2:]
    ['Yabc', 'abc']
    """
    start, end = float(start_time), float(start_time) + CLIP_SECONDS
    s, e = _format_seconds(start), _format_seconds(end)
    suffixes = (f"_{start:.3f}_{end:.3f}", f"_{s}_{e}", f"_{s}", "")
    names = [f"{y}{youtube_id}{suffix}" for suffix in suffixes for y in ("Y", "")]
    return names + [str(a) for a in audiocap_ids]


def read_audiocaps_csv(path: str) -> Dict[Tuple[str, float], Dict[str, Any]]:
    """Groups the captions of an AudioCaps CSV by clip.

    Arguments
    ---------
    path : str
        CSV with ``audiocap_id, youtube_id, start_time, caption``.

    Returns
    -------
    dict
        ``{(youtube_id, start_time): {"captions": [...], "audiocap_ids":
        [...], "line": first line}}`` in file order.

    Raises
    ------
    ManifestError
        Naming the file and line of a malformed row.

    Example
    -------
    >>> path = getfixture("tmpdir") / "test.csv"
    >>> _ = path.write(
    ...     "audiocap_id,youtube_id,start_time,caption\\n"
    ...     "1,abc,30,a dog barks\\n2,abc,30,\\"a dog barks, then a cat\\"\\n")
    >>> read_audiocaps_csv(str(path))[("abc", 30.0)]["captions"]
    ['a dog barks', 'a dog barks, then a cat']
    """
    clips: Dict[Tuple[str, float], Dict[str, Any]] = {}
    for line, row in read_caption_csv(path, CSV_COLUMNS):
        try:
            start = float(row["start_time"])
        except ValueError:
            raise ManifestError(
                path,
                f"start_time is not a number: {row['start_time']!r}",
                row=f"line {line}",
            ) from None
        if start < 0:
            raise ManifestError(
                path, f"negative start_time {start}", row=f"line {line}"
            )
        clip = clips.setdefault(
            (row["youtube_id"], start),
            {"captions": [], "audiocap_ids": [], "line": line},
        )
        clip["captions"].append(" ".join(row["caption"].split()))
        clip["audiocap_ids"].append(row["audiocap_id"])
    return clips


def prepare_audiocaps(
    data_folder: Union[str, os.PathLike],
    save_folder: Union[str, os.PathLike],
    splits: Sequence[str] = ("train", "val", "test"),
    audio_subdir: str = "audio",
    sample_rate: Optional[int] = None,
    skip_prep: bool = False,
) -> Dict[str, str]:
    """Writes one JSON manifest per AudioCaps split (see the module docstring).

    Arguments
    ---------
    data_folder : str or os.PathLike
        Dataset root holding the CSVs and the audio folder.
    save_folder : str or os.PathLike
        Where ``<split>.json`` and the fingerprint go (created).
    splits : sequence of str
        Splits to prepare.
    audio_subdir : str
        Audio folder relative to ``data_folder`` (or absolute).
    sample_rate : int, optional
        When given, clips at another rate are skipped and counted (resample
        the files first, or leave None and resample when loading).
    skip_prep : bool
        Return the manifest paths without doing anything.

    Returns
    -------
    dict
        ``{split: manifest path}``.

    Raises
    ------
    FileNotFoundError
        A CSV is missing.
    ManifestError
        A CSV is malformed (the message names file and line).
    ValueError
        A split has no clip with audio.

    Example
    -------
    >>> import numpy, soundfile
    >>> root = getfixture("tmpdir")
    >>> _ = (root / "test.csv").write(
    ...     "audiocap_id,youtube_id,start_time,caption\\n"
    ...     "7,abc,30,a bell rings then a dog barks\\n8,abc,30,a bell and a dog\\n"
    ...     "9,zzz,0,no audio for this one\\n")
    >>> _ = (root / "audio").mkdir()
    >>> soundfile.write(str(root / "audio" / "Yabc.wav"), numpy.zeros(1600), 16000)
    >>> paths = prepare_audiocaps(root, root / "prepared", splits=["test"])
    >>> from speechbrain_tclap.data.manifest import load_manifest
    >>> row = load_manifest(paths["test"])["abc_30"]
    >>> row["captions"], row["duration"]
    (['a bell rings then a dog barks', 'a bell and a dog'], 0.1)
    """
    data_folder = os.path.abspath(os.fspath(data_folder))
    save_folder = os.path.abspath(os.fspath(save_folder))
    splits = [str(s) for s in splits]
    manifests = manifest_paths(save_folder, splits)
    if skip_prep:
        return manifests
    audio_root = os.path.join(data_folder, audio_subdir)
    csv_paths = {s: find_csv(data_folder, s) for s in splits}
    index = AudioIndex(audio_root)
    config = {
        "data_folder": data_folder,
        "audio_root": audio_root,
        "splits": splits,
        "sample_rate": sample_rate,
        "csv": {s: file_signature(p) for s, p in csv_paths.items()},
        "audio": index.signature(),
    }
    if len(index) == 0:
        logger.warning("No audio files found under %s.", audio_root)
    write_splits(
        config, manifests,
        lambda s: _prepare_split(s, csv_paths[s], index, sample_rate, audio_root),
        save_folder=save_folder, corpus="AudioCaps", fingerprint_name=FINGERPRINT_FILE,
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
    clips = read_audiocaps_csv(csv_path)
    tally = SplitTally("AudioCaps", split, len(clips))
    found: Dict[Tuple[str, float], Tuple[str, bool]] = {}
    claims: Counter = Counter()
    for (youtube_id, start), clip in clips.items():
        names = audio_names(youtube_id, start, clip["audiocap_ids"])
        path = index.find(names, prefer=split)
        if path is None:
            tally.missing.append(f"{youtube_id}@{_format_seconds(start)}")
            continue
        stem = os.path.splitext(os.path.basename(path))[0]
        bare = stem in (youtube_id, f"Y{youtube_id}")
        found[(youtube_id, start)] = (path, bare)
        claims[path] += 1

    rows: Dict[str, Dict[str, Any]] = {}
    for (youtube_id, start), clip in clips.items():
        if (youtube_id, start) not in found:
            continue
        path, bare = found[(youtube_id, start)]
        if bare and claims[path] > 1:
            tally.skip(
                "ambiguous",
                f"{path}: claimed by {claims[path]} clips with different start times",
            )
            continue
        duration = tally.duration(path, sample_rate)
        if duration is None:
            continue
        clip_id = f"{youtube_id}_{_format_seconds(start)}"
        rows[clip_id] = {
            "wav": path,
            "caption": clip["captions"][0],
            "captions": clip["captions"],
            "duration": round(duration, 6),
            "youtube_id": youtube_id,
            "start_time": start,
            "audiocap_ids": clip["audiocap_ids"],
        }
    return rows, tally.finish(
        logger, rows,
        f"{csv_path} has audio under {audio_root} (see the expected file names in "
        "speechbrain_tclap/data/prepare/audiocaps.py)",
        extra=f", ambiguous file {tally.counts['ambiguous']}",
    )
