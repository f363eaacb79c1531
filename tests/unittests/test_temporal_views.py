"""Tests of temporal pair data: pair manifests, view synthesis, batch sampler.

The expected audio is written here independently (numpy, brute-force window
search) and compared with what ``TemporalViewBuilder`` synthesises.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain.dataio.dataloader import SaveableDataLoader, make_dataloader
from speechbrain_tclap.data.batching import caption_key, collate_clap_samples, view_names
from speechbrain_tclap.data.datasets import collate_dataset_items, make_clap_dataset
from speechbrain_tclap.data.manifest import load_manifest, write_manifest
from speechbrain_tclap.data.prepare.esc50 import prepare_esc50
from speechbrain_tclap.data.samplers import PairAwareBatchSampler, item_labels, item_sources
from speechbrain_tclap.data.synthetic import prepare_synthetic
from speechbrain_tclap.data.temporal import (
    DEFAULT_ORDERED_TEMPLATES,
    PAIR_REQUIRED,
    TemporalViewBuilder,
    fill_template,
    make_pair_rows,
)
from speechbrain_tclap.recipe import write_pair_manifests

ROOT = Path(__file__).resolve().parents[2]
ESC10 = ROOT.parent / "shared" / "data" / "esc10"
SR = 8000


def _signal(seed, length, burst_at, burst_len=200, burst=0.5, floor=0.01):
    """Seeded low noise with one loud burst (a unique loudest window)."""
    rng = np.random.default_rng(seed)
    x = floor * rng.standard_normal(length)
    x[burst_at : burst_at + burst_len] += burst * np.sin(
        2 * np.pi * 440 * np.arange(burst_len) / SR
    )
    return x.astype(np.float32)


@pytest.fixture
def clips(tmp_path):
    """Two float WAV clips (exact samples) and a pair row over them."""
    a = _signal(1, 1200, burst_at=650)
    b = 0.3 * _signal(2, 1000, burst_at=100)
    sf.write(tmp_path / "dog.wav", a, SR, subtype="FLOAT")
    sf.write(tmp_path / "rain.wav", b, SR, subtype="FLOAT")
    row = {
        "id": "dog1__rain1",
        "a": {"id": "dog1", "wav": str(tmp_path / "dog.wav"), "labels": ["dog"]},
        "b": {"id": "rain1", "wav": str(tmp_path / "rain.wav"), "labels": ["sea_waves"]},
    }
    return tmp_path, a, b, row


# ---------------------------------------------------------------------------
# Hand-made reference
# ---------------------------------------------------------------------------
def _crop_start(x, n, mode):
    if len(x) <= n:
        return 0
    if mode == "left":
        return 0
    if mode == "center":
        return (len(x) - n) // 2
    energies = [float(np.sum(x[s : s + n].astype(np.float64) ** 2)) for s in range(len(x) - n + 1)]
    return int(np.argmax(energies))


def _segment(x, n, mode, gain, level_db):
    start = _crop_start(x, n, mode)
    cut = x[start : start + n].astype(np.float64)
    if gain == "rms":
        cut = cut * (10 ** (level_db / 20) / np.sqrt(np.mean(cut**2)))
    elif gain == "peak":
        cut = cut * (10 ** (level_db / 20) / np.max(np.abs(cut)))
    seg = np.zeros(n)
    seg[: len(cut)] = cut
    return seg, len(cut)


def _concat(first, second, n, gap, cf, clip):
    head, tail = first.copy(), second.copy()
    if cf:
        ramp = np.arange(1, cf + 1) / (cf + 1)
        head[n - cf :] *= 1 - ramp
        tail[:cf] *= ramp
    out = np.zeros(clip)
    out[:n] += head
    out[n + gap - cf : 2 * n + gap - cf] += tail
    peak = np.max(np.abs(out))
    return out / peak if peak > 1 else out


@pytest.mark.parametrize(
    "gap, crossfade, gain, crop",
    [
        (0.0, 0.0, "rms", "loudest"),
        (0.05, 0.0, "rms", "loudest"),
        (0.0, 0.02, "rms", "loudest"),
        (0.025, 0.0, "peak", "center"),
        (0.0, 0.0, None, "left"),
    ],
)
def test_main_view_equals_hand_made_concatenation(clips, gap, crossfade, gain, crop):
    _, a, b, row = clips
    n, g, c = 400, round(gap * SR), round(crossfade * SR)
    build = TemporalViewBuilder(
        SR, 0.05, gap_seconds=gap, crossfade_seconds=crossfade, gain=gain,
        segment_crop=crop, reversed_audio=True,
    )
    sample = build(row, train=False)
    level = {"rms": -20.0, "peak": -3.0, None: 0.0}[gain]
    seg_a, _ = _segment(a, n, crop, gain, level)
    seg_b, _ = _segment(b, n, crop, gain, level)
    clip = 2 * n + g - c
    main, rev = sample.audio
    assert main.wav.shape == (clip,) and main.valid_samples == clip
    np.testing.assert_allclose(main.wav.numpy(), _concat(seg_a, seg_b, n, g, c, clip), atol=1e-6)
    np.testing.assert_allclose(rev.wav.numpy(), _concat(seg_b, seg_a, n, g, c, clip), atol=1e-6)
    if gain == "rms" and not c:
        rms = main.wav[:n].double().pow(2).mean().sqrt()
        assert abs(float(rms) - 0.1) < 1e-6
    if crop == "loudest":
        # The reference (and so the builder) keeps the whole burst of A (650-850).
        assert 450 <= _crop_start(a, n, "loudest") <= 650


def test_short_sources_are_zero_padded_with_valid_length(clips):
    folder, a, b, row = clips
    build = TemporalViewBuilder(SR, 0.2, clip_seconds=0.5, gain=None)
    sample = build(row, train=False)
    main = sample.audio[0]
    n = 1600
    assert main.wav.shape == (4000,)
    # A (1200 samples) fills its slot's start; B starts at the slot boundary.
    np.testing.assert_allclose(main.wav[:1200].numpy(), a, atol=1e-7)
    assert torch.all(main.wav[1200:n] == 0)
    np.testing.assert_allclose(main.wav[n : n + 1000].numpy(), b, atol=1e-7)
    assert main.valid_samples == n + 1000 and torch.all(main.wav[n + 1000 :] == 0)
    batch = collate_clap_samples([sample])
    assert batch.wav_lens.tolist() == [pytest.approx(2600 / 4000)]
    with pytest.raises(ValueError, match="shorter than two segments"):
        TemporalViewBuilder(SR, 0.2, clip_seconds=0.3)
    with pytest.raises(ValueError, match="gap or a crossfade"):
        TemporalViewBuilder(SR, 0.2, gap_seconds=0.1, crossfade_seconds=0.1)


def test_overlay_is_the_sum_of_both_segments(clips):
    _, a, b, row = clips
    sample = TemporalViewBuilder(SR, 0.05, overlay=True)(row, train=False)
    views = {v.view: v for v in sample.audio}
    seg_a, _ = _segment(a, 400, "loudest", "rms", -20.0)
    seg_b, _ = _segment(b, 400, "loudest", "rms", -20.0)
    overlay = views["overlay"]
    assert overlay.valid_samples == 400
    np.testing.assert_allclose(overlay.wav[:400].numpy(), seg_a + seg_b, atol=1e-6)
    assert torch.all(overlay.wav[400:] == 0)
    assert overlay.key == "dog while sea waves"
    texts = {t.view: t for t in sample.texts}
    assert texts["overlay"].key == overlay.key and not texts["overlay"].negative


def test_captions_keys_and_negative_roles(clips):
    _, _, _, row = clips
    # Default: positive + order-swapped negative written with the same template.
    sample = TemporalViewBuilder(SR, 0.05)(row, train=False)
    assert [(a.view, a.key) for a in sample.audio] == [("main", "dog followed by sea waves")]
    assert [(t.view, t.text, t.negative) for t in sample.texts] == [
        ("main", "dog followed by sea waves", False),
        ("swapped", "sea waves followed by dog", True),
    ]
    assert sample.labels == ["dog", "sea_waves"]
    assert sample.meta["keys"] == {"main": "dog followed by sea waves", "swapped": "sea waves followed by dog"}

    # Reversed audio: the swapped caption is that audio's positive, not a pure negative.
    sample = TemporalViewBuilder(SR, 0.05, reversed_audio=True)(row, train=False)
    texts = {t.view: t for t in sample.texts}
    assert set(texts) == {"main", "reversed"} and not texts["reversed"].negative
    audio = {a.view: a for a in sample.audio}
    assert texts["reversed"].key == audio["reversed"].key == sample.meta["keys"]["swapped"]
    batch = collate_clap_samples([sample])
    assert torch.equal(batch.audio_keys, batch.text_keys) and batch.audio_keys[0] != batch.audio_keys[1]
    assert not batch.text_is_negative.any()

    # Without the order negative, only the positive caption.
    sample = TemporalViewBuilder(SR, 0.05, order_negative=False)(row, train=False)
    assert [t.view for t in sample.texts] == ["main"]

    # Unordered: order-free caption (names sorted), no negative, one key for both orders.
    build = TemporalViewBuilder(SR, 0.05, caption_style="unordered", reversed_audio=True)
    sample = build(row, train=False)
    assert [(t.text, t.negative) for t in sample.texts] == [("dog and sea waves", False)]
    assert {a.key for a in sample.audio} == {"dog and sea waves"}
    swapped_row = {**row, "a": row["b"], "b": row["a"]}
    assert build(swapped_row, train=False).texts[0].text == "dog and sea waves"

    # Order set aside: "dog and sea waves" for L_c, the ordered caption and
    # its swap (negative=True, out of L_c) for L_t; the tokenizer sees all.
    build = TemporalViewBuilder(SR, 0.05, caption_style="unordered_with_ordered")
    sample = build(row, train=False)
    assert [(t.view, t.text, t.negative) for t in sample.texts] == [
        ("main", "dog and sea waves", False),
        ("ordered", "dog followed by sea waves", True),
        ("swapped", "sea waves followed by dog", True),
    ]
    assert sample.audio[0].key == "dog and sea waves"
    captions = build.all_captions(["dog", "sea_waves"])
    assert {"dog and sea waves", "dog followed by sea waves", "sea waves after dog"} <= set(captions)
    for epoch in range(6):  # a training draw keeps one template for both orders
        build.set_epoch(epoch)
        _, ordered, swapped = build(row, train=True).texts
        assert ordered.text.replace("dog", "@").replace("sea waves", "dog").replace("@", "sea waves") == swapped.text
    build = TemporalViewBuilder(SR, 0.05, caption_style="unordered_with_ordered",
                                templates="{B} after {A}")
    assert [t.text for t in build(row, train=False).texts] == [
        "dog and sea waves", "sea waves after dog", "dog after sea waves"]
    # order_aside_share: some training draws keep the order in L_c instead.
    build = TemporalViewBuilder(SR, 0.05, caption_style="unordered_with_ordered", order_aside_share=0.5)
    kinds = set()
    ordered_captions = {fill_template(t, "dog", "sea waves") for t in DEFAULT_ORDERED_TEMPLATES}
    for epoch in range(12):
        build.set_epoch(epoch)
        sample = build(row, train=True)
        kinds.add(tuple(t.view for t in sample.texts))
        if len(sample.texts) == 2:  # the ordered style's sample
            assert sample.texts[0].text in ordered_captions and sample.texts[1].view == "swapped"
            assert sample.audio[0].key == sample.texts[0].key and sample.texts[1].negative
    assert kinds == {("main", "ordered", "swapped"), ("main", "swapped")}
    assert build(row, train=False).texts[0].text == "dog and sea waves"
    with pytest.raises(ValueError, match="order_aside_share"):
        TemporalViewBuilder(SR, 0.05, caption_style="unordered_with_ordered", order_aside_share=1.5)
    with pytest.raises(ValueError, match="reversed_audio"):
        TemporalViewBuilder(SR, 0.05, caption_style="unordered_with_ordered", reversed_audio=True)

    # Same class on both sides: the swapped caption equals the positive; no negative.
    same = {**row, "b": {**row["b"], "labels": ["dog"]}}
    sample = TemporalViewBuilder(SR, 0.05, reversed_audio=True)(same, train=False)
    assert [t.view for t in sample.texts] == ["main"]
    assert sample.audio[0].key == sample.audio[1].key

    # Readable and overridden names.
    build = TemporalViewBuilder(SR, 0.05, label_names={"dog": "a dog barking"})
    assert build(row, train=False).texts[0].text == "a dog barking followed by sea waves"


def test_templates_training_draw_and_swap_with_the_same_template(clips):
    _, _, _, row = clips
    build = TemporalViewBuilder(SR, 0.05, seed=3)
    assert build(row, train=False).meta["template"] == DEFAULT_ORDERED_TEMPLATES[0]
    seen = {}
    for epoch in range(40):
        build.set_epoch(epoch)
        sample = build(row, train=True)
        again = build(row, train=True)
        assert [t.text for t in sample.texts] == [t.text for t in again.texts]
        template = sample.meta["template"]
        seen[template] = [t.text for t in sample.texts]
    assert len(seen) >= 4
    assert seen["{B} after {A}"] == ["sea waves after dog", "dog after sea waves"]
    assert seen["{A} before {B}"] == ["dog before sea waves", "sea waves before dog"]
    with pytest.raises(ValueError, match=r"\{A\} and \{B\}"):
        TemporalViewBuilder(SR, 0.05, templates=["{A} only"])


def test_random_crop_only_in_training_and_seeded(tmp_path):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "x.wav", (0.1 * rng.standard_normal(4000)).astype("float32"), SR, subtype="FLOAT")
    sf.write(tmp_path / "y.wav", (0.1 * rng.standard_normal(4000)).astype("float32"), SR, subtype="FLOAT")
    row = {
        "id": "x__y",
        "a": {"id": "x", "wav": str(tmp_path / "x.wav"), "labels": ["bell"]},
        "b": {"id": "y", "wav": str(tmp_path / "y.wav"), "labels": ["hiss"]},
    }
    build = TemporalViewBuilder(SR, 0.05, segment_crop="random", seed=1)
    first = build(row, train=False).audio[0].wav
    assert torch.equal(first, build(row, train=False).audio[0].wav)
    draws = set()
    for epoch in range(5):
        build.set_epoch(epoch)
        wav = build(row, train=True).audio[0].wav
        assert torch.equal(wav, build(row, train=True).audio[0].wav)
        draws.add(tuple(wav[:3].tolist()))
    assert len(draws) == 5
    assert TemporalViewBuilder(SR, 0.05, segment_crop="random", seed=1).eval_segment_crop == "loudest"


def test_events_meta_follow_crops_and_slots(tmp_path):
    # Source with event times (synthetic layout): event at 0.30-0.40 s of a 0.6 s clip.
    x = np.zeros(int(0.6 * SR), "float32")
    x[2400:3200] = 0.5
    sf.write(tmp_path / "ev.wav", x, SR, subtype="FLOAT")
    # Source without times (ESC layout): sound then digital silence.
    y = np.zeros(int(0.3 * SR), "float32")
    y[:1200] = 0.2
    sf.write(tmp_path / "esc.wav", y, SR, subtype="FLOAT")
    row = {
        "id": "ev__esc",
        "a": {"id": "ev", "wav": str(tmp_path / "ev.wav"), "labels": ["bell"],
              "events": [{"label": "bell", "onset": 0.3, "offset": 0.4}]},
        "b": {"id": "esc", "wav": str(tmp_path / "esc.wav"), "category": "dog"},
    }
    build = TemporalViewBuilder(SR, 0.25, gap_seconds=0.1, reversed_audio=True, overlay=True)
    sample = build(row, train=False)
    # Loudest 0.25 s window of A starts at 0.15 s (earliest window holding the event).
    assert [(e["label"], e["source"]) for e in sample.meta["events"]] == [("bell", "ev"), ("dog", "esc")]
    spans = [(e["onset"], e["offset"]) for e in sample.meta["events"]]
    assert spans == [pytest.approx((0.15, 0.25)), pytest.approx((0.35, 0.5))]
    reversed_spans = [(e["label"], e["onset"], e["offset"]) for e in sample.meta["view_events"]["reversed"]]
    assert reversed_spans == [("dog", 0.0, pytest.approx(0.15)), ("bell", pytest.approx(0.5), pytest.approx(0.6))]
    overlay = sample.meta["view_events"]["overlay"]
    assert [e["onset"] for e in overlay] == [pytest.approx(0.15), 0.0]
    # The events agree with the audio: B is silent after its event.
    main = sample.audio[0].wav
    assert main[int(0.5 * SR) :].abs().max() == 0 and main[int(0.36 * SR)].abs() > 0


def test_unreadable_audio_is_logged_and_skipped(clips, caplog):
    folder, _, _, row = clips
    bad = {**row, "b": {**row["b"], "wav": str(folder / "missing.wav")}}
    build = TemporalViewBuilder(SR, 0.05)
    with caplog.at_level(logging.WARNING):
        assert build(bad, train=False) is None
    assert "missing.wav" in caplog.text and "dog1__rain1" in caplog.text
    with pytest.raises(ValueError, match="'a' and 'b'"):
        build({"id": "x", "wav": "x.wav"}, train=False)


def test_resample_flag(clips):
    _, _, _, row = clips
    assert TemporalViewBuilder(16000, 0.05)(row, train=False) is None
    sample = TemporalViewBuilder(16000, 0.05, resample=True)(row, train=False)
    assert sample.audio[0].wav.shape == (1600,)


# ---------------------------------------------------------------------------
# Pair manifests
# ---------------------------------------------------------------------------
def _rows(n_per_class=4, classes=("dog", "rain", "bell", "siren", "cat")):
    return {
        f"{label}{i}": {"wav": f"{label}{i}.wav", "labels": [label]}
        for label in classes
        for i in range(n_per_class)
    }


def test_pair_rows_are_deterministic_distinct_and_cross_class():
    rows = _rows()
    pairs = make_pair_rows(rows, 60, seed=5)
    assert pairs == make_pair_rows(rows, 60, seed=5)
    assert [p["id"] for p in pairs] != [p["id"] for p in make_pair_rows(rows, 60, seed=6)]
    unordered = {frozenset((p["a"]["id"], p["b"]["id"])) for p in pairs}
    assert len(unordered) == 60
    for p in pairs:
        assert p["id"] == f"{p['a']['id']}__{p['b']['id']}"
        assert p["labels"] == [p["a"]["labels"][0], p["b"]["labels"][0]]
        assert p["labels"][0] != p["labels"][1]
    # Both orientations occur.
    assert any(p["a"]["id"] < p["b"]["id"] for p in pairs)
    assert any(p["a"]["id"] > p["b"]["id"] for p in pairs)
    # Dense request: every cross-class pair exactly once (160 = C(20,2) - 5*C(4,2)).
    everything = make_pair_rows(rows, 160, seed=0)
    assert len({frozenset((p["a"]["id"], p["b"]["id"])) for p in everything}) == 160
    with pytest.raises(ValueError, match="only 160 exist"):
        make_pair_rows(rows, 161, seed=0)
    assert len(make_pair_rows(rows, 161, seed=0, allow_same_class=True)) == 161


def test_reversed_pairs_and_label_sources():
    rows = _rows(2, ("dog", "rain"))
    pairs = make_pair_rows(rows, 3, seed=0, include_reversed=True)
    assert len(pairs) == 6
    for forward, reverse in zip(pairs[::2], pairs[1::2]):
        assert reverse["reverse_of"] == forward["id"]
        assert reverse["a"] == forward["b"] and reverse["b"] == forward["a"]
        assert reverse["labels"] == forward["labels"][::-1]
    # Multi-event synthetic rows are not paired; ESC rows use 'category'.
    mixed = {
        "s0": {"wav": "s0.flac", "labels": ["bell", "hiss"]},
        "s1": {"wav": "s1.flac", "labels": ["bell"]},
        "e0": {"wav": "e0.wav", "category": "dog"},
        "e1": {"wav": "e1.wav", "category": "rain"},
    }
    pairs = make_pair_rows(mixed, 3, seed=0)
    assert all("s0" not in p["id"] for p in pairs)
    assert {lab for p in pairs for lab in p["labels"]} == {"bell", "dog", "rain"}
    assert make_pair_rows({"x": {"wav": "x", "fold": 1, "target": 3},
                           "y": {"wav": "y", "fold": 1, "target": 4}},
                          1, label_key="target")[0]["labels"] in (["3", "4"], ["4", "3"])


def _fake_esc(root, folds=(1, 2, 3, 4, 5), classes=((0, "dog"), (10, "rain"), (38, "clock_tick"))):
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    rng = np.random.default_rng(0)
    for fold in folds:
        for target, category in classes:
            for take in "AB":
                src = 1000 * fold + target
                name = f"{fold}-{src}-{take}-{target}.wav"
                sf.write(root / "audio" / name, (0.1 * rng.standard_normal(800)).astype("float32"), SR)
                lines.append(f"{name},{fold},{target},{category},True,{src},{take}")
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")


def test_pairs_of_a_split_only_use_that_split(tmp_path):
    _fake_esc(tmp_path / "esc")
    paths = prepare_esc50(tmp_path / "esc", tmp_path / "m", [1, 2, 3], [4], [5])
    pair_paths = write_pair_manifests(
        paths, {split: 10 for split in paths}, 1, str(tmp_path / "m"), include_singles=False
    )
    folds = {}
    for split, pair_path in pair_paths.items():
        pairs = load_manifest(pair_path, required=PAIR_REQUIRED)
        folds[split] = {p[s]["fold"] for p in pairs.values() for s in "ab"}
        sources = {p[s]["id"] for p in pairs.values() for s in "ab"}
        folds[split + "_sources"] = sources
    assert folds["train"] <= {1, 2, 3} and folds["valid"] == {4} and folds["test"] == {5}
    assert not folds["train_sources"] & folds["test_sources"]
    assert not folds["train_sources"] & folds["valid_sources"]


def test_synthetic_manifest_pairs_build_and_collate(tmp_path):
    paths = prepare_synthetic(
        tmp_path / "synth", splits={"train": 10}, sample_rate=SR, clip_duration=1.0,
        n_events=(1, 1), num_workers=1,
    )
    pairs = make_pair_rows(load_manifest(paths["train"]), 6, seed=0, include_reversed=True)
    pair_path = str(tmp_path / "pairs.json")
    write_manifest(pairs, pair_path)
    build = TemporalViewBuilder(SR, 0.5, reversed_audio=True, overlay=True)
    dataset = make_clap_dataset(pair_path, build, train=True, required=PAIR_REQUIRED)
    batch = collate_dataset_items([dataset[i] for i in range(4)])
    assert batch.wavs.shape == (12, SR) and batch.num_skipped == 0
    assert view_names(batch.audio_views[:3]) == ["main", "reversed", "overlay"]
    for sample_meta, labels in zip(batch.meta, batch.labels):
        events = sample_meta["events"]
        assert [e["label"] for e in events] == labels
        assert 0 <= events[0]["onset"] <= events[0]["offset"] <= 0.5 <= events[1]["onset"]
    # Keys tie audio and text views: every audio has exactly its own positive text.
    for a, key in enumerate(batch.audio_keys.tolist()):
        own = batch.text_sample == batch.audio_sample[a]
        assert int(((batch.text_keys == key) & own).sum()) == 1


@pytest.mark.skipif(not (ESC10 / "meta" / "esc50.csv").is_file(), reason="ESC-10 data not available")
def test_esc10_pairs_build_from_flac(tmp_path):
    paths = prepare_esc50(ESC10, tmp_path, [1, 2], [3], [4])
    pairs = make_pair_rows(load_manifest(paths["test"], required=("id", "wav")), 2, seed=0)
    build = TemporalViewBuilder(16000, 5.0, gap_seconds=0.5)
    for pair in pairs:
        sample = build(pair, train=False)
        assert sample is not None and sample.audio[0].wav.shape == (16000 * 10 + 8000,)
        assert sample.audio[0].wav.abs().max() <= 1.0
        assert {pair["a"]["fold"], pair["b"]["fold"]} == {4}
        assert sample.texts[1].negative and sample.texts[0].key != sample.texts[1].key
        events = sample.meta["events"]
        assert events[0]["offset"] <= 5.0 and events[1]["onset"] >= 5.5


# ---------------------------------------------------------------------------
# Batch sampler
# ---------------------------------------------------------------------------
def _pair_items(n_clips=40, n_pairs=100, seed=0):
    rows = _rows(n_clips // 5)
    return make_pair_rows(rows, n_pairs, seed=seed, include_reversed=True)


def test_sampler_never_batches_a_pair_with_its_reverse_over_many_seeds():
    items = _pair_items()
    keys = [frozenset(item_sources(p)) for p in items]
    for batch_size in (7, 16, 32):
        for seed in range(60):
            sampler = PairAwareBatchSampler(items, batch_size, seed=seed)
            for epoch in (0, 1):
                sampler.set_epoch(epoch)
                batches = list(sampler)
                assert len(batches) == len(sampler) == math.ceil(len(items) / batch_size)
                flat = [i for b in batches for i in b]
                assert sorted(flat) == list(range(len(items)))
                for b in batches:
                    assert len({keys[i] for i in b}) == len(b), (batch_size, seed, epoch)
                    assert len(b) <= batch_size


def test_sampler_distinct_sources_and_drop_last():
    items = _pair_items()
    sampler = PairAwareBatchSampler(items, 8, seed=2, distinct_sources=True)
    for b in sampler:
        sources = [s for i in b for s in item_sources(items[i])]
        assert len(sources) == len(set(sources))
    assert sorted(i for b in sampler for i in b) == list(range(len(items)))
    dropped = PairAwareBatchSampler(items, 32, seed=2, drop_last=True)
    assert len(dropped) == len(items) // 32 and all(len(b) == 32 for b in dropped)
    # Without the constraint the reverse pairs can meet.
    free = PairAwareBatchSampler(items, 32, seed=2, separate_reversed=False)
    keys = [frozenset(item_sources(p)) for p in items]
    assert any(len({keys[i] for i in b}) < len(b) for b in free)


def test_sampler_separates_by_class_labels():
    # Synthetic-style rows: 5 classes, every ordered two-class clip 4 times,
    # plus single-event clips (which conflict with nothing).
    classes = ["bell", "hiss", "chirp", "click", "tone"]
    rows = [
        {"id": f"{a}-{b}-{k}", "labels": [a, b]}
        for a in classes for b in classes if a != b for k in range(4)
    ] + [{"id": f"{c}-{k}", "labels": [c]} for c in classes for k in range(8)]
    keys = [frozenset(r["labels"]) if len(r["labels"]) > 1 else None for r in rows]
    for seed in range(10):
        sampler = PairAwareBatchSampler(rows, 16, seed=seed, separate_by="labels")
        batches = list(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(rows)))
        for b in batches:
            pair_keys = [keys[i] for i in b if keys[i] is not None]
            assert len(set(pair_keys)) == len(pair_keys)
            assert len(b) <= 16
    # Label keys of pair rows come from their source rows.
    pairs = _pair_items()
    sampler = PairAwareBatchSampler(pairs, 8, seed=0, separate_by="labels")
    for b in sampler:
        label_sets = [frozenset(item_labels(pairs[i])) for i in b]
        label_sets = [k for k in label_sets if len(k) > 1]
        assert len(set(label_sets)) == len(label_sets)
    with pytest.raises(ValueError, match="separate_by"):
        PairAwareBatchSampler(rows, 8, separate_by="captions")


def test_sampler_is_seeded_per_epoch_and_reads_an_epoch_counter():
    items = _pair_items()
    a = PairAwareBatchSampler(items, 16, seed=1)
    b = PairAwareBatchSampler(items, 16, seed=1)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(PairAwareBatchSampler(items, 16, seed=2)) != list(PairAwareBatchSampler(items, 16, seed=1))

    class Counter:
        current = 3

    counter = Counter()
    c = PairAwareBatchSampler(items, 16, seed=1, epoch_counter=counter)
    assert list(c) == list(PairAwareBatchSampler(items, 16, seed=1).batches(epoch=3))
    counter.current = 4
    assert list(c) == PairAwareBatchSampler(items, 16, seed=1).batches(epoch=4)
    unshuffled = PairAwareBatchSampler(["a", "b", "c"], 2, shuffle=False)
    assert list(unshuffled) == [[0, 1], [2]]


def test_sampler_with_speechbrain_loader_resumes_exactly(tmp_path):
    items = _pair_items(n_pairs=40)
    write_manifest(items, tmp_path / "pairs.json")
    dataset = make_clap_dataset(str(tmp_path / "pairs.json"), lambda row, train: row["id"],
                                train=True, required=PAIR_REQUIRED)

    def loader():
        sampler = PairAwareBatchSampler(dataset, 8, seed=4)
        sampler.set_epoch(2)
        return make_dataloader(dataset, batch_sampler=sampler,
                               collate_fn=lambda xs: [x["sample"] for x in xs])

    first = loader()
    assert isinstance(first, SaveableDataLoader)
    full = list(first)
    # The sampler's indices follow the dataset's order of ids.
    assert [i for b in full for i in b] != [] and {i for b in full for i in b} == {p["id"] for p in items}
    keys = {p["id"]: frozenset(item_sources(p)) for p in items}
    assert all(len({keys[i] for i in b}) == len(b) for b in full)

    interrupted = loader()
    iterator = iter(interrupted)
    seen = [next(iterator) for _ in range(3)]
    interrupted._speechbrain_save(tmp_path / "loader.ckpt")
    resumed = loader()
    resumed._speechbrain_load(tmp_path / "loader.ckpt", end_of_epoch=False)
    assert seen + list(resumed) == full
