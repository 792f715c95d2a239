"""LoDisc: student/teacher wrapper computing the global and local contrastive losses, plus EMA."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from lodisc.config import EncoderConfig, LoDiscConfig
from lodisc.method.losses import info_nce
from lodisc.method.masking import (
    apply_pixel_mask,
    keep_indices,
    pivotal_keep_mask,
)
from lodisc.models.attention import CLSAttentionRecorder
from lodisc.models.encoder import Encoder, forward_kept_tokens
from lodisc.models.hybrid import shares_frozen_stem

LOCAL_MODES = ("pixel", "drop")


@dataclass
class StepOutput:
    """Losses of one step, plus the teacher's kept-patch mask for diagnostics."""

    loss: torch.Tensor
    loss_global: torch.Tensor
    loss_local: torch.Tensor
    keep: torch.Tensor | None  # (2B, N) bool, views 1 then 2; None when the local branch is off


class LoDiscModel(nn.Module):
    """Student encoder (backbone, projector, predictor) and its EMA teacher (backbone, projector).

    ``local_weight == 0`` skips the teacher attention and the masked passes entirely: that is exactly
    MoCo v3. The teacher computes keys and CLS attention rows in one pass per view (2 + 2 forwards of
    the teacher per step with pixel masking; the reference runs 8). A hybrid with a frozen stem runs
    the stem once per view and feeds its maps to the student, the teacher and token dropping.
    """

    def __init__(self, encoder_cfg: EncoderConfig, cfg: LoDiscConfig) -> None:
        super().__init__()
        if cfg.local_mode not in LOCAL_MODES:
            raise ValueError(f"local_mode must be one of {LOCAL_MODES}, got {cfg.local_mode!r}")
        self.cfg = cfg
        self.student = Encoder(encoder_cfg)
        self.teacher_backbone = copy.deepcopy(self.student.backbone)
        self.teacher_projector = copy.deepcopy(self.student.projector)
        for param in self.teacher_parameters():
            param.requires_grad_(False)
        self.attention = CLSAttentionRecorder(self.teacher_backbone, cfg.fuse_layers)

    def teacher_parameters(self) -> list[torch.Tensor]:
        """Teacher parameters, in the same order as :meth:`_student_ema_parameters`."""
        return [*self.teacher_backbone.parameters(), *self.teacher_projector.parameters()]

    def _student_ema_parameters(self) -> list[torch.Tensor]:
        return [*self.student.backbone.parameters(), *self.student.projector.parameters()]

    def forward(self, view1: torch.Tensor, view2: torch.Tensor, local_weight: float) -> StepOutput:
        """One LoDisc step's losses.

        Args:
            view1: (B, 3, H, W) first augmented view (normalised).
            view2: (B, 3, H, W) second augmented view.
            local_weight: weight of the local loss at this step (0 skips the local branch).
        """
        batch = view1.shape[0]
        views = torch.cat([view1, view2])  # (2B, 3, H, W): one backbone pass for both views
        inputs = self._shared_inputs(views)
        cls = self._backbone(self.student.backbone, inputs)
        # Predictor per view, so its BatchNorm sees one view's statistics (as MoCo v3).
        q1, q2 = self.student.forward_head(cls[:batch]), self.student.forward_head(cls[batch:])
        use_local = local_weight > 0
        with torch.no_grad():
            with self.attention.record(enabled=use_local) as rows:
                k1, k2 = self._project_keys(self._backbone(self.teacher_backbone, inputs)).chunk(2)
        loss_global = info_nce(q1, k2, self.cfg.temperature) + info_nce(
            q2, k1, self.cfg.temperature
        )
        if not use_local:
            zero = loss_global.new_zeros(())
            return StepOutput(loss_global, loss_global.detach(), zero, None)
        with torch.no_grad():
            scores, keep = pivotal_keep_mask(rows, self.cfg.keep_ratio)  # (2B, N) each
            km1, km2 = self._masked_keys(views, inputs, scores, keep).chunk(2)
        loss_local = info_nce(q1, km2, self.cfg.temperature) + info_nce(
            q2, km1, self.cfg.temperature
        )
        loss = loss_global + local_weight * loss_local
        return StepOutput(loss, loss_global.detach(), loss_local.detach(), keep)

    def _project_keys(self, cls: torch.Tensor) -> torch.Tensor:
        return self.teacher_projector(cls)

    def _shared_inputs(self, views: torch.Tensor) -> torch.Tensor:
        """What every branch consumes: the frozen stem's maps (computed once) or the images."""
        if shares_frozen_stem(self.student.backbone):
            with torch.no_grad():
                return self.student.backbone.forward_stem(views)  # (2B, C, h, w)
        return views

    def _backbone(
        self, backbone: nn.Module, inputs: torch.Tensor, keep_idx: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pooled (CLS) features of :meth:`_shared_inputs`, optionally on kept patches only."""
        if shares_frozen_stem(backbone):
            return backbone.forward_from_stem(inputs, keep_idx)  # type: ignore[operator]
        if keep_idx is None:
            return backbone(inputs)
        return forward_kept_tokens(backbone, inputs, keep_idx)

    def _masked_keys(
        self, views: torch.Tensor, inputs: torch.Tensor, scores: torch.Tensor, keep: torch.Tensor
    ) -> torch.Tensor:
        """Teacher keys of the local views: pixel masking (reference) or token dropping.

        Pixel masking runs the whole teacher, stem included, on the masked images, so a hybrid's
        kept tokens see no dropped pixels; token dropping reuses the shared stem maps, whose kept
        tokens still carry context from their receptive fields.
        """
        if self.cfg.local_mode == "pixel":
            masked = apply_pixel_mask(views, keep, self.student.grid_size)
            return self._project_keys(self.teacher_backbone(masked))
        kept = keep_indices(scores, self.cfg.keep_ratio)
        return self._project_keys(self._backbone(self.teacher_backbone, inputs, kept))

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """EMA ``t = m t + (1 - m) s``, applied ``ema_updates_per_step`` times (reference: 4)."""
        teacher, student = self.teacher_parameters(), self._student_ema_parameters()
        for _ in range(self.cfg.ema_updates_per_step):
            torch._foreach_lerp_(teacher, student, 1.0 - momentum)
        for t_buf, s_buf in zip(
            self.teacher_projector.buffers(), self.student.projector.buffers(), strict=True
        ):
            t_buf.copy_(s_buf)

    def load_teacher_from_student(self) -> None:
        """Reset the teacher to the student (after initialising the student from weights)."""
        self.teacher_backbone.load_state_dict(self.student.backbone.state_dict())
        self.teacher_projector.load_state_dict(self.student.projector.state_dict())
