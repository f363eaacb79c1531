"""Test configuration: offline Hugging Face, two CPU threads, shared fixtures."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    """A small byte-level BPE tokenizer saved like roberta-base's (offline)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        ["a dog barks", "rain falls on a roof", "this is a sound of birds"],
        vocab_size=290,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    bpe._tokenizer.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
    )
    folder = tmp_path_factory.mktemp("roberta_tokenizer")
    tok.save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def export_tiny_clap():
    """``export(root, texts, vocab_size=None, **options)``: a random tiny CLAP exported offline.

    Builds ``hparams/models/tiny_clap.yaml`` (seed 0), trains its
    SentencePiece tokenizer on ``texts`` (``vocab_size`` default: the model
    file's) and returns the pretrained folder ``<root>/pretrained``;
    ``options`` go to ``export_pretrained`` (``zero_shot_template``, ``card``).
    """
    from pathlib import Path

    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_tclap.export import export_pretrained
    from speechbrain_tclap.recipe import prepare_tokenizer

    tiny = Path(__file__).resolve().parents[1] / "hparams" / "models" / "tiny_clap.yaml"

    def export(root, texts, vocab_size=None, **options):
        hparams_file = Path(root) / "hyperparams.yaml"
        hparams_file.write_text(f"model: !include:{tiny}\n")
        torch.manual_seed(0)
        with open(hparams_file) as f:
            model = load_hyperpyyaml(f)["model"]
        prepare_tokenizer(model["tokenizer"], list(texts), str(Path(root) / "tok"),
                          vocab_size or model["tokenizer_vocab_size"])
        return export_pretrained(
            str(hparams_file), model["loadables"], str(Path(root) / "pretrained"), **options
        )

    return export


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, export_tiny_clap):
    """A random tiny CLAP (hparams/models/tiny_clap.yaml) exported with a results.json.

    Returns the export folder; ``<folder>/../audio`` holds three 1-s wav files
    at 16 kHz.
    """
    import json

    import soundfile as sf

    root = tmp_path_factory.mktemp("tiny_export")
    (root / "results.json").write_text(json.dumps(
        {"metrics": {"zero_shot_acc": 0.75}, "chance": {"zero_shot_acc": 0.5}}
    ))
    (root / "audio").mkdir()
    for i in range(3):
        sf.write(str(root / "audio" / f"clip{i}.wav"), 0.1 * torch.randn(16000).numpy(), 16000)
    card = {"name": "tiny-test", "classes": ["dog", "rain"], "datasets": ["esc50"], "license": "mit"}
    texts = ["the sound of a dog", "the sound of rain", "a bell rings"]
    return export_tiny_clap(root, texts, zero_shot_template="the sound of {}", card=card)
