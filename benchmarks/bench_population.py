"""Population throughput: ``dmtpk.simulate_population`` against a SciPy ``solve_ivp`` loop.

Workloads (issue targets in brackets, subjects per second on this machine):

- W1: 2-compartment IV bolus 20 mg + effect compartment + sigmoid Emax (CL 1.5 L/min, V1 10 L,
  Q 2 L/min, V2 20 L, KE0 0.5 /min, EC50 20 ng/mL, EMAX 10, GAMMA 2), log-normal IIV 30% CV
  on CL, V1, Q, V2, KE0, 121 output times over 60 min, keep="all" [>= 500,000; ratio >= 800;
  within 80% of the hand-written kernel in ``ceiling.py``].
- W2: the same with a bolus + 30 min infusion (1 mg/min) [>= 300,000].
- W3: inhaled 20 mg into the same model with Michaelis-Menten elimination (VMAX 0.5 mg/min,
  KM 0.2 mg/L) [>= 100,000; ratio >= 500].
- W1 with 10 million subjects and keep="summary" [< 20 s, < 2 GB peak memory], run in a
  separate process so its peak memory is its own.

Baseline: ``solve_ivp(method="LSODA", rtol=1e-6, atol=1e-9)`` on a hand-written right-hand side,
one subject at a time (the same subjects' parameters), timed on a subset and reported per
subject. Numba compile time is reported separately: a first process with an empty cache, then a
second process that must load the cache instead of compiling.

W1 against the JAX closed forms of ``bench_jax.py`` (no random draws; plasma and effect-site
concentration, and again with the effect) is timed in this process, the two interleaved.

``--compare SRC [SRC ...]`` times W1, W2 and W3 end to end, the 10-million-subject summary and
the cold first call with an empty Numba cache in child processes, in turn with this checkout's
``src`` and with each ``SRC`` (the ``src`` directory of an earlier commit, e.g. from ``git
worktree add /tmp/base <commit>``), the order reversed every round, and prints the best of each
and the ratios.

Run: ``python benchmarks/bench_population.py [--quick] [--jax] [--compare SRC ...]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, os.path.dirname(__file__))
import dmtpk  # noqa: E402
from ceiling import w1_kernel  # noqa: E402
from workloads import TIMES, w_model  # noqa: E402

OMEGA = {k: math.log(1 + 0.3 ** 2) for k in ("CL", "V1", "Q", "V2", "KE0")}  # 30% CV
OMEGA_MM = {k: v for k, v in {**OMEGA, "VMAX": OMEGA["CL"]}.items() if k != "CL"}
WORKLOADS = {
    "W1": ("linear", dmtpk.Bolus(20.0)),
    "W2": ("linear", dmtpk.Bolus(20.0) + dmtpk.Infusion(rate=1.0, duration=30.0)),
    "W3": ("michaelis_menten", dmtpk.Inhalation(20.0)),
}


def baseline_rate(elim, regimen_name, params, n_sub=200):
    """Subjects per second of a solve_ivp LSODA loop on the same workload."""
    p = params
    start = time.perf_counter()
    for i in range(n_sub):
        v1, q, v2, ke0 = p["V1"][i], p["Q"][i], p["V2"][i], p["KE0"][i]
        cl = p["CL"][i] if elim == "linear" else 0.0
        vmax = p["VMAX"][i] if elim != "linear" else 0.0

        def rhs(t, x, rate):
            d, c, per, ce = x
            conc = c / v1
            el = cl * conc if elim == "linear" else vmax * conc / (0.2 + conc)
            return [-3.0 * d, 3.0 * d - el - q * conc + q * per / v2 + rate,
                    q * conc - q * per / v2, ke0 * (conc - ce)]

        x0 = [0.0, 20.0, 0.0, 0.0] if regimen_name != "W3" else [8.0, 0.0, 0.0, 0.0]
        segs = [(0.0, 30.0, 1.0), (30.0, 60.0, 0.0)] if regimen_name == "W2" \
            else [(0.0, 60.0, 0.0)]
        out = []
        for t0, t1, rate in segs:
            sel = TIMES[(TIMES >= t0) & ((TIMES < t1) | (t1 == 60.0))]
            sol = solve_ivp(rhs, (t0, t1), x0, method="LSODA", args=(rate,), rtol=1e-6,
                            atol=1e-9, dense_output=True)
            out.append(sol.sol(sel))
            x0 = sol.y[:, -1]
        ce = np.concatenate([o[3] for o in out])
        r = (ce / 0.02) ** 2
        _ = 10 * r / (1 + r)
    return n_sub / (time.perf_counter() - start)


def time_population(model, regimen, n, repeats=5, **kw):
    dmtpk.simulate_population(model, regimen, TIMES, n=min(n, 5000), seed=0, **kw)  # warm
    best = math.inf
    res = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = dmtpk.simulate_population(model, regimen, TIMES, n=n, seed=1, **kw)
        best = min(best, time.perf_counter() - t0)
    return n / best, res


def ceiling_rate(res, n):
    p = res.parameters
    args = [np.ascontiguousarray(p[k]) for k in ("CL", "V1", "Q", "V2", "KE0")]
    cp, ce, e = (np.empty((n, TIMES.size)) for _ in range(3))
    w1_kernel(*args, 20.0, 0.02, 10.0, TIMES, cp, ce, e)
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        w1_kernel(*args, 20.0, 0.02, 10.0, TIMES, cp, ce, e)
        best = min(best, time.perf_counter() - t0)
    # Independent check that the general engine computed the same thing.
    err = np.max(np.abs(e - res.effect))
    return n / best, err


def kernel_only_rate(model, regimen, n):
    """The closed-form kernel alone (no draws, metrics or allocation), for the ceiling ratio."""
    from dmtpk._kernels.linear import linear_population, uniform_step
    from dmtpk.population.chunk import individual
    res = dmtpk.simulate_population(model, regimen, TIMES, n=2, seed=1)
    spec = res.spec
    theta, _, weight, _, _ = individual(spec, 0, n)
    conc = np.empty((n, spec.rows.size, TIMES.size))
    eff = np.empty((n, spec.ep.shape[0], TIMES.size))
    st = np.empty(n, dtype=np.int64)
    tb = spec.table
    args = (theta, weight, spec.layout, spec.mass_ratio, spec.route_pos, spec.ep, spec.rows,
            spec.ep_row, tb["time"], tb["amt"], tb["rate"], tb["dur"], tb["route"], tb["f"],
            tb["lag"], tb["ka"], tb["evid"], tb["per_kg"], TIMES, uniform_step(TIMES), conc,
            eff, st)
    linear_population(*args)
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        linear_population(*args)
        best = min(best, time.perf_counter() - t0)
    return n / best


BIG = """
import sys, time, math
sys.path.insert(0, {here!r})
import dmtpk
from workloads import TIMES, w_model
omega = {{k: math.log(1 + 0.09) for k in ("CL", "V1", "Q", "V2", "KE0")}}
m = w_model()
dmtpk.simulate_population(m, dmtpk.Bolus(20.0), TIMES, n=2000, seed=0, omega=omega, keep="summary")
t0 = time.perf_counter()
r = dmtpk.simulate_population(m, dmtpk.Bolus(20.0), TIMES, n={n}, seed=1, omega=omega,
                              keep="summary", progress=False)
