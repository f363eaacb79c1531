"""Tests for the feature-fusion HTS-AT (LAION ``aff_2d``, HF ``enable_fusion``).

Everything is random-init and offline: the reference is HF
``ClapAudioModel(enable_fusion=True)`` built from a config with the
HTSAT-tiny geometry (256x256 image, 4 stages, 32 frames) at a small width.

Authors
 * speechbrain-tclap developers 2026
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
from reference_models import randomize_reference, small_clap_audio_config
import torch

from speechbrain_tclap.convert.hf import clap_to_hf, hf_to_clap
from speechbrain_tclap.lobes.fusion import (
    AFFBlock,
    fusion_chunk_starts,
    fusion_inputs,
    laion_start_ranges,
)
from speechbrain_tclap.lobes.htsat import HTSAT

# HTSAT-tiny geometry at a small width (as in test_htsat.py)
HF_GEOMETRY = dict(
    n_mels=64,
    spec_size=256,
    patch_size=4,
    embed_dim=8,
    depths=(2, 2, 2, 1),
    num_heads=(1, 1, 2, 2),
    window_size=8,
)
WINDOW = 1001  # LAION: 10 s at 48 kHz, hop 480


@pytest.fixture(scope="module")
def hf_pair():
    """A fused HF ClapAudioModel and our HTSAT holding its converted weights."""
    transformers = pytest.importorskip("transformers")
    config = small_clap_audio_config(
        transformers,
        enable_fusion=True,
        fusion_type="aff_2d",
    )
    torch.manual_seed(0)
    reference = randomize_reference(transformers.ClapAudioModel(config)).eval()
    full = {f"audio_model.{k}": v for k, v in reference.state_dict().items()}
    converted, report = hf_to_clap(full)
    fusion_keys = [
        t for s, t in report.renamed if "fusion_model" in s or "mel_conv2d" in s
    ]
    # mel_conv2d (2) + 4 BatchNorms (5 tensors each) + 4 1x1 convs (2 each)
    assert len(fusion_keys) == 2 + 4 * 5 + 4 * 2
    state = {k[len("audio_encoder.") :]: v for k, v in converted.items()}
    ours = HTSAT(
        **HF_GEOMETRY,
        time_fill="stretch",
        enable_fusion=True,
        fusion_window=WINDOW,
    ).eval()
    ours.load_state_dict(state, strict=True)
    return reference, ours


def _hf_frames(output):
    return output.last_hidden_state.mean(2).transpose(1, 2)


def test_fused_encoder_matches_hf(hf_pair):
    reference, ours = hf_pair
    torch.manual_seed(2)
    views = 4 * torch.randn(2, 4, WINDOW, 64)
    is_longer = torch.tensor([True, False])
    with torch.no_grad():
        expected = reference(input_features=views, is_longer=is_longer[:, None])
        out = ours(views, is_longer=is_longer)
        # the fusion changes the longer row only
        plain = ours(views[:1], is_longer=torch.tensor([False]))
    clip_delta = (out.clip - expected.pooler_output).abs().max()
    frame_delta = (out.frames - _hf_frames(expected)).abs().max()
    print(f"fused HTSAT vs HF: clip {clip_delta:.2e}, frames {frame_delta:.2e}")
    assert out.frames.shape == (2, 32, 64)
    assert clip_delta <= 1e-5 and frame_delta <= 1e-5
    assert (plain.clip[0] - out.clip[0]).abs().max() > 1e-3

    # a long log-mel goes through the deterministic front end
    mels = 4 * torch.randn(2, 2400, 64)
    lens = torch.tensor([1.0, 0.3])  # 2400 and 720 frames
    views = fusion_inputs(mels, lens, WINDOW)
    assert views.is_longer.tolist() == [True, False]
    with torch.no_grad():
        expected = reference(
            input_features=views.feats[:1], is_longer=views.is_longer[:1, None]
        )
        out = ours(mels, lens)
    assert (out.clip[0] - expected.pooler_output[0]).abs().max() <= 1e-5

    # and back: ours -> HF keys load strictly into the reference
    back, _ = clap_to_hf(
        {f"audio_encoder.{k}": v for k, v in ours.state_dict().items()}
    )
    back = {k[len("audio_model.") :]: v for k, v in back.items()}
    reference.load_state_dict(back, strict=True)


@pytest.mark.parametrize("n_frames", [1002, 1004, 1500])
def test_fusion_front_end_matches_hf_extractor_at_our_positions(
    monkeypatch, n_frames
):
    transformers = pytest.importorskip("transformers")
    extractor = transformers.ClapFeatureExtractor()
    torch.manual_seed(3)
    window = WINDOW
    mel = torch.randn(n_frames, 64)
    ours = fusion_chunk_starts(n_frames, window)
    draws = iter(ours)

    def fixed_choice(candidates):
        # our position must be one LAION / HF could have drawn
        position = next(draws)
        assert position in list(candidates)
        return position

    monkeypatch.setattr(np.random, "choice", fixed_choice)
    expected = extractor._random_mel_fusion(mel.numpy(), n_frames, window)
    views = fusion_inputs(mel[None], None, window)
    assert views.is_longer.tolist() == [True]
    assert views.feats.shape == (1, 4, window, 64)
    torch.testing.assert_close(
        views.feats[0], torch.from_numpy(expected), atol=1e-6, rtol=0
    )


def test_fusion_inputs_are_deterministic_and_per_clip():
    assert fusion_chunk_starts(1101, 1001) == (0, 50, 100)
    assert fusion_chunk_starts(1002, 1001) == (0, 1, 0)
    assert fusion_chunk_starts(1004, 1001) == (0, 2, 3)
    torch.manual_seed(4)
    mels = torch.randn(3, 40, 6)
    lens = torch.tensor([1.0, 0.25, 0.5])  # 40, 10 and 20 frames
    first = fusion_inputs(mels, lens, window=16)
    again = fusion_inputs(mels, lens, window=16)
    assert torch.equal(first.feats, again.feats)
    assert first.is_longer.tolist() == [True, False, True]
    assert first.feats.shape == (3, 4, 16, 6)
    torch.testing.assert_close(first.feat_lens, torch.tensor([1.0, 10 / 16, 1.0]))
    # the short clip: four copies of its frames, not fused
    assert all(torch.equal(first.feats[1, c, :10], mels[1, :10]) for c in range(4))
    # a longer clip: front, centred and back windows of its real frames only
    assert torch.equal(first.feats[2, 1], mels[2, 0:16])
    assert torch.equal(first.feats[2, 2], mels[2, 2:18])
    assert torch.equal(first.feats[2, 3], mels[2, 4:20])
    # each clip's views do not depend on the rest of the batch
    alone = fusion_inputs(mels[2:, :20], None, window=16)
    assert torch.equal(alone.feats[0], first.feats[2])
    # a batch of short clips keeps its length (no padding to the window)
    short = fusion_inputs(mels[:, :12], None, window=16)
    assert short.feats.shape == (3, 4, 12, 6) and not short.is_longer.any()
    with pytest.raises(ValueError, match="longer than the window"):
        fusion_chunk_starts(16, 16)


def _laion_ranges(total_frames, chunk_frames):
    """LAION-CLAP's sampling ranges, written out as in its data loader."""
    ranges = np.array_split(list(range(0, total_frames - chunk_frames + 1)), 3)
    ranges = [list(r) for r in ranges]
    if len(ranges[1]) == 0:
        ranges[1] = [0]
    if len(ranges[2]) == 0:
        ranges[2] = [0]
    return ranges


