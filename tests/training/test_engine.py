"""The training loop (training/engine.py) on the tiny config and synthetic data: one optimiser step
changes the student, leaves the teacher an EMA of the student (within 1e-6), logs the step to
metrics.jsonl, skips the local branch entirely at local_weight 0, and ``diagnose`` (object masks
present) returns mask-quality fractions in [0, 1]."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from lodisc.config import EncoderConfig, LoDiscConfig, PretrainConfig
from lodisc.method.masking import num_kept
from lodisc.models.lodisc_model import LoDiscModel
from training.data import build_train_data
from training.engine import CHECKPOINT_NAME, METRICS_NAME, Trainer

DIAGNOSTIC_FIELDS = ("keep_precision", "object_base_rate", "part_recall", "part_recall_random")


def _trainer(
    tiny_encoder_cfg: EncoderConfig, tiny_data: Path, out: Path, **method: float
) -> Trainer:
    """A one-step run: 32 images, batch 8; lr and momentum large enough to move every weight."""
    cfg = PretrainConfig(
        data=str(tiny_data),
        out=str(out),
        encoder=tiny_encoder_cfg,
        lodisc=dataclasses.replace(LoDiscConfig(), momentum=0.5, **method),
        epochs=1,
        batch_size=8,
        lr=8.0,  # actual lr = 8 * 8 / 256 = 0.25
        weight_decay=0.0,
        device="cpu",
        amp=False,
        num_workers=0,
        log_every=1,
        diagnostic_every=1000,
        max_steps=1,
    )
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = LoDiscModel(cfg.encoder, cfg.lodisc)
    return Trainer(cfg, model, build_train_data(cfg, pin_memory=False), torch.device("cpu"))


def _clone(params: list[torch.Tensor]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def _records(out: Path) -> list[dict]:
    lines = (out / METRICS_NAME).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _count_teacher_forwards(trainer: Trainer) -> list[int]:
    calls = [0]

    def hook(*_: object) -> None:
        calls[0] += 1

    trainer.lodisc.teacher_backbone.register_forward_hook(hook)
    return calls


def test_one_step_moves_the_student_and_keeps_the_teacher_an_ema(
    tiny_encoder_cfg: EncoderConfig, tiny_data: Path, tmp_path: Path
) -> None:
    trainer = _trainer(tiny_encoder_cfg, tiny_data, tmp_path / "run")
    model = trainer.lodisc
    student_before = _clone(model._student_ema_parameters())
    teacher_before = _clone(model.teacher_parameters())
    head_before = _clone(list(model.student.predictor.parameters()))
    assert all(torch.equal(t, s) for t, s in zip(teacher_before, student_before, strict=True))
    trainer.fit()
    assert trainer.progress.step == 1 and trainer.progress.batch_in_epoch == 1
    (record,) = _records(tmp_path / "run")
    momentum = record["momentum"]
    assert record["step"] == 1 and momentum == pytest.approx(0.5)  # step 0 of the cosine
    assert record["lr"] == pytest.approx(0.25)
    student_after = _clone(model._student_ema_parameters())
    moved = [(a - b).abs().max().item() for a, b in zip(student_after, student_before, strict=True)]
    assert max(moved) > 1e-2  # the student's backbone and projector were updated
    head_after = list(model.student.predictor.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(head_after, head_before, strict=True))
    for old, new, student in zip(
        teacher_before, model.teacher_parameters(), student_after, strict=True
    ):
        expected = momentum * old + (1 - momentum) * student
        assert torch.allclose(new, expected, atol=1e-6, rtol=0)
    teacher_after = model.teacher_parameters()
    gap = max((t - s).abs().max().item() for t, s in zip(teacher_after, student_after, strict=True))
    assert gap > 1e-3  # an EMA, not a copy of the student
    assert not any(p.requires_grad for p in model.teacher_parameters())
    assert (tmp_path / "run" / CHECKPOINT_NAME).is_file()


def test_step_logs_finite_losses_with_a_local_term(
    tiny_encoder_cfg: EncoderConfig, tiny_data: Path, tmp_path: Path
) -> None:
    trainer = _trainer(tiny_encoder_cfg, tiny_data, tmp_path / "run", local_weight=1.0)
    forwards = _count_teacher_forwards(trainer)
    trainer.fit()
    (record,) = _records(tmp_path / "run")
    assert record["local_weight"] == 1.0
    assert record["loss_global"] > 0 and record["loss_local"] > 0
    assert record["loss"] == pytest.approx(record["loss_global"] + record["loss_local"], rel=1e-5)
    assert forwards[0] == 2  # keys of both views, then the masked views (pixel mode)


def test_local_weight_zero_computes_no_local_loss(
    tiny_encoder_cfg: EncoderConfig, tiny_data: Path, tmp_path: Path
) -> None:
    trainer = _trainer(tiny_encoder_cfg, tiny_data, tmp_path / "run", local_weight=0.0)
    forwards = _count_teacher_forwards(trainer)
    trainer.fit()
    (record,) = _records(tmp_path / "run")
    assert record["local_weight"] == 0.0 and record["loss_local"] == 0.0
    assert record["loss"] == pytest.approx(record["loss_global"], rel=1e-6)
    assert forwards[0] == 1  # only the keys: no masked teacher pass
    assert trainer.lodisc.attention.rows == []  # no attention rows recorded


def test_diagnose_returns_fractions(
    tiny_encoder_cfg: EncoderConfig, tiny_data: Path, tmp_path: Path
) -> None:
    trainer = _trainer(tiny_encoder_cfg, tiny_data, tmp_path / "run")
    assert trainer.probe is not None  # the synthetic data has object masks
    pixels, masks = trainer.probe
    assert pixels.shape == (16, 3, 32, 32) and masks.shape == (16, 32, 32)
    diagnostic = trainer.diagnose()
    assert set(diagnostic) == set(DIAGNOSTIC_FIELDS)
    for name in DIAGNOSTIC_FIELDS:
        assert 0.0 <= diagnostic[name] <= 1.0, name
    # A random choice keeps as many patches as the mask does: 16 * 0.3 -> num_kept of 16.
    kept_fraction = num_kept(16, trainer.cfg.lodisc.keep_ratio) / 16
    assert diagnostic["part_recall_random"] <= kept_fraction + 1e-6
    assert diagnostic["object_base_rate"] > 0.0  # the synthetic objects cover some patches
