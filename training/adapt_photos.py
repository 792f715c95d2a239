"""Adapt the photo encoder to a folder of your own photos: ``python training/adapt_photos.py
--data DIR --work WORK``; the last line printed is the checkpoint to index and serve with.

The run is cached by the folder's content (relative paths, sizes, modification times), so a second
call on an unchanged folder answers in a second; an interrupted run resumes where its last epoch
checkpoint left it; ``--minutes`` bounds the training time (it stops with a checkpoint). Folders too
small for one batch get the pretrained start unchanged (it retrieves as well as ImageNet
EfficientNet-Lite0 features), since contrastive adaptation needs a batch of images to contrast.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
from pathlib import Path

from lodisc.checkpoint import save_checkpoint
from lodisc.config import PretrainConfig
from lodisc.data.image_folders import DataError, list_images
from lodisc.models.lodisc_model import LoDiscModel
from training.init_weights import initialise, read_init

logger = logging.getLogger("training.adapt_photos")

RECIPE = Path(__file__).resolve().parent / "configs" / "photo_cpu.yaml"
DONE = "adapted.txt"  # written after a run that finished, naming the checkpoint
HANG_MARGIN_S = 600  # beyond the time budget: model loading, the last step, the checkpoint


def folder_fingerprint(folder: Path) -> str:
    """Hex digest of the folder's image files (relative path, size, mtime): its content key."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def pretrained_start(cfg: PretrainConfig, out: Path) -> Path:
    """Save the photo encoder at step 0 (the Lite0 stem, near-identity transformer)."""
    model = LoDiscModel(cfg.encoder, cfg.lodisc)
    initialise(model, read_init(cfg.init))
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"
    save_checkpoint(checkpoint, {"encoder": model.student.state_dict()}, cfg.encoder)
    return checkpoint


def adapt(data: Path, work: Path, minutes: float, recipe: Path) -> Path:
    """The adapted checkpoint of ``data`` (cached, resumed, or trained now)."""
    images = list_images(data)  # DataError with a clear message: no images, unreadable, ...
    cfg = PretrainConfig.from_yaml(recipe)
    out = work / f"photos-{folder_fingerprint(data)}"
    if (out / DONE).is_file():
        logger.info("reusing the encoder adapted to %s: %s", data, out)
        return out / "checkpoint.pt"
    if len(images.paths) < cfg.batch_size:
        logger.warning(
            "%d readable image(s) in %s, fewer than one batch of %d: serving the pretrained start "
            "without adaptation",
            len(images.paths),
            data,
            cfg.batch_size,
        )
        checkpoint = pretrained_start(cfg, out)
    else:
        checkpoint = train(data, out, minutes, recipe)
    (out / DONE).write_text(f"{checkpoint}\n")
    return checkpoint


def train(data: Path, out: Path, minutes: float, recipe: Path) -> Path:
    """Run the recipe in a child process that stops itself after ``minutes`` (saving a
    resumable checkpoint), resuming an interrupted run."""
    script = Path(__file__).resolve().parent / "pretrain.py"
    command = [sys.executable, str(script), "--data", str(data), "--out", str(out)]
    command += ["--config", str(recipe), "--max-minutes", str(minutes)]
    if (out / "checkpoint.pt").is_file():
        command.append("--resume")
    logger.info("adapting the photo encoder to %s (at most %.0f minutes)", data, minutes)
    # The run stops itself at the budget; the hard limit only guards against a hung process.
    try:
        result = subprocess.run(command, timeout=minutes * 60 + HANG_MARGIN_S, check=False)
    except subprocess.TimeoutExpired:
        raise DataError(f"adapting the encoder did not stop after {minutes:.0f} minutes") from None
    if result.returncode != 0:
        raise DataError(f"adapting the encoder failed (exit {result.returncode}); see above")
    return out / "checkpoint.pt"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit code."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, type=Path, help="a folder of photos")
    parser.add_argument("--work", required=True, type=Path, help="where adapted runs are kept")
    parser.add_argument("--minutes", type=float, default=30.0, help="time limit of the training")
    parser.add_argument("--config", type=Path, default=RECIPE, help="the recipe")
    args = parser.parse_args(argv)
    try:
        checkpoint = adapt(args.data.resolve(), args.work, args.minutes, args.config)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
