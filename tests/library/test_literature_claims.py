"""What the model files claim about themselves, checked: the inhaled model's tables of what it
does and does not reproduce (read from the file's own comments, so file and test cannot drift),
the F_INH sweep behind "no single F_INH does both", citations only for what a source reports,
the share of Hill coefficients below 1 against the log-normal CDF, and the comparison of
eckernas2022 with the six-hour infusions of van der Heijden et al. (2025).

Independent references: scipy.stats.lognorm for the Hill share, the steady state of a constant
infusion (rate x base fraction / CL) for the infusion comparison, the literature file
(../shared/literature/dmt_pkpd.md) for what each source reports.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

import dmtpk
from dmtpk.model.describe import hill_share_below_one

from .conftest import LITERATURE, MODELS, load_quietly, quietly

INHALED = "eckernas2022_inhaled"
T = np.linspace(0.0, 60.0, 601)


def _comment_rows(name: str) -> dict[str, list[float]]:
    """Rows of the tables in a model file's header comment: label -> numbers."""
    rows = {}
    for line in (MODELS / f"{name}.toml").read_text(encoding="utf-8").splitlines():
        m = re.match(r"#\s{3}([a-z][a-z0-9 ()]*?)\s{2,}([\d.\s%]+)(\(.*\))?$", line)
        if m:
            nums = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", m.group(2))]
            rows.setdefault(m.group(1).strip(), []).append(nums)
    return rows


@pytest.fixture(scope="module")
def inhaled():
    return load_quietly(INHALED)


def _typical(model, mg):
    r = dmtpk.simulate(model, dmtpk.Inhalation(f"{mg} mg"), T)
    above = {thr: r.metrics(thresholds={"intensity": thr}).effects["intensity"]
             for thr in (1, 5)}
    return r, above


def test_typical_table_of_the_inhaled_model(inhaled):
    rows = _comment_rows(INHALED)
    doses = rows["dose (mg)"][0]
    assert doses == [5, 15, 20, 30, 60]
    for k, mg in enumerate(doses):
        r, above = _typical(inhaled, mg)
        assert above[1].peak == pytest.approx(rows["peak rating"][0][k], abs=0.006), mg
        assert above[1].time_to_peak == pytest.approx(3.6, abs=0.05)
        assert above[1].duration == pytest.approx(rows["min above rating 1"][0][k], abs=0.051)
        assert above[5].duration == pytest.approx(rows["min above rating 5"][0][k], abs=0.051)
    _, above = _typical(inhaled, 60)
    assert (above[1].onset, above[1].offset) == pytest.approx((0.85, 17.3), abs=0.051)


def test_population_table_of_the_inhaled_model(inhaled):
    rows = _comment_rows(INHALED)
    doses = rows["dose (mg)"][1]
    assert doses == [5, 15, 20, 60]
    for k, mg in enumerate(doses):
        p = quietly(dmtpk.simulate_population, inhaled, dmtpk.Inhalation(f"{mg} mg"), T, n=4000,
                    seed=1, thresholds={"intensity": 1})
        peak = p.effect.max(axis=1)
        for thr in (1, 2, 5):
            stated = rows[f"share with a peak above {thr}"][0][k] / 100
            digits = 0.0005 if stated > 0.99 else 0.005  # as rounded in the file
            assert np.mean(peak > thr) == pytest.approx(stated, abs=digits + 1e-9), (mg, thr)
        assert np.median(p.metric("duration")) == pytest.approx(
            rows["median minutes above 1"][0][k], abs=0.051), mg


def test_no_single_bioavailability_gives_both_doses_10_to_20_min(inhaled):
    """The header's sweep: F_INH 0.01..1 in steps of 0.01, typical minutes above 1."""
    t = np.linspace(0.0, 90.0, 901)
    sweep = []
    for f in np.round(np.linspace(0.01, 1.0, 100), 2):
        m = inhaled.with_parameters(F_INH=f)
        sweep.append([f] + [dmtpk.simulate(m, dmtpk.Inhalation(mg), t).metrics(
            thresholds={"intensity": 1}).effects["intensity"].duration for mg in (15, 60)])
    f, d15, d60 = np.array(sweep).T
    in_range = (d60 >= 10) & (d60 <= 20)
    assert not np.any(in_range & (d15 >= 10) & (d15 <= 20))
    assert (f[in_range].min(), f[in_range].max()) == (0.10, 0.29)
    assert d15[in_range].max() == pytest.approx(7.2, abs=0.05)
    assert f[d15 >= 10].min() == 0.40
    assert d60[d15 >= 10].min() == pytest.approx(23.2, abs=0.05)
    # the file's own value is inside the 60 mg range
    assert inhaled.value("F_INH") == 0.2


