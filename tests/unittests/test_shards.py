"""Tar shards: written from a manifest, streamed with the same samples, split and resumed exactly."""

import json
import math
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import speechbrain as sb
import torch
from speechbrain.utils.epoch_loop import EpochCounter
from speechbrain.utils.train_logger import FileTrainLogger

from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.data.audio import AudioReadError, read_audio
from speechbrain_tclap.data.datasets import (
    ClipSampleBuilder,
    MixedSampleBuilder,
    collate_dataset_items,
    make_clap_dataset,
)
from speechbrain_tclap.data.manifest import ManifestError, load_manifest, write_manifest
from speechbrain_tclap.data.shards import ShardDataset, main, read_shard, write_shards
from speechbrain_tclap.data.temporal import TemporalViewBuilder, make_pair_rows
from speechbrain_tclap.losses import InfoNCELoss

ESC10 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "esc10"
CLASSES = ("dog", "rain", "rooster")


@pytest.fixture(scope="module")
def esc_like(tmp_path_factory):
    """ESC-10-like data: 12 FLAC/WAV clips of 3 classes (16 and 22.05 kHz, uneven
    lengths) and pairs of them, as the ESC-50 recipe's mixed manifest."""
    tmp = tmp_path_factory.mktemp("esc_like")
    rng = np.random.default_rng(0)
    rows = {}
    for i in range(12):
        label = CLASSES[i % 3]
        rate, ext = (16000, "flac") if i % 4 else (22050, "wav")
        path = tmp / f"1-{i}-A-{i % 3}.{ext}"
        sf.write(str(path), 0.3 * rng.standard_normal(int(rate * (0.15 + 0.02 * i))), rate)
        rows[f"1-{i}-A-{i % 3}"] = {
            "wav": str(path), "caption": f"the sound of {label}", "labels": [label], "fold": 1,
        }
    pairs = {p["id"]: p for p in make_pair_rows(rows, 5, seed=0)}
    manifest = tmp / "train_mixed.json"
    write_manifest({**rows, **pairs}, manifest)
    shards = write_shards(str(manifest), str(tmp / "shards"), shard_size=5)
    return manifest, shards, tmp


def _builder(seed=3):
    return MixedSampleBuilder(
        ClipSampleBuilder(16000, 0.1, resample=True, seed=seed),
        TemporalViewBuilder(16000, 0.05, clip_seconds=0.1, resample=True, seed=seed),
    )


def test_shards_follow_the_laion_clap_layout(esc_like):
    manifest, shards, tmp = esc_like
    rows = load_manifest(manifest, required=("id",))
    assert json.loads((tmp / "shards" / "sizes.json").read_text()) == {
        "shard-000000.tar": 5, "shard-000001.tar": 5, "shard-000002.tar": 5, "shard-000003.tar": 2,
    }
    with tarfile.open(shards[0]) as tar:
        names = tar.getnames()
        meta = json.load(tar.extractfile("1-0-A-0.json"))
        assert tar.extractfile("1-0-A-0.wav").read() == Path(rows["1-0-A-0"]["wav"]).read_bytes()
    assert names[:4] == ["1-0-A-0.wav", "1-0-A-0.json", "1-1-A-1.flac", "1-1-A-1.json"]
    assert meta["text"] == ["the sound of dog"] and meta["tag"] == ["dog"]
    assert meta["original_data"]["wav"] == "wav" and meta["original_data"]["fold"] == 1
    pair_id = next(k for k in rows if "__" in k)
    pair = next(r for s in shards for r in read_shard(s) if r["id"] == pair_id)
    assert pair["a"]["wav"].name.endswith(f"{pair_id}.a.{Path(rows[pair_id]['a']['wav']).suffix[1:]}")
    assert pair["labels"] == rows[pair_id]["labels"]
    # FLAC stating its length is decoded in place from the shard; WAV from its bytes
    first, second = list(read_shard(shards[0]))[:2]
    assert first["wav"].open_descriptor() is None
    descriptor = second["wav"].open_descriptor()
    assert isinstance(descriptor, int)
    os.close(descriptor)


@pytest.mark.parametrize("train", [True, False])
def test_shard_path_builds_the_same_tensors_as_the_manifest_path(esc_like, train):
    manifest, shards, tmp = esc_like
    builder = _builder()
    from_manifest = make_clap_dataset(str(manifest), builder, train=train, required=("id",))
    streamed = ShardDataset(str(tmp / "shards" / "*.tar"), _builder(), train=train)
    for epoch in (1, 2):  # the random crops and templates of each epoch
        builder.set_epoch(epoch)
        streamed.set_epoch(epoch)
        _assert_same_samples(
            [from_manifest[i]["sample"] for i in range(len(from_manifest))],
            [item["sample"] for item in streamed],
            epoch,
        )


