"""The Examples sections of the docstrings run: every module of dmtpk, imported and doctested."""

from __future__ import annotations

import doctest
import importlib
import types
from pathlib import Path

import pytest

import dmtpk

SRC = Path(dmtpk.__file__).resolve().parents[1]
#: Not importable without side effects: ``python -m dmtpk`` runs the command line on import.
SKIP = {"dmtpk.__main__"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_names() -> list[str]:
    names = []
    for path in sorted((SRC / "dmtpk").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in SKIP:
            names.append(name)
    return names


def run_examples(module: types.ModuleType) -> tuple[doctest.TestResults, str]:
    """Run a module's docstring examples; the results and the report of any failure."""
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(module, module.__name__):
        runner.run(test, out=report.append)
    return doctest.TestResults(runner.failures, runner.tries), "".join(report)


@pytest.mark.parametrize("name", module_names())
def test_examples(name):
    results, report = run_examples(importlib.import_module(name))
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples in {name} " \
                                f"fail:\n{report}"


def test_some_modules_have_examples():
    attempted = {name: run_examples(importlib.import_module(name))[0].attempted
                 for name in ("dmtpk.routes", "dmtpk.regimen.events", "dmtpk.model.spec")}
    assert all(attempted.values()), attempted


def test_a_failing_example_is_reported():
    module = types.ModuleType("dmtpk_doctest_probe")
    module.__doc__ = ">>> 1 + 1\n3\n"
    results, report = run_examples(module)
    assert results == (1, 1) and "Expected:\n    3\nGot:\n    2" in report
