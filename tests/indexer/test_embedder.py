"""Embedding backends and decode workers (indexer/embedder.py): ``load_backend`` picks ONNX Runtime
for ``.onnx`` and PyTorch for checkpoints, the two agree within 1e-4 on one batch; ``decoded_batches``
yields indices in order, lists an undecodable file as failed without stopping, produces exactly
``preprocess_batch`` of the decoded images, and gives the same output with 0 or 1 worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.embedder import OnnxBackend, TorchBackend, decoded_batches, load_backend
from lodisc.inference.image_decode import load_rgb
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.onnx_encoder import ModelError


@pytest.fixture(scope="module")
def backends(tiny_onnx: Path, tiny_run: Path) -> tuple[OnnxBackend, TorchBackend]:
    onnx_backend = load_backend(tiny_onnx, "auto", "cpu")
    torch_backend = load_backend(tiny_run / "checkpoint.pt", "auto", "cpu")
    assert isinstance(onnx_backend, OnnxBackend) and isinstance(torch_backend, TorchBackend)
    return onnx_backend, torch_backend


def _relative(gallery: Path) -> list[str]:
    return [p.relative_to(gallery).as_posix() for p in sorted(gallery.rglob("*.png"))]


def _collect(
    gallery: Path, paths: list[str], spec: dict, batch_size: int, workers: int
) -> tuple[list[int], np.ndarray, list[int], list[int]]:
    """All indices, the concatenated batch, the failed indices and each batch's size."""
    indices: list[int] = []
    arrays: list[np.ndarray] = []
    failed: list[int] = []
    sizes: list[int] = []
    for batch_indices, batch, batch_failed in decoded_batches(
        gallery, paths, spec, batch_size, workers
    ):
        assert len(batch) == len(batch_indices)
        indices += batch_indices
        failed += batch_failed
        sizes.append(len(batch_indices) + len(batch_failed))
        if batch_indices:
            assert batch.dtype == np.float32
            arrays.append(batch)
    return indices, np.concatenate(arrays), failed, sizes


def test_runtime_auto_picks_by_suffix(
    backends: tuple[OnnxBackend, TorchBackend], tiny_onnx: Path, tiny_run: Path
) -> None:
    onnx_backend, torch_backend = backends
    assert (onnx_backend.name, torch_backend.name) == ("onnxruntime", "pytorch")
    assert onnx_backend.preprocessing == torch_backend.preprocessing
    # The ONNX file records the checkpoint it was exported from.
    assert onnx_backend.checkpoint_sha256 == torch_backend.checkpoint_sha256
    assert isinstance(load_backend(tiny_onnx, "onnx", "cpu"), OnnxBackend)
    assert isinstance(load_backend(tiny_run / "checkpoint.pt", "torch", "cpu"), TorchBackend)


def test_missing_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model not found"):
        load_backend(tmp_path / "absent.onnx", "auto", "cpu")


def test_onnx_and_torch_backends_agree(
    backends: tuple[OnnxBackend, TorchBackend], gallery: Path
) -> None:
    onnx_backend, torch_backend = backends
    images = [load_rgb(p) for p in sorted(gallery.rglob("*.png"))[:6]]
    batch = preprocess_batch(images, onnx_backend.preprocessing)
    got_onnx, got_torch = onnx_backend.embed(batch), torch_backend.embed(batch)
    assert got_onnx.shape == got_torch.shape == (6, 64)
    assert got_onnx.dtype == got_torch.dtype == np.float32
    assert np.abs(got_onnx - got_torch).max() < 1e-4
    assert np.allclose(np.linalg.norm(got_torch, axis=1), 1.0, atol=1e-5)


def test_decoded_batches_in_order_and_equal_to_preprocess_batch(
    backends: tuple[OnnxBackend, TorchBackend], gallery: Path
) -> None:
    spec = backends[0].preprocessing
    # A larger, non-square image: the resize and centre crop do real work on it.
    wide = gallery / sorted(p.name for p in gallery.iterdir())[0] / "wide.png"
    Image.effect_noise((57, 41), 60).convert("RGB").save(wide)
    paths = _relative(gallery)
    indices, batch, failed, sizes = _collect(gallery, paths, spec, 5, 0)
    assert indices == list(range(len(paths))) and failed == []
    assert sizes == [5, 5, 5, 2]  # 17 files in batches of 5
    want = preprocess_batch([load_rgb(gallery / p) for p in paths], spec)
    assert batch.shape == (17, 3, 32, 32)
    assert np.array_equal(batch, want)


def test_corrupt_file_is_reported_and_the_rest_decoded(
    backends: tuple[OnnxBackend, TorchBackend], gallery: Path
) -> None:
    spec = backends[0].preprocessing
    paths = _relative(gallery)
    (gallery / paths[6]).write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    indices, batch, failed, sizes = _collect(gallery, paths, spec, 4, 0)
    assert failed == [6]
    assert indices == [i for i in range(len(paths)) if i != 6]
    assert sizes == [4, 4, 4, 4]
    good = [load_rgb(gallery / paths[i]) for i in indices]
    assert np.array_equal(batch, preprocess_batch(good, spec))


def test_batch_of_only_corrupt_files_is_empty(
    backends: tuple[OnnxBackend, TorchBackend], tmp_path: Path
) -> None:
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"not an image")
    out = list(decoded_batches(tmp_path, ["a.png", "b.png"], backends[0].preprocessing, 2, 0))
    assert len(out) == 1
    indices, batch, failed = out[0]
    assert indices == [] and failed == [0, 1] and batch.size == 0


def test_one_worker_gives_the_same_output_as_none(
    backends: tuple[OnnxBackend, TorchBackend], gallery: Path
) -> None:
    spec = backends[0].preprocessing
    paths = _relative(gallery)
    (gallery / paths[3]).write_bytes(b"truncated")
    inline = _collect(gallery, paths, spec, 6, 0)
    worker = _collect(gallery, paths, spec, 6, 1)
    assert inline[0] == worker[0] and inline[2] == worker[2] == [3]
    assert inline[3] == worker[3]
    assert np.array_equal(inline[1], worker[1])
