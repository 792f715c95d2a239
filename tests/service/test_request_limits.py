"""Request-level limits: per-client search cap and queue share, batch part count, body timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from service.batcher import REQUEST_CLIENT, ClientShareError, MicroBatcher, QueueFullError
from service.config import Settings
from service.middleware import BodyLimitMiddleware, ClientLimitMiddleware, PartCounter


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"model_path": Path("m.onnx"), "index_dir": Path("i")}
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[arg-type,call-arg]


def http_scope(path: str, client: str, config: Settings, headers: list | None = None) -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers or [],
        "client": (client, 5000),
        "state": {"settings": config},
    }


def test_one_client_over_its_cap_gets_429_and_others_still_pass() -> None:
    release = asyncio.Event()
    statuses: list[int] = []

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def record(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def nothing() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def scenario() -> None:
        middleware = ClientLimitMiddleware(slow_app)
        config = settings(max_client_requests=2)
        heavy = [
            asyncio.ensure_future(
                middleware(http_scope("/search", "10.0.0.1", config), nothing, record)
            )
            for _ in range(3)
        ]
        await asyncio.sleep(0.01)
        assert statuses == [429]  # the third of the same client, at once
        normal = asyncio.ensure_future(
            middleware(http_scope("/search", "10.0.0.2", config), nothing, record)
        )
        release.set()
        await asyncio.gather(*heavy, normal)

    asyncio.run(scenario())
    assert sorted(statuses) == [200, 200, 200, 429]


def test_client_share_of_the_encoder_queue() -> None:
    batcher = MicroBatcher(max_queue=64, max_client_images=16)
    try:
        token = REQUEST_CLIENT.set("10.0.0.1")
        with batcher.admit(12), pytest.raises(ClientShareError, match="at most 16 per client"):
            with batcher.admit(8):
                pass
        with batcher.admit(40):  # a client holding nothing may exceed its share once
            pass
        REQUEST_CLIENT.reset(token)
        with batcher.admit(12):
            token = REQUEST_CLIENT.set("10.0.0.2")
            with batcher.admit(12):
                pass
            REQUEST_CLIENT.reset(token)
        assert issubclass(ClientShareError, QueueFullError)
    finally:
        batcher.close()


def test_part_counter_counts_boundaries_across_chunks() -> None:
    counter = PartCounter(b'multipart/form-data; boundary="abc123"')
    body = b"--abc123\r\nA\r\n--abc123\r\nB\r\n--abc123--\r\n"
    total = 0
    for start in range(0, len(body), 3):  # every delimiter cut by some chunk edge
        total = counter.feed(body[start : start + 3])
    assert total == 2  # two parts; the closing delimiter is not one
    assert PartCounter(b"application/json").feed(body) == 0


def run_body_limit(chunks: list[tuple[bytes, float]], path: str, **overrides: object) -> int:
    """Status (or raised HTTPException status) of a body streamed in timed chunks."""
    config = settings(**overrides)
    boundary = b"xyz"
    headers = [(b"content-type", b"multipart/form-data; boundary=" + boundary)]
    pending = list(chunks)

    async def receive() -> Message:
        body, delay = pending.pop(0)
        await asyncio.sleep(delay)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def reading_app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass

    async def ignore(message: Message) -> None:
        return None

    try:
        asyncio.run(
            BodyLimitMiddleware(reading_app)(
                http_scope(path, "c", config, headers), receive, ignore
            )
        )
    except HTTPException as err:
        return err.status_code
    return 200


def test_batch_parts_over_the_limit_are_refused_while_streaming() -> None:
    part = b"--xyz\r\ncontent-disposition: form-data; name=images\r\n\r\nDATA\r\n"
    assert run_body_limit([(part * 3 + b"--xyz--", 0.0)], "/search/batch", max_images=3) == 200
    assert (
        run_body_limit([(part * 4, 0.0), (b"--xyz--", 0.0)], "/search/batch", max_images=3) == 413
    )


def test_a_stalled_body_gets_408() -> None:
    chunks = [(b"--xyz\r\n", 0.0), (b"more", 0.5), (b"--xyz--", 0.0)]
    assert run_body_limit(chunks, "/search", body_timeout_s=0.1) == 408
    assert run_body_limit(chunks, "/search", body_timeout_s=2.0) == 200
