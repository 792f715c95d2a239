"""Publishing generations (indexer/publish.py) and reading them back (lodisc/index_format: layout,
manifest, published, catalog): the folder layout, a format_version 2 manifest with a sha256 per
generation file, the previous generation kept and older ones removed, stale staging folders and
manifest temporaries removed, a flipped byte in index.faiss or catalog.sqlite refused naming the file,
a newer format_version refused naming it, and a version-1 manifest still read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.gallery_index import build_index
from indexer.publish import publish, remove_stale
from lodisc.index_format.layout import (
    CATALOG_FILE,
    GENERATION_FILES,
    INDEX_FILE,
    MANIFEST,
    TOKENS_FILE,
    WORKING_DB,
    is_generation,
)
from lodisc.index_format.manifest import (
    FORMAT_VERSION,
    current_generation,
    read_current_manifest,
    read_manifest,
)
from lodisc.index_format.published import load_published
from lodisc.index_format.vectors import IndexFileError

PER_RUN_KEYS = ("generation", "built_at", "files", "format_version")


@pytest.fixture()
def published(tiny_onnx: Path, gallery: Path, tmp_path: Path) -> Path:
    """An index folder with one published generation of the 16-image gallery."""
    out = tmp_path / "idx"
    build_index(tiny_onnx, gallery, out, index_kind="flat", device="cpu", workers=0)
    return out


def _generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir() and is_generation(p.name))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _republish(index_dir: Path) -> dict[str, Any]:
    """Publish the current generation's vectors again as a new generation."""
    current = load_published(index_dir)
    manifest = {k: v for k, v in current.manifest.items() if k not in PER_RUN_KEYS}
    tokens = np.load(index_dir / current.manifest["generation"] / TOKENS_FILE)
    return publish(
        index_dir,
        index_dir / WORKING_DB,
        current.index,
        manifest,
        manifest["model_sha256"],
        tokens,
    )


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _rewrite_manifest(index_dir: Path, **changes: Any) -> dict[str, Any]:
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


def test_publish_writes_a_generation_and_a_version_2_manifest(published: Path) -> None:
    manifest = read_manifest(published)
    generations = _generations(published)
    assert generations == [manifest["generation"]]
    generation = published / generations[0]
    assert sorted(p.name for p in generation.iterdir()) == sorted(GENERATION_FILES)
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert set(manifest["files"]) == set(GENERATION_FILES)
    for name, digest in manifest["files"].items():
        assert digest == _sha256(generation / name)
    assert (published / WORKING_DB).is_file()
    assert not [p for p in published.iterdir() if p.name.endswith(".tmp")]
    loaded = load_published(published)
    assert loaded.index.count == loaded.catalog.count == manifest["item_count"] == 16
    assert loaded.index.dim == manifest["dim"] == 64


def test_previous_generation_kept_and_older_removed(published: Path) -> None:
    first = current_generation(published)
    second = _republish(published)["generation"]
    assert _generations(published) == sorted([first, second])
    assert current_generation(published) == second and second > first  # names sort by time
    third = _republish(published)
    assert _generations(published) == sorted([second, third["generation"]])
    assert read_manifest(published) == {**third, "format_version": 2}
    loaded = load_published(published)
    assert loaded.root / third["generation"] == published / _generations(published)[-1]
    assert loaded.index.count == 16
    # Same vectors, new files: the checksums are of this generation's files.
    generation = published / third["generation"]
    assert third["files"][INDEX_FILE] == _sha256(generation / INDEX_FILE)


def test_publish_returns_the_manifest_it_wrote(published: Path) -> None:
    assert _republish(published) == read_manifest(published)


def test_remove_stale_deletes_staging_folders_and_manifest_temporaries(published: Path) -> None:
    staging = published / ".gen-20240101T000000000000Z.tmp"
    staging.mkdir()
    (staging / INDEX_FILE).write_bytes(b"half written")
    manifest_tmp = published / f".{MANIFEST}.k3j2h1.tmp"
    manifest_tmp.write_text("{", encoding="utf-8")
    kept = {p.name for p in published.iterdir()}
    other = published / "notes.tmp"  # not a name publish writes: left alone
    other.write_text("mine", encoding="utf-8")
    remove_stale(published)
    assert not staging.exists() and not manifest_tmp.exists() and other.exists()
    assert {p.name for p in published.iterdir()} == (kept - {staging.name, manifest_tmp.name}) | {
        other.name
    }
    assert load_published(published).index.count == 16


def test_publish_clears_what_an_interrupted_publish_left(published: Path) -> None:
    staging = published / ".gen-20240101T000000000000Z.tmp"
    staging.mkdir()
    manifest_tmp = published / f".{MANIFEST}.abc.tmp"
    manifest_tmp.write_text("{}", encoding="utf-8")
    _republish(published)
    assert not staging.exists() and not manifest_tmp.exists()


@pytest.mark.parametrize("name", [INDEX_FILE, CATALOG_FILE, TOKENS_FILE])
def test_flipped_byte_is_refused_naming_the_file(published: Path, name: str) -> None:
    path = published / current_generation(published) / name  # type: ignore[operator]
    _flip_byte(path, path.stat().st_size // 2)
    with pytest.raises(IndexFileError, match="does not match the sha256") as info:
        load_published(published)
    assert str(path) in str(info.value)


def test_newer_format_version_is_refused_naming_it(published: Path) -> None:
    _rewrite_manifest(published, format_version=99)
    with pytest.raises(IndexFileError, match="format_version 99") as info:
        load_published(published)
    assert str(published / MANIFEST) in str(info.value)
    assert read_current_manifest(published) is None and current_generation(published) is None


def test_non_integer_format_version_is_refused(published: Path) -> None:
    _rewrite_manifest(published, format_version="2")
    with pytest.raises(IndexFileError, match="format_version '2'"):
        read_manifest(published)


def test_version_1_manifest_is_still_read(published: Path, gallery: Path) -> None:
    manifest = _rewrite_manifest(published, format_version=None, files=None)
    assert "format_version" not in manifest and "files" not in manifest
    loaded = load_published(published)
    assert loaded.manifest == manifest
    assert loaded.index.count == loaded.catalog.count == 16
    assert loaded.gallery_root == gallery.resolve()
    items, total = loaded.catalog.page(0, 100)
    assert total == 16
    vectors = np.stack([loaded.index.reconstruct(item.id) for item in items[:3]])
    _, ids = loaded.index.search(vectors, 1)
    assert ids[:, 0].tolist() == [item.id for item in items[:3]]


def test_manifest_missing_required_fields_is_refused(published: Path) -> None:
    _rewrite_manifest(published, dim=None, gallery_root=None)
    with pytest.raises(IndexFileError, match=r"lacks \['dim', 'gallery_root'\]"):
        read_manifest(published)


def test_manifest_naming_a_missing_generation(published: Path) -> None:
    _rewrite_manifest(published, generation="gen-19990101T000000000000Z")
    assert current_generation(published) == "gen-19990101T000000000000Z"
    assert read_current_manifest(published) is None
    with pytest.raises(IndexFileError, match="index file not found"):
        load_published(published)


def test_no_manifest_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(IndexFileError, match="build_index"):
        load_published(tmp_path)
    assert current_generation(tmp_path) is None
