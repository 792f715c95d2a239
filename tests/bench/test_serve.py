"""bench/serve.py: the table states each encoder's figures and whether the goals are met."""

from __future__ import annotations

import shutil

from bench.common.serve_table import format_table
from bench.serve import parse_args, server_env

RESULT = {
    "arch": "vit_tiny_patch16_224",
    "load_generator": "wrk",
    "p50_ratio": 1.2,
    "throughput_ratio": 0.7,
    "p50_ratios": [1.19, 1.2, 1.25],
    "throughput_ratios": [0.7, 0.69, 0.72],
    "bare_batch1_p50_ms": 20.0,
    "encoder_batch_images_per_s": 60.0,
    "one_client_ms": [24.0, 35.0],
    "many_clients_ms": [290.0, 330.0],
    "many_clients_images_per_s": 42.0,
    "client_cpu_pct": 0.4,
    "explain_cold_ms": [70.0, 200.0],
    "explain_warm_ms": [29.0, 40.0],
    "load_average": [1.5, 1.7],
}


def test_table_rows_and_verdicts() -> None:
    slow = RESULT | {"arch": "vit_small_patch16_224", "p50_ratio": 1.35, "throughput_ratio": 0.9}
    table = format_table(parse_args(["--load", "wrk"]), [RESULT, slow])
    assert "| vit_tiny_patch16_224 | 20.0 | 24.0 / 35.0 | **1.200** met [1.19, 1.2, 1.25]" in table
    assert "| **0.700** MISSED [0.7, 0.69, 0.72] | 70 / 29 |" in table
    assert "| vit_small_patch16_224 |" in table and "**1.350** MISSED" in table
    assert "**0.900** met" in table and "`wrk`" in table and "0.4%" in table


def test_load_generator_defaults_to_wrk_where_installed() -> None:
    assert parse_args([]).load == ("wrk" if shutil.which("wrk") else "httpx")
    assert parse_args(["--load", "httpx"]).load == "httpx"


def test_server_settings_follow_the_flags() -> None:
    env = server_env(parse_args(["--max-batch", "4", "--threads", "2", "--clients", "16"]))
    assert env["LODISC_MAX_BATCH"] == "4" and env["LODISC_THREADS"] == "2"
    assert env["LODISC_MAX_CLIENT_REQUESTS"] == env["LODISC_MAX_CLIENT_IMAGES"] == "16"
