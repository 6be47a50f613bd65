"""Qualify dmtpk's record engine against NONMEM on the mrgsolve/nmtests dosing corpus.

Reads the corpus from ``../shared/validation/nmtests/`` beside the project (or ``--corpus``),
simulates its 29 scenarios with the exact engine and with the SciPy engine (steady states by
iterating doses to convergence, independent of the exact formula), and prints one row per
scenario: the largest relative difference from NONMEM's CP and how many records agree with
NONMEM's printed value (5 significant figures) when dmtpk's value is rounded the same way.

Usage::

    python validation/nmtests.py [--corpus PATH]

Exit status 0 when every record of every scenario matches on both engines, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from dmtpk import read_nonmem, simulate_dataset
from dmtpk.model.spec import model_from_dict

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "nmtests"

#: The corpus model (its README): one compartment with a depot, ADVAN2 TRANS2. The inhaled
#: route provides the depot (compartment 1) with KA; F_INH = 1 and no lag, so depot doses are
#: as NONMEM gives them. Central doses (compartment 2) take ALAG2, F2, R2, D2 from the data.
MODEL = {
    "model": {"name": "nmtests_1001", "structure": "one_compartment",
              "routes": ["iv", "inhaled"]},
    "parameters": {"CL": "1.1 L/h", "V1": "20 L", "KA": "1.5 1/h", "F_INH": 1,
                   "TLAG_INH": "0 h"},
}
RECORD_VALUES = {"ALAG2": "LAGT", "F2": "BIOAV", "R2": "RAT2", "D2": "DUR2"}


def rounded_match(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """True where ``ours`` printed to 5 significant figures equals the reference."""
    return np.array([float(f"{a:.5g}") == b for a, b in zip(ours, reference)])


def relative_difference(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|ours - ref| / |ref|; where the reference is 0, the absolute difference (ng/mL)."""
    diff = np.abs(ours - reference)
    return np.where(reference != 0, diff / np.where(reference != 0, np.abs(reference), 1.0),
                    diff)


def run(corpus: Path):
    model = model_from_dict(MODEL)
    data = read_nonmem(corpus / "1001.csv", time_unit="h", amount_unit="mg",
                       concentration_unit="ng/mL")
    with open(corpus / "1001-nm.csv", newline="") as fh:
        ref = np.array([[float(v) for v in row] for row in list(csv.reader(fh))[1:]])
    with open(corpus / "1001-run-key.csv", newline="") as fh:
        descr = {int(r["ID"]): r["descr"] for r in csv.DictReader(fh)}
    if ref.shape[0] != len(data) or not np.array_equal(ref[:, 0], data.item("ID")) \
            or not np.array_equal(ref[:, 1], data.item("TIME")):
        raise SystemExit("1001-nm.csv does not line up with 1001.csv record for record")
    out = {}
    for engine, ss in (("analytic", "exact"), ("scipy", "iterate")):
        t0 = time.perf_counter()
        res = simulate_dataset(model, data, method=engine, ss=ss, record_values=RECORD_VALUES)
        out[engine] = (res.pred, time.perf_counter() - t0)
    return data, ref, descr, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args(argv)
    if not (args.corpus / "1001.csv").exists():
        print(f"corpus not found at {args.corpus}", file=sys.stderr)
        return 2
    data, ref, descr, out = run(args.corpus)
    ids = ref[:, 0].astype(int)
    cp = ref[:, 2]
    print(f"{'ID':>3}  {'records':>7}  {'max rel diff exact':>18}  {'max rel diff SciPy':>18}  "
          f"{'match exact':>11}  {'match SciPy':>11}  scenario")
    all_ok = True
    for sid in sorted(set(ids)):
        sel = ids == sid
        cells = []
        matches = []
        for engine in ("analytic", "scipy"):
            pred = out[engine][0][sel]
            cells.append(f"{relative_difference(pred, cp[sel]).max():18.2e}")
            m = rounded_match(pred, cp[sel])
            matches.append(f"{int(m.sum()):>5}/{m.size:<5}")
            all_ok &= bool(m.all())
        print(f"{sid:>3}  {int(sel.sum()):>7}  {cells[0]}  {cells[1]}  {matches[0]:>11}  "
              f"{matches[1]:>11}  {descr.get(sid, '')}")
    between = np.abs(out["analytic"][0] - out["scipy"][0]) / np.maximum(np.abs(cp), 1e-9)
    print(f"\nrecords: {len(data)}; exact engine {out['analytic'][1]:.2f} s, SciPy engine "
          f"{out['scipy'][1]:.2f} s; largest relative difference between the engines "
          f"{between[cp > 0].max():.1e}")
    print("all records match NONMEM to 5 significant figures" if all_ok
          else "SOME RECORDS DO NOT MATCH")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
