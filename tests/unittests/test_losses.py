"""Tests of the contrastive loss core against loop-written reference formulas."""

import math

import pytest
import torch
import torch.nn.functional as F

from speechbrain_tclap.data.batching import view_codes
from speechbrain_tclap.losses import (
    ContrastiveInputs,
    InfoNCELoss,
    block_log_weights,
    contrastive_loss,
    positive_mask_from_keys,
)


def _unit(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)


def _loop_loss(a, t, scale, pos, logw=None, aw=None, tw=None, dirs=(True, True)):
    """Reference written with explicit loops over rows and columns."""
    na, nt = a.shape[0], t.shape[0]
    logits = [[scale * float(a[i] @ t[j]) for j in range(nt)] for i in range(na)]
    if logw is not None:
        for i in range(na):
            for j in range(nt):
                if not pos[i][j]:
                    logits[i][j] += float(logw[i][j])

    def one_direction(rows, npos, weights):
        total, wsum = 0.0, 0.0
        for r, row in enumerate(rows):
            positives = [c for c in range(len(row)) if npos[r][c]]
            if not positives:
                continue
            log_z = math.log(sum(math.exp(x) for x in row))
            loss_r = -sum(row[c] - log_z for c in positives) / len(positives)
            w = 1.0 if weights is None else float(weights[r])
            total += w * loss_r
            wsum += w
        return total / wsum

    terms = []
    if dirs[0]:
        terms.append(one_direction(logits, pos, aw))
    if dirs[1]:
        cols = [[logits[i][j] for i in range(na)] for j in range(nt)]
        pos_t = [[pos[i][j] for i in range(na)] for j in range(nt)]
        terms.append(one_direction(cols, pos_t, tw))
    return sum(terms) / len(terms)


def test_plain_infonce_matches_loop_and_cross_entropy():
    a, t = _unit(6, 5, 0), _unit(6, 5, 1)
    scale = torch.tensor(7.0, dtype=torch.float64)
    ours = contrastive_loss(a, t, scale)
    pos = torch.eye(6, dtype=torch.bool).tolist()
    ref = _loop_loss(a, t, 7.0, pos)
    logits = 7.0 * a @ t.T
    ce = 0.5 * (
        F.cross_entropy(logits, torch.arange(6))
        + F.cross_entropy(logits.T, torch.arange(6))
    )
    assert abs(float(ours) - ref) < 1e-5
    assert abs(float(ours) - float(ce)) < 1e-5


def test_extra_negatives_multi_positive_weights_and_directions():
    a, t = _unit(4, 6, 2), _unit(7, 6, 3)
    # audio 0 and 1 share a caption (two positives each); texts 4-6 are
    # negatives only (keys nobody holds).
    audio_keys = torch.tensor([0, 0, 1, 2])
    text_keys = torch.tensor([0, 0, 1, 2, 9, 8, 7])
    pos = positive_mask_from_keys(audio_keys, text_keys)
    g = torch.Generator().manual_seed(4)
    logw = torch.log(torch.rand(4, 7, generator=g, dtype=torch.float64) + 1e-8)
    aw = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    tw = torch.rand(7, generator=g, dtype=torch.float64) + 0.1
    for dirs in [(True, True), (True, False), (False, True)]:
        ours = contrastive_loss(
            a, t, torch.tensor(3.0, dtype=torch.float64), pos, logw, aw, tw,
            audio_to_text=dirs[0], text_to_audio=dirs[1],
        )
        ref = _loop_loss(a, t, 3.0, pos.tolist(), logw.tolist(), aw, tw, dirs)
        assert abs(float(ours) - ref) < 1e-5, dirs


def test_log_weights_never_touch_positives():
    a, t = _unit(3, 4, 5), _unit(3, 4, 6)
    scale = torch.tensor(2.0)
    base = contrastive_loss(a.float(), t.float(), scale)
    diag_only = torch.diag(torch.full((3,), -50.0))
    assert torch.allclose(
        contrastive_loss(a.float(), t.float(), scale, log_weights=diag_only), base
    )


