from pathlib import Path

import pytest
import yaml

from lodisc.config import PretrainConfig
from training.overrides import apply_overrides

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


def test_yaml_round_trip_and_shipped_configs(tmp_path: Path) -> None:
    paper = PretrainConfig.from_yaml(CONFIGS / "paper_vit_b16.yaml")
    assert paper.encoder.arch == "vit_base_patch16_224" and paper.lodisc.temperature == 0.2
    assert paper.weight_decay == 0.5 and paper.epochs == 100 and paper.encoder.img_size == 224
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(paper.to_dict()))
    assert PretrainConfig.from_yaml(path) == paper
    assert PretrainConfig.from_yaml(CONFIGS / "tiny_cpu.yaml").encoder.img_size == 32


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("lodisc: {temprature: 0.1}\n")
    with pytest.raises(TypeError, match="temprature"):
        PretrainConfig.from_yaml(path)


def test_set_overrides_nested_fields() -> None:
    cfg = apply_overrides(PretrainConfig(), ["lodisc.temperature=0.1", "encoder.img_size=64"])
    assert cfg.lodisc.temperature == 0.1 and cfg.encoder.img_size == 64
    with pytest.raises(TypeError, match="unknown config key"):
        apply_overrides(PretrainConfig(), ["lodisc.nope=1"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        apply_overrides(PretrainConfig(), ["lodisc.temperature"])
