"""bench/profile_search.py: stacks are filed by their deepest known frame; the table says how."""

from __future__ import annotations

from bench.profile_search import format_table, stage_of


def test_stack_goes_to_its_deepest_known_stage() -> None:
    encoder = "run (uvicorn/main.py:1);_work (service/batcher.py:2);run (lodisc/onnx_encoder.py:3)"
    assert stage_of(encoder) == "encoder (onnxruntime run)"
    decode = "run (anyio/_backends/_asyncio.py:1);decode_opened (service/images.py:9)"
    assert stage_of(decode) == "image decode"
    assert stage_of("main (somewhere.py:1)") == "other"


def test_table_names_the_generator_and_the_sampling() -> None:
    load = {"generator": "wrk", "clients": 1, "requests": 500, "seconds": 18.0, "p50_ms": 20.1}
    load |= {"requests_per_s": 27.8, "server_cpu_pct": 101.0, "client_cpu_pct": 0.4}
    result = {"samples": 900, "share_pct": {"image decode": 12.5}, "load": load, "gil": True}
    table = format_table(result)
    assert "1 client(s) (wrk), 500 requests" in table and "client CPU 0.4 %" in table
    assert "900 py-spy samples of the thread holding the GIL" in table
    assert "| image decode | 12.5 |" in table
