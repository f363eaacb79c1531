"""The synthetic MGA-CLAP recipe trains, evaluates SED / grounding and exports
(small settings, CPU, well under 90 s); the exported interface locates a
caption in time. The T-CLAP + MGA-CLAP composition (``mga_tclap.yaml``) and
its TeminAL stage-B variant (``mga_teminal_b.yaml``) train and report both
kinds of figures in one test stage."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "recipes" / "Synthetic" / "CLAP" / "train.py"
HPARAMS = ROOT / "recipes" / "Synthetic" / "CLAP" / "hparams" / "mgaclap.yaml"


def _train(tmp_path_factory, hparams, name, **overrides):
    work = tmp_path_factory.mktemp(name)
    out = work / "out"
    cmd = [
        sys.executable, str(TRAIN), str(hparams),
        f"--output_folder={out}", f"--data_folder={work / 'data'}",
        "--number_of_epochs=1", "--batch_size=16", "--sed_valid_clips=8",
        "--sed_num_thresholds=10", "--noprogressbar", "--device=cpu",
    ]
    sizes = {"num_train_clips": 48, "num_valid_clips": 16, "num_test_clips": 24, **overrides}
    cmd += [f"--{key}={value}" for key, value in sizes.items()]
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.setdefault("OMP_NUM_THREADS", "2")
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _train(tmp_path_factory, HPARAMS, "mgaclap_recipe")


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    return _train(tmp_path_factory, HPARAMS.with_name("mga_tclap.yaml"), "mga_tclap_recipe")


def test_combined_model_reports_order_frames_and_temporal_grounding(combined):
    results = json.loads((combined / "results.json").read_text())
    metrics, chance = results["metrics"], results["chance"]
    for key in ("tclassify_binary", "tclassify_nway", "zero_shot_acc", "t2a_R@1",
                "sed_psds1", "grounding_psds1", "grounding_event_f1", "grounding_order_acc"):
        assert key in metrics, key
    assert 0.0 <= metrics["grounding_order_acc"] <= 1.0
    assert abs(chance["grounding_order_acc"] - 0.5) < 0.15  # random frame scores

    from speechbrain_tclap.inference import CLAP

    clap = CLAP.from_hparams(source=str(combined / "pretrained"), savedir=str(combined / "loaded"))
    model = clap.model
    assert model.has_codebook and model.audio_pooling is not None and model.text_pooling is not None


def test_teminal_stage_b_variant_trains_on_triplets_and_reports_frames(tmp_path_factory):
    out = _train(
        tmp_path_factory, HPARAMS.with_name("mga_teminal_b.yaml"), "mga_teminal_b_recipe",
        # enough single-event clips for the pairs
        num_train_clips=96, num_valid_clips=40, num_test_clips=40,
        num_train_pairs=32, num_valid_pairs=8, num_test_pairs=8,
    )
    results = json.loads((out / "results.json").read_text())
    for key in ("tclassify_binary", "grounding_psds1", "grounding_order_acc", "sed_psds1"):
        assert key in results["metrics"], key
    log = (out / "train_log.txt").read_text()
    assert "train loss" in log and "train skipped: 0" in log  # the triplets trained


def test_results_hold_sed_and_grounding_with_chance(run):
    results = json.loads((run / "results.json").read_text())
    metrics, chance = results["metrics"], results["chance"]
    for prefix in ("sed", "grounding"):
        for name in ("frame_f1", "event_f1", "intersection_f1", "psds1", "psds2"):
            key = f"{prefix}_{name}"
            assert 0.0 <= metrics[key] <= 1.0 and key in chance, key
    assert "t2a_R@1" in metrics
    log = (run / "train_log.txt").read_text()
    assert "valid sed_event_f1" in log and "valid sed_psds1" not in log  # PSDS at test only
    assert len(list((run / "frame_scores").glob("test-*.png"))) == 4


def test_exported_interface_locates_captions(run):
    from speechbrain_tclap.data.manifest import load_manifest
    from speechbrain_tclap.inference import CLAP

    clap = CLAP.from_hparams(source=str(run / "pretrained"), savedir=str(run / "loaded"))
    assert clap.model.has_codebook and clap.model.audio_encoder.locality_aware
    row = next(iter(load_manifest(str(run.parent / "data" / "test.json")).values()))
    labels = [e["label"].replace("_", " ") for e in row["events"]]
    scores = clap.frame_scores(row["wav"], labels)
    assert scores.scores.shape[-1] == len(labels) and float(scores.times[0]) > 0
    events = clap.detect_events(row["wav"], labels, threshold=float(scores.scores.median()))
    assert all(0.0 <= e["onset"] < e["offset"] <= 2.5 + 1e-6 for e in events[0])
    picture = clap.plot_frame_scores(row["wav"], labels, str(run / "picture.png"),
                                     events=[dict(e, label=lab) for e, lab in zip(row["events"], labels)])
    assert picture and Path(picture).stat().st_size > 0
