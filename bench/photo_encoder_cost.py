"""What the photo encoder costs against the ViT-Ti demo encoder, in one run.

    python -m bench.photo_encoder_cost [--gallery ../shared/data/flowers12/test] [--queries 40]

Both exported to ONNX; the same gallery indexed by each (images/s of ``build_index``, one decode
worker, from an empty index folder), then ``/search`` p50 through the app with requests alternating
between the two services.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from fastapi.testclient import TestClient

from bench.common.results import record
from harness.trust_study import alternating_p50_ms, image_paths
from indexer.gallery_index import build_index
from lodisc.config import PretrainConfig
from service.config import Settings
from service.main import create_app
from training import export_onnx
from training.adapt_photos import RECIPE, pretrained_start

REPO = Path(__file__).resolve().parents[1]
DEMO_CHECKPOINT = REPO / "models" / "demo" / "checkpoint.pt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gallery", type=Path, default=REPO.parent / "shared" / "data" / "flowers12" / "test"
    )
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo_checkpoint = pretrained_start(PretrainConfig.from_yaml(RECIPE), work / "photo")
        models = {
            "demo ViT-Ti (64 px)": DEMO_CHECKPOINT,
            "photo encoder (224 px)": photo_checkpoint,
        }
        clients = {}
        count = len(image_paths(args.gallery))
        for name, checkpoint in models.items():
            onnx = work / f"{len(clients)}.onnx"
            assert export_onnx.main(["--checkpoint", str(checkpoint), "--out", str(onnx)]) == 0
            index = work / f"index{len(clients)}"
            start = time.perf_counter()
            build_index(onnx, args.gallery, index, index_kind="flat", workers=1)
            rate = count / (time.perf_counter() - start)
            settings = Settings(_env_file=None, model_path=onnx, index_dir=index)  # type: ignore[call-arg]
            clients[name] = TestClient(create_app(settings))
            rows.append([name, rate])
        queries = image_paths(args.gallery)[:: max(1, count // args.queries)][: args.queries]
        with ExitStack() as stack:
            for client in clients.values():
                stack.enter_context(client)
            p50 = alternating_p50_ms(clients, queries)
    lines = [
        f"Gallery {args.gallery.parent.name}/{args.gallery.name} ({count} images), "
        f"{len(queries)} queries alternating; "
        f"load average {load:.1f} at the start.",
        "",
        "| encoder | indexing images/s | /search p50 ms |",
        "|---|---|---|",
    ]
    for name, rate in rows:
        lines.append(f"| {name} | {rate:.1f} | {p50[name]:.1f} |")
    demo, photo = p50.values()
    lines += [
        "",
        f"Photo / demo `/search` p50: {photo / demo:.2f}x; indexing: {rows[0][1] / rows[1][1]:.2f}x slower.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_record:
        record("photo_encoder_cost", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
