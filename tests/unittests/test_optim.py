"""Optimiser parameter groups: no decay for the temperature, biases and
norms; per-pattern learning-rate multipliers that the schedule keeps."""

import pytest
import torch
from torch import nn

from speechbrain_tclap.utils.optim import LR_SCALE, parameter_groups
from speechbrain_tclap.utils.schedulers import WarmupCosineSchedule


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.text = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.head = nn.Linear(4, 2)
        self.log_logit_scale = nn.Parameter(torch.tensor(2.0))


def _group_of(groups, param):
    return next(g for g in groups if any(p is param for p in g["params"]))


def test_temperature_biases_and_norms_get_no_weight_decay():
    model = Tower()
    groups = parameter_groups(model.named_parameters(), weight_decay=0.01)
    opt = torch.optim.AdamW(groups, lr=1e-3)
    no_decay = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert id(model.log_logit_scale) in no_decay
    assert id(model.text[0].bias) in no_decay and id(model.text[1].weight) in no_decay
    assert id(model.text[0].weight) not in no_decay and id(model.head.weight) not in no_decay
    assert {g["weight_decay"] for g in opt.param_groups} == {0.0, 0.01}
    # every trainable parameter is in exactly one group
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_a_decayed_temperature_shrinks_an_exempt_one_does_not():
    # With a zero gradient only decay moves a parameter.
    for exempt, moved in ((True, False), (False, True)):
        model = Tower()
        groups = parameter_groups(model.named_parameters(), exempt_norms_and_biases=exempt)
        opt = torch.optim.AdamW(groups, lr=0.1, weight_decay=0.5)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        assert (float(model.log_logit_scale.detach()) != 2.0) == moved


def test_lr_scales_follow_the_schedule_and_skip_frozen_parameters():
    model = Tower()
    model.head.bias.requires_grad_(False)
    groups = parameter_groups(model.named_parameters(), lr_scales={"text.*": 0.1})
    opt = torch.optim.AdamW(groups, lr=1.0)
    assert all(p is not model.head.bias for g in opt.param_groups for p in g["params"])
    sched = WarmupCosineSchedule(1.0, warmup_steps=1, total_steps=10)
    sched(opt)
    rates = {g[LR_SCALE]: g["lr"] for g in opt.param_groups}
    assert rates == {0.1: pytest.approx(0.1), 1.0: pytest.approx(1.0)}
    assert _group_of(opt.param_groups, model.text[0].weight)[LR_SCALE] == 0.1


def test_a_pattern_matching_nothing_is_an_error():
    with pytest.raises(ValueError, match="match no parameter"):
        parameter_groups(Tower().named_parameters(), lr_scales={"txt.*": 0.1})
