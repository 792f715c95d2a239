"""Device selection: names resolve once, CUDA always gets an explicit index."""

from __future__ import annotations

import pytest
import torch

from lodisc import runtime
from lodisc.runtime import DeviceError, pick_device


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> list[torch.device]:
    """CUDA reported available on device 0; ``set_device`` records its argument and, like
    torch, refuses a device without an index (the bug an H200 run found)."""
    calls: list[torch.device] = []

    def set_device(device: torch.device) -> None:
        if device.index is None:
            raise ValueError("Expected a torch.device with a specified index")
        calls.append(device)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    return calls


def test_cpu_and_auto_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto") == torch.device("cpu")


def test_cuda_without_cuda_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA is not available"):
        pick_device("cuda")


@pytest.mark.parametrize("name", ["tpu", "banana"])
def test_unknown_device_is_a_clear_error(name: str) -> None:
    with pytest.raises(DeviceError):
        pick_device(name)


@pytest.mark.parametrize("name", ["cuda", "auto"])
def test_bare_cuda_gets_the_current_index(name: str, fake_cuda: list[torch.device]) -> None:
    assert pick_device(name) == torch.device("cuda:0")
    assert fake_cuda == [torch.device("cuda:0")]


def test_explicit_index_is_kept(fake_cuda: list[torch.device]) -> None:
    assert pick_device("cuda:2") == torch.device("cuda:2")
    assert fake_cuda == [torch.device("cuda:2")]


def test_torchrun_maps_cuda_to_the_local_rank(
    fake_cuda: list[torch.device], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "is_distributed", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert pick_device("cuda") == torch.device("cuda:3")
    assert fake_cuda == [torch.device("cuda:3")]
