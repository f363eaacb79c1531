"""Tests for the tokenizers and the text towers.

Everything is offline: a SentencePiece model is trained on template captions
in a temporary folder and the HF tokenizers are WordLevel vocabularies built
here; the HF models are tiny random RoBERTa, BERT and GPT-2 configs.

Authors
 * speechbrain-tclap developers 2026
"""

import copy
import itertools
import pickle
import shutil

import pytest
import torch

from speechbrain_tclap.lobes.outputs import TextEncoderOutput
from speechbrain_tclap.lobes.text import (
    HFTextEncoder,
    TransformerTextEncoder,
    masked_mean,
)
from speechbrain_tclap.lobes.tokenizers import (
    HFTokenizer,
    SentencePieceTokenizer,
    train_sentencepiece,
)

SOUNDS = ["dog", "bell", "rain", "engine", "bird", "siren", "drum", "baby"]
TEMPLATES = [
    "a {} followed by a {}",
    "{} then {}",
    "the sound of a {} and a {}",
    "a {} before a {}",
    "a {} after a {}",
    "{} and {} at the same time",
]
CAPTIONS = [
    t.format(a, b)
    for t in TEMPLATES
    for a, b in itertools.permutations(SOUNDS, 2)
][::6][:50]


@pytest.fixture(scope="module")
def sp_path(tmp_path_factory):
    """A SentencePiece model trained on ~50 template captions."""
    folder = tmp_path_factory.mktemp("sp")
    return train_sentencepiece(
        CAPTIONS + SOUNDS, folder / "captions", vocab_size=120
    )


@pytest.fixture
def sp_tok(sp_path):
    return SentencePieceTokenizer(sp_path, max_length=24)


# --------------------------------------------------------------------------
# SentencePiece
# --------------------------------------------------------------------------


def test_train_sentencepiece_is_deterministic_with_fixed_special_ids(
    sp_path, tmp_path
):
    assert len(CAPTIONS) == 50
    again = train_sentencepiece(
        CAPTIONS + SOUNDS, tmp_path / "again" / "captions", 120
    )
    with open(sp_path[: -len(".model")] + ".vocab") as a, open(
        again[: -len(".model")] + ".vocab"
    ) as b:
        assert a.read() == b.read()
    tok = SentencePieceTokenizer(again)
    sp = tok._require()
    assert [sp.id_to_piece(i) for i in range(4)] == [
        "<pad>",
        "<unk>",
        "<s>",
        "</s>",
    ]
    assert 10 < tok.vocab_size <= 120  # hard_vocab_limit=False: small corpus
    with pytest.raises(ValueError):
        train_sentencepiece(["", "  "], tmp_path / "empty", 20)


def test_sentencepiece_round_trip_and_padding(sp_tok):
    texts = ["a dog followed by a bell", "rain", "a siren then a baby"]
    ids, mask = sp_tok(texts)
    assert ids.dtype == torch.long and mask.dtype == torch.bool
    assert ids.shape == mask.shape and ids.shape[0] == 3
    lengths = mask.sum(1)
    assert int(lengths.max()) == ids.shape[1]  # padding="longest"
    assert (ids[:, 0] == sp_tok.bos_id).all()
    rows = torch.arange(3)
    assert (ids[rows, lengths - 1] == sp_tok.eos_id).all()
    assert (ids[~mask] == sp_tok.pad_id).all()
    # mask is a prefix of ones (right padding)
    assert torch.equal(mask, torch.arange(ids.shape[1]) < lengths[:, None])
    assert sp_tok.decode(ids) == texts
    assert sp_tok.decode(ids[1]) == "rain"
    # padding to max_length and truncation keeping bos/eos
    tok = SentencePieceTokenizer(
        sp_tok.model_path, max_length=8, padding="max_length"
    )
    ids, mask = tok(
        ["rain", "a dog followed by a bell and a drum then a siren"]
    )
    assert ids.shape == (2, 8)
    assert (
        mask[1].all() and ids[1, 0] == tok.bos_id and ids[1, -1] == tok.eos_id
    )
    assert tok.decode(ids[0]) == "rain" and not mask[0, -1]


