"""``simulate_dataset`` on the Schoemaker et al. (2019) datasets, against the previous path.

Workloads (read from ``../shared/validation/schoemaker2019/`` beside the project; skipped when
absent): ``Bolus_2CPT.csv`` (120 subjects, 7,920 records, 8 doses each) with the typical
parameters and with each subject's own CL, V1, Q, V2 from the data columns; ``Oral_1CPTMM.csv``
(Michaelis-Menten, oral depot) with each subject's own V, VM, KM, KA.

Timed in the same run:

* dmtpk: ``simulate_dataset`` as a user calls it again (the compiled walker over all subjects;
  the dataset's preparation, kept from the first call with the same model and dataset, reused);
* fresh: the same with the preparation redone on every call (a first call);
* the previous path: ``simulate_dataset`` as it was before the compiled walker (commit
  ``ab1f30a``, loaded from git into this process: a Python loop over subjects through the
  single-subject walker, SciPy's LSODA for Michaelis-Menten models), when git is available;
* the single-subject walker of today's code (``batch=False`` / ``method="scipy"``).

Each figure is the best of repeated calls after a warm-up. Run from the repository root:
``python benchmarks/bench_dataset.py``.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import dmtpk
from dmtpk.dataset import simulate as dataset_simulate

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "validation" / "schoemaker2019"
PREVIOUS = "ab1f30a"
# The structure each file was simulated with, as the engine truth check defines it.
sys.path.insert(0, str(ROOT / "tests" / "validation"))
from test_schoemaker_truth import model_for as model  # noqa: E402


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def previous_simulate_dataset():
    """``simulate_dataset`` of commit :data:`PREVIOUS`, or None without git."""
    try:
        src = subprocess.run(["git", "show", f"{PREVIOUS}:src/dmtpk/io/simulate.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    name = "dmtpk.io._previous_simulate"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "dmtpk.io"
    sys.modules[name] = module
    exec(compile(src, f"{PREVIOUS}:src/dmtpk/io/simulate.py", "exec"), module.__dict__)
    return module.simulate_dataset


def main() -> int:
    if not (CORPUS / "Bolus_2CPT.csv").exists():
        print(f"Schoemaker datasets not found at {CORPUS}; nothing to time")
        return 0
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{time.strftime('%Y-%m-%d')}")
    previous = previous_simulate_dataset()
    cases = [("Bolus_2CPT", "typical", None),
             ("Bolus_2CPT", "own parameters", {"CL": "CL", "V1": "V1", "Q": "Q", "V2": "V2"}),
             ("Oral_1CPTMM", "own parameters", {"V1": "V", "VMAX": "VM", "KM": "KM",
                                                "KA": "KA"})]
    print(f"{'dataset':12s} {'parameters':15s} {'dmtpk':>9s} {'fresh':>9s} {'previous':>10s} "
          f"{'ratio':>7s} {'walker':>9s} {'ratio':>7s}")
    for name, label, pcols in cases:
        path = CORPUS / f"{name}.csv"
        drop = ["SS", "II"] if not name.endswith("MM") else None
        data = dmtpk.read_nonmem(path, time_unit="h", amount_unit="ug",
                                 concentration_unit="ug/L", drop=drop)
        m = model(name)
        mm = name.endswith("MM")
        new = best(lambda: dmtpk.simulate_dataset(m, data, parameter_columns=pcols), 30)

        def fresh_call():
            dataset_simulate._PREPARED.clear()
            dmtpk.simulate_dataset(m, data, parameter_columns=pcols)

        fresh = best(fresh_call, 30)
        walker_kw = {"method": "scipy"} if mm else {"batch": False}
        walker = best(lambda: dmtpk.simulate_dataset(m, data, parameter_columns=pcols,
                                                     **walker_kw), 2 if mm else 5)
        old = float("nan")
        if previous is not None:
            # The previous path had no parameter columns: the same values, as subject values.
            subj = None
            if pcols:
                subj = {}
                for sid, sl in data.subjects():
                    subj[sid] = {p: f"{data.values[c][sl.start]} {unit}" for p, c in pcols.items()
                                 for unit in [{"CL": "L/h", "Q": "L/h", "V1": "L", "V2": "L",
                                               "KA": "1/h", "VMAX": "ug/h",
                                               "KM": "ug/L"}[p]]}
            old = best(lambda: previous(m, data, subject_parameters=subj), 2 if mm else 5)
        print(f"{name:12s} {label:15s} {new * 1e3:7.2f}ms {fresh * 1e3:7.2f}ms "
              f"{old * 1e3:8.1f}ms {old / new:7.0f} {walker * 1e3:7.1f}ms {walker / new:7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
