"""AudioCaps and Clotho fine-tuning recipes, end to end on fake layouts.

Neither corpus can be here. Each gets a tiny layout in its official format
(caption CSVs and 1-2 s wav files at 16 kHz or 44.1 kHz, resampled to the
model's 48 kHz on read; captions with temporal connectives), a LAION-layout
checkpoint of a tiny model (random weights under LAION's key names), the
small RoBERTa-style tokenizer of ``conftest.py`` and a one-record LLM
negative cache. The recipes run with the LAION model file shrunk from the
command line (64-frame HTSAT, one-layer RoBERTa, 0.6-s windows):

* the checkpoint's weights are the model's after loading;
* training batches carry the order-swapped negatives (cache, then rules);
  the CLAP baseline's carry none;
* ``train.py`` trains one epoch of two steps, tests on the test split and
  writes ``results.json`` (retrieval, caption T-Classify, chance levels);
* a missing checkpoint or tokenizer is an error that names what is missing;
* (expected to fail until ``CLAPBrain._collect`` is fixed) evaluation scores
  all five captions of a clip, as LAION's protocol does.
"""

import json
import logging
import re
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.brain import CLAPBrain, EvaluationCollector
from speechbrain_tclap.convert.laion import clap_to_laion
from speechbrain_tclap.data.caption_negatives import (
    NegativeCache,
    make_record,
    swap_temporal_order,
)
from speechbrain_tclap.data.datasets import collate_dataset_items
from speechbrain_tclap.losses import InfoNCELoss, TemporalFocusedLoss
from speechbrain_tclap.recipe import (
    caption_datasets,
    check_finetuning_inputs,
    init_weights,
    negative_coverage,
)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = [
    ("a dog barks", "a car horn"),
    ("rain falls", "thunder rumbles"),
    ("a man speaks", "a door slams"),
    ("birds chirp", "a bell rings"),
    ("water runs", "a phone rings"),
]
FORMS = ["{} followed by {}", "{} then {}", "{} before {}", "{} and {}", "{} after {}"]
# The LLM cache's rewrite of the first training caption (the rules would
# write "a car horn followed by a dog barks").
LLM_NEGATIVE = "first a car horn, then a dog barks"
# LAION's HTSAT-base + RoBERTa file, shrunk: 2 stages of width 8 -> 16.
TINY_MODEL = {
    "clip_seconds": 0.6,
    "max_text_tokens": 32,
    "joint_dim": 16,
    "audio_encoder": {
        "spec_size": 64,
        "embed_dim": 8,
        "depths": [1, 1],
        "num_heads": [1, 1],
        "window_size": 4,
    },
    "audio_projection": {"input_size": 16},
    "text_encoder": {
        "config": {
            "vocab_size": 300,
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_position_embeddings": 40,
        }
    },
    "text_projection": {"input_size": 16},
}


def _captions(clip, count):
    """``count`` captions of fake clip ``clip``, most with a connective."""
    first, second = EVENTS[clip % len(EVENTS)]
    return [FORMS[(clip + k) % len(FORMS)].format(first, second) for k in range(count)]


def _write_wav(path, clip, rate):
    """1-2 s: one tone, then another, different for every clip."""
    seconds = 1.0 + 0.25 * (clip % 5)
    t = np.arange(int(seconds * rate)) / rate
    tone = np.where(t < seconds / 2, 220.0 + 40 * clip, 500.0 + 60 * clip)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * tone * t)).astype("float32"), rate)


def _audiocaps_layout(root):
    """AudioCaps: <split>.csv (one caption per line) and audio/<split>/Y<id>.wav."""
    clips = {"train": (0, 4, 1), "val": (4, 2, 5), "test": (6, 3, 5)}
    ids = {}
    for split, (first, count, per_clip) in clips.items():
        lines = ["audiocap_id,youtube_id,start_time,caption"]
        for clip in range(first, first + count):
            youtube_id = f"yt{clip}"
            ids[clip] = f"{youtube_id}_{10 * clip}"
            for k, caption in enumerate(_captions(clip, per_clip)):
                lines.append(f"{100 * clip + k},{youtube_id},{10 * clip},{caption}")
            _write_wav(root / "audio" / split / f"Y{youtube_id}.wav", clip, 16000)
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


