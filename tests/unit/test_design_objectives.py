"""Regimen design: stepped infusions, the smallest dose reaching a probability of target
attainment, the constraints (share above an upper effect bound, maximum rate, a quantile of
Cmax) and infeasible requests. Every designed regimen is checked by simulating it
independently with ``simulate`` (0.01-min grid) or ``simulate_population`` (the design's
subjects, by its seed, or a fresh population)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dmtpk
from dmtpk.design import DesignWarning, design

FUMARATE = 188.27 / 304.34       # mg of DMT base per mg of DMT fumarate (1:1 salt)
BOUNDS = {"bolus": ("0 mg", "30 mg"), "rate": ("0 mg/min", "3 mg/min")}
SPAN = ("5 min", "25 min")
T = np.arange(0.0, 25.0 + 0.05, 0.1)   # the design's own grid (0.1 min)


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dmtpk.load_model("eckernas2022")


def _population(model, regimen, n, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dmtpk.model.sections.ModelValidityWarning)
        return dmtpk.simulate_population(model, regimen, T, n=n, seed=seed)


def _inside(pop, window, start=5.0):
    e = pop.effects["intensity"][:, T >= start - 1e-9]
    return np.all((e >= window[0]) & (e <= window[1]), axis=1)


def test_stepped_infusion_holds_the_window(model):
    """A bolus and two consecutive infusions (the first 5 min, fixed): the independent
    simulation on a 0.01-min grid stays inside 6-8 over the span (1e-3: the design's grid is
    0.1 min, between its points the effect moves by less than that)."""
    res = design(model, (6, 8), SPAN, template="bolus+steps", count=2,
                 bounds={"bolus": (0, 30), "rate_1": (0, 3), "rate_2": (0, 3)},
                 fixed={"duration_1": "5 min", "duration_2": "20 min"})
    v = res.values
    assert (v["duration_1"], v["duration_2"]) == (5.0, 20.0)
    events = res.regimen.events
    assert [type(e).__name__ for e in events] == ["Bolus", "Infusion", "Infusion"]
    assert [e.at for e in events[1:]] == [0.0, 5.0]
    assert [e.rate for e in events[1:]] == [v["rate_1"], v["rate_2"]]
    assert res.total_dose == pytest.approx(v["bolus"] + 5 * v["rate_1"] + 20 * v["rate_2"])
    t = np.arange(5.0, 25.0 + 1e-9, 0.01)
    e = dmtpk.simulate(model, res.regimen, t).effects["intensity"]
    assert np.all((e >= 6 - 1e-3) & (e <= 8 + 1e-3))
    # The step down is what a washing-in peripheral compartment asks for.
    assert v["rate_2"] < v["rate_1"]
    with pytest.raises(dmtpk.ValidationError, match="bounds.rate_3"):
        design(model, (6, 8), SPAN, template="bolus+steps", count=2,
               bounds={"rate_3": (0, 1)})


def test_smallest_dose_reaching_a_share(model):
    """share=0.5: on the design's own subjects (simulate_population with its seed) the
    regimen reaches 50 % inside 4-9.5, and 90 % of it does not: the dose is the smallest
    within the optimiser's resolution (10 %). The fresh population's share and its interval
    are those of simulate_population with seed + 1."""
    res = design(model, (4, 9.5), SPAN, bounds=BOUNDS, fixed={"duration": "25 min"},
                 population=300, seed=3, share=0.5, maxiter=20, validation=600)
    assert res.met
    assert np.mean(_inside(_population(model, res.regimen, 300, 3), (4, 9.5))) >= 0.5
    v = res.values
    less = dmtpk.Bolus(0.9 * v["bolus"]) + dmtpk.Infusion(rate=0.9 * v["rate"], duration=25)
    assert np.mean(_inside(_population(model, less, 300, 3), (4, 9.5))) < 0.5
    fresh = np.mean(_inside(_population(model, res.regimen, 600, 4), (4, 9.5)))
    assert res.validation_share == pytest.approx(fresh)
    assert res.validation_ci[0] < fresh < res.validation_ci[1]


def test_share_above_an_upper_bound_is_a_constraint(model):
    """above=(9, 0.05): at most 5 % of the design's subjects exceed intensity 9, counted
    independently; without the constraint the best design puts more of them above 9."""
    kw = dict(bounds=BOUNDS, fixed={"duration": "25 min"}, population=300, seed=3,
              maxiter=10)
    free = design(model, (4, 9.5), SPAN, **kw)
    held = design(model, (4, 9.5), SPAN, above=(9, 0.05), **kw)

    def share_above(res):
        return np.mean(np.any(_population(model, res.regimen, 300, 3)
                              .effects["intensity"] > 9, axis=1))
    assert share_above(held) <= 0.05
    assert share_above(free) > 0.05
    assert held.share < free.share
    assert np.isfinite(held.share_above) and np.isnan(free.share_above)


def test_cmax_quantile_and_maximum_rate(model):
    """cmax 20 ng/mL for the 90th percentile: the design's subjects' grid Cmax has its 90th
    percentile under it; max_rate caps the rate."""
    res = design(model, (4, 9.5), SPAN, bounds=BOUNDS, fixed={"duration": "25 min"},
                 population=300, seed=3, maxiter=10, cmax="20 ng/mL", cmax_quantile=0.9,
                 max_rate="0.5 mg/min")
    pop = _population(model, res.regimen, 300, 3)
    assert np.quantile(pop.concentration.max(axis=1), 0.9) <= 20.0
    assert res.values["rate"] <= 0.5
    assert res.cmax_quantile == pytest.approx(
        np.quantile(_population(model, res.regimen, 1200, 4).concentration.max(axis=1), 0.9))


def test_superposed_population_equals_simulating_every_candidate(model):
    """For a linear model the candidates are superposed unit responses; simulating the
    population for every candidate (reuse=False) gives the same design and shares (to
    rounding: the same candidates, the same subjects). Free durations move on the 0.1-min
    grid when superposed."""
    kw = dict(bounds=BOUNDS, fixed={"duration": "25 min"}, population=100, seed=2, maxiter=3,
              validation=100)
    a = design(model, (6, 8), SPAN, **kw)
    b = design(model, (6, 8), SPAN, reuse=False, **kw)
    assert a.values == pytest.approx(b.values, rel=1e-12)
    assert a.share == b.share and a.validation_share == b.validation_share
    c = design(model, (6, 8), SPAN, bounds=BOUNDS, population=100, seed=2, maxiter=2,
               validation=100)
    assert c.values["duration"] == pytest.approx(round(c.values["duration"] / 0.1) * 0.1,
                                                 abs=1e-12)
    # A fixed duration off the grid is simulated as given, as with reuse=False.
    kw["fixed"] = {"duration": "24.95 min"}
    d = design(model, (6, 8), SPAN, **kw)
    e = design(model, (6, 8), SPAN, reuse=False, **kw)
    assert d.values == e.values and d.share == e.share


def test_infeasible_requests_name_the_argument(model):
    with pytest.raises(dmtpk.ValidationError, match="window"):
        design(model, (11, 12), SPAN)            # above the endpoint's Emax (10)
    with pytest.raises(dmtpk.ValidationError, match="window"):
        design(model, (8, 8), SPAN)
    with pytest.raises(dmtpk.ValidationError, match="max_total_dose"):
        design(model, (6, 8), SPAN, bounds={"bolus": ("10 mg", "20 mg")}, max_total_dose=5)
    with pytest.raises(dmtpk.ValidationError, match="max_rate"):
        design(model, (6, 8), SPAN, fixed={"rate": "2 mg/min"}, max_rate="1 mg/min")
    with pytest.raises(dmtpk.ValidationError, match="cmax"):
        design(model, (6, 8), SPAN, bounds={"bolus": ("20 mg", "30 mg")}, cmax="10 ng/mL")
    with pytest.raises(dmtpk.ValidationError, match="above"):
        design(model, (6, 8), SPAN, bounds={"bolus": ("20 mg", "30 mg")}, above=(8.5, 0.0))
    with pytest.raises(dmtpk.ValidationError, match="above"):
        design(model, (6, 8), SPAN, bounds={"bolus": ("20 mg", "30 mg")}, above=(8.5, 0.1),
               population=50, seed=1)
    with pytest.raises(dmtpk.ValidationError, match="share"):
        design(model, (6, 8), SPAN, share=0.5)
    with pytest.raises(dmtpk.ValidationError, match="cmax_quantile"):
        design(model, (6, 8), SPAN, cmax="40 ng/mL", cmax_quantile=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inhaled = dmtpk.load_model("eckernas2022_inhaled")
    with pytest.raises(dmtpk.ValidationError, match="max_rate"):
        design(inhaled, (3, 8), SPAN, template="inhalations", max_rate=1)


def test_an_unreachable_share_warns_with_the_best_found(model):
    with pytest.warns(DesignWarning, match="share 0.99"):
        res = design(model, (7.5, 8), SPAN, bounds=BOUNDS, population=100, seed=1,
                     share=0.99, maxiter=3)
    assert not res.met and res.share < 0.99


def test_eckernas_typical_design_is_near_the_published_regimen(model):
    """Eckernäs et al. (CPT:PSP, optimized infusion rates; literature digest 2.8): intensity
    7-9 over a 30-min bolus + infusion, optimum 16 mg DMT fumarate then 1.4 mg/min. The
    typical-subject design (window 2-30 min, duration fixed at 30 min) gives a rate within
    15 % of 1.4 mg/min fumarate: the rate sets the plateau, and the rates whose steady
    state lies in 7-9 (closed form Css = rate/CL through the Emax model) span -28 % to +15 %
    of it (1.4 mg/min is near the top, at 8.6), so 15 % is "the same plateau". The bolus
    only shapes the first minutes, and the paper's optimum is a population one with its own
    dose conversion (digest section 5): it is held to 40 % (measured about -32 %).

    Over the population (2000 subjects) the published regimen reproduces the paper's finding
    that under about half of the subjects stay inside 7-9 (< 53 %) at any time of the
    infusion, while the median rating lies in 7-9 on the plateau."""
    res = design(model, (7, 9), ("2 min", "30 min"), bounds=BOUNDS,
                 fixed={"duration": "30 min"})
    assert res.values["rate"] / FUMARATE == pytest.approx(1.4, rel=0.15)
    assert res.values["bolus"] / FUMARATE == pytest.approx(16.0, rel=0.40)
    p = {k: model.parameters[k].value for k in ("CL", "EC50", "GAMMA", "EMAX")}

    def plateau(rate):      # effect at steady state of an infusion, closed form
        c = rate / p["CL"]
        return p["EMAX"] * c ** p["GAMMA"] / (p["EC50"] ** p["GAMMA"] + c ** p["GAMMA"])
    assert 7 < plateau(1.4 * FUMARATE) < 9 and 7 < plateau(res.values["rate"]) < 9

    from dmtpk.design import population_view
    published = dmtpk.Bolus("16 mg", salt="fumarate") + dmtpk.Infusion(
        rate="1.4 mg/min", duration="30 min", salt="fumarate")
    t = np.arange(0.0, 30.05, 0.25)
    view = population_view(model, published, (7, 9), t, n=2000, seed=7)
    assert view.inside[t >= 2].max() < 0.53
    pop = dmtpk.simulate_population(model, published, t, n=2000, seed=7)
    median = np.median(pop.effects["intensity"][:, (t >= 10) & (t <= 30)], axis=0)
    assert np.all((median >= 7) & (median <= 9))
    designed = population_view(model, res.regimen, (7, 9), t, n=2000, seed=7)
    assert designed.inside[t >= 2].max() < 0.53


@pytest.mark.slow
def test_fresh_attainment_interval_covers_the_truth():
    """50 repetitions of a population design (100 subjects, 5 generations, seeds 0-49),
    each re-estimated on 400 fresh subjects with a 95 % Wilson interval: the interval covers
    the design's true attainment (20,000 further subjects, seed 10**6 + repetition; standard
    error about 0.3 %) in at least 90 % of them. The optimisation population's own share is
    optimistic and is not what is reported."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dmtpk.load_model("eckernas2022")
    covered = optimistic = 0
    for rep in range(50):
        res = design(model, (5, 9), SPAN, bounds=BOUNDS, fixed={"duration": "25 min"},
                     population=100, seed=rep, validation=400, maxiter=5)
        truth = np.mean(_inside(_population(model, res.regimen, 20_000, 10**6 + rep), (5, 9)))
        lo, hi = res.validation_ci
        covered += lo <= truth <= hi
        optimistic += res.share > truth
    assert covered >= 45
    assert optimistic > 25      # the in-sample share overstates attainment more often than not
