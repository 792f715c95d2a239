"""The searcher in service, swapped atomically on reload while requests finish on the old one."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from service.batcher import MicroBatcher
from service.config import Settings
from service.searcher import Searcher

logger = logging.getLogger(__name__)


@dataclass
class SearcherSlot:
    """The searcher in service; reload builds a new one aside and swaps the reference."""

    searcher: Searcher | None = None
    swap_lock: threading.Lock = field(default_factory=threading.Lock)
    reload_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def current(self) -> Searcher | None:
        """The searcher new requests get (requests keep the one they started with)."""
        return self.searcher

    def swap(self, new: Searcher | None) -> Searcher | None:
        """Put ``new`` in service atomically; returns the previous one."""
        with self.swap_lock:
            old, self.searcher = self.searcher, new
        return old


def reload_searcher(
    slot: SearcherSlot,
    batcher: MicroBatcher,
    settings: Settings,
    model_path: Path | None = None,
    index_dir: Path | None = None,
) -> Searcher:
    """Build a searcher off to the side, then swap it in (one reload at a time).

    Paths left out keep those of the searcher in service (or the settings' when there is none),
    so a bare reload picks up a newly published generation of the same index folder.

    Raises:
        ModelError, IndexFileError, IndexMismatchError: the old searcher stays in service.
    """
    with slot.reload_lock:
        current = slot.current
        if model_path is None:
            model_path = current.encoder.path if current else settings.model_path
        if index_dir is None:
            index_dir = current.published.root if current else settings.index_dir
        searcher = Searcher.load(model_path, index_dir, batcher, settings)
        slot.swap(searcher)
    logger.info("reloaded: %s", searcher.describe())
    return searcher
