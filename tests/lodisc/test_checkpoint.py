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


def test_a_flipped_bit_in_a_weight_is_refused(
    tmp_path: Path, tiny_encoder_cfg: EncoderConfig
) -> None:
    path = tmp_path / "ckpt.pt"
    weights = {"encoder": Encoder(tiny_encoder_cfg).state_dict(), "big": torch.randn(256, 256)}
    save_checkpoint(path, weights, tiny_encoder_cfg)
    data = bytearray(path.read_bytes())
    stored = torch.load(path, weights_only=True)  # what torch alone makes of a flipped bit:
    data[len(data) // 2] ^= 0x10  # inside "big", the largest record
    path.write_bytes(bytes(data))
    flipped = torch.load(path, weights_only=True)
    assert (flipped["big"] != stored["big"]).sum() == 1  # ... it loads, one weight changed
    with pytest.raises(CheckpointError, match="ckpt.pt is damaged"):
        read_checkpoint(path)


def test_digest_covers_every_value_and_older_checkpoints_load(
    tmp_path: Path, tiny_encoder_cfg: EncoderConfig
) -> None:
    from lodisc.checkpoint import DIGEST_KEY, content_digest

    state = {"encoder": Encoder(tiny_encoder_cfg).state_dict(), "progress": {"step": 3}}
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, state, tiny_encoder_cfg)
    payload = read_checkpoint(path)
    assert payload[DIGEST_KEY] == content_digest(payload)
    for change in ({"progress": {"step": 4}}, {"progress": {"step": 3, "epoch": 0}}):
        assert content_digest(payload | change) != payload[DIGEST_KEY]
    assert content_digest({"t": torch.zeros(2, 3)}) != content_digest({"t": torch.zeros(3, 2)})
    del payload[DIGEST_KEY]  # a checkpoint from before the digest
    torch.save(payload, path)
    assert read_checkpoint(path)["progress"] == {"step": 3}
