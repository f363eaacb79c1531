"""Tests for the LAION-CLAP and Hugging Face converters and model files.

Everything is random-init and offline. The references are HF ``ClapModel``
instances built from configs (HTSAT-tiny geometry at a small width, a tiny
RoBERTa); LAION-layout state dicts are written from our model with LAION's
key names (``clap_to_laion`` plus the buffers LAION stores), and the
published model files are checked at full size on the meta device.

Authors
 * speechbrain-tclap developers 2026
"""

import logging
import math
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
from reference_models import randomize_reference, small_clap_audio_config
import torch
from hyperpyyaml import load_hyperpyyaml
from torch import nn

from speechbrain_tclap.convert.hf import (
    clap_to_hf,
    hf_to_clap,
    is_hf_clap,
)
from speechbrain_tclap.convert.laion import (
    clap_to_laion,
    is_laion_clap,
    laion_to_clap,
)
from speechbrain_tclap.convert.registry import convert_state_dict, detect_format
from speechbrain_tclap.lobes.clap import CLAP
from speechbrain_tclap.lobes.fusion import fusion_inputs
from speechbrain_tclap.lobes.htsat import HTSAT
from speechbrain_tclap.lobes.projection import MLPProjection
from speechbrain_tclap.lobes.text import HFTextEncoder
from speechbrain_tclap.utils.checkpointing import read_checkpoint

HPARAMS = os.path.join(os.path.dirname(__file__), "..", "..", "hparams")
# HTSAT-tiny geometry (256x256, 4 stages, 32 frames) at a small width
AUDIO = dict(
    n_mels=64,
    spec_size=256,
    patch_size=4,
    embed_dim=8,
    depths=(2, 2, 2, 1),
    num_heads=(1, 1, 2, 2),
    window_size=8,
)
TEXT = dict(
    vocab_size=300,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=20,
    type_vocab_size=1,
    layer_norm_eps=1e-12,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
)
JOINT = 16
WINDOW = 1001
PRETRAINED = {
    "laion_clap_htsat_tiny.yaml": "laion_clap_htsat_tiny.yaml",
    "laion_clap_htsat_tiny_fused.yaml": "laion_clap_htsat_tiny_fused.yaml",
    "laion_clap_htsat_base.yaml": "laion_clap_htsat_base.yaml",
    "hf_clap_htsat_unfused.yaml": "laion_clap_htsat_tiny.yaml",
    "hf_clap_htsat_fused.yaml": "laion_clap_htsat_tiny_fused.yaml",
}


class MelInput(nn.Module):
    """Front end for parity tests: the input already is a log-mel."""

    def forward(self, feats, feat_lens=None):
        return feats, feat_lens


