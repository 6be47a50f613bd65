"""Small models and dataset builders for the dataset tests."""

from __future__ import annotations

import numpy as np

from dmtpk.io import dataset_from_records
from dmtpk.model.spec import model_from_dict

CL, V, KA = 1.1, 20.0, 1.5  # L/h, L, 1/h
K = CL / V


def one_cmt(**extra):
    """One compartment with a depot (CMT 1) and central (CMT 2); h-based values."""
    raw = {"model": {"name": "one_cmt", "structure": "one_compartment",
                     "routes": ["iv", "inhaled"]},
           "parameters": {"CL": f"{CL} L/h", "V1": f"{V} L", "KA": f"{KA} 1/h", "F_INH": 1,
                          "TLAG_INH": "0 h"}}
    for key, value in extra.items():
        raw.setdefault(key, {}).update(value)
    return model_from_dict(raw)


def mm_model():
    """One compartment, central only (CMT 1), Michaelis-Menten elimination."""
    return model_from_dict({
        "model": {"name": "mm", "structure": "one_compartment", "routes": ["iv"],
                  "elimination": "michaelis_menten"},
        "parameters": {"VMAX": "20 mg/h", "KM": "2 mg/L", "V1": "20 L"}})


COLUMNS = ("ID", "TIME", "EVID", "AMT", "RATE", "CMT", "SS", "II", "ADDL", "DV")


def records(rows, extra=(), **kw):
    """A dataset from tuples (ID, TIME, EVID, AMT, RATE, CMT, SS, II, ADDL[, extra...]);
    DV missing everywhere (a simulation template). Times in h unless ``time_unit`` is given."""
    names = list(COLUMNS[:-1]) + list(extra)
    cols = {n: [r[k] for r in rows] for k, n in enumerate(names)}
    cols["DV"] = [np.nan] * len(rows)
    kw.setdefault("time_unit", "h")
    return dataset_from_records(cols, **kw)


def obs(sid, times, cmt=2):
    return [(sid, float(t), 0, 0, 0, cmt, 0, 0, 0) for t in times]