def _clotho_layout(root):
    """Clotho: clotho_captions_<split>.csv (five per clip) and <split>/*.wav."""
    clips = {"development": (0, 4), "validation": (4, 2), "evaluation": (6, 3)}
    ids = {}
    for split, (first, count) in clips.items():
        lines = ["file_name,caption_1,caption_2,caption_3,caption_4,caption_5"]
        for clip in range(first, first + count):
            ids[clip] = f"clip {clip}"
            lines.append(",".join([f"clip {clip}.wav", *_captions(clip, 5)]))
            _write_wav(root / split / f"clip {clip}.wav", clip, 44100)
        path = root / f"clotho_captions_{split}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


CORPORA = {
    "AudioCaps": ("audiocaps_prepare.py", "prepare_audiocaps", _audiocaps_layout, "test"),
    "Clotho": ("clotho_prepare.py", "prepare_clotho", _clotho_layout, "evaluation"),
}


def _hparams_file(corpus, name="tclap_finetune.yaml"):
    return ROOT / "recipes" / corpus / "CLAP" / "hparams" / name


def _overrides(setup, out, name="tclap_finetune.yaml", **extra):
    overrides = {
        "data_folder": str(setup["data"]),
        "output_folder": str(out),
        "prepared_folder": str(out / "prepared"),
        "init_weights": str(setup["checkpoint"]),
        "tokenizer_folder": setup["tokenizer"],
        "model": TINY_MODEL,
        "batch_size": 2,
        "number_of_epochs": 1,
        "warmup_steps": 1,
        "num_workers": 0,
    }
    if name.startswith("tclap"):
        overrides["llm_negatives"] = str(setup["cache"])
    overrides.update(extra)
    return overrides


def _load(corpus, overrides, name="tclap_finetune.yaml"):
    with open(_hparams_file(corpus, name)) as f:
        return load_hyperpyyaml(f, overrides)


@pytest.fixture(scope="module", params=sorted(CORPORA))
def setup(request, tmp_path_factory, tokenizer_dir):
    """A fake layout, a tiny LAION checkpoint and an LLM cache for one corpus."""
    corpus = request.param
    script, function, layout, test_split = CORPORA[corpus]
    root = tmp_path_factory.mktemp(corpus)
    ids = layout(root / "data")
    prepare = runpy.run_path(str(ROOT / "recipes" / corpus / "CLAP" / script))[function]
    cache = NegativeCache(root / "llm_negatives.jsonl")
    cache.append([make_record(f"{ids[0]}#0", _captions(0, 1)[0], LLM_NEGATIVE, "llm")])
    setup = {
        "corpus": corpus,
        "data": root / "data",
        "ids": ids,
        "prepare": prepare,
        "test_split": test_split,
        "cache": cache.path,
        "tokenizer": tokenizer_dir,
        "checkpoint": root / "laion_tiny.pt",
    }
    # The LAION file: the recipe's own (shrunk) model with other weights,
    # under LAION's names, with tensors LAION stores and the converter drops.
    source = _load(corpus, _overrides(setup, root / "source"))["model"]["clap"]
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for param in source.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=generator))
    state, _ = clap_to_laion(source.state_dict())
    state["module.audio_branch.logmel_extractor.melW"] = torch.zeros(3, 64)
    state["module.text_branch.embeddings.position_ids"] = torch.arange(40)[None]
    torch.save({"state_dict": state, "epoch": 3}, str(setup["checkpoint"]))
    setup["source_state"] = {k: v.clone() for k, v in source.state_dict().items()}
    return setup


def _datasets(hparams, prepare):
    """The recipe's data steps: prepare the corpus, build its datasets."""
    manifests = prepare(
        data_folder=hparams["data_folder"],
        save_folder=hparams["prepared_folder"],
        splits=list(hparams["splits"].values()),
        **(hparams["prepare_options"] or {}),
    )
    return caption_datasets(hparams, manifests)