class WordTokenizer:
    """Deterministic RoBERTa-style ids (<s>=0, pad=1, </s>=2), right-padded."""

    pad_id = 1

    def __call__(self, texts):
        rows = [
            [0] + [3 + sum(map(ord, w)) % 290 for w in t.split()] + [2] for t in texts
        ]
        length = max(map(len, rows))
        ids = torch.full((len(rows), length), 1, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids, ids != 1


def _hf_clap(fused):
    transformers = pytest.importorskip("transformers")
    audio = small_clap_audio_config(
        transformers,
        enable_fusion=fused,
        fusion_type="aff_2d" if fused else None,
        projection_dim=JOINT,
    )
    text = transformers.ClapTextConfig(**TEXT, projection_dim=JOINT)
    config = transformers.ClapConfig(
        text_config=text.to_dict(),
        audio_config=audio.to_dict(),
        projection_dim=JOINT,
    )
    torch.manual_seed(0)
    model = randomize_reference(transformers.ClapModel(config)).eval()
    with torch.no_grad():  # two different temperatures, as in LAION files
        model.logit_scale_a.fill_(math.log(20.0))
        model.logit_scale_t.fill_(math.log(1 / 0.07))
    return model


def _our_clap(fused):
    audio = HTSAT(
        **AUDIO,
        time_fill="stretch",
        enable_fusion=fused,
        fusion_window=WINDOW if fused else None,
    )
    text = HFTextEncoder(WordTokenizer(), model_type="roberta", config=TEXT)
    return CLAP(
        MelInput(),
        audio,
        MLPProjection(64, JOINT),
        text,
        MLPProjection(TEXT["hidden_size"], JOINT),
    ).eval()


def _laion_extras(ours):
    """Tensors a LAION checkpoint stores besides the ones we map."""
    branch = "module.audio_branch."
    extras = {
        branch + "spectrogram_extractor.stft.conv_real.weight": torch.zeros(3, 1, 4),
        branch + "spectrogram_extractor.stft.conv_imag.weight": torch.zeros(3, 1, 4),
        branch + "logmel_extractor.melW": torch.zeros(3, 64),
        branch + "tscam_conv.weight": torch.zeros(5, 64, 2, 3),
        branch + "tscam_conv.bias": torch.zeros(5),
        branch + "head.weight": torch.zeros(5, 5),
        branch + "head.bias": torch.zeros(5),
        "module.text_branch.embeddings.position_ids": torch.arange(20)[None],
        "module.audio_transform.sequential.0.weight": torch.zeros(JOINT, JOINT),
        "module.text_transform.sequential.0.weight": torch.zeros(JOINT, JOINT),
    }
    for name, _ in ours.audio_encoder.named_parameters():
        if name.endswith("relative_position_bias_table"):
            block = name[: -len("relative_position_bias_table")]
            extras[branch + block + "relative_position_index"] = torch.zeros(1)
            extras[branch + block[: -len("attn.")] + "attn_mask"] = torch.zeros(1)
    return extras


@pytest.mark.parametrize("fused", [False, True])
def test_clap_matches_hf_and_round_trips(fused):
    reference = _hf_clap(fused)
    hf_state = reference.state_dict()
    assert is_hf_clap(hf_state) and detect_format(dict(hf_state)) == "hf_clap"
    converted, report = hf_to_clap(hf_state)
    dropped = dict(report.dropped)
    assert "never trains" in dropped["logit_scale_t"]
    assert "text_model.embeddings.position_ids" in dropped
    ours = _our_clap(fused)
    ours.load_state_dict(converted, strict=True)

    torch.manual_seed(7)
    texts = ["a dog barks", "rain falls on a tin roof", "a bell"]
    ids, mask = WordTokenizer()(texts)
    if fused:  # one clip longer than the window, one exactly as long
        mels = 4 * torch.randn(2, 1500, 64)
        lens = torch.tensor([1.0, WINDOW / 1500])
        views = fusion_inputs(mels, lens, WINDOW)
        assert views.is_longer.tolist() == [True, False]
        hf_audio = dict(input_features=views.feats, is_longer=views.is_longer[:, None])
    else:
        mels, lens = 4 * torch.randn(2, WINDOW, 64), None
        hf_audio = dict(input_features=mels.unsqueeze(1))
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask.long(), **hf_audio)
        audio = ours.encode_audio(mels, lens)
        text = ours.encode_text(texts)
        logits = ours.logit_scale() * audio @ text.T
    scale = ours.logit_scale().item()
    deltas = {
        "audio": (audio - expected.audio_embeds).abs().max(),
        "text": (text - expected.text_embeds).abs().max(),
        "logits": (logits - expected.logits_per_audio).abs().max(),
    }
    print(
        f"CLAP vs HF ClapModel (fused={fused}, logit scale {scale:.0f}):",
        ", ".join(f"{k} {v:.2e}" for k, v in deltas.items()),
    )
    assert deltas["audio"] <= 1e-5 and deltas["text"] <= 1e-5, deltas
    # logits are the scale times cosines: float32 rounding grows with it
    assert deltas["logits"] <= 1e-5 * max(1.0, scale / 10), deltas
    # HF's logits_per_text use logit_scale_t, which LAION never trains
    ratio = reference.logit_scale_t.exp() / reference.logit_scale_a.exp()
    torch.testing.assert_close(
        expected.logits_per_text, ratio * logits.T, atol=1e-5, rtol=0
    )

    # LAION layout (with the buffers LAION stores) -> ours: the same tensors
    ours_state = ours.state_dict()
    laion, _ = clap_to_laion(ours_state)
    extras = _laion_extras(ours)
    laion.update(extras)
    assert is_laion_clap(laion) and detect_format(laion) == "laion_clap"
    back, report = laion_to_clap(laion)
    assert set(back) == set(ours_state)
    assert all(torch.equal(back[k], ours_state[k]) for k in ours_state)
    reasons = dict(report.dropped)
    assert set(reasons) == set(extras) | {"module.logit_scale_t"}
    assert "never trains" in reasons["module.logit_scale_t"]
    assert reasons["module.text_branch.embeddings.position_ids"].startswith("derived")
    # ... -> HF: loads strictly and gives back the reference's tensors
    hf_back, _ = clap_to_hf(back, logit_scale_t=reference.logit_scale_t.item())
    reference.load_state_dict(hf_back, strict=True)
    assert set(hf_back) == set(hf_state)
    assert all(torch.equal(hf_back[k], hf_state[k]) for k in hf_state)


