"""The UI reaches the model only through the service: no model-side import anywhere in ui/."""

from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "ui"
BANNED = {"torch", "torchvision", "timm", "onnxruntime", "onnx", "faiss", "lodisc", "service"}


def imported_roots(path: Path) -> set[str]:
    """Top-level package names a module imports (absolute imports only)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_ui_imports_no_model_code():
    modules = sorted(UI.rglob("*.py"))
    assert len(modules) >= 5
    offenders = {str(m.relative_to(UI)): imported_roots(m) & BANNED for m in modules}
    assert {name: roots for name, roots in offenders.items() if roots} == {}
