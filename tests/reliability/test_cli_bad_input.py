"""``training/evaluate.py`` on bad input: exit code 2 and one clear line on stderr, no traceback.

(``pretrain.py`` and ``build_index.py`` have theirs in tests/training and tests/indexer; evaluate's
there covers only an unreadable checkpoint.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from lodisc.checkpoint import save_checkpoint
from lodisc.config import EncoderConfig
from lodisc.models.encoder import Encoder
from training import evaluate


@pytest.fixture(scope="module")
def random_checkpoint(
    tiny_encoder_cfg: EncoderConfig, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An untrained tiny encoder's checkpoint (evaluation only needs it to load)."""
    path = tmp_path_factory.mktemp("evaluate") / "checkpoint.pt"
    torch.manual_seed(0)
    save_checkpoint(path, {"encoder": Encoder(tiny_encoder_cfg).state_dict()}, tiny_encoder_cfg)
    return path


def make_data(case: str, tiny_data: Path, root: Path) -> Path:
    """A data folder that is wrong in the way ``case`` names."""
    data = root / case
    if case == "no_test_classes":
        (data / "test").mkdir(parents=True)
    elif case == "only_broken_images":
        for name in ("a", "b"):
            (data / "test" / name).mkdir(parents=True)
            (data / "test" / name / "x.png").write_bytes(b"not a png")
    elif case == "one_image":
        (data / "test" / "a").mkdir(parents=True)
        shutil.copy(next((tiny_data / "test").rglob("*.png")), data / "test" / "a" / "x.png")
    elif case == "probe_without_train":
        shutil.copytree(tiny_data / "test", data / "test")
    return data


@pytest.mark.parametrize(
    ("case", "extra", "message"),
    [
        ("missing", [], "data folder not found"),
        ("no_test_classes", [], "(no image files; expected"),
        ("only_broken_images", [], "no readable images"),
        ("one_image", [], "at least two items"),
        ("probe_without_train", ["--linear-probe"], "same class folders"),
        ("good", ["--batch-size", "0"], "batch_size should be a positive integer"),
        ("good", ["--num-workers", "-1"], "num_workers"),
        ("missing_checkpoint", [], "checkpoint not found"),
        ("good", ["--linear-probe", "--probe-epochs", "0"], "--probe-epochs must be at least 1"),
    ],
)
def test_evaluate_bad_input_is_a_clear_error(
    case: str,
    extra: list[str],
    message: str,
    random_checkpoint: Path,
    tiny_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = (
        tiny_data
        if case in ("good", "missing_checkpoint")
        else make_data(case, tiny_data, tmp_path)
    )
    checkpoint = tmp_path / "none.pt" if case == "missing_checkpoint" else random_checkpoint
    argv = ["--checkpoint", str(checkpoint), "--data", str(data), "--num-workers", "0", *extra]
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "device",
    [
        "tpu9",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here"),
        ),
    ],
)
def test_evaluate_unusable_device_is_a_clear_error(
    device: str, random_checkpoint: Path, tiny_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--checkpoint", str(random_checkpoint), "--data", str(tiny_data), "--device", device]
    assert evaluate.main([*argv, "--num-workers", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{device!r}" in err and "Traceback" not in err
