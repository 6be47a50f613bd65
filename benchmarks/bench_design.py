"""Population design: ``dmtpk.design`` with two free parameters on 10,000 subjects.

Workload (issue #12 target in brackets): ``eckernas2022``, bolus + infusion with the duration
fixed at 25 min, bolus 0-30 mg and rate 0-3 mg/min free, intensity 6-8 over 5-25 min for
the largest share of 10,000 subjects (seed 1), differential evolution (popsize 8, 30
generations: at most 496 candidates), validated on 40,000 fresh subjects [<= 60 s on 2 cores].

Baseline, the same run: the same design with ``reuse=False``, which simulates the 10,000
subjects with ``simulate_population`` for every candidate (the same common random numbers,
no reuse of the subjects' unit responses), timed on ``--baseline-generations`` generations
(default 3) and scaled to the full run's candidates by its time per candidate. Both give the same
design on the same candidates (the script checks it on the short run).

Run: ``python benchmarks/bench_design.py [--n 10000] [--generations 30]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import dmtpk
from dmtpk.design import design

KW = dict(bounds={"bolus": ("0 mg", "30 mg"), "rate": ("0 mg/min", "3 mg/min")},
          fixed={"duration": "25 min"}, seed=1)


def run(model, n, generations, reuse):
    t = time.perf_counter()
    res = design(model, (6, 8), ("5 min", "25 min"), population=n, maxiter=generations,
                 reuse=reuse, **KW)
    return res, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--baseline-generations", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    model = dmtpk.load_model("eckernas2022")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    run(model, 200, 1, True)   # compile and warm up outside the timings
    short_fast, t_short_fast = run(model, args.n, args.baseline_generations, True)
    short_slow, t_short_slow = run(model, args.n, args.baseline_generations, False)
    same = short_fast.values == short_slow.values and short_fast.share == short_slow.share
    full, t_full = run(model, args.n, args.generations, True)
    counts = {args.baseline_generations: short_fast.evaluations,
              args.generations: full.evaluations}
    candidates = counts.get
    per_slow = t_short_slow / candidates(args.baseline_generations)
    per_fast = t_short_fast / candidates(args.baseline_generations)
    scaled = per_slow * candidates(args.generations)
    print(f"design, {args.n} subjects, {candidates(args.generations)} candidates: {t_full:.1f} s "
          f"(bolus {full.values['bolus']:.3g} mg, rate {full.values['rate']:.3g} mg/min, "
          f"share {full.share:.3f}, fresh {full.validation_share:.3f} "
          f"[{full.validation_ci[0]:.3f}, {full.validation_ci[1]:.3f}])")
    print(f"short runs ({candidates(args.baseline_generations)} candidates): superposed "
          f"{t_short_fast:.2f} s ({1e3 * per_fast:.1f} ms a candidate with the set-up and "
          f"validation), simulated per candidate {t_short_slow:.2f} s ({1e3 * per_slow:.1f} ms)"
          f"; same design: {same}")
    print(f"baseline scaled to {candidates(args.generations)} candidates: {scaled:.1f} s; "
          f"ratio {scaled / t_full:.1f} x")


if __name__ == "__main__":
    main()
