"""Per-step schedules: learning rate, EMA momentum and the local-loss weight."""

from __future__ import annotations

import math


def cosine_lr(step: int, total: int, base: float, warmup: int = 0, minimum: float = 0.0) -> float:
    """Linear warm-up then half-cycle cosine from ``base`` to ``minimum``."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return minimum + (base - minimum) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def cosine_momentum(step: int, total: int, start: float, final: float = 1.0) -> float:
    """EMA momentum rising from ``start`` to ``final`` on a half cosine (MoCo v3)."""
    progress = min(1.0, step / max(1, total))
    return final - (final - start) * 0.5 * (1.0 + math.cos(math.pi * progress))


def local_weight_at(epoch: float, weight: float, warmup_epochs: float, ramp_epochs: float) -> float:
    """Local-loss weight at a (fractional) epoch: 0 during warm-up, then a linear ramp to ``weight``.

    The reference has no warm-up; from random init the teacher's attention does not find the object
    at first (METHOD.md), so contrasting masked views early only contrasts background.
    """
    if weight <= 0 or epoch < warmup_epochs:
        return 0.0
    if ramp_epochs <= 0:
        return weight
    return weight * min(1.0, (epoch - warmup_epochs) / ramp_epochs)
