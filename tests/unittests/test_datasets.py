"""Tests of the dataset pipeline: sample builders, captioners, skips, collate."""

import json
import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_tclap.data.batching import collate_clap_samples
from speechbrain_tclap.data.datasets import (
    ClipSampleBuilder,
    EventCaptioner,
    ManifestCaptioner,
    collate_dataset_items,
    make_clap_dataset,
)
from speechbrain_tclap.data.manifest import ManifestError

EVENTS = [
    {"label": "bell", "onset": 0.1, "offset": 0.6},
    {"label": "rising_chirp", "onset": 0.8, "offset": 1.4},
]


@pytest.fixture
def folder(tmp_path):
    sf.write(tmp_path / "good.wav", 0.1 * np.ones(24000, "float32"), 16000)
    sf.write(tmp_path / "short.wav", 0.1 * np.ones(8000, "float32"), 16000)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wave file")
    sf.write(tmp_path / "nan.wav", np.full(1600, np.nan, "float32"), 16000, subtype="FLOAT")
    sf.write(tmp_path / "rate.wav", np.zeros(800, "float32"), 8000)
    return tmp_path


def _manifest(folder, rows):
    path = folder / "m.json"
    path.write_text(json.dumps(rows))
    return str(path)


def test_unreadable_audio_is_logged_skipped_and_counted(folder, caplog):
    rows = {
        name: {"wav": str(folder / f"{name}.wav"), "caption": f"{name} sound"}
        for name in ("good", "corrupt", "nan", "rate", "missing")
    }
    manifest = _manifest(folder, rows)
    # Missing at the start: refused, the manifest and the row named.
    with pytest.raises(ManifestError, match=r"m.*, row 'missing': audio file not found"):
        make_clap_dataset(manifest, ClipSampleBuilder(16000, 1.0), train=False)
    sf.write(folder / "missing.wav", np.zeros(16000, "float32"), 16000)
    ds = make_clap_dataset(manifest, ClipSampleBuilder(16000, 1.0), train=False)
    (folder / "missing.wav").unlink()  # vanished during the run: skipped
    with caplog.at_level(logging.WARNING):
        items = [ds[i] for i in range(len(ds))]
    batch = collate_dataset_items(items)
    assert batch.ids == ["good"] and batch.num_skipped == 4
    text = caplog.text
    for name in ("corrupt.wav", "nan.wav", "rate.wav", "missing.wav"):
        assert name in text, name


def test_eval_builder_is_deterministic_and_pads_with_valid_length(folder):
    build = ClipSampleBuilder(16000, 1.0, train_crop="random", eval_crop="left")
    row = {"id": "good", "wav": str(folder / "good.wav"), "caption": "x"}
    a, b = build(row, train=False), build(row, train=False)
    assert torch.equal(a.audio[0].wav, b.audio[0].wav)
    short = build({"id": "s", "wav": str(folder / "short.wav"), "caption": "x"}, train=False)
    assert short.audio[0].valid_samples == 8000 and short.audio[0].wav.shape == (16000,)
    batch = collate_clap_samples([a, short])
    assert batch.wav_lens.tolist() == [1.0, 0.5]


def test_training_draws_depend_on_seed_epoch_and_id_only(folder):
    sf.write(folder / "long.wav", np.random.default_rng(0).standard_normal(48000).astype("float32") * 0.1, 16000)
    row = {"id": "long", "wav": str(folder / "long.wav"), "events": EVENTS}
    build = ClipSampleBuilder(16000, 0.5, captioner=EventCaptioner("ordered"), seed=7)
    first = build(row, train=True)
    build(row, train=True)  # another draw in between must not matter
    again = build(row, train=True)
    assert torch.equal(first.audio[0].wav, again.audio[0].wav)
    draws = set()
    for epoch in range(6):
        build.set_epoch(epoch)
        draws.add(tuple(build(row, train=True).audio[0].wav[:4].tolist()))
    assert len(draws) > 1


def test_captioners():
    ordered = EventCaptioner("ordered")({"events": EVENTS}, train=False)
    reversed_events = [
        {"label": "rising_chirp", "onset": 0.1, "offset": 0.7},
        {"label": "bell", "onset": 0.9, "offset": 1.4},
    ]
    swapped = EventCaptioner("ordered")({"events": reversed_events}, train=False)
    assert ordered != swapped and "bell" in ordered[0] and "rising chirp" in ordered[0]
    unordered = EventCaptioner("unordered")
    assert unordered({"events": EVENTS}, False) == unordered({"events": reversed_events}, False)
    with pytest.raises(ValueError, match="style"):
        EventCaptioner("sideways")
    with pytest.raises(ValueError, match="no 'events'"):
        unordered({"id": "x"}, False)
    assert ManifestCaptioner()({"caption": "a"}, train=True) == ["a"]


