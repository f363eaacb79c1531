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
    """``export(root, texts, vocab_size=None)``: a random tiny CLAP exported offline.

    Builds ``hparams/models/tiny_clap.yaml`` (seed 0), trains its
    SentencePiece tokenizer on ``texts`` (``vocab_size`` default: the model
    file's) and returns the pretrained folder ``<root>/pretrained``.
    """
    from pathlib import Path

    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_tclap.export import export_pretrained
    from speechbrain_tclap.recipe import prepare_tokenizer

    tiny = Path(__file__).resolve().parents[1] / "hparams" / "models" / "tiny_clap.yaml"

    def export(root, texts, vocab_size=None):
        hparams_file = Path(root) / "hyperparams.yaml"
        hparams_file.write_text(f"model: !include:{tiny}\n")
        torch.manual_seed(0)
        with open(hparams_file) as f:
            model = load_hyperpyyaml(f)["model"]
        prepare_tokenizer(model["tokenizer"], list(texts), str(Path(root) / "tok"),
                          vocab_size or model["tokenizer_vocab_size"])
        return export_pretrained(str(hparams_file), model["loadables"], str(Path(root) / "pretrained"))

    return export
