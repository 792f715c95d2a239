"""Service fixtures: a random-init tiny ONNX model, a published index of the synthetic gallery,
settings for them, and one running app shared by the read-only tests.

``settings`` (and so ``client``) is parametrised over the vector stores: the in-process FAISS
index and Milvus Lite (its own ``.db`` file: Milvus Lite is one process per file), so every test
that takes them runs against both back ends.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.gallery_index import build_index
from lodisc.checkpoint import save_checkpoint
from lodisc.config import EncoderConfig
from lodisc.data.synthetic import generate_dataset
from lodisc.models.encoder import Encoder
from service.batcher import MicroBatcher
from service.config import Settings
from service.main import create_app
from service.searcher import Searcher
from training import export_onnx

API_KEY = "test-admin-key"
VECTOR_STORES = ["faiss", "milvus-lite"]


def export_model(cfg: EncoderConfig, out: Path, seed: int = 0) -> Path:
    """A randomly initialised encoder of ``cfg`` exported to ONNX (no training: seconds)."""
    import torch

    torch.manual_seed(seed)
    checkpoint = out.with_suffix(".pt")
    save_checkpoint(checkpoint, {"encoder": Encoder(cfg).state_dict()}, cfg)
    assert export_onnx.main(["--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    return out


def make_settings(model: Path, index_dir: Path, **overrides: object) -> Settings:
    """Settings that ignore the environment's ``.env`` file and name the index's vector store."""
    values: dict[str, object] = {"model_path": model, "index_dir": index_dir, "api_key": API_KEY}
    manifest = Path(index_dir) / "manifest.json"
    if manifest.is_file():  # an index published into Milvus names its store
        entry = json.loads(manifest.read_text()).get("vector_store")
        if entry:
            values["vector_store"] = entry["uri"]
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[arg-type,call-arg]


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG header and a tiny IDAT claiming ``width x height`` pixels (never decodable)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 16)  # a few rows only: the file stays small
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def service_model(
    tiny_encoder_cfg: EncoderConfig, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return export_model(tiny_encoder_cfg, tmp_path_factory.mktemp("service-model") / "model.onnx")


@pytest.fixture(scope="session")
def other_model(tiny_encoder_cfg: EncoderConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same architecture with other weights: a different sha256, same dim and preprocessing."""
    out = tmp_path_factory.mktemp("other-model") / "model.onnx"
    return export_model(tiny_encoder_cfg, out, seed=1)


@pytest.fixture(scope="session")
def gallery(tiny_data: Path) -> Path:
    """32 synthetic images, 4 classes (folder names are the labels)."""
    return tiny_data / "train"


@pytest.fixture(scope="session")
def index_dir(service_model: Path, gallery: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("service-index")
    build_index(service_model, gallery, out, index_kind="flat", device="cpu", workers=0)
    return out


@pytest.fixture(scope="session")
def milvus_index_dir(
    service_model: Path, gallery: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The gallery published into a Milvus Lite file of its own."""
    pytest.importorskip("pymilvus")
    out = tmp_path_factory.mktemp("service-index-milvus")
    store = str(out.parent / f"{out.name}.db")
    build_index(service_model, gallery, out, "flat", "cpu", workers=0, vector_store=store)
    return out


@pytest.fixture(scope="session", params=VECTOR_STORES)
def settings(request: pytest.FixtureRequest, service_model: Path, index_dir: Path) -> Settings:
    if request.param == "faiss":
        return make_settings(service_model, index_dir)
    return make_settings(service_model, request.getfixturevalue("milvus_index_dir"))


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """One running app for the tests that do not change its state."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def gallery_files(gallery: Path) -> list[Path]:
    return sorted(gallery.rglob("*.png"))


@pytest.fixture(scope="session")
def bomb_bytes() -> bytes:
    """A 20000 x 20000 PNG of a few kilobytes."""
    return bomb_png()


@pytest.fixture(scope="session")
def settings_for() -> Callable[..., Settings]:
    """``make_settings`` for tests that need their own limits."""
    return make_settings


@pytest.fixture()
def batch_sizes() -> list[int]:
    """The size of each encoder call of ``searcher``, in order."""
    return []


@pytest.fixture()
def searcher(
    settings: Settings, settings_for: Callable[..., Settings], batch_sizes: list[int]
) -> Iterator[Searcher]:
    """A searcher without HTTP whose explain cache holds 4 items; its batches go to ``batch_sizes``."""
    small_cache = settings_for(settings.model_path, settings.index_dir, explain_cache_items=4)
    batcher = MicroBatcher(max_batch=8, on_batch=lambda size, _: batch_sizes.append(size))
    yield Searcher.load(small_cache.model_path, small_cache.index_dir, batcher, small_cache)
    batcher.close()


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


DEMO_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "demo" / "checkpoint.pt"


@pytest.fixture(scope="session")
def demo_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``LODISC_TEST_TRAINED_ONNX``, else the shipped demo model exported to ONNX."""
    named = os.environ.get("LODISC_TEST_TRAINED_ONNX")
    if named:
        return Path(named)
    if not DEMO_CHECKPOINT.is_file():
        pytest.skip(f"{DEMO_CHECKPOINT} is not in this checkout")
    out = tmp_path_factory.mktemp("demo") / "demo.onnx"
    assert export_onnx.main(["--checkpoint", str(DEMO_CHECKPOINT), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's synthetic set at a small size: 12 classes, 20 training and 6 test images each."""
    return generate_dataset(
        tmp_path_factory.mktemp("demo-data") / "synthetic",
        classes=12,
        per_class=20,
        size=64,
        seed=0,
        test_per_class=6,
        difficulty="easy",
    )
