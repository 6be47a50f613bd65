"""Engine truth check on the twelve Schoemaker et al. (2019) simulated population datasets.

Each file was simulated from per-subject parameters that it carries in its own columns, with
a 20 % residual error (log-normal: SD 0.20 of log(DV/prediction), as the corpus README's own
closed-form check finds: 0.197-0.202). Re-simulating every subject from those parameters must
therefore give log(DV/prediction) with mean about 0 and SD 0.20 +- 0.01 on every file, for
linear and Michaelis-Menten models, bolus, infusion and oral routes, through the dataset's
own 8-dose histories. A wrong engine, dose handling, unit or parameter reading shows as a
larger SD or a shifted mean.

The data are read from ``../shared/validation/schoemaker2019/`` beside the project and never
copied into it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dmtpk import read_nonmem, simulate_dataset
from dmtpk.model.spec import model_from_dict

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "validation" / "schoemaker2019"
FILES = [f"{route}_{cpt}{mm}" for route in ("Bolus", "Infusion", "Oral")
         for cpt in ("1CPT", "2CPT") for mm in ("", "MM")]

pytestmark = pytest.mark.skipif(
    not (CORPUS / "Bolus_2CPT.csv").exists(),
    reason=f"Schoemaker 2019 datasets not found at {CORPUS} (simulated population PK data, "
           "kept outside the project)")


def model_for(name: str):
    """The structure the file was simulated with; typical values are the design values of the
    corpus README (they do not enter: every parameter comes from the data)."""
    oral = name.startswith("Oral")
    mm = name.endswith("MM")
    params = {"V1": "70 L"}
    if mm:
        params.update(VMAX="1000 ug/h", KM="250 ug/L")
    else:
        params["CL"] = "4 L/h"
    if "2CPT" in name:
        params.update(Q="4 L/h", V2="50 L")
    if oral:
        params.update(KA="1 1/h", F_INH=1, TLAG_INH="0 h")
    return model_from_dict({
        "model": {"name": name.lower(), "routes": ["iv", "inhaled"] if oral else ["iv"],
                  "structure": "two_compartment" if "2CPT" in name else "one_compartment",
                  "elimination": "michaelis_menten" if mm else "linear"},
        "parameters": params})


def columns_of(path: Path) -> list[str]:
    with open(path, newline="") as fh:
        return next(csv.reader(fh))


@pytest.mark.parametrize("name", FILES)
def test_true_parameters_reproduce_the_observations(name):
    path = CORPUS / f"{name}.csv"
    cols = columns_of(path)
    # SS = 99 marks a data subset, not a steady state: the full dosing history is used.
    data = read_nonmem(path, time_unit="h", amount_unit="ug", concentration_unit="ug/L",
                       drop=[c for c in ("SS", "II") if c in cols])
    central = "V1" if "V1" in cols else "V"
    mapping = {"V1": central, "CL": "CL", "Q": "Q", "V2": "V2", "KA": "KA", "VMAX": "VM",
               "KM": "KM"}
    model = model_for(name)
    pcols = {p: c for p, c in mapping.items() if p in model.parameters and c in cols}
    assert len(pcols) == len(model.parameters) - (2 if name.startswith("Oral") else 0)
    res = simulate_dataset(model, data, parameter_columns=pcols)
    obs = (data.item("EVID") == 0) & (data.item("DV") > 0)
    assert 6900 < obs.sum() <= 6960  # the README's observation counts
    r = np.log(data.item("DV")[obs] / res.pred[obs])
    assert abs(r.mean()) < 0.02, f"mean log(DV/pred) {r.mean():.4f}"
    assert abs(r.std() - 0.20) < 0.01, f"SD log(DV/pred) {r.std():.4f}"


@pytest.mark.parametrize("name", ["Oral_1CPTMM", "Infusion_2CPTMM"])
def test_compiled_integrator_agrees_with_lsoda(name):
    """Second engine: the single-subject walker with SciPy's LSODA at rtol 1e-12. The compiled
    Dormand-Prince integrator at its default tolerances (rtol 1e-8) stays within 1e-7 relative
    on every prediction above 1e-3 ug/L; at rtol 1e-10, within 1e-9."""
    path = CORPUS / f"{name}.csv"
    cols = columns_of(path)
    data = read_nonmem(path, time_unit="h", amount_unit="ug", concentration_unit="ug/L",
                       accept="ID <= 12")
    pcols = {p: c for p, c in {"V1": "V1" if "V1" in cols else "V", "VMAX": "VM", "KM": "KM",
                                "Q": "Q", "V2": "V2", "KA": "KA"}.items() if c in cols}
    model = model_for(name)
    ref = simulate_dataset(model, data, parameter_columns=pcols, method="scipy", rtol=1e-12,
                           atol=1e-16)
    ok = ref.pred > 1e-3
    for rtol, limit in ((None, 1e-7), (1e-10, 1e-9)):
        got = simulate_dataset(model, data, parameter_columns=pcols, rtol=rtol,
                               atol=None if rtol is None else 1e-14)
        assert got.engine == "dopri5"
        assert np.max(np.abs(got.pred[ok] / ref.pred[ok] - 1)) < limit
    # Mass balance: every dose is in the body or eliminated.
    dosed = np.array([data.item("AMT")[sl].sum() for _, sl in data.subjects()]) * 1e-3  # mg
    last = np.array([sl.stop - 1 for _, sl in data.subjects()])
    np.testing.assert_allclose(got.states[last].sum(axis=1), dosed, rtol=1e-9)
