"""Long audio through the pretrained interface, with an exported tiny model.

The model is the recipe's tiny CLAP (``hparams/models/tiny_clap.yaml``:
16 kHz, 2.5-s window, one encoder frame per 0.32 s) with random weights and
a SentencePiece tokenizer trained on a few captions, exported with
:func:`speechbrain_tclap.export.export_pretrained` and loaded offline with
``CLAP.from_hparams``.

Authors
 * speechbrain-tclap developers 2026
"""

import pytest
import soundfile as sf
import torch

RATE, WINDOW, FRAME = 16000, 40000, 0.32  # samples / seconds
CAPTIONS = [
    f"a {a} {verb} then a {b}"
    for a in ("dog", "cat", "bird", "car", "bell")
    for b in ("siren", "drum", "whistle")
    for verb in ("barks", "rings")
] + ["This is a sound of dog.", "This is a sound of bell."]


@pytest.fixture(scope="module")
def interface(tmp_path_factory, export_tiny_clap):
    from speechbrain_tclap.inference import CLAP

    root = tmp_path_factory.mktemp("long_audio")
    folder = export_tiny_clap(root, CAPTIONS)
    return CLAP.from_hparams(
        source=folder, savedir=str(root / "iface"), run_opts={"device": "cpu"}
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A 2.5-s clip (exactly one window), it repeated 4 times, two others."""
    root = tmp_path_factory.mktemp("long_audio_wavs")
    generator = torch.Generator().manual_seed(3)
    short = 0.3 * torch.randn(WINDOW, generator=generator)
    waves = {
        "short": short,
        "repeated": short.repeat(4),  # 10 s
        "odd": 0.3 * torch.randn(int(6.77 * RATE), generator=generator),
        "tiny": 0.3 * torch.randn(int(0.9 * RATE), generator=generator),
    }
    paths = {}
    for name, wav in waves.items():
        paths[name] = str(root / f"{name}.wav")
        sf.write(paths[name], wav.numpy(), RATE, subtype="FLOAT")
    return waves, paths


def test_window_placement(interface, clips):
    waves, paths = clips
    one = interface.encode_audio_windows(paths["short"])
    assert one.window_embeddings.shape[:2] == (1, 1)
    assert one.window_times[0].tolist() == [[0.0, 2.5]]
    odd = interface.encode_audio_windows(paths["odd"])
    times = odd.window_times[0]
    # default hop: half a window rounded to whole frames (4 x 0.32 s)
    assert times[:, 0].tolist() == pytest.approx([0.0, 1.28, 2.56, 3.84, 4.27])
    assert times[-1, 1].item() == pytest.approx(6.77)
    assert torch.allclose(times[:, 1] - times[:, 0], torch.tensor(2.5))
    explicit = interface.encode_audio_windows(paths["odd"], 2.0, 1.5)
    assert explicit.window_times[0, :, 0].tolist() == pytest.approx(
        [0.0, 1.5, 3.0, 4.5, 4.77]
    )
    with pytest.raises(ValueError, match="more log-mel frames"):
        interface.encode_audio_windows(paths["odd"], window_seconds=3.0)


def test_repeated_clip_windows_equal_the_clip(interface, clips):
    waves, paths = clips
    short = interface.encode_audio(paths["short"])  # one window: whole clip
    out = interface.encode_audio_windows(paths["repeated"], hop_seconds=1.25)
    assert out.window_mask.sum().item() == 7
    for w in (0, 2, 4, 6):  # windows starting at 0, 2.5, 5, 7.5 s
        torch.testing.assert_close(
            out.window_embeddings[0, w], short[0], atol=1e-5, rtol=0
        )
    # long files are windowed transparently: encode_audio gives the pool
    pooled = interface.encode_audio(paths["repeated"])
    default = interface.encode_audio_windows(paths["repeated"])
    torch.testing.assert_close(pooled, default.embedding)
    assert pooled.shape == short.shape
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(1))
    probs, labels = interface.classify_zero_shot(paths["repeated"], ["dog", "bell"])
    assert probs.shape == (1, 2) and labels[0] in ("dog", "bell")


def test_frame_scores_times(interface, clips):
    waves, paths = clips
    texts = ["a dog barks then a drum", "a bell rings then a siren"]
    out = interface.frame_scores(paths["odd"], texts)
    times, duration = out.times, 6.77
    assert out.scores.shape == (1, len(times), 2) and bool(out.mask.all())
    steps = times.diff()
    assert bool((steps > 0).all())
    torch.testing.assert_close(steps, torch.full_like(steps, FRAME))
    # first frame: mel frames 0..15 centred every 20 ms, from t = 0
    assert times[0].item() == pytest.approx(7.5 * 0.02)
    # cells [t - 0.16, t + 0.16) cover the clip; the last one is partial
    # (mel frames 336..338 of its 16), its nominal centre past the end
    assert times[0].item() - FRAME / 2 <= 0.0
    assert times[-1].item() - FRAME / 2 < duration <= times[-1].item() + FRAME / 2
    assert float(out.scores.abs().max()) <= 1.0 + 1e-5

    # a clip of one window: the frames of a plain encode_audio, unchanged
    short = interface.frame_scores(waves["short"], texts)
    encoded = interface.encode_audio(waves["short"], return_frames=True)
    expected = encoded.frames[0] @ interface.encode_text(texts).T
    valid = encoded.frame_mask[0]
    assert short.mask[0].tolist() == valid.tolist()
    torch.testing.assert_close(short.scores[0][valid], expected[valid],
                               atol=1e-5, rtol=0)
    assert short.times[-1].item() - FRAME / 2 < 2.5 <= short.times[-1].item() + FRAME / 2


def test_batch_equals_single(interface, clips):
    waves, paths = clips
    names = ["odd", "tiny", "short"]
    files = [paths[n] for n in names]
    texts = ["a cat rings then a whistle"]
    emb = interface.encode_audio(files)
    windows = interface.encode_audio_windows(files, max_windows_per_batch=3)
    scores = interface.frame_scores(files, texts)
    assert windows.window_mask.sum(1).tolist() == [5, 1, 1]
    for i, name in enumerate(names):
        alone = interface.encode_audio_windows(paths[name])
        count = alone.window_mask.shape[1]
        torch.testing.assert_close(emb[i], alone.embedding[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(windows.embedding[i], alone.embedding[0],
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(windows.window_times[i, :count],
                                   alone.window_times[0])
        single = interface.frame_scores(paths[name], texts)
        cells = single.times.shape[0]
        assert int(scores.mask[i].sum()) == int(single.mask[0].sum())
        torch.testing.assert_close(scores.scores[i, :cells], single.scores[0],
                                   atol=1e-5, rtol=0)
    # tensors with relative lengths behave like the files
    padded = torch.zeros(2, len(waves["odd"]))
    padded[0] = waves["odd"]
    padded[1, : len(waves["tiny"])] = waves["tiny"]
    lens = torch.tensor([1.0, len(waves["tiny"]) / len(waves["odd"])])
    torch.testing.assert_close(interface.encode_audio(padded, lens), emb[:2],
                               atol=1e-5, rtol=0)
