"""Shared helpers of the dataset preparations (AudioCaps, Clotho, ESC-50).

Caption CSVs read with errors naming the file and line
(:func:`read_caption_csv`), an index of an audio folder by file name or stem
(:class:`AudioIndex`), header info (:func:`audio_info`), and the idempotence
fingerprint (:func:`prepared_manifests`, :func:`write_prepared`).

Authors
 * speechbrain-tclap developers 2026
"""

import csv
import hashlib
import json
import os
import unicodedata
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import soundfile as sf

from speechbrain_tclap.data.manifest import ManifestError, write_manifest

#: Audio file extensions the preparations look for.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def read_caption_csv(
    path: Union[str, os.PathLike], required: Sequence[str]
) -> List[Tuple[int, Dict[str, str]]]:
    """Reads a caption CSV into ``[(line number, row)]``.

    Values are stripped; a UTF-8 BOM and blank lines are ignored.

    Arguments
    ---------
    path : str or os.PathLike
        The CSV file (header row first).
    required : sequence of str
        Columns that must exist and be non-empty in every row.

    Returns
    -------
    list of tuple
        ``(line number of the row's last line, {column: value})``.

    Raises
    ------
    ManifestError
        Naming the file and line: missing file or column, wrong cell count,
        empty required value, malformed quoting, non-UTF-8 text.

    Example
    -------
    >>> path = getfixture("tmpdir") / "captions.csv"
    >>> _ = path.write('file_name,caption_1\\na.wav,"rain, then wind"\\n')
    >>> read_caption_csv(path, ["file_name", "caption_1"])
    [(2, {'file_name': 'a.wav', 'caption_1': 'rain, then wind'})]
    >>> _ = path.write("file_name,caption_1\\na.wav,x,y\\n")
    >>> try:
    ...     read_caption_csv(path, ["file_name"])
    ... except ManifestError as err:
    ...     print(err.row, "->", err.problem)
    line 2 -> 3 cells, the header has 2 columns
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ManifestError(path, "file not found")
    rows: List[Tuple[int, Dict[str, str]]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, strict=True)
            header = next(reader, None)
            if not header:
                raise ManifestError(path, "empty file (no CSV header)")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise ManifestError(
                    path,
                    f"missing column(s) {missing}; header is {header}",
                    row="line 1",
                )
            for cells in reader:
                where = f"line {reader.line_num}"
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    raise ManifestError(
                        path,
                        f"{len(cells)} cells, the header has {len(header)} columns",
                        row=where,
                    )
                row = {h: c.strip() for h, c in zip(header, cells)}
                for column in required:
                    if not row[column]:
                        raise ManifestError(
                            path, f"empty value for {column!r}", row=where
                        )
                rows.append((reader.line_num, row))
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise ManifestError(
            path, f"malformed CSV ({exc})", row=f"line {reader.line_num}"
        ) from exc
    return rows


def _nfc(name: str) -> str:
    """NFC form of a name (NFC and NFD file names then match)."""
    return unicodedata.normalize("NFC", name)


class AudioIndex:
    """Audio files under a folder, found by file name or by stem (NFC/NFD alike).

    Arguments
    ---------
    root : str or os.PathLike
        Folder walked recursively (a missing folder gives an empty index).
    extensions : sequence of str
        Accepted extensions (lower case, with the dot).

    Example
    -------
    >>> root = getfixture("tmpdir")
    >>> _ = (root / "train").mkdir()
    >>> _ = (root / "train" / "Yabc.wav").write_binary(b"x")
    >>> index = AudioIndex(root)
    >>> os.path.basename(index.find(["abc", "Yabc"]))
    'Yabc.wav'
    >>> index.find(["Yabc.flac"]) is None
    True
    """

    def __init__(
        self,
        root: Union[str, os.PathLike],
        extensions: Sequence[str] = AUDIO_EXTENSIONS,
    ):
        self.root = os.path.abspath(os.fspath(root))
        self.extensions = tuple(e.lower() for e in extensions)
        self._by_name: Dict[str, List[str]] = {}
        self._files: List[Tuple[str, int]] = []
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            for name in sorted(files):
                stem, ext = os.path.splitext(name)
                if ext.lower() not in self.extensions:
                    continue
                path = os.path.join(folder, name)
                self._files.append(
                    (os.path.relpath(path, self.root), os.path.getsize(path))
                )
                for key in {_nfc(name), _nfc(stem)}:
                    self._by_name.setdefault(key, []).append(path)

    def __len__(self) -> int:
        return len(self._files)

    def find(
        self, names: Sequence[str], prefer: Optional[str] = None
    ) -> Optional[str]:
        """First file matching one of ``names`` (tried in order).

        Arguments
        ---------
        names : sequence of str
            File names (with extension) or stems.
        prefer : str, optional
            A sub-folder of the root (e.g. the split) whose files win.

        Returns
        -------
        str or None
            Absolute path.
        """
        for name in names:
            paths = self._by_name.get(_nfc(name))
            if not paths:
                continue
            if prefer is not None:
                folder = os.path.join(self.root, prefer) + os.sep
                preferred = [p for p in paths if p.startswith(folder)]
                if preferred:
                    return preferred[0]
            return paths[0]
        return None

    def signature(self) -> str:
        """Digest of the relative paths and sizes of all indexed files.

        Returns
        -------
        str
            SHA-256 hex digest.
        """
        return hashlib.sha256(json.dumps(self._files).encode()).hexdigest()


def audio_info(path: str) -> Tuple[float, int]:
    """Duration (seconds) and sample rate read from an audio file's header.

    Arguments
    ---------
    path : str
        Audio file.

    Returns
    -------
    tuple
        ``(duration, sample_rate)``.

    Raises
    ------
    ValueError
        When the file cannot be decoded or holds no samples.

    Example
    -------
    >>> import numpy
    >>> path = str(getfixture("tmpdir") / "a.wav")
    >>> sf.write(path, numpy.zeros(8000, "float32"), 16000)
    >>> audio_info(path)
    (0.5, 16000)
    """
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise ValueError(f"{path}: cannot decode audio ({exc})") from exc
    if info.frames <= 0:
        raise ValueError(f"{path}: no samples")
    return info.frames / info.samplerate, int(info.samplerate)


def file_signature(path: str) -> List[Any]:
    """``[name, size, mtime_ns]`` of a file, for fingerprints.

    Arguments
    ---------
    path : str
        A file.

    Returns
    -------
    list
        Name, size in bytes and modification time in ns.

    Example
    -------
    >>> path = getfixture("tmpdir") / "x.csv"
    >>> _ = path.write("a")
    >>> file_signature(str(path))[:2]
    ['x.csv', 1]
    """
    stat = os.stat(path)
    return [os.path.basename(path), stat.st_size, stat.st_mtime_ns]


def prepared_manifests(
    fingerprint_path: str,
    config: Mapping[str, Any],
    manifests: Mapping[str, str],
) -> bool:
    """Whether an earlier preparation with the same fingerprint is complete.

    Arguments
    ---------
    fingerprint_path : str
        JSON file written by :func:`write_prepared`.
    config : mapping
        JSON-serialisable description of the inputs and options.
    manifests : mapping
        ``{split: manifest path}`` that must all exist.

    Returns
    -------
    bool
        True when nothing needs to be done.

    Example
    -------
    >>> prepared_manifests("/nonexistent/fp.json", {}, {})
    False
    """
    try:
        with open(fingerprint_path, encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError):
        return False
    same = previous.get("config") == json.loads(json.dumps(config))
    return same and all(os.path.isfile(p) for p in manifests.values())


def write_prepared(
    fingerprint_path: str,
    config: Mapping[str, Any],
    rows_per_split: Mapping[str, Mapping[str, Mapping[str, Any]]],
    manifests: Mapping[str, str],
    stats: Mapping[str, Any],
) -> None:
    """Writes the manifests (each atomically), then the fingerprint (so an
    interrupted run leaves none and the next one starts over).

    Arguments
    ---------
    fingerprint_path : str
        Where the fingerprint goes.
    config : mapping
        The fingerprint content (see :func:`prepared_manifests`).
    rows_per_split : mapping
        ``{split: {id: row}}``.
    manifests : mapping
        ``{split: manifest path}`` (JSON).
    stats : mapping
        Counts stored next to the fingerprint for reference.

    Example
    -------
    >>> tmp = getfixture("tmpdir")
    >>> paths = {"val": str(tmp / "val.json")}
    >>> write_prepared(str(tmp / "fp.json"), {"v": 1},
    ...     {"val": {"a": {"wav": "a.wav", "caption": "x"}}}, paths, {})
    >>> prepared_manifests(str(tmp / "fp.json"), {"v": 1}, paths)
    True
    """
    if os.path.exists(fingerprint_path):
        os.remove(fingerprint_path)
    for split, rows in rows_per_split.items():
        path = manifests[split]
        tmp = f"{path}.tmp"
        write_manifest(rows, tmp)
        os.replace(tmp, path)
    with open(fingerprint_path, "w", encoding="utf-8") as f:
        json.dump(
            {"config": config, "stats": stats}, f, indent=2, ensure_ascii=False
        )
        f.write("\n")


class SplitTally:
    """What one split of a caption corpus keeps and skips, and its log lines.

    Arguments
    ---------
    corpus, split : str
        Names for the log and the errors.
    num_clips : int
        Clips the split's CSV lists.

    Example
    -------
    >>> import logging
    >>> tally = SplitTally("X", "test", 2)
    >>> tally.missing.append("c2")
    >>> tally.duration("c3.wav", 16000), tally.counts["unreadable"]
    (None, 1)
    >>> rows = {"c1": {"captions": ["a dog", "a dog barks"]}}
    >>> counts = tally.finish(logging.getLogger(), rows, "x.csv has audio under .")
    >>> counts["written"], counts["missing"], counts["captions"]
    (1, 1, 2)
    """

    def __init__(self, corpus: str, split: str, num_clips: int):
        self.corpus, self.split, self.num_clips = corpus, split, num_clips
        self.counts: Counter = Counter(clips=num_clips)
        self.missing: List[str] = []  # clips without an audio file
        self.problems: List[str] = []  # one line per skipped clip

    def skip(self, reason: str, problem: str) -> None:
        """Count a skipped clip under ``reason`` and note ``problem`` (names the file)."""
        self.counts[reason] += 1
        self.problems.append(problem)

    def duration(self, path: str, sample_rate: Optional[int]) -> Optional[float]:
        """Seconds of audio in ``path``, or ``None`` for a clip skipped as
        ``unreadable`` or ``wrong_rate`` (``sample_rate`` None accepts any)."""
        try:
            duration, rate = audio_info(path)
        except ValueError as err:
            self.skip("unreadable", str(err))
            return None
        if sample_rate is not None and rate != int(sample_rate):
            self.skip("wrong_rate", f"{path}: {rate} Hz, expected {sample_rate} Hz")
            return None
        return duration

    def finish(self, log, rows: Mapping, no_audio: str, extra: str = "") -> Counter:
        """Count and log what the split wrote and skipped; refuse an empty split.

        Arguments
        ---------
        log : logging.Logger
            Where the counts and the first skipped clips are logged.
        rows : mapping
            The manifest rows written (each with ``captions``).
        no_audio : str
            Ends the error when no clip has audio ("none of the N clips of ...").
        extra : str
            More skip counts for the warning (e.g. ``", ambiguous file 2"``).

        Returns
        -------
        collections.Counter
            The split's counts (for the fingerprint).
        """
        counts, split, corpus = self.counts, self.split, self.corpus
        counts["missing"] = len(self.missing)
        counts["written"] = len(rows)
        counts["captions"] = sum(len(r["captions"]) for r in rows.values())
        if self.missing:
            log.warning(
                "%s %s: %d of %d clips have no audio file and are skipped (e.g. %s).",
                corpus, split, len(self.missing), self.num_clips,
                ", ".join(self.missing[:5]),
            )
        if self.problems:
            log.warning(
                "%s %s: %d clips skipped (unreadable %d, wrong sample rate %d%s), e.g. %s",
                corpus, split, len(self.problems), counts["unreadable"],
                counts["wrong_rate"], extra, "; ".join(self.problems[:3]),
            )
        log.info(
            "%s %s: %d clips, %d captions written.",
            corpus, split, len(rows), counts["captions"],
        )
        if not rows:
            raise ValueError(
                f"{corpus} split {split!r}: none of the {self.num_clips} clips of "
                f"{no_audio}"
            )
        return counts


def write_splits(
    config: dict, manifests: Mapping[str, str], prepare_split, *,
    save_folder: str, corpus: str, fingerprint_name: str, log,
) -> None:
    """Writes every split's manifest unless the fingerprint says they are current.

    Arguments
    ---------
    config : dict
        The options the manifests depend on (see :func:`prepared_manifests`).
    manifests : mapping
        Split -> manifest path.
    prepare_split : callable
        ``split -> (rows, counts)``; the counts go into the fingerprint.
    save_folder : str
        Folder of the manifests and the fingerprint.
    corpus : str
        The dataset's name, for the log.
    fingerprint_name : str
        File name of the fingerprint in ``save_folder``.
    log : logging.Logger
        Where "up to date" is logged.

    Example
    -------
    >>> import logging
    >>> tmp = getfixture("tmpdir")
    >>> rows = {"c1": {"wav": "c1.wav", "duration": 1.0, "captions": ["a dog"]}}
    >>> write_splits({"v": 1}, {"test": str(tmp / "test.json")},
    ...              lambda s: (rows, {"written": 1}), save_folder=str(tmp),
    ...              corpus="X", fingerprint_name="fingerprint.json",
    ...              log=logging.getLogger())
    >>> sorted(p.basename for p in tmp.listdir())
    ['fingerprint.json', 'test.json']
    """
    fingerprint = os.path.join(save_folder, fingerprint_name)
    if prepared_manifests(fingerprint, config, manifests):
        log.info("%s manifests in %s are up to date; skipping.", corpus, save_folder)
        return
    rows_per_split, stats = {}, {}
    for split in manifests:
        rows_per_split[split], counts = prepare_split(split)
        stats[split] = dict(counts)
    os.makedirs(save_folder, exist_ok=True)
    write_prepared(fingerprint, config, rows_per_split, manifests, stats)