@pytest.mark.parametrize("window", [WINDOW, 16, 2])
def test_chunk_starts_are_always_ones_laion_can_draw(window):
    lengths = list(range(window + 1, window + 11))  # 1002..1011 for 1001
    lengths += [window + 50, window + 101, 2 * window, 2 * window + 1]
    lengths += [3 * window - 1, 3 * window, 1501 + window - WINDOW, 4003]
    for total in lengths:
        starts = fusion_chunk_starts(total, window)
        ranges = _laion_ranges(total, window)
        for start, allowed in zip(starts, ranges):
            assert start in allowed, (total, starts, ranges)
        assert [list(r) for r in laion_start_ranges(total, window)] == ranges
        # every view is a full window of the clip
        assert all(0 <= s <= total - window for s in starts)
    # lengths where "front, centred, back" is not drawable: LAION's ranges
    # for 1002 frames are [0], [1], [] -> [0]; for 1004, [0, 1], [2], [3]
    assert fusion_chunk_starts(1002, WINDOW) == (0, 1, 0)
    assert fusion_chunk_starts(1004, WINDOW) == (0, 2, 3)
    # elsewhere the first, centred and last windows
    assert fusion_chunk_starts(1501, WINDOW) == (0, 250, 500)
    with pytest.raises(ValueError, match="longer than the window"):
        laion_start_ranges(WINDOW, WINDOW)


