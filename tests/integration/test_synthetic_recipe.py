"""End-to-end runs of the synthetic CLAP recipe (small settings, CPU).

* the default recipe trains, evaluates, writes ``results.json`` with chance
  levels, and exports a folder the pretrained interface loads offline;
* a run killed with SIGKILL in the middle of an epoch and restarted with the
  same command ends with exactly the metrics of an uninterrupted run;
* a user YAML that swaps the model (RoBERTa text tower, wider HTSAT) trains
  with the same ``train.py``.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "recipes" / "Synthetic" / "CLAP" / "train.py"
HPARAMS = ROOT / "recipes" / "Synthetic" / "CLAP" / "hparams" / "clap.yaml"
SMALL = [
    "--num_train_clips=64",
    "--num_valid_clips=24",
    "--num_test_clips=32",
    "--number_of_epochs=2",
    "--batch_size=16",
    "--noprogressbar",
    "--device=cpu",
    "--ckpt_interval_steps=1",
]


def _command(hparams, out, data, extra=()):
    overridden = {arg.split("=")[0] for arg in extra}
    small = [arg for arg in SMALL if arg.split("=")[0] not in overridden]
    return [
        sys.executable,
        str(TRAIN),
        str(hparams),
        f"--output_folder={out}",
        f"--data_folder={data}",
        *small,
        *extra,
    ]


def _env():
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def _run(cmd, cwd):
    proc = subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic_recipe")


@pytest.fixture(scope="module")
def default_run(workdir):
    out = workdir / "default"
    _run(_command(HPARAMS, out, workdir / "data"), cwd=workdir)
    return out


def test_default_recipe_writes_results_and_exports(default_run):
    results = json.loads((default_run / "results.json").read_text())
    metrics, chance = results["metrics"], results["chance"]
    for key in ("t2a_R@1", "t2a_R@10", "a2t_R@1", "t2a_mAP@10", "zero_shot_acc"):
        assert 0.0 <= metrics[key] <= 1.0, key
        assert 0.0 < chance[key] < 1.0, key
    assert metrics["skipped"] == 0
    # The frame-score picture, reported as MGA-CLAP reports it.
    for key in ("grounding_psds1", "grounding_order_acc", "sed_psds1"):
        assert 0.0 <= metrics[key] <= 1.0 and key in chance, key
    assert (default_run / "results.md").read_text().startswith("| metric |")
    for name in ("hyperparams.yaml", "README.md", "clap.safetensors", "tokenizer.ckpt"):
        assert (default_run / "pretrained" / name).is_file()
    for name in ("train.py", "hyperparams.yaml", "log.txt", "env.log", "validation_curves.png"):
        assert (default_run / name).is_file(), name
    log = (default_run / "train_log.txt").read_text()
    assert "epoch: 2" in log and "test" in log.lower()


def test_exported_interface_loads_offline_and_embeds(default_run, workdir):
    from speechbrain_tclap.inference import CLAP

    model = CLAP.from_hparams(
        source=str(default_run / "pretrained"), savedir=str(workdir / "iface")
    )
    manifest = json.loads((workdir / "data" / "test.json").read_text())
    rows = list(manifest.values())[:3]
    files = [row["wav"] for row in rows]
    audio = model.encode_audio(files)
    assert audio.shape == (3, 128)
    assert torch.allclose(audio.norm(dim=-1), torch.ones(3), atol=1e-5)
    # Files and the same waveforms as a batched tensor agree.
    from speechbrain_tclap.data.audio import read_audio

    wavs = [read_audio(f) for f in files]
    longest = max(w.shape[0] for w in wavs)
    batch = torch.zeros(3, longest)
    for i, w in enumerate(wavs):
        batch[i, : w.shape[0]] = w
    lens = torch.tensor([w.shape[0] / longest for w in wavs])
    assert torch.allclose(model.encode_audio(batch, lens), audio, atol=1e-5)
    labels = sorted({lab for row in manifest.values() for lab in row["labels"]})
    probs, predicted = model.classify_zero_shot(files, labels)
    assert probs.shape == (3, len(labels))
    assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-5)
    assert all(p in labels for p in predicted)
    assert model.similarity(files, ["bell", "hiss"]).shape == (3, 2)
    assert model.encode_text("a bell").shape == (1, 128)


def test_run_that_trains_nothing_fails_and_exports_nothing(workdir):
    # --batch_size=1: every batch has one usable sample (issue 15: was exit 0,
    # "train skipped: 0" and an exported untrained model).
    out = workdir / "batch_of_one"
    cmd = _command(HPARAMS, out, workdir / "data", extra=["--batch_size=1", "--num_train_clips=8"])
    proc = subprocess.run(cmd, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "epoch 1 trained nothing: all 8 training batches were skipped" in proc.stdout + proc.stderr
    assert not (out / "pretrained").exists() and not (out / "results.json").exists()


def _intra_epoch_checkpoint_of_epoch(save_folder, epoch):
    """True once an intra-epoch checkpoint of ``epoch`` exists."""
    for ckpt in Path(save_folder).glob("CKPT+*"):
        meta = ckpt / "CKPT.yaml"
        counter = ckpt / "counter.ckpt"
        if not (meta.is_file() and counter.is_file()):
            continue
        try:
            if "intra" in meta.read_text() and counter.read_text().strip() == str(epoch):
                return True
        except OSError:
            continue
    return False


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(default_run, workdir):
    out = workdir / "killed"
    cmd = _command(HPARAMS, out, workdir / "data")
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 400
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if _intra_epoch_checkpoint_of_epoch(out / "save", 2):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait()
    assert killed, "the run ended before it could be killed mid-epoch"
    assert not (out / "results.json").exists()
    _run(cmd, cwd=workdir)
    resumed = json.loads((out / "results.json").read_text())["metrics"]
    reference = json.loads((default_run / "results.json").read_text())["metrics"]
    for key, value in reference.items():
        assert resumed[key] == pytest.approx(value, abs=1e-6), key


def test_user_yaml_with_other_towers_trains_with_same_script(workdir):
    model_file = ROOT / "hparams" / "models" / "tiny_clap_roberta.yaml"
    # A YAML of the user's own, elsewhere: relative includes become absolute.
    text = HPARAMS.read_text().replace(
        "!include:../../../../hparams/models/tiny_clap.yaml",
        f"!include:{model_file}",
    ).replace("!include:../phrasings.yaml", f"!include:{HPARAMS.parent.parent / 'phrasings.yaml'}")
    assert str(model_file) in text and "!include:../" not in text
    user_yaml = workdir / "my_clap.yaml"
    user_yaml.write_text(text)
    out = workdir / "roberta"
    _run(_command(user_yaml, out, workdir / "data", ["--number_of_epochs=1"]), cwd=workdir)
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    assert 0.0 <= metrics["t2a_R@1"] <= 1.0
    hparams = (out / "pretrained" / "hyperparams.yaml").read_text()
    assert "HFTextEncoder" in hparams
