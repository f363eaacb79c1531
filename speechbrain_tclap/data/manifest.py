"""Audio-caption manifests (CSV or JSON): loading with row-named errors, writing.

A manifest maps an id to a row with at least ``wav`` and ``caption`` (or a
``captions`` list), as SpeechBrain JSON (``{id: row}``, or a list of rows with
an ``id``) or SpeechBrain CSV (id in an ``ID`` or ``id`` column; ``events``,
``captions`` and ``labels`` cells hold JSON). A relative ``wav`` is read from
the manifest's folder, so a data folder moves as a whole. Every problem is a
:class:`ManifestError` naming the file, the row (CSV line, JSON id or index)
and what is wrong.

Authors
 * speechbrain-tclap developers 2026
"""

import csv
import json
import math
import os
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from speechbrain_tclap.data.captions import unicode_problem

#: Columns that hold JSON-encoded lists/dicts when stored in a CSV file.
JSON_FIELDS = ("events", "captions", "labels")

# "$name", "${name}" (SpeechBrain CSV) and "{name}" (SpeechBrain JSON).
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}|\$(\w+)|\{(\w+)\}")


class ManifestError(ValueError):
    """A manifest is unusable; the message names the file, the row and why.

    Arguments
    ---------
    path : str or os.PathLike
        The manifest file.
    problem : str
        What is wrong.
    row : str, optional
        Where: e.g. ``"line 3"`` or ``"row 'clip_7'"``.

    Example
    -------
    >>> print(ManifestError("train.csv", "empty caption", row="line 3"))
    train.csv, line 3: empty caption
    """

    def __init__(
        self, path: Union[str, os.PathLike], problem: str, row: Optional[str] = None
    ):
        self.path = str(path)
        self.row = row
        self.problem = problem
        where = self.path if row is None else f"{self.path}, {row}"
        super().__init__(f"{where}: {problem}")


def load_manifest(
    path: Union[str, os.PathLike],
    required: Sequence[str] = ("id", "wav", "caption"),
    replacements: Optional[Mapping[str, str]] = None,
) -> Dict[str, Dict[str, Any]]:
    """Loads a CSV or JSON manifest into ``{id: row}`` and validates it.

    Each row also holds its ``id``; ``duration`` becomes a float (finite,
    >= 0); a relative ``wav`` is joined to the manifest's folder. A non-empty
    ``captions`` list satisfies a required ``caption`` (its first entry fills
    it). Placeholders ``$name``, ``${name}`` and ``{name}`` are replaced from
    ``replacements`` as SpeechBrain does (unknown ones are left, except in
    ``wav``, where they are an error).

    Arguments
    ---------
    path : str or os.PathLike
        ``.csv`` or ``.json`` file.
    required : sequence of str
        Fields every row must have with a non-empty value.
    replacements : mapping, optional
        e.g. ``{"data_root": "/data/clotho"}``.

    Returns
    -------
    dict
        ``{id: row}`` in file order.

    Raises
    ------
    ManifestError
        On an unreadable file, missing column or value, blank caption,
        duplicate id, bad JSON cell or duration, unresolved ``wav``
        placeholder, or no rows.

    Example
    -------
    >>> path = getfixture("tmpdir") / "train.csv"
    >>> _ = path.write_text(
    ...     "ID,wav,caption,duration\\n"
    ...     "a,$data_root/a.flac,a dog barks,1.5\\n"
    ...     "b,$data_root/b.flac,rain falls,2.0\\n",
    ...     encoding="utf-8",
    ... )
    >>> rows = load_manifest(path, replacements={"data_root": "/data"})
    >>> rows["a"]["wav"], rows["a"]["caption"], rows["a"]["duration"]
    ('/data/a.flac', 'a dog barks', 1.5)
    >>> _ = path.write_text("ID,wav,caption\\na,clips/a.flac,a bell\\n", encoding="utf-8")
    >>> load_manifest(path)["a"]["wav"] == str(getfixture("tmpdir") / "clips" / "a.flac")
    True
    >>> _ = path.write_text("ID,wav,caption\\na,a.flac,  \\n", encoding="utf-8")
    >>> try:
    ...     load_manifest(path)
    ... except ManifestError as err:
    ...     print(err.row, "->", err.problem)
    line 2 -> empty or whitespace-only 'caption'
    """
    path = os.fspath(path)
    replacements = dict(replacements or {})
    if not os.path.isfile(path):
        raise ManifestError(path, "file not found")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".csv":
        located_rows = _read_csv(path, required)
    elif suffix == ".json":
        located_rows = _read_json(path)
    else:
        raise ManifestError(
            path, f"unknown manifest format {suffix!r} (expected .csv or .json)"
        )
    if not located_rows:
        raise ManifestError(path, "manifest has no rows")

    manifest: Dict[str, Dict[str, Any]] = {}
    first_seen: Dict[str, str] = {}
    for where, row in located_rows:
        row_id = row["id"]
        if row_id in manifest:
            raise ManifestError(
                path,
                f"duplicate id {row_id!r} (first seen at {first_seen[row_id]})",
                row=where,
            )
        _substitute(row, replacements)
        _validate_row(path, where, row, required)
        if isinstance(row.get("wav"), str):
            row["wav"] = os.path.join(os.path.dirname(os.path.abspath(path)), row["wav"])
        manifest[row_id] = row
        first_seen[row_id] = where
    return manifest


