"""Data preparation for ESC-50 (and its ESC-10 subset).

ESC-50 (K. J. Piczak, ACM MM 2015): 2,000 five-second clips of 50 classes in
five folds; clips cut from one recording share a fold, so splits are made by
fold. Layout: ``audio/*.wav`` and ``meta/esc50.csv`` (``filename, fold,
target, category, esc10, src_file, take``); a listed file that is missing is
looked up under the other audio extensions (converted copies).

:func:`prepare_esc50` writes one SpeechBrain JSON manifest per split:
``{id: {"wav", "labels": [category], "category", "target", "fold", "esc10",
"src_file", "take", "duration", "caption": "the sound of <category>"}}``.

Authors
 * speechbrain-tclap developers 2026
"""

import csv
import hashlib
import itertools
import os
from typing import Dict, List, Optional, Sequence, Union

import soundfile as sf
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.caption_datasets import prepared_manifests, write_prepared
from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.data.manifest import manifest_paths
from speechbrain_tclap.utils.locking import folder_lock

logger = get_logger(__name__)

#: Columns of ``meta/esc50.csv`` this script reads.
REQUIRED_COLUMNS = ("filename", "fold", "target", "category")

#: Extensions tried, in order, when a listed file is missing.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")

FINGERPRINT_FILE = "esc50_prepare.json"

Folds = Optional[Sequence[int]]


def prepare_esc50(
    data_folder: Union[str, os.PathLike],
    save_folder: Union[str, os.PathLike],
    train_folds: Folds = (1, 2, 3),
    valid_folds: Folds = (4,),
    test_folds: Folds = (5,),
    esc10_only: bool = False,
    sample_rate: Optional[int] = None,
    skip_prep: bool = False,
) -> Dict[str, str]:
    """Writes fold-disjoint train/valid/test manifests for ESC-50.

    A split with no folds is not written. Manifests are rewritten only when
    the arguments or the CSV changed (fingerprint in ``save_folder``);
    concurrent preparations of one folder take turns on a lock, and each
    manifest appears whole. Unreadable clips are skipped, logged and listed
    in the fingerprint (``skipped``).

    Arguments
    ---------
    data_folder : str or os.PathLike
        ESC-50 root with ``meta/esc50.csv`` and ``audio/``.
    save_folder : str or os.PathLike
        Where the manifests (and resampled audio, if any) are written.
    train_folds : sequence of int, optional
        Folds of the training split.
    valid_folds : sequence of int, optional
        Folds of the validation split.
    test_folds : sequence of int, optional
        Folds of the test split.
    esc10_only : bool
        Keep only the ESC-10 clips (``esc10`` column).
    sample_rate : int, optional
        None keeps the files (builders may resample on read). Otherwise files
        at another rate are resampled once into
        ``<save_folder>/audio_<rate>Hz/`` (16-bit FLAC), used by the manifests.
    skip_prep : bool
        Do nothing; return the manifest paths.

    Returns
    -------
    dict
        ``{split: manifest path}``.

    Raises
    ------
    FileNotFoundError
        When the CSV or a listed audio file is missing (named in the message).
    ValueError
        On overlapping fold lists, a malformed or non-UTF-8 CSV, a file listed
        twice, or a split with no clips.

    Example
    -------
    >>> import numpy, soundfile
    >>> root = getfixture("tmpdir")
    >>> _ = (root / "audio").mkdir(), (root / "meta").mkdir()
    >>> lines = ["filename,fold,target,category,esc10,src_file,take"]
    >>> for fold in (1, 2, 3):
    ...     for target, category in ((0, "dog"), (10, "rain")):
    ...         name = f"{fold}-{100 + target}-A-{target}.wav"
    ...         soundfile.write(str(root / "audio" / name), numpy.zeros(800), 8000)
    ...         lines.append(f"{name},{fold},{target},{category},True,{100 + target},A")
    >>> _ = (root / "meta" / "esc50.csv").write("\\n".join(lines) + "\\n")
    >>> paths = prepare_esc50(root, root / "manifests", train_folds=[1, 2],
    ...                       valid_folds=[3], test_folds=None)
    >>> sorted(paths)
    ['train', 'valid']
    >>> import json
    >>> rows = json.loads(open(paths["valid"]).read())
    >>> row = rows["3-100-A-0"]
    >>> row["labels"], row["fold"], row["duration"], row["caption"]
    (['dog'], 3, 0.1, 'the sound of dog')
    """
    data_folder = os.path.abspath(os.fspath(data_folder))
    save_folder = os.path.abspath(os.fspath(save_folder))
    splits = {
        name: sorted({int(f) for f in folds})
        for name, folds in (
            ("train", train_folds),
            ("valid", valid_folds),
            ("test", test_folds),
        )
        if folds
    }
    manifests = manifest_paths(save_folder, splits)
    if skip_prep:
        missing = [p for p in manifests.values() if not os.path.isfile(p)]
        if missing:
            logger.warning("skip_prep=True but manifests are missing: %s", missing)
        return manifests
    _check_disjoint(splits)

    csv_path = os.path.join(data_folder, "meta", "esc50.csv")
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(
            f"ESC-50 metadata not found: {csv_path} (expected <data_folder>/meta/esc50.csv)"
        )
    with open(csv_path, "rb") as f:
        csv_digest = hashlib.sha256(f.read()).hexdigest()
    config = {
        "data_folder": data_folder,
        "splits": splits,
        "esc10_only": bool(esc10_only),
        "sample_rate": None if sample_rate is None else int(sample_rate),
        "csv_sha256": csv_digest,
    }
    with folder_lock(save_folder, "preparing ESC-50 manifests"):
        _prepare_locked(config, csv_path, save_folder, manifests)
    return manifests


