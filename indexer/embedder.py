"""Embedding backends (ONNX Runtime by default, PyTorch on request) fed by parallel decode workers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lodisc.checkpoint import load_encoder, read_checkpoint
from lodisc.evaluation.embed import embed_batch
from lodisc.hashing import file_sha256
from lodisc.index_format.pivotal_tokens import tokens_per_item
from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import crop_uint8, normalise
from lodisc.inference.onnx_encoder import ModelError, OnnxEncoder
from lodisc.inference.pivotal import select_pivotal_tokens
from lodisc.runtime import pick_device

logger = logging.getLogger(__name__)
WORKER_NICENESS = 10  # added to the decode workers' niceness (Linux, macOS)


class Backend(Protocol):
    """Maps a (B, 3, S, S) float32 batch to (B, D) embeddings (and pivotal tokens)."""

    preprocessing: dict[str, Any]
    checkpoint_sha256: str
    name: str

    def embed(self, batch: np.ndarray) -> np.ndarray: ...

    def embed_with_tokens(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class OnnxBackend:
    """ONNX Runtime (CUDA execution provider when present)."""

    name = "onnxruntime"

    def __init__(self, path: Path, device: str) -> None:
        self.encoder = OnnxEncoder(path, device)
        self.preprocessing = self.encoder.preprocessing
        self.checkpoint_sha256 = self.encoder.checkpoint_sha256

    def embed(self, batch: np.ndarray) -> np.ndarray:
        return self.encoder.run(batch).embedding

    def embed_with_tokens(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, D) embeddings and (B, T, D) pivotal patch tokens."""
        out = self.encoder.run(batch, explain=True)
        assert out.cls_attention is not None and out.patch_tokens is not None
        count = tokens_per_item(out.patch_tokens.shape[1])
        return out.embedding, select_pivotal_tokens(out.cls_attention, out.patch_tokens, count)


class TorchBackend:
    """The PyTorch encoder of a checkpoint (bf16 autocast on CUDA)."""

    name = "pytorch"

    def __init__(self, path: Path, device: str) -> None:
        self.device = pick_device(device)
        self.encoder, _ = load_encoder(path, self.device)
        self.preprocessing = read_checkpoint(path)["preprocessing"]
        self.checkpoint_sha256 = file_sha256(path)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        return embed_batch(self.encoder, torch.from_numpy(batch), self.device).numpy()

    @torch.no_grad()
    def embed_with_tokens(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, D) embeddings and (B, T, D) pivotal patch tokens."""
        images = torch.from_numpy(batch).to(self.device)
        embedding, rows, patches = self.encoder.forward_explain(images)
        count = tokens_per_item(patches.shape[1])
        tokens = select_pivotal_tokens(rows.float().cpu().numpy(), patches.cpu().numpy(), count)
        return embedding.float().cpu().numpy(), tokens


def load_backend(path: Path, runtime: str, device: str) -> Backend:
    """``runtime`` auto picks ONNX Runtime for ``.onnx`` files and PyTorch for checkpoints."""
    if not path.is_file():
        raise ModelError(f"model not found: {path}")
    if runtime == "auto":
        runtime = "onnx" if path.suffix == ".onnx" else "torch"
    if runtime == "onnx":
        return OnnxBackend(path, device)
    return TorchBackend(path, device)


class _DecodeDataset(Dataset):
    """Decodes, resizes and crops one file in a worker (uint8: a quarter of float32's bytes to
    pass back); a failure yields ``None``."""

    def __init__(self, root: Path, paths: list[str], spec: dict[str, Any]) -> None:
        self.root, self.paths, self.spec = root, paths, spec

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None]:
        try:
            return index, crop_uint8(load_rgb(self.root / self.paths[index]), self.spec)
        except Exception as err:  # noqa: BLE001 - any decoder failure skips the file
            logger.warning("cannot decode %s: %s", self.paths[index], err)
            return index, None


def _collate(
    batch: list[tuple[int, np.ndarray | None]],
) -> tuple[list[int], torch.Tensor, list[int]]:
    """A tensor crosses the process boundary through shared memory, not a pickled copy."""
    ok = [(i, a) for i, a in batch if a is not None]
    failed = [i for i, a in batch if a is None]
    pixels = np.stack([a for _, a in ok]) if ok else np.zeros((0,), np.uint8)
    return [i for i, _ in ok], torch.from_numpy(pixels), failed


def _yield_to_encoder(_worker_id: int) -> None:
    """Decode workers run at a lower priority: they need a tenth of the CPU the encoder does, and
    preempting one of its intra-op threads stalls the whole parallel operator."""
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)


def decoded_batches(
    root: Path, paths: list[str], spec: dict[str, Any], batch_size: int, workers: int
) -> Iterator[tuple[list[int], np.ndarray, list[int]]]:
    """(indices, (B, 3, S, S) float32 batch, failed indices) with decoding in ``workers``
    processes; each batch is normalised here, vectorised."""
    loader = DataLoader(
        _DecodeDataset(root, paths, spec),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        prefetch_factor=4 if workers else None,
        worker_init_fn=_yield_to_encoder if workers else None,
    )
    for indices, pixels, failed in loader:
        batch = normalise(pixels.numpy(), spec) if len(indices) else np.zeros((0,), np.float32)
        yield indices, batch, failed
