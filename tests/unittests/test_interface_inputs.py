"""What the pretrained interface takes: paths, arrays, tensors, rates, batches, bad input.

A tiny random CLAP at 8 kHz (window 0.5 s) is served by the interface in
memory; each test compares one way of giving audio with another that must
give the same numbers, or checks that bad input is refused with a clear
error.

Authors
 * speechbrain-tclap developers 2026
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from speechbrain_tclap.inference import CLAP
from speechbrain_tclap.lobes.clap import CLAP as CLAPModule
from speechbrain_tclap.lobes.features import CLAPFeatures
from speechbrain_tclap.lobes.htsat import HTSAT
from speechbrain_tclap.lobes.text import TransformerTextEncoder

RATE = 8000
LABELS = ["dog", "rain", "church_bell"]


def _tokenize(texts):
    ids = torch.tensor([[ord(c) % 64 for c in t[-8:].ljust(8)] for t in texts])
    return ids, torch.ones_like(ids, dtype=torch.bool)


@pytest.fixture(scope="module")
def clap():
    torch.manual_seed(0)
    model = CLAPModule(
        CLAPFeatures(sample_rate=RATE, n_fft=256, hop_length=80, n_mels=16, f_max=4000.0),
        HTSAT.from_preset("test"), torch.nn.Linear(16, 8),
        TransformerTextEncoder(_tokenize, vocab_size=64, d_model=8, nhead=2, num_layers=1,
                               max_length=8),
        torch.nn.Linear(8, 8), clip_seconds=0.5,
    ).eval()
    return CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
                hparams={"sample_rate": RATE, "clap": model})


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three clips (0.3 s, 0.9 s: windowed, 0.6 s) as float32 and as 8-kHz WAV files."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    wavs = [(0.3 * rng.standard_normal(int(s * RATE))).astype("float32") for s in (0.3, 0.9, 0.6)]
    paths = []
    for i, wav in enumerate(wavs):
        paths.append(folder / f"c{i}.wav")
        sf.write(paths[-1], wav, RATE, subtype="FLOAT")
    return wavs, paths


def _close(a, b):
    torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b), atol=1e-5, rtol=0)


def test_paths_arrays_and_tensors_give_the_same_embeddings(clap, clips):
    wavs, paths = clips
    reference = torch.cat([clap.encode_audio(torch.from_numpy(w)) for w in wavs])
    _close(clap.encode_audio([str(p) for p in paths]), reference)
    _close(clap.encode_audio(paths), reference)  # pathlib.Path
    _close(clap.encode_audio(paths[1]), reference[1:2])
    _close(clap.encode_audio(wavs[1]), reference[1:2])  # numpy (L,)
    _close(clap.encode_audio(wavs), reference)  # list of arrays of different lengths
    _close(clap.encode_audio([paths[0], torch.from_numpy(wavs[1]), wavs[2]]), reference)


def test_sample_rate_resamples_arrays_and_tensors(clap, clips):
    wav = torch.from_numpy(clips[0][1])
    high = AF.resample(wav, RATE, 16000)
    expected = clap.encode_audio(AF.resample(high, 16000, RATE))
    _close(clap.encode_audio(high, sample_rate=16000), expected)
    _close(clap.encode_audio(high.numpy(), sample_rate=16000), expected)
    # without sample_rate the tensor is taken at the model rate (twice as long)
    assert not torch.allclose(clap.encode_audio(high), expected, atol=1e-3)


def test_integer_pcm_is_scaled_and_other_types_refused(clap):
    pcm = (np.random.default_rng(1).uniform(-0.5, 0.5, 4000) * 32768).astype(np.int16)
    expected = clap.encode_audio(torch.from_numpy(pcm.astype("float32") / 32768))
    _close(clap.encode_audio(pcm), expected)
    _close(clap.encode_audio(torch.from_numpy(pcm)), expected)
    for bad in (pcm.astype(np.int8), torch.ones(100, dtype=torch.bool)):
        with pytest.raises(TypeError, match="are not supported"):
            clap.encode_audio(bad)


def test_empty_and_zero_length_inputs_are_refused(clap, tmp_path):
    with pytest.raises(ValueError, match="the list is empty"):
        clap.encode_audio([])
    with pytest.raises(ValueError, match=r"no audio: the batch has shape \(0, 100\)"):
        clap.encode_audio(torch.zeros(0, 100))
    for empty in (np.zeros(0, "float32"), torch.zeros(2, 0)):
        with pytest.raises(ValueError, match="zero-length audio"):
            clap.encode_audio(empty)
    silent = tmp_path / "empty.wav"
    sf.write(silent, np.zeros(0, "float32"), RATE)
    with pytest.raises(ValueError, match="empty.wav"):
        clap.encode_audio(silent)
    with pytest.raises(ValueError, match="NaN/Inf"):
        clap.encode_audio(torch.tensor([0.1, float("nan")]))
    with pytest.raises(ValueError, match="the list is empty"):
        clap.encode_text([])
    with pytest.raises(ValueError, match="no labels given"):
        clap.classify_zero_shot(torch.zeros(800), [])


def test_lists_are_loaded_and_encoded_batch_by_batch(clap, clips, monkeypatch, capsys):
    _, paths = clips
    reference = clap.encode_audio(paths)
    events = []
    load, encode = clap.load_audio, clap.model.encode_audio
    monkeypatch.setattr(clap, "load_audio", lambda p: events.append("read") or load(p))
    monkeypatch.setattr(clap.model, "encode_audio",
                        lambda wavs, *a, **k: events.append(len(wavs)) or encode(wavs, *a, **k))
    _close(clap.encode_audio(paths * 2, batch_size=2, progress=False), torch.cat([reference] * 2))
    # 6 files in batches of 2, each batch read only when it is encoded (in
    # one forward pass: whole clips, or all windows of the batch's clips)
    assert [e == "read" for e in events] == [True, True, False] * 3
    assert [e for e in events if e != "read"] == [4, 3, 5]  # windows: 1 + 3, 2 + 1, 3 + 2
    assert capsys.readouterr().err == ""
    clap.encode_audio(paths, batch_size=1, progress=True)
    assert "audio:" in capsys.readouterr().err  # the bar (tqdm may skip drawing some steps)


def test_template_stored_with_the_model_is_the_default(clap):
    audio = torch.randn(2, 4000, generator=torch.Generator().manual_seed(2))
    default, _ = clap.classify_zero_shot(audio, LABELS)
    given, _ = clap.classify_zero_shot(audio, LABELS, template="This is a sound of {}.")
    _close(default, given)
    clap.hparams.zero_shot_template = "a {} noise"
    try:
        stored, _ = clap.classify_zero_shot(audio, LABELS)
        _close(stored, clap.classify_zero_shot(audio, LABELS, template="a {} noise")[0])
        assert not torch.allclose(stored, default)
    finally:
        del clap.hparams.zero_shot_template
    with pytest.raises(ValueError, match="must hold the class name"):
        clap.classify_zero_shot(audio, LABELS, template="This is a sound.")


def test_top_labels_are_sorted_and_match_the_probabilities(clap):
    audio = torch.randn(2, 4000, generator=torch.Generator().manual_seed(3))
    probs, best = clap.classify_zero_shot(audio, LABELS)
    top = clap.top_labels(audio, LABELS, k=2)
    assert [len(row) for row in top] == [2, 2]
    for row, p, label in zip(top, probs, best):
        assert row[0][0] == label and row[0][1] >= row[1][1]
        assert row[0][1] == pytest.approx(float(p.max()))
    assert len(clap.top_labels(audio, LABELS, k=10)[0]) == len(LABELS)


def test_precomputed_embeddings_and_numpy_outputs(clap, clips):
    wavs, _ = clips
    texts = ["a dog barks", "rain falls"]
    audio_emb = clap.encode_audio(wavs, return_numpy=True)
    text_emb = clap.encode_text(texts, return_numpy=True)
    assert isinstance(audio_emb, np.ndarray) and audio_emb.shape == (3, 8)
    expected = clap.similarity(wavs, texts, scaled=True)
    _close(clap.embedding_similarity(audio_emb, text_emb, scaled=True), expected)
    _close(clap.embedding_similarity(torch.from_numpy(audio_emb[0]), text_emb), expected[:1] / clap.model.logit_scale())
    out = clap.similarity(wavs, texts, return_numpy=True)
    assert isinstance(out, np.ndarray) and out.shape == (3, 2)
    probs, _ = clap.classify_zero_shot(wavs, LABELS, return_numpy=True)
    assert isinstance(probs, np.ndarray) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    frames = clap.encode_audio(wavs, return_frames=True, return_numpy=True)
    assert isinstance(frames.frames, np.ndarray) and frames.frame_mask.dtype == bool


def test_frame_scores_and_events_merge_batches(clap, clips):
    wavs, paths = clips
    texts = ["a dog", "a bell"]
    whole = clap.frame_scores(paths, texts)
    split = clap.frame_scores(paths, texts, batch_size=1)
    assert torch.equal(whole.mask, split.mask) and torch.equal(whole.times, split.times)
    _close(split.scores, whole.scores)
    windows = clap.encode_audio_windows(wavs, batch_size=2)
    assert windows.window_mask.sum(1).tolist() == [1, 3, 2]  # 0.5-s windows, hop 0.24 s
    _close(windows.embedding, clap.encode_audio_windows(wavs).embedding)
    threshold = float(whole.scores[whole.mask].median())
    events = clap.detect_events(paths, texts, threshold, batch_size=2)
    assert events == clap.detect_events([str(p) for p in paths], texts, threshold)
    assert len(events) == 3
    path = clap.plot_frame_scores(Path(paths[1]), texts, str(Path(paths[1]).with_suffix(".png")))
    assert path is None or Path(path).is_file()