def _expected_negative(setup, row_id, caption, captions):
    """What the pipeline should add: the cache's rewrite, else the rules'."""
    if row_id == setup["ids"][0] and captions.index(caption) == 0:
        return LLM_NEGATIVE
    return swap_temporal_order(caption)


def test_checkpoint_loads_and_batches_carry_negatives(setup, tmp_path):
    hparams = _load(setup["corpus"], _overrides(setup, tmp_path))
    assert isinstance(hparams["loss"], TemporalFocusedLoss)
    assert hparams["loss"].temporal_weight == 0.5
    clap = hparams["model"]["clap"]
    source = setup["source_state"]
    assert not all(torch.equal(v, source[k]) for k, v in clap.state_dict().items())
    init_weights(hparams)
    loaded = clap.state_dict()
    assert loaded.keys() == source.keys()
    for key, value in source.items():
        assert torch.equal(loaded[key], value), key
    # Another file in the same output folder: read in place, no stale link.
    other = tmp_path / "other.pt"
    state = torch.load(str(setup["checkpoint"]), weights_only=True)
    scale = state["state_dict"]["module.logit_scale_a"]
    scale.add_(1.0)
    torch.save(state, str(other))
    hparams["init_weights"] = str(other)
    init_weights(hparams)
    assert torch.equal(clap.log_logit_scale, scale)

    datasets = _datasets(hparams, setup["prepare"])
    sizes = {role: len(dataset) for role, dataset in datasets.items()}
    assert sizes == {"train": 4, "valid": 2, "test": 3}
    rows = datasets["train"].rows
    coverage = negative_coverage(rows, hparams["train_sample_builder"])
    assert coverage["cache"] == 1 and coverage["with_negative"] >= 3

    loader = torch.utils.data.DataLoader(
        datasets["train"], **hparams["train_dataloader_opts"]
    )
    negatives = []
    for batch in loader:
        assert batch.wavs.shape == (2, int(0.6 * 48000))
        for sample, row_id in enumerate(batch.ids):
            texts = [
                (text, bool(negative))
                for text, negative, owner in zip(
                    batch.texts, batch.text_is_negative, batch.text_sample
                )
                if int(owner) == sample
            ]
            positives = [t for t, negative in texts if not negative]
            assert len(positives) == 1  # training draws one caption per clip
            expected = _expected_negative(
                setup, row_id, positives[0], rows[row_id]["captions"]
            )
            got = [t for t, negative in texts if negative]
            assert got == ([expected] if expected else []), row_id
            negatives += got
    assert negatives
    if setup["corpus"] == "AudioCaps":  # one caption per clip: always drawn
        others = [r["caption"] for r in rows.values() if r["id"] != setup["ids"][0]]
        rules = [swap_temporal_order(c) for c in others if swap_temporal_order(c)]
        assert sorted(negatives) == sorted([LLM_NEGATIVE, *rules])

    test_sample = datasets["test"][0]["sample"]
    assert len(test_sample.texts) == 5
    assert not any(text.negative for text in test_sample.texts)
    assert test_sample.audio[0].wav.shape == (int(0.6 * 48000),)


def test_clap_baseline_has_no_negatives(setup, tmp_path):
    name = "clap_finetune.yaml"
    hparams = _load(setup["corpus"], _overrides(setup, tmp_path, name), name)
    assert isinstance(hparams["loss"], InfoNCELoss)
    datasets = _datasets(hparams, setup["prepare"])
    loader = torch.utils.data.DataLoader(
        datasets["train"], **hparams["train_dataloader_opts"]
    )
    batches = list(loader)
    assert len(batches) == 2
    assert not any(bool(b.text_is_negative.any()) for b in batches)


