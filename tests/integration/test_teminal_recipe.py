"""TeminAL stage A then stage B from A's export, end to end (synthetic, CPU).

Stage A trains one tiny epoch from random weights (no freezing); stage B
starts from A's exported folder (``init_weights``) with the paper's partial
unfreezing, TNCE in the paper-compatible mode with alpha_same = 0.5, and
ZSTE at the test stage. Checks: both runs write results with the ZSTE
metrics and chance levels; B loaded A's weights and tokenizer; the frozen
parameters are exactly A's in B's export while the trainable ones moved.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "recipes" / "Synthetic" / "CLAP" / "train.py"
HPARAMS = ROOT / "recipes" / "Synthetic" / "CLAP" / "hparams"
SMALL = [
    "--num_train_clips=64",
    "--num_valid_clips=32",
    "--num_test_clips=48",
    "--num_train_pairs=24",
    "--num_valid_pairs=8",
    "--num_test_pairs=10",
    "--zste_pairs=6",
    "--zste_seeds=[0]",
    "--number_of_epochs=1",
    "--batch_size=12",
    "--noprogressbar",
    "--device=cpu",
]


def _run(hparams, out, data, extra, cwd):
    cmd = [sys.executable, str(TRAIN), str(hparams), f"--output_folder={out}",
           f"--data_folder={data}", *SMALL, *extra]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def test_stage_a_then_stage_b_from_its_export(tmp_path):
    data, stage_a, stage_b = tmp_path / "data", tmp_path / "a", tmp_path / "b"
    _run(HPARAMS / "teminal_stage_a.yaml", stage_a, data,
         ["--init_weights=null", "--freezing=null"], tmp_path)
    results = _run(HPARAMS / "teminal_stage_b.yaml", stage_b, data,
                   [f"--init_weights={stage_a / 'pretrained'}", "--tnce_mode=paper",
                    "--alpha_same=0.5"], tmp_path)

    metrics, chance = results["metrics"], results["chance"]
    for name in ("zste1_acc", "zste2_acc", "zste3_acc", "zste4_acc", "zste5_acc",
                 "zste5_paper_target_acc", "tclassify_binary"):
        assert 0.0 <= metrics[name] <= 1.0 and 0.0 < chance[name] < 1.0, name
    assert chance["zste3_acc"] == 1 / 3 and metrics["zste_classes"] >= 3
    assert (stage_b / "zste.md").read_text().startswith("| ZSTE task |")
    assert "initialised clap, tokenizer from" in (stage_b / "log.txt").read_text()

    before = load_file(stage_a / "pretrained" / "clap.safetensors")
    after = load_file(stage_b / "pretrained" / "clap.safetensors")
    assert before.keys() == after.keys()
    frozen = ["text_encoder.token_embedding.weight", "text_encoder.encoder.layers.0.linear1.weight",
              "audio_encoder.patch_embed.proj.weight", "audio_encoder.layers.0.blocks.0.attn.qkv.weight"]
    for name in frozen:
        assert torch.equal(before[name], after[name]), name
    trained = ["text_projection.0.weight", "audio_projection.0.weight",
               "text_encoder.encoder.layers.1.linear1.weight"]
    for name in trained:
        assert not torch.equal(before[name], after[name]), name
    # The paper mode has no temperature: the logit scale is left as it was.
    assert torch.equal(before["log_logit_scale"], after["log_logit_scale"])
    assert (stage_a / "pretrained" / "tokenizer.ckpt").read_bytes() == (
        stage_b / "pretrained" / "tokenizer.ckpt"
    ).read_bytes()
