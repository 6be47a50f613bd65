"""Qualification against NONMEM: the mrgsolve/nmtests dosing corpus (29 scenarios).

The corpus is read from ``../shared/validation/nmtests/`` beside the project and never copied
into it (its licence differs). Expected values are NONMEM's own printed output (CP, 5
significant figures); a record matches when dmtpk's value printed the same way is identical.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dmtpk import read_nonmem, simulate_dataset
from dmtpk.model.spec import model_from_dict

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "validation" / "nmtests"

pytestmark = pytest.mark.skipif(
    not (CORPUS / "1001.csv").exists(),
    reason=f"NONMEM reference corpus not found at {CORPUS} (mrgsolve/nmtests dosing data, kept "
           "outside the project)")

# One compartment with a depot (ADVAN2 TRANS2), the corpus README's values. Depot = CMT 1,
# central = CMT 2; central doses take lag, F, modelled rate and duration from data columns.
MODEL = {
    "model": {"name": "nmtests_1001", "structure": "one_compartment",
              "routes": ["iv", "inhaled"]},
    "parameters": {"CL": "1.1 L/h", "V1": "20 L", "KA": "1.5 1/h", "F_INH": 1,
                   "TLAG_INH": "0 h"},
}
RECORD_VALUES = {"ALAG2": "LAGT", "F2": "BIOAV", "R2": "RAT2", "D2": "DUR2"}


@pytest.fixture(scope="module")
def corpus():
    data = read_nonmem(CORPUS / "1001.csv", time_unit="h", amount_unit="mg",
                       concentration_unit="ng/mL")
    with open(CORPUS / "1001-nm.csv", newline="") as fh:
        ref = np.array([[float(v) for v in row] for row in list(csv.reader(fh))[1:]])
    return data, ref


@pytest.mark.parametrize("engine,ss,batch", [("analytic", "exact", True),
                                             ("analytic", "exact", False),
                                             ("scipy", "iterate", False)],
                         ids=["compiled-walker", "single-subject-walker", "scipy"])
def test_every_scenario_matches_nonmem(corpus, engine, ss, batch):
    data, ref = corpus
    assert len(data) == ref.shape[0] == 3837
    np.testing.assert_array_equal(data.item("ID"), ref[:, 0])
    np.testing.assert_array_equal(data.item("TIME"), ref[:, 1])
    res = simulate_dataset(model_from_dict(MODEL), data, method=engine, ss=ss,
                           record_values=RECORD_VALUES, batch=batch)
    assert res.engine == engine
    printed = np.array([float(f"{v:.5g}") for v in res.pred])
    ids = ref[:, 0].astype(int)
    failing = sorted({int(i) for i in ids[printed != ref[:, 2]]})
    assert failing == [], f"scenarios not matching NONMEM: {failing}"
    assert sorted(set(ids)) == list(range(1, 30))
    # Beyond the printed precision: within half a unit of the fifth significant figure.
    nz = ref[:, 2] != 0
    rel = np.abs(res.pred[nz] - ref[nz, 2]) / ref[nz, 2]
    assert rel.max() < 5e-5
    assert np.all(np.abs(res.pred[~nz]) < 5e-3)
