"""A random-init encoder checkpoint exported to ONNX: what the harness and benchmarks serve and index.

The weights do not matter to what is measured (latency, throughput, recovery), so no training.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lodisc.checkpoint import save_checkpoint
from lodisc.config import EncoderConfig
from lodisc.models.encoder import Encoder
from training import export_onnx


def export_random_model(cfg: EncoderConfig, out_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """Save a random-init ``Encoder(cfg)`` and export it with ``training/export_onnx.py``.

    Args:
        cfg: the encoder to build.
        out_dir: where ``model.pt`` and ``model.onnx`` are written (created if missing).
        seed: torch seed for the initial weights.

    Returns:
        (checkpoint path, ONNX path).

    Raises:
        RuntimeError: the export failed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    checkpoint, onnx = out_dir / "model.pt", out_dir / "model.onnx"
    save_checkpoint(checkpoint, {"encoder": Encoder(cfg).state_dict()}, cfg)
    code = export_onnx.main(["--checkpoint", str(checkpoint), "--out", str(onnx)])
    if code != 0:
        raise RuntimeError(f"ONNX export of {checkpoint} failed with exit code {code}")
    return checkpoint, onnx
