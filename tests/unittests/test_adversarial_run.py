"""Adversarial cases of a training run (issue 15, issue 16 point 3).

What a careful user does wrong or what goes wrong under them: runs that
train nothing, divergence and collapse, manifests with relative, missing or
absurd entries, planted or broken checkpoints, two runs in one folder, two
seeds generating one data folder, a generator killed mid-way, reruns with
other settings, bad ESC-50 metadata. Each case runs in-process on tiny
modules (forked children where concurrency is the point), so the module
takes seconds.
"""

import json
import logging
import math
import multiprocessing
import os
import signal
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import speechbrain as sb
import torch
from speechbrain.utils.epoch_loop import EpochCounter

from test_training import _batch, _brain  # tiny CLAP brain and batches

from speechbrain_tclap.data import synthetic
from speechbrain_tclap.data.manifest import ManifestError, check_audio_files, load_manifest
from speechbrain_tclap.data.prepare.esc50 import prepare_esc50
from speechbrain_tclap.export import export_pretrained
from speechbrain_tclap.losses import InfoNCELoss
from speechbrain_tclap.recipe import claim_output_folder
from speechbrain_tclap.utils.checkpointing import AtomicCheckpointer, CheckpointLoadError
from speechbrain_tclap.utils.locking import FolderInUseError, hold_folder, release_folder
from speechbrain_tclap.utils.schedulers import WarmupCosineSchedule
from speechbrain_tclap.utils.training_guard import TrainingFailure

FORK = multiprocessing.get_context("fork")


# ---------------------------------------------------------------------------
# Runs that train nothing, divergence, collapse
# ---------------------------------------------------------------------------
def test_every_batch_skipped_stops_the_run_with_true_counts(tmp_path):
    # --batch_size=1: every batch has "1 usable sample" (was: exit 0, skipped: 0).
    brain = _brain(tmp_path)
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    for _ in range(3):
        brain.fit_batch(_batch(n=1))
    assert brain.skipped_samples == 3 and brain.guard.totals["skipped_batches"] == 3
    with pytest.raises(TrainingFailure, match="epoch 1 trained nothing: all 3 training batches"):
        brain.on_stage_end(sb.Stage.TRAIN, 0.0, 1)


def test_a_fit_without_an_optimiser_step_fails(tmp_path):
    brain = _brain(tmp_path)
    with pytest.raises(TrainingFailure, match="trained nothing: 0 optimiser steps"):
        brain.fit(EpochCounter(limit=1), [], train_loader_kwargs={"batch_size": 2})


class _NaNLoss(InfoNCELoss):
    def forward(self, inputs):
        return super().forward(inputs) * float("nan")


def test_nonfinite_loss_skips_steps_then_stops_naming_step_and_lr(tmp_path, caplog):
    brain = _brain(tmp_path, loss=_NaNLoss())
    brain.nonfinite_patience = brain.guard.limit = 2
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    before = {n: p.detach().clone() for n, p in brain.modules.clap.named_parameters()}
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            brain.fit_batch(_batch())
    assert "non-finite loss at step 1 (lr 0.1): step skipped (1 of at most 2)" in caplog.text
    assert brain.optimizer_step == 0
    for name, param in brain.modules.clap.named_parameters():
        assert torch.equal(param, before[name]), name
    with pytest.raises(TrainingFailure, match=r"non-finite loss at step 1 \(lr 0.1\); 3 steps"):
        brain.fit_batch(_batch())


def test_nonfinite_gradients_never_reach_the_weights(tmp_path):
    # Was: clip_grad_norm_ of an Inf gradient gives NaN, the optimiser
    # stepped with it and every later loss was NaN.
    brain = _brain(tmp_path)
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    weight = brain.modules.clap.audio_encoder.lin.weight
    hook = weight.register_hook(lambda grad: grad * float("inf"))
    brain.fit_batch(_batch())
    hook.remove()
    assert brain.guard.totals["nonfinite_steps_skipped"] == 1 and brain.optimizer_step == 0
    assert all(torch.isfinite(p).all() for p in brain.modules.clap.parameters())
    brain.fit_batch(_batch())
    assert brain.optimizer_step == 1