def test_citations_only_for_what_a_source_reports(inhaled):
    """No absorption rate or onset is attributed to a study that did not measure it; both
    Falchi-Carvalho studies are cited with what they report, as the literature file says."""
    assert "source" not in inhaled.parameters["KA"].info
    assert "source" not in inhaled.parameters["TLAG_INH"].info
    assert inhaled.parameters["F_INH"].info["source"] == "falchicarvalho2025"
    sources = {s["key"]: s for s in inhaled.sources + inhaled.comparisons}
    assert {s["key"] for s in inhaled.sources} == {"eckernas2022", "falchicarvalho2025"}
    assert {s["key"] for s in inhaled.comparisons} == {"falchicarvalho2024"}
    assert "falchicarvalho2024" in str(inhaled) and "around 10 min" in str(inhaled)
    for key in ("falchicarvalho2025", "falchicarvalho2024"):
        where = sources[key]["where"]
        assert "No PK" in where or "No plasma PK" in where
        assert "onset" not in where.replace("no onset", "")
    assert "10-20 min" in sources["falchicarvalho2025"]["where"]
    assert "around 10 min" in sources["falchicarvalho2024"]["where"]
    assert "5/20, 7.5/30, 10/40, 12.5/50, 15/60 mg" in sources["falchicarvalho2024"]["where"]
    text = (MODELS / f"{INHALED}.toml").read_text(encoding="utf-8")
    assert "onset within about a minute" not in text
    if not LITERATURE.is_file():
        pytest.skip(f"literature file not found at {LITERATURE}")
    lit = LITERATURE.read_text(encoding="utf-8")
    for quoted in ("Duration of action **10–20 min**. No PK.", "PMID 38141403; NCT05573568",
                   "27 healthy volunteers; vaporised DMT, lower then higher dose 2 h apart: "
                   "5/20, 7.5/30, 10/40, 12.5/50, 15/60 mg",
                   '"Inhaled DMT effects last around 10 min"', "**No plasma PK.**"):
        assert quoted in lit, quoted


@pytest.mark.parametrize("name", ["eckernas2022", INHALED])
def test_share_of_hill_coefficients_below_one(name):
    """8.6 % stated in the description and shown by print(model): the log-normal CDF at 1 of
    GAMMA = 2.87 exp(eta), eta ~ N(0, 0.5975)."""
    model = load_quietly(name)
    omega2, theta = model.variability["omega"]["GAMMA"], model.value("GAMMA")
    exact = stats.lognorm(s=math.sqrt(omega2), scale=theta).cdf(1.0)
    assert hill_share_below_one(model, "GAMMA") == pytest.approx(exact, rel=1e-12)
    assert f"{100 * exact:.1f} %" == "8.6 %"
    assert "8.6 % of subjects a Hill coefficient below 1" in model.description
    line = next(ln for ln in str(model).splitlines() if re.match(r"\s*GAMMA\s+omega", ln))
    assert "8.6 % of subjects get a Hill coefficient below 1" in line
    assert "8.6 %" in (MODELS / f"{name}.toml").read_text(encoding="utf-8")


def test_population_table_notes_the_share():
    model = load_quietly("eckernas2022")
    p = quietly(dmtpk.simulate_population, model, dmtpk.Bolus(model.to_base("20 mg")),
                np.linspace(0, 30, 31), n=50, seed=1)
    assert "gives 8.6% of subjects a Hill coefficient (GAMMA) below 1" in p.summary()
    other = quietly(dmtpk.simulate_population, model, dmtpk.Bolus(model.to_base("20 mg")),
                    np.linspace(0, 30, 31), n=5, seed=1, omega={"CL": 0.1})
    assert "Hill coefficient" not in other.summary()  # this run has no IIV on GAMMA
    wider = quietly(dmtpk.simulate_population, model, dmtpk.Bolus(model.to_base("20 mg")),
                    np.linspace(0, 30, 31), n=5, seed=1, omega={"GAMMA": 1.0})
    share = stats.lognorm(s=1.0, scale=model.value("GAMMA")).cdf(1.0)
    assert f"gives {share:.1%} of subjects" in wider.summary()


