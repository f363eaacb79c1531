"""MGA-CLAP's shared codebook, the codeword regulariser, the locality-aware
block of HTSAT, and the CLAP module with an aligner."""

import math

import pytest
import torch
from entmax import sparsemax
from torch import nn

from speechbrain_tclap.lobes.clap import CLAP
from speechbrain_tclap.lobes.codebook import SharedCodebook
from speechbrain_tclap.lobes.htsat import HTSAT
from speechbrain_tclap.lobes.outputs import AudioEncoderOutput, TextEncoderOutput
from speechbrain_tclap.losses import (
    CodewordSharingLoss,
    ContrastiveInputs,
    HardNegativeLoss,
    InfoNCELoss,
    codeword_sharing_penalty,
)


def closed_form_sparsemax(z):
    """Martins & Astudillo (2016): sort, support size k(z), threshold tau."""
    out = torch.zeros_like(z)
    for row in range(z.shape[0]):
        values = sorted(z[row].tolist(), reverse=True)
        cumulative, k = 0.0, 0
        for j, v in enumerate(values, start=1):
            cumulative += v
            if 1 + j * v > cumulative:
                k, support_sum = j, cumulative
        tau = (support_sum - 1) / k
        out[row] = (z[row] - tau).clamp(min=0)
    return out


def released_msc(local, codebook, mask=None):
    """MGA-CLAP's Modality_Shared_Codebook, written out per the digest (B5)."""
    scores = local @ codebook.T / math.sqrt(local.shape[-1])
    if mask is not None:
        scores = scores * mask.unsqueeze(-1).to(scores.dtype)
    scores = scores / 1000.0
    pooled = scores.max(dim=1).values
    return closed_form_sparsemax(pooled) @ codebook


def test_sparsemax_matches_the_closed_form_and_its_jacobian():
    torch.manual_seed(0)
    z = torch.randn(5, 12, dtype=torch.float64) * 2
    p = sparsemax(z, dim=-1)
    assert torch.allclose(p, closed_form_sparsemax(z), atol=1e-12)
    assert torch.allclose(p.sum(-1), torch.ones(5, dtype=torch.float64))
    assert bool((p == 0).any())  # sparse
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: sparsemax(x, dim=-1), (z,))


def test_released_mode_reproduces_the_released_formula():
    torch.manual_seed(1)
    cb = SharedCodebook(16, num_codewords=32, masking="multiply", init_std=1.0)
    frames = torch.randn(3, 7, 16) * 40  # large enough for a sparse output
    out = cb.aggregate_audio(frames, torch.ones(3, 7, dtype=torch.bool))
    expected = released_msc(frames.double(), cb.codebook.detach().double())
    assert torch.allclose(out.embedding.double(), expected, atol=1e-5)
    assert bool((out.weights == 0).any())


def test_released_text_side_equals_dropping_cls_and_masking_sep():
    """[CLS] w1 .. wn [SEP] [PAD]: MGA slices off [CLS] and masks [SEP]/[PAD]."""
    torch.manual_seed(2)
    cb = SharedCodebook(8, num_codewords=10, masking="multiply")
    tokens = torch.randn(2, 6, 8) * 30
    token_mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    ours = cb.aggregate_text(tokens, token_mask).embedding
    word_mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)  # [:, 1:]
    expected = released_msc(tokens[:, 1:].double(), cb.codebook.detach().double(), word_mask)
    assert torch.allclose(ours.double(), expected, atol=1e-5)
    # the released masking clips text scores at 0 ...
    assert bool((cb.aggregate_text(tokens, token_mask).scores >= 0).all())
    # ... the default excludes masked positions instead
    exclude = SharedCodebook(8, num_codewords=10)
    exclude.load_state_dict(cb.state_dict())
    assert bool((exclude.aggregate_text(tokens, token_mask).scores < 0).any())


def test_exclude_masking_ignores_padding_and_the_batch():
    torch.manual_seed(3)
    cb = SharedCodebook(8, num_codewords=12, temperature=1.0)
    frames = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    first = cb(frames, mask)
    frames[0, 3:] = 100.0  # padded positions change
    second = cb(frames, mask)
    assert torch.allclose(first.embedding, second.embedding)
    alone = cb(frames[:1, :3], mask[:1, :3])
    assert torch.allclose(alone.embedding, first.embedding[:1], atol=1e-6)
    with pytest.raises(ValueError, match="no position left"):
        cb(frames, torch.zeros(2, 5, dtype=torch.bool))


