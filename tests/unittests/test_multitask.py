"""Multi-task encoder pretraining: task losses, task sampling, the Brain, the export.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import os
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import speechbrain as sb
import torch
import torch.nn.functional as F
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.epoch_loop import EpochCounter
from speechbrain.utils.train_logger import FileTrainLogger

from speechbrain_tclap.data.manifest import ManifestError, write_manifest
from speechbrain_tclap.lobes.features import CLAPFeatures
from speechbrain_tclap.lobes.htsat import HTSAT
from speechbrain_tclap.multitask import (
    MultiTaskModel,
    TaskBatchSampler,
    TaskSample,
    TaskSampleBuilder,
    TaskSpec,
    collate_task_samples,
    export_audio_encoder,
    MultiTaskBrain,
    add_task_heads,
    load_audio_encoder,
    make_multitask_dataset,
    sequential_task_batches,
    task_loader_options,
)
from speechbrain_tclap.recipe import init_weights
from speechbrain_tclap.utils.checkpointing import AtomicCheckpointer
from speechbrain_tclap.utils.schedulers import WarmupCosineSchedule

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "hparams" / "models" / "tiny_clap.yaml"
RATE = 8000


def test_task_losses_match_their_formulas():
    single = TaskSpec("s", "single_label", "label", classes=["a", "b", "c"])
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.1, 0.3]])
    targets = torch.tensor([0, 2])
    log_probs = logits.log_softmax(dim=1)
    expected = -(log_probs[0, 0] + log_probs[1, 2]) / 2
    torch.testing.assert_close(single.loss(logits, targets), expected)
    multi = TaskSpec("m", "multi_label", "labels", classes=["a", "b", "c"])
    hot = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    p = logits.sigmoid()
    bce = -(hot * p.log() + (1 - hot) * (1 - p).log()).mean()
    torch.testing.assert_close(multi.loss(logits, hot), bce)
    reg = TaskSpec("r", "regression", "n")
    reg.fit([{"id": "a", "n": 1}, {"id": "b", "n": 3}])  # mean 2, std 1
    out = torch.tensor([[0.5], [-1.0]])
    torch.testing.assert_close(reg.loss(out, torch.tensor([3.0, 2.0])), torch.tensor((0.25 + 1.0) / 2))
    assert reg.metrics(out, torch.tensor([3.0, 2.0])) == {"MAE": 0.75, "chance": 0.5}


def test_task_targets_and_errors():
    multi = TaskSpec("m", "multi_label", "labels")
    multi.fit([{"id": "a", "labels": ["bell", "hiss"]}, {"id": "b", "labels": ["knock"]}])
    assert multi.classes == ["bell", "hiss", "knock"]
    assert multi.encode({"id": "c", "labels": ["knock", "bell"]}).tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ManifestError, match=r"valid.json, row 'c'.*\['siren'\]"):
        multi.encode({"id": "c", "labels": ["siren"]}, "valid.json")
    single = TaskSpec("s", "single_label", "labels", classes=["a", "b"])
    assert single.encode({"id": "x", "labels": ["b"]}).item() == 1
    with pytest.raises(ManifestError, match="holds 2 labels"):
        single.encode({"id": "x", "labels": ["a", "b"]})
    with pytest.raises(ManifestError, match="no 'labels' field"):
        single.encode({"id": "x"})
    with pytest.raises(ManifestError, match="not a number"):
        TaskSpec("r", "regression", "n").raw_target({"id": "x", "n": "many"})
    with pytest.raises(ValueError, match="kind must be"):
        TaskSpec("t", "ranking", "x")


def test_task_sampling_respects_weights_and_is_resumable():
    indices = {"a": list(range(0, 10)), "b": list(range(10, 15)), "c": list(range(15, 40))}
    counter = EpochCounter(3)
    sampler = TaskBatchSampler(
        indices, {"a": 3.0, "b": 1.0, "c": 0.0}, batch_size=4, steps_per_epoch=4000,
        seed=7, epoch_counter=counter,
    )  # fmt: skip
    batches = sampler.batches(epoch=1)
    task_of = {i: t for t, ids in indices.items() for i in ids}
    tasks = [{task_of[i] for i in b} for b in batches]
    assert all(len(t) == 1 for t in tasks)  # one task per batch
    counts = Counter(next(iter(t)) for t in tasks)
    assert counts["c"] == 0 and abs(counts["a"] / 4000 - 0.75) < 0.03
    assert all(len(set(b)) == len(b) for b in batches)  # no clip twice in a batch
    assert all(len(b) == 4 for b in batches)
    # a task's clips are all used before any comes back
    a_batches = [b for b, t in zip(batches, tasks) if t == {"a"}]
    assert sorted(set(a_batches[0] + a_batches[1] + a_batches[2][:2])) == indices["a"]
    # a pure function of (seed, epoch): a resumed run sees the same batches
    again = TaskBatchSampler(indices, {"a": 3.0, "b": 1.0, "c": 0.0}, 4, 4000, seed=7)
    assert again.batches(epoch=1) == batches and again.batches(epoch=2) != batches
    counter.current = 1
    assert list(sampler) == batches and len(sampler) == 4000
    with pytest.raises(ValueError, match="no sampling weight"):
        TaskBatchSampler(indices, {"a": 1.0}, 4)
    assert sequential_task_batches({"a": [0, 1, 2], "b": [3]}, 2) == [[0, 1], [2], [3]]


def test_collate_refuses_mixed_tasks():
    a = TaskSample("x/a", "x", torch.ones(4), 4, torch.tensor(0))
    b = TaskSample("y/b", "y", torch.ones(4), 4, torch.tensor(0))
    with pytest.raises(ValueError, match="one task"):
        collate_task_samples([a, b])
    assert len(collate_task_samples([None, None])) == 0


def fake_tasks(root):
    """Three tiny labelled sets: tones by pitch, noises by band, and a count."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.6 * RATE)) / RATE

    def clip(name, signal):
        path = str(root / f"{name}.wav")
        sf.write(path, (0.3 * signal).astype("float32"), RATE)
        return path

    manifests = {}
    for split, count in (("train", 8), ("valid", 4)):
        tones = {
            f"{split}{i}": {
                "wav": clip(f"tone_{split}{i}", np.sin(2 * np.pi * (300 if i % 2 else 1200) * t)),
                "label": "low" if i % 2 else "high",
            }
            for i in range(count)
        }
        events = {
            f"{split}{i}": {
                "wav": clip(f"ev_{split}{i}", rng.standard_normal(len(t)) * (i % 3)),
                "labels": [["hum"], ["hum", "buzz"], ["buzz"]][i % 3],
                "events": [{"label": "x"}] * (1 + i % 3),
            }
            for i in range(count)
        }
        for name, rows in (("tones", tones), ("events", events)):
            manifests[(name, split)] = str(root / f"{name}_{split}.json")
            write_manifest(rows, manifests[(name, split)])
    return [
        TaskSpec("tones", "single_label", "label", manifests[("tones", "train")],
                 manifests[("tones", "valid")], weight=2.0, loss_weight=0.5),
        TaskSpec("events", "multi_label", "labels", manifests[("events", "train")],
                 manifests[("events", "valid")]),
        TaskSpec("count", "regression", "events", manifests[("events", "train")],
                 manifests[("events", "valid")], target_reduce="count"),
    ]  # fmt: skip


