"""bench/loader.py: the previous views are rebuilt faithfully, and the run reports its figures."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from bench.loader import main, previous_views
from lodisc.config import AugmentConfig, EncoderConfig
from lodisc.method.views import RandomGaussianBlur


def test_previous_views_use_torchvision_blur_and_float_output() -> None:
    enc = EncoderConfig(img_size=32)
    transform = previous_views(AugmentConfig(), enc)
    steps = [t for view in (transform.view1, transform.view2) for t in view.transforms]
    inner = [s.transforms[0] for s in steps if isinstance(s, T.RandomApply)]
    assert any(isinstance(t, T.GaussianBlur) for t in inner)
    assert not any(isinstance(t, RandomGaussianBlur) for t in inner)
    view1, view2 = transform(Image.new("RGB", (40, 48), (120, 30, 200)))
    assert view1.dtype == view2.dtype == torch.float32 and view1.shape == (3, 32, 32)


def test_main_prints_positive_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["--no-record", "--images", "4", "--rounds", "1", "--source-size", "48", "--img-size", "32"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["two_view_ms"] > 0 and result["previous_two_view_ms"] > 0
    assert result["speedup"] == pytest.approx(
        result["previous_two_view_ms"] / result["two_view_ms"], rel=0.02
    )