def check_audio_files(path: Union[str, os.PathLike], rows: Mapping[str, Mapping]) -> None:
    """Refuse a manifest whose ``wav`` files are missing, naming them.

    Arguments
    ---------
    path : str or os.PathLike
        The manifest (named in the error).
    rows : mapping
        ``{id: row}`` from :func:`load_manifest` (rows without ``wav`` are
        not checked).

    Raises
    ------
    ManifestError
        Naming the first missing file's row, and how many are missing.

    Example
    -------
    >>> try:
    ...     check_audio_files("m.json", {"a": {"wav": "/nowhere/a.wav"}})
    ... except ManifestError as err:
    ...     print(err)
    m.json, row 'a': audio file not found: /nowhere/a.wav (1 of 1 rows' files are missing; relative paths are read from the manifest's folder)
    """
    missing = [key for key, row in rows.items()
               if isinstance(row.get("wav"), str) and not os.path.isfile(row["wav"])]
    if missing:
        raise ManifestError(
            path,
            f"audio file not found: {rows[missing[0]]['wav']} ({len(missing)} of "
            f"{len(rows)} rows' files are missing; relative paths are read from "
            "the manifest's folder)",
            row=f"row {missing[0]!r}",
        )


def manifest_paths(
    folder: Union[str, os.PathLike], splits: Iterable[str]
) -> Dict[str, str]:
    """The manifests a preparation writes: ``<folder>/<split>.json`` per split.

    Every preparation names its outputs so, so a recipe runs it once on the
    main process (``run_on_main``) and then reads these known paths.

    Arguments
    ---------
    folder : str or os.PathLike
        The preparation's output folder (made absolute).
    splits : iterable of str
        Split names.

    Returns
    -------
    dict
        ``{split: absolute manifest path}``.

    Example
    -------
    >>> paths = manifest_paths("/data/prepared", ["train", "test"])
    >>> paths["test"]
    '/data/prepared/test.json'
    """
    folder = os.path.abspath(os.fspath(folder))
    return {str(split): os.path.join(folder, f"{split}.json") for split in splits}


