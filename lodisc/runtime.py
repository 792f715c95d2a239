"""Device selection and distributed helpers that all work without a process group."""

from __future__ import annotations

import datetime
import logging
import os

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


class DeviceError(ValueError):
    """A device that does not exist or is not usable on this machine."""


def pick_device(name: str = "auto") -> torch.device:
    """Resolve ``auto``/``cpu``/``cuda``/``cuda:N`` once; callers pass the result down.

    Under torchrun, ``auto`` and ``cuda`` map to the local rank's GPU.

    Raises:
        DeviceError: an unknown device name, or CUDA asked for where it is not available.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} requested but CUDA is not available")
        if name == "cuda":
            # An explicit index: torch.cuda.set_device refuses a bare "cuda".
            local = (
                int(os.environ.get("LOCAL_RANK", 0))
                if is_distributed()
                else torch.cuda.current_device()
            )
            name = f"cuda:{local}"
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise DeviceError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from err
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def is_distributed() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of ranks; 1 without a process group."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank; 0 without a process group."""
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """True on rank 0 (the only rank that logs and writes files)."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True when torchrun's environment variables are present."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device_name: str) -> None:
    """Join the torchrun process group: NCCL on GPU, gloo on CPU. No-op outside torchrun."""
    if not launched_by_torchrun() or is_distributed():
        return
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    logger.info("joined process group: rank %d of %d (%s)", rank(), world_size(), backend)


def shutdown_distributed() -> None:
    """Leave the process group if one is active."""
    if is_distributed():
        dist.destroy_process_group()


@torch.no_grad()
def gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor from all ranks along dim 0 (identity on one process).

    Used for the teacher's keys, which carry no gradient (MoCo v3 ``concat_all_gather``).
    """
    if world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over ranks (for logging)."""
    if world_size() == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / world_size()