dt = time.perf_counter() - t0
# VmHWM (this process's own peak resident memory); ru_maxrss would include the parent's
# before exec on Linux.
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
print(f"{{dt:.2f}} {{peak:.0f}} {{r.percentiles([50])[0, 10]:.4f}}")
"""

COMPILE = """
import sys, time
sys.path.insert(0, {here!r})
t0 = time.perf_counter()
import dmtpk
from workloads import TIMES, w_model
dmtpk.simulate_population(w_model(), dmtpk.Bolus(20.0), TIMES, n=100, seed=0)
dmtpk.simulate_population(w_model("michaelis_menten"), dmtpk.Inhalation(20.0), TIMES, n=100, seed=0)
dmtpk.simulate_population(w_model(), dmtpk.Bolus(20.0), TIMES, n=2000, seed=0, keep="summary")
print(f"{{time.perf_counter() - t0:.2f}}")
"""


WORKLOAD = """
import sys, time, math
sys.path.insert(0, {here!r})
import numpy as np
warm = np.ones(400_000_000)  # see main(): the host backs fresh guest memory lazily
del warm
import dmtpk
from bench_population import OMEGA, OMEGA_MM, WORKLOADS, time_population
from workloads import w_model
elim, regimen = WORKLOADS[{name!r}]
rate, _ = time_population(w_model(elim), regimen, {n}, repeats=3,
                          omega=OMEGA if elim == "linear" else OMEGA_MM)
