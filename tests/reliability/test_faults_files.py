"""Damaged files stop the service's start-up, or a CLI with exit code 2, naming the file.

``evaluate.py``/``export_onnx.py`` on a damaged checkpoint are covered by
tests/training/test_pretrain_cli.py::test_evaluate_and_export_refuse_bad_checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fault_files import FLIPPED_BIT, SERVICE_CASES, run_cli_case, run_service_case
from tests.reliability.fault_helpers import build_fault_index, build_fault_model


@pytest.mark.parametrize("case", list(SERVICE_CASES))
def test_service_start_up_refuses_a_damaged_file_naming_it(
    case: str, tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tmp_path: Path
) -> None:
    model, index = (
        build_fault_model(tmp_path_factory)[1],
        build_fault_index(tmp_path_factory, tiny_data),
    )
    result = run_service_case(case, model, index, tmp_path / "case")
    assert result.clean_failure and result.names_file, result.message


@pytest.mark.parametrize(
    "case",
    [
        "pretrain.py --resume",
        f"pretrain.py --resume, {FLIPPED_BIT}",
        "build_index.py --model",
        "build_index.py, gallery.sqlite scrambled",
    ],
)
def test_clis_refuse_a_damaged_checkpoint_or_database_naming_it(
    case: str, tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tmp_path: Path
) -> None:
    checkpoint, model = build_fault_model(tmp_path_factory)
    index = build_fault_index(tmp_path_factory, tiny_data)
    result = run_cli_case(case, checkpoint, model, tiny_data, index, tmp_path / "case")
    assert result.clean_failure and result.names_file, result.message
