"""Tests of the LLM negative-caption generator and its command-line script.

A tiny random GPT-2 (built from a config, with a byte-level BPE tokenizer
trained here) checks the mechanics: loading from a local folder, batching,
validation, fallback to the rules, cache writing and resuming. Its outputs
are garbage, so the success path is checked with a fake model object whose
``generate`` answers known rewrites.
"""

import importlib.util
import json
import os

import pytest
import torch

from speechbrain_tclap.data.caption_negatives import NegativeCache
from speechbrain_tclap.data.llm_negatives import (
    FEW_SHOT_EXAMPLES,
    LLMNegativeGenerator,
    _NewlineStop,
    build_prompt,
    generate_negatives,
    postprocess_generation,
)

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

SCRIPT = os.path.join(
    os.path.dirname(__file__), "..", "..", "scripts", "make_llm_negatives.py"
)

ROWS = {
    "c1": {
        "wav": "c1.wav",
        "captions": [
            "A dog barks followed by a car passing by.",
            "a dog barks while a car passes",  # simultaneity only: skipped
        ],
    },
    "c2": {"wav": "c2.wav", "caption": "rain falls on a roof"},  # no connective
    "c3": {"wav": "c3.wav", "caption": "a bell rings, then a man laughs"},
    "c4": {
        "wav": "c4.wav",
        "caption": "a beep then a beep",
    },  # rules cannot swap
    "c5": {"wav": "c5.wav", "caption": "a man speaks after a door slams"},
}
SWAPPABLE = ["c1#0", "c3#0", "c4#0", "c5#0"]


def _byte_level_tokenizer(texts):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>"
    )


@pytest.fixture(scope="module")
def tokenizer():
    captions = [
        c
        for row in ROWS.values()
        for c in row.get("captions", [row.get("caption")])
    ]
    return _byte_level_tokenizer([build_prompt(c) for c in captions])


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, tokenizer):
    folder = tmp_path_factory.mktemp("tiny_lm")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=1,
        n_head=2,
        n_embd=32,
        n_positions=1024,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)  # no pad token: the generator sets it
    return str(folder)


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(ROWS), encoding="utf-8")
    return str(path)


def _script():
    spec = importlib.util.spec_from_file_location("make_llm_negatives", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _records(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_prompt_examples_are_valid_negatives():
    from speechbrain_tclap.data.caption_negatives import validate_negative

    for caption, rewrite in FEW_SHOT_EXAMPLES:
        assert validate_negative(caption, rewrite) == (True, "ok")
    prompt = build_prompt("a cat meows\n then a dog barks")
    assert prompt.endswith("Caption: a cat meows then a dog barks\nReversed:")
    assert prompt.count("Caption:") == len(FEW_SHOT_EXAMPLES) + 1


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            " a car passes then a dog barks\nCaption: x",
            "a car passes then a dog barks",
        ),
        (
            '\n\n "a car passes then a dog barks" ',
            "a car passes then a dog barks",
        ),
        (
            "Reversed: \u201ca car passes then a dog barks\u201d",
            "a car passes then a dog barks",
        ),
        ("   \n  ", ""),
    ],
)
def test_postprocess_generation(raw, expected):
    assert postprocess_generation(raw) == expected


def test_newline_stop_is_per_row(tokenizer):
    ids = tokenizer(["prompt a b\nc", "prompt a b c"])
    rows = [torch.tensor(r) for r in ids["input_ids"]]
    prompt_length = len(tokenizer("prompt")["input_ids"])
    width = max(len(r) for r in rows)
    batch = torch.stack(
        [
            torch.cat(
                [r, torch.full((width - len(r),), tokenizer.eos_token_id)]
            )
            for r in rows
        ]
    )
    stop = _NewlineStop(tokenizer, prompt_length)
    assert stop(batch, None).tolist() == [True, False]


def test_tiny_lm_pipeline_validates_falls_back_writes_and_resumes(
    tiny_lm, manifest, tmp_path, capsys
):
    script = _script()
    out = str(tmp_path / "neg.jsonl")
    args = [
        "--manifest",
        manifest,
        "--model",
        tiny_lm,
        "--out",
        out,
        "--batch-size",
        "3",
        "--max-new-tokens",
        "6",
    ]
    stats = script.main(args + ["--limit", "2"])
    assert stats["captions"] == 6 and stats["no_connective"] == 1
    assert stats["simultaneous_only"] == 1 and stats["deferred"] == 2
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == stats
    assert [r["id"] for r in _records(out)] == SWAPPABLE[:2]

    stats = script.main(args)  # resumes: only the two deferred captions
    assert stats["cached"] == 2 and stats["deferred"] == 0
    records = _records(out)
    assert [r["id"] for r in records] == SWAPPABLE
    by_id = {r["id"]: r for r in records}
    # the random model's garbage is rejected; the rules take over
    assert by_id["c1#0"]["source"] == "rule" and by_id["c1#0"]["valid"]
    assert (
        by_id["c1#0"]["negative"] == "A car passing by followed by a dog barks."
    )
    assert by_id["c1#0"]["reason"].startswith("llm rejected: ")
    assert by_id["c5#0"]["negative"] == "a door slams after a man speaks"
    assert (
        not by_id["c4#0"]["valid"]
        and "rule: no rule rewrite" in by_id["c4#0"]["reason"]
    )
    assert stats["rule"] + stats["llm"] + stats["invalid"] == 2

    before = open(out, encoding="utf-8").read()
    stats = script.main(args)  # nothing left to do
    assert stats["cached"] == 4 and open(out, encoding="utf-8").read() == before
    assert set(NegativeCache.load(out)) == {"c1#0", "c3#0", "c5#0"}

    # greedy decoding: the same runs into a new file write the same records
    again = str(tmp_path / "again.jsonl")
    again_args = [a if a != out else again for a in args]
    script.main(again_args + ["--limit", "2"])
    script.main(again_args)
    assert _records(again) == records


