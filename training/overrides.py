"""``--set key.sub=value`` overrides of a :class:`PretrainConfig`, parsed as YAML scalars."""

from __future__ import annotations

import yaml

from lodisc.config import PretrainConfig


def apply_overrides(cfg: PretrainConfig, items: list[str]) -> PretrainConfig:
    """Return a new config with dotted-key overrides applied; unknown keys raise ``TypeError``."""
    data = cfg.to_dict()
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise TypeError(f"unknown config section {part!r} in --set {item!r}")
            node = node[part]
        if parts[-1] not in node:
            raise TypeError(f"unknown config key {key!r} in --set {item!r}")
        node[parts[-1]] = yaml.safe_load(raw)
    return PretrainConfig.from_dict(data)
