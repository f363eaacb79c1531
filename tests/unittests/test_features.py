"""Tests of the log-mel front end against HF's CLAP feature extractor.

Authors
 * speechbrain-tclap developers 2026
"""

import numpy as np
import pytest
import torch

from speechbrain_tclap.lobes.features import (
    CLAPFeatures,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
)

audio_utils = pytest.importorskip("transformers.audio_utils")
transformers = pytest.importorskip("transformers")


def _test_signal(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Deterministic sine sweep-ish mix plus noise, float64."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tones = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(
        2 * np.pi * (1000.0 + 2000.0 * t) * t
    )
    return tones + 0.05 * rng.standard_normal(t.shape)


def _hf_extractor(truncation: str):
    return transformers.ClapFeatureExtractor(
        frequency_min=50,
        frequency_max=14000,
        truncation=truncation,
        padding="repeatpad",
    )


def _interior_frames(num_samples: int, feats: CLAPFeatures) -> int:
    """Frames whose whole window lies inside the clip (no end padding)."""
    return (num_samples - feats.n_fft // 2) // feats.hop_length + 1


@pytest.mark.parametrize("mel_scale", ["slaney", "htk"])
@pytest.mark.parametrize("norm", ["slaney", None])
@pytest.mark.parametrize(
    "n_freqs,f_min,f_max,n_mels,sample_rate",
    [(513, 50.0, 14000.0, 64, 48000), (257, 0.0, 8000.0, 40, 16000)],
)
def test_mel_filterbank_matches_hf(mel_scale, norm, n_freqs, f_min, f_max, n_mels, sample_rate):
    ours = mel_filterbank(n_freqs, f_min, f_max, n_mels, sample_rate, mel_scale, norm)
    ref = audio_utils.mel_filter_bank(
        num_frequency_bins=n_freqs,
        num_mel_filters=n_mels,
        min_frequency=f_min,
        max_frequency=f_max,
        sampling_rate=sample_rate,
        norm=norm,
        mel_scale=mel_scale,
    )
    assert ours.shape == (n_freqs, n_mels)
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)
    # every filter non-empty and, for peak-1 triangles, peaking at <= 1
    assert (ours.amax(dim=0) > 0).all()
    if norm is None:
        assert ours.max() <= 1.0 + 1e-6


@pytest.mark.parametrize("mel_scale", ["slaney", "htk"])
def test_mel_scale_conversions_match_hf(mel_scale):
    hz = np.array([0.0, 50.0, 700.0, 999.9, 1000.0, 1000.1, 8000.0, 24000.0])
    ours = hz_to_mel(torch.from_numpy(hz), mel_scale)
    np.testing.assert_allclose(
        ours.numpy(), audio_utils.hertz_to_mel(hz.copy(), mel_scale), rtol=1e-12
    )
    np.testing.assert_allclose(mel_to_hz(ours, mel_scale).numpy(), hz, atol=1e-9)


def test_mel_filterbank_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mel_scale"):
        mel_filterbank(513, 0.0, 8000.0, 64, 16000, mel_scale="kaldi")
    with pytest.raises(ValueError, match="norm"):
        mel_filterbank(513, 0.0, 8000.0, 64, 16000, norm="l1")
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(513, 0.0, 9000.0, 64, 16000)
    with pytest.raises(ValueError, match="f_min"):
        mel_filterbank(513, 500.0, 400.0, 64, 16000)


