"""Tests for the CNN14 audio encoder (MS-CLAP 2022's audio tower).

The reference is PANNs' forward written out with functional ops; with the
``msclap`` package installed (and ``torchlibrosa``), the lobe is also
compared with msclap's own ``Cnn14`` at full size on waveforms.

Authors
 * speechbrain-tclap developers 2026
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import torch.nn.functional as F

from speechbrain_tclap.lobes.cnn14 import CNN14
from speechbrain_tclap.lobes.features import CLAPFeatures

TINY = dict(n_mels=32, channels=(4, 6, 8, 8, 12, 16), embed_dim=10)


def _randomize_batchnorm(model, seed=0):
    """Non-trivial BatchNorm statistics and affine terms."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(
                    torch.randn(size, generator=generator)
                )
                module.running_var.copy_(
                    torch.rand(size, generator=generator) + 0.5
                )
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(0.1 * torch.randn(size, generator=generator))
    return model


def _reference_trunk(model, feats):
    """PANNs CNN14 up to the frequency mean, eval mode: ``(B, T', C)``."""
    bn = model.bn0
    x = feats.unsqueeze(1)
    x = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    x = x * bn.weight + bn.bias
    for i in range(1, 7):
        block = getattr(model, f"conv_block{i}")
        for conv, norm in ((block.conv1, block.bn1), (block.conv2, block.bn2)):
            x = F.conv2d(x, conv.weight, padding=1)
            x = F.batch_norm(
                x,
                norm.running_mean,
                norm.running_var,
                norm.weight,
                norm.bias,
                training=False,
                eps=norm.eps,
            )
            x = torch.relu(x)
        if i < 6:
            x = F.avg_pool2d(x, 2)
    return x.mean(dim=3).transpose(1, 2)


def _reference_clip(model, feats):
    """PANNs' ``embedding``: relu(fc1(max_t + mean_t))."""
    h = _reference_trunk(model, feats)
    pooled = h.max(dim=1).values + h.mean(dim=1)
    return torch.relu(model.fc1(pooled))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return _randomize_batchnorm(CNN14(**TINY)).eval()


def test_matches_panns_formula(tiny):
    feats = torch.randn(3, 100, 32) * 4.0
    with torch.no_grad():
        out = tiny(feats)
        clip = _reference_clip(tiny, feats)
        frames = torch.relu(tiny.fc1(_reference_trunk(tiny, feats)))
    assert out.clip.shape == (3, 10) and out.frames.shape == (3, 3, 10)
    assert out.frame_mask.all()
    assert torch.allclose(out.clip, clip, atol=1e-5)
    assert torch.allclose(out.frames, frames, atol=1e-5)
    # all lengths 1 is the unmasked computation
    with torch.no_grad():
        full = tiny(feats, torch.ones(3))
    assert torch.allclose(full.clip, out.clip, atol=1e-6)


def test_padded_clip_equals_clip_alone(tiny):
    torch.manual_seed(1)
    long, short = torch.randn(1, 160, 32), torch.randn(1, 77, 32)
    batch = torch.zeros(2, 160, 32)
    batch[0], batch[1, :77] = long[0], short[0]
    batch[1, 77:] = 50.0  # whatever the padding holds must not leak in
    lens = torch.tensor([1.0, 77 / 160])
    with torch.no_grad():
        out = tiny(batch, lens)
        alone = tiny(short)
        ref_short = _reference_clip(tiny, short)
        ref_long = _reference_clip(tiny, long)
    # 77 frames -> 2 output frames, 160 -> 5
    assert out.frame_mask.sum(1).tolist() == [5, 2]
    assert torch.allclose(out.clip[1], ref_short[0], atol=1e-5)
    assert torch.allclose(out.clip[0], ref_long[0], atol=1e-5)
    assert torch.allclose(out.frames[1, :2], alone.frames[0], atol=1e-5)
    assert (out.frames[1, 2:] == 0).all()


def test_attributes_errors_and_head():
    encoder = CNN14(**TINY, with_audioset_head=True, num_classes=7).eval()
    assert encoder.output_dim == 10 and encoder.frame_hop == 32
    assert encoder.time_capacity is None
    names = set(encoder.state_dict())
    assert {"bn0.running_mean", "conv_block6.bn2.weight", "fc1.weight"} <= names
    assert "fc_audioset.bias" in names
    feats = torch.randn(2, 64, 32)
    with torch.no_grad():
        logits = encoder.audioset_logits(feats)
        expected = encoder.fc_audioset(_reference_clip(encoder, feats))
    assert torch.allclose(logits, expected, atol=1e-5)
    with pytest.raises(ValueError, match="at least 32 frames"):
        encoder(torch.randn(1, 31, 32))
    with pytest.raises(ValueError, match=r"\(B, T, 32\)"):
        encoder(torch.randn(1, 64, 16))
    with pytest.raises(ValueError, match="relative lengths"):
        encoder(feats, torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="six blocks"):
        CNN14(channels=(4, 4))
    with pytest.raises(RuntimeError, match="with_audioset_head"):
        CNN14(**TINY).audioset_logits(feats)


def test_training_mode_gradients_and_dropout():
    torch.manual_seed(0)
    encoder = CNN14(**TINY).train()
    feats = torch.randn(4, 64, 32)
    out = encoder(feats, torch.tensor([1.0, 1.0, 0.75, 0.5]))
    out.clip.sum().backward()
    assert encoder.conv_block1.conv1.weight.grad is not None
    torch.manual_seed(1)
    again = encoder(feats).clip
    torch.manual_seed(2)
    assert not torch.equal(again, encoder(feats).clip)  # dropout is active


def _msclap_audio():
    """msclap's audio module, or a skip when the package is missing."""
    pytest.importorskip("torchlibrosa")
    return pytest.importorskip("msclap.models.audio")


def test_matches_msclap_cnn14_on_waveforms():
    audio = _msclap_audio()
    torch.manual_seed(0)
    reference = audio.Cnn14(44100, 1024, 320, 64, 50, 14000, 527, 2048)
    reference = _randomize_batchnorm(reference, seed=3).eval()
    state = {
        k: v
        for k, v in reference.state_dict().items()
        if not k.startswith(("spectrogram_extractor.", "logmel_extractor."))
    }
    encoder = CNN14(with_audioset_head=True).eval()
    encoder.load_state_dict(state, strict=True)  # msclap's names exactly
    features = CLAPFeatures.from_preset("msclap_2022")
    wavs = 0.1 * torch.randn(2, 44100)  # 1 s: 138 frames, 4 output frames
    with torch.no_grad():
        expected = reference(wavs)
        feats, feat_lens = features(wavs)
        out = encoder(feats, feat_lens)
        tags = torch.sigmoid(encoder.audioset_logits(feats))
    scale = expected["embedding"].abs().max()
    assert (out.clip - expected["embedding"]).abs().max() <= 1e-4 * scale
    assert (tags - expected["clipwise_output"]).abs().max() <= 1e-5
    assert out.frames.shape == (2, 4, 2048)