def test_sentencepiece_lazy_loading_and_errors(sp_path, tmp_path):
    target = tmp_path / "later.model"
    tok = SentencePieceTokenizer(
        target, max_length=16
    )  # declared before training
    assert not tok.is_loaded
    with pytest.raises(RuntimeError, match="not loaded"):
        tok(["a dog"])
    shutil.copy(sp_path, target)
    assert tok.is_loaded  # picked up lazily from model_path
    assert tok(["a dog"])[0].shape[0] == 1
    with pytest.raises(TypeError, match="single string"):
        tok("a dog")
    fresh = SentencePieceTokenizer()
    fresh.load(sp_path)
    assert fresh.vocab_size == tok.vocab_size
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="Could not read"):
        SentencePieceTokenizer().load(bad)
    with pytest.raises(ValueError):
        SentencePieceTokenizer(max_length=2)


def test_sentencepiece_pickle_and_deepcopy(sp_tok):
    texts = ["a bird then a drum"]
    for clone in (pickle.loads(pickle.dumps(sp_tok)), copy.deepcopy(sp_tok)):
        assert torch.equal(clone(texts)[0], sp_tok(texts)[0])


def test_sentencepiece_checkpointer_round_trip(sp_tok, tmp_path):
    from speechbrain.utils.checkpoints import Checkpointer

    ckpt_dir = tmp_path / "save"
    Checkpointer(ckpt_dir, recoverables={"tokenizer": sp_tok}).save_checkpoint()
    fresh = SentencePieceTokenizer(max_length=24)
    assert not fresh.is_loaded
    found = Checkpointer(
        ckpt_dir, recoverables={"tokenizer": fresh}
    ).recover_if_possible()
    assert found is not None and (found.path / "tokenizer.ckpt").is_file()
    assert fresh.is_loaded
    texts = ["the sound of a dog and a bell", "siren"]
    for a, b in zip(fresh(texts), sp_tok(texts)):
        assert torch.equal(a, b)
    # saving a tokenizer that has no model is an error, not an empty file
    with pytest.raises(RuntimeError, match="not loaded"):
        Checkpointer(
            tmp_path / "bad", {"tokenizer": SentencePieceTokenizer()}
        ).save_checkpoint()


def test_pretrainer_loads_tokenizer_and_encoder_from_folder(sp_tok, tmp_path):
    from speechbrain.utils.parameter_transfer import Pretrainer

    torch.manual_seed(0)
    enc = TransformerTextEncoder(
        sp_tok,
        sp_tok.vocab_size,
        d_model=16,
        nhead=2,
        num_layers=1,
        max_length=24,
    )
    enc.eval()
    # a "pretrained folder": <name>.ckpt per loadable
    source = tmp_path / "pretrained"
    source.mkdir()
    shutil.copy(sp_tok.model_path, source / "tokenizer.ckpt")
    torch.save(enc.state_dict(), source / "text_encoder.ckpt")

    tok2 = SentencePieceTokenizer(
        max_length=24
    )  # as declared in a YAML, unloaded
    torch.manual_seed(1)
    enc2 = TransformerTextEncoder(
        tok2,
        sp_tok.vocab_size,
        d_model=16,
        nhead=2,
        num_layers=1,
        max_length=24,
    )
    enc2.eval()
    pretrainer = Pretrainer(
        collect_in=tmp_path / "collected",
        loadables={"tokenizer": tok2, "text_encoder": enc2},
    )
    pretrainer.collect_files(default_source=str(source))
    pretrainer.load_collected()
    assert (tmp_path / "collected" / "tokenizer.ckpt").exists()
    texts = ["a drum followed by a bird", "rain then engine"]
    assert torch.equal(tok2(texts)[0], sp_tok(texts)[0])
    with torch.no_grad():
        assert torch.allclose(enc2(texts).pooled, enc(texts).pooled)


