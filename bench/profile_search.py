"""Where a ``POST /search`` spends its time on a live server: py-spy samples by stage.

    python bench/profile_search.py [--seconds 20] [--clients 1] [--py-spy PATH] [--gil]

Starts ``uvicorn service.main:app`` (random-init ViT-Ti, a small synthetic gallery), drives it
with keep-alive JPEG uploads (``wrk`` where installed, harness/wrk_load.py; else the asyncio
clients of harness/search_load.py) while ``py-spy record`` samples the server's threads (idle
ones left out; with ``--gil`` only the thread holding the GIL: the Python work, since ONNX
Runtime releases it), then files each sampled stack under the first stage it matches.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from bench.common.results import report
from harness.live_server import LiveServer, run_server
from harness.random_model import export_random_model
from harness.search_load import HEADERS, query_bodies, run_load
from harness.wrk_load import run_wrk
from indexer.gallery_index import build_index
from lodisc.config import EncoderConfig
from lodisc.data.synthetic import generate_dataset

# (stage, substrings of a frame): a stack goes to the stage of its deepest frame that names one
# (every thread's root frame is threading.py or uvicorn's loop: the leaf side tells what it does).
STAGES = [
    ("encoder (onnxruntime run)", ("onnxruntime", "InferenceSession.run", "onnx_encoder.py")),
    ("vector search", ("faiss", "index_format/vectors.py", "milvus_store.py")),
    ("image decode", ("image_decode.py", "PIL/", "decode_budget.py", "images.py")),
    ("preprocess", ("image_preprocess.py",)),
    ("multipart parsing", ("multipart", "formparsers.py")),
    ("response (pydantic / JSON)", ("pydantic", "json", "responses.py", "encoders.py")),
    ("pivotal map (numpy)", ("pivotal.py",)),
    ("token coverage", ("calibration.py",)),
    ("metrics", ("prometheus",)),
    ("searcher, other", ("searcher.py",)),
    ("service middleware", ("service/middleware.py",)),
    ("batcher hand-off", ("batcher.py", "threading.py", "queue.py")),
    ("uvicorn / HTTP", ("uvicorn", "h11", "httptools")),
    ("starlette / FastAPI routing", ("starlette", "fastapi", "anyio")),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable")
    parser.add_argument("--gil", action="store_true", help="sample only the GIL holder")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def stage_of(stack: str) -> str:
    """The stage a collapsed stack (``root;...;leaf``) belongs to."""
    for frame in reversed(stack.split(";")):
        for stage, marks in STAGES:
            if any(mark in frame for mark in marks):
                return stage
    return "other"


def profile(args: argparse.Namespace, work: Path) -> dict:
    """Samples per stage while the load runs, and the load's figures."""
    _, model = export_random_model(EncoderConfig(arch="vit_tiny_patch16_224", img_size=224), work)
    data = generate_dataset(work / "data", classes=4, per_class=16, size=224, seed=0)
    build_index(model, data / "train", work / "index", "flat", "cpu", workers=0)
    bodies = query_bodies(data / "train")
    with run_server(model, work / "index", work) as server:
        run_load(server, bodies, args.clients, 3.0, 2.0)  # warm-up
        raw = work / "stacks.txt"
        spy = [args.py_spy, "record", "--pid", str(server.process.pid), "--format", "raw"]
        spy += ["--duration", str(int(args.seconds)), "--rate", "250", "-o", str(raw)]
        spy += ["--gil"] if args.gil else []
        sampler = threading.Thread(target=subprocess.run, args=(spy,), kwargs={"check": True})
        sampler.start()
        load = drive(server, bodies, args.clients, args.seconds - 2)
        sampler.join()
    samples: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples[stage_of(stack)] += int(count)
    total = sum(samples.values())
    shares = {stage: round(100 * n / total, 1) for stage, n in samples.most_common()}
    return {"samples": total, "share_pct": shares, "load": load, "gil": args.gil}


def drive(server: LiveServer, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """Searches for ``seconds`` from wrk (or the asyncio clients where wrk is missing): the
    load's figures, the server's and the clients' CPU included."""
    if shutil.which("wrk") is None:
        return {"generator": "asyncio clients"} | run_load(
            server, bodies, clients, seconds, 0.5
        ).__dict__
    cpu = server.cpu_seconds()
    wrk = run_wrk(f"{server.url}/search", bodies, HEADERS["content-type"], clients, seconds)
    server_cpu = server.cpu_seconds() - cpu
    return {
        "generator": "wrk",
        "clients": clients,
        "requests": wrk.requests,
        "seconds": round(wrk.seconds, 1),
        "p50_ms": round(wrk.p50_ms, 1),
        "requests_per_s": round(wrk.requests_per_s, 1),
        "server_cpu_pct": round(100 * server_cpu / wrk.seconds, 1),
        "client_cpu_pct": round(wrk.client_cpu_pct, 1),
    }


def format_table(result: dict) -> str:
    """RESULTS.md text."""
    load = result["load"]
    sampled = "the thread holding the GIL" if result["gil"] else "the server's busy threads"
    lines = [
        f"{load['clients']} client(s) ({load['generator']}), {load['requests']} requests in "
        f"{load['seconds']} s: p50 {load['p50_ms']} ms, {load['requests_per_s']} req/s, server "
        f"CPU {load['server_cpu_pct']} %, client CPU {load['client_cpu_pct']} %. "
        f"{result['samples']} py-spy samples of {sampled}, filed by stage:",
        "",
        "| stage | share of busy samples % |",
        "|---|---|",
    ]
    lines += [f"| {stage} | {share} |" for stage, share in result["share_pct"].items()]
    lines += [
        "",
        "Reading: with `--gil` a sample is Python work (ONNX Runtime's own threads and its call "
        "release the GIL), so the rows are where the milliseconds outside the encoder go; "
        "without it, py-spy counts a thread blocked in a lock or in the event loop's poll as busy "
        "when it cannot tell it is idle, and the hand-off and uvicorn rows hold waiting as well "
        "as work (250 samples per second per busy thread).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Profile, print the table and the JSON line, record the section."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = profile(args, Path(tmp))
    return report(format_table(result), result, "profile_search", args.no_record)


if __name__ == "__main__":
    sys.exit(main())
