"""CLAP encodes each distinct caption of a batch once (issue 18, point 2)."""

import torch
from torch import nn

from speechbrain_tclap.lobes.clap import CLAP
from speechbrain_tclap.lobes.outputs import AudioEncoderOutput
from speechbrain_tclap.lobes.text import TransformerTextEncoder


class _Frames(nn.Module):
    def forward(self, wavs, wav_lens=None):
        return wavs.unflatten(1, (-1, 4)), wav_lens


class _Audio(nn.Module):
    def forward(self, feats, lens=None):
        mask = torch.ones(feats.shape[:2], dtype=torch.bool)
        return AudioEncoderOutput(feats.mean(1), feats, mask)


def _tokenize(texts):
    """Byte ids, right-padded to the longest text (as our tokenizers pad)."""
    width = max(len(t) for t in texts)
    ids = torch.tensor([[ord(c) % 60 + 1 for c in t.ljust(width)] for t in texts])
    mask = torch.tensor([[i < len(t) for i in range(width)] for t in texts])
    return ids, mask


class _Counting(TransformerTextEncoder):
    """Records the batches the text tower sees."""

    seen = []

    def forward(self, texts):
        self.seen.append(list(texts))
        return super().forward(texts)


def _clap():
    torch.manual_seed(0)
    text = _Counting(_tokenize, vocab_size=64, d_model=8, nhead=2,
                     num_layers=1, max_length=32, dropout=0.0)
    return CLAP(_Frames(), _Audio(), nn.Linear(4, 6), text, nn.Linear(8, 6))


def _grads(clap, texts, dedup, monkeypatch):
    if not dedup:  # every row through the tower, as before deduplication
        monkeypatch.setattr(
            "speechbrain_tclap.lobes.clap.unique_texts", lambda t: (list(t), None)
        )
    clap.zero_grad()
    audio, text, scale = clap(torch.randn(len(texts), 8, generator=torch.Generator().manual_seed(1)), None, texts)
    loss = (scale * audio @ text.T).log_softmax(-1).diagonal().sum()
    loss.backward()
    monkeypatch.undo()
    return text.detach(), {n: p.grad.clone() for n, p in clap.named_parameters() if p.grad is not None}


def test_repeated_captions_run_once_with_the_same_outputs_and_gradients(monkeypatch):
    texts = ["a dog then a car", "a car then a dog", "a dog then a car", "a bell",
             "a car then a dog", "a dog then a car"]
    clap = _clap()
    _Counting.seen.clear()
    emb, grads = _grads(clap, texts, dedup=True, monkeypatch=monkeypatch)
    assert _Counting.seen == [["a dog then a car", "a car then a dog", "a bell"]]
    emb_ref, grads_ref = _grads(clap, texts, dedup=False, monkeypatch=monkeypatch)
    assert _Counting.seen[-1] == texts
    assert torch.allclose(emb, emb_ref, atol=1e-6)
    assert grads.keys() == grads_ref.keys() and any("text_encoder" in n for n in grads)
    for name, grad in grads.items():
        assert torch.allclose(grad, grads_ref[name], rtol=1e-5, atol=1e-5), (
            name, (grad - grads_ref[name]).abs().max())


def test_encode_text_tokens_follow_the_original_rows():
    clap = _clap().eval()
    texts = ["a bell", "a dog then a car", "a bell"]
    with torch.no_grad():
        out = clap.encode_text(texts, return_tokens=True)
        alone = clap.encode_text(["a dog then a car"], return_tokens=True)
    assert out.embedding.shape[0] == out.tokens.shape[0] == out.token_mask.shape[0] == 3
    assert torch.equal(out.embedding[0], out.embedding[2])
    assert torch.allclose(out.embedding[1], alone.embedding[0], atol=1e-6)
    assert torch.equal(out.token_mask[0], out.token_mask[2])
