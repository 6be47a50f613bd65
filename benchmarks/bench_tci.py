"""Target-controlled infusion timings: ``dmtpk.tci`` against schedules found by re-simulating.

Workloads, on the library model ``eckernas2022`` (two compartments + effect compartment),
target 20 ng/mL, 10-s updates:

1. effect-site targeting of the typical subject for 60 min (360 updates); target <= 50 ms;
2. population-quantile targeting (median) of 1,000 subjects for 60 min, plasma and effect
   site; target <= 5 s.

Baselines, the same rules with a SciPy root find (``brentq``) whose every candidate rate
re-simulates the whole history: ``dmtpk.simulate`` (exact engine) for the typical subject
(effect-site peak on the same grid of update/20 over 30 min), ``dmtpk.simulate_population``
(closed-form population kernel, the same 1,000 subjects) for the population's plasma median.
The typical-subject baseline runs the full 60 min (about 25 s); the population baseline, the
slowest, the first 10 min (``--quick``: 2 and 1 min), and dmtpk is timed on the same workload
for each ratio as well as on the full one. Each baseline's schedule is checked against dmtpk's
(largest rate difference relative to the largest rate).

Run: ``python benchmarks/bench_tci.py`` (about 45 s; ``--quick``: about 5 s).
"""

from __future__ import annotations

import platform
import sys
import time
import warnings

import numpy as np
from scipy.optimize import brentq

import dmtpk
from dmtpk.tci import tci

MODEL = "eckernas2022"
TARGET = 20.0                 # ng/mL
DT = 10 / 60                  # min
N = 1000
SEED = 1


def best_of(fn, repeat):
    """Shortest wall time of ``repeat`` calls, and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def root(f, guess):
    """The r >= 0 with f(r) = 0, f increasing (0 when f(0) >= 0)."""
    if f(0.0) >= -1e-10 * TARGET:
        return 0.0
    lo, hi = 0.0, max(guess, 1e-2)
    while f(hi) < 0:
        lo, hi = hi, 4 * hi
    return brentq(f, lo, hi, xtol=1e-13, rtol=1e-12)


def baseline_typical(model, minutes):
    """Effect-site targeting, every candidate rate re-simulating the history with simulate."""
    name = model.effects[0].name
    n_up = int(round(minutes / DT))
    horizon = DT + np.arange(int(np.ceil(30.0 * 20 / DT))) * DT / 20
    history, rates = [], np.zeros(n_up)

    def sim(r, t, at):
        ev = history + ([dmtpk.Infusion(rate=r, duration=DT, at=t)] if r > 0 else [])
        if not ev:
            return np.zeros(len(at)), np.zeros(len(at))
        res = dmtpk.simulate(model, dmtpk.Regimen(tuple(ev)), at)
        return res.concentration, res.effect_sites[name]

    held = False                    # the effect site has reached the target: hold the plasma
    for k in range(n_up):
        t = k * DT
        guess = 1.25 * rates[k - 1] if k else 1.0
        ce_now = sim(0.0, t, [t])[1][0]
        held = held or ce_now >= TARGET * (1 - 1e-6)
        if not held:
            r = root(lambda r: sim(r, t, t + horizon)[1].max() - TARGET, guess)
            if sim(r, t, [t + DT])[1][0] >= TARGET * (1 - 1e-9):
                r = min(r, root(lambda r: sim(r, t, [t + DT])[1][0] - TARGET, guess))
        else:
            r = root(lambda r: sim(r, t, [t + DT])[0][0] - TARGET, guess)
        rates[k] = r
        if r > 0:
            history.append(dmtpk.Infusion(rate=r, duration=DT, at=t))
    return rates


def baseline_population(model, minutes):
    """Plasma median of N subjects, every candidate re-simulating the history with
    simulate_population."""
    n_up = int(round(minutes / DT))
    history, rates = [], np.zeros(n_up)
    for k in range(n_up):
        t = k * DT

        def median(r):
            ev = history + ([dmtpk.Infusion(rate=r, duration=DT, at=t)] if r > 0 else [])
            if not ev:
                return -TARGET
            pop = dmtpk.simulate_population(model, dmtpk.Regimen(tuple(ev)), [t + DT], n=N,
                                            seed=SEED, keep="all")
            return float(np.percentile(pop.concentration[:, 0], 50)) - TARGET

        rates[k] = r = root(median, 1.25 * rates[k - 1] if k else 1.0)
        if r > 0:
            history.append(dmtpk.Infusion(rate=r, duration=DT, at=t))
    return rates


def agreement(a, b) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main(quick: bool = False) -> None:
    warnings.simplefilter("ignore")          # the library model's validity notes
    model = dmtpk.load_model(MODEL)
    typical_min, pop_min = (2.0, 1.0) if quick else (60.0, 10.0)
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}, numpy {np.__version__}")
    # Warm up: first calls import scipy and compile the population kernels.
    tci(model, f"{TARGET} ng/mL", "1 min", site="effect")
    tci(model, f"{TARGET} ng/mL", "1 min", n=10, seed=SEED)
    dmtpk.simulate_population(model, dmtpk.Infusion(rate=1.0, duration=DT), [1.0], n=N,
                              seed=SEED, keep="all")

    print("\n1. effect-site TCI, typical subject, 10-s updates")
    t_full, full = best_of(lambda: tci(model, f"{TARGET} ng/mL", "60 min", site="effect"), 5)
    print(f"   dmtpk.tci, 60 min (360 updates): {1e3 * t_full:.1f} ms (target <= 50 ms)")
    t_short, short = best_of(
        lambda: tci(model, f"{TARGET} ng/mL", f"{typical_min} min", site="effect"), 5)
    t_base, base = best_of(lambda: baseline_typical(model, typical_min), 1)
    print(f"   first {typical_min:g} min: dmtpk.tci {1e3 * t_short:.2f} ms, baseline "
          f"(simulate + brentq) {1e3 * t_base:.0f} ms: {t_base / t_short:.0f} x; schedules "
          f"agree to {agreement(short.rate, base):.1e} of the largest rate")

    print(f"\n2. population-quantile TCI (median), {N:,} subjects, 10-s updates")
    for site in ("plasma", "effect"):
        t_pop, _ = best_of(lambda: tci(model, f"{TARGET} ng/mL", "60 min", site=site,
                                       n=N, seed=SEED), 2)
        print(f"   dmtpk.tci {site}, 60 min (360 updates): {t_pop:.2f} s (target <= 5 s)")
    t_short, short = best_of(lambda: tci(model, f"{TARGET} ng/mL", f"{pop_min} min",
                                         n=N, seed=SEED), 2)
    t_base, base = best_of(lambda: baseline_population(model, pop_min), 1)
    print(f"   plasma, first {pop_min:g} min: dmtpk.tci {1e3 * t_short:.0f} ms, baseline "
          f"(simulate_population + brentq) {t_base:.1f} s: {t_base / t_short:.0f} x; "
          f"schedules agree to {agreement(short.rate, base):.1e} of the largest rate")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
