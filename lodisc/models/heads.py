"""MLP heads of MoCo v3 / LoDisc: the student's predictor and the optional projector."""

from __future__ import annotations

from torch import nn


def build_predictor(dim: int, hidden_dim: int, dropout: float) -> nn.Sequential:
    """Reference predictor: Linear -> BN -> ReLU -> Dropout -> Linear -> BN(affine=False).

    Args:
        dim: input and output width (the backbone or projector width).
        hidden_dim: hidden width (4096 in the reference).
        dropout: dropout probability after the ReLU (0.2 in the reference).
    """
    return nn.Sequential(
        nn.Linear(dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim, dim, bias=False),
        nn.BatchNorm1d(dim, affine=False),
    )


def build_projector(dim: int, hidden_dim: int) -> nn.Sequential:
    """MoCo v3 three-layer projector (drawn on every branch in the paper's figure)."""
    return nn.Sequential(
        nn.Linear(dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, dim, bias=False),
        nn.BatchNorm1d(dim, affine=False),
    )
