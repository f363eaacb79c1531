"""Tests for the sound-event generator (data/synthetic.py) and its captions (data/captions.py).

Authors
 * speechbrain-tclap developers 2026
"""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from speechbrain_tclap.data import synthetic
from speechbrain_tclap.data.captions import caption_for_events
from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.data.manifest import load_manifest
from speechbrain_tclap.data.synthetic import (
    EVENT_CLASSES,
    FINGERPRINT_FILE,
    SoundEventGenerator,
    prepare_synthetic,
)

CLASSES = list(EVENT_CLASSES)


# ---------------------------------------------------------------------------
# Event classes
# ---------------------------------------------------------------------------
def test_there_are_at_least_12_readable_classes():
    assert len(CLASSES) >= 12
    for label in CLASSES:
        assert label == label.lower() and " " not in label
        assert readable_label(label) == label.replace("_", " ")


@pytest.mark.parametrize("label", CLASSES)
def test_every_class_is_finite_bounded_and_sized(label):
    fn = EVENT_CLASSES[label]
    rng = np.random.default_rng(0)
    cases = ((16000, 0.3), (16000, 1.0), (8000, 0.5), (48000, 0.05))
    for sample_rate, duration in cases:
        x = fn(rng, duration, sample_rate)
        assert x.dtype == np.float32
        assert x.shape == (round(duration * sample_rate),)
        assert np.isfinite(x).all()
        peak = np.abs(x).max()
        assert 0.2 < peak <= 1.0, (label, sample_rate, duration, peak)
        # Fades: no click at the edges.
        assert abs(x[0]) < 0.05 and abs(x[-1]) < 0.05