def test_global_view_antialias_option():
    torch.manual_seed(8)
    mels = torch.randn(1, 1501, 8)
    plain = fusion_inputs(mels, None, WINDOW)
    smooth = fusion_inputs(mels, None, WINDOW, antialias=True)
    expected = torch.nn.functional.interpolate(
        mels[:, None],
        size=(WINDOW, 8),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )[0, 0]
    torch.testing.assert_close(smooth.feats[0, 0], expected, atol=0, rtol=0)
    assert (smooth.feats[0, 0] - plain.feats[0, 0]).abs().max() > 1e-2
    assert torch.equal(smooth.feats[0, 1:], plain.feats[0, 1:])


def test_not_longer_clips_take_the_plain_path():
    torch.manual_seed(5)
    fused = randomize_reference(HTSAT.from_preset("test", enable_fusion=True)).eval()
    plain = HTSAT.from_preset("test").eval()
    shared = {
        k: v
        for k, v in fused.state_dict().items()
        if "mel_conv2d" not in k and "fusion_model" not in k
    }
    plain.load_state_dict(shared, strict=True)
    feats = torch.randn(2, 50, 16)
    lens = torch.tensor([1.0, 0.6])
    with torch.no_grad():
        expected = plain(feats, lens)
        out = fused(feats, lens)
    torch.testing.assert_close(out.clip, expected.clip, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.frames, expected.frames, atol=1e-6, rtol=0)
    assert torch.equal(out.frame_mask, expected.frame_mask)


def test_long_clip_is_batch_independent_and_trains():
    torch.manual_seed(6)
    encoder = randomize_reference(HTSAT.from_preset("test", enable_fusion=True)).eval()
    assert encoder.max_input_frames is None  # any length is fused, not refused
    assert HTSAT.from_preset("test").max_input_frames == 64
    long_clip = torch.randn(1, 150, 16)
    batch = torch.cat([long_clip, torch.randn(1, 150, 16)])
    with torch.no_grad():
        alone = encoder(long_clip)
        together = encoder(batch, torch.tensor([1.0, 0.3]))
    assert (alone.clip[0] - together.clip[0]).abs().max() < 1e-5
    # a training step reaches every fusion weight (with a single longer clip
    # the global branch's BatchNorm sees no variance, as in LAION, so use two)
    encoder.train()
    batch = torch.cat([batch, torch.randn(1, 150, 16)])
    out = encoder(batch, torch.tensor([1.0, 0.3, 0.8]))
    (out.clip.sum() + out.frames.pow(2).sum()).backward()
    # (a bias right before a training-mode BatchNorm cancels out exactly)
    before_bn = (
        "local_att.0.bias",
        "local_att.3.bias",
        "global_att.1.bias",
        "global_att.4.bias",
    )
    for name, param in encoder.patch_embed.named_parameters():
        if name.endswith(before_bn):
            continue
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    # one longer clip in a training batch still works (LAION duplicates it)
    encoder.zero_grad()
    out = encoder(batch[:2], torch.tensor([1.0, 0.3]))
    out.clip.sum().backward()
    assert torch.isfinite(encoder.patch_embed.mel_conv2d.weight.grad).all()