print(rate, dmtpk.__file__)
"""


def _child(code, src, env=None):
    env = dict(os.environ if env is None else env, PYTHONPATH=src)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def compare(bases, here, rounds=3, quick=False):
    """Today's code against each ``src`` directory in ``bases`` in child processes, in turn
    and in alternating order (see the module docstring)."""
    srcs = {"today": os.path.join(os.path.dirname(here), "src"),
            **{f"base{j}": os.path.abspath(b) for j, b in enumerate(bases)}}
    for name, src in srcs.items():
        print(f"# {name}: {src}")
    n = 100_000 if quick else 500_000
    jobs = [(f"{w} end to end", lambda src, w=w: float(_child(
        WORKLOAD.format(here=here, name=w, n=n if w != "W3" else n // 5), src)[0]), "/s")
        for w in WORKLOADS]
    if not quick:
        jobs.append(("W1 10 M keep='summary'", lambda src: float(_child(
            BIG.format(here=here, n=10_000_000), src)[0]), " s"))

    def cold(src):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            return float(_child(COMPILE.format(here=here), src, env)[-1])
    jobs.append(("cold first call (empty Numba cache)", cold, " s"))
    order = list(srcs.items())
    for label, job, unit in jobs:
        got = {who: [] for who in srcs}
        for r in range(rounds if unit == "/s" else 2):
            for who, src in order[::1 if r % 2 == 0 else -1]:
                got[who].append(job(src))
        pick = max if unit == "/s" else min
        t = pick(got["today"])
        line = f"{label}: today {t:,.2f}{unit} {[round(v, 2) for v in got['today']]}"
        for who in srcs:
            if who != "today":
                b = pick(got[who])
                line += (f"; {who} {b:,.2f}{unit} {[round(v, 2) for v in got[who]]}, "
                         f"today/{who} {t / b:.3f}")
        print(line, flush=True)


def w1_against_jax(model, regimen, n, rounds=5):
    """dmtpk's W1 end to end (draws, individual parameters, kernel, effect, result arrays)
    against the JAX closed forms on the same subjects' parameters, interleaved in this process;
    best of ``rounds`` each. Prints the rates, the ratios and the largest differences."""
    import bench_jax
    import jax
    res = dmtpk.simulate_population(model, regimen, TIMES, n=n, seed=1, omega=OMEGA)
    forms = bench_jax.w1_closed_forms(TIMES)
    p = [jax.numpy.asarray(res.parameters[k]) for k in ("CL", "V1", "Q", "V2", "KE0")]
    ref = (res.concentration, res.effect_site, res.effect)
    diffs = {}
    for name, f in forms.items():  # compiles, and checks the outputs
        out = jax.block_until_ready(f(*p))
        diffs[name] = ", ".join(f"{np.abs(np.asarray(o) - r).max():.1e}"
                                for o, r in zip(out, ref))
    del res, ref, out  # about 5 GB: each timed call below has the memory to itself
    best = {"dmtpk": math.inf, **{name: math.inf for name in forms}}
    for _ in range(rounds):
        t0 = time.perf_counter()
        dmtpk.simulate_population(model, regimen, TIMES, n=n, seed=1, omega=OMEGA)
        best["dmtpk"] = min(best["dmtpk"], time.perf_counter() - t0)
        for name, f in forms.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*p))
            best[name] = min(best[name], time.perf_counter() - t0)
    for name in forms:
        print(f"W1 JAX {name}: {n / best[name]:12,.0f} subjects/s; dmtpk end to end "
              f"{n / best['dmtpk']:12,.0f}/s; dmtpk/JAX {best[name] / best['dmtpk']:.2f} "
              f"(max |difference| Cp, Ce[, E]: {diffs[name]})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller populations, no 10M run")
    ap.add_argument("--compare", metavar="SRC", nargs="+",
                    help="time against the src directories of earlier commits instead")
    ap.add_argument("--jax", action="store_true", help="only W1 against JAX")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    if args.compare:
        compare(args.compare, here, quick=args.quick)
        return
    # This machine is a VM whose host backs guest memory lazily: the first touch of fresh memory
    # runs at ~0.5 GB/s, later ones at ~9 GB/s. Touch 3 GB once so that timings measure dmtpk,
    # not the host's first allocation.
    warm = np.ones(400_000_000)
    del warm
    import numba
    print(f"# dmtpk {dmtpk.__version__}, {platform.machine()} {os.cpu_count()} cores, "
          f"numba {numba.__version__} ({numba.get_num_threads()} threads), "
          f"{time.strftime('%Y-%m-%d')}")
    n = 100_000 if args.quick else 500_000
    for name, (elim, regimen) in ({} if args.jax else WORKLOADS).items():
        model = w_model(elim)
        omega = OMEGA if elim == "linear" else OMEGA_MM
        nn = n if elim == "linear" else n // 5
        rate, res = time_population(model, regimen, nn, omega=omega)
        params = res.parameters
        base = baseline_rate(elim, name, params)
        line = (f"{name}: {rate:12,.0f} subjects/s end to end (n = {nn:,}); baseline LSODA loop "
                f"{base:8,.0f}/s; ratio {rate / base:8,.0f}")
        if name == "W1":
            ceil, err = ceiling_rate(res, nn)
            kern = kernel_only_rate(model, regimen, nn)
            line += (f"\n    kernel alone {kern:12,.0f}/s; hand-written W1 kernel {ceil:12,.0f}/s; "
                     f"kernel/ceiling {kern / ceil:.2f}, end-to-end/ceiling {rate / ceil:.2f}; "
                     f"max |effect difference| {err:.1e}")
        print(line, flush=True)
    if not args.jax:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            times = []
            for _ in range(2):
                out = subprocess.run([sys.executable, "-c", COMPILE.format(here=here)], env=env,
                                     capture_output=True, text=True, check=True)
                times.append(float(out.stdout.split()[-1]))
            print(f"compile: first process {times[0]:.1f} s (empty cache), second "
                  f"{times[1]:.1f} s (cache loaded)")
    if not (args.quick or args.jax):
        out = subprocess.run([sys.executable, "-c", BIG.format(here=here, n=10_000_000)],
                             capture_output=True, text=True, check=True)
        dt, peak, med = out.stdout.split()
        print(f"W1, 10,000,000 subjects, keep='summary': {dt} s, peak RSS {peak} MB "
              f"(median Cp at 5 min {med} ng/mL)")
    import bench_jax
    if not bench_jax.available():
        print("JAX comparison: not run (install the optional extra: pip install 'dmtpk[bench]')")
        return
    n = 100_000 if args.quick else 500_000
    w1_against_jax(w_model(), WORKLOADS["W1"][1], n)
    if args.jax:
        return
    w1 = dmtpk.simulate_population(w_model(), WORKLOADS["W1"][1], TIMES, n=n, seed=1,
                                   omega=OMEGA)
    w3 = dmtpk.simulate_population(w_model("michaelis_menten"), WORKLOADS["W3"][1], TIMES,
                                   n=20_000, seed=1, omega=OMEGA_MM)
    for name, rate, outs in bench_jax.run(w1.parameters, w3.parameters, TIMES):
        res = w3 if name.startswith("W3") else w1
        m = outs[0].shape[0]
        ref = ((res.effect,) if len(outs) == 1 else
               (res.concentration, res.effect_site, res.effect)[:len(outs)])
        diff = ", ".join(f"{np.abs(o - r[:m]).max():.1e}" for o, r in zip(outs, ref))
        print(f"{name}: {rate:12,.0f} subjects/s (max |difference| from dmtpk, "
              f"{'E' if len(outs) == 1 else 'Cp, Ce, E'[:2 + 4 * (len(outs) - 1)]}: {diff})")


if __name__ == "__main__":
    main()
