"""Every tokenizer kind is a checkpoint recoverable and a Pretrainer loadable.

A recipe's checkpointer lists the model's tokenizer; with an ``HFTokenizer``
the first save used to die with "Don't know how to save HFTokenizer".
"""

import pytest
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.parameter_transfer import Pretrainer
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from speechbrain_tclap.lobes.tokenizers import (
    HFTokenizer,
    MissingTokenizer,
    SentencePieceTokenizer,
    train_sentencepiece,
)


def _hf_folder(path, words):
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    vocab.update({w: i + 4 for i, w in enumerate(words)})
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]",
        cls_token="[CLS]", sep_token="[SEP]",
    ).save_pretrained(str(path))
    return str(path)


@pytest.fixture
def tokenizers(tmp_path):
    sp = SentencePieceTokenizer(
        train_sentencepiece([f"a {w} then a bell" for w in ("dog", "cat", "car")] * 4,
                            tmp_path / "sp", 30)
    )
    hf = HFTokenizer(_hf_folder(tmp_path / "hf", ["a", "dog", "barks"]), max_length=8)
    missing = MissingTokenizer("give the tokenizer files")
    return {"sentencepiece": sp, "hf": hf, "missing": missing}


@pytest.mark.parametrize("kind", ["sentencepiece", "hf", "missing"])
def test_every_tokenizer_kind_saves_and_recovers(tmp_path, tokenizers, kind):
    tok = tokenizers[kind]
    ckpt = Checkpointer(tmp_path / "save", {"tokenizer": tok})
    ckpt.save_checkpoint()
    assert ckpt.recover_if_possible() is not None
    pre = Pretrainer(collect_in=tmp_path / "collect", loadables={"tokenizer": tok},
                     paths={"tokenizer": str(next((tmp_path / "save").glob("CKPT*/tokenizer.ckpt")))})
    pre.collect_files()
    pre.load_collected()


def test_hf_tokenizer_refuses_a_checkpoint_of_another_vocabulary(tmp_path, tokenizers):
    ckpt = Checkpointer(tmp_path / "save", {"tokenizer": tokenizers["hf"]})
    ckpt.save_checkpoint()
    other = HFTokenizer(_hf_folder(tmp_path / "other", ["a", "cat", "meows"]), max_length=8)
    with pytest.raises(ValueError, match="another tokenizer"):
        Checkpointer(tmp_path / "save", {"tokenizer": other}).recover_if_possible()


def test_a_used_hf_tokenizer_is_recognised_by_a_fresh_one(tmp_path, tokenizers):
    # Calling a fast tokenizer changes its backend's truncation state; the
    # checkpoint must still match a freshly built tokenizer of the same folder.
    used = tokenizers["hf"]
    used(["a dog barks", "a dog"])
    Checkpointer(tmp_path / "save", {"tokenizer": used}).save_checkpoint()
    fresh = HFTokenizer(str(tmp_path / "hf"), max_length=8)
    assert Checkpointer(tmp_path / "save", {"tokenizer": fresh}).recover_if_possible()
