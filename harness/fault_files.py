"""Damaged files: each must stop the service's start-up, or a CLI with exit code 2, with a message
naming the file (and no traceback).

Shared by tests/reliability/ (which assert on the results) and bench/faults.py (which tabulates them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from harness.fault_injection import flip_bit, run_cli, scramble, truncate
from indexer import build_index
from lodisc.index_format.layout import CATALOG_FILE, INDEX_FILE, MANIFEST, WORKING_DB
from lodisc.index_format.vectors import IndexFileError
from lodisc.inference.onnx_encoder import ModelError
from service.config import Settings
from service.main import create_app
from training import evaluate, export_onnx, pretrain
from training.engine import CHECKPOINT_NAME


@dataclass
class DamageResult:
    """How one entry point met one damaged file."""

    case: str
    entry: str  # what was started
    damaged: str  # the file
    clean_failure: bool  # exit code 2 (CLI) or a ModelError/IndexFileError (service start-up)
    names_file: bool
    message: str


def _generation(index_dir: Path) -> Path:
    return index_dir / json.loads((index_dir / MANIFEST).read_text())["generation"]


def _truncate_index(index_dir: Path, model: Path) -> Path:
    truncate(path := _generation(index_dir) / INDEX_FILE)
    return path


def _scramble_manifest(index_dir: Path, model: Path) -> Path:
    path = index_dir / MANIFEST
    scramble(path, path.stat().st_size // 3, 24)
    return path


def _truncate_model(index_dir: Path, model: Path) -> Path:
    truncate(model)
    return model


def _scramble_catalog(index_dir: Path, model: Path) -> Path:
    scramble(path := _generation(index_dir) / CATALOG_FILE, 0, 100)  # the SQLite header
    return path


SERVICE_CASES: dict[str, Callable[[Path, Path], Path]] = {
    "index.faiss truncated": _truncate_index,
    "manifest.json scrambled": _scramble_manifest,
    "model.onnx truncated": _truncate_model,
    "catalog.sqlite scrambled": _scramble_catalog,
}
FLIPPED_BIT = "a flipped bit in checkpoint.pt"
CLI_CASES = (
    "pretrain.py --resume",
    f"pretrain.py --resume, {FLIPPED_BIT}",
    "evaluate.py --checkpoint",
    "export_onnx.py --checkpoint",
    "build_index.py --model",
    "build_index.py, gallery.sqlite scrambled",
)


def damaged_copies(case: str, model: Path, index_dir: Path, work: Path) -> tuple[Path, Path, Path]:
    """Copies of ``model`` and ``index_dir`` in ``work``, one damaged as ``case`` says.

    Returns:
        (model copy, index copy, the damaged file).
    """
    work.mkdir(parents=True)
    model_copy, index_copy = work / model.name, work / "index"
    shutil.copy(model, model_copy)
    shutil.copytree(index_dir, index_copy)
    return model_copy, index_copy, SERVICE_CASES[case](index_copy, model_copy)


def run_service_case(case: str, model: Path, index_dir: Path, work: Path) -> DamageResult:
    """Start the app (lifespan included) on copies of ``model`` and ``index_dir``, one damaged."""
    model_copy, index_copy, damaged = damaged_copies(case, model, index_dir, work)
    settings = Settings(_env_file=None, model_path=model_copy, index_dir=index_copy)  # type: ignore[call-arg]
    try:
        with TestClient(create_app(settings)):
            return DamageResult(case, "service start-up", str(damaged), False, False, "started")
    except (ModelError, IndexFileError) as err:
        clean, message = True, str(err)
    except Exception as err:  # noqa: BLE001 - anything else is the defect being measured
        clean, message = False, f"{type(err).__name__}: {err}"
    return DamageResult(
        case, "service start-up", str(damaged), clean, str(damaged) in message, message
    )


def run_cli_case(
    case: str, checkpoint: Path, model: Path, data: Path, index_dir: Path, work: Path
) -> DamageResult:
    """Run one CLI in this process on a truncated ``checkpoint`` (one with a flipped bit, or a
    scrambled gallery DB, where the case says so)."""
    work.mkdir(parents=True)
    bad = work / "run" / CHECKPOINT_NAME
    bad.parent.mkdir()
    shutil.copy(checkpoint, bad)
    if case.endswith(FLIPPED_BIT):
        flip_bit(bad)
    else:
        truncate(bad)
    gallery = data / "test"
    if case.split(",")[0] == "pretrain.py --resume":
        main, argv = pretrain.main, ["--data", str(data), "--out", str(bad.parent), "--resume"]
    elif case == "evaluate.py --checkpoint":
        main, argv = evaluate.main, ["--checkpoint", str(bad), "--data", str(data)]
        argv += ["--num-workers", "0"]
    elif case == "export_onnx.py --checkpoint":
        main, argv = export_onnx.main, ["--checkpoint", str(bad), "--out", str(work / "m.onnx")]
    elif case == "build_index.py --model":
        main, argv = build_index.main, ["--model", str(bad), "--gallery", str(gallery)]
        argv += ["--out", str(work / "index"), "--workers", "0"]
    elif case == "build_index.py, gallery.sqlite scrambled":
        shutil.copytree(index_dir, work / "index")
        scramble(bad := work / "index" / WORKING_DB, 0, 100)
        main, argv = build_index.main, ["--model", str(model), "--gallery", str(gallery)]
        argv += ["--out", str(work / "index"), "--workers", "0"]
    else:
        raise ValueError(f"unknown case {case!r}")
    try:
        code, message = run_cli(main, argv)
    except Exception as err:  # noqa: BLE001 - a traceback is the defect being measured
        code, message = -1, f"{type(err).__name__}: {err}"
    return DamageResult(case, case.split(",")[0], str(bad), code == 2, str(bad) in message, message)


@dataclass
class UvicornStartup:
    """What ``uvicorn service.main:app`` prints and returns when start-up fails."""

    exit_code: int
    error_line: str  # the service's own one-line "cannot start the service: ..." log
    names_file: bool
    traceback_lines: int  # lines of traceback uvicorn/Starlette print after it


def run_uvicorn_startup(case: str, model: Path, index_dir: Path, work: Path) -> UvicornStartup:
    """Start the real server on copies of the files, one damaged as ``case`` says."""
    model_copy, index_copy, damaged = damaged_copies(case, model, index_dir, work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LODISC_")}
    env |= {"LODISC_MODEL_PATH": str(model_copy), "LODISC_INDEX_DIR": str(index_copy)}
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--port", "0"]
    done = subprocess.run(
        command, cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    lines = (done.stdout + done.stderr).splitlines()
    error = next((line for line in lines if "cannot start the service" in line), "")
    start = next((i for i, line in enumerate(lines) if "Traceback" in line), len(lines))
    end = next((i for i, line in enumerate(lines) if "startup failed" in line), len(lines))
    return UvicornStartup(done.returncode, error, str(damaged) in error, max(0, end - start))
