"""Model/index compatibility: the manifest must name this model's hash, size and preprocessing."""

from __future__ import annotations

from pathlib import Path

from lodisc.index_format.layout import MANIFEST
from lodisc.index_format.published import PublishedIndex
from lodisc.inference.onnx_encoder import OnnxEncoder

VERSION_CHARS = 12  # model_version: this many hex digits of the ONNX file's sha256


class IndexMismatchError(ValueError):
    """An index built for another model (sha256, embedding size or preprocessing differ)."""


def check_compatible(
    model_path: Path, model_sha256: str, encoder: OnnxEncoder, published: PublishedIndex
) -> None:
    """Refuse an index whose manifest does not describe this model, saying what differs.

    Raises:
        IndexMismatchError: naming the manifest and the model file.
    """
    manifest = published.manifest
    problems = []
    if manifest["model_sha256"] != model_sha256:
        problems.append(
            f"model_sha256 {str(manifest['model_sha256'])[:VERSION_CHARS]}... in the manifest, "
            f"{model_sha256[:VERSION_CHARS]}... for the model"
        )
    if int(manifest["dim"]) != encoder.embed_dim:
        problems.append(f"dim {manifest['dim']} in the manifest, {encoder.embed_dim} for the model")
    if manifest["preprocessing"] != encoder.preprocessing:
        problems.append(
            f"preprocessing {manifest['preprocessing']} in the manifest, "
            f"{encoder.preprocessing} for the model"
        )
    if problems:
        raise IndexMismatchError(
            f"index {published.root / MANIFEST} was not built with model {model_path}: "
            + "; ".join(problems)
            + ". Rebuild the index with this model, or serve the model it was built with."
        )