def test_registry_conversion_and_converter_errors():
    ours = _our_clap(False)
    laion, _ = clap_to_laion(ours.state_dict())
    converted, report, name = convert_state_dict(laion)
    assert name == "laion_clap" and set(converted) == set(ours.state_dict())
    assert report.summary().startswith(f"{len(report.renamed)} renamed, 0 merged")
    with pytest.raises(ValueError, match="unrecognised LAION-CLAP keys"):
        laion_to_clap({**laion, "module.extra_head.weight": torch.zeros(1)})
    fusion_1d = "module.audio_branch.mel_conv1d.0.weight"
    with pytest.raises(ValueError, match="only aff_2d fusion"):
        laion_to_clap({**laion, fusion_1d: torch.zeros(1)})
    iaff = "module.audio_branch.patch_embed.fusion_model.local_att2.0.weight"
    with pytest.raises(ValueError, match="only aff_2d fusion"):
        laion_to_clap({**laion, iaff: torch.zeros(1)})
    hf, _ = clap_to_hf(ours.state_dict())
    with pytest.raises(ValueError, match="unrecognised HF ClapModel keys"):
        hf_to_clap({**hf, "audio_model.extra.weight": torch.zeros(1)})
    pooled = {**ours.state_dict(), "audio_pooling.query": torch.zeros(4)}
    with pytest.raises(ValueError, match="no HF ClapModel counterpart"):
        clap_to_hf(pooled)
    with pytest.raises(ValueError, match="no LAION-CLAP counterpart"):
        clap_to_laion(pooled)


# --------------------------------------------------------------------------
# model files and the Pretrainer
# --------------------------------------------------------------------------


def _tiny_overrides(tokenizer_dir, checkpoint, fused=False):
    """Shrinks a pretrained file's model (64-frame HTSAT, tiny RoBERTa)."""
    audio = dict(
        spec_size=64, embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=4
    )
    if fused:
        audio["fusion_window"] = 64
    text = {k: v for k, v in TEXT.items() if not k.endswith("token_id")}
    return {
        "tokenizer_folder": tokenizer_dir,
        "checkpoint": str(checkpoint),
        "model": {
            "audio_encoder": audio,
            "audio_projection": {"input_size": 16},
            "text_projection": {"input_size": 16},
            "text_encoder": {"config": text},
            "joint_dim": JOINT,
            "max_text_tokens": 12,
            "clip_seconds": 0.6,  # within the 64-frame encoder
        },
    }


def _write_laion_file(tokenizer_dir, path, fused, seed=3):
    """A LAION-layout .pt written from a tiny model built from the same file."""
    name = "laion_clap_htsat_tiny_fused.yaml" if fused else "laion_clap_htsat_tiny.yaml"
    with open(os.path.join(HPARAMS, "pretrained", name)) as f:
        hparams = load_hyperpyyaml(f, _tiny_overrides(tokenizer_dir, path, fused))
    source = randomize_reference(hparams["clap"], seed).eval()
    state, _ = clap_to_laion(source.state_dict())
    state.update(_laion_extras(source))
    torch.save({"state_dict": state, "epoch": 12, "name": "laion"}, str(path))
    return source


