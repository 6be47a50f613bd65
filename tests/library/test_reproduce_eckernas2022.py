"""eckernas2022 reproduces the published and derived summary values.

Every expected number comes from ../shared/literature/dmt_pkpd.md (section and provenance tag in
the comment) or from hand computation. Doses are mg of DMT fumarate, converted as the model file
records ([dose_form], 3285.8 nmol/mg), as the paper did.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import dmtpk

from .conftest import LITERATURE, load_quietly, quietly

MODEL = "eckernas2022"
NM_PER_NGML = 1000.0 / 188.27  # 1 ng/mL of DMT = 5.312 nM (section 5)


@pytest.fixture(scope="module")
def model():
    return load_quietly(MODEL)


def bolus(model, mg_fumarate):
    return dmtpk.Bolus(model.to_base(f"{mg_fumarate} mg"))


# --------------------------------------------------------------------------------------------
# Typical-value derived quantities (section 2.6, "Derived typical-value quantities" [DER])
# --------------------------------------------------------------------------------------------

def test_terminal_half_life(model):
    # [DER] lambda2 = 0.0429 1/min, terminal t1/2 16.2 min; the two exponents by hand from the
    # micro-constants k10 = CL/V1, k12 = Q/V1, k21 = Q/V2.
    k10, k12, k21 = 26.0 / 221, 2.99 / 221, 2.99 / 59.0
    s = k10 + k12 + k21
    lam2 = (s - math.sqrt(s * s - 4 * k10 * k21)) / 2
    assert math.log(2) / lam2 == pytest.approx(16.2, abs=0.05)  # the literature's rounding
    # simulated: the log-linear slope late after a bolus gives the same half-life to 1e-6 (at
    # 200 min the fast phase, lambda1 = 0.139 1/min, weighs exp(-0.096 * 200) = 5e-9 of the slow)
    r = dmtpk.simulate(model, bolus(model, 20), [200.0, 240.0])
    slope = math.log(r.concentration[0] / r.concentration[1]) / 40.0
    assert math.log(2) / slope == pytest.approx(math.log(2) / lam2, rel=1e-6)


def test_plasma_concentrations_after_20_mg(model):
    # [DER] C0 = 297 nM for 20 mg fumarate (7 mg: 104 nM); 229 nM at 2 min, 156 nM at 5 min,
    # 27 nM at 20 min. The literature rounds to 3 significant figures: tolerance 0.5 %.
    r = dmtpk.simulate(model, bolus(model, 20), [0.0, 2.0, 5.0, 20.0])
    np.testing.assert_allclose(r.concentration * NM_PER_NGML, [297, 229, 156, 27], rtol=5e-3,
                               atol=0.5)
    r7 = dmtpk.simulate(model, bolus(model, 7), [0.0])
    assert r7.concentration[0] * NM_PER_NGML == pytest.approx(104, abs=0.5)


def test_effect_site_peak_time(model):
    # [DER] typical Ce peaks 1.89 min after an instantaneous bolus, at 78 % of C0; cross-check:
    # singlesp/DMT_NCT simulation peaks at 114 s = 1.9 min. Dose-independent (linear PK).
    for dose in (7, 20):
        r = dmtpk.simulate(model, bolus(model, dose), np.linspace(0, 10, 10001))
        i = int(np.argmax(r.effect_site))
        assert r.time[i] == pytest.approx(1.89, abs=0.01)
        assert r.effect_site[i] / r.concentration[0] == pytest.approx(0.78, abs=0.005)


@pytest.mark.parametrize("dose, expected", [(4, 1.15), (7, 3.93), (14, 8.25), (20, 9.29)])
def test_typical_maximum_rating(model, dose, expected):
    # [DER] typical (not median) maximum rating by dose, printed to 2 decimals
    r = quietly(dmtpk.simulate, model, bolus(model, dose), np.linspace(0, 30, 3001))
    assert r.metrics().effects["intensity"].peak == pytest.approx(expected, abs=0.006)


@pytest.mark.parametrize("dose, until", [(14, 13.2), (20, 16.3)])
def test_typical_duration_above_1(model, dose, until):
    # [DER] the typical rating stays above 1 until about 13.2 min (14 mg) and 16.3 min (20 mg)
    r = dmtpk.simulate(model, bolus(model, dose), np.linspace(0, 30, 30001))
    above = r.time[r.effect > 1.0]
    assert above.max() == pytest.approx(until, abs=0.05)


def test_ec50_in_mass_units(model):
    # [DER] EC50,e 94.7 nM = 17.8 ng/mL of DMT base: 94.7e-9 mol/L * 188.27 g/mol = 1.783e-5 g/L
    assert model.value("EC50") * 1000 == pytest.approx(94.7 * 188.27 / 1000, rel=1e-12)
    assert model.value("EC50") * 1000 == pytest.approx(17.8, abs=0.05)


def test_iaa_half_life_and_plateau(model):
    # [DER] IAA half-life ln2 VM / CLM = 71 min.
    assert math.log(2) * model.value("VM") / model.value("CLM") == pytest.approx(71, abs=0.5)
    # Section 2.6, observed IAA increments [2H] read off Figure 2 by the nlmixr2lib maintainers:
    # a plateau near 1900 (7 mg), 3100-3200 (14 mg) and 4700 nM (20 mg; pooled with 18 mg) by
    # 20-40 min, from 3-6 subjects per panel. The typical prediction must sit within 25 % of
    # these rough medians (figure reading plus small panels), and IAA must be mole for mole:
    # with fm = 1, IAA formed + DMT left = the dose in nmol at every time.
    for dose, observed in ((7, 1900), (14, 3150), (20, 4700)):
        r = dmtpk.simulate(model, bolus(model, dose), [20.0, 30.0, 40.0])
        iaa_nm = r.metabolite_concentration * 1000.0 / model.metabolite.molar_mass
        assert np.all(np.abs(iaa_nm / observed - 1) < 0.25), (dose, iaa_nm)
    r = dmtpk.simulate(model, bolus(model, 20), [0.0, 5.0, 30.0, 120.0])
    a = r.amounts
    parent = (a["central"] + a["peripheral_1"] + a["eliminated"]) / 188.27
    iaa = (a["metabolite (IAA)"] + a["metabolite_eliminated"]) / model.metabolite.molar_mass
    dose_mmol = model.to_base(20) / 188.27
    np.testing.assert_allclose(parent, dose_mmol, rtol=1e-9)
    np.testing.assert_allclose(iaa, a["eliminated"] / 188.27, rtol=1e-9, atol=1e-15)


# --------------------------------------------------------------------------------------------
# Population: median maximum rating and share above 5 (section 2.6, "Summary values")
# --------------------------------------------------------------------------------------------

N = 4000           # subjects per dose; the paper used 100, the nlmixr2lib re-simulation 3000
DOSES = (1, 4, 7, 14, 20)
GRID = np.arange(0.0, 30.0 + 1e-9, 0.1)  # peaks lie near 2 min; 0.1 min resolves them


@pytest.fixture(scope="module")
def peaks(model):
    out = {}
    for i, dose in enumerate(DOSES):
        r = quietly(dmtpk.simulate_population, model, bolus(model, dose), GRID, n=N,
                    seed=2022 + i)
        out[dose] = r.effect.max(axis=1)  # each subject's maximum rating (no residual error)
    return out


# [2H] nlmixr2lib re-simulation with 3000 subjects per dose: medians and % above 5
NLMIXR2LIB_MEDIAN = {1: 0.02, 4: 1.35, 7: 4.12, 14: 7.90, 20: 9.10}
NLMIXR2LIB_ABOVE5 = {1: 0.0, 4: 3.0, 7: 34.8, 14: 91.1, 20: 98.7}
# [ABS] the paper (100 subjects per dose): medians 0, 2, 4, 8, 9 (rounded to whole ratings);
# [2H] Figure 4 medians read off the figure 0, 1.35, 3.95, 7.95, 9.2; share above 5 (Results
# text): 0, 4, 42, 92, 100 %
PAPER_MEDIAN = {1: 0, 4: 2, 7: 4, 14: 8, 20: 9}
FIGURE_MEDIAN = {1: 0.0, 4: 1.35, 7: 3.95, 14: 7.95, 20: 9.2}
PAPER_ABOVE5 = {1: 0.0, 4: 4.0, 7: 42.0, 14: 92.0, 20: 100.0}


@pytest.mark.parametrize("dose", DOSES)
def test_median_maximum_rating(peaks, dose):
    med = float(np.median(peaks[dose]))
    # Same model and subjects as nlmixr2lib's 3000: Monte Carlo error of a median of ~4000
    # draws is below 0.05 rating units here (density of peaks near the median), so two
    # independent runs differ by < 0.15; allow 0.15.
    assert med == pytest.approx(NLMIXR2LIB_MEDIAN[dose], abs=0.15)
    # Figure 4 medians were read off a box plot (about +-0.25 of a rating) from only 100
    # subjects per dose (median SE ~0.2): allow 0.5.
    assert med == pytest.approx(FIGURE_MEDIAN[dose], abs=0.5)
    # The abstract rounds to whole ratings (and rounds the 4 mg median 1.35 up to 2): the
    # simulated median is within 0.7 of the printed whole number.
    assert abs(med - PAPER_MEDIAN[dose]) <= 0.7


@pytest.mark.parametrize("dose", DOSES)
def test_share_above_5(peaks, dose):
    share = 100.0 * float(np.mean(peaks[dose] > 5.0))
    p = share / 100.0
    # Against nlmixr2lib (3000 subjects): binomial SE of the difference of two independent
    # estimates, sqrt(p(1-p)(1/3000 + 1/4000)); allow 4 SE plus 0.5 points for rounding.
    se_lib = 100 * math.sqrt(p * (1 - p) * (1 / 3000 + 1 / N))
    assert abs(share - NLMIXR2LIB_ABOVE5[dose]) <= 4 * se_lib + 0.5
    # Against the paper's 100 subjects per dose: binomial SE at n = 100 dominates
    # (about 4.8 points at 35 %); allow 3 SE plus 1 point (the paper's 42 % at 7 mg sits
    # 1.5 SE above the expected 35 %, as the literature file notes).
    se_paper = 100 * math.sqrt(max(p * (1 - p), 0.01 * 0.99) / 100)
    assert abs(share - PAPER_ABOVE5[dose]) <= 3 * se_paper + 1.0


def test_dose_advice_of_the_paper(peaks):
    # [ABS] going above 14 mg adds little intensity; below 7 mg stays sub-psychedelic
    assert np.median(peaks[20]) - np.median(peaks[14]) < 1.5
    assert np.median(peaks[4]) < 2.0 and np.mean(peaks[4] > 5) < 0.08


def test_optimised_bolus_plus_infusion_lands_in_the_7_9_band(model):
    # Section 2.8 [ABS]: the continuous model's optimum, 16 mg DMT fumarate then 1.4 mg/min,
    # targets a rating of 7-9, with under 53 % of subjects inside the target. The infusion's
    # length was not retrieved: 60 min is simulated and checked from 2 min (after the bolus
    # peak has formed) to the end.
    regimen = dmtpk.Bolus(model.to_base("16 mg")) + dmtpk.Infusion(
        rate=model.to_base("1.4 mg/min"), duration="60 min")
    t = np.arange(0.0, 60.0 + 1e-9, 0.5)
    r = quietly(dmtpk.simulate_population, model, regimen, t, n=N, seed=2024)
    med = np.median(r.effect, axis=0)[t >= 2.0]
    assert med.min() >= 7.0 and med.max() <= 9.0, (med.min(), med.max())
    inside = np.mean((r.effect >= 7.0) & (r.effect <= 9.0), axis=0)[t >= 2.0]
    assert inside.max() < 0.53


def test_cited_targets_are_in_the_literature_file():
    """The numbers above are quoted from the literature file; check they are still there."""
    if not LITERATURE.is_file():
        pytest.skip(f"literature file not found at {LITERATURE}")
    text = LITERATURE.read_text(encoding="utf-8")
    for quoted in ("**0, 2, 4, 8, 9**", "**0, 4, 42, 92, 100 %**", "0, 1.35, 3.95, 7.95, 9.2",
                   "0.02, 1.35, 4.12, 7.90, 9.10", "0, 3.0,\n    34.8, 91.1, 98.7",
                   "terminal t½ of **16.2 min**", "**1.89 min**", "| 1.15 | 3.93 | 8.25 | 9.29 |",
                   "**16 mg DMT fumarate bolus, then\n  1.4 mg/min**", "297 nM",
                   "229 nM at 2 min, 156 nM at 5 min,\n  27 nM at 20 min"):
        assert quoted in text, quoted


def test_residual_errors_as_published(model):
    # Section 2.6, Table 1 [2H]: proportional 50 % on DMT, 19 % on IAA; on the rating, additive
    # SD 0.82 on logit(rating/10) (Eq. 1). With 20000 subjects the SD of each error is estimated
    # to about 1/sqrt(2n) = 0.5 % relative: allow 3 %.
    t = np.array([2.0, 5.0])
    r = dmtpk.simulate_population(model, bolus(model, 14), t, n=20000, seed=7, residual=True)
    obs = r.observations
    rating, pred = obs["intensity"][:, 1], r.effect[:, 1]
    inside = (pred > 0.01) & (pred < 9.99)
    assert inside.mean() > 0.9
    assert np.all((obs["intensity"] >= 0) & (obs["intensity"] <= 10))  # bounded scale
    z = np.log(rating[inside] / (10 - rating[inside])) - np.log(pred[inside] / (10 - pred[inside]))
    assert np.std(z) == pytest.approx(0.82, rel=0.03)
    assert np.std(obs["concentration"][:, 1] / r.concentration[:, 1] - 1) == pytest.approx(
        0.50, rel=0.03)
    assert np.std(obs["metabolite"][:, 1] / r.metabolite_concentration[:, 1] - 1) == \
        pytest.approx(0.19, rel=0.03)