def write_manifest(
    rows: Union[Mapping[str, Mapping[str, Any]], Iterable[Mapping[str, Any]]],
    path: Union[str, os.PathLike],
) -> None:
    """Writes a manifest as SpeechBrain JSON (``{id: row}``) or CSV.

    ``.csv`` writes an ``ID`` column and the union of the row fields (lists
    and dicts JSON-encoded); any other suffix writes JSON.

    Arguments
    ---------
    rows : mapping or iterable
        ``{id: row}``, or rows that each carry an ``id`` (not repeated in
        the output).
    path : str or os.PathLike
        Output file; parent folders are created.

    Example
    -------
    >>> rows = {"a": {"wav": "a.flac", "caption": "a bell", "events": []}}
    >>> json_path = getfixture("tmpdir") / "m.json"
    >>> write_manifest(rows, json_path)
    >>> load_manifest(json_path)["a"]["caption"]
    'a bell'
    >>> csv_path = getfixture("tmpdir") / "m.csv"
    >>> write_manifest(rows, csv_path)
    >>> print(csv_path.read_text(encoding="utf-8").strip())
    ID,wav,caption,events
    a,a.flac,a bell,[]
    >>> load_manifest(csv_path)["a"]["events"]
    []
    """
    path = os.fspath(path)
    if isinstance(rows, Mapping):
        items = [(str(k), dict(v)) for k, v in rows.items()]
    else:
        items = []
        for index, row in enumerate(rows):
            if "id" not in row:
                raise ValueError(f"row {index} has no 'id' (writing {path})")
            items.append((str(row["id"]), dict(row)))
    records = [(i, {k: v for k, v in row.items() if k != "id"}) for i, row in items]

    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if path.lower().endswith(".csv"):
        fields: List[str] = []
        for _, row in records:
            fields.extend(k for k in row if k not in fields)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["ID"] + fields)
            for row_id, row in records:
                writer.writerow(
                    [row_id] + [_csv_cell(row.get(k)) for k in fields]
                )
    else:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(records), f, indent=2, ensure_ascii=False)
            f.write("\n")


def _csv_cell(value: Any) -> str:
    """Encodes one CSV cell (JSON for containers)."""
    if value is None:
        return ""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _read_csv(path: str, required: Sequence[str]) -> List[tuple]:
    """Reads CSV rows as ``[(where, row)]``, the id moved to ``row['id']``."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, skipinitialspace=True)
            header = reader.fieldnames
            if not header:
                raise ManifestError(path, "empty file (no CSV header)")
            id_column = next((c for c in ("ID", "id") if c in header), None)
            if id_column is None:
                raise ManifestError(
                    path, f"missing id column ('ID' or 'id'); header is {header}"
                )
            for field in required:
                has_captions = field == "caption" and "captions" in header
                if field != "id" and field not in header and not has_captions:
                    raise ManifestError(
                        path, f"missing column {field!r}; header is {header}"
                    )
            out = []
            for row in reader:
                where = f"line {reader.line_num}"
                if None in row:
                    raise ManifestError(
                        path, "more cells than header columns", row=where
                    )
                row_id = row.pop(id_column)
                row = {k: v for k, v in row.items() if k not in ("ID", "id")}
                if row_id is None or not row_id.strip():
                    raise ManifestError(path, "missing value for 'id'", row=where)
                for key in JSON_FIELDS:
                    if key in row and row[key] not in (None, ""):
                        try:
                            row[key] = json.loads(row[key])
                        except json.JSONDecodeError as exc:
                            raise ManifestError(
                                path,
                                f"'{key}' is not valid JSON ({exc})",
                                row=where,
                            ) from exc
                out.append((where, {"id": row_id.strip(), **row}))
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise ManifestError(path, f"malformed CSV ({exc})") from exc
    return out


class _PairsDict(dict):
    """A dict that remembers keys which appeared more than once in the JSON."""

    def __init__(self, pairs):
        super().__init__()
        self.duplicates = []
        for key, value in pairs:
            if key in self:
                self.duplicates.append(key)
            self[key] = value


def _read_json(path: str) -> List[tuple]:
    """Reads JSON rows as ``[(where, row)]`` with the id in ``row['id']``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, object_pairs_hook=_PairsDict)
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"not UTF-8 text ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(path, f"not valid JSON ({exc})") from exc

    out = []
    if isinstance(data, dict):
        if data.duplicates:
            raise ManifestError(
                path,
                f"duplicate id {data.duplicates[0]!r}",
                row=f"row {data.duplicates[0]!r}",
            )
        for row_id, row in data.items():
            where = f"row {row_id!r}"
            row = _json_row(path, where, row)
            if "id" in row and str(row["id"]) != row_id:
                raise ManifestError(
                    path, f"'id' field {row['id']!r} differs from its key", row=where
                )
            out.append((where, {"id": row_id, **row}))
    elif isinstance(data, list):
        for index, row in enumerate(data):
            row = _json_row(path, f"row {index}", row)
            row_id = row.get("id")
            if row_id is None or not str(row_id).strip():
                raise ManifestError(path, "missing value for 'id'", row=f"row {index}")
            row["id"] = str(row_id).strip()
            out.append((f"row {index} (id {row['id']!r})", row))
    else:
        raise ManifestError(
            path,
            f"top level is a {type(data).__name__}; expected an object "
            "{id: row} or a list of rows",
        )
    return out