def test_pretrainer_loads_a_laion_file(tokenizer_dir, tmp_path, caplog):
    from speechbrain_tclap.inference import CLAP as CLAPInterface

    checkpoint = tmp_path / "630k-audioset-best.pt"
    source = _write_laion_file(tokenizer_dir, checkpoint, fused=False)
    with caplog.at_level(logging.INFO):
        interface = CLAPInterface.from_hparams(
            source=os.path.join(HPARAMS, "pretrained"),
            hparams_file="laion_clap_htsat_tiny.yaml",
            savedir=str(tmp_path / "interface"),
            overrides=_tiny_overrides(tokenizer_dir, checkpoint),
        )
    assert re.search(
        r"converted laion_clap checkpoint .*: \d+ renamed, 0 merged, "
        r"\d+ dropped \(.*in-model front end: 3",
        caplog.text,
    )
    loaded = interface.mods.clap.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(loaded[key], value), key
    wavs = torch.randn(2, 24000)  # 0.5 s: inside the tiny 64-frame window
    texts = ["a dog barks", "rain falls"]
    with torch.no_grad():
        expected = source.encode_audio(wavs) @ source.encode_text(texts).T
    torch.testing.assert_close(interface.similarity(wavs, texts), expected)
    assert interface.sample_rate == 48000


def test_model_file_builds_without_tokenizer_files():
    overrides = _tiny_overrides(None, "unused.pt")
    del overrides["tokenizer_folder"]
    with open(os.path.join(HPARAMS, "models", "laion_clap_htsat_tiny.yaml")) as f:
        hparams = load_hyperpyyaml(f, overrides["model"])
    clap = hparams["clap"].eval()
    with torch.no_grad():
        assert clap.encode_audio(torch.randn(1, 24000)).shape == (1, JOINT)
    with pytest.raises(
        RuntimeError, match="no RoBERTa tokenizer: set tokenizer_folder"
    ):
        clap.encode_text(["a dog barks"])


def test_fused_file_into_unfused_model_is_a_clear_error(tokenizer_dir, tmp_path):
    from speechbrain_tclap.inference import CLAP as CLAPInterface

    checkpoint = tmp_path / "630k-fusion-best.pt"
    _write_laion_file(tokenizer_dir, checkpoint, fused=True)
    with pytest.raises(
        RuntimeError,
        match=r"feature-fusion weights but this "
        r"HTSAT was built with enable_fusion=False",
    ):
        CLAPInterface.from_hparams(
            source=os.path.join(HPARAMS, "pretrained"),
            hparams_file="laion_clap_htsat_tiny.yaml",
            savedir=str(tmp_path / "interface"),
            overrides=_tiny_overrides(tokenizer_dir, checkpoint),
        )


@pytest.fixture
def meta_device(monkeypatch):
    """Builds modules without memory; the mel filterbank stays on the CPU."""
    from speechbrain_tclap.lobes import features

    real = features.mel_filterbank

    def on_cpu(*args, **kwargs):
        with torch.device("cpu"):
            return real(*args, **kwargs)

    monkeypatch.setattr(features, "mel_filterbank", on_cpu)
    with torch.device("meta"):
        yield


def _load(path, overrides):
    with open(path) as f:
        return load_hyperpyyaml(f, overrides)


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_published_files_fit_the_converters(name, tokenizer_dir, meta_device):
    # full-size audio tower on the meta device; a tiny text config (the
    # RoBERTa-base values are compared as YAML below)
    small = {
        k: v
        for k, v in TEXT.items()
        if not k.endswith("token_id") and k != "layer_norm_eps"
    }
    small_text = {
        "text_encoder": {"config": small},
        "text_projection": {"input_size": TEXT["hidden_size"]},
    }
    pretrained = _load(
        os.path.join(HPARAMS, "pretrained", name),
        {"tokenizer_folder": tokenizer_dir, "model": small_text},
    )
    model_file = PRETRAINED[name]
    eps = 1e-12 if name.startswith("hf_") else 1e-5
    model = _load(
        os.path.join(HPARAMS, "models", model_file),
        {"tokenizer_folder": tokenizer_dir, "text_layer_norm_eps": eps, **small_text},
    )
    clap, reference = pretrained["clap"], model["clap"]
    assert str(clap) == str(reference)
    assert _shapes(clap) == _shapes(reference)
    for attr in ("time_fill", "enable_fusion", "fusion_window", "output_dim"):
        assert getattr(clap.audio_encoder, attr) == getattr(
            reference.audio_encoder, attr
        )
    assert clap.text_encoder.model.config.layer_norm_eps == eps
    assert pretrained["sample_rate"] == 48000 and clap.clip_seconds == reference.clip_seconds == 10.0
    assert set(pretrained["modules"]) == {"clap"}
    assert pretrained["pretrainer"].loadables["clap"] is clap
    repo, _, filename = pretrained["checkpoint"].rpartition("/")
    assert (repo, name.startswith("hf_")) in (
        ("lukewys/laion_clap", False),
        ("laion/clap-htsat-unfused", True),
        ("laion/clap-htsat-fused", True),
    )
    fused_file = "fusion" in filename or repo.endswith("-fused")
    assert fused_file == clap.audio_encoder.enable_fusion
    width = 1024 if "base" in name else 768
    assert clap.audio_encoder.output_dim == width
    # our keys -> LAION / HF layouts -> our keys, at full size
    state = {
        k: torch.empty(v.shape, device="meta") for k, v in clap.state_dict().items()
    }
    via_laion, _ = laion_to_clap(clap_to_laion(state)[0])
    via_hf, _ = hf_to_clap(clap_to_hf(state)[0])
    for converted in (via_laion, via_hf):
        assert {k: tuple(v.shape) for k, v in converted.items()} == _shapes(clap)


