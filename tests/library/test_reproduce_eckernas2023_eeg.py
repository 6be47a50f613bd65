"""eckernas2023_eeg reproduces the effect-site maxima at 20 mg and the qualitative EEG findings.

Expected numbers are from ../shared/literature/dmt_pkpd.md, section 2.7 (tags in comments).
"""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk

from dmtpk.model.spec import OutOfRangeWarning

from .conftest import LITERATURE, load_quietly

NM_PER_NGML = 1000.0 / 188.27


@pytest.fixture(scope="module")
def model():
    return load_quietly("eckernas2023_eeg")


@pytest.fixture(scope="module")
def at20(model):
    t = np.linspace(0.0, 60.0, 60001)  # 0.001 min steps: peak times to +-0.001 min
    return dmtpk.simulate(model, dmtpk.Bolus(model.to_base("20 mg")), t)


# [DER] typical Ce,max at 20 mg DMT fumarate with 3286 nmol/mg, and the time it is reached
DERIVED = {"alpha_power": (193.7, 3.30), "beta_power": (226.5, 2.09), "lzc": (206.5, 2.80)}
# [2H] Figure 5 effect-site axes at 20 mg, digitised by the nlmixr2lib maintainers
FIGURE5 = {"alpha_power": 187.3, "beta_power": 219.1, "lzc": 200.2}


@pytest.mark.parametrize("endpoint", sorted(DERIVED))
def test_effect_site_maximum_at_20_mg(at20, endpoint):
    ce = at20.effect_sites[endpoint] * NM_PER_NGML
    i = int(np.argmax(ce))
    cmax, tmax = DERIVED[endpoint]
    # the derived values are printed to 4 and 3 significant figures
    assert ce[i] == pytest.approx(cmax, abs=0.06)
    assert at20.time[i] == pytest.approx(tmax, abs=0.006)
    # The digitised Figure 5 maxima sit 3.1-3.4 % below (206.5/200.2 to 193.7/187.3): they
    # imply a factor of about 3150-3190 nmol per mg of DMT fumarate instead of the 1:1 salt's
    # 3286 (section 5, open question 2: "about 3150"). The gap is that factor, not the model:
    # it lies between 2 % and 5 % for every readout.
    assert 1.02 < ce[i] / FIGURE5[endpoint] < 1.05


def test_forms_are_inhibitory_and_fractional(model, at20):
    # Section 2.7: alpha and beta R0 (1 - Imax C^g/(IC50^g + C^g)); LZc R0 (1 + Emax ...).
    assert model.endpoint("alpha_power").model == "fractional_imax"
    assert model.endpoint("beta_power").model == "fractional_imax"
    assert model.endpoint("lzc").model == "fractional_emax"
    # by hand at the alpha effect-site maximum: 0.824 (1 - 193.7^3.66 / (70.7^3.66 + 193.7^3.66))
    ce = at20.effect_sites["alpha_power"].max() * NM_PER_NGML
    expected = 0.824 * (1 - ce ** 3.66 / (70.7 ** 3.66 + ce ** 3.66))
    assert at20.effects["alpha_power"].min() == pytest.approx(expected, rel=1e-6)
    # baselines before the dose
    assert at20.effects["alpha_power"][0] == pytest.approx(0.824)
    assert at20.effects["beta_power"][0] == pytest.approx(0.0644)
    assert at20.effects["lzc"][0] == pytest.approx(0.321)


def test_qualitative_targets(model):
    # [2H] vignette: alpha power essentially abolished at 10 mg and above, recovering by about
    # 40 min; the LZc rise saturates near +10 %. By hand for the typical subject, suppression
    # at the effect-site maximum is x^3.66 / (1 + x^3.66) with x = Ce,max / 70.7 nM and
    # Ce,max = 193.7 nM x dose / 20 mg: 97.6 % (20 mg), 91.6 % (14 mg), 76 % (10 mg). So the
    # typical subject matches "abolished" from 14 mg; at 10 mg it keeps about a quarter of its
    # alpha power (the vignette's statement is qualitative and not per typical subject).
    t = np.linspace(0.0, 60.0, 6001)
    for dose, suppressed in ((10, 0.76), (14, 0.916), (20, 0.976)):
        r = dmtpk.simulate(model, dmtpk.Bolus(model.to_base(f"{dose} mg")), t)
        alpha = r.effects["alpha_power"] / 0.824
        assert 1 - alpha.min() == pytest.approx(suppressed, abs=0.005), dose
        assert alpha[t >= 40.0].min() > 0.80, dose  # mostly recovered by 40 min
        assert r.effects["lzc"].max() / 0.321 - 1 < 0.0996 + 1e-12  # bounded by EMAX
    r = dmtpk.simulate(model, dmtpk.Bolus(model.to_base("20 mg")), t)
    assert r.effects["lzc"].max() / 0.321 - 1 > 0.08  # near its +10 % ceiling at 20 mg
    # beta power: IMAX 0.704 is not reached at 20 mg (only the highest dose had an effect)
    assert 1 - r.effects["beta_power"].min() / 0.0644 < 0.704


def test_variability_format(model):
    var = model.variability
    # Box-Cox on the alpha baseline, lambda -0.348 (Table 1; Appendix S1 THETA(10))
    assert var["distribution"] == {"R0_ALPHA": "boxcox"}
    assert var["boxcox"]["R0_ALPHA"] == pytest.approx(-0.348)
    assert var["omega"]["R0_ALPHA"] == pytest.approx(1.57)
    # between-occasion variances (BOV %CV 32, 21, 1.7 = sqrt(omega^2) x 100)
    occ = var["occasion"]["omega"]
    for name, cv in (("R0_ALPHA", 32), ("R0_BETA", 21), ("R0_LZC", 1.7)):
        assert 100 * occ[name] ** 0.5 == pytest.approx(cv, abs=0.5), name
    # BSV %CV as printed: 125 (alpha R0), 29 (IC50), 63 and 75 (beta), 5.2, 42, 77 (LZc)
    for name, cv in (("R0_ALPHA", 125), ("IC50_ALPHA", 29), ("R0_BETA", 63), ("IC50_BETA", 75),
                     ("R0_LZC", 5.2), ("EMAX_LZC", 42), ("EC50_LZC", 77), ("CL", 47.3)):
        assert 100 * var["omega"][name] ** 0.5 == pytest.approx(cv, rel=0.02), name
    assert var["correlation"]["R0_BETA,IC50_BETA"] == pytest.approx(-0.46)


def test_cited_targets_are_in_the_literature_file():
    if not LITERATURE.is_file():
        pytest.skip(f"literature file not found at {LITERATURE}")
    text = LITERATURE.read_text(encoding="utf-8")
    for quoted in ("**187.3 nM (alpha),\n    219.1 nM (beta) and 200.2 nM (LZc)**",
                   "193.7, 226.5 and\n    206.5 nM", "3.30, 2.09 and 2.80 min",
                   "Box-Cox shape −0.348", "**3150 nmol per mg**"):
        assert quoted in text, quoted


def test_outside_the_fitted_doses_warns(model):
    with pytest.warns(OutOfRangeWarning, match="eckernas2023_eeg.*7 mg to 20 mg DMT fumarate"):
        model.check_regimen(dmtpk.Bolus(model.to_base("30 mg")))
