"""Models shared by the population tests."""

from __future__ import annotations

import numpy as np
import pytest

from dmtpk.model.spec import model_from_dict

TIMES = np.linspace(0.0, 60.0, 121)


def w_model(elimination="linear", routes=("iv", "inhaled"), omega=None, extra=None):
    """Two compartments + effect compartment + sigmoid Emax (the benchmark W-model)."""
    pk = ({"CL": "1.5 L/min"} if elimination == "linear"
          else {"VMAX": "0.5 mg/min", "KM": "0.2 mg/L"})
    params = {**pk, "V1": "10 L", "Q": "2 L/min", "V2": "20 L", "KE0": "0.5 1/min", "E0": 0,
              "EMAX": 10, "EC50": "20 ng/mL", "GAMMA": 2}
    if "inhaled" in routes:
        params.update(KA="3 1/min", F_INH=0.4)
    raw = {
        "model": {"name": f"w_{elimination}", "structure": "two_compartment",
                  "elimination": elimination, "routes": list(routes)},
        "parameters": params,
        "effects": {"intensity": {"link": "effect_compartment", "model": "sigmoid_emax",
                                  "parameters": {"KE0": "KE0", "E0": "E0", "EMAX": "EMAX",
                                                 "EC50": "EC50", "GAMMA": "GAMMA"},
                                  "unit": "score", "threshold": 3}},
        "variability": {"omega": omega if omega is not None else
                        {k: 0.09 for k in (["CL"] if elimination == "linear" else ["VMAX"])
                         + ["V1", "Q", "V2", "KE0"]}},
    }
    if extra:
        for k, v in extra.items():
            raw.setdefault(k, {}).update(v)
    return model_from_dict(raw)


@pytest.fixture(scope="session")
def linear_model():
    return w_model()


@pytest.fixture(scope="session")
def mm_model():
    return w_model("michaelis_menten")
