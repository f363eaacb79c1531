"""TeminAL's weighted multi-view NCE (``TemporalNCELoss``) against loop formulas."""

import math

import pytest
import torch
import torch.nn.functional as F

from speechbrain_tclap.data.batching import view_codes, view_names
from speechbrain_tclap.losses import (
    ContrastiveInputs,
    InfoNCELoss,
    LossSum,
    TemporalNCELoss,
)

VIEWS = ["main", "reversed", "overlay"]


def _inputs(batch, views=VIEWS, dim=8, seed=0, normalize=True, keys=None, scale=7.0):
    """Sample-major items (as the collate function lays them out)."""
    g = torch.Generator().manual_seed(seed)
    n = batch * len(views)
    audio = torch.randn(n, dim, generator=g)
    text = torch.randn(n, dim, generator=g)
    if normalize:
        audio, text = F.normalize(audio, dim=-1), F.normalize(text, dim=-1)
    names = [v for _ in range(batch) for v in views]
    sample = torch.arange(batch).repeat_interleave(len(views))
    keys = torch.arange(n) if keys is None else torch.as_tensor(keys)
    return ContrastiveInputs(
        audio_emb=audio.requires_grad_(),
        text_emb=text.requires_grad_(),
        logit_scale=torch.tensor(scale, requires_grad=True),
        audio_keys=keys,
        text_keys=keys.clone(),
        text_is_negative=torch.zeros(n, dtype=torch.bool),
        audio_views=view_codes(names),
        text_views=view_codes(names),
        audio_sample=sample,
        text_sample=sample.clone(),
    )


def _loop_loss(inputs, views, alpha_same=1.0, alpha_cross=1.0, beta=1.0,
               overlap=None, o_same=None, o_cross=None, mode="sane"):
    """The TNCE written item by item (diagonal positives, unique captions)."""
    o_same = alpha_same if o_same is None else o_same
    o_cross = alpha_cross if o_cross is None else o_cross
    names = view_names(inputs.audio_views)
    order = [i for v in views for i in range(len(names)) if names[i] == v]
    a = inputs.audio_emb[order].detach().double()
    t = inputs.text_emb[order].detach().double()
    view = [names[i] for i in order]
    sample = [int(inputs.audio_sample[i]) for i in order]
    scale = float(inputs.logit_scale.detach()) if mode == "sane" else 1.0
    n = len(order)

    def weight(i, j):
        if view[i] == view[j]:
            return 1.0
        touches = overlap is not None and overlap in (view[i], view[j])
        same = sample[i] == sample[j]
        if touches:
            return o_same if same else o_cross
        return alpha_same if same else alpha_cross

    def direction(query, keys):
        total, norm = 0.0, 0.0
        for i in range(n):
            terms = []
            for j in range(n):
                w = 1.0 if i == j else weight(i, j)
                if w == 0.0:
                    continue  # removed negative: no term at all
                terms.append(w * math.exp(scale * float(query[i] @ keys[j])))
            positive = math.exp(scale * float(query[i] @ keys[i]))
            b = 1.0 if view[i] == views[0] else beta
            total += b * -math.log(positive / sum(terms))
            norm += b
        return total / norm

    both = direction(a, t) + direction(t, a)
    return both / 2 if mode == "sane" else 0.8 * both


def test_one_view_and_unit_alphas_is_infonce_exactly():
    inputs = _inputs(5, views=["main"])
    tnce = TemporalNCELoss(views=["main"], alpha_same=1.0, alpha_cross=1.0)
    assert torch.equal(tnce(inputs), InfoNCELoss()(inputs))
    # Alphas have no block to act on with one view.
    assert torch.equal(TemporalNCELoss(["main"], alpha_same=0.3)(inputs), InfoNCELoss()(inputs))


def test_three_views_unit_alphas_is_infonce_over_all_items():
    inputs = _inputs(4)
    torch.testing.assert_close(TemporalNCELoss(VIEWS)(inputs), InfoNCELoss()(inputs))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(alpha_same=0.3, alpha_cross=1.7),
        dict(alpha_same=1.0, alpha_cross=0.5, beta=0.25),
        dict(alpha_same=0.2, alpha_cross=0.9, overlap="overlay", o_same=2.0, o_cross=0.1),
        dict(alpha_same=0.0, alpha_cross=1.0),
        dict(alpha_same=0.5, alpha_cross=0.0, beta=3.0),
    ],
)
def test_matches_loop_formula(kwargs):
    inputs = _inputs(3)
    loss = TemporalNCELoss(
        VIEWS,
        alpha_same=kwargs["alpha_same"],
        alpha_cross=kwargs["alpha_cross"],
        beta=kwargs.get("beta", 1.0),
        overlap_view=kwargs.get("overlap"),
        overlap_alpha_same=kwargs.get("o_same"),
        overlap_alpha_cross=kwargs.get("o_cross"),
    )(inputs)
    expected = _loop_loss(inputs, VIEWS, **kwargs)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_alpha_same_zero_removes_exactly_the_same_sample_negatives():
    inputs = _inputs(3)
    removed = TemporalNCELoss(VIEWS, alpha_same=0.0)(inputs)
    assert float(removed.detach()) == pytest.approx(_loop_loss(inputs, VIEWS, alpha_same=0.0), rel=1e-6)
    # Those terms are really gone: moving a sample's own other views around
    # changes nothing once they are neither positives nor negatives. Here
    # only the a2t direction sees the same-sample texts as negatives of
    # sample 0's main audio, so compare that direction alone.
    a2t = TemporalNCELoss(VIEWS, alpha_same=0.0, text_to_audio=False)
    base = a2t(inputs)
    with_same = TemporalNCELoss(VIEWS, alpha_same=1.0, text_to_audio=False)(inputs)
    assert float(with_same.detach()) > float(base.detach())
    removed.backward()
    assert torch.isfinite(inputs.audio_emb.grad).all()
    assert torch.isfinite(inputs.text_emb.grad).all()