def test_collapse_is_warned_and_flagged_in_results(tmp_path, caplog):
    brain = _brain(tmp_path, collapse_steps=2, output_folder=str(tmp_path))
    brain.opt_class = lambda params: torch.optim.SGD(params, lr=0.0)
    with torch.no_grad():
        brain.modules.clap.log_logit_scale.fill_(math.log(1e-4))  # as after --lr=10
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    for _ in range(2):
        brain.fit_batch(_batch())
    with caplog.at_level(logging.WARNING):
        brain.on_stage_end(sb.Stage.TRAIN, 0.0, 1)
    assert "training collapsed by step 2 (epoch 1)" in caplog.text
    brain.write_results({"t2a_R@1": 0.25}, {"t2a_R@1": 0.25})
    training = json.loads((tmp_path / "results.json").read_text())["training"]
    assert training["collapsed"] and training["optimizer_steps"] == 2
    assert training["collapse"]["uniform_loss"] == pytest.approx(math.log(4))


def test_evaluation_without_a_readable_sample_names_the_stage(tmp_path):
    # Was: RuntimeError: stack expects a non-empty TensorList.
    brain = _brain(tmp_path)
    brain.on_stage_start(sb.Stage.VALID, 1)
    brain.evaluate_batch(_batch(n=0, skipped=4), sb.Stage.VALID)
    with pytest.raises(TrainingFailure, match="VALID: no sample could be evaluated"):
        brain.on_stage_end(sb.Stage.VALID, 0.0, 1)


def test_export_refuses_nonfinite_weights_naming_them(tmp_path):
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        lin.bias[0] = float("nan")
    with pytest.raises(ValueError, match=r"refusing to export 'clap'.*\['bias'\]"):
        export_pretrained(str(tmp_path / "h.yaml"), {"clap": lin}, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------
# Manifests
# ---------------------------------------------------------------------------
def test_relative_wav_is_read_from_the_manifest_folder(tmp_path, monkeypatch):
    (tmp_path / "data" / "clips").mkdir(parents=True)
    sf.write(tmp_path / "data" / "clips" / "a.wav", np.zeros(160, "float32"), 16000)
    manifest = tmp_path / "data" / "train.json"
    manifest.write_text(json.dumps({"a": {"wav": "clips/a.wav", "caption": "quiet"}}))
    monkeypatch.chdir(tmp_path)  # not the manifest's folder
    rows = load_manifest(manifest)
    assert rows["a"]["wav"] == str(tmp_path / "data" / "clips" / "a.wav")
    check_audio_files(manifest, rows)


def test_missing_audio_is_refused_naming_manifest_and_row(tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"gone": {"wav": "nowhere.wav", "caption": "x"}}))
    with pytest.raises(ManifestError, match=r"m\.json, row 'gone': audio file not found"):
        check_audio_files(manifest, load_manifest(manifest))


@pytest.mark.parametrize("duration", ["NaN", -5])
def test_absurd_duration_is_refused_naming_the_row(tmp_path, duration):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"c": {"wav": "c.wav", "caption": "x", "duration": duration}}))
    with pytest.raises(ManifestError, match=r"row 'c': 'duration' must be a finite number"):
        load_manifest(manifest)


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------
class _Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _checkpoint(folder):
    lin, counter = torch.nn.Linear(2, 2), EpochCounter(3)
    AtomicCheckpointer(folder, {"lin": lin, "counter": counter}).save_checkpoint()
    return next(folder.glob("CKPT+*")), lin, counter


