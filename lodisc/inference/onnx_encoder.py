"""The exported encoder in ONNX Runtime: embeddings, CLS attention rows and patch tokens."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

logger = logging.getLogger(__name__)

OUTPUTS = ("embedding", "cls_attention", "patch_tokens")


class ModelError(ValueError):
    """An ONNX model that is missing, unreadable or lacks LoDisc metadata, naming the file."""


@dataclass(frozen=True)
class EncoderOutputs:
    """Outputs for a batch: (B, D) embeddings; (B, L, N) attention rows and (B, N, D) patches."""

    embedding: np.ndarray
    cls_attention: np.ndarray | None = None
    patch_tokens: np.ndarray | None = None


def available_providers(device: str = "auto") -> list[str]:
    """ONNX Runtime execution providers for ``auto``/``cpu``/``cuda`` (CUDA only when present)."""
    have = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in have:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ModelError("device cuda requested but onnxruntime has no CUDA provider")
    return ["CPUExecutionProvider"]


class OnnxEncoder:
    """Loads ``model.onnx`` once; thread-safe ``run`` (ONNX Runtime sessions are).

    Args:
        path: the file written by ``training/export_onnx.py``.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: intra-op threads (0: ONNX Runtime's default).
    """

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model not found: {self.path}")
        options = ort.SessionOptions()
        # Spinning intra-op threads burn the cores that request handling and decoding need:
        # measured on 2 shared cores, batch-1 latency halved without it (bench/serve.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=available_providers(device)
            )
        except Exception as err:  # noqa: BLE001 - ORT raises several unrelated types
            raise ModelError(f"cannot load ONNX model {self.path}: {err}") from err
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.preprocessing: dict[str, Any] = json.loads(meta["preprocessing"])
            self.grid_size: tuple[int, int] = tuple(json.loads(meta["grid_size"]))  # type: ignore[assignment]
            self.embed_dim = int(meta["embed_dim"])
            self.checkpoint_sha256 = meta.get("checkpoint_sha256", "")
        except (KeyError, ValueError) as err:
            raise ModelError(f"{self.path} lacks LoDisc metadata ({err}); re-export it") from err
        self.input_name = self.session.get_inputs()[0].name

    @property
    def img_size(self) -> int:
        """Input side length in pixels."""
        return int(self.preprocessing["img_size"])

    def run(self, batch: np.ndarray, explain: bool = False) -> EncoderOutputs:
        """Encode a (B, 3, S, S) float32 batch; ``explain`` also returns attention and patches."""
        names = list(OUTPUTS) if explain else [OUTPUTS[0]]
        outputs = self.session.run(
            names, {self.input_name: np.ascontiguousarray(batch, np.float32)}
        )
        if explain:
            return EncoderOutputs(outputs[0], outputs[1], outputs[2])
        return EncoderOutputs(outputs[0])