# --------------------------------------------------------------------------
# TransformerTextEncoder
# --------------------------------------------------------------------------


def _small_encoder(tok, **kwargs):
    opts = dict(d_model=32, nhead=2, num_layers=2, max_length=24)
    opts.update(kwargs)
    return TransformerTextEncoder(tok, tok.vocab_size, **opts)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_transformer_encoder_shapes_and_padding_invariance(sp_tok, pooling):
    torch.manual_seed(0)
    enc = _small_encoder(sp_tok, pooling=pooling).eval()
    short, long = "a dog", "the sound of a siren and a baby then a drum"
    with torch.no_grad():
        alone = enc([short])
        batch = enc([short, long])
    assert isinstance(batch, TextEncoderOutput)
    n = int(alone.token_mask.sum())
    assert batch.pooled.shape == (2, 32) and enc.output_dim == 32
    assert batch.tokens.shape == (2, batch.token_mask.shape[1], 32)
    assert batch.token_mask.shape[1] > n and batch.token_mask[0].sum() == n
    assert torch.allclose(alone.pooled[0], batch.pooled[0], atol=1e-5)
    assert torch.allclose(alone.tokens[0, :n], batch.tokens[0, :n], atol=1e-5)
    if pooling == "mean":
        assert torch.allclose(
            batch.pooled, masked_mean(batch.tokens, batch.token_mask), atol=1e-6
        )
    # gradients reach the embeddings in training mode
    enc.train()
    enc([short, long]).pooled.sum().backward()
    assert enc.token_embedding.weight.grad is not None
    assert enc.pos_embedding.grad.abs().sum() > 0


def test_transformer_encoder_errors(sp_path, sp_tok):
    enc = _small_encoder(sp_tok)
    with pytest.raises(ValueError, match="empty"):
        enc(["a dog", "  "])
    with pytest.raises(TypeError, match="single string"):
        enc("a dog")
    unloaded = SentencePieceTokenizer(max_length=24)
    with pytest.raises(RuntimeError, match="not loaded"):
        TransformerTextEncoder(unloaded, 64, d_model=16, nhead=2)(["a dog"])
    too_short = TransformerTextEncoder(
        SentencePieceTokenizer(sp_path, max_length=64),
        sp_tok.vocab_size,
        d_model=16,
        nhead=2,
        max_length=6,
    )
    with pytest.raises(ValueError, match="max_length"):
        too_short(["a dog followed by a bell then rain"])
    with pytest.raises(ValueError, match="vocab_size"):
        TransformerTextEncoder(sp_tok, 4, d_model=16, nhead=2)(["a dog"])
    with pytest.raises(ValueError, match="pooling"):
        TransformerTextEncoder(sp_tok, 64, pooling="max")


def _order_task(tok, words):
    texts, labels = [], []
    for i, j in itertools.combinations(range(len(words)), 2):
        texts += [
            f"a {words[i]} followed by a {words[j]}",
            f"a {words[j]} followed by a {words[i]}",
        ]
        labels += [1.0, 0.0]
    ids, mask = tok(texts)
    return ids, mask, torch.tensor(labels)


def _train_order(tok, pos_init_std, steps, seed=0):
    """Trains encoder + head on "X followed by Y" vs "Y followed by X"."""
    ids, mask, labels = _order_task(tok, SOUNDS[:6])
    torch.manual_seed(seed)
    enc = _small_encoder(tok, dropout=0.0, pos_init_std=pos_init_std)
    head = torch.nn.Linear(enc.output_dim, 1)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=3e-3)
    # Tiny ops: one thread is ~10x faster than two on a shared, busy CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            logits = head(enc.forward_ids(ids, mask).pooled).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, labels
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    enc.eval()
    with torch.no_grad():
        logits = head(enc.forward_ids(ids, mask).pooled).squeeze(-1)
    return ((logits > 0).float() == labels).float().mean().item()


