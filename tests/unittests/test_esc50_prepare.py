"""Tests of the ESC-50 preparation (speechbrain_tclap/data/prepare/esc50.py).

A tiny ESC-50 layout (WAV, names as in the official CSV) is made in each
test; the real ESC-10 subset in FLAC is used when it is available.

Authors
 * speechbrain-tclap developers 2026
"""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechbrain_tclap.data.manifest import load_manifest
from speechbrain_tclap.data.prepare.esc50 import prepare_esc50

ROOT = Path(__file__).resolve().parents[2]
ESC10 = ROOT.parent / "shared" / "data" / "esc10"
CLASSES = ((0, "dog", True), (10, "rain", True), (12, "crackling_fire", True), (5, "cat", False))



def _layout(root, ext=".wav", rate=8000, folds=(1, 2, 3, 4, 5)):
    """Two takes of one recording per class and fold (they share the fold)."""
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    rng = np.random.default_rng(0)
    for fold in folds:
        for target, category, esc10 in CLASSES:
            src = 100 * fold + target
            for take in "AB":
                name = f"{fold}-{src}-{take}-{target}"
                data = (0.1 * rng.standard_normal(rate // 10)).astype("float32")
                sf.write(root / "audio" / (name + ext), data, rate)
                # The CSV always says .wav, as the official file does.
                lines.append(f"{name}.wav,{fold},{target},{category},{esc10},{src},{take}")
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    return root


def _check_splits(paths, expected_folds):
    """Fold sets per split as expected; no clip or recording in two splits."""
    ids, sources = {}, {}
    for split, path in paths.items():
        rows = load_manifest(path, required=("id", "wav", "caption"))
        folds = {row["fold"] for row in rows.values()}
        assert folds == set(expected_folds[split]), split
        ids[split] = set(rows)
        sources[split] = {row["src_file"] for row in rows.values()}
        for row in rows.values():
            assert os.path.isfile(row["wav"])
            assert row["labels"] == [row["category"]]
    names = list(paths)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert not ids[first] & ids[second]
            assert not sources[first] & sources[second]
    return ids


def test_fake_layout_counts_fields_and_fold_disjointness(tmp_path):
    data = _layout(tmp_path / "esc50")
    paths = prepare_esc50(data, tmp_path / "out", [1, 2, 3], [4], [5])
    assert sorted(paths) == ["test", "train", "valid"]
    ids = _check_splits(paths, {"train": [1, 2, 3], "valid": [4], "test": [5]})
    per_fold = len(CLASSES) * 2
    assert [len(ids[s]) for s in ("train", "valid", "test")] == [3 * per_fold, per_fold, per_fold]
    rows = json.loads(Path(paths["valid"]).read_text())
    row = rows["4-412-A-12"]
    assert row == {
        "wav": str(data / "audio" / "4-412-A-12.wav"),
        "labels": ["crackling_fire"],
        "category": "crackling_fire",
        "target": 12,
        "fold": 4,
        "esc10": True,
        "src_file": "412",
        "take": "A",
        "duration": 0.1,
        "caption": "the sound of crackling fire",
    }


def test_esc10_only_and_empty_splits(tmp_path):
    data = _layout(tmp_path / "esc50")
    paths = prepare_esc50(data, tmp_path / "out", [1, 2], None, [3], esc10_only=True)
    assert sorted(paths) == ["test", "train"]
    rows = load_manifest(paths["train"], required=("id", "wav"))
    assert len(rows) == 2 * 3 * 2 and {r["category"] for r in rows.values()} == {"dog", "rain", "crackling_fire"}
    with pytest.raises(ValueError, match=r"share folds \[3\]"):
        prepare_esc50(data, tmp_path / "bad", [1, 2, 3], [3], [4])
    with pytest.raises(ValueError, match=r"no clips in folds \[9\].*has folds \[1, 2, 3, 4, 5\]"):
        prepare_esc50(data, tmp_path / "bad", [1], [2], [9])


def test_idempotent_and_redone_when_arguments_change(tmp_path):
    data = _layout(tmp_path / "esc50")
    paths = prepare_esc50(data, tmp_path / "out", [1, 2, 3], [4], [5])
    stamps = {s: os.stat(p).st_mtime_ns for s, p in paths.items()}
    os.utime(paths["train"], ns=(1, 1))  # a rewrite would change it again
    assert prepare_esc50(data, tmp_path / "out", [1, 2, 3], [4], [5]) == paths
    assert os.stat(paths["train"]).st_mtime_ns == 1
    assert os.stat(paths["test"]).st_mtime_ns == stamps["test"]
    again = prepare_esc50(data, tmp_path / "out", [1, 2], [3], [4, 5])
    assert os.stat(again["train"]).st_mtime_ns != 1
    assert {r["fold"] for r in load_manifest(again["test"], required=("id", "wav")).values()} == {4, 5}
    # skip_prep returns the paths without reading anything.
    assert prepare_esc50(tmp_path / "nowhere", tmp_path / "out", [1, 2], [3], [4, 5], skip_prep=True) == again


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"meta/esc50\.csv"):
        prepare_esc50(tmp_path / "empty", tmp_path / "out")
    data = _layout(tmp_path / "esc50")
    os.remove(data / "audio" / "2-210-B-10.wav")
    with pytest.raises(FileNotFoundError, match=r"2-210-B-10\.wav"):
        prepare_esc50(data, tmp_path / "out", [1, 2], [3], [4])
    (data / "meta" / "esc50.csv").write_text("filename,fold\nx.wav,1\n")
    with pytest.raises(ValueError, match=r"missing columns \['target', 'category'\]"):
        prepare_esc50(data, tmp_path / "out")


def test_flac_layout_and_resampling(tmp_path):
    data = _layout(tmp_path / "esc50", ext=".flac", folds=(1, 2))
    paths = prepare_esc50(data, tmp_path / "out", [1], [2], None)
    rows = load_manifest(paths["train"], required=("id", "wav"))
    assert all(r["wav"].endswith(".flac") for r in rows.values())
    resampled = prepare_esc50(data, tmp_path / "out16", [1], [2], None, sample_rate=16000)
    rows = load_manifest(resampled["valid"], required=("id", "wav"))
    for row in rows.values():
        info = sf.info(row["wav"])
        assert info.samplerate == 16000 and info.frames == 1600
        assert row["wav"].startswith(str(tmp_path / "out16" / "audio_16000Hz"))
        assert row["duration"] == 0.1
    # Files already at the requested rate are used in place.
    same = prepare_esc50(data, tmp_path / "out8", [1], [2], None, sample_rate=8000)
    assert all(r["wav"].startswith(str(data)) for r in load_manifest(same["train"], required=("id", "wav")).values())


@pytest.mark.skipif(not (ESC10 / "meta" / "esc50.csv").is_file(), reason="ESC-10 data not available")
def test_real_esc10_flac(tmp_path):
    with open(ESC10 / "meta" / "esc50.csv", newline="") as f:
        listed = list(csv.DictReader(f))
    per_fold = {}
    for row in listed:
        per_fold[int(row["fold"])] = per_fold.get(int(row["fold"]), 0) + 1
    paths = prepare_esc50(ESC10, tmp_path, [1, 2], [3], [4], esc10_only=True)
    ids = _check_splits(paths, {"train": [1, 2], "valid": [3], "test": [4]})
    assert len(ids["train"]) == per_fold[1] + per_fold[2]
    assert (len(ids["valid"]), len(ids["test"])) == (per_fold[3], per_fold[4])
    rows = load_manifest(paths["test"], required=("id", "wav"))
    assert {r["duration"] for r in rows.values()} == {5.0}
    assert len({r["category"] for r in rows.values()}) == 10
    with pytest.raises(ValueError, match=r"no clips in folds \[5\]"):
        prepare_esc50(ESC10, tmp_path / "f5", [1, 2, 3], [4], [5])
