"""Numba flags come from one module, and the pure kernel functions stay free of Numba.

Checked on the syntax tree of every module in ``dmtpk/_kernels`` (as stumpy's test script fails
on a hard-coded ``fastmath``): only ``config.py`` imports Numba; every decorator is one of its
names, used bare; no call passes compilation flags of its own. Then on the dispatchers
themselves: every one caches, the one fast-math loop is the histogram's index pass, and only the
population entry points run in parallel. Finally, in a fresh interpreter, the modules the
single-subject engines run uncompiled import no Numba.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dmtpk

KERNELS = Path(dmtpk.__file__).resolve().parent / "_kernels"
SRC = KERNELS.parents[1]
#: The functions the single-subject engines run uncompiled.
PURE = ("system", "expm", "elimination", "pd")
#: The population and batch entry points, the only parallel kernels.
PARALLEL = {"linear.linear_population", "ode.ode_population", "metrics.grid_metrics",
            "metrics.durations_beyond", "metrics.hist_add", "records.walk_batch",
            "sensitivity.sensitivity_batch"}


def _modules():
    return sorted(p for p in KERNELS.glob("*.py") if p.name != "__init__.py")


def _config_names():
    tree = ast.parse((KERNELS / "config.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def test_only_config_imports_numba():
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            for mod in mods:
                if mod.split(".")[0] == "numba":
                    assert path.name == "config.py", f"{path.name}:{node.lineno} imports {mod}"


def test_decorators_are_config_names_used_bare():
    decorators = _config_names()
    assert {"jit", "jit_inline", "jit_vector", "jit_vector_inline", "jit_parallel",
            "jit_no_nan"} <= decorators
    seen = set()
    for path in _modules():
        if path.name == "config.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                for d in node.decorator_list:
                    where = f"{path.name}:{d.lineno}"
                    assert isinstance(d, ast.Name), f"{where}: a decorator with arguments"
                    assert d.id in decorators, f"{where}: @{d.id} is not from config"
                    seen.add(d.id)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in decorators:
                assert not node.keywords, f"{path.name}:{node.lineno}: flags outside config"
            if isinstance(node, ast.keyword):
                assert node.arg not in ("fastmath", "parallel", "cache", "error_model",
                                        "inline", "nogil", "boundscheck"), \
                    f"{path.name}: flag {node.arg}= outside config"
    assert seen == {"jit", "jit_inline", "jit_vector", "jit_vector_inline", "jit_parallel",
                    "jit_no_nan"}


def test_dispatcher_flags():
    from numba.core.registry import CPUDispatcher
    from dmtpk._kernels import config
    found = {}
    for path in _modules():
        if path.stem in PURE or path.stem == "config":
            continue
        mod = importlib.import_module(f"dmtpk._kernels.{path.stem}")
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod.__name__:
                found[f"{path.stem}.{name}"] = obj
    assert len(found) > 40
    for name, disp in found.items():
        opts = disp.targetoptions
        assert type(disp._cache).__name__ == "FunctionCache", f"{name} does not cache"
        assert bool(opts.get("parallel")) == (name in PARALLEL), name
        if name == "metrics._fine_indices":
            assert opts["fastmath"] == config.NO_NAN == {"nnan", "nsz"}
        else:
            assert "fastmath" not in opts, name
    assert found["ode._integrate_lanes"].targetoptions["error_model"] == "numpy"
    lanes = found["ode._rhs_lanes"].targetoptions
    assert (lanes["inline"], lanes["error_model"]) == ("always", "numpy")
    from dmtpk._kernels import jitted
    assert jitted.mm_flux.targetoptions["inline"] == "always"
    assert jitted.mm_flux_amount.targetoptions["error_model"] == "numpy"
    assert jitted.fill_system.targetoptions.get("inline", "never") == "never"
    assert type(jitted.fill_system._cache).__name__ == "FunctionCache"


@pytest.mark.parametrize("statement", [
    "import dmtpk",
    "import " + ", ".join(f"dmtpk._kernels.{m}" for m in PURE),
    "import dmtpk.engines.scipy_ivp, dmtpk.engines.analytic, dmtpk.model.compiled",
])
def test_pure_functions_import_no_numba(statement):
    code = f"{statement}\nimport sys\nprint('numba' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"]