def test_mean_aggregation_is_the_no_codebook_ablation():
    cb = SharedCodebook(4, aggregation="mean", text_boundary_tokens=False)
    assert cb.codebook is None and not list(cb.parameters())
    x = torch.randn(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    out = cb.aggregate_text(x, mask)
    assert torch.allclose(out.embedding[0], x[0, :2].mean(0))
    assert out.weights is None


def loop_penalty(wa, wt, positives, form):
    if form == "pair":
        pairs = [(i, j) for i in range(wa.shape[0]) for j in range(wt.shape[0]) if positives[i, j]]
        return sum(0.5 * float((wa[i] - wt[j]).abs().sum()) for i, j in pairs) / len(pairs)
    rows_a = [i for i in range(wa.shape[0]) if positives[i].any()]
    rows_t = [j for j in range(wt.shape[0]) if positives[:, j].any()]
    usage_a = sum(wa[i] for i in rows_a) / len(rows_a)
    usage_t = sum(wt[j] for j in rows_t) / len(rows_t)
    return 0.5 * float((usage_a - usage_t).abs().sum())


@pytest.mark.parametrize("form", ["pair", "usage"])
def test_codeword_sharing_penalty_matches_loops(form):
    torch.manual_seed(4)
    wa = sparsemax(torch.randn(4, 9) * 3, dim=-1)
    wt = sparsemax(torch.randn(5, 9) * 3, dim=-1)
    positives = torch.zeros(4, 5, dtype=torch.bool)
    positives[0, 0] = positives[1, 1] = positives[2, 2] = positives[2, 3] = True
    value = codeword_sharing_penalty(wa, wt, positives, form)
    assert abs(float(value) - loop_penalty(wa, wt, positives, form)) < 1e-6
    assert 0.0 <= float(value) <= 1.0


def test_codeword_sharing_loss_adds_the_penalty_with_gradients():
    torch.manual_seed(5)
    emb = nn.functional.normalize(torch.randn(3, 6), dim=-1)
    logits = torch.randn(3, 7, requires_grad=True)
    codes_a = sparsemax(logits * 0.3, dim=-1)  # several codewords: a gradient
    codes_t = sparsemax(torch.randn(4, 7) * 3, dim=-1)
    inputs = ContrastiveInputs(
        emb, torch.cat([emb, emb[:1]]), torch.tensor(10.0), torch.arange(3),
        torch.tensor([0, 1, 2, 9]), torch.tensor([False, False, False, True]),
        audio_codewords=codes_a, text_codewords=codes_t,
    )
    loss = CodewordSharingLoss(HardNegativeLoss(), weight=0.5)(inputs)
    penalty = codeword_sharing_penalty(codes_a, codes_t[:3], torch.eye(3, dtype=torch.bool))
    assert torch.isclose(loss, HardNegativeLoss()(inputs) + 0.5 * penalty)
    loss.backward()
    assert logits.grad is not None and bool(logits.grad.abs().sum() > 0)
    off = CodewordSharingLoss(InfoNCELoss(), weight=0.0)
    plain = ContrastiveInputs(emb, emb, torch.tensor(10.0), torch.arange(3),
                              torch.arange(3), torch.zeros(3, dtype=torch.bool))
    assert torch.isclose(off(plain), InfoNCELoss()(plain))
    with pytest.raises(ValueError, match="codebook aligner"):
        CodewordSharingLoss(InfoNCELoss(), weight=0.1)(plain)


# ---------------------------------------------------------------------------
# Locality-aware block
# ---------------------------------------------------------------------------
def _last_block_input(encoder, feats):
    captured = {}
    block = encoder.layers[-1].blocks[-1]
    handle = block.register_forward_pre_hook(lambda m, args: captured.setdefault("x", args[0]))
    encoder(feats)
    handle.remove()
    return captured["x"]


def test_locality_block_is_value_only_path_of_the_last_block():
    torch.manual_seed(6)
    plain = HTSAT.from_preset("test").eval()
    local = HTSAT.from_preset("test", locality_aware=True).eval()
    local.load_state_dict(plain.state_dict(), strict=True)  # no new parameters
    assert list(plain.state_dict()) == list(local.state_dict())
    feats = torch.randn(2, 64, 16)
    out_plain, out_local = plain(feats), local(feats)
    assert torch.allclose(out_plain.clip, out_local.clip)  # trunk unchanged
    assert not torch.allclose(out_plain.frames, out_local.frames)
    # the released code's path, written out: v = x + proj(V(norm1 x)); v + norm2(v)
    x = _last_block_input(local, feats)
    block = local.layers[-1].blocks[-1]
    dim = x.shape[-1]
    qkv = block.attn.qkv(block.norm1(x))
    heads = qkv.view(*x.shape[:2], 3, block.attn.num_heads, dim // block.attn.num_heads)
    value = heads[:, :, 2].reshape(*x.shape[:2], dim)
    v = x + block.attn.proj(value)
    v = v + block.norm2(v)
    v = local.norm(v)
    fmap = local._time_map(v)
    assert torch.allclose(out_local.frames, fmap.mean(dim=2).transpose(1, 2), atol=1e-6)


def test_locality_block_with_padding_keeps_clips_independent():
    torch.manual_seed(7)
    local = HTSAT.from_preset("test", locality_aware=True).eval()
    feats = torch.randn(2, 64, 16)
    batch = local(feats, torch.tensor([1.0, 0.5]))
    alone = local(feats[1:, :32])
    valid = batch.frame_mask[1]
    assert torch.allclose(batch.frames[1, valid], alone.frames[0, valid], atol=1e-5)
    assert bool((batch.frames[1, ~valid] == 0).all())


# ---------------------------------------------------------------------------
# CLAP with an aligner
# ---------------------------------------------------------------------------
class _Frames(nn.Module):
    def forward(self, wavs, wav_lens=None):
        return wavs.unflatten(1, (-1, 4)), wav_lens


class _Audio(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 6)

    def forward(self, feats, lens=None):
        h = self.lin(feats)
        return AudioEncoderOutput(h.mean(1), h, torch.ones(h.shape[:2], dtype=torch.bool))


class _Text(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(128, 6)

    def forward(self, texts):
        ids = torch.tensor([[2] + [ord(c) % 128 for c in t[:3]] + [3] for t in texts])
        return TextEncoderOutput(self.emb(ids).mean(1), self.emb(ids), torch.ones(ids.shape, dtype=torch.bool))


def _clap(aligner=None, pooling=None):
    torch.manual_seed(8)
    return CLAP(_Frames(), _Audio(), nn.Linear(6, 5), _Text(), nn.Linear(6, 5),
                audio_pooling=pooling, aligner=aligner)


def test_clap_without_aligner_is_unchanged_and_with_one_uses_projected_locals():
    plain = _clap()
    assert plain.aligner is None and not plain.has_codebook
    assert not any(k.startswith("aligner") for k in plain.state_dict())
    mga = _clap(SharedCodebook(5, num_codewords=7, temperature=0.1))
    assert "aligner.codebook" in mga.state_dict() and mga.has_codebook
    wavs = torch.randn(2, 16)
    audio, text, scale, codes_a, codes_t = mga(wavs, None, ["dog", "cats"], return_codewords=True)
    frames = mga.audio_projection(mga.audio_encoder(*mga.audio_features(wavs, None)).frames)
    expected = mga.aligner(frames, torch.ones(2, 4, dtype=torch.bool)).embedding
    assert torch.allclose(audio, nn.functional.normalize(expected, dim=-1), atol=1e-6)
    assert torch.allclose(codes_a.sum(-1), torch.ones(2)) and codes_t.shape == (2, 7)
    assert torch.allclose(mga.encode_text(["dog", "cats"]), text)
    encoded = mga.encode_audio(wavs, return_frames=True)
    assert torch.allclose(encoded.embedding, audio)
    assert torch.allclose(encoded.frames, nn.functional.normalize(frames, dim=-1))


def test_order_heads_beside_an_aligner_start_at_the_codebook_and_see_order():
    # T-CLAP + MGA-CLAP: zero-initialised order heads read the projected
    # frames / tokens; at the start the model is the codebook model itself.
    from speechbrain_tclap.lobes.pooling import FramePooling

    def heads():
        torch.manual_seed(3)
        audio = FramePooling("temporal_correction", input_size=5, max_frames=4, nhead=1)
        text = FramePooling("temporal_correction", input_size=5, max_frames=5, nhead=1)
        return audio, text

    def codebook():
        torch.manual_seed(4)
        return SharedCodebook(5, num_codewords=7, temperature=0.1)

    mga = _clap(codebook())
    audio_head, text_head = heads()
    both = _clap(codebook(), pooling=audio_head)
    both.text_pooling = text_head
    wavs = torch.randn(2, 16)
    plain_out, both_out = mga(wavs, None, ["dog", "cat"]), both(wavs, None, ["dog", "cat"])
    assert all(torch.allclose(a, b) for a, b in zip(plain_out, both_out))
    # once the head is trained, reversing the frames changes the clip vector
    torch.nn.init.normal_(both.audio_pooling.pool.correction.weight)
    frames = torch.randn(1, 4, 5)
    mask = torch.ones(1, 4, dtype=torch.bool)
    forward, backward = both.audio_pooling(frames, mask), both.audio_pooling(frames.flip(1), mask)
    assert not torch.allclose(forward, backward, atol=1e-4)
    assert torch.allclose(
        both.aligner.aggregate_audio(frames, mask).embedding,
        both.aligner.aggregate_audio(frames.flip(1), mask).embedding, atol=1e-6,
    )


def _clap_with_trained_order_heads(detach):
    """A codebook model with non-zero order heads on both towers."""
    from speechbrain_tclap.lobes.pooling import FramePooling

    torch.manual_seed(3)
    audio = FramePooling("temporal_correction", input_size=5, max_frames=4, nhead=1)
    text = FramePooling("temporal_correction", input_size=5, max_frames=5, nhead=1)
    for head in (audio, text):
        torch.nn.init.normal_(head.pool.correction.weight)  # heads already trained
    clap = _clap(SharedCodebook(5, num_codewords=7, temperature=0.1), pooling=audio)
    clap.text_pooling, clap.order_heads_detach = text, detach
    return clap


def test_detached_order_heads_train_themselves_but_not_the_frames():
    # order_heads_detach: a loss on the order heads' part of the embeddings
    # trains the heads and leaves the projections (the frames, the tokens) alone.
    from speechbrain_tclap.lobes.codebook import AlignerOutput

    def heads_only(detach):
        clap = _clap_with_trained_order_heads(detach)
        # the codebook's part set to zero: what remains is the heads' part
        def zero(local, mask):
            return AlignerOutput(local.sum(1) * 0, None, None)
        clap.aligner.aggregate_audio = clap.aligner.aggregate_text = zero
        return clap

    for detach in (False, True):
        clap = heads_only(detach)
        audio, text, _ = clap(torch.randn(2, 16), None, ["dog", "cat"])
        (audio.sum() + text.sum()).backward()
        for tower in ("audio", "text"):
            head = getattr(clap, f"{tower}_pooling").pool.correction.weight.grad
            projection = getattr(clap, f"{tower}_projection").weight.grad
            assert head.abs().sum() > 0
            assert (projection is None or projection.abs().sum() == 0) == detach


def test_temporal_loss_on_order_heads_leaves_codebook_and_frames_to_the_contrastive_loss():
    # TemporalFocusedLoss(temporal_on="order_heads") reads the order
    # embeddings (the codebook's part behind a stop-gradient + the heads):
    # with detached heads, L_t trains the heads only.
    from speechbrain_tclap.data.batching import view_codes
    from speechbrain_tclap.losses import ContrastiveInputs, TemporalFocusedLoss

    class NoContrastive(nn.Module):
        def forward(self, inputs):
            return inputs.audio_emb.sum() * 0

    def grads(temporal_on):
        clap = _clap_with_trained_order_heads(detach=True)
        assert clap.has_order_heads
        out = clap(torch.randn(2, 16), None, ["dog cat", "cat dog", "cat dog", "dog cat"],
                   return_order=True)
        audio_emb, text_emb, scale, audio_order, text_order = out
        assert audio_order.shape == audio_emb.shape and text_order.shape == text_emb.shape
        # the same values as the joint embeddings; only their gradients differ
        assert torch.allclose(audio_order, audio_emb) and torch.allclose(text_order, text_emb)
        inputs = ContrastiveInputs(
            audio_emb, text_emb, scale, torch.tensor([0, 1]), torch.tensor([0, 1, 2, 3]),
            torch.tensor([False, False, True, True]),
            audio_views=view_codes(["main", "main"]),
            text_views=view_codes(["main", "main", "swapped", "swapped"]),
            audio_sample=torch.tensor([0, 1]), text_sample=torch.tensor([0, 1, 0, 1]),
            audio_order_emb=audio_order, text_order_emb=text_order,
        )
        loss = TemporalFocusedLoss(1.0, "pairwise", NoContrastive(), temporal_on=temporal_on)
        loss(inputs).backward()
        return {name: (p.grad is not None and bool(p.grad.abs().sum() > 0))
                for name, p in clap.named_parameters()}

    on_heads, on_embeddings = grads("order_heads"), grads("embeddings")
    for name in ("audio_pooling.pool.correction.weight", "text_pooling.pool.correction.weight"):
        assert on_heads[name] and on_embeddings[name]
    for name in ("aligner.codebook", "audio_projection.weight", "text_projection.weight"):
        assert not on_heads[name], name  # L_t leaves them to L_c
        assert on_embeddings[name], name
    # a model without order embeddings is refused with a clear message
    plain = ContrastiveInputs(torch.zeros(1, 5), torch.zeros(1, 5), torch.tensor(1.0),
                              torch.tensor([0]), torch.tensor([0]), torch.tensor([False]))
    with pytest.raises(ValueError, match="order embeddings"):
        TemporalFocusedLoss(temporal_on="order_heads")(plain)
    with pytest.raises(ValueError, match="temporal_on"):
        TemporalFocusedLoss(temporal_on="frames")
