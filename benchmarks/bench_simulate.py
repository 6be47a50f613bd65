"""Single-subject timings: ``dmtpk.simulate`` against a hand-written ``solve_ivp`` baseline.

Workloads (see ``workloads.py``): IV bolus 20 mg, bolus 20 mg + 1 mg/min for 30 min, inhaled
20 mg, on a two-compartment + effect-compartment sigmoid-Emax model, 121 output times over 60 min.
Timed: the exact engine, the SciPy engine (LSODA, dmtpk's default tolerances rtol 1e-10,
atol 1e-14), and a baseline of plain ``solve_ivp`` (LSODA, rtol 1e-6, atol 1e-9) on the same ODE
written by hand, integrated piecewise over the same events. Also ``import dmtpk`` in a fresh
process. Run: ``python benchmarks/bench_simulate.py``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, os.path.dirname(__file__))
from workloads import PARAMS, REGIMENS, TIMES, w_model  # noqa: E402

import dmtpk  # noqa: E402


def baseline(route: str) -> np.ndarray:
    """Hand-written ODE of the W-model, solve_ivp LSODA piecewise; returns the effect."""
    p = PARAMS
    k10, k12, k21 = p["CL"] / p["V1"], p["Q"] / p["V1"], p["Q"] / p["V2"]

    def rhs(t, x, rate):
        d, c, per, ce = x
        return [-p["KA"] * d,
                p["KA"] * d - (k10 + k12) * c + k21 * per + rate,
                k12 * c - k21 * per,
                p["KE0"] * (c / p["V1"] - ce)]

    x0 = np.zeros(4)
    pieces = []
    if route == "iv_bolus":
        x0[1] = 20.0
        segs = [(0.0, 60.0, 0.0)]
    elif route == "bolus_infusion":
        x0[1] = 20.0
        segs = [(0.0, 30.0, 1.0), (30.0, 60.0, 0.0)]
    else:
        x0[0] = 20.0 * p["F_INH"]
        segs = [(0.0, 60.0, 0.0)]
    for t0, t1, rate in segs:
        sel = TIMES[(TIMES >= t0) & ((TIMES < t1) | (t1 == 60.0))]
        sol = solve_ivp(rhs, (t0, t1), x0, method="LSODA", args=(rate,), rtol=1e-6, atol=1e-9,
                        dense_output=True)
        pieces.append(sol.sol(sel))
        x0 = sol.y[:, -1]
    ce = np.concatenate([y[3] for y in pieces])
    r = (ce / p["EC50"]) ** p["GAMMA"]
    return p["EMAX"] * r / (1 + r)


def per_call(fn, min_time=1.0) -> float:
    fn()  # warm-up
    n, t = 0, 0.0
    start = time.perf_counter()
    while t < min_time:
        fn()
        n += 1
        t = time.perf_counter() - start
    return t / n


def main() -> None:
    model = w_model()
    print(f"# dmtpk {dmtpk.__version__} on {platform.node()} ({platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores), Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"{'workload':16s} {'exact ms':>9s} {'scipy ms':>9s} {'baseline ms':>12s} "
          f"{'baseline/exact':>15s} {'baseline/scipy':>15s} {'max |dE| exact vs baseline':>28s}")
    for name, regimen in REGIMENS.items():
        exact = per_call(lambda: dmtpk.simulate(model, regimen, TIMES))
        scipy = per_call(lambda: dmtpk.simulate(model, regimen, TIMES, method="scipy"))
        base = per_call(lambda: baseline(name))
        err = np.abs(dmtpk.simulate(model, regimen, TIMES).effect - baseline(name)).max()
        print(f"{name:16s} {exact * 1e3:9.3f} {scipy * 1e3:9.3f} {base * 1e3:12.3f} "
              f"{base / exact:15.1f} {base / scipy:15.2f} {err:28.2e}")
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import dmtpk"],
                             capture_output=True, text=True, check=True)
        last = [ln for ln in out.stderr.splitlines() if ln.rstrip().endswith("| dmtpk")][-1]
        runs.append(int(last.split("|")[1]) / 1e6)
    print(f"import dmtpk (cumulative, fresh process, median of 5): {np.median(runs):.3f} s")


if __name__ == "__main__":
    main()
