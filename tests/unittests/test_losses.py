"""Tests of the contrastive loss core against loop-written reference formulas."""

import math

import pytest
import torch
import torch.nn.functional as F

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
