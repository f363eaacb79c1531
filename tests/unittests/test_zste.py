"""ZSTE (zero-shot temporal evaluation): tasks, determinism, oracle, chance.

The model of the end-to-end checks is the recipes' tiny CLAP
(``hparams/models/tiny_clap.yaml``) with random weights, exported and loaded
through the pretrained interface as a user's model would be.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.data.temporal import TemporalViewBuilder
from speechbrain_tclap.windows import AudioEmbedder
from speechbrain_tclap.evaluation.zste import (
    TASKS,
    ZSTE,
    ZSTEEvaluator,
    top_set_correct,
    zste_chance,
)
from speechbrain_tclap.evaluation.zste_cli import main
from speechbrain_tclap.export import export_pretrained
from speechbrain_tclap.recipe import prepare_tokenizer

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "hparams" / "models" / "tiny_clap.yaml"
RATE = 16000
CLASSES = ["dog", "rain", "bell", "sea_waves", "siren", "clock_tick"]


def _rows(classes=CLASSES, per_class=4, folder=None):
    """Manifest rows; with a folder, 0.6-s clips (a distinct tone each) are written."""
    rows = {}
    for c, label in enumerate(classes):
        for take in range(per_class):
            clip_id = f"{label}-{take}"
            rows[clip_id] = {"wav": f"{clip_id}.wav", "labels": [label]}
            if folder is not None:
                t = np.arange(int(0.6 * RATE)) / RATE
                wav = 0.3 * np.sin(2 * np.pi * (150 + 120 * c + 15 * take) * t)
                rows[clip_id]["wav"] = str(folder / f"{clip_id}.flac")
                sf.write(rows[clip_id]["wav"], wav.astype(np.float32), RATE)
    return rows


def _zste(**kwargs):
    kwargs.setdefault("num_pairs", 12)
    kwargs.setdefault("seeds", [0, 1])
    return ZSTE(TemporalViewBuilder(RATE, segment_seconds=0.5), **kwargs)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zste_clips")
    rows = _rows(folder=folder)
    manifest = folder / "test.json"
    manifest.write_text(json.dumps(rows))
    return str(manifest)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A random tiny CLAP exported as a pretrained folder."""
    root = tmp_path_factory.mktemp("zste_model")
    hparams_file = root / "hyperparams.yaml"
    hparams_file.write_text(
        f"model: !include:{TINY}\n    audio_pooling_kind: temporal_transformer\n"
    )
    torch.manual_seed(0)
    with open(hparams_file) as f:
        model = load_hyperpyyaml(f)["model"]
    texts = _zste().prompts(CLASSES) + [f"the sound of {c}" for c in CLASSES]
    prepare_tokenizer(model["tokenizer"], texts, str(root / "tok"), model["tokenizer_vocab_size"])
    return export_pretrained(str(hparams_file), model["loadables"], str(root / "pretrained"))


@pytest.fixture(scope="module")
def interface(exported, tmp_path_factory):
    from speechbrain_tclap.inference import CLAP

    return CLAP.from_hparams(
        source=exported, savedir=str(tmp_path_factory.mktemp("zste_iface")),
        run_opts={"device": "cpu"},
    )


def test_run_on_an_exported_model_is_deterministic(interface, data, tmp_path):
    first = _zste(num_pairs=6).run(interface.model, data)
    second = _zste(num_pairs=6).run(interface.model, data, batch_size=5)
    for one, two in zip(first.per_seed, second.per_seed, strict=True):
        assert one == pytest.approx(two)
    metrics = first.metrics()
    for name in TASKS:
        assert 0.0 <= metrics[name] <= 1.0 and metrics[f"{name}_std"] >= 0.0
        assert 0.0 < first.chance[name] < 1.0
    assert [row["seed"] for row in first.per_seed] == [0, 1]
    assert all(row["zste_pairs"] == 6 for row in first.per_seed)
    assert first.info["num_classes"] == len(CLASSES)
    assert first.info["view_seconds"] == 1.0 and first.info["window"] == "whole"
    # 6 classes: 30 ordered "before" + 15 "while" captions exist, 45 < 50.
    assert first.info["task4_candidates"] == 45
    json_path, md_path = first.save(str(tmp_path))
    assert json.loads(Path(json_path).read_text())["metrics"] == pytest.approx(metrics)
    table = Path(md_path).read_text()
    assert table.count("\n| ") == len(TASKS) and "± " in table  # one row per task


