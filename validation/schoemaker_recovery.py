"""Recovery of the design values by FOCE-I on the eleven other Schoemaker et al. (2019) datasets.

Reads the files from ``../shared/validation/schoemaker2019/`` (or ``--corpus``) and fits each
from 30 % above the design values (CL 4 L/h, V 70 L, Q 4 L/h, V2 50 L, KA 1 /h, VM 1000 ug/h,
KM 250 ug/L; omega 0.2, a 30 % proportional error): the six linear files on their single-dose
part (``SD = 1``, as the NONMEM run on ``Bolus_2CPT``), the six Michaelis-Menten files on their
whole dosing history through the compiled integrator (single doses up to 80 mg leave VMAX and
KM on a ridge; see ``tests/validation/test_fit_recovery_mm.py``). Prints each estimate over its
design value; for a variance outside 30 % of the design's 0.09 it refits with that variance
fixed at 0.09 and prints the rise of the objective, which is below the chi-square(1) 95 %
quantile (3.84) when the design value lies inside the estimate's 95 % profile-likelihood
interval. ``Bolus_2CPT`` itself is qualified against NONMEM by ``schoemaker_fit.py``.

Usage::

    python validation/schoemaker_recovery.py [--corpus PATH] [--files NAME ...]

Exit status 0 when every typical value is within 10 % of the design, every residual SD within
10 % of 0.2, and every variance within 30 % of 0.09 or with the design value inside its 95 %
profile-likelihood interval (the checks of ``tests/validation/test_fit_recovery*.py``).
The Michaelis-Menten fits take minutes (Oral_2CPTMM about 3 min on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from scipy.stats import chi2

import dmtpk

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "validation" / "schoemaker2019"
# The structure each file was simulated with, as the engine truth test defines it.
sys.path.insert(0, str(ROOT / "tests" / "validation"))
from test_schoemaker_truth import model_for  # noqa: E402

#: Design values in canonical units (L/min, L, 1/min, mg/min, mg/L).
DESIGN = {"CL": 4 / 60, "V1": 70.0, "VMAX": 1.0 / 60, "KM": 0.25, "Q": 4 / 60, "V2": 50.0,
          "KA": 1 / 60}
FILES = [f"{r}_{c}{m}" for m in ("", "MM") for r in ("Bolus", "Infusion", "Oral")
         for c in ("1CPT", "2CPT") if f"{r}_{c}{m}" != "Bolus_2CPT"]
CHI2_95 = chi2.ppf(0.95, 1)


def fit_file(path: Path, name: str, omega=None, fix=None, start=None, residual=0.3):
    """FOCE-I on one file (linear: single-dose part; Michaelis-Menten: whole history)."""
    ignore = None if name.endswith("MM") else "SD == 0"
    data = dmtpk.read_nonmem(path / f"{name}.csv", time_unit="h", amount_unit="ug",
                             concentration_unit="ug/L", ignore=ignore,
                             drop=None if name.endswith("MM") else ["SS", "II"])
    model = model_for(name)
    est = [p for p in DESIGN if p in model.parameters]
    if start is None:
        start = model.with_parameters({p: 1.3 * DESIGN[p] for p in est})
    om = {p: 0.2 for p in est} | (omega or {})
    return est, dmtpk.fit(start, data, estimate=est, omega=om, fix=fix,
                          residual={"proportional": residual}, covariance="none",
                          progress=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT)
    ap.add_argument("--files", nargs="+", choices=FILES, default=FILES)
    args = ap.parse_args(argv)
    if not (args.corpus / "Bolus_2CPTMM.csv").exists():
        print(f"corpus not found at {args.corpus}", file=sys.stderr)
        return 2
    ok = True
    for name in args.files:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est, res = fit_file(args.corpus, name)
        ratios = ", ".join(f"{p} {res.theta[p] / DESIGN[p]:.3f}" for p in est)
        variances = ", ".join(f"{p} {res.omega[p]:.3f}" for p in est)
        print(f"{name} ({time.perf_counter() - t0:.0f} s, OFV {res.ofv:.2f}): estimate / design "
              f"{ratios}; omega {variances}; prop {res.sigma['prop']:.4f}")
        ok &= res.converged
        ok &= all(abs(res.theta[p] / DESIGN[p] - 1) <= 0.10 for p in est)
        ok &= abs(res.sigma["prop"] / 0.2 - 1) <= 0.10
        for p in est:
            if abs(res.omega[p] / 0.09 - 1) <= 0.30:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, fixed = fit_file(args.corpus, name, omega=dict(res.omega) | {p: 0.09},
                                    fix=[f"omega({p})"], start=res.model,
                                    residual=res.sigma["prop"])
            rise = fixed.ofv - res.ofv
            inside = -1e-3 < rise < CHI2_95
            print(f"  omega({p}) {res.omega[p]:.3f} is outside 30 % of 0.09; fixed at 0.09 "
                  f"the objective rises by {rise:.2f} ({'<' if inside else '>='} "
                  f"{CHI2_95:.2f}): the design value is "
                  f"{'inside' if inside else 'OUTSIDE'} the 95 % profile-likelihood interval")
            ok &= inside
    print("criteria met" if ok else "criteria NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