def test_text_towers_are_roberta_base():
    from ruamel.yaml import YAML

    transformers = pytest.importorskip("transformers")
    defaults = transformers.ClapTextConfig()
    for name in set(PRETRAINED.values()):
        with open(os.path.join(HPARAMS, "models", name)) as f:
            text = YAML().load(f)["text_encoder"]
        config = text["config"]
        assert text["pooling"] == "pooler" and text["model_type"] == "roberta"
        for key in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
            "pad_token_id",
            "bos_token_id",
            "eos_token_id",
        ):
            assert config[key] == getattr(defaults, key), (name, key)


def test_read_checkpoint(tmp_path):
    state = {"w": torch.randn(3)}
    # numpy scalars next to the weights (training metadata) are allowed
    path = tmp_path / "with_numpy.pt"
    extra = {"best": np.float64(0.9), "step": np.int64(3), "curve": np.arange(3.0)}
    torch.save({"state_dict": state, **extra}, str(path))
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(str(path), weights_only=True)
    loaded = read_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], state["w"])
    assert float(loaded["best"]) == 0.9 and int(loaded["step"]) == 3
    assert loaded["curve"].tolist() == [0.0, 1.0, 2.0]
    # object arrays are not data
    path = tmp_path / "with_object_array.pt"
    torch.save(
        {"state_dict": state, "x": np.array([None, "a"], dtype=object)}, str(path)
    )
    with pytest.raises(ValueError, match="refusing"):
        read_checkpoint(path)
    # anything else is refused
    path = tmp_path / "with_object.pt"
    torch.save({"state_dict": state, "obj": MelInput()}, str(path))
    with pytest.raises(ValueError, match="refusing"):
        read_checkpoint(path)
    # a truncated download names the file
    good = tmp_path / "good.pt"
    torch.save(state, str(good))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="broken.pt.*truncated or corrupted"):
        read_checkpoint(broken)
    # safetensors, whatever the name (the Pretrainer links it as clap.ckpt)
    safetensors = pytest.importorskip("safetensors.torch")
    path = tmp_path / "clap.ckpt"
    safetensors.save_file(state, str(path))
    assert torch.equal(read_checkpoint(path)["w"], state["w"])
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "missing.pt")


def test_longest_padding_gives_laion_text_embeddings(tokenizer_dir):
    # Fine-tuning pads captions to the batch's longest (cheaper text tower);
    # the embeddings must equal those of LAION's 77-token padding.
    overrides = _tiny_overrides(tokenizer_dir, "unused.pt")["model"]
    texts = ["a dog barks", "rain falls", "birds"]
    embeddings = {}
    for padding in ("max_length", "longest"):
        with open(os.path.join(HPARAMS, "models", "laion_clap_htsat_tiny.yaml")) as f:
            hparams = load_hyperpyyaml(
                f, {**overrides, "tokenizer_folder": tokenizer_dir, "text_padding": padding}
            )
        torch.manual_seed(0)
        for p in hparams["clap"].parameters():
            torch.nn.init.normal_(p, std=0.05)
        ids, _ = hparams["tokenizer"](texts)
        assert ids.shape[1] == (12 if padding == "max_length" else ids.shape[1])
        with torch.no_grad():
            embeddings[padding] = hparams["clap"].eval().encode_text(texts)
    assert ids.shape[1] < 12  # "longest" really is shorter here
    torch.testing.assert_close(embeddings["longest"], embeddings["max_length"], atol=1e-5, rtol=1e-5)