def test_tiny_lm_generation_is_deterministic_and_single_line(tiny_lm):
    gen = LLMNegativeGenerator(tiny_lm, batch_size=2, max_new_tokens=5)
    captions = [
        "a dog barks then a cat meows",
        "a bell rings followed by rain",
        "x then y",
    ]
    first = gen.generate(captions)
    assert first == gen.generate(captions)
    assert len(first) == 3 and all("\n" not in text for text in first)
    assert gen.tokenizer.padding_side == "right"  # restored after each batch
    assert gen.tokenizer.pad_token == gen.tokenizer.eos_token


class FakeLM:
    """A "model" that answers a known rewrite for each prompt's last caption."""

    def __init__(self, tokenizer, answers):
        self.tokenizer = tokenizer
        self.answers = answers
        self.calls = []

    def generate(self, input_ids, attention_mask=None, **kwargs):
        self.calls.append({"rows": len(input_ids), **kwargs})
        rows = []
        for ids in input_ids:
            prompt = self.tokenizer.decode(ids, skip_special_tokens=True)
            caption = prompt.rsplit("Caption: ", 1)[1].split("\nReversed:")[0]
            answer = f" {self.answers[caption]}\nCaption: more text"
            rows.append(self.tokenizer(answer)["input_ids"])
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        new = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, new], dim=1)


def test_fake_model_success_path_and_fallback_reasons(tokenizer, tmp_path):
    answers = {
        "a dog barks then a car passes": '"a car passes then a dog barks"',
        "a bell rings after a woman laughs": "a woman laughs after a bell rings",
        "a horn honks followed by rain": "a cat meows followed by rain",
        "a man speaks then water runs": "water runs while a man speaks",
        "a beep then a beep": "a beep then a beep",
    }
    model = FakeLM(tokenizer, answers)
    gen = LLMNegativeGenerator(
        model, tokenizer, batch_size=2, max_new_tokens=12
    )
    items = [(f"r{i}#0", caption) for i, caption in enumerate(answers)]
    out = tmp_path / "neg.jsonl"
    stats = generate_negatives(items, gen, out)
    assert (stats["llm"], stats["rule"], stats["invalid"]) == (2, 2, 1)
    assert [c["rows"] for c in model.calls] == [2, 2, 1]
    assert all(
        c["do_sample"] is False and c["num_beams"] == 1 for c in model.calls
    )
    assert all(c["max_new_tokens"] == 12 for c in model.calls)
    by_id = {r["id"]: r for r in _records(out)}
    assert by_id["r0#0"] == {
        "id": "r0#0",
        "caption": "a dog barks then a car passes",
        "negative": "a car passes then a dog barks",
        "source": "llm",
        "valid": True,
        "reason": "ok",
    }
    assert by_id["r1#0"]["negative"] == "a woman laughs after a bell rings"
    assert by_id["r2#0"]["source"] == "rule"
    assert by_id["r2#0"]["negative"] == "rain followed by a horn honks"
    assert "content words differ" in by_id["r2#0"]["reason"]
    assert by_id["r3#0"]["negative"] == "water runs then a man speaks"
    assert "simultaneity rewrite ('while')" in by_id["r3#0"]["reason"]
    assert by_id["r4#0"]["valid"] is False
    assert by_id["r4#0"]["reason"] == (
        "llm rejected: identical to the original; rule: no rule rewrite"
    )
    # resuming skips the cached ids; an id repeated in the input is rewritten once
    answers["a bell rings then rain"] = "a bell rings then rain"
    stats = generate_negatives(
        items
        + [
            ("new#0", "a bell rings then rain"),
            ("new#0", "a bell rings then rain"),
        ],
        gen,
        out,
    )
    assert stats["cached"] == 5 and stats["duplicate"] == 1
    assert (stats["llm"], stats["rule"], stats["invalid"]) == (0, 1, 0)
    assert NegativeCache.load(out)["new#0"] == "rain then a bell rings"


def test_generator_input_errors(tokenizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        LLMNegativeGenerator(str(tmp_path / "no_model"))
    with pytest.raises(ValueError, match="tokenizer"):
        LLMNegativeGenerator(FakeLM(tokenizer, {}))

    class Short:
        batch_size = 2

        def generate(self, captions):
            return []

    with pytest.raises(RuntimeError, match="0 outputs for 1 captions"):
        generate_negatives([("a#0", "x then y")], Short(), tmp_path / "n.jsonl")