def test_block_weights_alpha_one_is_infonce_and_alpha_zero_removes_same():
    k, b = 3, 4
    a, t = _unit(k * b, 8, 7), _unit(k * b, 8, 8)
    scale = torch.tensor(5.0, dtype=torch.float64)
    plain = contrastive_loss(a, t, scale)
    ones = block_log_weights(k, b, 1.0, 1.0).double()
    assert abs(float(contrastive_loss(a, t, scale, log_weights=ones)) - float(plain)) < 1e-6
    # alpha_same = 0: equal to a loss where those negatives are dropped.
    zero_same = block_log_weights(k, b, 0.0, 1.0, eps=0.0).double()
    ours = contrastive_loss(a, t, scale, log_weights=zero_same)
    logits = scale * a @ t.T
    idx = torch.arange(k * b)
    same_other = (idx[:, None] % b == idx[None, :] % b) & (idx[:, None] != idx[None, :])
    dropped = logits.masked_fill(same_other, float("-inf"))
    ref = 0.5 * (
        F.cross_entropy(dropped, idx) + F.cross_entropy(dropped.T, idx)
    )
    assert abs(float(ours) - float(ref)) < 1e-6


def test_infonce_ignores_negative_texts_and_errors():
    a, t = _unit(3, 4, 9).float(), _unit(5, 4, 10).float()
    inputs = ContrastiveInputs(
        audio_emb=a, text_emb=t, logit_scale=torch.tensor(4.0),
        audio_keys=torch.arange(3), text_keys=torch.tensor([0, 1, 2, 5, 6]),
        text_is_negative=torch.tensor([False, False, False, True, True]),
    )
    expected = contrastive_loss(a, t[:3], torch.tensor(4.0))
    assert torch.allclose(InfoNCELoss()(inputs), expected)
    with pytest.raises(ValueError, match="positive_mask is required"):
        contrastive_loss(a, t, torch.tensor(1.0))
    with pytest.raises(ValueError, match="no row has a positive"):
        contrastive_loss(a, t, torch.tensor(1.0), torch.zeros(3, 5, dtype=torch.bool))


def test_gradients_are_finite_at_large_scale():
    a = _unit(8, 16, 11).float().requires_grad_()
    t = _unit(8, 16, 12).float().requires_grad_()
    loss = contrastive_loss(a, t, torch.tensor(100.0))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all()


def _temporal_inputs(seed, reversed_audio=False):
    """Batch of 3 samples: main audio, positive caption, swapped negative.

    Sample 2's positive caption equals sample 0's swapped caption (key 3):
    that text must be a positive for audio 2 and a negative for audio 0.
    """
    from speechbrain_tclap.losses import TemporalFocusedLoss  # noqa: F401

    a = _unit(4 if reversed_audio else 3, 8, seed).float()
    t = _unit(6, 8, seed + 100).float()
    audio_keys = [0, 1, 3] + ([3] if reversed_audio else [])
    return ContrastiveInputs(
        audio_emb=a,
        text_emb=t,
        logit_scale=torch.tensor(5.0),
        # texts: pos0, pos1, pos2(key 3), neg0(key 3), neg1(key 4), neg2(key 0)
        audio_keys=torch.tensor(audio_keys),
        text_keys=torch.tensor([0, 1, 3, 3, 4, 0]),
        text_is_negative=torch.tensor([False, False, False, True, True, True]),
        audio_views=view_codes(["main"] * 3 + (["reversed"] if reversed_audio else [])),
        text_views=view_codes(["main"] * 3 + ["swapped"] * 3),
        audio_sample=torch.tensor([0, 1, 2] + ([0] if reversed_audio else [])),
        text_sample=torch.tensor([0, 1, 2, 0, 1, 2]),
    )


def test_temporal_batch_form_matches_explicit_formula():
    from speechbrain_tclap.losses import TemporalFocusedLoss

    x = _temporal_inputs(20)
    ours = TemporalFocusedLoss(temporal_weight=0.5, form="batch")(x)
    pos = x.text_keys.unsqueeze(0) == x.audio_keys.unsqueeze(1)
    # L_c over non-negative texts (0, 1, 2) and the 3 audios: plain diagonal.
    logits_c = 5.0 * x.audio_emb @ x.text_emb[:3].T
    l_c = 0.5 * (F.cross_entropy(logits_c, torch.arange(3)) + F.cross_entropy(logits_c.T, torch.arange(3)))
    # L_t: each audio vs all 6 texts; audio 0: positives {0, 5}, audio 2: {2, 3}.
    logits_t = 5.0 * x.audio_emb @ x.text_emb.T
    logp = logits_t.log_softmax(dim=1)
    rows = [-(logp[i][pos[i]]).mean() for i in range(3)]
    l_t = torch.stack(rows).mean()
    assert torch.allclose(ours, l_c + 0.5 * l_t, atol=1e-5)
    # Text 3 (sample 0's negative) is a positive of audio 2, a negative of audio 0.
    assert bool(pos[2, 3]) and not bool(pos[0, 3])


