"""The design's import directions (docs/design.md, "One flow, left to right") hold.

The contracts live in ``[tool.importlinter]`` of pyproject.toml and are checked here with
``lint-imports`` on the static import graph, so an import inside a function counts as much as
one at the top of a module. Each contract is also run on a copy of the package with one
forbidden import added, to show that it does catch one. What import-linter cannot say, that
:mod:`dmtpk.plot` is imported only inside functions, is checked on the syntax tree; and
``import dmtpk`` is checked in a fresh interpreter not to load the heavy optional modules.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

# The checkout's source tree and contracts, found from this file: the installed package may
# live in a virtual environment's site-packages (as in CI, which installs without -e).
ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = SRC / "dmtpk"
PYPROJECT = ROOT / "pyproject.toml"

#: For each contract id: a module added to a copy of the package, and the import that the
#: contract must then report (importer -> imported, as lint-imports prints it). The imports sit
#: inside functions: they count as much as top-level ones.
BAD_MODULES = {
    "kernels": ("_kernels/_bad.py", "def f():\n    from ..units import ureg\n",
                "dmtpk._kernels._bad -> dmtpk.units"),
    "leaves": ("routes.py", "def f():\n    from .regimen import Bolus\n",
               "dmtpk.routes -> dmtpk.regimen"),
    "model": ("model/_bad.py", "from ..regimen.events import ROUTES\n",
              "dmtpk.model._bad -> dmtpk.regimen.events"),
    "io": ("io/_bad.py", "def f():\n    from ..model.spec import Model\n",
           "dmtpk.io._bad -> dmtpk.model.spec"),
    "cli": ("_bad.py", "def f():\n    from . import cli\n", "dmtpk._bad -> dmtpk.cli"),
    "plot": ("engines/_bad.py", "def f():\n    from ..plot import result_overview\n",
             "dmtpk.engines._bad -> dmtpk.plot"),
    "explorer": ("design.py", "def f():\n    from .explorer.app import Explorer\n",
                 "dmtpk.design -> dmtpk.explorer.app"),
}

#: Modules ``import dmtpk`` must not load: each is imported where it is used.
HEAVY = ("matplotlib", "numba", "scipy.integrate", "pandas", "dmtpk.plot", "dmtpk.cli", "panel",
         "bokeh", "dmtpk.explorer.app")


def contract_ids() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return [c["id"] for c in config["contracts"]]


def lint_imports(path: Path, cwd: Path, *contracts: str) -> subprocess.CompletedProcess:
    """Run lint-imports with the project's contracts on the package found at ``path``."""
    env = {**os.environ, "PYTHONPATH": str(path), "COLUMNS": "200", "NO_COLOR": "1",
           "TERM": "dumb"}
    args = [sys.executable, "-c",
            "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
            "--no-cache", "--no-logo", str(PYPROJECT)]
    for contract in contracts:
        args += ["--contract", contract]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_contracts_hold(tmp_path):
    run = lint_imports(SRC, tmp_path)
    assert run.returncode == 0, (
        "an import breaks the design's directions (docs/design.md, 'One flow, left to "
        f"right'):\n{run.stdout}{run.stderr}")
    assert f"{len(contract_ids())} kept, 0 broken" in run.stdout, run.stdout


def test_every_contract_has_a_bad_case():
    assert sorted(contract_ids()) == sorted(BAD_MODULES)


@pytest.fixture
def package_copy(tmp_path):
    """A copy of the package's sources, to add a forbidden import to (never in src/)."""
    root = tmp_path / "src"
    shutil.copytree(PACKAGE, root / "dmtpk", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize("contract", sorted(BAD_MODULES))
def test_contract_reports_a_forbidden_import(contract, package_copy, tmp_path):
    relative, source, expected = BAD_MODULES[contract]
    path = package_copy / "dmtpk" / relative
    path.write_text((path.read_text() + "\n\n" if path.exists() else "") + source)
    run = lint_imports(package_copy, tmp_path, contract)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "BROKEN" in run.stdout and expected in run.stdout, run.stdout + run.stderr


def test_kernels_may_not_reach_the_package_through_its_root(package_copy, tmp_path):
    """``import dmtpk`` from a kernel is caught too: the root imports the whole package."""
    (package_copy / "dmtpk" / "_kernels" / "_bad.py").write_text("def f():\n    import dmtpk\n")
    run = lint_imports(package_copy, tmp_path, "kernels")
    assert run.returncode == 1 and "dmtpk._kernels._bad -> dmtpk" in run.stdout, run.stdout


# --- dmtpk.plot only inside functions ---------------------------------------------------------

def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Absolute names a statement imports (for ``from X import a``: X and X.a)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def eager_imports(root: Path, target: str) -> list[str]:
    """``file:line`` of every import of ``target`` (or its submodules) that runs when its module
    is imported: outside any function, and not under ``if TYPE_CHECKING:``."""
    found = []

    def visit(node, module, is_package, path):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for grandchild in child.orelse:
                    visit(ast.Module(body=[grandchild], type_ignores=[]), module, is_package,
                          path)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names = _imported(child, module, is_package)
                if any(n == target or n.startswith(target + ".") for n in names):
                    found.append(f"{path.relative_to(root)}:{child.lineno}")
            visit(child, module, is_package, path)

    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        if module == target:
            continue
        visit(ast.parse(path.read_text(), str(path)), module, path.name == "__init__.py", path)
    return found


def test_plot_is_imported_only_inside_functions():
    eager = eager_imports(SRC, "dmtpk.plot")
    assert not eager, ("dmtpk.plot (matplotlib) must be imported inside the function that "
                       f"draws, not when the module loads: {eager}")


def test_matplotlib_is_imported_only_by_plot():
    """dmtpk.plot is the package's one matplotlib module, so its contract covers matplotlib."""
    others = sorted({f"{path.relative_to(SRC)}:{node.lineno}"
                     for path in PACKAGE.rglob("*.py") if path != PACKAGE / "plot.py"
                     for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, (ast.Import, ast.ImportFrom))
                     and any(name.split(".")[0] == "matplotlib"
                             for name in _imported(node, "dmtpk", True))})
    assert not others, f"matplotlib imported outside dmtpk.plot: {others}"


def test_eager_import_check_reports_one(tmp_path):
    package = tmp_path / "dmtpk"
    (package / "engines").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "engines" / "__init__.py").write_text("")
    (package / "engines" / "bad.py").write_text(textwrap.dedent("""\
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from ..plot import compare          # fine: never runs
        def draw():
            from .. import plot                 # fine: lazy
        class Result:
            from ..plot import result_overview  # runs on import
        """))
    (package / "engines" / "worse.py").write_text("import dmtpk.plot\n")
    (package / "results.py").write_text("from . import plot\n")
    assert eager_imports(tmp_path, "dmtpk.plot") == [
        "dmtpk/engines/bad.py:7", "dmtpk/engines/worse.py:1", "dmtpk/results.py:1"]


# --- import dmtpk stays light -----------------------------------------------------------------

def loaded_after(statement: str) -> list[str]:
    """Which of :data:`HEAVY` a fresh interpreter holds after running ``statement``."""
    code = f"{statement}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_import_dmtpk_loads_no_heavy_module():
    loaded = loaded_after("import dmtpk")
    assert not loaded, (f"`import dmtpk` imports {loaded}; import them inside the functions "
                        "that use them (python -X importtime -c 'import dmtpk' shows who does)")


def test_heavy_module_check_reports_one():
    assert "matplotlib" in loaded_after("import dmtpk.plot; dmtpk.plot._axes(None)")
