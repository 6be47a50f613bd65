"""Benchmark workloads shared by the benchmark scripts.

W-model: two compartments + effect compartment + sigmoid Emax (CL 1.5 L/min, V1 10 L,
Q 2 L/min, V2 20 L, KE0 0.5 /min, EC50 20 ng/mL, EMAX 10, GAMMA 2), with an inhaled depot
(KA 3 /min, F_INH 0.4) for the inhaled workload; 121 output times over 60 min.
"""

from __future__ import annotations

import numpy as np

import dmtpk
from dmtpk.model.spec import model_from_dict

TIMES = np.linspace(0.0, 60.0, 121)

PARAMS = {"CL": 1.5, "V1": 10.0, "Q": 2.0, "V2": 20.0, "KE0": 0.5, "EC50": 0.020,  # mg/L
          "EMAX": 10.0, "GAMMA": 2.0, "KA": 3.0, "F_INH": 0.4}


def w_model(elimination: str = "linear"):
    pk = ({"CL": "1.5 L/min"} if elimination == "linear"
          else {"VMAX": "0.5 mg/min", "KM": "0.2 mg/L"})
    return model_from_dict({
        "model": {"name": f"bench_2cmt_{elimination}", "structure": "two_compartment",
                  "elimination": elimination, "routes": ["iv", "inhaled"]},
        "parameters": {**pk, "V1": "10 L", "Q": "2 L/min", "V2": "20 L", "KA": "3 1/min",
                       "F_INH": 0.4, "KE0": "0.5 1/min", "E0": 0, "EMAX": 10,
                       "EC50": "20 ng/mL", "GAMMA": 2},
        "effects": {"intensity": {"link": "effect_compartment", "model": "sigmoid_emax",
                                  "parameters": {"KE0": "KE0", "E0": "E0", "EMAX": "EMAX",
                                                 "EC50": "EC50", "GAMMA": "GAMMA"},
                                  "unit": "score", "threshold": 3}},
    })


REGIMENS = {
    "iv_bolus": dmtpk.Bolus(20.0),
    "bolus_infusion": dmtpk.Bolus(20.0) + dmtpk.Infusion(rate=1.0, duration=30.0),
    "inhaled": dmtpk.Inhalation(20.0),
}