def test_transformer_encoder_learns_word_order(sp_tok):
    # Same bag of pieces, only the order differs: without positions the
    # pooled outputs of a pair are identical (next test), so chance is 50 %.
    # Measured (3 seeds, accuracy at steps 20/40/60/100): pos_init_std=1.0
    # 0.80-0.97 / 1.00 / 1.00 / 1.00; std 0.02: 0.50 / 0.50-0.67 /
    # 0.77-1.00 / 1.00. 60 steps take ~1 s on an idle 2-core CPU.
    acc = _train_order(sp_tok, pos_init_std=1.0, steps=60)
    assert acc >= 0.9, f"order accuracy {acc:.2f} with pos_init_std=1.0"


def test_transformer_encoder_without_positions_is_order_blind(sp_tok):
    torch.manual_seed(0)
    enc = _small_encoder(sp_tok, pos_init_std=0.0).eval()
    with torch.no_grad():
        out = enc(["a dog followed by a bell", "a bell followed by a dog"])
    assert torch.allclose(out.pooled[0], out.pooled[1], atol=1e-5)
    torch.manual_seed(0)
    enc = _small_encoder(sp_tok, pos_init_std=1.0).eval()
    with torch.no_grad():
        out = enc(["a dog followed by a bell", "a bell followed by a dog"])
    assert not torch.allclose(out.pooled[0], out.pooled[1], atol=1e-3)


# --------------------------------------------------------------------------
# HF tokenizer and HFTextEncoder
# --------------------------------------------------------------------------

WORDS = sorted({w for c in CAPTIONS for w in c.split()} | set(SOUNDS))
STYLES = {
    # name: (special tokens in id order, template, tokenizer kwargs)
    "bert": (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
        "[CLS] $A [SEP]",
        dict(
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
        ),
    ),
    "roberta": (
        ["<s>", "<pad>", "</s>", "<unk>"],
        "<s> $A </s>",
        dict(
            bos_token="<s>",
            pad_token="<pad>",
            eos_token="</s>",
            unk_token="<unk>",
        ),
    ),
    "gpt2": (
        ["!"],
        None,
        dict(eos_token="<|endoftext|>", unk_token="<|endoftext|>"),
    ),
}


def _save_hf_tokenizer(folder, style):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials, template, kwargs = STYLES[style]
    vocab = {tok: i for i, tok in enumerate(specials + WORDS)}
    if style == "gpt2":
        vocab["<|endoftext|>"] = len(vocab)
    unk = kwargs["unk_token"]
    tk = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    if template is not None:
        first, last = template.split()[0], template.split()[-1]
        tk.post_processor = processors.TemplateProcessing(
            single=template,
            special_tokens=[(first, vocab[first]), (last, vocab[last])],
        )
    PreTrainedTokenizerFast(tokenizer_object=tk, **kwargs).save_pretrained(
        str(folder)
    )
    return len(vocab)


def _hf_config(style, vocab_size):
    if style == "gpt2":
        return dict(
            n_embd=32,
            n_layer=2,
            n_head=2,
            vocab_size=vocab_size,
            n_positions=32,
            bos_token_id=vocab_size - 1,
            eos_token_id=vocab_size - 1,
        )
    cfg = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=vocab_size,
        max_position_embeddings=40,
    )
    if style == "roberta":
        cfg.update(pad_token_id=1, bos_token_id=0, eos_token_id=2)
    return cfg


@pytest.fixture(scope="module")
def hf_setup(tmp_path_factory):
    """Tokenizer folders, tokenizers and configs for the three styles."""
    setup = {}
    for style in STYLES:
        folder = tmp_path_factory.mktemp(f"hf_{style}")
        n_vocab = _save_hf_tokenizer(folder, style)
        extra = (
            dict(suffix=" <|endoftext|>", pad_token="!")
            if style == "gpt2"
            else {}
        )
        tok = HFTokenizer(folder, max_length=16, **extra)
        setup[style] = (folder, tok, _hf_config(style, n_vocab))
    return setup


