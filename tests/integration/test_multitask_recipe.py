"""The multi-task recipe end to end on tiny fake ESC-50 and FSDD copies.

ESC-50 layout (3 classes, folds 1-4), FSDD with its ``metadata.csv`` split,
and a few generated sound-event clips; one short epoch. Checks the per-task
validation metrics, the exported encoder and that a CLAP recipe's model
loads it (``init_weights``). (That every key of the YAML is used:
``tests/unittests/test_recipe_conventions.py``.)

Authors
 * speechbrain-tclap developers 2026
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.recipe import init_weights

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "MultiTask" / "Encoder"
YAML = RECIPE / "hparams" / "htsat_multitask.yaml"
RATE = 16000


def fake_data(root):
    rng = np.random.default_rng(0)
    esc = root / "esc10"
    (esc / "audio").mkdir(parents=True)
    (esc / "meta").mkdir()
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in (1, 2, 3, 4):
        for target, category in ((0, "dog"), (10, "rain"), (41, "chainsaw")):
            name = f"{fold}-{target}{fold}-A-{target}.flac"
            sf.write(str(esc / "audio" / name), 0.1 * rng.standard_normal(RATE * 3), RATE)
            lines.append(f"{name},{fold},{target},{category},True,{target}{fold},A")
    (esc / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    fsdd = root / "fsdd"
    (fsdd / "audio").mkdir(parents=True)
    rows = ["filename,label,digit,speaker,split"]
    for digit, word in enumerate(("zero", "one")):
        for index in (0, 1, 5, 6, 7):
            name = f"audio/{digit}_theo_{index}.flac"
            sf.write(str(fsdd / name), 0.1 * rng.standard_normal(RATE // 2), RATE)
            rows.append(f"{name},{word},{digit},theo,{'test' if index < 5 else 'train'}")
    (fsdd / "metadata.csv").write_text("\n".join(rows) + "\n")
    return esc, fsdd


def test_multitask_recipe_and_clap_init(tmp_path):
    fake_data(tmp_path / "data")  # data/esc10 and data/fsdd, as the YAML expects
    out = tmp_path / "out"
    cmd = [
        sys.executable, str(RECIPE / "train.py"), str(YAML),
        f"--data_folder={tmp_path / 'data'}",
        f"--output_folder={out}", f"--prepared_folder={tmp_path / 'prepared'}",
        f"--synthetic_folder={tmp_path / 'synthetic'}",
        "--num_synthetic_train=12", "--num_synthetic_valid=6",
        "--number_of_epochs=1", "--steps_per_epoch=4", "--batch_size=4",
        "--noprogressbar", "--device=cpu",
    ]  # fmt: skip
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The Brain sized the schedule (total_steps: null): 4 steps x 1 epoch.
    assert "lr schedule: 4 per epoch x 1 epochs" in (out / "log.txt").read_text()
    results = json.loads((out / "results.json").read_text())
    metrics, chance = results["metrics"], results["chance"]
    assert set(chance) == {"esc10_acc", "fsdd_acc", "synthetic_events_mAP", "synthetic_count_MAE"}
    # fold 4 of ESC (3 clips), FSDD's test split (4 clips), the synthetic valid split
    assert (metrics["esc10_n"], metrics["fsdd_n"], metrics["synthetic_events_n"]) == (3, 4, 6)
    assert chance["esc10_acc"] == 1 / 3 and chance["fsdd_acc"] == 1 / 2
    assert results["tasks"]["synthetic_count"]["kind"] == "regression"
    encoder = out / "encoder" / "audio_encoder.ckpt"
    info = json.loads((out / "encoder" / "encoder.json").read_text())
    assert info["valid_metrics"]["esc10_acc"] == metrics["esc10_acc"]

    # The CLAP recipes' model file takes it as its audio tower.
    clap_yaml = ROOT / "recipes" / "Synthetic" / "CLAP" / "hparams" / "clap.yaml"
    with open(clap_yaml) as f:
        hparams = load_hyperpyyaml(
            f, {"output_folder": str(tmp_path / "clap"),
                "init_weights": [{"source": str(encoder.parent), "into": "clap.audio_encoder"}]},
        )
    assert init_weights(hparams)
    state = torch.load(encoder, weights_only=True)
    for key, value in hparams["model"]["clap"].audio_encoder.state_dict().items():
        assert torch.equal(value, state[key])