def _assert_same_samples(expected, got, epoch):
    assert [s.id for s in got] == [s.id for s in expected]
    for a, b in zip(expected, got):
        assert a.labels == b.labels and [t.text for t in a.texts] == [t.text for t in b.texts]
        assert len(a.audio) == len(b.audio)
        for va, vb in zip(a.audio, b.audio):
            assert torch.equal(va.wav, vb.wav), (epoch, a.id)
            assert va.valid_samples == vb.valid_samples and va.key == vb.key


def _id_dataset(shards, **kwargs):
    """A dataset whose samples are the row ids (no audio decoded)."""
    return ShardDataset(shards, lambda row, train: row["id"], **kwargs)


def _loader_batches(dataset, num_workers):
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=dataset.batch_size, num_workers=num_workers,
        collate_fn=lambda items: [item["sample"] for item in items],
    )
    return list(loader)


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("num_workers", [0, 2, 3])
def test_ranks_and_workers_cover_every_sample_once(esc_like, world_size, num_workers):
    manifest, shards, _ = esc_like
    ids = list(load_manifest(manifest, required=("id",)))
    per_rank = math.ceil(len(ids) / world_size)
    seen = []
    for rank in range(world_size):
        data = _id_dataset(shards, batch_size=4, rank=rank, world_size=world_size)
        batches = _loader_batches(data, num_workers)
        # the rank's part of the sequence, batched as a plain loader would
        part = [ids[(rank * per_rank + i) % len(ids)] for i in range(per_rank)]
        assert batches == [part[k : k + 4] for k in range(0, per_rank, 4)]
        assert len(batches) == math.ceil(len(data) / 4)  # the loader's len is exact
        seen += part
    assert set(seen) == set(ids) and len(seen) == world_size * per_rank
    assert len(seen) - len(ids) < world_size  # DDP padding: fewer repeats than ranks


def test_shuffled_epochs_are_seeded_and_complete(esc_like):
    manifest, shards, _ = esc_like
    ids = sorted(load_manifest(manifest, required=("id",)))

    def epoch_order(epoch, seed=0):
        data = _id_dataset(shards, batch_size=3, shuffle_shards=True, shuffle_buffer=4, seed=seed)
        data.set_epoch(epoch)
        return [i for batch in _loader_batches(data, 2) for i in batch]

    first = epoch_order(1)
    assert sorted(first) == ids
    assert epoch_order(1) == first and epoch_order(2) != first and epoch_order(1, seed=1) != first


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("buffer", [0, 4])
def test_a_mid_epoch_resume_yields_exactly_the_remaining_batches(esc_like, num_workers, buffer):
    _, shards, _ = esc_like
    options = dict(batch_size=3, shuffle_shards=True, shuffle_buffer=buffer, seed=5)
    data = _id_dataset(shards, **options)
    data.set_epoch(3)
    full = _loader_batches(data, num_workers)
    for done in (1, 2, 5):
        resumed = _id_dataset(shards, **options)
        resumed.set_epoch(3, batches_done=done)
        assert _loader_batches(resumed, num_workers) == full[done:]


def test_training_on_shards_equals_training_on_the_manifest(esc_like, tmp_path):
    """Shuffling off: the same batches, so the same weights and metrics."""
    from tests.unittests.test_training import _clap

    manifest, _, shards_dir = esc_like
    results = {}
    for source in ("manifest", "shards"):
        builder = _builder()
        if source == "manifest":
            train = make_clap_dataset(str(manifest), builder, train=True, required=("id",))
        else:
            train = ShardDataset(str(shards_dir / "shards" / "*.tar"), builder, batch_size=4)
        test = make_clap_dataset(str(manifest), _builder(), train=False, required=("id",))
        torch.manual_seed(0)
        clap, counter, folder = _clap(), EpochCounter(2), tmp_path / source
        folder.mkdir()
        hparams = {
            "loss": InfoNCELoss(), "train_sample_builder": builder, "epoch_counter": counter,
            "train_logger": FileTrainLogger(str(folder / "log.txt")), "output_folder": str(folder),
            "zero_shot_template": "the sound of {}", "tclassify_template": None,
        }
        brain = CLAPBrain(
            modules={"clap": clap},
            opt_class=lambda params: torch.optim.SGD(params, lr=0.1),
            hparams=hparams,
            run_opts={"device": "cpu", "noprogressbar": True},
        )
        options = {"batch_size": 4, "shuffle": False, "collate_fn": collate_dataset_items}
        brain.fit(counter, train, train_loader_kwargs=options)
        brain.evaluate(test, test_loader_kwargs=options)
        results[source] = (brain.test_stats, [p.detach().clone() for p in clap.parameters()])
    assert results["shards"][0] == results["manifest"][0]
    assert all(torch.equal(a, b) for a, b in zip(results["shards"][1], results["manifest"][1]))


