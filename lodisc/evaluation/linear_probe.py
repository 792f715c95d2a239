"""Linear probe on cached frozen features (METHOD.md: SGD 0.9, lr 0.5, batch 256, 100 epochs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lodisc.method.schedules import cosine_lr


@dataclass
class ProbeConfig:
    """Reference linear-probe recipe; features are cached, so no per-epoch augmentation."""

    epochs: int = 100
    batch_size: int = 256
    lr: float = 0.5
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0


def train_linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    cfg: ProbeConfig | None = None,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Fit one linear layer on frozen features; report test top-1 / top-5 accuracy.

    Args:
        train_x: (N, D) float32 frozen features; train_y: (N,) int labels.
        test_x: (M, D) float32; test_y: (M,) int labels.

    Returns:
        ``linear_top1`` and ``linear_top5`` (top-k with k capped at the number of classes).
    """
    cfg = cfg or ProbeConfig()
    device = device or torch.device("cpu")
    generator = torch.Generator().manual_seed(cfg.seed)
    xs = torch.as_tensor(train_x, dtype=torch.float32, device=device)
    ys = torch.as_tensor(train_y, dtype=torch.int64, device=device)
    classes = int(max(ys.max().item(), int(np.max(test_y)))) + 1
    torch.manual_seed(cfg.seed)
    head = nn.Linear(xs.shape[1], classes).to(device)
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    optimizer = torch.optim.SGD(
        head.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    for epoch in range(cfg.epochs):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(epoch, cfg.epochs, cfg.lr)
        order = torch.randperm(xs.shape[0], generator=generator).to(device)
        for start in range(0, xs.shape[0], cfg.batch_size):
            index = order[start : start + cfg.batch_size]
            loss = F.cross_entropy(head(xs[index]), ys[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        logits = head(torch.as_tensor(test_x, dtype=torch.float32, device=device))
    target = torch.as_tensor(test_y, dtype=torch.int64, device=device)
    top5 = logits.topk(min(5, classes), dim=1).indices
    return {
        "linear_top1": float((top5[:, 0] == target).float().mean()),
        "linear_top5": float((top5 == target[:, None]).any(dim=1).float().mean()),
    }