def test_alpha_same_zero_gradient_ignores_own_other_views():
    """With alpha_same = alpha_cross = 0 and one sample, only positives remain."""
    inputs = _inputs(1)
    loss = TemporalNCELoss(VIEWS, alpha_same=0.0, alpha_cross=0.0)(inputs)
    # Each row holds its positive only: -log(1) = 0.
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-7)


def test_paper_mode_is_the_authors_cross_entropy():
    """Raw dot products, no temperature, 0.8 * (CE_t2a + CE_a2t), CE weights = beta."""
    batch, a_same, a_cross, beta = 3, 0.4, 0.7, 0.5
    inputs = _inputs(batch, normalize=False)
    loss = TemporalNCELoss(
        VIEWS, alpha_same=a_same, alpha_cross=a_cross, beta=beta,
        mode="paper", positives="diagonal",
    )(inputs)
    names = view_names(inputs.audio_views)
    order = [i for v in VIEWS for i in range(3 * batch) if names[i] == v]
    a, t = inputs.audio_emb[order], inputs.text_emb[order]
    alpha = torch.full((batch, batch), a_cross)
    alpha.fill_diagonal_(a_same)
    blocks = torch.log(alpha + 1e-8)
    log_w = torch.zeros(3 * batch, 3 * batch)
    for i in range(3):
        for j in range(3):
            if i != j:
                log_w[i * batch:(i + 1) * batch, j * batch:(j + 1) * batch] = blocks
    weight = torch.ones(3 * batch)
    weight[batch:] = beta
    target = torch.arange(3 * batch)
    expected = 0.8 * (
        F.cross_entropy(t @ a.T + log_w, target, weight=weight)
        + F.cross_entropy(a @ t.T + log_w, target, weight=weight)
    )
    torch.testing.assert_close(loss, expected)
    assert float(loss.detach()) == pytest.approx(
        _loop_loss(inputs, VIEWS, a_same, a_cross, beta, mode="paper"), rel=1e-4
    )
    # No temperature: the model's logit scale gets no gradient.
    loss.backward()
    assert inputs.logit_scale.grad is None


def test_sane_mode_trains_the_temperature():
    inputs = _inputs(2)
    TemporalNCELoss(VIEWS, alpha_same=0.5)(inputs).backward()
    assert inputs.logit_scale.grad is not None and inputs.logit_scale.grad != 0


def test_identical_captions_are_not_pushed_apart():
    # Samples 0 and 1 have the same three captions (e.g. two "dog / rain" pairs).
    keys = torch.tensor([0, 1, 2, 0, 1, 2, 6, 7, 8])
    inputs = _inputs(3, keys=keys)
    by_keys = TemporalNCELoss(VIEWS)(inputs)
    diagonal = TemporalNCELoss(VIEWS, positives="diagonal")(inputs)
    assert not torch.allclose(by_keys, diagonal)
    torch.testing.assert_close(by_keys, InfoNCELoss()(inputs))


def test_incomplete_samples_and_extra_items_are_ignored():
    inputs = _inputs(3)
    reference = TemporalNCELoss(VIEWS, alpha_same=0.5)(inputs)
    # A fourth sample with a main view only, and a flagged negative text.
    extra = F.normalize(torch.randn(1, 8), dim=-1)
    grown = ContrastiveInputs(
        audio_emb=torch.cat([inputs.audio_emb.detach(), extra]),
        text_emb=torch.cat([inputs.text_emb.detach(), extra, extra]),
        logit_scale=inputs.logit_scale,
        audio_keys=torch.cat([inputs.audio_keys, torch.tensor([20])]),
        text_keys=torch.cat([inputs.text_keys, torch.tensor([20, 21])]),
        text_is_negative=torch.cat(
            [inputs.text_is_negative, torch.tensor([False, True])]
        ),
        audio_views=torch.cat([inputs.audio_views, view_codes(["main"])]),
        text_views=torch.cat([inputs.text_views, view_codes(["main", "reversed"])]),
        audio_sample=torch.cat([inputs.audio_sample, torch.tensor([3])]),
        text_sample=torch.cat([inputs.text_sample, torch.tensor([3, 0])]),
    )
    torch.testing.assert_close(TemporalNCELoss(VIEWS, alpha_same=0.5)(grown), reference)


def test_stage_a_views_and_errors():
    inputs = _inputs(2, views=["single", "main"])
    assert TemporalNCELoss(["single", "main"])(inputs).shape == ()
    with pytest.raises(ValueError, match="no sample has audio and text of every view"):
        TemporalNCELoss(VIEWS)(inputs)
    with pytest.raises(ValueError, match="mode"):
        TemporalNCELoss(VIEWS, mode="fast")
    with pytest.raises(ValueError, match="overlap_view"):
        TemporalNCELoss(["main"], overlap_view="overlay")
    bad = _inputs(2, views=["single", "main"])
    bad.text_keys = torch.tensor([9, 9, 9, 9])
    with pytest.raises(ValueError, match="key differs"):
        TemporalNCELoss(["single", "main"])(bad)


def test_loss_sum_of_stage_a_and_b():
    views = ["single", "combined", "main", "reversed", "overlay"]
    inputs = _inputs(2, views=views)
    stage_a = TemporalNCELoss(["single", "combined"])
    stage_b = TemporalNCELoss(VIEWS, alpha_same=0.5)
    torch.testing.assert_close(
        LossSum([stage_a, stage_b])(inputs), stage_a(inputs) + stage_b(inputs)
    )