@pytest.mark.parametrize("label", CLASSES)
def test_every_class_is_seeded(label):
    fn = EVENT_CLASSES[label]
    a = fn(np.random.default_rng(5), 0.5, 16000)
    b = fn(np.random.default_rng(5), 0.5, 16000)
    c = fn(np.random.default_rng(6), 0.5, 16000)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def _features(x, sr=16000):
    """Level-invariant spectro-temporal summary of one event.

    32 log-spaced band energies (dB re. the loudest band) and six temporal
    statistics: fraction of quiet 8 ms blocks, log envelope spread, spectral
    flatness, pitch slope (octaves/s), log pitch wobble and envelope decay.
    """
    x = x.astype(np.float64)
    n_fft, hop = 512, 128
    xp = np.pad(x, (0, max(0, n_fft - len(x))))
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop]
    frames = frames * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    edges = np.geomspace(60, sr / 2, 33)
    band_of_bin = np.clip(np.searchsorted(edges, freqs) - 1, 0, 31)
    bands = np.zeros((32, power.shape[0]))
    np.add.at(bands, band_of_bin, power.T)
    spectrum = 10 * np.log10(bands.mean(1) + 1e-12)
    spectrum -= spectrum.max()

    block = sr // 125  # 8 ms envelope straight from the waveform
    blocks = x[: len(x) // block * block].reshape(-1, block)
    env = 10 * np.log10((blocks**2).mean(1) + 1e-12)
    core = np.clip(env[2:-2] - env.max(), -40, 0)  # skip the fades
    quiet = (core < -20).mean()
    decay = np.polyfit(np.arange(len(core)) * block / sr, core, 1)[0]

    energy = 10 * np.log10(power.sum(1))
    loud = energy > energy.max() - 20
    flatness = np.log10(
        (np.exp(np.log(power).mean(1)) / power.mean(1))[loud].mean()
    )
    peak_bin = np.argmax(power[:, 2:], 1) + 2
    offsets = np.arange(-2, 3)
    around = np.clip(peak_bin[:, None] + offsets, 0, len(freqs) - 1)
    weights = np.take_along_axis(power, around, 1)
    pitch = np.log2((weights * freqs[around]).sum(1) / weights.sum(1))[loud]
    t = (np.arange(len(energy)) * hop / sr)[loud]
    slope, intercept = (
        np.polyfit(t, pitch, 1) if len(t) > 3 else (0.0, pitch.mean())
    )
    wobble = (pitch - slope * t - intercept).std()
    temporal = [
        quiet,
        np.log(core.std() + 0.05),
        flatness,
        np.clip(slope, -10, 10),
        np.log(wobble + 1e-3),
        np.clip(decay, -300, 300),
    ]
    return np.concatenate([spectrum, temporal])


def _examples(n_per_class, rng):
    feats, labels = [], []
    for index, label in enumerate(CLASSES):
        for _ in range(n_per_class):
            x = EVENT_CLASSES[label](rng, rng.uniform(0.3, 1.0), 16000)
            feats.append(_features(x))
            labels.append(index)
    return np.array(feats), np.array(labels)


def test_classes_are_distinguishable_by_shape_not_level():
    train_x, train_y = _examples(20, np.random.default_rng(100))
    test_x, test_y = _examples(8, np.random.default_rng(200))
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    # The 32 band dims together weigh about as much as two temporal ones.
    weight = np.ones(train_x.shape[1])
    weight[:32] = 2 / np.sqrt(32)
    train_z, test_z = (train_x - mean) / std * weight, (
        test_x - mean
    ) / std * weight
    centroids = np.stack(
        [train_z[train_y == c].mean(0) for c in range(len(CLASSES))]
    )
    predicted = np.argmin(
        ((test_z[:, None] - centroids[None]) ** 2).sum(-1), axis=1
    )
    accuracy = (predicted == test_y).mean()
    assert accuracy >= 0.9, accuracy


# ---------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------
def _check_events(events, duration, overlap_allowed):
    onsets = [e["onset"] for e in events]
    assert onsets == sorted(onsets)
    for e in events:
        assert set(e) == {"label", "onset", "offset"}
        assert 0.0 <= e["onset"] < e["offset"] <= duration + 1e-9
    if not overlap_allowed:
        for before, after in zip(events, events[1:]):
            assert before["offset"] <= after["onset"]


def test_make_clip_places_events_without_overlap():
    gen = SoundEventGenerator(sample_rate=16000, min_event=0.3, max_event=1.0)
    for seed in range(25):
        n_events = 1 + seed % 3
        wav, events = gen.make_clip(2.5, n_events=n_events, rng=seed)
        assert wav.dtype == np.float32 and wav.shape == (40000,)
        assert np.isfinite(wav).all() and np.abs(wav).max() <= 1.0
        assert len(events) == n_events
        assert len({e["label"] for e in events}) == n_events
        _check_events(events, 2.5, overlap_allowed=False)
        for e in events:
            assert e["offset"] - e["onset"] >= 0.3 - 1e-4
        # Events stand well above the -40 dB floor; the gaps do not.
        inside = np.zeros(len(wav), dtype=bool)
        for e in events:
            inside[round(e["onset"] * 16000) : round(e["offset"] * 16000)] = (
                True
            )
        if (~inside).sum() > 1600:
            floor_rms = np.sqrt(np.mean(wav[~inside] ** 2))
            assert 0.003 < floor_rms < 0.03
            # Event peaks are drawn in [-12, -1] dBFS, i.e. >= 0.25.
            assert (
                np.abs(wav[inside]).max() > 0.2 > 3 * np.abs(wav[~inside]).max()
            )


def test_make_clip_with_overlap_and_without_floor():
    gen = SoundEventGenerator(noise_floor_db=None, max_event=2.0)
    for seed in range(10):
        wav, events = gen.make_clip(
            2.0, n_events=3, rng=seed, allow_overlap=True
        )
        assert np.abs(wav).max() <= 1.0
        _check_events(events, 2.0, overlap_allowed=True)
    wav, events = gen.make_clip(3.0, n_events=1, rng=0)
    start = round(events[0]["onset"] * 16000)
    assert np.all(wav[:start] == 0.0)  # digital silence without a floor


def test_make_clip_determinism():
    gen = SoundEventGenerator(seed=0)
    a = gen.make_clip(2.0, 2, rng=11)
    b = SoundEventGenerator(seed=99).make_clip(2.0, 2, rng=11)
    c = gen.make_clip(2.0, 2, rng=12)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    assert not np.array_equal(a[0], c[0])
    # Without an explicit rng, the generator's own seeded stream is used.
    first = [SoundEventGenerator(seed=4).make_clip(1.0, 1)[0] for _ in range(2)]
    assert np.array_equal(first[0], first[1])
    gen4 = SoundEventGenerator(seed=4)
    assert not np.array_equal(
        gen4.make_clip(1.0, 1)[0], gen4.make_clip(1.0, 1)[0]
    )


def test_make_clip_rejects_impossible_requests():
    gen = SoundEventGenerator(classes=["bell", "hiss"])
    with pytest.raises(ValueError, match="n_events"):
        gen.make_clip(5.0, n_events=3)
    with pytest.raises(ValueError, match="do not fit"):
        gen.make_clip(0.5, n_events=2)
    with pytest.raises(ValueError, match="unknown event classes"):
        SoundEventGenerator(classes=["bell", "trumpet"])
    assert gen.make_event("bell", 0.25, rng=0).shape == (4000,)


# ---------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------
EVENTS = [
    {"label": "white_noise_burst", "onset": 0.2, "offset": 0.8},
    {"label": "bell", "onset": 1.0, "offset": 1.5},
]
SWAPPED = [
    {"label": "white_noise_burst", "onset": 1.0, "offset": 1.5},
    {"label": "bell", "onset": 0.2, "offset": 0.8},
]


def test_ordered_caption_carries_order_unordered_does_not():
    assert caption_for_events(EVENTS) == "white noise burst followed by bell"
    assert caption_for_events(SWAPPED) == "bell followed by white noise burst"
    assert (
        caption_for_events(EVENTS, style="unordered")
        == "bell and white noise burst"
    )
    for seed in range(20):
        ordered = [caption_for_events(ev, rng=seed) for ev in (EVENTS, SWAPPED)]
        unordered = [
            caption_for_events(ev, style="unordered", rng=seed)
            for ev in (EVENTS, SWAPPED)
        ]
        assert ordered[0] != ordered[1]
        assert unordered[0] == unordered[1]
        # Names appear alphabetically in every unordered caption.
        assert unordered[0].index("bell") < unordered[0].index(
            "white noise burst"
        )


def test_caption_templates_and_counts():
    three = EVENTS + [{"label": "rising_chirp", "onset": 2.0, "offset": 2.4}]
    assert caption_for_events(three) == (
        "white noise burst followed by bell followed by rising chirp"
    )
    assert caption_for_events(three, style="unordered") == (
        "bell, rising chirp and white noise burst"
    )
    single = caption_for_events(EVENTS[:1])
    assert single == "the sound of white noise burst"
    assert caption_for_events(EVENTS[:1], style="unordered") == single
    drawn = {caption_for_events(EVENTS, rng=seed) for seed in range(40)}
    assert len(drawn) == 5  # every two-event ordered template gets used
    four = ["a_b", "c", "d", "e"]  # labels already in order; no 4-slot template
    assert (
        caption_for_events(four)
        == "a b followed by c followed by d followed by e"
    )
    custom = {"ordered": ["{A} and later {B}"]}
    caption = caption_for_events(EVENTS, templates=custom)
    assert caption == "white noise burst and later bell"
    with pytest.raises(ValueError):
        caption_for_events([])


# ---------------------------------------------------------------------------
# Dataset preparation
# ---------------------------------------------------------------------------
SMALL = {"train": 5, "valid": 3}


def _snapshot(folder):
    """All generated bytes, with paths relative to ``folder``."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            data = data.replace(str(folder).encode(), b"<ROOT>")
            out[os.path.relpath(path, folder)] = data
    return out


def test_prepare_synthetic_manifests_and_audio(tmp_path):
    paths = prepare_synthetic(tmp_path, splits=SMALL, clip_duration=2.0, seed=7)
    assert set(paths) == {"train", "valid"}
    for split, count in SMALL.items():
        rows = load_manifest(paths[split])
        assert len(rows) == count
        for clip_id, row in rows.items():
            assert clip_id.startswith(split + "_")
            info = sf.info(row["wav"])
            assert info.samplerate == 16000 and info.frames == 32000
            assert info.format == "FLAC" and info.subtype == "PCM_16"
            assert row["duration"] == 2.0 and 1 <= len(row["events"]) <= 3
            assert row["labels"] == [e["label"] for e in row["events"]]
            assert row["caption"] == caption_for_events(row["events"])
            _check_events(row["events"], 2.0, overlap_allowed=False)


def test_prepare_synthetic_is_deterministic_and_idempotent(
    tmp_path, monkeypatch
):
    first, second = tmp_path / "a", tmp_path / "b"
    prepare_synthetic(first, splits=SMALL, seed=3, audio_format="wav")
    prepare_synthetic(
        second, splits=SMALL, seed=3, audio_format="wav", num_workers=1
    )
    snapshot = _snapshot(first)
    other = _snapshot(second)
    # The fingerprint records the (other) folder; the rest is byte-identical.
    assert snapshot.pop(FINGERPRINT_FILE) != other.pop(FINGERPRINT_FILE)
    assert snapshot == other and len(snapshot) == 2 + 5 + 3 + 1  # + the folder lock

    # Same arguments again: nothing is regenerated.
    def fail(job):
        raise AssertionError("regenerated although the config did not change")

    monkeypatch.setattr(synthetic, "_generate_chunk", fail)
    prepare_synthetic(first, splits=SMALL, seed=3, audio_format="wav")
    monkeypatch.undo()

    # Different arguments: regenerated, and the dropped split is removed.
    prepare_synthetic(first, splits={"train": 5}, seed=4, audio_format="wav")
    changed = _snapshot(first)
    assert not os.path.exists(first / "valid.json")
    assert not any(
        name.startswith(os.path.join("audio", "valid")) for name in changed
    )
    assert changed["train.json"] != snapshot["train.json"]
    fingerprint = (first / FINGERPRINT_FILE).read_text(encoding="utf-8")
    config = json.loads(fingerprint)["config"]
    assert config["seed"] == 4 and config["splits"] == {"train": 5}


def test_splits_independent_and_parallel_matches_serial(tmp_path, monkeypatch):
    monkeypatch.setattr(
        synthetic, "_CHUNK", 2
    )  # several jobs even for a few clips
    parallel, serial = tmp_path / "p", tmp_path / "s"
    prepare_synthetic(parallel, splits={"train": 5, "test": 3}, num_workers=2)
    prepare_synthetic(serial, splits={"test": 3}, num_workers=1)
    a = load_manifest(parallel / "test.json")
    b = load_manifest(serial / "test.json")
    # Adding or removing another split leaves this one untouched.
    assert [r["events"] for r in a.values()] == [
        r["events"] for r in b.values()
    ]
    for clip_id in a:
        with open(a[clip_id]["wav"], "rb") as fa, open(
            b[clip_id]["wav"], "rb"
        ) as fb:
            assert fa.read() == fb.read()
