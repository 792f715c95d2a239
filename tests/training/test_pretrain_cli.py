"""The CLI chain synthetic -> pretrain (tiny) -> evaluate -> export, resume, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from lodisc.checkpoint import read_checkpoint
from training import evaluate, export_onnx, pretrain

TINY = Path(__file__).resolve().parents[2] / "training" / "configs" / "tiny_cpu.yaml"


def _losses(out: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_pretrain_writes_config_metrics_and_checkpoint(tiny_run: Path) -> None:
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert config["batch_size"] == 8 and config["encoder"]["img_size"] == 32
    records = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    assert {"step", "loss_global", "loss_local", "lr", "momentum", "images_per_s", "wall_s"} <= set(
        steps[0]
    )
    walls = [r["wall_s"] for r in steps]
    assert walls[0] > 0 and walls == sorted(walls)
    assert steps[-1]["step"] == 8  # 2 epochs x 32 images / 8
    diagnostics = [r["diagnostic"] for r in records if "diagnostic" in r]
    assert diagnostics and 0.0 <= diagnostics[0]["keep_precision"] <= 1.0
    assert 0.0 < diagnostics[0]["object_base_rate"] < 1.0
    payload = read_checkpoint(tiny_run / "checkpoint.pt")
    assert payload["progress"] == {"epoch": 2, "batch_in_epoch": 0, "step": 8}
    assert {"optimizer", "encoder", "encoder_config", "preprocessing"} <= set(payload)


def test_evaluate_and_export(
    tiny_run: Path, tiny_data: Path, capsys: pytest.CaptureFixture
) -> None:
    ckpt = str(tiny_run / "checkpoint.pt")
    args = ["--checkpoint", ckpt, "--data", str(tiny_data), "--num-workers", "0"]
    assert evaluate.main([*args, "--linear-probe", "--probe-epochs", "5"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("rank1", "rank5", "mAP", "linear_top1", "linear_top5"):
        assert 0.0 <= result[key] <= 1.0
    assert result["queries"] == 16 and result["rank5"] >= result["rank1"]
    onnx_path = tiny_run / "model.onnx"
    assert export_onnx.main(["--checkpoint", ckpt, "--out", str(onnx_path)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["cosine_min"] >= 0.999 and onnx_path.stat().st_size > 0


def test_resume_continues_exactly(tiny_data: Path, tmp_path: Path) -> None:
    common = [
        "--data",
        str(tiny_data),
        "--config",
        str(TINY),
        "--batch-size",
        "8",
        "--set",
        "log_every=1",
        "--set",
        "diagnostic_every=1000",
    ]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert pretrain.main([*common, "--out", str(straight)]) == 0
    assert pretrain.main([*common, "--out", str(split), "--max-steps", "5"]) == 0  # mid-epoch 2
    assert read_checkpoint(split / "checkpoint.pt")["progress"]["step"] == 5
    assert pretrain.main([*common, "--out", str(split), "--resume"]) == 0
    want, got = _losses(straight), _losses(split)
    assert sorted(got) == list(range(1, 9))
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "nan"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes((tiny_run / "checkpoint.pt").read_bytes())
    before = (out / "checkpoint.pt").read_bytes()
    monkeypatch.setattr(
        "lodisc.models.lodisc_model.info_nce", lambda q, k, t: (q * torch.nan).sum()
    )
    data = yaml.safe_load((tiny_run / "config.yaml").read_text())["data"]
    code = pretrain.main(["--data", data, "--out", str(out), "--resume", "--epochs", "3"])
    assert code == 2
    assert "loss became nan" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "not found"),
        ("no_classes", "(no image files; expected"),
        ("out_is_file", "cannot write"),
        ("bad_yaml_key", "unknown"),
        ("other_arch_init", "does not fit"),
        ("exists", "--resume"),
        ("bad_device", "unknown device 'tpu9'"),
    ],
)
def test_bad_input_is_a_clear_error(
    case: str,
    message: str,
    tiny_data: Path,
    tiny_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    data, out = str(tiny_data), tmp_path / "out"
    extra: list[str] = ["--config", str(TINY)]
    if case == "missing":
        data = str(tmp_path / "nothing")
    elif case == "no_classes":
        (tmp_path / "flat").mkdir()
        data = str(tmp_path / "flat")
    elif case == "out_is_file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "sub"
    elif case == "bad_yaml_key":
        bad = tmp_path / "bad.yaml"
        bad.write_text("epochs: 1\nlodisc: {keep_ratoi: 0.3}\n")
        extra = ["--config", str(bad)]
    elif case == "other_arch_init":
        weights = tmp_path / "weights.pt"
        torch.save({"pos_embed": torch.zeros(1, 2, 3)}, weights)
        extra += ["--init", str(weights)]
    elif case == "exists":
        out = tiny_run
    elif case == "bad_device":
        extra += ["--device", "tpu9"]
    code = pretrain.main(["--data", data, "--out", str(out), *extra, "--batch-size", "8"])
    assert code == 2
    assert message in capsys.readouterr().err
    if case != "exists":
        assert not (out / "checkpoint.pt").exists()


def test_evaluate_and_export_refuse_bad_checkpoints(
    tmp_path: Path, tiny_data: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    assert evaluate.main(["--checkpoint", str(bad), "--data", str(tiny_data)]) == 2
    assert export_onnx.main(["--checkpoint", str(bad), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "bad.pt" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