def test_temporal_reversed_audio_adds_text_to_audio_term():
    from speechbrain_tclap.losses import TemporalFocusedLoss

    x = _temporal_inputs(21, reversed_audio=True)
    with_rev = TemporalFocusedLoss(temporal_weight=1.0, form="batch")(x)
    logits = 5.0 * x.audio_emb @ x.text_emb[:3].T  # 4 audios x 3 main captions
    pos = x.audio_keys.unsqueeze(1) == x.text_keys[:3].unsqueeze(0)
    logp = logits.T.log_softmax(dim=1)
    t2a = torch.stack([-(logp[j][pos[:, j]]).mean() for j in range(3)]).mean()
    a = x.audio_emb[:3]
    logp_a = (5.0 * a @ x.text_emb.T).log_softmax(dim=1)
    pos_a = x.audio_keys[:3].unsqueeze(1) == x.text_keys.unsqueeze(0)
    a2t = torch.stack([-(logp_a[i][pos_a[i]]).mean() for i in range(3)]).mean()
    l_c = InfoNCELoss()(x)
    assert torch.allclose(with_rev, l_c + 0.5 * (a2t + t2a), atol=1e-5)


def test_temporal_pairwise_form_matches_explicit_formula():
    from speechbrain_tclap.losses import TemporalFocusedLoss

    x = _temporal_inputs(22)
    ours = TemporalFocusedLoss(temporal_weight=0.5, form="pairwise")(x)
    s = 5.0 * x.audio_emb @ x.text_emb.T
    own_neg = {0: 3, 1: 4, 2: 5}
    terms = [
        -torch.log_softmax(torch.stack([s[i, i], s[i, own_neg[i]]]), dim=0)[0]
        for i in range(3)
    ]
    assert torch.allclose(ours, InfoNCELoss()(x) + 0.5 * torch.stack(terms).mean(), atol=1e-5)
    with pytest.raises(ValueError, match="form"):
        TemporalFocusedLoss(form="other")


def test_temporal_pairwise_form_with_reversed_audio_matches_explicit_formula():
    from speechbrain_tclap.losses import TemporalFocusedLoss

    x = _temporal_inputs(23, reversed_audio=True)
    ours = TemporalFocusedLoss(temporal_weight=0.5, form="pairwise")(x)
    s = 5.0 * x.audio_emb @ x.text_emb.T
    own_neg = {0: 3, 1: 4, 2: 5}
    terms = [
        -torch.log_softmax(torch.stack([s[i, i], s[i, own_neg[i]]]), dim=0)[0]
        for i in range(3)
    ]
    # Sample 0's caption (text 0) against its audio (0) and the reversed audio (3).
    terms.append(-torch.log_softmax(torch.stack([s[0, 0], s[3, 0]]), dim=0)[0])
    expected = InfoNCELoss()(x) + 0.5 * torch.stack(terms).mean()
    assert torch.allclose(ours, expected, atol=1e-5)


def test_temporal_loss_reads_the_ordered_captions_set_aside():
    # Two samples captioned order-free for L_c (texts 0, 1), each with its
    # ordered caption (2, 3) and order-swapped twin (4, 5) for L_t alone.
    from speechbrain_tclap.losses import TemporalFocusedLoss

    a = _unit(2, 8, 30).float().requires_grad_()
    t = _unit(6, 8, 31).float().requires_grad_()
    x = ContrastiveInputs(
        audio_emb=a, text_emb=t, logit_scale=torch.tensor(5.0),
        audio_keys=torch.tensor([0, 1]), text_keys=torch.tensor([0, 1, 10, 11, 20, 21]),
        text_is_negative=torch.tensor([False, False, True, True, True, True]),
        audio_views=view_codes(["main", "main"]),
        text_views=view_codes(["main", "main", "ordered", "ordered", "swapped", "swapped"]),
        audio_sample=torch.tensor([0, 1]), text_sample=torch.tensor([0, 1, 0, 1, 0, 1]),
    )
    s = 5.0 * a @ t.T
    l_t = torch.stack([-torch.log_softmax(torch.stack([s[i, 2 + i], s[i, 4 + i]]), 0)[0] for i in range(2)])
    l_c = InfoNCELoss()(x)
    logits_c = s[:, :2]
    assert torch.allclose(l_c, 0.5 * (F.cross_entropy(logits_c, torch.arange(2))
                                      + F.cross_entropy(logits_c.T, torch.arange(2))))
    pairwise = TemporalFocusedLoss(temporal_weight=0.5, form="pairwise")(x)
    assert torch.allclose(pairwise, l_c + 0.5 * l_t.mean(), atol=1e-6)
    # Batch form: each audio against the ordered and swapped captions only.
    logp = (s[:, 2:]).log_softmax(dim=1)
    batch = TemporalFocusedLoss(temporal_weight=0.5, form="batch")(x)
    assert torch.allclose(batch, l_c + 0.5 * -(logp[0, 0] + logp[1, 1]) / 2, atol=1e-6)
    # L_t's gradient reaches the ordered / swapped captions, never the order-free ones.
    TemporalFocusedLoss(temporal_weight=1.0, form="pairwise", contrastive=_NoLoss())(x).backward()
    assert t.grad[:2].abs().sum() == 0 and t.grad[2:].abs().sum() > 0


