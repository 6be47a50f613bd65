"""Qualify dmtpk's FOCE-I (and SAEM) against NONMEM 7.4.3 on the Schoemaker et al. (2019)
``Bolus_2CPT`` dataset.

Reads the data and NONMEM's ``runODE032.ext`` from ``../shared/validation/schoemaker2019/``
(or ``--corpus``), fits the single-dose part (``SD = 1``) from NONMEM's initial estimates with
the control stream's model (CL, V1, Q, V2 log-normal with a diagonal Ω, proportional error) and
prints dmtpk's estimates, standard errors and shrinkage beside NONMEM's, with the objective at
NONMEM's final estimates.

Usage::

    python validation/schoemaker_fit.py [--corpus PATH] [--saem]

Exit status 0 when the issue's criteria hold (OFV at NONMEM's estimates within 0.05; typical
values and residual SD within 1 %, Ω within 5 %, SEs within 10 %, shrinkage within 1 point).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import dmtpk

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "validation" / "schoemaker2019"
# The control stream's model and the .ext reader, as the qualification test defines them.
sys.path.insert(0, str(ROOT / "tests" / "validation"))
from test_focei_nonmem import NAMES, model_at, omega_at, read_ext  # noqa: E402

NM_SHRINKAGE = {"CL": 1.9, "V1": 2.5, "Q": 40.5, "V2": 28.4, "epsilon": 7.0}  # corpus README


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT)
    ap.add_argument("--saem", action="store_true", help="also run SAEM (seed 7)")
    args = ap.parse_args(argv)
    if not (args.corpus / "runODE032.ext").exists():
        print(f"corpus not found at {args.corpus}", file=sys.stderr)
        return 2
    ext = read_ext(args.corpus / "runODE032.ext")
    final, se_nm, start = ext[-1000000000], ext[-1000000001], ext[0]
    data = dmtpk.read_nonmem(args.corpus / "Bolus_2CPT.csv", time_unit="h", amount_unit="ug",
                             concentration_unit="ug/L", drop=["SS", "II"], ignore="SD == 0")
    from dmtpk.fit.estimate import at_estimates
    from dmtpk.fit.problem import build_problem
    prob = build_problem(model_at(final), data, omega=omega_at(final))
    ofv_at = float(at_estimates(prob, prob.theta, prob.omega0, prob.sd0,
                                covariance=None)["ofv"].sum())
    res = dmtpk.fit(model_at(start), data, omega=omega_at(start), progress=False)
    to_h = {"CL": 60.0, "Q": 60.0, "V1": 1.0, "V2": 1.0}
    ok = abs(ofv_at - final["OBJ"]) < 0.05
    print(f"OFV at NONMEM's final estimates: dmtpk {ofv_at:.4f}, NONMEM {final['OBJ']:.4f}")
    print(f"FOCE-I: OFV {res.ofv:.4f} in {res.elapsed:.1f} s ({res.iterations} iterations)")
    print(f"{'':12}{'dmtpk':>12}{'NONMEM':>12}{'SE dmtpk':>12}{'SE NONMEM':>12}")
    for k, n in enumerate(NAMES):
        v, nm = math.log(res.theta[n] * to_h[n]), final[f"THETA{k + 1}"]
        se = res.se[n] / res.theta[n]
        print(f"{'log ' + n:12}{v:12.5f}{nm:12.5f}{se:12.5f}{se_nm[f'THETA{k + 1}']:12.5f}")
        ok &= abs(math.exp(v - nm) - 1) < 0.01 and abs(se / se_nm[f"THETA{k + 1}"] - 1) < 0.1
    for k, n in enumerate(NAMES):
        key = f"OMEGA({k + 1},{k + 1})"
        v, se = res.omega[n], res.se[f"omega({n})"]
        print(f"{'omega ' + n:12}{v:12.5f}{final[key]:12.5f}{se:12.5f}{se_nm[key]:12.5f}")
        ok &= abs(v / final[key] - 1) < 0.05 and abs(se / se_nm[key] - 1) < 0.1
    v, se = res.sigma["prop"], res.se["prop"]
    print(f"{'prop':12}{v:12.5f}{final['THETA5']:12.5f}{se:12.5f}{se_nm['THETA5']:12.5f}")
    ok &= abs(v / final["THETA5"] - 1) < 0.01 and abs(se / se_nm["THETA5"] - 1) < 0.1
    print("shrinkage %: " + ", ".join(f"{k} {res.shrinkage[k]:.1f} (NONMEM {v})"
                                      for k, v in NM_SHRINKAGE.items()))
    ok &= all(abs(res.shrinkage[k] - v) < 1 for k, v in NM_SHRINKAGE.items())
    if args.saem:
        s = dmtpk.fit(model_at(start), data, omega=omega_at(start), method="saem", seed=7,
                      covariance="none", importance_samples=1000)
        print(f"SAEM: {s.elapsed:.1f} s; " + ", ".join(
            f"{n} {s.theta[n] * to_h[n]:.4g} ({math.exp(final[f'THETA{k + 1}']):.4g})"
            for k, n in enumerate(NAMES)) + "; omega " + ", ".join(
            f"{s.omega[n]:.4f} ({final[f'OMEGA({k + 1},{k + 1})']:.4f})"
            for k, n in enumerate(NAMES)) + f"; OFV by importance sampling "
            f"{s.ofv_importance:.2f} +- {s.ofv_importance_se:.2f}")
    print("criteria met" if ok else "criteria NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