def test_hf_tokenizer_contract(hf_setup):
    texts = ["a dog followed by a bell", "rain"]
    _, bert, _ = hf_setup["bert"]
    ids, mask = bert(texts)
    assert (
        ids.shape == (2, 16) and mask.dtype == torch.bool
    )  # padding="max_length"
    assert (
        ids[0, 0] == bert.tokenizer.cls_token_id
        and ids[1, 2] == bert.tokenizer.sep_token_id
    )
    assert (ids[~mask] == bert.pad_id).all() and bert.decode(ids) == texts
    folder, _, _ = hf_setup["bert"]
    longest = HFTokenizer(folder, max_length=16, padding="longest")
    assert longest(texts)[0].shape == (2, 8)
    # truncation keeps the trailing [SEP]
    short = HFTokenizer(folder, max_length=4)
    ids, mask = short(["a dog followed by a bell"])
    assert ids.shape == (1, 4) and ids[0, -1] == short.tokenizer.sep_token_id
    # GPT-2 style: '!' is id 0 and pads, the end-of-text suffix is appended
    _, gpt, _ = hf_setup["gpt2"]
    eot = gpt.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    ids, mask = gpt(texts)
    assert gpt.pad_id == 0 and gpt.vocab_size == len(WORDS) + 2
    lengths = mask.sum(1)
    assert (ids[torch.arange(2), lengths - 1] == eot).all()
    assert torch.equal(
        torch.ne(ids, 0).sum(-1) - 1, lengths - 1
    )  # MS-CLAP's count
    gpt_folder, _, _ = hf_setup["gpt2"]
    short = HFTokenizer(
        gpt_folder, max_length=4, suffix=" <|endoftext|>", pad_token="!"
    )
    ids, mask = short(["a dog followed by a bell then rain"])
    assert mask.all() and ids[0, -1] == eot  # truncated before the suffix
    with pytest.raises(FileNotFoundError):
        HFTokenizer("/nonexistent/roberta-base")


POOLINGS = [
    (style, pooling)
    for style in STYLES
    for pooling in HFTextEncoder.POOLINGS
    if not (style == "gpt2" and pooling == "pooler")
]


@pytest.mark.parametrize("style,pooling", POOLINGS)
def test_hf_text_encoder_poolings(hf_setup, style, pooling):
    _, tok, config = hf_setup[style]
    torch.manual_seed(0)
    enc = HFTextEncoder(
        tok, model_type=style, config=config, pooling=pooling
    ).eval()
    texts = ["a dog followed by a bell", "rain then engine", "siren"]
    with torch.no_grad():
        out = enc(texts)
        alone = enc(texts[2:])
    assert enc.output_dim == 32
    assert out.pooled.shape == (3, 32) and out.tokens.shape == (3, 16, 32)
    ids, mask = tok(texts)
    assert torch.equal(out.token_mask, mask)
    lengths = mask.sum(1)
    if pooling == "cls":
        expected = out.tokens[:, 0]
    elif pooling == "mean":
        expected = masked_mean(out.tokens, mask)
    elif pooling == "eot":
        expected = out.tokens[torch.arange(3), lengths - 1]
    else:
        with torch.no_grad():
            expected = enc.model.pooler(out.tokens)
    assert torch.allclose(out.pooled, expected, atol=1e-6)
    # batch composition does not change a sentence's embedding
    assert torch.allclose(alone.pooled[0], out.pooled[2], atol=1e-5)
    enc.train()
    out = enc(texts)
    out.pooled.sum().backward()
    assert enc.model.get_input_embeddings().weight.grad is not None


