"""bench/serve.py: the table states each figure and whether the goals are met."""

from __future__ import annotations

from bench.serve import format_table, parse_args, server_env

RESULT = {
    "p50_ratio": 1.2,
    "throughput_ratio": 0.7,
    "bare_batch1_p50_ms": 20.0,
    "encoder_batch_images_per_s": 60.0,
    "one_client_ms": [24.0, 35.0],
    "many_clients_ms": [290.0, 330.0],
    "many_clients_images_per_s": 42.0,
    "explain_cold_ms": [70.0, 200.0],
    "explain_warm_ms": [29.0, 40.0],
    "load_average": [1.5, 1.7],
}


def test_table_rows_and_verdicts() -> None:
    table = format_table(parse_args([]), RESULT)
    assert "| bare encoder, batch 1 | 20.0 |  | 50.0 |" in table
    assert "| /search, 16 clients | 290.0 | 330.0 | 42.0 |" in table
    assert "**1.2** (goal <= 1.3: met)" in table and "**0.7** (goal >= 0.8: MISSED)" in table


def test_server_settings_follow_the_flags() -> None:
    env = server_env(parse_args(["--max-batch", "4", "--threads", "2", "--clients", "16"]))
    assert env["LODISC_MAX_BATCH"] == "4" and env["LODISC_THREADS"] == "2"
    assert env["LODISC_MAX_CLIENT_REQUESTS"] == env["LODISC_MAX_CLIENT_IMAGES"] == "16"