def test_planted_pickle_never_runs_even_when_the_environment_allows(tmp_path, monkeypatch):
    # Was: SpeechBrain's recovery called torch.load without weights_only, which
    # TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 turns into full unpickling.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    ckpt, lin, counter = _checkpoint(tmp_path)
    marker = tmp_path / "code_ran"
    torch.save({"weight": _Planted(marker)}, ckpt / "lin.ckpt")
    recover = AtomicCheckpointer(tmp_path, {"lin": lin, "counter": counter})
    with pytest.raises(CheckpointLoadError, match=r"cannot resume from .*lin\.ckpt \(lin\)"):
        recover.recover_if_possible()
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "empty_counter"])
def test_broken_checkpoint_files_are_named(tmp_path, damage):
    ckpt, lin, counter = _checkpoint(tmp_path)
    name = "lin.ckpt" if damage == "truncated" else "counter.ckpt"
    data = (ckpt / name).read_bytes()
    (ckpt / name).write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    recover = AtomicCheckpointer(tmp_path, {"lin": lin, "counter": counter})
    with pytest.raises(CheckpointLoadError, match=f"cannot resume from .*{name}"):
        recover.recover_if_possible()


# ---------------------------------------------------------------------------
# One run per output folder; reruns
# ---------------------------------------------------------------------------
def _hold_until_killed(folder, ready):
    hold_folder(folder, "training")
    ready.set()
    time.sleep(60)


def test_second_run_in_a_folder_is_refused_and_a_killed_run_leaves_no_lock(tmp_path, caplog):
    folder = str(tmp_path / "run")
    ready = FORK.Event()
    other = FORK.Process(target=_hold_until_killed, args=(folder, ready))
    other.start()
    try:
        assert ready.wait(20)
        with pytest.raises(FolderInUseError, match=f"in use by PID {other.pid} on "):
            hold_folder(folder, "training")
    finally:
        os.kill(other.pid, signal.SIGKILL)
        other.join(10)
    with caplog.at_level(logging.WARNING):
        hold_folder(folder, "training")  # the killed run's lock is taken over
    release_folder(folder)
    assert f"left by PID {other.pid}" in caplog.text


def _rerun_setup(tmp_path, epochs_before, epochs_now):
    out = tmp_path / "out"
    (out / "save" / "CKPT+1").mkdir(parents=True)
    (out / "hyperparams.yaml").write_text(f"number_of_epochs: {epochs_before}\nlr: 0.1\n")
    (out / "results.json").write_text("{}")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("number_of_epochs: 1\nlr: 0.1\n")
    hparams = {"output_folder": str(out), "save_folder": str(out / "save")}
    return out, hparams, str(recipe), f"number_of_epochs: {epochs_now}"


def test_rerun_with_other_settings_is_refused_unless_asked(tmp_path, caplog):
    out, hparams, recipe, overrides = _rerun_setup(tmp_path, 1, 2)
    try:
        with pytest.raises(ValueError, match=r"number_of_epochs: 1 then, 2 now"):
            claim_output_folder(hparams, recipe, overrides)
        with caplog.at_level(logging.WARNING):
            claim_output_folder(hparams, recipe, overrides, resume_with_new_settings=True)
            claim_output_folder(hparams, recipe, "number_of_epochs: 1")
        assert "resuming with new settings for number_of_epochs" in caplog.text
        assert "this run resumes from them" in caplog.text
        claim_output_folder(hparams, recipe, overrides, fresh_start=True)
        (aside,) = out.glob("replaced-*")
        assert (aside / "save" / "CKPT+1").is_dir() and (aside / "results.json").is_file()
        assert not (out / "save").exists()
    finally:
        release_folder(str(out))


def test_resume_with_another_schedule_is_refused(tmp_path):
    written = WarmupCosineSchedule(1e-3, warmup_steps=10, total_steps=100)
    written._save(tmp_path / "s.ckpt")
    now = WarmupCosineSchedule(1e-3, warmup_steps=10, total_steps=200)  # more epochs
    now._load(tmp_path / "s.ckpt")
    brain = _brain(tmp_path, lr_scheduler=now)
    with pytest.raises(ValueError, match="total_steps 100 in the checkpoint, 200 now"):
        brain.check_resumed_schedule()
    brain.hparams.resume_with_new_settings = True
    brain.check_resumed_schedule()