def test_hf_eot_matches_msclap_indexing(hf_setup):
    _, tok, config = hf_setup["gpt2"]
    torch.manual_seed(0)
    enc = HFTextEncoder(
        tok, model_type="gpt2", config=config, pooling="eot"
    ).eval()
    texts = ["a bird before a drum", "baby"]
    ids, mask = tok(texts)
    with torch.no_grad():
        hidden = enc.model(
            input_ids=ids, attention_mask=mask.long()
        ).last_hidden_state
        pooled = enc(texts).pooled
    sequence_lengths = torch.ne(ids, 0).sum(-1) - 1  # msclap/models/clap.py
    assert torch.allclose(pooled, hidden[torch.arange(2), sequence_lengths])
    with pytest.raises(ValueError, match="pooler"):
        HFTextEncoder(tok, model_type="gpt2", config=config, pooling="pooler")


def test_hf_text_encoder_freeze_survives_train(hf_setup):
    _, tok, config = hf_setup["roberta"]
    enc = HFTextEncoder(
        tok, model_type="roberta", config=config, pooling="pooler", freeze=True
    )
    enc.train()
    assert enc.training and not enc.model.training
    assert not any(p.requires_grad for p in enc.model.parameters())
    out = enc(["a dog then rain"])
    assert not out.pooled.requires_grad
    enc.train(False)
    enc.train(True)
    assert not enc.model.training
    unfrozen = HFTextEncoder(tok, model_type="roberta", config=config).train()
    assert unfrozen.model.training and unfrozen(["a dog"]).pooled.requires_grad


def test_hf_text_encoder_from_local_source(hf_setup, tmp_path):
    folder, tok, config = hf_setup["bert"]
    torch.manual_seed(0)
    enc = HFTextEncoder(
        tok, model_type="bert", config=config, pooling="cls"
    ).eval()
    source = tmp_path / "bert_tiny"
    enc.model.save_pretrained(str(source))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(folder / name, source / name)
    loaded = HFTextEncoder(
        source=str(source), pooling="cls", max_length=16
    ).eval()
    texts = ["a dog followed by a bell"]
    with torch.no_grad():
        assert torch.allclose(
            loaded(texts).pooled, enc(texts).pooled, atol=1e-6
        )
    with pytest.raises(ValueError, match="exactly one"):
        HFTextEncoder(tok, model_type="bert", config=config, source=str(source))
    with pytest.raises(FileNotFoundError):
        HFTextEncoder(tok, source="roberta-base")


def test_hf_text_encoder_with_sentencepiece_and_errors(sp_tok):
    config = dict(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=sp_tok.vocab_size,
        max_position_embeddings=24,
    )
    enc = HFTextEncoder(
        sp_tok, config=dict(config, model_type="bert"), pooling="eot"
    ).eval()
    ids, mask = sp_tok(["a dog then rain", "bell"])
    with torch.no_grad():
        out = enc(["a dog then rain", "bell"])
    # with SentencePiece, the last real token is </s>
    assert (ids[torch.arange(2), mask.sum(1) - 1] == sp_tok.eos_id).all()
    assert out.pooled.shape == (2, 32)
    with pytest.raises(ValueError, match="empty"):
        enc([""])
    small_vocab = HFTextEncoder(
        sp_tok,
        model_type="bert",
        config=dict(config, vocab_size=5),
        pooling="mean",
    )
    with pytest.raises(ValueError, match="vocabularies"):
        small_vocab(["a dog followed by a bell"])
    with pytest.raises(RuntimeError, match="not loaded"):
        HFTextEncoder(
            SentencePieceTokenizer(),
            model_type="bert",
            config=config,
            pooling="mean",
        )(["a dog"])
    with pytest.raises(ValueError, match="positions"):
        HFTextEncoder(
            SentencePieceTokenizer(sp_tok.model_path, max_length=64),
            model_type="bert",
            config=dict(config, max_position_embeddings=8),
            pooling="mean",
        )(["the sound of a siren and a baby then a drum"])
