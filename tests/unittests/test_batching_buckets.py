"""Duration-bucketed batches (SpeechBrain's ``DynamicBatchSampler``).

* On a synthetic list of variable durations, bucketed batches pad far less
  than fixed-size shuffled batches, hold every item once and respect the
  seconds cap.
* A recipe-style loader (``make_clap_dataset`` + ``train_loader_options`` +
  ``CLAPBrain.make_dataloader``) with ``train_batch_sampler`` set yields every
  clip exactly once per epoch, pads less than the plain loader, and resumes
  mid-epoch on the batches the uninterrupted run would have seen.
"""

import functools
import json
import random

import numpy as np
import pytest
import soundfile as sf
import speechbrain as sb
import torch

from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.data.datasets import (
    ClipSampleBuilder,
    collate_dataset_items,
    make_clap_dataset,
)
from speechbrain_tclap.data.samplers import (
    duration_bucketed_sampler,
    item_durations,
)
from speechbrain_tclap.recipe import train_loader_options

RATE = 8000


def padding_fraction(batches, durations):
    """``1 - real seconds / padded seconds`` when each batch is padded to its longest item."""
    padded = sum(len(b) * max(durations[i] for i in b) for b in batches if len(b))
    real = sum(durations[i] for b in batches for i in b)
    return 1.0 - real / padded if padded else 0.0


def _fixed_size_batches(num_items, batch_size, seed):
    order = list(range(num_items))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, num_items, batch_size)]


def test_bucketed_batches_pad_far_less_than_fixed_size_batches():
    rng = np.random.default_rng(0)
    # Clips of 0.5 s to 30 s, most of them short (AudioCaps/Clotho-like mix).
    durations = np.clip(rng.lognormal(1.5, 0.9, size=600), 0.5, 30.0).tolist()
    rows = {f"c{i}": {"duration": d} for i, d in enumerate(durations)}
    sampler = duration_bucketed_sampler(
        rows, max_batch_seconds=240.0, num_buckets=12, seed=1
    )
    bucketed = list(sampler)
    plain = _fixed_size_batches(len(durations), 16, seed=1)

    assert sorted(i for b in bucketed for i in b) == list(range(len(durations)))
    assert all(len(b) * max(durations[i] for i in b) <= 240.0 for b in bucketed)
    with_buckets = padding_fraction(bucketed, durations)
    without = padding_fraction(plain, durations)
    assert without > 0.4  # random batches of such a mix are mostly padding
    assert with_buckets < without / 3, (with_buckets, without)


def test_bucketed_batches_depend_on_seed_and_epoch_only():
    rows = {f"c{i}": {"duration": 1.0 + (i * 7) % 13} for i in range(80)}
    make = functools.partial(duration_bucketed_sampler, rows, 40.0, num_buckets=4, seed=5)
    first, again = make(), make()
    first.set_epoch(3)
    again.set_epoch(3)
    assert list(first) == list(again)
    again.set_epoch(4)
    assert list(first) != list(again)
    assert len(first) == len(again)  # same count every epoch (DDP needs it)


def test_missing_duration_and_too_long_items_are_named():
    with pytest.raises(ValueError, match="row 'b' has none"):
        item_durations({"a": {"duration": 1.0}, "b": {"wav": "b.wav"}})
    with pytest.raises(ValueError, match="more than max_batch_seconds"):
        duration_bucketed_sampler({"a": {"duration": 30.0}}, max_batch_seconds=10.0)
    pair = {"id": "p", "a": {"id": "x", "duration": 1.5}, "b": {"id": "y", "duration": 2.0}}
    assert item_durations([pair]) == [3.5]


@pytest.fixture(scope="module")
def clip_manifest(tmp_path_factory):
    """30 clips of 0.1 s to 1.0 s (8 kHz) with their durations."""
    root = tmp_path_factory.mktemp("buckets")
    rows = {}
    for i in range(30):
        seconds = 0.1 + 0.9 * ((i * 11) % 30) / 29
        path = root / f"c{i}.wav"
        sf.write(str(path), np.full(int(seconds * RATE), 0.1, "float32"), RATE)
        rows[f"c{i}"] = {"wav": str(path), "caption": f"clip {i}", "duration": seconds}
    manifest = root / "train.json"
    manifest.write_text(json.dumps(rows))
    return str(manifest)


def _loader(manifest, tmp_path, bucketed):
    dataset = make_clap_dataset(
        manifest, ClipSampleBuilder(RATE, 1.0, pad="none", seed=0), train=True
    )
    hparams = {
        "seed": 0,
        "train_dataloader_opts": {
            "batch_size": 4,
            "shuffle": True,
            "collate_fn": collate_dataset_items,
        },
    }
    if bucketed:
        hparams["train_batch_sampler"] = functools.partial(
            duration_bucketed_sampler, max_batch_seconds=2.0, num_buckets=4,
            max_seconds=1.0, seed=3,
        )
    brain = CLAPBrain(
        modules={"lin": torch.nn.Linear(1, 1)},
        hparams=hparams,
        run_opts={"device": "cpu"},
        checkpointer=sb.utils.checkpoints.Checkpointer(tmp_path),
    )
    loader = brain.make_dataloader(
        dataset, sb.Stage.TRAIN, **train_loader_options(hparams, dataset)
    )
    return brain, loader


def _epoch(brain, loader, epoch):
    brain.train_sampler.set_epoch(epoch)  # what Brain._fit_train does
    return [batch for batch in loader]


def test_recipe_loader_yields_every_clip_once_per_epoch_and_resumes(clip_manifest, tmp_path):
    brain, loader = _loader(clip_manifest, tmp_path / "a", bucketed=True)
    ids = [f"c{i}" for i in range(30)]
    epochs = {}
    for epoch in (1, 2):
        batches = _epoch(brain, loader, epoch)
        seen = [i for b in batches for i in b.ids]
        assert sorted(seen) == sorted(ids) and len(seen) == len(ids)
        # Each batch is padded to its own longest clip, within the cap.
        assert all(b.wavs.shape[1] * len(b) <= 2.0 * RATE for b in batches)
        epochs[epoch] = [b.ids for b in batches]
    assert epochs[1] != epochs[2]

    _, plain_loader = _loader(clip_manifest, tmp_path / "b", bucketed=False)
    plain_padding = float(torch.cat([1 - b.wav_lens for b in plain_loader]).mean())
    bucketed_padding = float(torch.cat([1 - b.wav_lens for b in _epoch(brain, loader, 1)]).mean())
    assert bucketed_padding < 0.5 * plain_padding, (bucketed_padding, plain_padding)

    # Interrupted after 2 batches of epoch 2; a fresh process resumes.
    brain.train_sampler.set_epoch(2)
    iterator = iter(loader)
    done = [next(iterator).ids for _ in range(2)]
    saved = tmp_path / "loader.ckpt"
    loader._speechbrain_save(saved)
    resumed_brain, resumed = _loader(clip_manifest, tmp_path / "c", bucketed=True)
    resumed._speechbrain_load(saved, end_of_epoch=False)
    rest = [b.ids for b in _epoch(resumed_brain, resumed, 2)]
    assert done + rest == epochs[2]