def test_embedder_shapes_and_window_policy(interface):
    embedder = AudioEmbedder(interface.model, whole=True)
    wavs = torch.randn(3, RATE)
    emb = embedder.encode_audio(wavs, torch.tensor([1.0, 0.5, 0.25]))
    assert emb.shape == (3, 128)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    # Views longer than the encoder holds (~2.5 s) are refused whole ...
    with pytest.raises(ValueError, match="exceed what the audio encoder holds"):
        embedder.encode_audio(torch.randn(1, 4 * RATE), torch.ones(1))
    # ... and encoded in fixed windows when asked, as the interface does.
    sliding = AudioEmbedder(interface.model)
    long = torch.randn(1, 4 * RATE)
    torch.testing.assert_close(
        sliding.encode_audio(long, torch.ones(1)), interface.encode_audio(long),
        atol=1e-5, rtol=0,
    )


def _oracle(zste, classes):
    """Embeddings of a model that hears events, their order and overlap exactly.

    Axes: presence of each class, class heard first, class heard second, and
    "overlap". Prompts get the concepts they name.
    """
    k = len(classes)
    dim = 3 * k + 1
    presence = lambda c: torch.eye(dim)[classes.index(c)]  # noqa: E731
    first = lambda c: torch.eye(dim)[k + classes.index(c)]  # noqa: E731
    second = lambda c: torch.eye(dim)[2 * k + classes.index(c)]  # noqa: E731
    overlap = torch.eye(dim)[3 * k]
    text = {}
    for a in classes:
        text[zste.class_prompt(a)] = presence(a)
        text[zste.slot_prompt(0, a)] = first(a)
        text[zste.slot_prompt(1, a)] = second(a)
        for b in classes:
            if a != b:
                text[zste.order_prompt(a, b)] = presence(a) + presence(b) + first(a) + second(b)
                text[zste.while_prompt(a, b)] = presence(a) + presence(b) + overlap
    text = {t: v / v.norm() for t, v in text.items()}

    def audio_views(a, b):
        views = {
            "single_a": presence(a),
            "single_b": presence(b),
            "main": presence(a) + presence(b) + first(a) + second(b),
            "reversed": presence(a) + presence(b) + first(b) + second(a),
            "overlay": presence(a) + presence(b) + overlap,
        }
        return {v: e / e.norm() for v, e in views.items()}

    return text, audio_views


def _score(zste, classes, text, audio_of, seed):
    rows, _ = zste.single_rows(_rows(classes))
    items = zste.items(rows, classes, seed)
    audio = {}
    for item in items:
        a, b = item.pair["labels"]
        for view, emb in audio_of(a, b).items():
            audio[(item.id, view)] = emb
    return zste.score(items, classes, audio, lambda texts: torch.stack([text[t] for t in texts]))


def test_oracle_embeddings_solve_every_task():
    zste = _zste(num_pairs=40)
    text, audio_of = _oracle(zste, CLASSES)
    for seed in (0, 1):
        out = _score(zste, CLASSES, text, audio_of, seed)
        for name in ("zste1_acc", "zste2_acc", "zste3_acc", "zste4_acc", "zste5_acc"):
            assert out[name] == 1.0, name
        # The authors' task-5 target {first A, first B}: a perfect model fails.
        assert out["zste5_paper_target_acc"] == 0.0
    assert set(zste.prompts(CLASSES)) == set(text)


def test_order_blind_embeddings_fail_the_order_tasks():
    """A model that hears which events, not their order: tasks 1-2 pass, 3 half."""
    zste = _zste(num_pairs=60)
    text, audio_of = _oracle(zste, CLASSES)

    def blind(a, b):
        views = audio_of(a, b)
        views["main"] = views["reversed"] = views["overlay"]
        return views

    out = _score(zste, CLASSES, text, blind, seed=0)
    assert out["zste1_acc"] == 1.0 and out["zste2_acc"] == 1.0
    assert out["zste3_acc"] == 0.0  # "while" wins every time
    assert out["zste5_acc"] == 0.0


def test_random_embeddings_score_at_chance():
    classes = [f"class{i}" for i in range(6)]
    zste = _zste(num_pairs=200, seeds=[0, 1, 2])
    rows, _ = zste.single_rows(_rows(classes))
    gen = torch.Generator().manual_seed(0)
    cache = {}

    def embed(key):
        if key not in cache:
            cache[key] = torch.nn.functional.normalize(torch.randn(32, generator=gen), dim=0)
        return cache[key]

    totals = {name: 0.0 for name in TASKS}
    for seed in zste.seeds:
        items = zste.items(rows, classes, seed)
        audio = {(i.id, v): embed((seed, i.id, v)) for i in items for v in i.audio_views()}
        out = zste.score(items, classes, audio, lambda texts: torch.stack([embed(t) for t in texts]))
        for name in TASKS:
            totals[name] += out[name] / len(zste.seeds)
    chance = zste_chance(len(classes), 45)
    n = 600
    for name in TASKS:
        p = chance[name]
        assert abs(totals[name] - p) < 4 * math.sqrt(p * (1 - p) / n) + 0.01, (name, totals[name], p)


