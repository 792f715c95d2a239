"""Gallery items of a published index: catalog lookups and their image files, safely."""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

from lodisc.index_format.catalog import Item
from lodisc.index_format.published import PublishedIndex
from lodisc.inference.image_decode import load_rgb

logger = logging.getLogger(__name__)


class ItemNotFoundError(LookupError):
    """An unknown item id, or an item whose image is not available."""


class Gallery:
    """Items by id and their image files, which are only ever served from inside the gallery root.

    Args:
        published: the loaded index generation; a relative ``gallery_root`` in its manifest is
            taken relative to the index folder.
    """

    def __init__(self, published: PublishedIndex) -> None:
        self.catalog = published.catalog
        root = published.gallery_root
        self.root = (root if root.is_absolute() else published.root / root).resolve()

    def item(self, item_id: int) -> Item:
        """Catalog entry of an id.

        Raises:
            ItemNotFoundError: no such id in this index.
        """
        item = self.catalog.get([item_id]).get(item_id)
        if item is None:
            raise ItemNotFoundError(f"no item {item_id} in the index")
        return item

    def item_path(self, item_id: int) -> Path:
        """The image file of an item, which must lie inside the gallery root.

        Raises:
            ItemNotFoundError: unknown id, a path leaving the gallery root, or a missing file.
        """
        path = (self.root / self.item(item_id).path).resolve()
        if not path.is_relative_to(self.root):
            logger.warning("item %d points outside the gallery root: %s", item_id, path)
            raise ItemNotFoundError(f"the image of item {item_id} is not available")
        if not path.is_file():
            raise ItemNotFoundError(f"the image file of item {item_id} is missing")
        return path

    def load_image(self, item_id: int) -> Image.Image:
        """Decode a gallery item's image as RGB.

        Raises:
            ItemNotFoundError: as :meth:`item_path`, the file does not decode, or it is over
                Pillow's pixel guard (twice ``max_pixels``, set process-wide by the service).
        """
        path = self.item_path(item_id)
        try:
            return load_rgb(path)
        except Image.DecompressionBombError as err:
            raise ItemNotFoundError(f"the image of item {item_id} is too large: {err}") from err
        except (OSError, SyntaxError, ValueError) as err:
            raise ItemNotFoundError(
                f"the image of item {item_id} cannot be decoded: {err}"
            ) from err
