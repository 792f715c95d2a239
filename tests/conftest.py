"""Shared fixtures: a tiny ViT config, a tiny synthetic dataset and a tiny trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lodisc.config import EncoderConfig, LoDiscConfig, tiny_encoder_config
from lodisc.data.synthetic import generate_dataset

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "training" / "configs" / "tiny_cpu.yaml"
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_encoder_cfg() -> EncoderConfig:
    """A 2-block, 32-wide ViT at 32 px with 8-px patches (16 patches): milliseconds on CPU."""
    return tiny_encoder_config()


@pytest.fixture(scope="session")
def lodisc_cfg() -> LoDiscConfig:
    return LoDiscConfig()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 classes x 8 train / 4 test synthetic images at 32 px, with part masks."""
    out = tmp_path_factory.mktemp("data") / "synthetic"
    generate_dataset(out, classes=4, per_class=8, size=32, seed=0, test_per_class=4)
    return out


@pytest.fixture(scope="session")
def tiny_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder of a 2-epoch tiny pretraining run (checkpoint.pt, metrics.jsonl, config.yaml)."""
    from training.pretrain import main

    out = tmp_path_factory.mktemp("run")
    args = ["--data", str(tiny_data), "--out", str(out), "--config", str(TINY_CONFIG)]
    assert main([*args, "--batch-size", "8", "--set", "diagnostic_every=2"]) == 0
    return out
