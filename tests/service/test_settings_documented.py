"""Every service setting is in the README's configuration table (by its environment name)."""

from __future__ import annotations

from pathlib import Path

from service.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented() -> None:
    table = README.read_text(encoding="utf-8").split("### Configuration", 1)[1].split("###", 1)[0]
    missing = [n for n in Settings.model_fields if f"`LODISC_{n.upper()}`" not in table]
    assert not missing, f"add to the README's configuration table: {missing}"
