"""Tests of the projection heads: shapes, parameter names, formulas.

Authors
 * speechbrain-tclap developers 2026
"""

import pytest
import torch
from torch import nn

from speechbrain_tclap.lobes.projection import (
    LinearProjection,
    MLPProjection,
    ResidualProjection,
)


def test_mlp_projection_matches_laion_layout():
    proj = MLPProjection(48, 32)
    assert proj(torch.randn(5, 48)).shape == (5, 32)
    assert proj(torch.randn(2, 7, 48)).shape == (2, 7, 32)
    shapes = {k: tuple(v.shape) for k, v in proj.state_dict().items()}
    assert shapes == {
        "0.weight": (32, 48), "0.bias": (32,), "2.weight": (32, 32), "2.bias": (32,)
    }
    assert proj.output_dim == 32

    # a LAION-style head loads strictly and computes the same function
    laion = nn.Sequential(nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 32))
    proj.load_state_dict(laion.state_dict(), strict=True)
    x = torch.randn(4, 48)
    torch.testing.assert_close(proj(x), laion(x))


def test_mlp_projection_hidden_size_and_activation():
    proj = MLPProjection(16, 8, hidden_size=24, activation=nn.GELU)
    assert isinstance(proj[1], nn.GELU)
    assert proj[0].weight.shape == (24, 16) and proj[2].weight.shape == (8, 24)
    x = torch.randn(3, 16)
    expected = proj[2](nn.functional.gelu(proj[0](x)))
    torch.testing.assert_close(proj(x), expected)


def test_residual_projection_formula_and_names():
    proj = ResidualProjection(12, 20, dropout=0.5).eval()
    shapes = {k: tuple(v.shape) for k, v in proj.state_dict().items()}
    assert shapes == {
        "linear1.weight": (20, 12),
        "linear2.weight": (20, 20),
        "layer_norm.weight": (20,),
        "layer_norm.bias": (20,),
    }
    x = torch.randn(6, 12)
    hidden = x @ proj.linear1.weight.T
    branch = nn.functional.gelu(hidden) @ proj.linear2.weight.T
    expected = nn.functional.layer_norm(
        hidden + branch, (20,), proj.layer_norm.weight, proj.layer_norm.bias
    )
    out = proj(x)
    torch.testing.assert_close(out, expected)
    assert out.shape == (6, 20)
    # LayerNorm output (default affine init): zero mean per row, not unit norm
    torch.testing.assert_close(out.mean(dim=-1), torch.zeros(6), atol=1e-5, rtol=0)

    # dropout acts in training only
    proj.train()
    torch.manual_seed(0)
    assert not torch.allclose(proj(x), expected)


def test_residual_projection_with_bias():
    proj = ResidualProjection(4, 6, dropout=0.0, bias=True)
    assert {"linear1.bias", "linear2.bias"} <= set(proj.state_dict())


@pytest.mark.parametrize("bias", [True, False])
def test_linear_projection(bias):
    proj = LinearProjection(10, 3, bias=bias)
    assert proj(torch.randn(2, 5, 10)).shape == (2, 5, 3)
    assert set(proj.state_dict()) == ({"weight", "bias"} if bias else {"weight"})
    assert proj.output_dim == 3
