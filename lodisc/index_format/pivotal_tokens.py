"""Each item's pivotal patch tokens, stored compactly beside the index for re-ranking and
calibration: ``<generation>/pivotal_tokens.npy``, (N, T, D) float16 in ascending id order (the
catalog's), T = ``round(PIVOTAL_TOKEN_SHARE * patches)`` most pivotal patches of each item, L2-
normalised. Memory-mapped at load, so only the rows a query touches are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lodisc.atomic import atomic_path
from lodisc.index_format.vectors import IndexFileError

PIVOTAL_TOKEN_SHARE = 0.30  # LoDisc's keep ratio: the patches its local branch trains on
TOKEN_DTYPE = np.float16


def tokens_per_item(num_patches: int, share: float = PIVOTAL_TOKEN_SHARE) -> int:
    """How many pivotal tokens are kept of an image with ``num_patches`` patches."""
    return max(1, int(round(share * num_patches)))


def write_pivotal_tokens(path: Path, tokens: np.ndarray) -> None:
    """Write (N, T, D) tokens as float16 atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(tokens, dtype=TOKEN_DTYPE))


@dataclass(frozen=True)
class PivotalTokens:
    """Stored pivotal tokens of a generation, rows aligned with ``ids`` (ascending)."""

    ids: np.ndarray  # (N,) int64 ascending
    tokens: np.ndarray  # (N, T, D) float16, memory-mapped

    @property
    def bytes_per_item(self) -> int:
        """Storage of one item's tokens."""
        return int(self.tokens.shape[1] * self.tokens.shape[2] * self.tokens.itemsize)

    def of(self, item_ids: np.ndarray) -> np.ndarray:
        """(K, T, D) float32 tokens of the given ids (all must be stored)."""
        rows = np.searchsorted(self.ids, item_ids)
        return np.asarray(self.tokens[rows], dtype=np.float32)


def load_pivotal_tokens(path: Path, ids: np.ndarray) -> PivotalTokens | None:
    """Memory-map a generation's tokens (None where the generation has none: older indexes).

    Raises:
        IndexFileError: a file that is unreadable or does not match the catalog.
    """
    if not path.is_file():
        return None
    try:
        tokens = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as err:
        raise IndexFileError(f"cannot read {path}: {err}") from err
    if tokens.ndim != 3 or len(tokens) != len(ids):
        raise IndexFileError(
            f"{path} holds {tokens.shape} tokens for {len(ids)} catalog items: rebuild the index"
        )
    return PivotalTokens(np.asarray(ids, dtype=np.int64), tokens)