def _prepare_locked(config: dict, csv_path: str, save_folder: str, manifests: Dict[str, str]) -> None:
    """Write the manifests of ``config`` unless up to date (folder lock held)."""
    data_folder, splits = config["data_folder"], config["splits"]
    sample_rate, esc10_only = config["sample_rate"], config["esc10_only"]
    fingerprint = os.path.join(save_folder, FINGERPRINT_FILE)
    if prepared_manifests(fingerprint, config, manifests):
        logger.info("ESC-50 manifests in %s are up to date; skipping.", save_folder)
        return

    records = _read_csv(csv_path, esc10_only)
    audio_folder = os.path.join(data_folder, "audio")
    if not os.path.isdir(audio_folder):
        raise FileNotFoundError(f"ESC-50 audio folder not found: {audio_folder}")
    folds_present = sorted({r["fold"] for r in records})
    os.makedirs(save_folder, exist_ok=True)
    rows_per_split, skipped = {}, []
    for name, folds in splits.items():
        chosen = [r for r in records if r["fold"] in folds]
        if not chosen:
            raise ValueError(
                f"no clips in folds {folds} for split {name!r} "
                f"({csv_path} has folds {folds_present}"
                f"{', ESC-10 only' if esc10_only else ''})"
            )
        rows = {}
        for record in chosen:
            wav = _resolve_audio(audio_folder, record["filename"], csv_path)
            try:
                if sample_rate is not None:
                    wav = _ensure_rate(wav, int(sample_rate), save_folder)
                info = sf.info(wav)
            except Exception as exc:  # any decoder error: this clip only
                logger.warning("ESC-50: skipping unreadable clip %s (%s)", wav, exc)
                skipped.append(wav)
                continue
            clip_id = os.path.splitext(record["filename"])[0]
            rows[clip_id] = {
                "wav": wav,
                "labels": [record["category"]],
                "category": record["category"],
                "target": record["target"],
                "fold": record["fold"],
                "esc10": record["esc10"],
                "src_file": record["src_file"],
                "take": record["take"],
                "duration": round(info.frames / info.samplerate, 6),
                "caption": f"the sound of {readable_label(record['category'])}",
            }
        if not rows:
            raise ValueError(f"ESC-50 {name}: no readable clip in folds {folds} ({csv_path})")
        rows_per_split[name] = rows
        logger.info("ESC-50 %s: %d clips (folds %s) -> %s", name, len(rows), folds, manifests[name])
    _warn_shared_recordings(records, splits)
    counts = {name: len(rows) for name, rows in rows_per_split.items()}
    if skipped:
        logger.warning("ESC-50: %d unreadable clips skipped: %s", len(skipped), skipped)
    write_prepared(fingerprint, config, rows_per_split, manifests,
                   {**counts, "skipped": skipped})


