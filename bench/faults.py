"""Fault injection, measured: every scenario of tests/reliability/ as one seeded run.

``kill -9`` of the indexer at N random points (start-up, between batches, inside embedding, inside
publish), then the rerun compared with an uninterrupted build; ``kill -9`` of training mid-epoch and
inside its checkpoint write, then ``--resume``; each damaged-file case against the service's
start-up and the CLIs; the indexer and training on a full disk (a tiny tmpfs; skipped where it
cannot be mounted); and ``/admin/reload`` on a real server under concurrent search load.

    python bench/faults.py [--seed 0] [--kills 8] [--extra-images 600] [--no-record]

The table is recorded as section "reliability_faults" of bench/RESULTS.md; the last stdout line is
JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common.results import record
from harness.fault_files import (
    CLI_CASES,
    SERVICE_CASES,
    run_cli_case,
    run_service_case,
    run_uvicorn_startup,
)
from harness.fault_indexer import (
    VECTOR_ATOL,
    draw_kill_plans,
    run_indexer_full_disk,
    run_indexer_kills,
)
from harness.fault_injection import (
    FullDiskRun,
    TmpfsUnavailableError,
    export_tiny_model,
    tmpfs,
    write_noise_images,
)
from harness.fault_reload import run_reload_under_load
from harness.fault_training import run_pretrain_full_disk, run_training_kills
from indexer.gallery_index import build_index
from lodisc.data.synthetic import generate_dataset

YES = {True: "yes", False: "**NO**"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kills", type=int, default=8, help="indexer kills (at least 3)")
    parser.add_argument("--extra-images", type=int, default=600, help="images the kills share")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    return parser.parse_args(argv)


Section = tuple[list[str], dict[str, Any]]  # markdown lines, figures for the JSON line


def indexer_section(work: Path, model: Path, data: Path, args: argparse.Namespace) -> Section:
    """The indexer kills, one row each, and the rerun against an uninterrupted build."""
    plans = draw_kill_plans(args.kills, args.seed)
    run = run_indexer_kills(work, model, data / "test", args.extra_images, args.seed, plans)
    rows = ["| # | planned | landed in | s after start | embedded | old index serves | temp left |"]
    rows.append("|---:|---|---|---:|---:|---|---|")
    for i, kill in enumerate(run.kills, 1):
        serves = kill.generation == run.old_generation and kill.self_top1
        rows.append(
            f"| {i} | {kill.plan} | {kill.landed} | {kill.seconds:.2f} | "
            f"{kill.embedded}/{run.total} | {YES[serves]} | {len(kill.leftovers)} |"
        )
    same = not run.differences and run.max_vector_diff <= VECTOR_ATOL and not run.leftovers
    rows.append(
        f"\nRerun after the last kill: {run.rerun['items']} items, {run.rerun['embedded']} embedded; "
        f"against an uninterrupted build of the same history: {len(run.differences)} manifest/"
        f"catalog differences (built_at and generation name ignored), max |vector difference| "
        f"{run.max_vector_diff:.1e} (tolerance {VECTOR_ATOL:.0e}), {len(run.leftovers)} temporary "
        f"files left: **{'same index' if same else 'DIFFERENT'}** ({run.seconds:.0f} s)."
    )
    serving = sum(k.generation == run.old_generation and k.self_top1 for k in run.kills)
    return rows, {
        "indexer_kills": len(run.kills),
        "indexer_kills_old_index_serving": serving,
        "indexer_landed": sorted({k.landed for k in run.kills}),
        "indexer_rerun_same": same,
        "max_vector_diff": run.max_vector_diff,
    }


def training_section(work: Path, data: Path, seed: int) -> Section:
    """Rows for the training kills and the resume."""
    run = run_training_kills(work, data, seed)
    rows = [
        "| kill | last step logged | checkpoint loads at step | checkpoint unchanged | temp left |"
    ]
    rows.append("|---|---:|---:|---|---:|")
    for kill in run.kills:
        step = "**unreadable**" if kill.checkpoint_step is None else str(kill.checkpoint_step)
        rows.append(
            f"| {kill.plan} | {kill.last_logged_step} | {step} | "
            f"{YES[kill.checkpoint_unchanged]} | {len(kill.leftovers)} |"
        )
    total = run.epochs * run.steps_per_epoch
    finished = run.exit_code == 0 and run.progress.get("step") == total
    once = run.logged_steps == list(range(1, total + 1))
    rows.append(
        f"\n`--resume` exit code {run.exit_code}, final step {run.progress.get('step')}/{total}, "
        f"every step logged once: {YES[once]}, {run.compared_steps} re-run steps' losses equal to the "
        f"killed runs' within {run.max_loss_rel_diff:.1e} (relative), {len(run.leftovers)} "
        f"temporary files left ({run.seconds:.0f} s)."
    )
    figures = {"training_resumed": finished and once and not run.leftovers}
    return rows, figures | {"training_loss_rel_diff": run.max_loss_rel_diff}


def files_section(work: Path, checkpoint: Path, model: Path, data: Path, index: Path) -> Section:
    """One row per damaged-file case."""
    results = [
        run_service_case(c, model, index, work / f"s{i}") for i, c in enumerate(SERVICE_CASES)
    ]
    results += [
        run_cli_case(c, checkpoint, model, data, index, work / f"c{i}")
        for i, c in enumerate(CLI_CASES)
    ]
    rows = ["| damaged file | started | refused cleanly | names the file | message |"]
    rows.append("|---|---|---|---|---|")
    for r in results:
        message = r.message.replace("|", "/")[:160]
        rows.append(
            f"| {r.case} | {r.entry} | {YES[r.clean_failure]} | {YES[r.names_file]} | {message} |"
        )
    startup = run_uvicorn_startup("index.faiss truncated", model, index, work / "uvicorn")
    rows.append(
        f"\nThe same truncated index under `uvicorn service.main:app`: exit code "
        f"{startup.exit_code}, the service's one-line error names the file: "
        f"{YES[startup.names_file]}; uvicorn then prints a {startup.traceback_lines}-line traceback."
    )
    clean = sum(r.clean_failure and r.names_file for r in results)
    return rows, {"damaged_files_refused_naming_the_file": f"{clean}/{len(results)}"}


def disk_section(work: Path, model: Path, data: Path, seed: int) -> Section:
    """Rows for the full-disk runs (a tmpfs each)."""
    gallery = work / "gallery"
    shutil.copytree(data / "test", gallery)
    write_noise_images(gallery / "noise", 300, seed)  # an index of a few hundred kilobytes
    cases = [
        ("indexer, 0 KiB free", "2m", lambda d: run_indexer_full_disk(d, model, gallery, 0)),
        (
            "indexer, 128 KiB free",
            "2m",
            lambda d: run_indexer_full_disk(d, model, gallery, 128 << 10),
        ),
        ("pretrain, 0 KiB free", "8m", lambda d: run_pretrain_full_disk(d, data, 0)),
        ("pretrain, 256 KiB free", "8m", lambda d: run_pretrain_full_disk(d, data, 256 << 10)),
    ]
    rows = ["| run | exit code | previous files unchanged | temp left | recovers | message |"]
    rows.append("|---|---:|---|---:|---|---|")
    passed = 0
    for i, (name, size, scenario) in enumerate(cases):
        try:
            with tmpfs(work / f"disk-{i}", size) as disk:
                result: FullDiskRun = scenario(disk)
        except TmpfsUnavailableError as err:
            rows.append(f"| {name} | skipped | | | | {err} |")
            continue
        ok = result.exit_code == 2 and "No space left on device" in result.message
        ok &= result.previous_unchanged and not result.leftovers and result.recovered
        passed += ok
        rows.append(
            f"| {name} | {result.exit_code} | {YES[result.previous_unchanged]} | "
            f"{len(result.leftovers)} | {YES[result.recovered]} | {result.message[:200]} |"
        )
    return rows, {"full_disk_clear_and_intact": f"{passed}/{len(cases)}"}


def reload_section(work: Path, model: Path, data: Path) -> Section:
    """One line for reloads under load."""
    run = run_reload_under_load(work, model, data / "train")
    figures = {"reload_requests": run.requests, "reload_failures": run.failure_count}
    figures["reload_stale_answers"] = run.stale_after_reload
    return [
        f"{run.clients} clients searching without pause on a real uvicorn while the index was "
        f"republished and `POST /admin/reload`ed {len(run.reload_statuses)} times (statuses "
        f"{run.reload_statuses}): {run.requests} requests, **{run.failure_count} failed**, "
        f"{run.stale_after_reload} answered from a generation older than one already reloaded; "
        f"answers per generation {list(run.per_generation.values())} ({run.seconds:.0f} s)."
    ], figures


def main(argv: list[str] | None = None) -> int:
    """Run every scenario, print the table and the JSON line, record the section."""
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lodisc-faults-") as tmp:
        work = Path(tmp)
        data = work / "data"
        generate_dataset(data, classes=4, per_class=8, size=32, seed=args.seed, test_per_class=4)
        checkpoint, model = export_tiny_model(work / "model", args.seed)
        index = work / "index"
        build_index(model, data / "test", index, index_kind="flat", workers=0)
        sections = [
            ("Indexer: `kill -9` at random points", indexer_section(work / "k", model, data, args)),
            ("Training: `kill -9`, then `--resume`", training_section(work / "t", data, args.seed)),
            ("Damaged files", files_section(work / "f", checkpoint, model, data, index)),
            ("Full disk (tmpfs)", disk_section(work / "d", model, data, args.seed)),
            ("`/admin/reload` under load", reload_section(work / "r", model, data)),
        ]
    summary: dict[str, Any] = {}
    for _, (_, figures) in sections:
        summary |= figures
    summary["seconds"] = round(time.perf_counter() - started, 1)
    body = "\n\n".join(f"### {title}\n\n" + "\n".join(rows) for title, (rows, _) in sections)
    body = body.replace(str(work), "$TMP")  # the run's temporary folder
    body += (
        f"\n\nSeed {args.seed}; tiny random-init ViT (32 px); {summary['seconds']:.0f} s in all."
    )
    print(body)
    if not args.no_record:
        record("reliability_faults", body)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
