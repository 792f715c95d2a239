"""ONNX export CLI: ``python training/export_onnx.py --checkpoint CKPT --out model.onnx``.

The model has a dynamic batch axis and three outputs: ``embedding`` (B, D) L2-normalised,
``cls_attention`` (B, L, N) head-averaged CLS attention rows per layer (the service fuses them into
the LoDisc pivotal-region map) and ``patch_tokens`` (B, N, D) for patch correspondences. ONNX Runtime
is checked against PyTorch on a probe batch (cosine >= 0.999 for every output: embeddings, attention
rows, patch tokens); the last stdout line is JSON with ``cosine_min``. Hybrid encoders (a CNN stem
under the transformer) export the same three outputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from lodisc.atomic import atomic_path
from lodisc.checkpoint import CheckpointError, load_encoder
from lodisc.hashing import file_sha256
from lodisc.inference.image_preprocess import preprocessing_dict
from lodisc.models.encoder import Encoder

logger = logging.getLogger("training.export_onnx")

OUTPUT_NAMES = ["embedding", "cls_attention", "patch_tokens"]
MIN_COSINE = 0.999
PARITY_KEYS = ("cosine_min", "attention_cosine_min", "patch_cosine_min")


class ExplainingEncoder(nn.Module):
    """Wraps :meth:`Encoder.forward_explain` as a plain forward for tracing."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.encoder.forward_explain(images)


def export(checkpoint: Path, out: Path, opset: int) -> dict[str, float]:
    """Export, embed metadata, verify with ONNX Runtime; returns the check figures."""
    encoder, cfg = load_encoder(checkpoint, "cpu")
    wrapper = ExplainingEncoder(encoder).eval()
    probe = torch.randn(
        4, 3, cfg.img_size, cfg.img_size, generator=torch.Generator().manual_seed(0)
    )
    with atomic_path(out) as tmp:
        torch.onnx.export(
            wrapper,
            (probe,),
            str(tmp),
            input_names=["images"],
            output_names=OUTPUT_NAMES,
            dynamic_axes={name: {0: "batch"} for name in ["images", *OUTPUT_NAMES]},
            opset_version=opset,
            dynamo=False,
        )
        model = onnx.load(str(tmp))
        metadata = {
            "encoder_config": json.dumps(encoder.cfg.__dict__, default=list),
            "preprocessing": json.dumps(preprocessing_dict(cfg)),
            "checkpoint_sha256": file_sha256(checkpoint),
            "grid_size": json.dumps(list(encoder.grid_size)),
            "embed_dim": str(encoder.embed_dim),
        }
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        report = compare(wrapper, tmp, cfg.img_size)
        worst = min(report[key] for key in PARITY_KEYS)
        if worst < MIN_COSINE:
            raise CheckpointError(f"ONNX output differs from PyTorch: {report}")
    return report


@torch.no_grad()
def compare(wrapper: ExplainingEncoder, path: Path, img_size: int) -> dict[str, float]:
    """Cosine of ONNX Runtime vs PyTorch outputs (and the attention error) on a fresh batch of 5."""
    batch = torch.randn(5, 3, img_size, img_size, generator=torch.Generator().manual_seed(1))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(OUTPUT_NAMES, {"images": batch.numpy()})
    want = wrapper(batch)
    cosine = F.cosine_similarity(torch.from_numpy(got[0]), want[0], dim=1)
    return {
        "cosine_min": float(cosine.min()),
        "attention_cosine_min": float(
            F.cosine_similarity(torch.from_numpy(got[1]), want[1], dim=-1).min()
        ),
        "attention_max_abs_diff": float(np.abs(got[1] - want[1].numpy()).max()),
        "patch_cosine_min": float(
            F.cosine_similarity(torch.from_numpy(got[2]), want[2], dim=-1).min()
        ),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args(argv)
    try:
        report = export(Path(args.checkpoint), Path(args.out), args.opset)
    except (CheckpointError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"out": str(args.out), **report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
