"""Cross-rank BatchNorm for the heads: ``nn.SyncBatchNorm`` on GPU, a gloo-capable version on CPU.

``nn.SyncBatchNorm`` refuses CPU modules, yet the CPU DDP path must compute the same statistics as
one process with the global batch (MoCo v3 syncs the heads' BN). The CPU version all-reduces the
sums with the differentiable ``torch.distributed.nn.all_reduce``, so gradients flow across ranks.
"""

from __future__ import annotations

import torch
import torch.distributed.nn as dist_nn
from torch import nn

from lodisc.runtime import world_size


class GlooSyncBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` whose training statistics cover the batch of every rank."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        width = x.shape[1]
        local = torch.cat([x.sum(0), (x * x).sum(0), x.new_full((1,), float(x.shape[0]))])
        total = dist_nn.all_reduce(local)  # sums over ranks, differentiable
        count = total[-1]
        mean = total[:width] / count
        var = (total[width : 2 * width] / count - mean * mean).clamp_min(0.0)
        if (
            self.track_running_stats
            and self.running_mean is not None
            and self.running_var is not None
        ):
            with torch.no_grad():
                momentum = self.momentum if self.momentum is not None else 0.1
                unbiased = var * count / (count - 1).clamp_min(1.0)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
        out = (x - mean) / torch.sqrt(var + self.eps)
        if self.affine:
            out = out * self.weight + self.bias
        return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Swap BatchNorm layers for their cross-rank version (NCCL on GPU, gloo on CPU)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm1d):
            synced = GlooSyncBatchNorm1d(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
            )
            synced.load_state_dict(child.state_dict())
            setattr(module, name, synced)
        else:
            convert_sync_batchnorm(child, device)
    return module
