import pytest

from lodisc.method.schedules import cosine_lr, cosine_momentum, local_weight_at


def test_cosine_lr_and_momentum_end_points() -> None:
    assert cosine_lr(0, 100, 1.0) == pytest.approx(1.0)
    assert cosine_lr(50, 100, 1.0) == pytest.approx(0.5)
    assert cosine_lr(100, 100, 1.0) == pytest.approx(0.0)
    assert cosine_lr(0, 100, 1.0, warmup=10) == pytest.approx(0.1)
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(100, 100, 0.99) == pytest.approx(1.0)


def test_local_weight_warmup_then_ramp() -> None:
    assert local_weight_at(0.5, 1.0, warmup_epochs=1.0, ramp_epochs=2.0) == 0.0
    assert local_weight_at(2.0, 1.0, warmup_epochs=1.0, ramp_epochs=2.0) == pytest.approx(0.5)
    assert local_weight_at(9.0, 1.0, warmup_epochs=1.0, ramp_epochs=2.0) == 1.0
    assert local_weight_at(0.0, 1.0, 0.0, 0.0) == 1.0
    assert local_weight_at(5.0, 0.0, 0.0, 0.0) == 0.0
