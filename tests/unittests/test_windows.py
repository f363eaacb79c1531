"""Tests for sliding-window placement, pooling and frame stitching.

The frame-time tests use a "time probe" tower: the waveform holds its own
time (``wav[i] = i / sample_rate``), the front end reads it at every log-mel
frame centre and the encoder averages ``frame_hop`` such frames. Every
output frame therefore *is* its centre time, and stitched frames can be
compared with the grid times directly.

Authors
 * speechbrain-tclap developers 2026
"""

import pytest
import torch
from torch import nn

from speechbrain_tclap.lobes.clap import CLAP
from speechbrain_tclap.lobes.features import CLAPFeatures
from speechbrain_tclap.lobes.htsat import HTSAT
from speechbrain_tclap.lobes.outputs import AudioEncoderOutput
from speechbrain_tclap.windows import (
    FrameGeometry,
    encode_windows,
    pool_windows,
    relative_to_samples,
    stitch_accumulate,
    stitch_finish,
    window_bounds,
    window_starts,
)

RATE, HOP, FRAME_HOP, CAPACITY = 1000, 10, 4, 64
PERIOD = HOP * FRAME_HOP  # 40 samples per encoder frame


class TimeFeatures(nn.Module):
    """Front end whose frame ``t`` is the waveform at sample ``t * hop``."""

    sample_rate, hop_length, center, n_fft = RATE, HOP, True, 2 * HOP

    def forward(self, wavs, wav_lens=None):
        length = wavs.shape[1]
        frames = 1 + length // HOP
        index = (torch.arange(frames) * HOP).clamp(max=length - 1)
        valid = relative_to_samples(wav_lens, length, wavs.shape[0])
        return wavs[:, index].unsqueeze(-1), (1 + valid // HOP).float() / frames


class GroupMean(nn.Module):
    """Encoder: frame ``k`` is the mean of input frames ``4k .. 4k + 3``.

    Like HTSAT in ``pad`` mode, with ``frame_hop``/``time_capacity``; only
    frames made entirely of real input are valid (so their mean is exact).
    """

    frame_hop, time_capacity, time_fill = FRAME_HOP, CAPACITY, "pad"

    def forward(self, feats, feat_lens=None):
        batch, frames, width = feats.shape
        lengths = torch.round(feat_lens * frames).long()
        padded = nn.functional.pad(feats, (0, 0, 0, CAPACITY - frames))
        out = padded.view(batch, CAPACITY // FRAME_HOP, FRAME_HOP, width).mean(2)
        starts = torch.arange(CAPACITY // FRAME_HOP)
        mask = (starts + 1) * FRAME_HOP <= lengths[:, None]
        out = out * mask[..., None]
        clip = out.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return AudioEncoderOutput(clip, out, mask)


def _time_probe():
    return CLAP(
        TimeFeatures(), GroupMean(), nn.Identity(), nn.Identity(), nn.Identity()
    ).eval()


def _tiny_htsat_clap():
    torch.manual_seed(0)
    features = CLAPFeatures(
        sample_rate=8000, n_fft=256, hop_length=80, n_mels=16, f_max=4000.0
    )
    return CLAP(
        features,
        HTSAT.from_preset("test"),  # 64 log-mel frames, frame_hop 8
        nn.Linear(16, 12),
        nn.Identity(),
        nn.Identity(),
    ).eval()


# ---------------------------------------------------------------- placement


@pytest.mark.parametrize(
    "length, window, hop, expected",
    [
        (100, 40, 20, [0, 20, 40, 60]),  # exact tiling
        (95, 40, 20, [0, 20, 40, 55]),  # last one moved back to end at 95
        (41, 40, 20, [0, 1]),
        (40, 40, 20, [0]),  # exactly one window
        (12, 40, 20, [0]),  # shorter than a window
        (120, 40, 40, [0, 40, 80]),  # no overlap
    ],
)
def test_window_starts(length, window, hop, expected):
    starts = window_starts(length, window, hop)
    assert starts.tolist() == expected
    assert int(starts[-1]) + min(window, length) == length  # last ends at end
    assert bool((starts.diff() <= hop).all()) and bool((starts.diff() > 0).all())


def test_window_starts_errors():
    with pytest.raises(ValueError, match="hop must lie"):
        window_starts(100, 40, 41)
    with pytest.raises(ValueError, match="hop must lie"):
        window_starts(100, 40, 0)
    with pytest.raises(ValueError, match="num_samples"):
        window_starts(0, 40, 20)


def test_window_bounds_batch():
    bounds, mask = window_bounds(torch.tensor([95, 40, 12]), 40, 20)
    assert mask.tolist() == [
        [True, True, True, True],
        [True, False, False, False],
        [True, False, False, False],
    ]
    assert bounds[0].tolist() == [[0, 40], [20, 60], [40, 80], [55, 95]]
    assert bounds[1, 0].tolist() == [0, 40] and bounds[2, 0].tolist() == [0, 12]
    assert int(bounds[~mask].abs().sum()) == 0


def test_relative_to_samples_checks():
    assert relative_to_samples(None, 7, 2).tolist() == [7, 7]
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        relative_to_samples(torch.tensor([0.0]), 7, 1)


def test_default_hop_is_whole_frames():
    laion = FrameGeometry(48000, 480, 32, 1024)
    assert laion.default_hop(480000) == 16 * laion.frame_period  # 5.12 s
    tiny = FrameGeometry(16000, 320, 16, 128)  # the recipe's tiny model
    hop = tiny.default_hop(40000)
    assert hop % tiny.frame_period == 0 and hop <= 40000
    assert tiny.max_window_samples() == 40959
    assert int(tiny.mel_frames(torch.tensor(40959))) == 128
    assert int(tiny.mel_frames(torch.tensor(40960))) == 129


def test_geometry_from_htsat_tiny_laion():
    model = _tiny_htsat_clap()
    geometry = FrameGeometry.from_model(model)
    assert (geometry.frame_hop, geometry.time_capacity) == (8, 64)
    assert geometry.frame_period == 640 and not geometry.stretch
    with pytest.raises(ValueError, match="frame_hop"):
        FrameGeometry.from_model(_Bare())


class _Bare(nn.Module):
    audio_features = nn.Identity()
    audio_encoder = nn.Identity()


# ---------------------------------------------------------------- pooling


def test_pool_windows_ignores_masked_and_renormalises():
    emb = torch.nn.functional.normalize(torch.randn(2, 3, 5), dim=-1)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    emb[1, 1:] = 100.0  # masked windows must not count
    pooled = pool_windows(emb, mask)
    torch.testing.assert_close(pooled[0], emb[0].mean(0) / emb[0].mean(0).norm())
    torch.testing.assert_close(pooled[1], emb[1, 0])
    raw = pool_windows(emb, mask, normalize=False)
    torch.testing.assert_close(raw[0], emb[0].mean(0))


# ---------------------------------------------------------------- stitching


def test_stitch_splits_off_grid_frames_linearly():
    frames = torch.tensor([[[2.0], [4.0]]])
    positions = torch.tensor([[0.25, 1.25]])
    valid = torch.tensor([[True, True]])
    out, mask = stitch_finish(
        *stitch_accumulate(frames, positions, valid, torch.tensor([0]), torch.tensor([3])),
        normalize=False,
    )
    # cell 0: 2 (w .75); cell 1: 2 (w .25) and 4 (w .75); cell 2: 4 (w .25)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([2.0, 3.5, 4.0]))
    assert mask.tolist() == [[True, True, True]]
    # cells past a clip's grid are dropped; invalid frames never count
    out, mask = stitch_finish(
        *stitch_accumulate(frames, positions, torch.tensor([[True, False]]),
                           torch.tensor([0]), torch.tensor([1])),
        normalize=False,
    )
    assert out.shape == (1, 1, 1) and float(out[0, 0, 0]) == 2.0
    # aligned overlapping windows are plainly averaged
    out, mask = stitch_finish(
        *stitch_accumulate(torch.tensor([[[1.0], [2.0]], [[4.0], [6.0]]]),
                           torch.tensor([[0.0, 1.0], [1.0, 2.0]]), torch.ones(2, 2, dtype=torch.bool),
                           torch.tensor([0, 0]), torch.tensor([3])),
        normalize=False,
    )
    assert out[0, :, 0].tolist() == [1.0, 3.0, 6.0] and mask.all()


@pytest.mark.parametrize("hop", [4 * PERIOD, 3 * PERIOD + 7])
def test_stitched_frames_sit_at_their_times(hop):
    # 30.3 frame periods, windows of 8 periods (+ half a mel hop, so that
    # window ends never fall on a mel frame centre)
    length, window = int(30.3 * PERIOD), 8 * PERIOD + HOP // 2
    wav = torch.arange(length, dtype=torch.float64).float() / RATE
    out, frames = encode_windows(
        _time_probe(), wav[None], window=window, hop=hop,
        max_windows_per_batch=2, normalize=False, return_frames=True,
    )
    times = frames.times
    assert bool(frames.mask.all()) and len(times) == 31
    torch.testing.assert_close(
        times, (torch.arange(31) * PERIOD + 1.5 * HOP).float() / RATE
    )
    error = (frames.frames[0, :, 0] - times).abs()
    # within half a frame period, except the last cell: only the tail of
    # the last window's last full frame reaches it (documented bound: one)
    assert float(error[:-1].max()) <= 0.5 * PERIOD / RATE + 1e-6
    assert float(error[-1]) < PERIOD / RATE
    if hop % PERIOD == 0:
        # every window but the end-aligned last one lies on the grid
        last_start = length - window
        exact = torch.arange(31) * PERIOD + FRAME_HOP * HOP <= last_start
        assert float(error[exact].max()) < 1e-5
    starts = out.window_times[0, :, 0]
    assert torch.allclose(out.window_times[0, :, 1] - starts,
                          torch.tensor(window / RATE))
    assert abs(float(out.window_times[0, -1, 1]) - length / RATE) < 1e-6


# ---------------------------------------------------------------- encoding


def test_repeated_clip_windows_equal_the_clip():
    model = _tiny_htsat_clap()
    period = FrameGeometry.from_model(model).frame_period  # 640 samples
    torch.manual_seed(1)
    short = torch.randn(7 * period)  # 4480 samples, 57 log-mel frames
    long = short.repeat(3)
    single, short_frames = encode_windows(model, short[None], return_frames=True)
    out, frames = encode_windows(
        model, long[None], window=len(short), hop=len(short) // 2,
        return_frames=True,
    )
    assert out.window_times[0, :, 0].tolist() == pytest.approx(
        [0.0, 0.28, 0.56, 0.84, 1.12]
    )
    # windows 0, 2, 4 hold exactly the short clip
    for w in (0, 2, 4):
        torch.testing.assert_close(
            out.window_embeddings[0, w], single.embedding[0], atol=1e-5, rtol=0
        )
    assert not torch.allclose(out.window_embeddings[0, 1], single.embedding[0])

    # without overlap, frames are the short clip's frames at its offsets;
    # frame 7 (one log-mel frame at the window end) shares a cell with the
    # next window's frame 0
    _, tiled = encode_windows(
        model, long[None], window=len(short), hop=len(short), return_frames=True
    )
    ref = short_frames.frames[0]
    assert short_frames.mask[0].tolist() == [True] * 8
    for w in range(3):
        torch.testing.assert_close(
            tiled.frames[0, 7 * w + 1 : 7 * w + 7], ref[1:7], atol=1e-5, rtol=0
        )
    shared = torch.nn.functional.normalize(ref[7] + ref[0], dim=-1)
    torch.testing.assert_close(tiled.frames[0, 7], shared, atol=1e-5, rtol=0)
    assert tiled.frames.shape[1] == 22 and bool(tiled.mask.all())


def test_batch_equals_single_and_bounded_batches():
    model = _tiny_htsat_clap()
    torch.manual_seed(2)
    lengths = [20000, 3000, 9001]  # 2.5 s, 0.375 s, 1.125 s at 8 kHz
    wavs = torch.zeros(3, max(lengths))
    for i, n in enumerate(lengths):
        wavs[i, :n] = torch.randn(n)
    lens = torch.tensor(lengths, dtype=torch.float64) / max(lengths)
    batch, batch_frames = encode_windows(
        model, wavs, lens.float(), window=4000, max_windows_per_batch=3,
        return_frames=True,
    )
    assert batch.window_mask.sum(1).tolist() == [10, 1, 4]  # hop 1920
    for i, n in enumerate(lengths):
        alone, alone_frames = encode_windows(
            model, wavs[i : i + 1, :n], window=4000, return_frames=True
        )
        count = alone.window_mask.shape[1]
        torch.testing.assert_close(batch.embedding[i], alone.embedding[0],
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(batch.window_embeddings[i, :count],
                                   alone.window_embeddings[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(batch.window_times[i, :count],
                                   alone.window_times[0])
        cells = alone_frames.frames.shape[1]
        assert int(batch_frames.mask[i].sum()) == cells
        torch.testing.assert_close(batch_frames.frames[i, :cells],
                                   alone_frames.frames[0], atol=1e-5, rtol=0)
    # the short clip is encoded whole, as without windows
    direct = model.encode_audio(wavs[1:2, :3000])
    torch.testing.assert_close(batch.embedding[1], direct[0], atol=1e-5, rtol=0)


def test_encode_windows_errors():
    model = _tiny_htsat_clap()
    with pytest.raises(ValueError, match="more log-mel frames"):
        encode_windows(model, torch.randn(1, 9000), window=5200)
    with pytest.raises(ValueError, match="hop must lie"):
        encode_windows(model, torch.randn(1, 9000), window=4000, hop=4001)
    with pytest.raises(ValueError, match="max_windows_per_batch"):
        encode_windows(model, torch.randn(1, 9000), max_windows_per_batch=0)


def test_stretch_encoders_spread_frames_over_the_real_length():
    geometry = FrameGeometry(8000, 80, 8, time_capacity=64, stretch=True)
    full = geometry.max_window_samples()  # 64 log-mel frames: no stretch
    positions, valid = geometry.frame_positions(
        torch.tensor([0, 0]), torch.tensor([full, 2000]), 8
    )
    torch.testing.assert_close(positions[0], torch.arange(8.0, dtype=torch.float64))
    # 26 real log-mel frames stretched over 64 (align_corners): frame k's
    # centre, log-mel frame 8k + 3.5 of the stretch, is real frame
    # (8k + 3.5) * 25 / 63; grid cell j is centred on frame 8j + 3.5
    k = torch.arange(8.0, dtype=torch.float64)
    torch.testing.assert_close(positions[1], ((8 * k + 3.5) * 25 / 63 - 3.5) / 8)
    assert bool(valid.all())
    torch.manual_seed(0)
    model = _tiny_htsat_clap()
    model.audio_encoder.time_fill = "stretch"
    out, frames = encode_windows(model, torch.randn(1, 9000), window=4000,
                                 return_frames=True)
    assert frames.frames.shape[1] == 15 and bool(frames.mask.all())
    assert out.window_mask.sum().item() == 4  # default hop: 3 frames, 0.24 s
