"""OnnxEncoder (lodisc/inference/onnx_encoder.py): the metadata it reads (preprocessing, grid_size,
embed_dim), embeddings that are unit-norm and match PyTorch, the explain outputs' shapes and
attention rows, ModelError for a missing, non-ONNX or metadata-less file, and the execution
providers chosen for cpu/auto/cuda."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from lodisc.checkpoint import save_checkpoint
from lodisc.config import EncoderConfig
from lodisc.inference import onnx_encoder
from lodisc.inference.image_preprocess import preprocessing_dict
from lodisc.inference.onnx_encoder import ModelError, OnnxEncoder, available_providers
from lodisc.models.encoder import Encoder
from training import export_onnx

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


@pytest.fixture(scope="module")
def exported(
    tiny_encoder_cfg: EncoderConfig, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Encoder]:
    """A random-init tiny encoder exported to ONNX, and the PyTorch encoder it came from."""
    torch.manual_seed(0)
    encoder = Encoder(tiny_encoder_cfg).eval()
    folder = tmp_path_factory.mktemp("onnx-encoder")
    save_checkpoint(folder / "model.pt", {"encoder": encoder.state_dict()}, tiny_encoder_cfg)
    out = folder / "model.onnx"
    assert export_onnx.main(["--checkpoint", str(folder / "model.pt"), "--out", str(out)]) == 0
    return out, encoder


@pytest.fixture(scope="module")
def encoder(exported: tuple[Path, Encoder]) -> OnnxEncoder:
    return OnnxEncoder(exported[0], device="cpu", threads=1)


def _batch(cfg: EncoderConfig, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((size, 3, cfg.img_size, cfg.img_size)).astype(np.float32)


def _plain_onnx(path: Path, metadata: dict[str, str]) -> Path:
    """A valid one-node (Identity) ONNX model with the given metadata and no LoDisc outputs."""
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [None, 3, 32, 32])
    embedding = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, 3, 32, 32])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["embedding"])], "plain", [images], [embedding]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by any onnxruntime of the last years
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_metadata_is_read(encoder: OnnxEncoder, tiny_encoder_cfg: EncoderConfig) -> None:
    assert encoder.preprocessing == preprocessing_dict(tiny_encoder_cfg)
    assert encoder.img_size == 32
    assert encoder.grid_size == (4, 4)  # 32 px / 8-px patches
    assert encoder.embed_dim == 32
    assert len(encoder.checkpoint_sha256) == 64
    assert encoder.input_name == "images"


@pytest.mark.parametrize("size", [1, 3])
def test_run_gives_unit_norm_embeddings(
    encoder: OnnxEncoder, tiny_encoder_cfg: EncoderConfig, size: int
) -> None:
    out = encoder.run(_batch(tiny_encoder_cfg, size))
    assert out.embedding.shape == (size, 32) and out.embedding.dtype == np.float32
    assert np.allclose(np.linalg.norm(out.embedding, axis=1), 1.0, atol=1e-5)
    assert out.cls_attention is None and out.patch_tokens is None


def test_embeddings_match_pytorch(
    encoder: OnnxEncoder, exported: tuple[Path, Encoder], tiny_encoder_cfg: EncoderConfig
) -> None:
    batch = _batch(tiny_encoder_cfg, 4, seed=3)
    with torch.no_grad():
        want = exported[1](torch.from_numpy(batch)).numpy()
    got = encoder.run(batch).embedding
    assert np.abs(got - want).max() < 1e-4


def test_run_accepts_float64_and_non_contiguous(
    encoder: OnnxEncoder, tiny_encoder_cfg: EncoderConfig
) -> None:
    batch = _batch(tiny_encoder_cfg, 2)
    transposed = np.ascontiguousarray(batch.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not transposed.flags["C_CONTIGUOUS"]
    want = encoder.run(batch).embedding
    assert np.array_equal(encoder.run(transposed).embedding, want)
    assert np.allclose(encoder.run(batch.astype(np.float64)).embedding, want, atol=1e-6)


def test_explain_outputs(encoder: OnnxEncoder, tiny_encoder_cfg: EncoderConfig) -> None:
    batch = _batch(tiny_encoder_cfg, 3)
    out = encoder.run(batch, explain=True)
    assert out.cls_attention is not None and out.patch_tokens is not None
    layers = tiny_encoder_cfg.timm_kwargs["depth"]
    assert out.embedding.shape == (3, 32)
    assert out.cls_attention.shape == (3, layers, 16)  # (B, L, N)
    assert out.patch_tokens.shape == (3, 16, 32)  # (B, N, D)
    # Rows are the CLS token's softmax over CLS + patches, restricted to the patches.
    assert out.cls_attention.min() >= 0.0
    assert out.cls_attention.sum(axis=-1).max() <= 1.0 + 1e-5
    assert out.cls_attention.sum(axis=-1).min() > 0.0
    assert np.allclose(np.linalg.norm(out.patch_tokens, axis=-1), 1.0, atol=1e-5)
    assert np.allclose(out.embedding, encoder.run(batch).embedding, atol=1e-6)


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model not found") as info:
        OnnxEncoder(tmp_path / "absent.onnx", device="cpu")
    assert "absent.onnx" in str(info.value)


def test_non_onnx_file_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ModelError, match="cannot load ONNX model") as info:
        OnnxEncoder(path, device="cpu")
    assert str(path) in str(info.value)


def test_onnx_without_lodisc_metadata_is_a_model_error(tmp_path: Path) -> None:
    path = _plain_onnx(tmp_path / "plain.onnx", {})
    with pytest.raises(ModelError, match="lacks LoDisc metadata") as info:
        OnnxEncoder(path, device="cpu")
    assert str(path) in str(info.value) and "re-export" in str(info.value)


def test_onnx_with_unparsable_metadata_is_a_model_error(
    tmp_path: Path, tiny_encoder_cfg: EncoderConfig
) -> None:
    metadata = {
        "preprocessing": json.dumps(preprocessing_dict(tiny_encoder_cfg)),
        "grid_size": "[4, 4",  # truncated JSON
        "embed_dim": "32",
    }
    path = _plain_onnx(tmp_path / "broken-meta.onnx", metadata)
    with pytest.raises(ModelError, match="lacks LoDisc metadata"):
        OnnxEncoder(path, device="cpu")


def test_cpu_providers() -> None:
    assert available_providers("cpu") == [CPU]


def test_cuda_is_refused_without_the_cuda_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_encoder.ort, "get_available_providers", lambda: [CPU])
    with pytest.raises(ModelError, match="no CUDA provider"):
        available_providers("cuda")
    assert available_providers("auto") == [CPU]
    assert available_providers("cpu") == [CPU]


def test_cuda_provider_comes_first_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_encoder.ort, "get_available_providers", lambda: [CUDA, CPU])
    assert available_providers("cuda") == [CUDA, CPU]
    assert available_providers("auto") == [CUDA, CPU]
    assert available_providers("cpu") == [CPU]


def test_cuda_request_on_this_machine_matches_its_providers() -> None:
    import onnxruntime as ort

    if CUDA in ort.get_available_providers():
        assert available_providers("cuda")[0] == CUDA
    else:
        with pytest.raises(ModelError):
            available_providers("cuda")