def test_evaluation_collects_every_caption_of_a_clip(setup, tmp_path):
    hparams = _load(setup["corpus"], _overrides(setup, tmp_path))
    test = _datasets(hparams, setup["prepare"])["test"]
    batch = collate_dataset_items([test[i] for i in range(len(test))])
    brain = SimpleNamespace(accumulator=EvaluationCollector())
    embeddings = SimpleNamespace(
        audio_emb=torch.zeros(len(batch.wavs), 4), text_emb=torch.zeros(len(batch.texts), 4)
    )
    CLAPBrain._collect(brain, embeddings, batch)
    assert [len(keys) for keys in brain.accumulator.clip_keys] == [5] * len(test)


@pytest.fixture
def train_py(monkeypatch, tmp_path):
    """Runs a recipe's ``train.py`` here, as ``python train.py <yaml> --k=v``.

    In this process rather than a subprocess (imports are most of a tiny
    run's time); SpeechBrain's experiment set-up reconfigures the root
    logger and ``sys.excepthook``, which are put back afterwards, as is
    ``sys.path``.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    root = logging.getLogger()

    def run(setup, out, **extra):
        script = ROOT / "recipes" / setup["corpus"] / "CLAP" / "train.py"
        args = [
            f"--{key}={value if isinstance(value, str) else json.dumps(value)}"
            for key, value in _overrides(setup, out, **extra).items()
        ]
        argv = [str(script), str(_hparams_file(setup["corpus"])), *args]
        monkeypatch.setattr(sys, "argv", argv + ["--device=cpu", "--noprogressbar"])
        # As `python train.py` does: the script's folder first on sys.path
        # (train.py imports its preparation from beside it).
        monkeypatch.setattr(sys, "path", [str(script.parent), *sys.path])
        handlers, level = list(root.handlers), root.level
        try:
            runpy.run_path(str(script), run_name="__main__")
        finally:
            for handler in root.handlers:
                if handler not in handlers:
                    handler.close()
            root.handlers[:] = handlers
            root.setLevel(level)

    return run


def test_missing_checkpoint_or_tokenizer_is_a_clear_error(setup, tmp_path, train_py):
    missing = tmp_path / "nowhere" / "630k-best.pt"
    expected = re.escape(f"init_weights: [{str(missing)!r}] not found")
    with pytest.raises(FileNotFoundError, match=expected):
        train_py(setup, tmp_path / "a", init_weights=str(missing))
    hparams = _load(setup["corpus"], _overrides(setup, tmp_path / "c", init_weights=None))
    with pytest.raises(FileNotFoundError, match="init_weights is not set"):
        check_finetuning_inputs(hparams, "tclap_finetune.yaml")
    overrides = _overrides(setup, tmp_path / "b", tokenizer_folder=None)
    hparams = _load(setup["corpus"], overrides)
    with pytest.raises(RuntimeError, match="no RoBERTa tokenizer: set tokenizer_folder"):
        check_finetuning_inputs(hparams, "tclap_finetune.yaml")
    # Both fail before the data preparation.
    assert not any(tmp_path.glob("*/prepared"))


def test_recipe_trains_tests_and_exports(setup, tmp_path, train_py):
    out = tmp_path / "out"
    train_py(setup, out)
    results = json.loads((out / "results.json").read_text())
    metrics, chance = results["metrics"], results["chance"]
    for key in ("t2a_R@1", "a2t_R@1", "t2a_mAP@10", "a2t_mAP@10", "mean_mAP@10"):
        assert 0.0 <= metrics[key] <= 1.0 and key in chance, key
    test_rows = json.loads(
        (out / "prepared" / f"{setup['test_split']}.json").read_text()
    )
    swappable = [
        caption
        for row in test_rows.values()
        for caption in row["captions"]
        if swap_temporal_order(caption)
    ]
    assert metrics["tclassify_caption_n"] == len(swappable) > 0
    assert 0.0 <= metrics["tclassify_caption_acc"] <= 1.0
    assert chance["tclassify_caption_acc"] == 0.5
    log = (out / "log.txt").read_text()
    assert "converted laion_clap checkpoint" in log
    assert "order-swapped negatives for" in log and "(LLM cache 1, rules" in log
    assert (out / "pretrained" / "clap.safetensors").is_file()
    assert "mean_mAP@10" in (out / "train_log.txt").read_text()