def test_aff_block_shapes_and_single_item_training():
    block = AFFBlock(8, reduction=4).train()
    x, residual = torch.randn(1, 8, 3, 5), torch.randn(1, 8, 3, 5)
    assert block(x, residual).shape == (1, 8, 3, 5)
    with pytest.raises(ValueError, match="no bottleneck"):
        AFFBlock(2, reduction=4)


def test_fusion_input_errors():
    fused = HTSAT.from_preset("test", enable_fusion=True).eval()
    plain = HTSAT.from_preset("test").eval()
    views = torch.randn(2, 4, 64, 16)
    with pytest.raises(ValueError, match="need is_longer"):
        fused(views)
    with pytest.raises(ValueError, match="derived from the clip lengths"):
        fused(torch.randn(2, 64, 16), is_longer=torch.tensor([True, False]))
    with pytest.raises(ValueError, match="3 entries for a batch of 2"):
        fused(views, is_longer=torch.tensor([True, False, True]))
    with pytest.raises(ValueError, match="only used by a fusion HTSAT"):
        plain(torch.randn(2, 64, 16), is_longer=torch.tensor([True, False]))
    with pytest.raises(ValueError, match=r"\(B, 4, T, n_mels\) with is_longer"):
        fused(torch.randn(2, 3, 64, 16), is_longer=torch.tensor([True, False]))
    with pytest.raises(ValueError, match="n_mels=16 but feats have 20"):
        fused(torch.randn(1, 100, 20))
    with pytest.raises(ValueError, match="in_channels=1"):
        HTSAT.from_preset("test", enable_fusion=True, in_channels=2)
    with pytest.raises(ValueError, match="fusion_window must be in"):
        HTSAT.from_preset("test", enable_fusion=True, fusion_window=65)
    with pytest.raises(ValueError, match="needs enable_fusion=True"):
        HTSAT.from_preset("test", fusion_window=32)


def test_mismatched_checkpoints_explain_themselves():
    fused = HTSAT.from_preset("test", enable_fusion=True)
    plain = HTSAT.from_preset("test")
    with pytest.raises(
        RuntimeError,
        match=r"30 tensors: the checkpoint has "
        r"feature-fusion weights.*enable_fusion=True",
    ):
        plain.load_state_dict(fused.state_dict(), strict=True)
    with pytest.raises(RuntimeError, match="has no feature-fusion weights"):
        fused.load_state_dict(plain.state_dict(), strict=True)
    wider = HTSAT.from_preset("test", embed_dim=12)
    with pytest.raises(
        RuntimeError, match="has embed_dim=12 but this one has embed_dim=8"
    ):
        plain.load_state_dict(wider.state_dict(), strict=True)
    # a non-strict load keeps torch's semantics: one annotated entry, no error
    result = plain.load_state_dict(fused.state_dict(), strict=False)
    assert len(result.unexpected_keys) == 1 and not result.missing_keys
    assert "enable_fusion=True" in result.unexpected_keys[0]
    # the same message when the encoder sits inside a bigger model
    outer_plain = torch.nn.ModuleDict({"audio_encoder": plain})
    outer_fused = torch.nn.ModuleDict({"audio_encoder": fused})
    with pytest.raises(
        RuntimeError,
        match=r"audio_encoder\.patch_embed\."
        r"\{mel_conv2d,fusion_model\}\.\* \(30 tensors",
    ):
        outer_plain.load_state_dict(outer_fused.state_dict(), strict=True)
