"""Estimation on the Schoemaker et al. (2019) ``Bolus_2CPT`` dataset, timed, with NONMEM's answer.

Workloads (data read from ``../shared/validation/schoemaker2019/``; skipped when absent), from
NONMEM's initial estimates (``runODE032.ext`` iteration 0):

* FOCE-I with the covariance step on the single-dose part (``SD = 1``: 120 subjects, 2,280
  observations), the run NONMEM 7.4.3 made (13.45 s + 6.96 s with ADVAN3, 71.95 s + 28.38 s
  with ADVAN13; nlmixr2 4.0.0 FOCEi 26.5 s, SAEM 41.6 s: figures quoted by the issue, other
  machines);
* SAEM (the default iterations: exploration extended until stationary) on the same data;
* FOCE-I on the whole file (single-dose, multiple-dose and steady-state parts: 6,960
  observations), target at most 4 times the single-dose time;
* FOCE-I, without and with the covariance step, on ``Bolus_2CPTMM``'s single-dose part
  (Michaelis-Menten elimination: the integrator's forward sensitivities), from 30 % above the
  design values as in ``tests/validation/test_fit_recovery_mm.py``; target at most 30 s; and
  FOCE-I on its whole history (8 doses, 6,960 observations), as that test fits it.

Baseline, timed in the same run: one FOCE-I objective evaluation as a user would build it
from ``dmtpk.simulate_dataset`` and ``scipy.optimize`` (a loop over subjects, each subject's
conditional mode by BFGS with finite differences, the FOCE-I determinant from a
finite-difference Jacobian of the predictions), against dmtpk's evaluation of the same
objective at the same point (NONMEM's final estimates). Both give NONMEM's 20167.64.

Run from the repository root: ``python benchmarks/bench_fit.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import dmtpk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "validation"))
from test_focei_nonmem import CORPUS, EXT, NAMES, model_at, omega_at  # noqa: E402


def read(ignore):
    return dmtpk.read_nonmem(CORPUS / "Bolus_2CPT.csv", time_unit="h", amount_unit="ug",
                             concentration_unit="ug/L", drop=["SS", "II"], ignore=ignore)


def baseline_objective(data, row, n_subjects=None):
    """FOCE-I objective at ``row``'s estimates from simulate_dataset + scipy.optimize."""
    from scipy.optimize import minimize
    model = model_at(row)
    omega = np.array([row[f"OMEGA({k + 1},{k + 1})"] for k in range(4)])
    b = row["THETA5"]
    typical = np.array([model.value(n) for n in NAMES])
    total = 0.0
    subjects = data.subjects()[:n_subjects]
    for sid, sl in subjects:
        sub = _subset(data, sl)
        obs = np.flatnonzero(sub.item("EVID") == 0)
        y = sub.item("DV")[obs]

        def pred(eta):
            vals = dict(zip(NAMES, typical * np.exp(eta)))
            return dmtpk.simulate_dataset(model, sub, subject_parameters={sid: vals}).pred[obs]

        def g(eta):
            f = pred(eta)
            r = (b * f) ** 2
            return float(np.sum((y - f) ** 2 / r + np.log(r)) + np.sum(eta ** 2 / omega))

        eta = minimize(g, np.zeros(4), method="BFGS").x
        f0 = pred(eta)
        h = 1e-5
        a = np.stack([(pred(eta + h * e) - f0) / h for e in np.eye(4)])
        r = (b * f0) ** 2
        c = 2 * b * b * f0 * a / r
        ht = a @ (a / r).T + 0.5 * c @ c.T + np.diag(1 / omega)
        total += g(eta) + np.sum(np.log(omega)) + np.linalg.slogdet(ht)[1]
    return total, len(subjects)


def _subset(data, sl):
    from dmtpk.fit.problem import _subject_data
    return _subject_data(data, sl)


def dmtpk_objective(data, row):
    from dmtpk.fit.estimate import at_estimates
    from dmtpk.fit.problem import build_problem
    problem = build_problem(model_at(row), data, omega=omega_at(row))
    out = at_estimates(problem, problem.theta, problem.omega0, problem.sd0, covariance=None)
    return float(out["ofv"].sum())