def _check_disjoint(splits: Dict[str, List[int]]) -> None:
    """Raises when two splits share a fold."""
    for first, second in itertools.combinations(splits, 2):
        shared = sorted(set(splits[first]) & set(splits[second]))
        if shared:
            raise ValueError(
                f"splits {first!r} and {second!r} share folds {shared}; "
                "ESC-50 splits must be fold-disjoint"
            )


def _read_csv(csv_path: str, esc10_only: bool) -> List[dict]:
    """Reads and checks ``esc50.csv`` into typed records."""
    try:
        records = _read_csv_rows(csv_path, esc10_only)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{csv_path}: not UTF-8 text ({exc}); save it as UTF-8") from exc
    if not records:
        which = " (ESC-10 only)" if esc10_only else ""
        raise ValueError(f"{csv_path}: no clips{which}")
    return records


def _read_csv_rows(csv_path: str, esc10_only: bool) -> List[dict]:
    """The CSV's records (``esc10_only``: ESC-10's), checked row by row."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{csv_path}: missing columns {missing}; header is {header}")
        if esc10_only and "esc10" not in header:
            raise ValueError(f"{csv_path}: esc10_only=True needs an 'esc10' column")
        records, first_line = [], {}
        for row in reader:
            where = f"{csv_path}, line {reader.line_num}"
            try:
                fold, target = int(row["fold"]), int(row["target"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: fold and target must be integers") from exc
            if not row["filename"] or not row["category"]:
                raise ValueError(f"{where}: empty filename or category")
            name = row["filename"].strip()
            if name in first_line:
                raise ValueError(
                    f"{where}: {name} is listed twice (first at line {first_line[name]}, "
                    f"this time as {row['category']!r}); one row per clip"
                )
            first_line[name] = reader.line_num
            esc10 = str(row.get("esc10", "")).strip().lower() == "true"
            if esc10_only and not esc10:
                continue
            records.append(
                {
                    "filename": name,
                    "fold": fold,
                    "target": target,
                    "category": row["category"].strip(),
                    "esc10": esc10,
                    "src_file": str(row.get("src_file", "")),
                    "take": str(row.get("take", "")),
                }
            )
    return records


def _resolve_audio(audio_folder: str, filename: str, csv_path: str) -> str:
    """The file for a CSV ``filename``, trying other audio extensions."""
    listed = os.path.join(audio_folder, filename)
    if os.path.isfile(listed):
        return listed
    stem = os.path.splitext(listed)[0]
    for ext in AUDIO_EXTENSIONS:
        if os.path.isfile(stem + ext):
            return stem + ext
    raise FileNotFoundError(
        f"audio file listed in {csv_path} not found: {listed} "
        f"(also tried {', '.join(os.path.basename(stem) + e for e in AUDIO_EXTENSIONS)})"
    )


def _ensure_rate(path: str, sample_rate: int, save_folder: str) -> str:
    """``path`` if it is at ``sample_rate``, else a resampled FLAC copy."""
    info = sf.info(path)
    if info.samplerate == sample_rate:
        return path
    out_dir = os.path.join(save_folder, f"audio_{sample_rate}Hz")
    out = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".flac")
    expected = int(round(info.frames * sample_rate / info.samplerate))
    if os.path.isfile(out):
        done = sf.info(out)
        if done.samplerate == sample_rate and abs(done.frames - expected) <= 1:
            return out
    from speechbrain_tclap.data.audio import read_audio  # only when resampling

    wav = read_audio(path, sample_rate, resample=True)
    os.makedirs(out_dir, exist_ok=True)
    tmp = out + ".tmp"
    sf.write(tmp, wav.clamp(-1.0, 1.0).numpy(), sample_rate, format="FLAC", subtype="PCM_16")
    os.replace(tmp, out)
    return out


def _warn_shared_recordings(records: List[dict], splits: Dict[str, List[int]]) -> None:
    """Warns when clips of one recording (``src_file``) fall in two splits."""
    split_of_fold = {fold: name for name, folds in splits.items() for fold in folds}
    seen: Dict[str, set] = {}
    for record in records:
        name = split_of_fold.get(record["fold"])
        if name is not None and record["src_file"]:
            seen.setdefault(record["src_file"], set()).add(name)
    leaking = sorted(src for src, names in seen.items() if len(names) > 1)
    if leaking:
        logger.warning(
            "%d recordings have clips in more than one split (e.g. src_file %s)",
            len(leaking),
            leaking[0],
        )