@pytest.mark.parametrize(
    "preset,truncation", [("laion", "rand_trunc"), ("laion_fusion", "fusion")]
)
def test_matches_hf_clap_feature_extractor(preset, truncation):
    """Slaney path = HF ``rand_trunc``; HTK/no-norm path = HF ``fusion``.

    For a clip shorter than 10 s HF repeat-pads it to 10 s and, with
    ``fusion``, stacks four copies of the HTK mel, so both are plain mels.
    """
    feats = CLAPFeatures.from_preset(preset)
    wav = _test_signal(3.0, 48000)
    hf = _hf_extractor(truncation)(wav, sampling_rate=48000, return_tensors="np")
    hf_mel = hf["input_features"][0, 0]  # (1001, 64), float64
    if truncation == "fusion":
        np.testing.assert_array_equal(hf["input_features"][0, 3], hf_mel)

    # 1) the 3-s clip alone: frames untouched by HF's repeat padding agree
    ours, feat_lens = feats(torch.from_numpy(wav).float().unsqueeze(0))
    assert ours.shape == (1, feats.n_frames(len(wav)), 64) == (1, 301, 64)
    assert ours.dtype == torch.float32
    assert feat_lens.tolist() == [1.0]
    n_cmp = _interior_frames(len(wav), feats)
    delta = np.abs(ours[0, :n_cmp].double().numpy() - hf_mel[:n_cmp])
    assert delta.max() <= 1e-3, delta.max()

    # 2) the same 10-s repeat-padded waveform: all 1001 frames agree
    padded = np.zeros(480000)
    tiled = np.tile(wav, 480000 // len(wav))
    padded[: len(tiled)] = tiled
    ours_full, _ = feats(torch.from_numpy(padded).float().unsqueeze(0))
    assert ours_full.shape == (1, 1001, 64)
    assert np.abs(ours_full[0].double().numpy() - hf_mel).max() <= 1e-3


def test_htk_fusion_matches_float64_reference():
    """Independent float64 check via HF's ``spectrogram`` on an 11-s clip."""
    feats = CLAPFeatures.from_preset("laion_fusion")
    wav = _test_signal(11.0, 48000, seed=1)
    ref = audio_utils.spectrogram(
        wav,
        audio_utils.window_function(1024, "hann"),
        frame_length=1024,
        hop_length=480,
        power=2.0,
        mel_filters=audio_utils.mel_filter_bank(513, 64, 50, 14000, 48000, None, "htk"),
        log_mel="dB",
    ).T
    ours, _ = feats(torch.from_numpy(wav).float().unsqueeze(0))
    assert ours.shape[1:] == ref.shape == (1101, 64)
    assert np.abs(ours[0].double().numpy() - ref).max() <= 1e-3


def test_float32_under_bf16_autocast():
    feats = CLAPFeatures.from_preset("mgaclap")
    wavs = torch.from_numpy(_test_signal(1.0, 32000)).float().repeat(2, 1)
    ref, ref_lens = feats(wavs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, lens = feats(wavs)
    assert out.dtype == torch.float32
    assert torch.equal(out, ref) and torch.equal(lens, ref_lens)
    # low-precision input is upcast, not computed in bf16
    out_bf16, _ = feats(wavs.bfloat16())
    assert out_bf16.dtype == torch.float32
    assert torch.equal(out_bf16, feats(wavs.bfloat16().float())[0])


@pytest.mark.parametrize("pad_mode", ["reflect", "constant", "replicate"])
def test_batch_padding_does_not_change_valid_frames(pad_mode):
    feats = CLAPFeatures(
        sample_rate=16000, n_fft=512, hop_length=160, n_mels=40,
        f_min=0.0, f_max=8000.0, pad_mode=pad_mode, top_db=80.0,
    )
    gen = torch.Generator().manual_seed(0)
    long_clip = torch.randn(16000, generator=gen)
    short_clip = torch.randn(9600, generator=gen)
    batch = torch.randn(2, 16000, generator=gen)  # garbage after the short clip
    batch[0] = long_clip
    batch[1, :9600] = short_clip
    out, feat_lens = feats(batch, torch.tensor([1.0, 0.6]))

    single_long, _ = feats(long_clip.unsqueeze(0))
    single_short, single_lens = feats(short_clip.unsqueeze(0))
    n_short = feats.n_frames(9600)
    assert single_short.shape[1] == n_short == 61
    torch.testing.assert_close(out[0], single_long[0], rtol=0, atol=1e-4)
    torch.testing.assert_close(out[1, :n_short], single_short[0], rtol=0, atol=1e-4)
    assert single_lens.tolist() == [1.0]
    torch.testing.assert_close(feat_lens, torch.tensor([1.0, n_short / 101]))

    # unpadded single clips also match torch.stft's own centre padding
    spec = torch.stft(
        short_clip, 512, 160, window=torch.hann_window(512), center=True,
        pad_mode=pad_mode, return_complex=True,
    ).abs().square()
    ref = 10 * torch.log10((spec.T @ feats.mel_matrix).clamp(min=1e-10))
    ref = torch.maximum(ref, ref.max() - 80.0)
    torch.testing.assert_close(single_short[0], ref, rtol=0, atol=1e-3)


def test_feat_lens_and_frame_helpers():
    feats = CLAPFeatures.from_preset("laion")
    assert feats.frame_rate == 100.0
    assert feats.n_frames(480000) == 1001
    assert CLAPFeatures.from_preset("msclap_2023").n_frames(7 * 44100) == 965
    assert CLAPFeatures.from_preset("mgaclap").n_frames(320000) == 1001

    wavs = torch.randn(4, 4800)  # 0.1 s -> 11 frames
    lens = torch.tensor([1.0, 0.5, 1e-6, 0.0999])
    out, feat_lens = feats(wavs, lens)
    assert out.shape == (4, 11, 64)
    assert ((feat_lens > 0) & (feat_lens <= 1)).all()
    expected = [11, 1 + 2400 // 480, 1, 1 + 480 // 480]
    torch.testing.assert_close(feat_lens, torch.tensor(expected) / 11.0)
    # clips shorter than n_fft // 2 are still padded at their own end
    assert torch.isfinite(out).all()

    nocenter = CLAPFeatures.from_preset("laion", center=False)
    out, feat_lens = nocenter(torch.randn(2, 4800), torch.tensor([1.0, 0.1]))
    assert out.shape == (2, nocenter.n_frames(4800), 64) == (2, 8, 64)
    torch.testing.assert_close(feat_lens, torch.tensor([1.0, 1 / 8]))


def test_top_db_clips_per_example():
    feats = CLAPFeatures.from_preset("mgaclap", top_db=40.0)
    wavs = torch.randn(2, 3200)
    wavs[1] *= 1e-3  # 60 dB quieter: its own peak, not the batch's, is used
    out, _ = feats(wavs)
    for b in range(2):
        assert out[b].max() - out[b].min() <= 40.0 + 1e-4
    assert out[1].max() < out[0].max() - 50


def test_presets_and_buffers():
    m23 = CLAPFeatures.from_preset("msclap_2023")
    assert m23.sample_rate == 44100 and m23.mel_sample_rate == 32000
    expected = mel_filterbank(513, 50.0, 14000.0, 64, 32000)
    assert torch.equal(m23.mel_matrix, expected)
    # the 32-kHz matrix reaches STFT bin 447 (about 19.25 kHz at 44.1 kHz)
    assert int(m23.mel_matrix.sum(dim=1).nonzero().max()) == 447
    assert CLAPFeatures.from_preset("msclap_2022").mel_sample_rate == 44100
    assert CLAPFeatures.from_preset("laion", n_mels=32).mel_matrix.shape == (513, 32)
    # fixed tensors are buffers outside the state dict
    assert m23.state_dict() == {}
    assert {n for n, _ in m23.named_buffers()} == {"window", "mel_matrix"}

    stored = torch.rand(513, 64)
    m23.set_mel_matrix(stored)
    assert torch.equal(m23.mel_matrix, stored)
    with pytest.raises(ValueError, match="shape"):
        m23.set_mel_matrix(torch.rand(64, 513))
    with pytest.raises(ValueError, match="unknown preset"):
        CLAPFeatures.from_preset("clap9000")


def test_deterministic_and_half_module():
    feats = CLAPFeatures.from_preset("msclap_2022")
    wavs = torch.randn(2, 8820)
    first, _ = feats(wavs, torch.tensor([1.0, 0.7]))
    second, _ = feats(wavs, torch.tensor([1.0, 0.7]))
    assert torch.equal(first, second)
    # module.half() casts buffers; the computation must stay float32
    half_out, _ = feats.half()(wavs.half())
    assert half_out.dtype == torch.float32
    ref, _ = CLAPFeatures.from_preset("msclap_2022")(wavs.half().float())
    assert (half_out - ref).abs().max() < 0.05


@pytest.mark.parametrize(
    "wavs,wav_lens,match",
    [
        (torch.randn(100), None, "2-D"),
        (torch.randn(1, 2, 100), None, "2-D"),
        (torch.ones(2, 100, dtype=torch.int16), None, "floating"),
        (torch.tensor([[0.0, float("nan")] * 50]), None, "NaN"),
        (torch.tensor([[0.0, float("inf")] * 50]), None, "NaN or Inf"),
        (torch.randn(2, 0), None, "empty"),
        (torch.randn(2, 100), torch.tensor([1.0]), "shape"),
        (torch.randn(2, 100), torch.tensor([1.0, 0.0]), r"\(0, 1\]"),
        (torch.randn(2, 100), torch.tensor([1.0, 1.5]), r"\(0, 1\]"),
        ([[0.0] * 100], None, "torch.Tensor"),
    ],
)
def test_bad_inputs_raise(wavs, wav_lens, match):
    feats = CLAPFeatures(sample_rate=16000, n_fft=64, hop_length=16, n_mels=8,
                         f_min=0.0, f_max=8000.0)
    with pytest.raises(ValueError, match=match):
        feats(wavs, wav_lens)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="pad_mode"):
        CLAPFeatures(pad_mode="edge")
    with pytest.raises(ValueError, match="win_length"):
        CLAPFeatures(n_fft=512, win_length=1024)
    with pytest.raises(ValueError, match="mel_scale"):
        CLAPFeatures(mel_scale="mel")
    with pytest.raises(ValueError, match="n_fft"):
        CLAPFeatures.from_preset("laion", center=False)(torch.randn(1, 500))