def test_multitask_brain_trains_and_reports_every_task(tmp_path):
    torch.manual_seed(0)
    tasks = fake_tasks(tmp_path)
    model = MultiTaskModel(
        CLAPFeatures(sample_rate=RATE, n_fft=256, hop_length=80, n_mels=16, f_max=4000.0),
        HTSAT.from_preset("test"),
        head_hidden_size=8,
    )
    counter = EpochCounter(1)
    out = tmp_path / "out"
    schedule = WarmupCosineSchedule(1e-3, warmup_steps=1, total_steps=None)
    hparams = {
        "tasks": tasks,
        "multitask_model": model,
        "train_sample_builder": TaskSampleBuilder(RATE, 0.5, seed=1),
        "eval_sample_builder": TaskSampleBuilder(RATE, 0.5),
        "train_sampler": partial(TaskBatchSampler, batch_size=4, steps_per_epoch=3, seed=1, epoch_counter=counter),
        "valid_batch_size": 3,
        "opt_class": partial(torch.optim.Adam, lr=1e-3),
        "epoch_counter": counter,
        "checkpointer": AtomicCheckpointer(str(out / "save"), {"model": model, "counter": counter}),
        "train_logger": FileTrainLogger(str(out / "train_log.txt")),
        "output_folder": str(out),
        "encoder_folder": str(out / "encoder"),
        "lr_scheduler": schedule,
    }  # fmt: skip
    os.makedirs(out, exist_ok=True)
    # The steps of recipes/MultiTask/Encoder/train.py after the preparation.
    train = make_multitask_dataset(tasks, "train", hparams["train_sample_builder"], True)
    valid = make_multitask_dataset(tasks, "valid", hparams["eval_sample_builder"], False)
    add_task_heads(model, tasks, train)
    brain = MultiTaskBrain(
        modules={"model": model}, opt_class=hparams["opt_class"], hparams=hparams,
        run_opts={"device": "cpu", "noprogressbar": True}, checkpointer=hparams["checkpointer"],
    )  # fmt: skip
    brain.fit(
        counter, train, valid,
        train_loader_kwargs=task_loader_options(hparams, train, train=True),
        valid_loader_kwargs=task_loader_options(hparams, valid, train=False),
    )  # fmt: skip
    # The Brain sized the schedule: 3 steps per epoch x 1 epoch.
    assert schedule.total_steps == 3
    assert brain.test_checkpoint_keys() == {"min_key": "loss", "max_key": None}
    brain.evaluate(
        valid, test_loader_kwargs=task_loader_options(hparams, valid, train=False),
        **brain.test_checkpoint_keys(),
    )  # fmt: skip
    brain.export_encoder("toy.yaml")
    results = json.loads((out / "results.json").read_text())
    metrics, chance = results["metrics"], results["chance"]
    assert set(chance) == {"tones_acc", "events_mAP", "count_MAE"}
    assert metrics["tones_n"] == metrics["events_n"] == metrics["count_n"] == 4
    # valid counts 1, 2, 3, 1 against the training mean 2
    assert chance["tones_acc"] == 0.5 and chance["count_MAE"] == pytest.approx(0.75)
    assert 0 <= metrics["tones_acc"] <= 1 and 0 < metrics["events_mAP"] <= 1
    log = (out / "train_log.txt").read_text()
    assert "valid tones_acc" in log and "valid count_MAE" in log and "train loss" in log
    # the stage loss of evaluation: the mean of the tasks' weighted losses
    stats = brain.test_stats
    expected = (0.5 * stats["tones_loss"] + stats["events_loss"] + stats["count_loss"]) / 3
    assert stats["loss"] == pytest.approx(expected)
    # compute_objectives: the batch's task loss times its loss_weight
    batch = collate_task_samples(
        [TaskSample("tones/a", "tones", torch.zeros(RATE // 2), RATE // 2, torch.tensor(1))] * 2
    )
    brain.on_stage_start(sb.Stage.VALID)
    with torch.no_grad():
        outputs = brain.compute_forward(batch, sb.Stage.VALID)
        loss = brain.compute_objectives(outputs, batch, sb.Stage.VALID)
    torch.testing.assert_close(loss, 0.5 * F.cross_entropy(outputs, torch.tensor([1, 1])))
    # the exported encoder holds the trained weights
    exported = torch.load(out / "encoder" / "audio_encoder.ckpt", weights_only=True)
    for key, value in model.audio_encoder.state_dict().items():
        assert torch.equal(exported[key], value)
    info = json.loads((out / "encoder" / "encoder.json").read_text())
    assert set(info["tasks"]) == {"tones", "events", "count"}


def tiny_clap_model(seed):
    torch.manual_seed(seed)
    with open(TINY) as f:
        return load_hyperpyyaml(f)


def test_task_names_must_be_unique(tmp_path):
    tones = fake_tasks(tmp_path)[0]
    with pytest.raises(ValueError, match="task names must be unique"):
        make_multitask_dataset([tones, tones], "train", TaskSampleBuilder(RATE, 0.5), True)


def test_clap_audio_tower_initialised_from_the_export(tmp_path):
    source = tiny_clap_model(1)
    pretrained = MultiTaskModel(source["audio_features"], source["audio_encoder"])
    path = export_audio_encoder(pretrained.audio_encoder, str(tmp_path / "encoder"))
    target = tiny_clap_model(2)
    clap = target["clap"]
    before = {k: v.clone() for k, v in clap.state_dict().items()}
    folder = os.path.dirname(path)  # a folder with into: its audio_encoder.ckpt
    entries = init_weights({"init_weights": [{"source": folder, "into": "clap.audio_encoder"}],
                            "model": target})
    assert [(e["into"], e["path"]) for e in entries] == [("clap.audio_encoder", path)]
    loaded = clap.audio_encoder.state_dict()
    assert any(not torch.equal(before["audio_encoder." + k], loaded[k]) for k in loaded)
    for key, value in source["audio_encoder"].state_dict().items():
        assert torch.equal(loaded[key], value)
    # the rest of the CLAP model is untouched
    for key, value in clap.state_dict().items():
        if not key.startswith("audio_encoder."):
            assert torch.equal(value, before[key]), key
    with pytest.raises(ValueError, match="does not fit HTSAT"):
        load_audio_encoder(HTSAT.from_preset("test"), path)
    with pytest.raises(FileNotFoundError, match=r"init_weights: \[.*missing.ckpt'\] not found"):
        init_weights({"init_weights": [{"source": str(tmp_path / "missing.ckpt"),
                                        "into": "clap.audio_encoder"}], "model": target})
    with pytest.raises(ValueError, match="into='text' is not in a model loadable"):
        init_weights({"init_weights": [{"source": path, "into": "text"}], "model": target})
