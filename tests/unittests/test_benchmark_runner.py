"""Benchmark runner: scoring rules, metrics, caching, skipping, result files.

A stand-in model embeds a clip by its (constant) sample value and a prompt
by the class word it contains, so the expected scores are known exactly.

Authors
 * speechbrain-tclap developers 2026
"""

import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_tclap.benchmark.__main__ import main, parse_options, task_table
from speechbrain_tclap.benchmark.registry import (
    TASKS,
    BenchmarkTask,
    get_task,
    register_task,
)
from speechbrain_tclap.benchmark.runner import (
    ClipEmbeddingCache,
    PromptEmbedder,
    classification_metrics,
    evaluate_classification,
    evaluate_retrieval,
    run_benchmark,
)

RATE = 8000
WORDS = ["dog", "rain", "bell", "siren"]


class StandIn:
    """Clip -> one-hot of round(10 * first sample); text -> one-hot of its word."""

    sample_rate = RATE

    def __init__(self):
        self.text_calls = []
        self.model = self
        self.audio_batches = []

    def logit_scale(self):
        return torch.tensor(10.0)

    def encode_audio(self, wavs, batch_size, progress):
        self.audio_batches.append(len(wavs))
        index = (torch.stack([w[0] for w in wavs]) * 10).round().long()
        return torch.nn.functional.one_hot(index, len(WORDS) + 1).float()

    def encode_text(self, texts):
        self.text_calls.append(list(texts))
        index = [next((i + 1 for i, w in enumerate(WORDS) if w in t), 0) for t in texts]
        return torch.nn.functional.one_hot(torch.tensor(index), len(WORDS) + 1).float()


def write_clip(path, label, seconds=0.2):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    value = (WORDS.index(label) + 1) / 10
    sf.write(path, np.full(int(seconds * RATE), value, "float32"), RATE, subtype="FLOAT")
    return path


def esc_layout(root, labels=("dog", "rain", "dog", "bell")):
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for i, label in enumerate(labels):
        name = f"1-{i}-A-{WORDS.index(label)}.wav"
        write_clip(str(root / "audio" / name), label, seconds=0.1 + 0.05 * i)
        lines.append(f"{name},1,{WORDS.index(label)},{label},True,{i},A")
    (root / "meta").mkdir()
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")