# ---------------------------------------------------------------------------
# Data generation: concurrency and kills
# ---------------------------------------------------------------------------
def test_two_seeds_generating_one_data_folder_take_turns(tmp_path, monkeypatch):
    # Was: both generated, and one deleted what the other wrote.
    chunks, start = [], threading.Barrier(2)
    generate = synthetic._generate_chunk
    monkeypatch.setattr(synthetic, "_generate_chunk", lambda job: chunks.append(1) or generate(job))
    results = []

    def seed():
        start.wait()
        results.append(synthetic.prepare_synthetic(
            tmp_path, splits={"train": 4, "test": 2}, clip_duration=0.5, n_events=(1, 1), num_workers=1))

    threads = [threading.Thread(target=seed) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and results[0] == results[1] and len(chunks) == 2  # one per split
    for path in results[0].values():
        for row in load_manifest(path, required=("id", "wav")).values():
            assert sf.info(row["wav"]).frames == 8000


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry))
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _generate_forever(folder):
    synthetic.prepare_synthetic(folder, splits={"train": 4000}, clip_duration=0.5,
                                 n_events=(1, 1), num_workers=2)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_sigkilled_generator_leaves_no_workers(tmp_path):
    generator = FORK.Process(target=_generate_forever, args=(str(tmp_path),))
    generator.start()
    deadline = time.time() + 30
    while len(_children(generator.pid)) < 2 and time.time() < deadline:
        time.sleep(0.1)
    workers = _children(generator.pid)
    assert len(workers) >= 2, "the generator started no workers"
    os.kill(generator.pid, signal.SIGKILL)
    generator.join(10)
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)
    assert not (tmp_path / synthetic.FINGERPRINT_FILE).exists()  # nothing claims to be done


# ---------------------------------------------------------------------------
# ESC-50 metadata
# ---------------------------------------------------------------------------
def _esc(root, rows, encoding="utf-8"):
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for name, fold, category in rows:
        sf.write(root / "audio" / name, np.zeros(800, "float32"), 8000)
        lines.append(f"{name},{fold},0,{category},True,1,A")
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n", encoding=encoding)
    return root


def test_esc50_row_listed_twice_with_another_category_is_refused(tmp_path):
    root = _esc(tmp_path, [("1-1-A-0.wav", 1, "dog"), ("1-1-A-0.wav", 1, "rain")])
    with pytest.raises(ValueError, match=r"esc50\.csv, line 3: 1-1-A-0\.wav is listed twice"):
        prepare_esc50(root, tmp_path / "out", train_folds=[1], valid_folds=None, test_folds=None)


def test_esc50_latin1_metadata_is_named(tmp_path):
    root = _esc(tmp_path, [("1-1-A-0.wav", 1, "café")], encoding="latin-1")
    with pytest.raises(ValueError, match=r"esc50\.csv: not UTF-8 text"):
        prepare_esc50(root, tmp_path / "out", train_folds=[1], valid_folds=None, test_folds=None)


def test_esc50_corrupt_clip_is_skipped_listed_and_counted(tmp_path):
    root = _esc(tmp_path, [("1-1-A-0.wav", 1, "dog"), ("1-2-A-0.wav", 1, "dog")])
    (root / "audio" / "1-2-A-0.wav").write_bytes(b"RIFF not really a wave file")
    paths = prepare_esc50(root, tmp_path / "out", train_folds=[1], valid_folds=None,
                          test_folds=None)
    assert list(load_manifest(paths["train"], required=("id", "wav"))) == ["1-1-A-0"]
    stats = json.loads((tmp_path / "out" / "esc50_prepare.json").read_text())
    assert [os.path.basename(p) for p in stats["stats"]["skipped"]] == ["1-2-A-0.wav"]
