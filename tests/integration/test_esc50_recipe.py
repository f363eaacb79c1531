"""The ESC-50 CLAP/T-CLAP recipe runs end to end on the shared ESC-10 copy.

Skipped when ``../shared/data/esc10`` is absent (a user's clone has no data).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ESC10 = ROOT.parent / "shared" / "data" / "esc10"


HAS_MINILM = importlib.util.find_spec("all_minilm_l6_v2") is not None


@pytest.mark.skipif(not (ESC10 / "meta" / "esc50.csv").is_file(), reason="ESC-10 data absent")
@pytest.mark.parametrize("hparams", [
    "tclap.yaml",
    "tclap_cnn.yaml",
    # a Hugging Face tokenizer in the checkpoints (SentencePiece above)
    pytest.param("tclap_minilm.yaml", marks=pytest.mark.skipif(
        not HAS_MINILM, reason="the minilm extra is not installed")),
])
def test_tclap_recipe_on_esc10_folds(tmp_path, hparams):
    results = _run_recipe(tmp_path, hparams)
    _check_tclap_run(tmp_path, hparams, results)


def _run_recipe(tmp_path, hparams, **overrides):
    """Train one epoch on fold 1, test on fold 4; ``results.json``."""
    settings = {
        "data_folder": ESC10,
        "esc10_only": True,
        "train_folds": "[1]",
        "valid_folds": "[3]",
        "test_folds": "[4]",
        "num_train_pairs": 48,
        "num_valid_pairs": 16,
        "num_test_pairs": 32,
        "number_of_epochs": 1,
        "batch_size": 16,
        "output_folder": tmp_path / "out",
        "prepared_folder": tmp_path / "prepared",
        "device": "cpu",
        **overrides,
    }
    cmd = [
        sys.executable,
        str(ROOT / "recipes" / "ESC50" / "CLAP" / "train.py"),
        str(ROOT / "recipes" / "ESC50" / "CLAP" / "hparams" / hparams),
        "--noprogressbar",
        *(f"--{key}={value}" for key, value in settings.items()),
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((tmp_path / "out" / "results.json").read_text())


def _check_tclap_run(tmp_path, hparams, results):
    metrics = results["metrics"]
    # Fold-4 single clips feed zero-shot accuracy, fold-4 pairs T-Classify.
    assert metrics["zero_shot_n"] == 80 and metrics["zero_shot_classes"] == 10
    assert metrics["tclassify_n"] == 32 and results["chance"]["tclassify_binary"] == 0.5
    # judged on held-out words too, with chance levels
    for key in ("zero_shot_paraphrase_acc", "tclassify_binary_heldout"):
        assert 0.0 <= metrics[key] <= 1.0 and key in results["chance"]
    assert -1.0 <= metrics["text_order_cosine"] <= 1.0 and "text_order_cosine_init" in metrics
    if hparams == "tclap.yaml":  # the frame-score picture beside MGA-CLAP's
        for key in ("grounding_psds1", "grounding_order_acc", "sed_psds1"):
            assert 0.0 <= metrics[key] <= 1.0 and key in results["chance"], key
    manifests = {
        split: json.loads((tmp_path / "out" / "save" / f"{split}_mixed.json").read_text())
        for split in ("train", "test")
    }
    folds = {
        split: {row["fold"] for row in rows.values() if "fold" in row}
        | {row[k]["fold"] for row in rows.values() for k in ("a", "b") if k in row}
        for split, rows in manifests.items()
    }
    assert folds["train"] == {1} and folds["test"] == {4}
    # single_clip_repeats (3 in the YAML): each training clip thrice, test clips once.
    singles = {
        split: [row for row in rows.values() if "wav" in row] for split, rows in manifests.items()
    }
    assert len(singles["train"]) == 3 * 80 and len(singles["test"]) == 80
    if hparams == "tclap_minilm.yaml":
        # The export classifies labels no caption held, through the interface.
        from speechbrain_tclap.inference import CLAP

        model = CLAP.from_hparams(source=str(tmp_path / "out" / "pretrained"),
                                  savedir=str(tmp_path / "interface"))
        files = sorted(str(p) for p in (ESC10 / "audio").glob("4-*.flac"))[:2]
        labels = ["a canine barking", "a chopper flying overhead", "waves on a beach"]
        probs, predicted = model.classify_zero_shot(files, labels)
        assert probs.shape == (2, 3) and set(predicted) <= set(labels)
    log = (tmp_path / "out" / "log.txt").read_text()
    # (240 + 48) / 16 steps; the decay cannot end before the 60 warm-up steps.
    assert "lr schedule: 18 per epoch x 1 epochs, decay ends at step 61" in log


@pytest.mark.skipif(not (ESC10 / "meta" / "esc50.csv").is_file(), reason="ESC-10 data absent")
def test_class_disjoint_zero_shot(tmp_path):
    """--train_classes: train on 7 classes, test the clips of the other 3
    among all 10 labels, and among their own 3."""
    seen = ["dog", "rooster", "rain", "sea_waves", "crackling_fire", "crying_baby", "sneezing"]
    results = _run_recipe(tmp_path, "tclap_cnn.yaml", train_classes=f"[{','.join(seen)}]",
                          num_test_pairs=24, valid_folds="[]", test_checkpoint="last")
    metrics, chance = results["metrics"], results["chance"]
    # fold 4 holds 8 clips of each unseen class; every label is a candidate
    assert metrics["zero_shot_n"] == 24 and metrics["zero_shot_classes"] == 10
    assert metrics["zero_shot_present_classes"] == 3
    assert chance["zero_shot_present_acc"] == pytest.approx(1 / 3)
    assert 0.0 <= metrics["zero_shot_present_acc"] <= 1.0
    train = json.loads((tmp_path / "out" / "save" / "train_classes.json").read_text())
    test = json.loads((tmp_path / "out" / "save" / "test_classes.json").read_text())
    assert {lab for row in train.values() for lab in row["labels"]} == set(seen)
    assert {lab for row in test.values() for lab in row["labels"]} == {
        "chainsaw", "clock_tick", "helicopter"}


@pytest.mark.skipif(not (ESC10 / "meta" / "esc50.csv").is_file(), reason="ESC-10 data absent")
def test_teminal_stage_b_with_mgaclap_grounds_the_test_pairs(tmp_path):
    """mga_teminal_b.yaml: TeminAL's triplets on MGA-CLAP's model, from random
    weights; SED and grounding run on the test fold's "A before B" pairs."""
    results = _run_recipe(tmp_path, "mga_teminal_b.yaml", zste_pairs=10, zste_seeds="[0]")
    metrics, chance = results["metrics"], results["chance"]
    for key in ("tclassify_binary", "zste3_acc", "sed_psds1", "grounding_psds1",
                "grounding_event_f1", "grounding_order_acc"):
        assert key in metrics and key in chance, key
    assert metrics["tclassify_n"] == 32
    # one picture per plotted test pair; pairs only (no single clips)
    pictures = sorted(p.name for p in (tmp_path / "out" / "frame_scores").glob("test-*.png"))
    assert len(pictures) == 4 and all("__" in name for name in pictures)
    test_rows = json.loads((tmp_path / "out" / "save" / "test_pairs.json").read_text())
    assert len(test_rows) == 32 and all("a" in row and "b" in row for row in test_rows.values())
    log = (tmp_path / "out" / "train_log.txt").read_text()
    assert "train skipped: 0" in log
