"""The LoDisc training loop: schedules, AMP, DDP, metrics, diagnostics and exact resume."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from lodisc.checkpoint import load_state, read_checkpoint, save_checkpoint, unwrap
from lodisc.config import PretrainConfig
from lodisc.evaluation.mask_diagnostics import mask_diagnostics
from lodisc.method.masking import pivotal_keep_mask
from lodisc.method.schedules import cosine_lr, cosine_momentum, local_weight_at
from lodisc.method.views import normalise_views
from lodisc.models.lodisc_model import LoDiscModel
from lodisc.models.sync_norm import convert_sync_batchnorm
from lodisc.runtime import all_reduce_mean, is_main, world_size
from training.data import TrainData, load_probe

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"


class NonFiniteLossError(RuntimeError):
    """Training diverged; the last good checkpoint is kept."""


@dataclass
class Progress:
    """Where the run is: epoch, batches done in it, optimiser steps overall."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0


class Trainer:
    """Owns the model, optimiser and loader of one run (single process or one DDP rank)."""

    def __init__(
        self, cfg: PretrainConfig, model: LoDiscModel, data: TrainData, device: torch.device
    ) -> None:
        self.cfg, self.data, self.device = cfg, data, device
        self.out = Path(cfg.out)
        self.model: nn.Module = model.to(device)
        self.optimizer = torch.optim.AdamW(
            [p for p in model.student.parameters() if p.requires_grad],
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
        )
        if world_size() > 1:
            self.model = DistributedDataParallel(
                convert_sync_batchnorm(model, device),
                device_ids=[device.index] if device.type == "cuda" else None,
            )
        self.progress = Progress()
        self.started = time.perf_counter()  # wall_s in metrics.jsonl counts from here
        self.total_steps = cfg.epochs * data.steps_per_epoch
        self.probe = load_probe(cfg) if is_main() else None

    @property
    def lodisc(self) -> LoDiscModel:
        """The unwrapped model."""
        return unwrap(self.model)  # type: ignore[return-value]

    def resume(self, path: Path) -> None:
        """Restore weights, optimiser, progress and RNG from a checkpoint of this run."""
        payload = read_checkpoint(path, map_location="cpu")
        load_state(self.lodisc, payload["model"], path)
        self.optimizer.load_state_dict(payload["optimizer"])
        self.progress = Progress(**payload["progress"])
        torch.set_rng_state(payload["rng"]["cpu"])
        if self.device.type == "cuda" and payload["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(payload["rng"]["cuda"], self.device)
        logger.info(
            "resumed from %s at epoch %d, step %d", path, self.progress.epoch, self.progress.step
        )

    def save(self) -> None:
        """Atomically write ``out/checkpoint.pt`` (rank 0 only)."""
        if not is_main():
            return
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        state: dict[str, Any] = {
            "encoder": self.lodisc.student.state_dict(),
            "model": self.lodisc.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "progress": vars(self.progress).copy(),
            "pretrain_config": self.cfg.to_dict(),
            "rng": {"cpu": torch.get_rng_state(), "cuda": cuda_rng},
        }
        save_checkpoint(self.out / CHECKPOINT_NAME, state, self.cfg.encoder)

    def fit(self) -> None:
        """Train until ``epochs`` (or ``max_steps``) are done, saving after every epoch."""
        if self.progress.epoch >= self.cfg.epochs:
            self.save()  # epochs 0: the initialised, untrained model (a baseline)
            return
        while self.progress.epoch < self.cfg.epochs:
            finished = self._run_epoch()
            if not finished:
                self.save()
                return
            self.progress.epoch += 1
            self.progress.batch_in_epoch = 0
            self.save()
            if self.cfg.max_steps and self.progress.step >= self.cfg.max_steps:
                return
            if self.out_of_time():
                return

    def _run_epoch(self) -> bool:
        """One (possibly partial) epoch; False when ``max_steps`` stopped it early."""
        epoch, steps = self.progress.epoch, self.data.steps_per_epoch
        self.data.sampler.set_epoch(epoch)
        self.data.sampler.start = self.progress.batch_in_epoch * self.data.per_rank_batch
        self.model.train()
        bar = tqdm(
            self.data.loader,
            total=steps - self.progress.batch_in_epoch,
            desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
            disable=not is_main(),
        )
        tick = time.perf_counter()
        for (view1, view2), _ in bar:
            record = self._step(view1, view2)
            elapsed, tick = time.perf_counter() - tick, time.perf_counter()
            record["images_per_s"] = self.cfg.batch_size / max(elapsed, 1e-9)
            record["wall_s"] = round(tick - self.started, 3)
            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
            at_end = self.progress.batch_in_epoch == steps
            if self.progress.step % self.cfg.log_every == 0 or self.progress.step == 1 or at_end:
                self._log(record)
            if self.probe is not None and self.progress.step % self.cfg.diagnostic_every == 0:
                self._log({"step": self.progress.step, "diagnostic": self.diagnose()})
            if self.cfg.max_steps and self.progress.step >= self.cfg.max_steps:
                return self.progress.batch_in_epoch >= steps
            if self.out_of_time():
                logger.info("time budget of %.1f minutes reached: saving", self.cfg.max_minutes)
                return self.progress.batch_in_epoch >= steps
        return True

    def out_of_time(self) -> bool:
        """Whether ``max_minutes`` of wall time have passed since this process started training."""
        budget = self.cfg.max_minutes * 60.0
        return budget > 0 and time.perf_counter() - self.started >= budget

    def _step(self, view1: torch.Tensor, view2: torch.Tensor) -> dict[str, Any]:
        """One optimiser step; raises :class:`NonFiniteLossError` before touching the weights."""
        cfg, step = self.cfg, self.progress.step
        epoch_float = self.progress.epoch + self.progress.batch_in_epoch / self.data.steps_per_epoch
        base_lr = cfg.lr * cfg.batch_size / 256
        warmup = int(cfg.warmup_epochs * self.data.steps_per_epoch)
        lr = cosine_lr(step, self.total_steps, base_lr, warmup, cfg.min_lr)
        momentum = cosine_momentum(
            step, self.total_steps, cfg.lodisc.momentum, cfg.lodisc.momentum_final
        )
        m = cfg.lodisc
        local_weight = local_weight_at(
            epoch_float, m.local_weight, m.local_warmup_epochs, m.local_ramp_epochs
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        view1 = normalise_views(view1.to(self.device, non_blocking=True), cfg.encoder)
        view2 = normalise_views(view2.to(self.device, non_blocking=True), cfg.encoder)
        use_amp = cfg.amp and self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_amp):
            out = self.model(view1, view2, local_weight)
        losses = all_reduce_mean(torch.stack([out.loss.detach(), out.loss_global, out.loss_local]))
        if not bool(torch.isfinite(losses).all()):
            raise NonFiniteLossError(
                f"loss became {losses[0].item()} at step {step + 1}; stopped. The last good "
                f"checkpoint is kept in {self.out / CHECKPOINT_NAME}. Try a lower --lr."
            )
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        self.optimizer.step()
        self.lodisc.update_teacher(momentum)
        self.progress.step += 1
        self.progress.batch_in_epoch += 1
        loss, loss_global, loss_local = (float(v) for v in losses)
        return {
            "step": self.progress.step,
            "epoch": round(epoch_float, 4),
            "loss": loss,
            "loss_global": loss_global,
            "loss_local": loss_local,
            "local_weight": local_weight,
            "lr": lr,
            "momentum": momentum,
        }

    @torch.no_grad()
    def diagnose(self) -> dict[str, float]:
        """Teacher mask quality on the probe set (object precision, part recall, baselines)."""
        assert self.probe is not None
        pixels, masks = self.probe
        model = self.lodisc
        with model.attention.record() as rows:
            model.teacher_backbone(pixels.to(self.device))
        _, keep = pivotal_keep_mask(rows, model.cfg.keep_ratio)
        return mask_diagnostics(keep, masks, model.student.grid_size)

    def _log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl`` (rank 0)."""
        if not is_main():
            return
        if any(isinstance(v, float) and not math.isfinite(v) for v in record.values()):
            record = {k: (str(v) if isinstance(v, float) else v) for k, v in record.items()}
        with open(self.out / METRICS_NAME, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if "diagnostic" in record:
            logger.info("step %d mask diagnostic %s", record["step"], record["diagnostic"])
