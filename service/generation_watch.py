"""Every replica follows the published generation: a reload reaches them all without a fan-out.

With several workers (``LODISC_WORKERS``) or containers behind one address, ``POST
/admin/reload`` lands on one of them. Instead, each process polls its index folder's manifest
every ``LODISC_WATCH_INTERVAL_S`` seconds (one small file read) and, when it names a generation
other than the one in service, loads it aside and swaps it in, as the admin reload does. A
generation that fails to load (a model mismatch, a damaged file) is logged once and skipped; the
previous one stays in service.
"""

from __future__ import annotations

import logging
import threading

from lodisc.index_format.manifest import current_generation
from lodisc.index_format.vectors import IndexFileError
from lodisc.inference.onnx_encoder import ModelError
from service.batcher import MicroBatcher
from service.compatibility import IndexMismatchError
from service.config import Settings
from service.searcher_slot import SearcherSlot, reload_searcher

logger = logging.getLogger(__name__)


class GenerationWatch:
    """A daemon thread reloading ``slot`` when its index folder publishes a new generation."""

    def __init__(self, slot: SearcherSlot, batcher: MicroBatcher, settings: Settings) -> None:
        self.slot, self.batcher, self.settings = slot, batcher, settings
        self._stop = threading.Event()
        self._skipped: str | None = None  # a generation that failed to load
        self._thread = threading.Thread(target=self._run, name="generation-watch", daemon=True)

    def start(self) -> GenerationWatch:
        """Start polling (every ``settings.watch_interval_s`` seconds)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling (at shutdown)."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.watch_interval_s):
            self.check()

    def check(self) -> bool:
        """Reload if the manifest names another generation; returns whether it swapped."""
        searcher = self.slot.current
        if searcher is None:
            return False
        published = current_generation(searcher.published.root)
        serving = str(searcher.published.manifest["generation"])
        if published is None or published in (serving, self._skipped):
            return False
        try:
            reload_searcher(self.slot, self.batcher, self.settings)
        except (ModelError, IndexFileError, IndexMismatchError, OSError) as err:
            logger.error(
                "generation %s not loaded, %s stays in service: %s", published, serving, err
            )
            self._skipped = published
            return False
        logger.info("now serving generation %s (was %s)", published, serving)
        return True


def start_generation_watch(
    slot: SearcherSlot, batcher: MicroBatcher, settings: Settings
) -> GenerationWatch | None:
    """A running watch, or None when ``LODISC_WATCH_INTERVAL_S`` is 0 (reload by admin call only)."""
    if settings.watch_interval_s <= 0:
        return None
    return GenerationWatch(slot, batcher, settings).start()