def test_classification_metrics_and_chance():
    task = get_task("esc50")
    targets = torch.tensor([[1, 0], [0, 1], [0, 1], [0, 1]])
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    values, chance = classification_metrics(task, scores, targets)
    assert values == {"acc": 0.75} and chance == {"acc": 0.5}
    f1_task = BenchmarkTask("t", "T", ("t",), task.prepare, "single_label", "-", metric="F1")
    values, chance = classification_metrics(f1_task, scores, targets)
    # class 0: TP 1, FP 1, FN 0 -> 2/3; class 1: TP 2, FP 0, FN 1 -> 4/5
    assert values["F1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    # uniform guesses: 2 p q / (p + q) with q = 1/2, p = 1/4 and 3/4
    assert chance["F1"] == pytest.approx((2 * 0.25 * 0.5 / 0.75 + 2 * 0.75 * 0.5 / 1.25) / 2)
    multi = get_task("fsd50k")
    values, chance = classification_metrics(multi, scores, targets)
    assert 0 < values["mAP"] <= 1 and 0 < chance["mAP"] < 1


def test_prompt_embeddings_are_batched_and_cached():
    model = StandIn()
    embed = PromptEmbedder(model, batch_size=2)
    first = embed(["a dog", "rain", "a bell"])
    again = embed(["rain", "a dog", "a siren"])
    assert model.text_calls == [["a dog", "rain"], ["a bell"], ["a siren"]]
    assert torch.equal(first[0], again[1])


def test_classification_softmax_rule_and_template_sweep(tmp_path):
    root = tmp_path / "ESC-50"
    esc_layout(root)
    model = StandIn()
    rows = json.load(open(get_task("esc10").prepare(str(root), str(tmp_path / "m"))))
    rows = {k: {**r, "id": k} for k, r in rows.items()}
    audio, prompts = ClipEmbeddingCache(model, batch_size=3, progress=False), PromptEmbedder(model)
    templates = ["This is a sound of {}.", "{}"]
    result = evaluate_classification(get_task("esc10"), rows, audio, prompts, 10.0, templates)
    assert result.status == "ok" and result.clips == 4 and result.classes == 3
    assert result.metrics == {"acc": 1.0} and result.chance == {"acc": pytest.approx(1 / 3)}
    assert result.sweep == {"This is a sound of {}.": 1.0, "{}": 1.0}
    # a template without the class word would give every class the same prompt
    with pytest.raises(ValueError, match="must hold the class name"):
        evaluate_classification(get_task("esc10"), rows, audio, prompts, 10.0, ["nothing here"])
    assert model.audio_batches == [3, 1]  # 4 clips, batches of 3, embedded once


def test_retrieval_raw_similarities(tmp_path):
    clips = {
        "a": {"wav": write_clip(str(tmp_path / "a.wav"), "dog"), "captions": ["a dog", "dog barking"]},
        "b": {"wav": write_clip(str(tmp_path / "b.wav"), "rain"), "captions": ["rain falls"]},
        "c": {"wav": str(tmp_path / "missing.wav"), "captions": ["a bell"]},
    }
    model = StandIn()
    result = evaluate_retrieval(
        get_task("clotho"), clips, ClipEmbeddingCache(model, progress=False), PromptEmbedder(model)
    )
    assert result.clips == 2 and result.skipped == 1 and result.classes == 3
    assert result.metrics == {"a2t_R@1": 1.0, "a2t_mAP@10": 1.0, "t2a_R@1": 1.0, "t2a_mAP@10": 1.0}
    assert result.chance["t2a_R@1"] == pytest.approx(0.5)


def test_run_benchmark_skips_absent_and_broken(tmp_path, caplog):
    data = tmp_path / "data"
    esc_layout(data / "ESC-50")
    (data / "UrbanSound8K").mkdir(parents=True)  # present but without its CSV
    out = tmp_path / "out"
    with caplog.at_level("INFO"):
        results = run_benchmark(
            StandIn(), str(data), str(out), tasks=["esc10", "us8k", "cremad"],
            templates_sweep=True, progress=False, options={"esc10": {"folds": [1]}},
        )  # fmt: skip
    status = {r.task: r.status for r in results}
    assert status == {"esc10": "ok", "us8k": "error", "cremad": "absent"}
    assert "skipping cremad: no CREMA-D" in caplog.text
    assert "UrbanSound8K.csv" in next(r.message for r in results if r.task == "us8k")
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["task"], r["status"]) for r in rows] == [
        ("esc10", "ok"), ("us8k", "error"), ("cremad", "absent"),
    ]  # fmt: skip
    assert float(rows[0]["value"]) == 1.0 and rows[0]["rule"] == "softmax"
    table = (out / "results.md").read_text()
    assert "| esc10 | ESC-10 | acc | softmax | 1.0000 |" in table
    assert "- cremad (CREMA-D): absent: no CREMA-D" in table
    assert (out / "templates.csv").is_file() and json.loads((out / "results.json").read_text())
    with pytest.raises(KeyError, match="not run"):
        run_benchmark(StandIn(), str(data), str(out), tasks=["esc10"], options={"fsdd": {}})


def test_registering_a_task_with_f1(tmp_path):
    data = tmp_path / "data"
    esc_layout(data / "toy")
    task = BenchmarkTask(
        "toy_f1", "Toy", ("toy",), get_task("esc10").prepare, "multi_label", "ESC-50 layout",
        metric="F1", template="{}", threshold=0.75,
    )  # fmt: skip
    register_task(task)
    try:
        with pytest.raises(ValueError, match="exists already"):
            register_task(task)
        (result,) = run_benchmark(StandIn(), str(data), str(tmp_path / "o"), tasks=["toy_f1"], progress=False)
        # sigmoid(10 * cos): 0.99995 for the right class, 0.5 for the others
        assert result.metrics == {"F1": 1.0}
    finally:
        TASKS.pop("toy_f1")


def test_command_line_helpers(tmp_path, capsys):
    assert parse_options(["esc10.folds=[4]", "fsdd.split=all"]) == {
        "esc10": {"folds": [4]},
        "fsdd": {"split": "all"},
    }
    with pytest.raises(ValueError, match="TASK.KEY=VALUE"):
        parse_options(["folds=4"])
    assert len(task_table().splitlines()) == len(TASKS) + 2
    assert main(["--list"]) == 0 and "| fsdd |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--model", "m", "--data-root", str(tmp_path), "--output", "o", "--tasks", "nope"])
    assert "unknown task" in capsys.readouterr().err
