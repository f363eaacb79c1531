"""Tests for the MS-CLAP (msclap 2022 / 2023) checkpoint converters.

Two routes:

* always: reference state dicts with msclap's exact key names and shapes,
  written out here from msclap's layout (full size on the ``meta`` device for
  the key/shape check; real values with a small text tower for loading a
  ``.pth`` through the pretrained interface and its Pretrainer), and
  msclap's tokenization and pooling rules replayed with ``transformers``;
* with the ``msclap`` package (and ``torchlibrosa``) installed: msclap's own
  ``CLAP`` classes with random weights (full-size audio towers, tiny text
  models from local folders), converted and compared output to output.

Authors
 * speechbrain-tclap developers 2026
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import re
import shutil
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.convert.msclap import (
    MSCLAP_MEL_DESIGNS,
    MissingTokenizer,
    is_msclap_2022,
    is_msclap_2023,
    msclap_2022_to_clap,
    msclap_2023_to_clap,
    msclap_tokenizer,
    stft_kernel_error,
)
from speechbrain_tclap.convert.registry import detect_format
from speechbrain_tclap.lobes.features import mel_filterbank

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["a", "dog", "barks", "then", "bell", "rings", "rain", "siren", "this"]
TEXTS = ["a dog barks then a bell rings", "rain", "This is a sound of siren."]

# --------------------------------------------------------------------------
# msclap's layout, written out (msclap/models/{clap,audio,htsat}.py)
# --------------------------------------------------------------------------

HTSAT_WIDTHS, HTSAT_DEPTHS, HTSAT_HEADS = (
    (96, 192, 384, 768),
    (2, 2, 6, 2),
    (4, 8, 16, 32),
)
# torchlibrosa registers attn_mask only in shifted blocks (4x4 windows of 64)
HTSAT_MASKS = {(0, 1): 64, (1, 1): 16, (2, 1): 4, (2, 3): 4, (2, 5): 4}


class _Factory:
    """Random tensors (or ``meta`` placeholders) of given shapes."""

    def __init__(self, meta: bool, seed: int = 0):
        self.meta = meta
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, *shape, kind="weight"):
        dtype = torch.long if kind in ("count", "index") else torch.float32
        if self.meta:
            return torch.empty(shape, dtype=dtype, device="meta")
        if kind in ("count", "index"):
            return torch.randint(0, 5, shape, generator=self.generator)
        if kind == "positive":
            return torch.rand(shape, generator=self.generator) + 0.5
        return 0.05 * torch.randn(shape, generator=self.generator)


def _torchlibrosa_front_end(design):
    """msclap's stored STFT kernels and mel matrix, built independently."""
    n_fft = 1024
    dft = torch.fft.fft(torch.eye(n_fft, dtype=torch.float64))  # W[n, k]
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    basis = (dft[:, : n_fft // 2 + 1] * window[:, None]).T  # (513, 1024)
    mel = mel_filterbank(513, design[1], design[2], 64, design[0])
    return {
        "spectrogram_extractor.stft.conv_real.weight": basis.real.float()[
            :, None
        ],
        "spectrogram_extractor.stft.conv_imag.weight": basis.imag.float()[
            :, None
        ],
        "logmel_extractor.melW": mel,
    }


def _batchnorm(sd, prefix, size, make):
    sd[prefix + "weight"] = make(size, kind="positive")
    sd[prefix + "bias"] = make(size)
    sd[prefix + "running_mean"] = make(size)
    sd[prefix + "running_var"] = make(size, kind="positive")
    sd[prefix + "num_batches_tracked"] = make(kind="count")


def _linear(sd, prefix, out_dim, in_dim, make, bias=True, conv1d=False):
    shape = (in_dim, out_dim) if conv1d else (out_dim, in_dim)
    sd[prefix + "weight"] = make(*shape)
    if bias:
        sd[prefix + "bias"] = make(out_dim)


def _layer_norm(sd, prefix, size, make):
    sd[prefix + "weight"] = make(size, kind="positive")
    sd[prefix + "bias"] = make(size)


def _projection(sd, prefix, in_dim, make):
    _linear(sd, prefix + "linear1.", 1024, in_dim, make, bias=False)
    _linear(sd, prefix + "linear2.", 1024, 1024, make, bias=False)
    _layer_norm(sd, prefix + "layer_norm.", 1024, make)


def msclap_2023_layout(make, text_layers=12, text_width=768, vocab=50257):
    """msclap 2023 ``CLAP.state_dict()`` (plus legacy GPT-2 buffers)."""
    sd = {"logit_scale": torch.tensor(3.2) if not make.meta else make()}
    # the front end is always real: the converters check its values
    audio = dict(_torchlibrosa_front_end(MSCLAP_MEL_DESIGNS["2023"]))
    _batchnorm(audio, "bn0.", 64, make)
    audio["patch_embed.proj.weight"] = make(96, 1, 4, 4)
    audio["patch_embed.proj.bias"] = make(96)
    _layer_norm(audio, "patch_embed.norm.", 96, make)
    for i, (width, depth, heads) in enumerate(
        zip(HTSAT_WIDTHS, HTSAT_DEPTHS, HTSAT_HEADS)
    ):
        for j in range(depth):
            block = f"layers.{i}.blocks.{j}."
            _layer_norm(audio, block + "norm1.", width, make)
            audio[block + "attn.relative_position_bias_table"] = make(
                225, heads
            )
            audio[block + "attn.relative_position_index"] = make(
                64, 64, kind="index"
            )
            _linear(audio, block + "attn.qkv.", 3 * width, width, make)
            _linear(audio, block + "attn.proj.", width, width, make)
            _layer_norm(audio, block + "norm2.", width, make)
            _linear(audio, block + "mlp.fc1.", 4 * width, width, make)
            _linear(audio, block + "mlp.fc2.", width, 4 * width, make)
            if (i, j) in HTSAT_MASKS:
                audio[block + "attn_mask"] = make(HTSAT_MASKS[i, j], 64, 64)
        if i < 3:
            down = f"layers.{i}.downsample."
            _linear(
                audio,
                down + "reduction.",
                2 * width,
                4 * width,
                make,
                bias=False,
            )
            _layer_norm(audio, down + "norm.", 4 * width, make)
    _layer_norm(audio, "norm.", 768, make)
    audio["tscam_conv.weight"] = make(527, 768, 2, 3)
    audio["tscam_conv.bias"] = make(527)
    _linear(audio, "head.", 527, 527, make)
    sd.update({"audio_encoder.base.htsat." + k: v for k, v in audio.items()})
    _projection(sd, "audio_encoder.projection.", 768, make)

    text = {
        "wte.weight": make(vocab, text_width),
        "wpe.weight": make(1024, text_width),
    }
    for i in range(text_layers):
        layer = f"h.{i}."
        _layer_norm(text, layer + "ln_1.", text_width, make)
        _linear(
            text,
            layer + "attn.c_attn.",
            3 * text_width,
            text_width,
            make,
            conv1d=True,
        )
        _linear(
            text,
            layer + "attn.c_proj.",
            text_width,
            text_width,
            make,
            conv1d=True,
        )
        _layer_norm(text, layer + "ln_2.", text_width, make)
        _linear(
            text,
            layer + "mlp.c_fc.",
            4 * text_width,
            text_width,
            make,
            conv1d=True,
        )
        _linear(
            text,
            layer + "mlp.c_proj.",
            text_width,
            4 * text_width,
            make,
            conv1d=True,
        )
        # saved by the transformers versions of 2023
        text[layer + "attn.bias"] = make(1, 1, 1024, 1024)
        text[layer + "attn.masked_bias"] = make()
    _layer_norm(text, "ln_f.", text_width, make)
    sd.update({"caption_encoder.base." + k: v for k, v in text.items()})
    _projection(sd, "caption_encoder.projection.", text_width, make)
    return sd


def msclap_2022_layout(
    make,
    channels=(64, 128, 256, 512, 1024, 2048),
    embed=2048,
    text_layers=12,
    text_width=768,
    vocab=30522,
):
    """msclap 2022 ``CLAP.state_dict()`` (plus BERT's legacy position ids)."""
    sd = {"logit_scale": torch.tensor(3.2) if not make.meta else make()}
    audio = dict(_torchlibrosa_front_end(MSCLAP_MEL_DESIGNS["2022"]))
    _batchnorm(audio, "bn0.", 64, make)
    widths = (1,) + tuple(channels)
    for i in range(1, 7):
        block = f"conv_block{i}."
        audio[block + "conv1.weight"] = make(widths[i], widths[i - 1], 3, 3)
        audio[block + "conv2.weight"] = make(widths[i], widths[i], 3, 3)
        _batchnorm(audio, block + "bn1.", widths[i], make)
        _batchnorm(audio, block + "bn2.", widths[i], make)
    _linear(audio, "fc1.", embed, widths[-1], make)
    _linear(audio, "fc_audioset.", 527, embed, make)
    sd.update({"audio_encoder.base." + k: v for k, v in audio.items()})
    _projection(sd, "audio_encoder.projection.", embed, make)

    text = {
        "embeddings.word_embeddings.weight": make(vocab, text_width),
        "embeddings.position_embeddings.weight": make(512, text_width),
        "embeddings.token_type_embeddings.weight": make(2, text_width),
        "embeddings.position_ids": make(1, 512, kind="index"),
    }
    _layer_norm(text, "embeddings.LayerNorm.", text_width, make)
    for i in range(text_layers):
        layer = f"encoder.layer.{i}."
        for part in ("query", "key", "value"):
            _linear(
                text,
                layer + f"attention.self.{part}.",
                text_width,
                text_width,
                make,
            )
        _linear(
            text,
            layer + "attention.output.dense.",
            text_width,
            text_width,
            make,
        )
        _layer_norm(
            text, layer + "attention.output.LayerNorm.", text_width, make
        )
        _linear(
            text,
            layer + "intermediate.dense.",
            4 * text_width,
            text_width,
            make,
        )
        _linear(text, layer + "output.dense.", text_width, 4 * text_width, make)
        _layer_norm(text, layer + "output.LayerNorm.", text_width, make)
    _linear(text, "pooler.dense.", text_width, text_width, make)
    sd.update({"caption_encoder.base." + k: v for k, v in text.items()})
    _projection(sd, "caption_encoder.projection.", text_width, make)
    return sd


def _msclap_projection(x, sd, prefix):
    """msclap's ``Projection`` in eval mode."""
    h = x @ sd[prefix + "linear1.weight"].T
    h = h + F.gelu(h) @ sd[prefix + "linear2.weight"].T
    return F.layer_norm(
        h,
        (h.shape[-1],),
        sd[prefix + "layer_norm.weight"],
        sd[prefix + "layer_norm.bias"],
    )


# --------------------------------------------------------------------------
# tokenizer folders: GPT-2 byte-level BPE and BERT WordPiece in miniature
# --------------------------------------------------------------------------


def _byte_alphabet():
    """GPT-2's byte-to-character table, in its id order ('!' is id 0)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = [chr(b) for b in printable]
    chars += [chr(256 + n) for n in range(256 - len(printable))]
    return chars


def make_gpt2_tokenizer(folder):
    """A byte-level BPE tokenizer with GPT-2's base ids; returns vocab size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2TokenizerFast

    vocab = {c: i for i, c in enumerate(_byte_alphabet())}
    vocab["<|endoftext|>"] = len(vocab)
    merges = [("Ġ", "d"), ("Ġd", "o"), ("Ġdo", "g")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    eot = "<|endoftext|>"
    GPT2TokenizerFast(
        tokenizer_object=backend, bos_token=eot, eos_token=eot, unk_token=eot
    ).save_pretrained(str(folder))
    return len(vocab)


def make_bert_tokenizer(folder):
    """A lower-casing WordPiece tokenizer; returns vocab size."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        ".",
        *WORDS,
        "sound",
        "of",
        "is",
    ]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(
        str(folder)
    )
    return len(vocab)


def msclap_preprocess(tokenizer, texts, version):
    """msclap's ``CLAPWrapper.preprocess_text``, replayed with transformers.

    msclap calls ``encode_plus``, which transformers 5 removed; calling the
    tokenizer on one text is the same operation.
    """
    max_length = 77 if version == "2023" else 100
    encode = getattr(tokenizer, "encode_plus", tokenizer)
    rows = []
    for text in texts:
        if version == "2023":
            text = text + " <|endoftext|>"
        rows.append(
            encode(
                text=text,
                add_special_tokens=True,
                max_length=max_length,
                padding="max_length",
                return_tensors="pt",
            )
        )
    return {k: torch.cat([r[k] for r in rows]) for k in rows[0]}


def _hf_tokenizer(folder, version):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if version == "2023":
        tokenizer.add_special_tokens({"pad_token": "!"})
    return tokenizer


@pytest.fixture(scope="module")
def token_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("msclap_tokenizers")
    gpt2, bert = root / "tiny-gpt2", root / "tiny-bert"
    return {
        "2023": (gpt2, make_gpt2_tokenizer(gpt2)),
        "2022": (bert, make_bert_tokenizer(bert)),
    }


# --------------------------------------------------------------------------
# always-run tests
# --------------------------------------------------------------------------


def _build_on_meta(version):
    """The model file's CLAP at full size on the meta device (no front end)."""
    with torch.device("meta"):
        with open(ROOT / "hparams" / "models" / f"msclap_{version}.yaml") as f:
            return load_hyperpyyaml(f, {"audio_features": None})["clap"]


@pytest.mark.parametrize("version", ["2022", "2023"])
def test_full_size_layout_loads_strictly(version):
    layout = msclap_2022_layout if version == "2022" else msclap_2023_layout
    convert = msclap_2022_to_clap if version == "2022" else msclap_2023_to_clap
    source = layout(_Factory(meta=True))
    assert detect_format(source) == f"msclap_{version}"
    new, report = convert(source)
    clap = _build_on_meta(version)
    clap.load_state_dict(new, strict=True)
    ours = {k: tuple(v.shape) for k, v in clap.state_dict().items()}
    assert ours == {k: tuple(v.shape) for k, v in new.items()}
    # every source key is accounted for, once
    accounted = [s for s, _ in report.renamed] + [s for s, _ in report.dropped]
    assert sorted(accounted) == sorted(source)
    reasons = {}
    for _, reason in report.dropped:
        short = reason.split(",")[0]
        reasons[short] = reasons.get(short, 0) + 1
    if version == "2023":
        # 357 keys the current code creates, plus 24 legacy GPT-2 buffers
        assert len(source) == 357 + 24 and len(new) == 357 - 3 - 17 - 4
        assert reasons == {
            "STFT kernel": 2,
            "mel matrix": 1,
            "derived buffer": 17,
            "AudioSet head not requested": 4,
            "transformers buffer": 24,
        }
        assert new["text_encoder.model.h.0.attn.c_attn.weight"].shape == (
            768,
            2304,
        )
    else:
        # 292 keys the current code creates, plus BERT's position ids
        assert len(source) == 292 + 1 and len(new) == 292 - 3 - 2
        assert reasons == {
            "STFT kernel": 2,
            "mel matrix": 1,
            "AudioSet head not requested": 2,
            "transformers buffer": 1,
        }
        assert new["audio_encoder.fc1.weight"].shape == (2048, 2048)


def test_detection_and_refusals():
    make = _Factory(meta=False)
    sd = msclap_2022_layout(
        make,
        channels=(4, 4, 8, 8, 16, 16),
        embed=16,
        text_layers=1,
        text_width=8,
        vocab=20,
    )
    assert is_msclap_2022(sd) and not is_msclap_2023(sd)
    wrapped = {"module." + k: v for k, v in sd.items()}
    assert detect_format(wrapped) == "msclap_2022"
    assert len(msclap_2022_to_clap(wrapped)[0]) == len(
        msclap_2022_to_clap(sd)[0]
    )
    new, _ = msclap_2022_to_clap(sd, keep_audioset_head=True)
    assert "audio_encoder.fc_audioset.weight" in new
    assert float(new["log_logit_scale"]) == pytest.approx(3.2)  # stored as log
    clapcap = {"clap.base.htsat.patch_embed.proj.weight": torch.zeros(1)}
    assert not is_msclap_2023(clapcap) and not is_msclap_2022(clapcap)
    with pytest.raises(ValueError, match="not an msclap 2023"):
        msclap_2023_to_clap(sd)
    with pytest.raises(ValueError, match="unrecognised msclap 2022 keys"):
        msclap_2022_to_clap(
            {**sd, "audio_encoder.base.extra.weight": torch.zeros(1)}
        )
    incomplete = {k: v for k, v in sd.items() if k != "logit_scale"}
    with pytest.raises(ValueError, match="logit_scale"):
        msclap_2022_to_clap(incomplete)
    # a mel matrix of another design is refused, naming the design it matches
    other = dict(sd)
    other["audio_encoder.base.logmel_extractor.melW"] = mel_filterbank(
        513, 50.0, 8000.0, 64, 44100
    )
    with pytest.raises(ValueError, match="sr=44100 Hz, 50-8000 Hz"):
        msclap_2022_to_clap(other)
    # STFT kernels that are not Hann-windowed DFT kernels are refused
    bad = dict(sd)
    key = "audio_encoder.base.spectrogram_extractor.stft.conv_real.weight"
    bad[key] = bad[key] * 1.01
    with pytest.raises(ValueError, match="not Hann-windowed DFT"):
        msclap_2022_to_clap(bad)


def test_stft_kernel_error_tolerates_float32_only():
    front = _torchlibrosa_front_end(MSCLAP_MEL_DESIGNS["2023"])
    real = front["spectrogram_extractor.stft.conv_real.weight"]
    imag = front["spectrogram_extractor.stft.conv_imag.weight"]
    assert stft_kernel_error(real, imag) < 1e-6
    hamming = torch.hamming_window(1024, periodic=True, dtype=torch.float64)
    hann = torch.hann_window(1024, periodic=True, dtype=torch.float64)
    scale = (hamming / hann.clamp(min=1e-12)).float()
    assert stft_kernel_error(real * scale, imag * scale) > 1e-2
    with pytest.raises(ValueError, match="do not fit"):
        stft_kernel_error(real[:10], imag[:10])


@pytest.mark.parametrize("version", ["2022", "2023"])
def test_tokenizer_and_pooling_follow_msclap(token_folders, version):
    from speechbrain_tclap.lobes.text import HFTextEncoder

    folder, n_vocab = token_folders[version]
    ours = msclap_tokenizer(version, folder)
    expected = msclap_preprocess(_hf_tokenizer(folder, version), TEXTS, version)
    ids, mask = ours(TEXTS)
    assert torch.equal(ids, expected["input_ids"])
    assert torch.equal(mask, expected["attention_mask"].bool())
    torch.manual_seed(0)
    if version == "2023":
        assert ours.pad_id == 0 and ids.shape == (3, 77)
        eot = ours.tokenizer.convert_tokens_to_ids("<|endoftext|>")
        space = ours.tokenizer.convert_tokens_to_ids("Ġ")
        lengths = mask.sum(1)
        rows = torch.arange(3)
        # ' <|endoftext|>' ends every text as two tokens: 'Ġ' then the eot id
        assert (ids[rows, lengths - 1] == eot).all()
        assert (ids[rows, lengths - 2] == space).all()
        config = dict(
            n_embd=16, n_layer=1, n_head=2, vocab_size=n_vocab, n_positions=80
        )
        encoder = HFTextEncoder(
            ours, model_type="gpt2", config=config, pooling="eot"
        )
    else:
        assert ids.shape == (3, 100)
        config = dict(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            vocab_size=n_vocab,
            max_position_embeddings=128,
        )
        encoder = HFTextEncoder(
            ours, model_type="bert", config=config, pooling="cls"
        )
    encoder.eval()
    with torch.no_grad():
        pooled = encoder(TEXTS).pooled
        hidden = encoder.model(**expected).last_hidden_state
    if version == "2023":
        # msclap/models/clap.py: the last id that differs from 0
        index = torch.ne(expected["input_ids"], 0).sum(-1) - 1
        reference = hidden[torch.arange(3), index]
    else:
        reference = hidden[:, 0]
    assert torch.allclose(pooled, reference, atol=1e-5)


def test_missing_tokenizer_is_explicit():
    tok = msclap_tokenizer("2022")
    assert isinstance(tok, MissingTokenizer)
    with pytest.raises(RuntimeError, match="bert-base-uncased tokenizer files"):
        tok(["rain"])
    with pytest.raises(ValueError, match="version"):
        msclap_tokenizer("2024")


SMALL_2022 = dict(channels=(4, 4, 8, 8, 16, 16), embed=16)


@pytest.mark.parametrize("version", ["2022", "2023"])
def test_interface_loads_msclap_pth(tmp_path, token_folders, version):
    """A ``{"model": ...}`` .pth in msclap's layout, through from_hparams."""
    from speechbrain_tclap.inference import CLAP as CLAPInterface

    folder, n_vocab = token_folders[version]
    text = dict(text_layers=1, text_width=32, vocab=n_vocab)
    make = _Factory(meta=False, seed=4)
    model = {
        "text_layers": 1,
        "text_width": 32,
        "text_heads": 2,
        "text_vocab_size": n_vocab,
    }
    if version == "2022":
        source = msclap_2022_layout(make, **SMALL_2022, **text)
        model.update(
            audio_channels=list(SMALL_2022["channels"]), audio_width=16
        )
    else:
        source = msclap_2023_layout(make, **text)
    checkpoint = tmp_path / f"CLAP_weights_{version}.pth"
    torch.save({"model": source, "epoch": 40}, checkpoint)
    interface = CLAPInterface.from_hparams(
        source=str(ROOT / "hparams" / "pretrained"),
        hparams_file=f"msclap_{version}.yaml",
        savedir=str(tmp_path / "save"),
        overrides={
            "checkpoint": str(checkpoint),
            "tokenizer_folder": str(folder),
            "model": model,
        },
    )
    clap = interface.mods.clap
    assert not clap.training
    assert interface.hparams.zero_shot_template == "This is a sound of {}."
    assert interface.sample_rate == 44100
    assert float(clap.logit_scale()) == pytest.approx(
        float(torch.tensor(3.2).exp())
    )
    prefix = "caption_encoder.base."
    if version == "2023":
        ours = clap.text_encoder.model.h[0].attn.c_attn.weight
        theirs = source[prefix + "h.0.attn.c_attn.weight"]
    else:
        ours = clap.audio_encoder.conv_block3.bn2.running_var
        theirs = source["audio_encoder.base.conv_block3.bn2.running_var"]
    assert torch.equal(ours, theirs)
    # text embeddings: msclap's tokenization, pooling and projection
    tokens = msclap_preprocess(_hf_tokenizer(folder, version), TEXTS, version)
    with torch.no_grad():
        embedded = interface.encode_text(TEXTS, normalize=False)
        hidden = clap.text_encoder.model(**tokens).last_hidden_state
    if version == "2023":
        index = torch.ne(tokens["input_ids"], 0).sum(-1) - 1
        pooled = hidden[torch.arange(3), index]
    else:
        pooled = hidden[:, 0]
    expected = _msclap_projection(pooled, source, "caption_encoder.projection.")
    assert torch.allclose(embedded, expected, atol=1e-4)
    seconds = 5 if version == "2022" else 7
    audio = interface.encode_audio(0.1 * torch.randn(1, seconds * 44100))
    assert audio.shape == (1, 1024) and torch.isfinite(audio).all()


# --------------------------------------------------------------------------
# parity with the msclap package (random weights, offline)
# --------------------------------------------------------------------------


def _msclap():
    pytest.importorskip("torchlibrosa")
    clap_module = pytest.importorskip("msclap.models.clap")
    wrapper = pytest.importorskip("msclap.CLAPWrapper")
    return clap_module.CLAP, wrapper.CLAPWrapper


def _randomize(model, seed):
    """Non-trivial BatchNorm statistics, norms and position biases."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "relative_position_bias_table" in name:
                param.copy_(torch.randn(param.shape, generator=generator))
            elif "layer_norm" in name or "ln_" in name or "LayerNorm" in name:
                param.add_(0.2 * torch.randn(param.shape, generator=generator))
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(
                    5 * torch.randn(size, generator=generator) - 20
                )
                module.running_var.copy_(
                    50 * torch.rand(size, generator=generator) + 10
                )
        model.logit_scale.fill_(3.9)
    return model.eval()


def _wrapper(wrapper_cls, model, folder, version):
    """msclap's ``CLAPWrapper`` around a given model (no download)."""
    wrapper = wrapper_cls.__new__(wrapper_cls)
    wrapper.args = types.SimpleNamespace(
        text_model=str(folder), text_len=77 if version == "2023" else 100
    )
    wrapper.tokenizer = _hf_tokenizer(folder, version)
    wrapper.token_keys = ["input_ids", "attention_mask"]
    if version == "2022":
        wrapper.token_keys.insert(1, "token_type_ids")
    wrapper.use_cuda = False
    wrapper.np_str_obj_array_pattern = re.compile(r"[SaUO]")
    wrapper.default_collate_err_msg_format = "default_collate: {}"
    wrapper.clap = model
    return wrapper


@pytest.mark.parametrize("version", ["2022", "2023"])
def test_matches_msclap_package(tmp_path, token_folders, version):
    from speechbrain.utils.parameter_transfer import Pretrainer
    from transformers import AutoConfig, AutoModel

    from speechbrain_tclap.convert.pretrainer import load_any_checkpoint

    msclap_cls, wrapper_cls = _msclap()
    shared, n_vocab = token_folders[version]
    folder = tmp_path / shared.name  # 'tiny-gpt2' / 'tiny-bert'
    shutil.copytree(shared, folder)
    # msclap builds its text model with AutoModel.from_pretrained(folder)
    # and picks GPT-2 / BERT behaviour from the folder name
    torch.manual_seed(0)
    if version == "2023":
        config = AutoConfig.for_model(
            "gpt2", n_embd=32, n_layer=2, n_head=2, vocab_size=n_vocab
        )
        audio = dict(audioenc_name="HTSAT", out_emb=768, fmax=8000)
    else:
        config = AutoConfig.for_model(
            "bert",
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            vocab_size=n_vocab,
        )
        audio = dict(audioenc_name="Cnn14", out_emb=2048, fmax=14000)
    AutoModel.from_config(config).save_pretrained(str(folder))
    reference = msclap_cls(
        sample_rate=44100,
        window_size=1024,
        hop_size=320,
        mel_bins=64,
        fmin=50,
        classes_num=527,
        text_model=str(folder),
        transformer_embed_dim=32,
        d_proj=1024,
        **audio,
    )
    reference = _randomize(reference, seed=int(version))
    wrapper = _wrapper(wrapper_cls, reference, folder, version)
    checkpoint = tmp_path / f"CLAP_weights_{version}.pth"
    torch.save({"model": reference.state_dict()}, checkpoint)

    overrides = {
        "text_layers": 2,
        "text_width": 32,
        "text_heads": 2,
        "text_vocab_size": n_vocab,
        "tokenizer_folder": str(folder),
    }
    with open(ROOT / "hparams" / "models" / f"msclap_{version}.yaml") as f:
        hparams = load_hyperpyyaml(f, overrides)
    clap = hparams["clap"]
    pretrainer = Pretrainer(
        collect_in=str(tmp_path / "collected"),
        loadables={"clap": clap},
        paths={"clap": str(checkpoint)},
        custom_hooks={"clap": load_any_checkpoint},
    )
    pretrainer.collect_files()
    pretrainer.load_collected()
    clap.eval()

    # HTSAT: msclap's 7 s (965 frames, stretched to 1024); CNN14 takes any
    # length, 2 s keeps the full-size CNN14 cheap
    seconds = 2 if version == "2022" else 7
    wavs = 0.1 * torch.randn(2, seconds * 44100)
    with torch.no_grad():
        audio_ref = wrapper._get_audio_embeddings(wavs.unsqueeze(1))
        if hasattr(wrapper.tokenizer, "encode_plus"):
            text_ref = wrapper.get_text_embeddings(TEXTS)
        else:  # transformers 5: msclap's preprocess_text replayed
            tokens = msclap_preprocess(wrapper.tokenizer, TEXTS, version)
            text_ref = wrapper._get_text_embeddings(tokens)
        audio_ours = clap.encode_audio(wavs, normalize=False)
        text_ours = clap.encode_text(TEXTS, normalize=False)
        sim_ref = wrapper.compute_similarity(audio_ref, text_ref)
        sim_ours = clap.logit_scale() * (
            F.normalize(audio_ours, dim=-1) @ F.normalize(text_ours, dim=-1).T
        )
    assert (audio_ours - audio_ref).abs().max() <= 1e-4 * audio_ref.abs().max()
    assert torch.allclose(text_ours, text_ref, atol=1e-5)
    assert torch.allclose(sim_ours, sim_ref, atol=1e-3)
