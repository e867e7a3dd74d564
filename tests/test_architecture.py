"""The house rules that keep the package easy to change, checked on its source.

- No import cycle among the package's modules, counting the imports inside functions too (they are
  cycles all the same, only later). The Run's convenience methods (``run.diagnose()``, ``run.report()``)
  are the one declared exception: facades from the data up to the layers that read it.
- Importing the pytest plugins, the option table or the records does not import torch.
- Every option is declared once, in ``pytest_ganstab.options``, and every option a plugin registers
  comes from it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_ganstab
from pytest_ganstab.options import OPTIONS

PACKAGE = Path(pytest_ganstab.__file__).parent
FACADES = {("run", "assertions"), ("run", "report")}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str], root: Path = PACKAGE) -> set[str]:
    """The package modules that ``path`` imports anywhere but under ``if TYPE_CHECKING:``."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:  # ``from . import x`` may name a submodule
                child = f"{target}.{alias.name}" if target else alias.name
                found.add(child if child in modules else target)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for full in names:
                if full.startswith("pytest_ganstab."):
                    found.add(full.removeprefix("pytest_ganstab."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) for path in paths}


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    for source, target in FACADES:
        assert target in graph[source], f"facade {source} -> {target} is gone: drop it from FACADES"
        graph[source].discard(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_the_cycle_check_sees_imports_inside_functions_but_not_type_checking_ones(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    module = tmp_path / "sub" / "a.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..c import C\n"
        "def f():\n    from ..b import train\n    from . import d\n"
    )
    assert imports_of(module, {"b", "c", "sub.a", "sub.d"}, root=tmp_path) == {"b", "sub.d"}


@pytest.mark.parametrize(
    "module",
    [
        "pytest_ganstab.plugins.core",
        "pytest_ganstab.plugins.history",
        "pytest_ganstab.plugins.report",
        "pytest_ganstab.plugins.bench",
        "pytest_ganstab.plugins.traces",
        "pytest_ganstab.plugins.ci",
        "pytest_ganstab.options",
        "pytest_ganstab.storetools",
        "pytest_ganstab.traces",
        "pytest_ganstab.records",
        "pytest_ganstab.cli",
    ],
)
def test_importing_the_pytest_face_does_not_import_torch(module: str) -> None:
    check = f"import {module}, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", check], check=True)


def test_every_registered_option_comes_from_the_one_table(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    flags = {
        line.split()[0].split("=")[0] for line in result.outlines if line.strip().startswith("--ganstab")
    }
    assert flags == {option.flag for option in OPTIONS}
    names = [option.name for option in OPTIONS]
    assert len(names) == len(set(names))
