"""keliu imports onnxruntime only through keliu.vision.onnx_runtime, which switches telemetry off first.

The end-to-end proof (no file under ``~/.cache/Microsoft`` after every model-loading command) is
tests/slow/test_no_telemetry.py; this test keeps a new ``import onnxruntime`` from slipping in.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import keliu

SRC = Path(keliu.__file__).parent
HELPER = SRC / "vision" / "onnx_runtime.py"


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _runtime_imports(tree: ast.AST) -> list[int]:
    """Line numbers of ``import onnxruntime`` / ``from onnxruntime …`` outside ``if TYPE_CHECKING:``."""
    found: list[int] = []

    def visit(node: ast.AST) -> None:
        if _is_type_checking_block(node):
            return
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "onnxruntime" for a in node.names):
            found.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "onnxruntime":
            found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_only_the_helper_imports_onnxruntime() -> None:
    offenders = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path != HELPER and (lines := _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not offenders, f"import onnxruntime through keliu.vision.onnx_runtime: {offenders}"
    assert _runtime_imports(ast.parse(HELPER.read_text(encoding="utf-8")))  # the check can see one


def test_helper_sets_the_opt_out_before_importing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    code = (
        "import os, sys; from keliu.vision.onnx_runtime import onnxruntime_module; "
        "assert 'onnxruntime' not in sys.modules; ort = onnxruntime_module(); "
        "print(os.environ['ORT_DISABLE_TELEMETRY'], ort.__name__)"
    )
    env.update({"HOME": str(tmp_path), "ORT_DISABLE_TELEMETRY": "0"})  # a user opt-in is overridden
    env.pop("XDG_CACHE_HOME", None)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "onnxruntime"]
