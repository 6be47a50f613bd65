"""Models written as model files read back to the same model (every library model, and a
fitted one)."""

from __future__ import annotations

import tomllib

import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict
from dmtpk.model.toml import to_toml, write_model


def same(a, b):
    assert list(a.parameters) == list(b.parameters)
    for k in a.parameters:
        assert a.value(k) == b.value(k), k           # bit for bit: repr of floats
    assert a.effects == b.effects
    assert a.routes == b.routes and a.structure == b.structure
    for section in ("variability", "residual", "covariates"):
        assert dict(getattr(a, section)) == dict(getattr(b, section)), section
    assert a.sources == b.sources
    assert a.description == b.description


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", dmtpk.list_models())
def test_library_models_round_trip(name, tmp_path):
    m = dmtpk.load_model(name)
    same(m, model_from_dict(tomllib.loads(to_toml(m))))
    path = write_model(m, tmp_path / "m.toml")
    same(m, dmtpk.load_model(path))
    with pytest.raises(dmtpk.DmtpkError):
        write_model(m, path)                          # exists, no force


def test_strings_with_quotes_backslashes_and_newlines():
    m = model_from_dict({"model": {"name": "x", "routes": ["iv"],
                                   "structure": "one_compartment", "elimination": "linear",
                                   "description": 'a "quoted"\\ text\nover two lines'},
                         "parameters": {"CL": "1 L/min", "V1": "10 L"}})
    back = model_from_dict(tomllib.loads(to_toml(m)))
    assert back.description == m.description