def test_ordered_captions_set_aside_for_the_temporal_loss(folder):
    # Style unordered_with_ordered: L_c reads "A and B"; the ordered caption
    # and its swap (one template) are outside L_c, for L_t alone.
    row = {"id": "two", "wav": str(folder / "good.wav"), "events": EVENTS}
    build = ClipSampleBuilder(
        16000, 1.0, captioner=EventCaptioner("unordered_with_ordered"), order_negatives=True, seed=3
    )
    for epoch in range(4):
        build.set_epoch(epoch)
        sample = build(row, train=True)
        main, ordered, swapped = sample.texts
        assert [t.view for t in sample.texts] == ["main", "ordered", "swapped"]
        assert main.text.index("bell") < main.text.index("rising chirp")  # names sorted
        assert not main.negative and ordered.negative and swapped.negative
        assert sample.audio[0].key == main.key
        exchanged = ordered.text.replace("bell", "@").replace("rising chirp", "bell").replace("@", "rising chirp")
        assert exchanged == swapped.text != ordered.text
    reversed_row = {**row, "events": [dict(EVENTS[0], onset=0.9, offset=1.4), dict(EVENTS[1], onset=0.1, offset=0.6)]}
    texts = build(reversed_row, train=False).texts
    assert texts[0].text == build(row, train=False).texts[0].text  # the order-free caption
    assert texts[1].text == "rising chirp followed by bell"
    single = {"id": "one", "wav": str(folder / "good.wav"), "events": EVENTS[:1]}
    assert [t.view for t in build(single, train=True).texts] == ["main"]
    # A from-scratch tokenizer learns the ordered captions too.
    from types import SimpleNamespace
    from speechbrain_tclap.recipe import training_captions

    texts = training_captions(SimpleNamespace(rows={"two": row}), build.captioner, draws=1)
    assert "bell followed by rising chirp" in texts and "bell and rising chirp" in texts
    with pytest.raises(ValueError, match="caption style"):
        EventCaptioner("sorted")


def test_bad_manifest_fails_at_construction_naming_file_and_row(folder):
    rows = {"a": {"wav": str(folder / "good.wav"), "caption": "  "}}
    with pytest.raises(ManifestError, match=r"m\.json.*'a'.*caption"):
        make_clap_dataset(_manifest(folder, rows), ClipSampleBuilder(16000, 1.0), train=False, required=("id", "wav", "caption"))
    rows = {"a": {"caption": "x"}}
    with pytest.raises(ManifestError, match=r"m\.json.*wav"):
        make_clap_dataset(_manifest(folder, rows), ClipSampleBuilder(16000, 1.0), train=False)


def test_order_negative_uses_the_same_template_and_is_a_negative(folder):
    row = {"id": "two", "wav": str(folder / "good.wav"), "events": EVENTS}
    build = ClipSampleBuilder(
        16000, 1.0, captioner=EventCaptioner("ordered"), order_negatives=True, seed=3
    )
    for epoch in range(5):
        build.set_epoch(epoch)
        sample = build(row, train=True)
        positive, negative = sample.texts
        assert not positive.negative and negative.negative and negative.view == "swapped"
        # Same template: swapping the two class names maps one onto the other.
        assert positive.text.replace("bell", "@").replace("rising chirp", "bell").replace("@", "rising chirp") == negative.text
        assert sample.audio[0].key == positive.key != negative.key
    single = {"id": "one", "wav": str(folder / "good.wav"), "events": EVENTS[:1]}
    assert len(build(single, train=True).texts) == 1
    unordered = ClipSampleBuilder(16000, 1.0, captioner=EventCaptioner("unordered"), order_negatives=True)
    assert len(unordered(row, train=True).texts) == 1


def test_events_in_the_view_time_only_where_the_clip_is_not_cropped(folder):
    # ClipSampleBuilder writes meta view_events (what the frame order loss
    # and SED read) only when the audio view is the whole clip.
    row = {"id": "two", "wav": str(folder / "good.wav"), "events": EVENTS, "caption": "x"}  # 1.5 s
    whole = ClipSampleBuilder(16000, 2.0)(row, train=True)
    assert whole.meta["view_events"]["main"] == EVENTS
    assert collate_clap_samples([whole]).ordered_event_pairs() == [(0, "bell", "rising_chirp")]
    for crop in ("random", "loudest"):
        cropped = ClipSampleBuilder(16000, 1.0, train_crop=crop, seed=1)(row, train=True)
        assert cropped.meta["events"] == EVENTS and "view_events" not in cropped.meta
        assert collate_clap_samples([cropped]).ordered_event_pairs() == []
    # overlapping events and repeats of one label make no pair
    overlapping = {**row, "events": [dict(EVENTS[0], offset=1.0), EVENTS[1], dict(EVENTS[0], onset=1.4, offset=1.5)]}
    sample = ClipSampleBuilder(16000, 2.0)(overlapping, train=False)
    assert collate_clap_samples([sample]).ordered_event_pairs() == [(0, "rising_chirp", "bell")]