def test_task4_candidates_follow_the_authors_pool():
    classes = [f"c{i}" for i in range(12)]
    zste = _zste(num_candidates=20)
    rng = random.Random(0)
    involving = {"paper": 0, "uniform": 0}
    for distractors in ("paper", "uniform"):
        zste.distractors = distractors
        for _ in range(50):
            cands = zste.task4_candidates("c0", "c1", classes, rng)
            assert len(cands) == len(set(cands)) == 20
            assert cands[0] == zste.order_prompt("c0", "c1")
            assert cands[1] == zste.while_prompt("c0", "c1")
            involving[distractors] += sum(
                (" c0 " in f" {c} ") or (" c1 " in f" {c} ") for c in cands[2:]
            )
    # The authors' pool (5 other classes plus A and B) over-represents A and B.
    assert involving["paper"] > 1.3 * involving["uniform"]
    # Few classes: every distinct caption, and no more.
    small = zste.task4_candidates("a", "b", ["a", "b", "c"], random.Random(1))
    assert len(small) == len(set(small)) == 6 + 3


def test_top_set_and_chance_helpers():
    assert top_set_correct(torch.tensor([0.1, 0.9, 0.8]), [1, 2])
    assert not top_set_correct(torch.tensor([0.8, 0.9, 0.8]), [1, 2])  # tie
    assert top_set_correct(torch.tensor([0.3]), [0])
    chance = zste_chance(10, 50)
    assert chance["zste2_acc"] == pytest.approx(1 / 45)
    assert chance["zste5_acc"] == pytest.approx(1 / 190)
    evaluator = ZSTEEvaluator("x.json", _zste())
    assert evaluator.chance_levels({}) == {}
    assert evaluator.chance_levels({"zste_classes": 10, "zste4_candidates": 50}) == chance


def test_errors(data, tmp_path):
    with pytest.raises(ValueError, match="distractors"):
        _zste(distractors="hard")
    with pytest.raises(ValueError, match="must contain"):
        _zste(prompt_template="no slot")
    with pytest.raises(ValueError, match="at least 2"):
        _zste().single_rows({"x": {"wav": "x.wav", "labels": ["dog"]}})
    with pytest.raises(ValueError, match="cannot draw"):
        _zste(num_pairs=10_000).items(*_zste().single_rows(data), seed=0)
    with pytest.raises(FileNotFoundError, match="no pretrained name, folder with hyperparams.yaml"):
        main(["--model", str(tmp_path), "--manifest", data, "--output_folder", str(tmp_path)])


def test_command_line(exported, data, tmp_path):
    out = tmp_path / "zste"
    result = main([
        "--model", exported, "--manifest", data, "--output_folder", str(out),
        "--num_pairs", "6", "--seeds", "3", "--segment_seconds", "0.5",
    ])
    saved = json.loads((out / "zste.json").read_text())
    assert saved["info"]["seeds"] == [3] and saved["info"]["pairs_per_seed"] == 6
    assert saved["metrics"] == pytest.approx(result.metrics())
    assert (out / "zste.md").read_text().startswith("| ZSTE task |")


def test_sed_command_line_on_an_exported_model(exported, data, tmp_path):
    # The SED / grounding command line shares this module's exported model:
    # each clip gets one event over its tone (0.0-0.6 s of a zero-padded window).
    from speechbrain_tclap.evaluation.sed_cli import main as sed_main

    rows = json.loads(open(data).read())
    for row in rows.values():
        row["events"] = [{"label": row["labels"][0], "onset": 0.0, "offset": 0.6}]
        row["caption"] = row["labels"][0]
    manifest = tmp_path / "events.json"
    manifest.write_text(json.dumps(rows))
    out = tmp_path / "sed"
    metrics = sed_main([
        "--model", exported, "--manifest", str(manifest), "--output_folder", str(out),
        "--num_thresholds", "5", "--num_plots", "1", "--no_psds",
    ])
    saved = json.loads((out / "sed.json").read_text())
    assert saved["metrics"] == pytest.approx(metrics)
    for key in ("sed_frame_f1", "sed_event_f1", "grounding_frame_f1", "grounding_event_f1"):
        assert 0.0 <= metrics[key] <= 1.0 and key in saved["chance"]
    assert len(list((out / "frame_scores").glob("*.png"))) == 1