def test_bad_input_names_the_file(esc_like, tmp_path):
    manifest, shards, _ = esc_like
    write_manifest({"x": {"caption": "no audio"}}, tmp_path / "bad.json")
    with pytest.raises(ManifestError, match="bad.json, row 'x': row has no audio file"):
        write_shards(str(tmp_path / "bad.json"), str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="no shard matches"):
        ShardDataset(str(tmp_path / "none" / "*.tar"), _builder())
    (tmp_path / "bad.flac").write_bytes(b"fLaC but not audio")
    write_manifest({"b": {"wav": str(tmp_path / "bad.flac"), "caption": "broken"}}, tmp_path / "m.json")
    [shard] = write_shards(str(tmp_path / "m.json"), str(tmp_path / "broken"))
    with pytest.raises(AudioReadError, match=r"shard-000000\.tar:b\.flac: cannot decode"):
        read_audio(next(read_shard(shard))["wav"], 16000)
    sf.write(str(tmp_path / "cut.wav"), np.zeros(4000, "float32"), 16000)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "cut.wav").read_bytes()[:-2000])
    write_manifest({"c": {"wav": str(tmp_path / "cut.wav"), "caption": "cut"}}, tmp_path / "t.json")
    [cut] = write_shards(str(tmp_path / "t.json"), str(tmp_path / "cut"))
    with pytest.raises(AudioReadError, match=r"shard-000000\.tar:c\.wav: truncated"):
        read_audio(next(read_shard(cut))["wav"], 16000)
    # in a training set: logged and skipped like an unreadable file
    assert [item["sample"] for item in ShardDataset([shard], ClipSampleBuilder(16000, 0.1))] == [None]


def test_the_command_writes_shards_of_the_given_size(esc_like, tmp_path, capsys):
    manifest, _, _ = esc_like
    assert main(["write", str(manifest), str(tmp_path / "out"), "--shard-size", "8"]) == 0
    assert "wrote 3 shard(s)" in capsys.readouterr().out
    sizes = json.loads((tmp_path / "out" / "sizes.json").read_text())
    assert list(sizes.values()) == [8, 8, 1]


@pytest.mark.skipif(not (ESC10 / "meta" / "esc50.csv").is_file(), reason="ESC-10 data absent")
def test_real_esc10_clips_stream_unchanged(tmp_path):
    clips = sorted((ESC10 / "audio").glob("*.flac"))[:4]
    rows = {c.stem: {"wav": str(c), "caption": "a clip", "labels": [c.stem.split("-")[-1]]}
            for c in clips}
    write_manifest(rows, tmp_path / "m.json")
    write_shards(str(tmp_path / "m.json"), str(tmp_path / "shards"), shard_size=3)
    builder = ClipSampleBuilder(16000, 5.0, resample=True)
    expected = make_clap_dataset(str(tmp_path / "m.json"), builder, train=False)
    streamed = ShardDataset(str(tmp_path / "shards" / "*.tar"), builder, train=False)
    _assert_same_samples([expected[i]["sample"] for i in range(4)],
                         [item["sample"] for item in streamed], 0)


def test_foreign_laion_clap_shards_are_read(tmp_path):
    """A LAION-CLAP shard (no sizes.json, metadata of its own in original_data)."""
    import io

    sf.write(str(tmp_path / "x.flac"), np.zeros(1600, "float32"), 16000)
    with tarfile.open(tmp_path / "laion-0.tar", "w") as tar:
        for key in ("17", "18"):
            meta = {"text": [f"a caption {key}", "another"], "tag": ["Harp"],
                    "original_data": {"title": "Oriental Harp"}}
            for name, data in ((f"{key}.flac", (tmp_path / "x.flac").read_bytes()),
                               (f"{key}.json", json.dumps(meta).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    data = ShardDataset(str(tmp_path / "laion-*.tar"), ClipSampleBuilder(16000, 0.1), train=False)
    samples = [item["sample"] for item in data]
    assert len(data) == 2 and [s.id for s in samples] == ["17", "18"]
    assert [t.text for t in samples[0].texts] == ["a caption 17", "another"]
    assert samples[1].labels == ["Harp"] and samples[1].audio[0].wav.shape == (1600,)


def test_the_brain_tells_the_stream_its_epoch_and_resume_point(esc_like, tmp_path):
    from tests.unittests.test_training import _brain

    _, shards, _ = esc_like
    data = _id_dataset(shards, batch_size=4)
    brain = _brain(tmp_path)
    loader = brain.make_dataloader(data, sb.Stage.TRAIN, batch_size=4, shuffle=True)
    assert len(loader) == math.ceil(17 / 4)
    brain.step = 3  # as recovered from an intra-epoch checkpoint
    brain.on_stage_start(sb.Stage.TRAIN, 2)
    assert (data.epoch, data.batches_done) == (2, 3)
    with pytest.raises(ValueError, match="batch_size 8 differs"):
        brain.make_dataloader(data, sb.Stage.TRAIN, batch_size=8)
    with pytest.raises(ValueError, match="persistent_workers"):
        brain.make_dataloader(data, sb.Stage.TRAIN, batch_size=4, num_workers=1,
                              persistent_workers=True)