class _NoLoss(torch.nn.Module):
    def forward(self, inputs):
        return inputs.audio_emb.sum() * 0


def test_frame_order_loss_asks_the_first_event_to_come_first():
    from dataclasses import replace

    from speechbrain_tclap.losses import (
        CodewordSharingLoss,
        FrameOrderLoss,
        LossSum,
        frame_order_template,
        score_time_centres,
    )

    torch.manual_seed(0)
    texts = F.normalize(torch.randn(3, 2, 8), dim=-1)
    # frames 0-4 look like the first event, 5-9 like the second; 10-11 padding
    frames = torch.cat([texts[:, :1].expand(3, 5, 8), texts[:, 1:].expand(3, 5, 8),
                        texts[:, :1].expand(3, 2, 8)], dim=1)
    frames = F.normalize(frames + 0.05 * torch.randn_like(frames), dim=-1)
    mask = torch.arange(12) < 10
    mask = mask.expand(3, 12).clone()
    emb = F.normalize(torch.randn(3, 8), dim=-1)
    inputs = ContrastiveInputs(emb, emb, torch.tensor(10.0), torch.arange(3), torch.arange(3),
                               torch.zeros(3, dtype=torch.bool), pair_frames=frames,
                               pair_frame_mask=mask, pair_texts=texts)
    loss = FrameOrderLoss("the sound of {}", sharpness=10.0, slope=10.0)
    right, wrong = loss(inputs), loss(replace(inputs, pair_texts=texts.flip(1)))
    assert float(right) < 0.1 < 2.0 < float(wrong)
    # padded frames do not count: centres over the 10 real frames only
    centres = score_time_centres(torch.einsum("ptd,ped->pte", frames, texts), mask, 10.0)
    assert bool((centres[:, 0] < 0.3).all() and (centres[:, 1] > 0.7).all())
    # a step on the frames moves the curves towards the right order
    shuffled = frames[:, torch.tensor([5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 10, 11])].clone().requires_grad_(True)
    before = loss(replace(inputs, pair_frames=shuffled))
    before.backward()
    with torch.no_grad():
        after = loss(replace(inputs, pair_frames=F.normalize(shuffled - 0.5 * shuffled.grad, dim=-1)))
    assert float(after) < float(before.detach())
    # without pairs: a zero in the graph; a half-filled input is refused
    assert float(loss(replace(inputs, pair_frames=None))) == 0.0
    with pytest.raises(ValueError, match="pair_texts"):
        loss(replace(inputs, pair_texts=None))
    with pytest.raises(ValueError, match="template"):
        FrameOrderLoss("the sound")
    nested = LossSum([CodewordSharingLoss(InfoNCELoss()), FrameOrderLoss("a {} sound")])
    assert frame_order_template(nested) == "a {} sound"


def test_frame_order_contrast_ignores_what_both_prompts_match():
    # contrast=True: a frame component both prompts share (silence, a broad
    # noise) moves both scores of a frame alike and pulls neither centre.
    from dataclasses import replace

    from speechbrain_tclap.losses import FrameOrderLoss

    u, v, w = torch.eye(3)
    texts = torch.stack([u + w, v + w])[None]  # (1, 2, 3)
    x = torch.stack([u, u, 0.5 * (u + v), v, v])  # A, then B
    emb = F.normalize(torch.randn(1, 3), dim=-1)
    base = ContrastiveInputs(emb, emb, torch.tensor(1.0), torch.arange(1), torch.arange(1),
                             torch.zeros(1, dtype=torch.bool), pair_frames=x[None],
                             pair_frame_mask=torch.ones(1, 5, dtype=torch.bool), pair_texts=texts)
    shared = replace(base, pair_frames=(x + torch.tensor([0.0, 0.0, 0.0, 3.0, 3.0])[:, None] * w)[None])
    contrast, plain = FrameOrderLoss("{}", contrast=True), FrameOrderLoss("{}")
    assert torch.isclose(contrast(shared), contrast(base))
    assert float(plain(shared)) > float(plain(base)) + 0.1  # the late frames pull A's centre