def _json_row(path: str, where: str, row: Any) -> Dict[str, Any]:
    """A JSON row as a plain dict; refuses a non-object or a repeated field name."""
    if not isinstance(row, dict):
        raise ManifestError(
            path, f"row is a {type(row).__name__}, expected an object", row=where
        )
    if getattr(row, "duplicates", None):
        raise ManifestError(path, f"duplicate field {row.duplicates[0]!r}", row=where)
    return _plain(row)


def _plain(value: Any) -> Any:
    """Converts nested ``_PairsDict`` objects back to plain dicts."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _substitute(value: Any, replacements: Mapping[str, str]) -> Any:
    """Replaces known placeholders in all strings of ``value``, in place."""
    if not replacements:
        return value

    def repl(match: "re.Match") -> str:
        name = next(g for g in match.groups() if g is not None)
        return str(replacements[name]) if name in replacements else match.group(0)

    if isinstance(value, (dict, list)):
        for key in list(value.keys() if isinstance(value, dict) else range(len(value))):
            item = value[key]
            if isinstance(item, str):
                value[key] = _PLACEHOLDER.sub(repl, item)
            else:
                _substitute(item, replacements)
    return value


def _is_missing(value: Any) -> bool:
    """None or the empty string."""
    return value is None or (isinstance(value, str) and value == "")


def _validate_row(
    path: str, where: str, row: Dict[str, Any], required: Sequence[str]
) -> None:
    """Checks required fields, captions, duration and the wav placeholder."""
    captions = row.get("captions")
    if captions is not None:
        if not isinstance(captions, list) or not captions:
            raise ManifestError(
                path, "'captions' must be a non-empty list of strings", row=where
            )
        for i, text in enumerate(captions):
            if not isinstance(text, str) or not text.strip():
                raise ManifestError(
                    path, f"empty or non-string caption at 'captions'[{i}]", row=where
                )
            problem = unicode_problem(text)
            if problem:
                raise ManifestError(path, f"'captions'[{i}]: {problem}", row=where)
        if _is_missing(row.get("caption")):
            row["caption"] = captions[0]

    if "caption" in row and row["caption"] is not None:
        if not isinstance(row["caption"], str) or not row["caption"].strip():
            raise ManifestError(path, "empty or whitespace-only 'caption'", row=where)
        problem = unicode_problem(row["caption"])
        if problem:
            raise ManifestError(path, f"'caption': {problem}", row=where)

    for field in required:
        if field == "id":
            continue  # guaranteed by the readers
        if field not in row:
            raise ManifestError(path, f"missing field {field!r}", row=where)
        if _is_missing(row[field]):
            raise ManifestError(path, f"missing value for {field!r}", row=where)

    if "duration" in row and not _is_missing(row["duration"]):
        try:
            row["duration"] = float(row["duration"])
        except (TypeError, ValueError) as exc:
            raise ManifestError(
                path, f"'duration' is not a number: {row['duration']!r}", row=where
            ) from exc
        if not math.isfinite(row["duration"]) or row["duration"] < 0:
            raise ManifestError(
                path, f"'duration' must be a finite number >= 0, got {row['duration']}",
                row=where,
            )

    wav = row.get("wav")
    if isinstance(wav, str):
        match = _PLACEHOLDER.search(wav)
        # a file whose name has braces or dollars is a file, not a placeholder
        exists = os.path.exists(wav) or os.path.exists(
            os.path.join(os.path.dirname(path), wav)
        )
        if match and not exists:
            name = next(g for g in match.groups() if g is not None)
            raise ManifestError(
                path,
                f"unresolved placeholder {match.group(0)!r} in 'wav' "
                f"(pass replacements={{{name!r}: ...}})",
                row=where,
            )