def timed(fn, repeat=1):
    best = math.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="baseline on 10 subjects only")
    args = ap.parse_args()
    if not (CORPUS / "runODE032.ext").exists():
        print(f"skipped: {CORPUS} not found")
        return
    import numba
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba threads {numba.config.NUMBA_NUM_THREADS}, Python {platform.python_version()}")
    sd1 = read("SD == 0")
    whole = read(None)
    final, start = EXT[-1000000000], EXT[0]
    dmtpk_objective(sd1, final)  # warm-up (compilation)

    t_obj, ofv = timed(lambda: dmtpk_objective(sd1, final), repeat=3)
    n_base = 10 if args.quick else None
    t_base, (ofv_base, n_done) = timed(lambda: baseline_objective(sd1, final, n_base))
    scale = 120 / n_done
    print(f"objective at NONMEM's estimates: dmtpk {ofv:.3f} in {t_obj:.3f} s; baseline "
          f"{'(' + str(n_done) + ' subjects, scaled) ' if n_done < 120 else ''}"
          f"{ofv_base if n_done == 120 else float('nan'):.3f} in {t_base * scale:.2f} s; "
          f"ratio {t_base * scale / t_obj:.0f}; NONMEM {final['OBJ']:.3f}")

    fits = [("FOCE-I + covariance, SD = 1", sd1, dict(method="focei")),
            ("SAEM, SD = 1 (objective by FOCE-I, no covariance)", sd1,
             dict(method="saem", seed=1, covariance="none")),
            ("FOCE-I + covariance, whole file", whole, dict(method="focei"))]
    single = None
    for label, data, kw in fits:
        t, res = timed(lambda: dmtpk.fit(model_at(start), data, omega=omega_at(start), **kw))
        single = single or t
        est = ", ".join(f"{n} {res.theta[n] * (60 if n in ('CL', 'Q') else 1):.4g}"
                        for n in NAMES)
        print(f"{label}: {t:.2f} s ({t / single:.2f} x the first), {res.iterations} iterations, "
              f"{res.evaluations} evaluations, OFV {res.ofv:.3f}; {est} (L/h, L); "
              f"omega {', '.join(f'{v:.4f}' for v in res.omega.values())}; "
              f"prop {res.sigma['prop']:.4f}")

    # The integrator path: Michaelis-Menten elimination, forward sensitivities.
    import warnings
    from test_fit_recovery_mm import DESIGN
    from test_schoemaker_truth import model_for

    def mm_fit(ignore, **kw):
        data = dmtpk.read_nonmem(CORPUS / "Bolus_2CPTMM.csv", time_unit="h", amount_unit="ug",
                                 concentration_unit="ug/L", ignore=ignore)
        model = model_for("Bolus_2CPTMM")
        est = [p for p in DESIGN if p in model.parameters]
        start = model.with_parameters({p: 1.3 * DESIGN[p] for p in est})
        return est, dmtpk.fit(start, data, estimate=est, omega={p: 0.2 for p in est},
                              residual={"proportional": 0.3}, progress=False, **kw)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm_fit("SD == 0", covariance="none", max_iter=1)  # warm-up (compilation)
        for label, ignore, cov in (("FOCE-I, SD = 1", "SD == 0", "none"),
                                   ("FOCE-I + covariance, SD = 1", "SD == 0", "sandwich"),
                                   ("FOCE-I, whole history", None, "none")):
            t, (est, res) = timed(lambda: mm_fit(ignore, covariance=cov))
            print(f"{label}, Bolus_2CPTMM (integrator, from 30 % off the design): "
                  f"{t:.2f} s ({t / single:.2f} x the linear single-dose fit), "
                  f"{res.iterations} iterations, {res.evaluations} evaluations, OFV "
                  f"{res.ofv:.3f}; estimate / design "
                  f"{', '.join(f'{n} {res.theta[n] / DESIGN[n]:.3f}' for n in est)}; "
                  f"omega {', '.join(f'{v:.4f}' for v in res.omega.values())}; "
                  f"prop {res.sigma['prop']:.4f}")

if __name__ == "__main__":
    main()