def test_the_tail_at_30_min_comes_from_the_low_hill_coefficients():
    """eckernas2022.toml: 30 min after 20 mg fumarate, 19 % of 4000 subjects (seed 1) rate above
    1; 74 % of those with GAMMA below 1, 14 % of the rest; 8.6 % expected below 1."""
    model = load_quietly("eckernas2022")
    p = quietly(dmtpk.simulate_population, model, dmtpk.Bolus(model.to_base("20 mg")),
                [0.0, 30.0], n=4000, seed=1)
    gamma, e30 = p.parameters["GAMMA"], p.effect[:, 1]
    low = gamma < 1
    # 4000 draws: the share below 1 within 3 binomial SE of the CDF
    assert abs(low.mean() - 0.0863) < 3 * math.sqrt(0.0863 * 0.9137 / 4000)
    assert np.mean(e30 > 1) == pytest.approx(0.19, abs=0.005)
    assert np.mean(e30[low] > 1) == pytest.approx(0.74, abs=0.005)
    assert np.mean(e30[~low] > 1) == pytest.approx(0.14, abs=0.005)


@pytest.mark.parametrize("bolus_mg, rate, css_fumarate", [
    (1.5, 0.105, 2.50), (7.5, 0.525, 12.49), (5.0, 0.7875, 18.74)])
def test_six_hour_infusions_of_van_der_heijden_2025(bolus_mg, rate, css_fumarate):
    """Typical plasma DMT at the end of each regimen against the steady state of a constant
    infusion (rate x 0.6186 / 26 L/min), and the top regimen's numbers in eckernas2022.toml:
    18.7 ng/mL (30.3 ng/mL if the mg were base) against about 35 ng/mL reported, and a typical
    rating from 5.3 after the first hour to 5.4 at the end."""
    model = load_quietly("eckernas2022")
    f = model.dose_form.base_fraction
    regimen = dmtpk.Bolus(model.to_base(f"{bolus_mg} mg")) + dmtpk.Infusion(
        rate=model.to_base(f"{rate} mg/min"), duration="6 h")
    t = np.linspace(0.0, 360.0, 721)
    r = quietly(dmtpk.simulate, model, regimen, t)
    css = rate * f / model.value("CL") * 1000.0
    assert css == pytest.approx(css_fumarate, abs=0.005)
    assert r.concentration[-1] == pytest.approx(css, rel=2e-3)  # at steady state by 6 h
    if rate == 0.7875:
        assert r.concentration.max() == pytest.approx(18.7, abs=0.05)
        assert rate / model.value("CL") * 1000.0 == pytest.approx(30.3, abs=0.05)
        assert r.effect[t >= 60].min() == pytest.approx(5.3, abs=0.05)
        assert r.effect.max() == pytest.approx(5.4, abs=0.05)
        assert t[np.argmax(r.effect)] == 360.0
        assert r.concentration.max() / 35.0 == pytest.approx(0.54, abs=0.01)
        text = re.sub(r"\s*\n#\s*", " ", (MODELS / "eckernas2022.toml").read_text(encoding="utf-8"))
        for stated in ("18.7 ng/mL", "30.3 ng/mL", "rating from 5.3 after the first hour to 5.4",
                       "about 35 ng/mL"):
            assert stated in text, stated
        compared = {s["key"]: s for s in model.comparisons}
        assert "about 35 ng/mL" in compared["vanderheijden2025"]["where"]
        assert "vanderheijden2025" not in {s["key"] for s in model.sources}  # not cited
        assert "Compared against" in str(model) and "e70234" in str(model)
    if LITERATURE.is_file():
        lit = LITERATURE.read_text(encoding="utf-8")
        assert "1.5 mg + 0.105 mg/min, 7.5 mg + 0.525 mg/min, 5.0 mg + 0.7875 mg/min" in lit
        assert "maximal exposures about 35 ng/mL at the top regimen" in lit
