"""Packaging: the wheel ships every model file inside the package; ``import dmtpk`` stays light."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL_FILES = sorted((ROOT / "models").glob("*.toml"))

pytestmark = pytest.mark.slow


def _build_wheel(out: Path) -> Path:
    """Build the wheel into ``out``: without isolation when the backend is installed (offline),
    otherwise with pip (which fetches hatchling from the index)."""
    if importlib.util.find_spec("build") and importlib.util.find_spec("hatchling"):
        cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
               str(ROOT)]
    else:
        cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    wheels = sorted(out.glob("dmtpk-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def unpacked(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    return target


def test_models_folder_not_empty():
    assert MODEL_FILES


def test_wheel_contains_every_model_file(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for path in MODEL_FILES:
            member = f"dmtpk/models/{path.name}"
            assert member in names, f"{member} missing from {wheel.name}"
            assert zf.read(member) == path.read_bytes(), member
        shipped = {n for n in names if n.startswith("dmtpk/models/") and n.endswith(".toml")}
        assert shipped == {f"dmtpk/models/{p.name}" for p in MODEL_FILES}
        # The library's documentation travels with it.
        assert "dmtpk/models/README.md" in names


def test_wheel_contains_the_package(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    src = ROOT / "src"
    for py in (src / "dmtpk").rglob("*.py"):
        member = py.relative_to(src).as_posix()
        assert member in names, member
    # nothing outside the package and its metadata
    tops = {n.split("/", 1)[0] for n in names}
    assert all(t == "dmtpk" or t.endswith(".dist-info") for t in tops), tops


def test_wheel_entry_points_resolve(wheel):
    """Every console script names a module that is inside the wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        ep = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        if not ep:
            pytest.skip("no entry points")
        parser = configparser.ConfigParser()
        parser.read_string(zf.read(ep[0]).decode())
    if not parser.has_section("console_scripts"):
        pytest.skip("no console scripts")
    for script, target in parser.items("console_scripts"):
        module = target.split(":")[0].strip()
        path = module.replace(".", "/")
        assert f"{path}.py" in names or f"{path}/__init__.py" in names, (script, target)


def test_installed_layout_finds_models(unpacked):
    """Imported from the unpacked wheel, dmtpk finds its models inside the package."""
    code = textwrap.dedent("""
        import json
        from pathlib import Path
        import dmtpk
        from dmtpk.library import models_dir
        out = {"file": dmtpk.__file__, "models_dir": str(models_dir()),
               "models": dmtpk.list_models(),
               "loaded": [dmtpk.load_model(n).name for n in dmtpk.list_models()]}
        print(json.dumps(out))
    """)
    env = dict(os.environ, PYTHONPATH=str(unpacked))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=unpacked, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().is_relative_to(unpacked.resolve()), out["file"]
    assert Path(out["models_dir"]).resolve() == (unpacked / "dmtpk" / "models").resolve()
    expected = sorted(p.stem for p in MODEL_FILES)
    assert out["models"] == expected
    assert out["loaded"] == expected


# dask core is left out: pint imports it by itself (pint.facets.dask) when it is installed, as
# it is with the 'test' extra. The cluster side (distributed) must stay unloaded.
HEAVY = ("numba", "tqdm", "distributed")


def _modules_after_import() -> set[str]:
    code = "import sys, json; import dmtpk; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_import_is_light():
    mods = _modules_after_import()
    assert "dmtpk" in mods
    loaded = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert not loaded, f"import dmtpk imported {loaded}"


def test_import_does_not_load_plotting_or_pandas():
    """matplotlib and pandas are imported only when plotting / exporting."""
    mods = _modules_after_import()
    loaded = sorted(m for m in mods if m.split(".")[0] in ("matplotlib", "pandas"))
    assert not loaded, f"import dmtpk imported {loaded}"
