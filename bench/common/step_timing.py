"""Timing training steps and their parts, synchronised on CUDA (bench/train_step.py)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from lodisc.method.masking import (
    apply_pixel_mask,
    fuse_attention,
    keep_indices,
    pivotal_keep_mask,
)
from lodisc.models.encoder import forward_kept_tokens
from lodisc.models.lodisc_model import LoDiscModel


def sync(device: torch.device) -> None:
    """Wait for queued kernels so the host clock measures the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Milliseconds one call of ``fn`` takes (synchronised on CUDA)."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return (time.perf_counter() - start) * 1e3


def median_ms(times: list[float]) -> float:
    """Median, rounded for the table and JSON."""
    return round(statistics.median(times), 3)


def breakdown(
    model: LoDiscModel, views: tuple[torch.Tensor, torch.Tensor], device: torch.device, reps: int
) -> dict[str, float]:
    """Median ms of each part of a LoDisc step, each part interleaved with the others."""
    use_amp = device.type == "cuda"
    both = torch.cat(views)
    cfg = model.cfg
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
        with model.attention.record() as rows:
            model.teacher_backbone(both)
    scores, keep = pivotal_keep_mask(rows, cfg.keep_ratio)
    grid = model.student.grid_size

    def student_fwd_bwd() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            cls = model.student.forward_cls(both)
            half = both.shape[0] // 2
            heads = [model.student.forward_head(c) for c in (cls[:half], cls[half:])]
        torch.cat(heads).float().square().mean().backward()
        model.student.zero_grad(set_to_none=True)

    def teacher(hooks: bool) -> Callable[[], None]:
        def run() -> None:
            with (
                torch.no_grad(),
                torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp),
                model.attention.record(enabled=hooks),
            ):
                model.teacher_projector(model.teacher_backbone(both))

        return run

    def mask_build() -> None:
        with torch.no_grad():
            if cfg.local_mode == "pixel":
                apply_pixel_mask(both, pivotal_keep_mask(rows, cfg.keep_ratio)[1], grid)
            else:
                keep_indices(fuse_attention(torch.stack(rows, dim=1)), cfg.keep_ratio)

    kept = keep_indices(scores, cfg.keep_ratio)
    masked_views = apply_pixel_mask(both, keep, grid)

    def masked_teacher() -> None:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            if cfg.local_mode == "pixel":
                model.teacher_projector(model.teacher_backbone(masked_views))
            else:
                model.teacher_projector(forward_kept_tokens(model.teacher_backbone, both, kept))

    def ema() -> None:
        model.update_teacher(0.99)

    parts: dict[str, Callable[[], None]] = {
        "student fwd+bwd (2B)": student_fwd_bwd,
        "teacher fwd, no hooks (2B)": teacher(False),
        "teacher fwd, with CLS hooks (2B)": teacher(True),
        "fuse + mask build": mask_build,
        f"masked teacher fwd ({cfg.local_mode})": masked_teacher,
        "EMA update": ema,
    }
    times: dict[str, list[float]] = {name: [] for name in parts}
    for fn in parts.values():  # warm-up
        fn()
    for _ in range(reps):
        for name, fn in parts.items():
            times[name].append(timed(fn, device))
    return {name: median_ms(t) for name, t in times.items()}
