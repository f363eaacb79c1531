"""Tests for the HTS-AT encoder lobe and its checkpoint key maps.

Authors
 * speechbrain-tclap developers 2026
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import pytest
from reference_models import randomize_reference, small_clap_audio_config
import torch

from speechbrain_tclap.convert.htsat_keys import (
    hf_audio_encoder_to_htsat,
    laion_audio_branch_to_htsat,
)
from speechbrain_tclap.lobes.htsat import HTSAT, HTSATStage

# the configuration the default recipe trains (128-frame capacity)
RECIPE_TINY = dict(
    n_mels=32,
    spec_size=64,
    patch_size=4,
    embed_dim=32,
    depths=(1, 1, 2),
    num_heads=(2, 4, 8),
    window_size=4,
)

# HTSAT-tiny geometry (256x256 image, 4 stages, 32 frames) at a small width
HF_GEOMETRY = dict(
    n_mels=64,
    spec_size=256,
    patch_size=4,
    embed_dim=8,
    depths=(2, 2, 2, 1),
    num_heads=(1, 1, 2, 2),
    window_size=8,
)


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return randomize_reference(HTSAT.from_preset("test"), bn_scale=1.0).eval()


def test_shapes_and_geometry(encoder):
    assert encoder.time_capacity == 64
    assert encoder.num_frames == 8 and encoder.frame_hop == 8
    assert encoder.output_dim == 16
    out = encoder(torch.randn(3, 64, 16))
    assert out.clip.shape == (3, 16)
    assert out.frames.shape == (3, 8, 16)
    assert out.frame_mask.dtype == torch.bool and bool(out.frame_mask.all())
    # without padding the clip embedding is the mean of all frames
    torch.testing.assert_close(out.clip, out.frames.mean(1))


def _model_file_encoder(name):
    """The HTSAT of a model file, from its plain arguments (no other lobe built)."""
    import ruamel.yaml

    path = Path(__file__).resolve().parents[2] / "hparams" / "models" / name
    section = ruamel.yaml.YAML().load(path.read_text())["audio_encoder"]
    args = {k: v for k, v in section.items() if not isinstance(v, ruamel.yaml.comments.TaggedScalar)}
    with torch.device("meta"):  # geometry only: skip allocating weights
        return HTSAT(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})


def test_model_file_geometry():
    tiny = _model_file_encoder("laion_clap_htsat_tiny.yaml")
    base = _model_file_encoder("laion_clap_htsat_base.yaml")
    assert tiny.output_dim == 768
    assert tiny.time_capacity == 1024
    assert tiny.num_frames == 32 and tiny.frame_hop == 32
    assert tiny.frame_rate(480, 48000) == pytest.approx(3.125)
    assert base.output_dim == 1024


def test_frame_mask_in_pad_mode(encoder):
    feats = torch.randn(3, 40, 16)
    lens = torch.tensor([1.0, 0.5, 0.2])  # 40, 20 and 8 frames
    out = encoder(feats, lens)
    # a frame is valid when its 8-frame span starts before the clip's end
    assert out.frame_mask.sum(1).tolist() == [5, 3, 1]
    assert not out.frame_mask[:, 5:].any()
    assert torch.all(out.frames[~out.frame_mask] == 0)
    for i in range(3):
        valid = out.frames[i, out.frame_mask[i]]
        torch.testing.assert_close(out.clip[i], valid.mean(0))


def test_pad_mode_is_batch_independent(encoder):
    short = torch.randn(1, 24, 16)
    long = torch.randn(1, 60, 16)
    alone = encoder(short)
    batch = torch.cat([long, torch.nn.functional.pad(short, (0, 0, 0, 36))])
    # garbage in the padding must not matter either
    batch[1, 24:] = 1e3 * torch.randn(36, 16)
    together = encoder(batch, torch.tensor([1.0, 24 / 60]))
    assert torch.equal(together.frame_mask[1], alone.frame_mask[0])
    assert (together.clip[1] - alone.clip[0]).abs().max() < 1e-5
    assert (together.frames[1] - alone.frames[0]).abs().max() < 1e-5


def test_padded_keys_are_hidden_from_attention():
    torch.manual_seed(0)
    stage = HTSATStage(8, (8, 8), depth=2, num_heads=2, window_size=4)
    randomize_reference(stage, bn_scale=1.0).eval()
    valid = torch.zeros(2, 8, 8, dtype=torch.bool)
    valid[0, :, :3] = True  # partly padded windows, both shift layouts
    valid[1, :5, :] = True
    x = torch.randn(2, 64, 8)
    perturbed = x.clone()
    hidden = ~valid.flatten(1)
    perturbed[hidden] = 100 * torch.randn(int(hidden.sum()), 8)
    out, out_perturbed = stage(x, valid), stage(perturbed, valid)
    kept = valid.flatten(1)
    assert (out[kept] - out_perturbed[kept]).abs().max() < 1e-5
    # without the mask, the padding leaks into the real tokens
    leak = stage(x, None)[kept] - stage(perturbed, None)[kept]
    assert leak.abs().max() > 1e-2


def test_single_valid_frame_gives_no_nan(encoder):
    feats = torch.randn(2, 64, 16)
    lens = torch.tensor([1 / 64, 1.0])
    out = encoder(feats, lens)
    assert out.frame_mask.sum(1).tolist() == [1, 8]
    assert torch.isfinite(out.clip).all() and torch.isfinite(out.frames).all()
    encoder.train()
    feats.requires_grad_(True)
    out = encoder(feats, lens)
    out.clip.sum().backward()
    assert torch.isfinite(feats.grad).all()
    assert feats.grad[0, 1:].abs().max() == 0  # padding gets no gradient


def test_input_errors(encoder):
    too_long = r"65 frames.*time_capacity=64.*sliding"
    with pytest.raises(ValueError, match=too_long):
        encoder(torch.randn(1, 65, 16))
    with pytest.raises(ValueError, match="n_mels=16.*20 mel bins"):
        encoder(torch.randn(1, 30, 20))
    with pytest.raises(ValueError, match=r"\(B, T, n_mels\)"):
        encoder(torch.randn(30, 16))
    with pytest.raises(ValueError, match=r"relative lengths.*\(0, 1\]"):
        encoder(torch.randn(2, 30, 16), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="feat_lens must have shape"):
        encoder(torch.randn(2, 30, 16), torch.tensor([1.0]))


def test_config_errors():
    with pytest.raises(ValueError, match="time_fill"):
        HTSAT.from_preset("test", time_fill="crop")
    with pytest.raises(ValueError, match="multiple of n_mels"):
        HTSAT.from_preset("test", n_mels=24)
    with pytest.raises(ValueError, match="num_heads"):
        HTSAT.from_preset("test", num_heads=(3, 2))
    with pytest.raises(ValueError, match="unknown HTSAT preset"):
        HTSAT.from_preset("huge")
    with pytest.raises(ValueError, match="stacked time chunks"):
        HTSAT(n_mels=8, spec_size=32, embed_dim=8, depths=(1, 1, 1),
              num_heads=(1, 1, 1), window_size=2)


def test_repeatpad_equals_repeated_input(encoder):
    encoder.time_fill = "repeatpad"
    short = torch.randn(1, 24, 16)
    repeated = short.repeat(1, 3, 1)[:, :64]
    out = encoder(torch.cat([short, torch.zeros(1, 24, 16)], 1),
                  torch.tensor([0.5]))
    assert bool(out.frame_mask.all())
    torch.testing.assert_close(out.clip, encoder(repeated).clip,
                               atol=1e-5, rtol=0)


def test_stretch_handles_each_length_on_its_own(encoder):
    encoder.time_fill = "stretch"
    short = torch.randn(1, 30, 16)
    batch = torch.cat([torch.randn(1, 50, 16),
                       torch.nn.functional.pad(short, (0, 0, 0, 20))])
    together = encoder(batch, torch.tensor([1.0, 0.6]))
    torch.testing.assert_close(together.clip[1], encoder(short).clip[0],
                               atol=1e-5, rtol=0)


def test_bn0_statistics_ignore_padding(encoder):
    encoder.train()
    bn = encoder.bn0
    bn.reset_running_stats()
    feats = torch.randn(2, 40, 16)
    feats[1, 20:] = 1e3  # padding
    encoder(feats, torch.tensor([1.0, 0.5]))
    real = torch.cat([feats[0], feats[1, :20]])
    torch.testing.assert_close(bn.running_mean, bn.momentum * real.mean(0))


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    encoder = HTSAT.from_preset("test", drop_path_rate=0.0).train()
    out = encoder(torch.randn(2, 64, 16), torch.tensor([1.0, 0.7]))
    (out.clip.sum() + out.frames.pow(2).sum()).backward()
    for name, param in encoder.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_parity_with_hf_clap_audio_model():
    transformers = pytest.importorskip("transformers")
    config = small_clap_audio_config(transformers)
    torch.manual_seed(0)
    reference = randomize_reference(transformers.ClapAudioModel(config), bn_scale=1.0).eval()
    state, report = hf_audio_encoder_to_htsat(reference.state_dict())
    assert len(report.merged) == sum(config.depths) * 2  # qkv weight + bias
    assert all("relative_position_index" in key for key, _ in report.dropped)
    ours = HTSAT(**HF_GEOMETRY, time_fill="stretch").eval()
    ours.load_state_dict(state, strict=True)

    feats = 4 * torch.randn(2, 1001, 64)  # 10 s at LAION's 48 kHz / hop 480
    with torch.no_grad():
        expected = reference(input_features=feats.unsqueeze(1))
        out = ours(feats)
    hf_frames = expected.last_hidden_state.mean(2).transpose(1, 2)
    assert out.frames.shape == hf_frames.shape == (2, 32, 64)
    assert (out.clip - expected.pooler_output).abs().max() <= 1e-5
    assert (out.frames - hf_frames).abs().max() <= 1e-5


def test_hf_conversion_errors():
    fused = {"audio_encoder.patch_embed.mel_conv2d.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="feature-fusion"):
        hf_audio_encoder_to_htsat(fused)
    block = "audio_encoder.layers.0.blocks.0.attention.self."
    partial = {
        block + "query.weight": torch.zeros(2, 2),
        block + "key.weight": torch.zeros(2, 2),
    }
    with pytest.raises(ValueError, match=r"missing \['value'\]"):
        hf_audio_encoder_to_htsat(partial)
    with pytest.raises(ValueError, match="unrecognised"):
        hf_audio_encoder_to_htsat({"audio_encoder.avgpool.w": torch.zeros(1)})
    with pytest.raises(ValueError, match="not an HF CLAP audio"):
        hf_audio_encoder_to_htsat({"text_model.x": torch.zeros(1)})


@pytest.mark.parametrize("keep_head", [False, True])
def test_laion_key_round_trip(keep_head):
    torch.manual_seed(0)
    ours = HTSAT.from_preset(
        "test", with_audioset_head=keep_head, num_classes=3
    )
    ours_state = ours.state_dict()
    laion = {f"module.audio_branch.{k}": v for k, v in ours_state.items()}
    # what a LAION checkpoint carries on top of the encoder
    branch = "module.audio_branch."
    index = "layers.0.blocks.0.attn.relative_position_index"
    extra = {
        branch + "spectrogram_extractor.stft.conv_real.weight": torch.zeros(3),
        branch + "logmel_extractor.melW": torch.zeros(3, 16),
        branch + "layers.0.blocks.1.attn_mask": torch.zeros(4, 16, 16),
        branch + index: torch.ones(1),
        "module.text_branch.embeddings.position_ids": torch.zeros(1, 77),
        "module.logit_scale_a": torch.tensor(2.0),
    }
    if not keep_head:
        extra[branch + "tscam_conv.weight"] = torch.zeros(3, 16, 2, 3)
        extra[branch + "head.bias"] = torch.zeros(3)
    converted, report = laion_audio_branch_to_htsat(
        {**laion, **extra}, keep_audioset_head=keep_head
    )
    assert set(converted) == set(ours_state)
    assert all(torch.equal(converted[k], ours_state[k]) for k in ours_state)
    assert {k for k, _ in report.dropped} == set(extra)
    fresh = HTSAT.from_preset(
        "test", with_audioset_head=keep_head, num_classes=3
    )
    fresh.load_state_dict(converted, strict=True)
    with pytest.raises(ValueError, match="feature-fusion"):
        laion_audio_branch_to_htsat(
            {"module.audio_branch.patch_embed.fusion_model.x": torch.zeros(1)}
        )


def test_audioset_head_outputs():
    encoder = HTSAT.from_preset("test", with_audioset_head=True, num_classes=5)
    clip, frames, mask = encoder.eval().audioset_logits(
        torch.randn(2, 40, 16), torch.tensor([1.0, 0.5])
    )
    assert clip.shape == (2, 5) and frames.shape == (2, 8, 5)
    torch.testing.assert_close(clip[1], frames[1, mask[1]].mean(0))
    with pytest.raises(RuntimeError, match="with_audioset_head=False"):
        HTSAT.from_preset("test").audioset_logits(torch.randn(1, 8, 16))


def test_recipe_tiny_config_trains():
    torch.manual_seed(0)
    encoder = HTSAT(**RECIPE_TINY).train()
    assert encoder.time_capacity == 128 and encoder.num_frames == 8
    feats = torch.randn(32, 128, 32)
    lens = torch.rand(32) * 0.9 + 0.1
    out = encoder(feats, lens)
    assert out.frames.shape == (32, 8, 128)
    out.clip.pow(2).mean().backward()
    assert encoder.patch_embed.proj.weight.grad.abs().sum() > 0


def test_fused_inference_kernels_match_the_plain_path():
    torch.manual_seed(0)
    encoder = HTSAT.from_preset("test").eval()
    feats = torch.randn(2, 50, 16)
    lens = torch.tensor([1.0, 0.6])
    with torch.no_grad():  # oneDNN epilogues, cached position bias
        fast = encoder(feats, lens)
    plain = encoder(feats.clone().requires_grad_(), lens)  # autograd: plain ops
    assert torch.allclose(fast.clip, plain.clip, atol=1e-5)
    assert torch.allclose(fast.frames, plain.frames, atol=1e-5)


def test_cached_position_bias_follows_weight_changes():
    torch.manual_seed(0)
    encoder = HTSAT.from_preset("test").eval()
    feats = torch.randn(1, 64, 16)
    with torch.no_grad():
        before = encoder(feats).clip
        other = HTSAT.from_preset("test")
        table = "layers.0.blocks.0.attn.relative_position_bias_table"
        state = encoder.state_dict()
        state[table] = other.state_dict()[table] + 1.0
        encoder.load_state_dict(state)
        after = encoder(feats).clip
    reference = HTSAT.from_preset("test").eval()
    reference.load_state_dict(state)
    assert not torch.allclose(before, after)
    assert torch.allclose(after, reference(feats.requires_grad_()).clip, atol=1e-5)
