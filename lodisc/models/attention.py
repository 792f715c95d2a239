"""Cheap CLS attention rows of a timm ViT, recorded with forward hooks.

Only the CLS query's row is needed (METHOD.md step 3), so the hook on each block's ``qkv`` projection
computes ``softmax(q_cls k^T)`` for one query per head instead of materialising the full N x N map.
The blocks keep timm's fused attention kernel for the forward pass itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from torch import nn


class CLSAttentionRecorder:
    """Records, per selected block, the head-averaged CLS attention over patch tokens.

    Args:
        backbone: a timm ``VisionTransformer``.
        layers: block indices to record (``None``: all blocks).
    """

    def __init__(self, backbone: nn.Module, layers: Sequence[int] | None = None) -> None:
        blocks: list[Any] = list(backbone.blocks)  # type: ignore[arg-type]
        indices = range(len(blocks)) if layers is None else layers
        self.num_prefix_tokens = int(getattr(backbone, "num_prefix_tokens", 1))
        self.rows: list[torch.Tensor] = []
        self.enabled = False
        for index in indices:
            attn = blocks[index].attn
            attn.qkv.register_forward_hook(partial(self._hook, attn))

    def _hook(self, attn: Any, module: nn.Module, inputs: Any, qkv: torch.Tensor) -> None:
        """Compute the CLS row from the qkv projection output (B, T, 3 * C)."""
        if not self.enabled:
            return
        batch, tokens, width = qkv.shape
        heads = int(attn.num_heads)
        head_dim = width // 3 // heads
        q = qkv[:, :1, : width // 3].reshape(batch, 1, heads, head_dim).transpose(1, 2)
        k = qkv[:, :, width // 3 : 2 * width // 3].reshape(batch, tokens, heads, head_dim)
        q, k = attn.q_norm(q), attn.k_norm(k.transpose(1, 2))
        logits = (q.float() * float(attn.scale)) @ k.float().transpose(-2, -1)  # (B, H, 1, T)
        row = logits.softmax(dim=-1).mean(dim=1)[:, 0, self.num_prefix_tokens :]  # (B, N)
        self.rows.append(row)

    @contextmanager
    def record(self, enabled: bool = True) -> Iterator[list[torch.Tensor]]:
        """Within the block, forwards of the backbone append one (B, N) row per layer."""
        self.rows = []
        self.enabled = enabled
        try:
            yield self.rows
        finally:
            self.enabled = False
            self.rows = []  # the caller keeps its list; the recorder holds no tensors after use

    @staticmethod
    def stack(rows: list[torch.Tensor]) -> torch.Tensor:
        """Stack recorded rows into (B, L, N)."""
        return torch.stack(rows, dim=1)
