from pathlib import Path

import pytest
import torch

from lodisc.checkpoint import CheckpointError, load_encoder, read_checkpoint, save_checkpoint
from lodisc.config import EncoderConfig
from lodisc.models.encoder import Encoder


def test_round_trip_gives_identical_embeddings(
    tmp_path: Path, tiny_encoder_cfg: EncoderConfig
) -> None:
    encoder = Encoder(tiny_encoder_cfg).eval()
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"encoder": encoder.state_dict()}, tiny_encoder_cfg)
    loaded, cfg = load_encoder(path)
    images = torch.randn(3, 3, 32, 32)
    assert cfg == tiny_encoder_cfg
    assert torch.equal(loaded(images), encoder(images))
    assert read_checkpoint(path)["preprocessing"]["img_size"] == 32
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


def test_missing_corrupt_and_foreign_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_encoder(tmp_path / "none.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        load_encoder(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a LoDisc checkpoint"):
        load_encoder(foreign)


def test_truncated_checkpoint_is_refused(tmp_path: Path, tiny_encoder_cfg: EncoderConfig) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"encoder": Encoder(tiny_encoder_cfg).state_dict()}, tiny_encoder_cfg)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="ckpt.pt"):
        load_encoder(path)


def test_release_copy_keeps_only_the_encoder(
    tmp_path: Path, tiny_encoder_cfg: EncoderConfig
) -> None:
    from lodisc.checkpoint import save_release

    encoder = Encoder(tiny_encoder_cfg).eval()
    full = tmp_path / "full.pt"
    state = {
        "encoder": encoder.state_dict(),
        "optimizer": {"state": {}},
        "model": encoder.state_dict(),
    }
    save_checkpoint(full, state, tiny_encoder_cfg)
    save_release(full, tmp_path / "release.pt")
    payload = read_checkpoint(tmp_path / "release.pt")
    assert "optimizer" not in payload and "model" not in payload
    images = torch.randn(2, 3, 32, 32)
    assert torch.equal(load_encoder(tmp_path / "release.pt")[0](images), encoder(images))
