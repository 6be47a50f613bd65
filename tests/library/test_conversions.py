"""Salt, molar and dose-form conversions against hand-computed values (literature file,
section 5: DMT base 188.27 g/mol, fumaric acid 116.07 g/mol)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dmtpk

from .conftest import load_quietly

DMT = 188.27
FUMARIC = 116.07
FUMARATE = DMT + FUMARIC          # 1:1 salt, 304.34 g/mol
HEMIFUMARATE = DMT + FUMARIC / 2  # 2:1 salt, 246.305 g per mol of DMT


def test_salt_base_fractions_by_hand():
    # section 5 [DER]: 0.6186 mg base per mg fumarate (3286 nmol), 0.7644 per mg hemifumarate
    # (4060 nmol)
    assert dmtpk.Bolus("1 mg", salt="fumarate").dose == pytest.approx(DMT / FUMARATE, rel=1e-12)
    assert DMT / FUMARATE == pytest.approx(0.6186, abs=5e-5)
    assert 1e6 / FUMARATE == pytest.approx(3286, abs=0.5)
    assert dmtpk.Bolus("1 mg", salt="hemifumarate").dose == pytest.approx(DMT / HEMIFUMARATE,
                                                                          rel=1e-12)
    assert DMT / HEMIFUMARATE == pytest.approx(0.7644, abs=5e-5)
    assert 1e6 / HEMIFUMARATE == pytest.approx(4060, abs=0.5)


def test_molar_doses_and_concentrations_by_hand():
    # 1000 nmol DMT = 188.27 ug = 0.18827 mg; a molar dose counts DMT whatever the salt
    assert dmtpk.Bolus("1000 nmol").dose == pytest.approx(0.18827, rel=1e-12)
    assert dmtpk.Bolus("1000 nmol", salt="fumarate").dose == pytest.approx(0.18827, rel=1e-12)
    # 1 ng/mL = 5.312 nM (section 5 [DER]): 1e-6 g/L / 188.27 g/mol = 5.3115e-9 mol/L
    assert 1e3 / DMT == pytest.approx(5.312, abs=5e-4)
    model = load_quietly("eckernas2022")
    # 94.7 nM * 188.27 g/mol = 17.829 ug/L = 0.017829 mg/L (canonical)
    assert model.value("EC50") == pytest.approx(94.7e-9 * DMT * 1e3, rel=1e-12)


def test_model_dose_form_is_the_authors_factor():
    model = load_quietly("eckernas2022")
    form = model.dose_form
    assert form.salt == "fumarate"
    assert form.nmol_per_mg == pytest.approx(3285.8)          # as the file states it
    assert form.base_fraction == pytest.approx(3285.8 * DMT / 1e6, rel=1e-12)
    # within 1e-5 of the 1:1 stoichiometry (3285.8 is 1e6/304.34 rounded to 0.1 nmol)
    assert form.base_fraction == pytest.approx(DMT / FUMARATE, rel=2e-5)
    assert "assumption" in form.info and "3150" in form.info["assumption"]


def test_to_base_amounts_rates_and_molar():
    model = load_quietly("eckernas2022")
    f = 3285.8 * DMT / 1e6
    assert model.to_base(20) == pytest.approx(20 * f, rel=1e-12)          # bare number: mg
    q = model.to_base("20 mg")
    assert q.units == dmtpk.ureg.mg and q.magnitude == pytest.approx(20 * f, rel=1e-12)
    r = model.to_base("1.4 mg/min")
    assert r.to("mg/min").magnitude == pytest.approx(1.4 * f, rel=1e-12)
    assert model.to_base("0.3 mg/kg").to("mg/kg").magnitude == pytest.approx(0.3 * f)
    assert model.to_base("500 nmol").to("nmol").magnitude == pytest.approx(500)  # already DMT
    # the Bolus built from it equals the paper's nmol dose divided by V1: 20 mg fumarate =
    # 65716 nmol; / 221 L = 297.4 nM at time 0
    r0 = dmtpk.simulate(model, dmtpk.Bolus(model.to_base("20 mg")), [0.0])
    assert r0.concentration[0] * 1e3 / DMT == pytest.approx(20 * 3285.8 / 221, rel=1e-9)
    with pytest.raises(dmtpk.UnitError):
        model.to_base("20 L")
    with pytest.raises(dmtpk.ValidationError):
        model.to_base(-1.0)


def test_model_without_dose_form_states_base():
    model = load_quietly("eckernas2022").with_parameters()  # same file: still fumarate
    assert model.dose_form.salt == "fumarate"
    from dmtpk.model.spec import model_from_dict
    raw = {"model": {"name": "b", "structure": "one_compartment", "routes": ["iv"]},
           "parameters": {"CL": "1 L/min", "V1": "10 L"}}
    m = model_from_dict(raw)
    assert m.dose_form.salt == "base" and m.dose_form.base_fraction == pytest.approx(1.0)
    assert m.to_base(7.0) == 7.0


def test_iaa_concentration_uses_its_own_molar_mass():
    # After 20 mg fumarate all DMT (65716 nmol) becomes IAA mole for mole. The IAA amount
    # state is in mg of IAA: nmol x 175.19 g/mol. At t the IAA formed equals the DMT eliminated.
    model = load_quietly("eckernas2022")
    r = dmtpk.simulate(model, dmtpk.Bolus(model.to_base("20 mg")), [30.0])
    a = {k: v[0] for k, v in r.amounts.items()}
    formed_nmol = (a["metabolite (IAA)"] + a["metabolite_eliminated"]) / 175.19 * 1e6
    assert formed_nmol == pytest.approx(a["eliminated"] / DMT * 1e6, rel=1e-9)
    iaa_nm = r.metabolite_concentration[0] * 1e3 / 175.19
    assert iaa_nm == pytest.approx(a["metabolite (IAA)"] / 175.19 * 1e6 / 9.55, rel=1e-9)
    assert math.isfinite(iaa_nm) and np.isscalar(iaa_nm)
