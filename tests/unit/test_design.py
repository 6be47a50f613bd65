"""Regimen design (bolus + infusion holding an effect in a window), checked by simulating the
designed regimen independently on a finer grid and re-drawing the validation population."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dmtpk
from dmtpk.design import design


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dmtpk.load_model("eckernas2022")


BOUNDS = {"bolus": ("0 mg", "30 mg"), "rate": ("0 mg/min", "3 mg/min")}


def test_typical_subject_design_holds_the_window(model):
    res = design(model, (6, 8), ("5 min", "25 min"), bounds=BOUNDS,
                 fixed={"duration": "25 min"})
    assert res.values["duration"] == 25.0
    assert res.time_in_window == pytest.approx(20.0, abs=0.11)
    t = np.arange(5.0, 25.0 + 1e-9, 0.01)
    e = dmtpk.simulate(model, res.regimen, t).effects["intensity"]
    assert np.all((e >= 6 - 1e-3) & (e <= 8 + 1e-3))
    assert res.total_dose == pytest.approx(res.values["bolus"] + 25 * res.values["rate"])


def test_a_dose_cap_is_respected(model):
    free = design(model, (6, 8), ("5 min", "25 min"), bounds=BOUNDS,
                  fixed={"duration": "25 min"})
    cap = 0.8 * free.total_dose
    capped = design(model, (6, 8), ("5 min", "25 min"), bounds=BOUNDS,
                    fixed={"duration": "25 min"}, max_total_dose=cap)
    assert capped.total_dose <= cap * (1 + 1e-3)
    assert capped.time_in_window < free.time_in_window


def test_population_design_is_validated_on_fresh_subjects(model):
    res = design(model, (4, 9), ("5 min", "25 min"), bounds=BOUNDS,
                 fixed={"duration": "25 min"}, population=100, seed=4, validation=300,
                 maxiter=5)
    t = np.arange(0.0, 25.0 + 0.05, 0.1)
    pop = dmtpk.simulate_population(model, res.regimen, t, n=300, seed=5)
    e = pop.effects["intensity"][:, t >= 5 - 1e-9]
    share = np.mean(np.all((e >= 4) & (e <= 9), axis=1))
    assert res.validation_share == pytest.approx(share)
    lo, hi = res.validation_ci
    assert lo < share < hi and hi - lo < 0.15
    assert 0 < res.share <= 1


def test_bad_requests_name_the_argument(model):
    with pytest.raises(dmtpk.ValidationError, match="window"):
        design(model, (8, 6), (5, 25))
    with pytest.raises(dmtpk.ValidationError, match="span"):
        design(model, (6, 8), (25, 5))
    with pytest.raises(dmtpk.ValidationError, match="bounds.speed"):
        design(model, (6, 8), (5, 25), bounds={"speed": (0, 1)})
    with pytest.raises(dmtpk.ValidationError, match="fixed"):
        design(model, (6, 8), (5, 25), fixed={"bolus": 1, "rate": 1, "duration": 1})
    with pytest.raises(dmtpk.ValidationError, match="seed"):
        design(model, (6, 8), (5, 25), population=50)


def test_population_view_without_variability_is_the_typical_subject(model, tmp_path):
    """With the variability switched off every subject is the typical one: the shares are 0
    or 1 exactly where the single-subject engine puts the effect, and each subject's time in
    the window is the typical subject's."""
    from dmtpk.design import population_view
    from dmtpk.model.spec import _thaw, model_from_dict
    raw = _thaw(model.raw)
    raw.pop("variability", None)
    fixed = model_from_dict(raw)
    reg = dmtpk.Bolus("6 mg") + dmtpk.Infusion(rate="0.75 mg/min", duration="25 min")
    t = np.arange(0, 40.01, 0.5)
    view = population_view(fixed, reg, (6, 8), t, n=20, seed=1, cmax="40 ng/mL")
    e = dmtpk.simulate(fixed, reg, t).effects["intensity"]
    assert np.array_equal(view.inside, ((e >= 6) & (e <= 8)).astype(float))
    assert np.allclose(view.inside + view.above + view.below, 1.0)
    assert np.allclose(view.time_in_window, view.time_in_window[0])
    table = view.table()
    assert table["share_over_cmax"] in (0.0, 1.0)
    assert view.plot().axes


def test_population_view_shares(model):
    from dmtpk.design import population_view
    reg = dmtpk.Bolus("6 mg") + dmtpk.Infusion(rate="0.75 mg/min", duration="25 min")
    view = population_view(model, reg, (6, 8), np.arange(0, 40.01, 0.5), n=300, seed=2)
    assert np.allclose(view.inside + view.above + view.below, 1.0)
    assert 0 < view.inside.max() < 1 and view.time_in_window.max() <= 40.0
    assert view.table()["share_ever_above"] == pytest.approx(np.mean(view.ever_above))


def test_repeated_inhalations_template():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inhaled = dmtpk.load_model("eckernas2022_inhaled")
        res = design(inhaled, (3, 8), ("3 min", "30 min"), template="inhalations", count=3,
                     bounds={"dose": ("5 mg", "60 mg"), "interval": ("3 min", "20 min")})
        events = res.regimen.events
        assert len(events) == 3 and all(type(e).__name__ == "Inhalation" for e in events)
        assert [e.at for e in events] == pytest.approx([0, res.values["interval"],
                                                        2 * res.values["interval"]])
        assert res.total_dose == pytest.approx(3 * res.values["dose"])
        t = np.arange(3.0, 30.0 + 1e-9, 0.01)
        e = dmtpk.simulate(inhaled, res.regimen, t).effects["intensity"]
        inside = np.sum((e >= 3) & (e <= 8)) * 0.01
        assert inside == pytest.approx(res.time_in_window, abs=0.25)
        # More time inside than a single inhalation of the same total dose.
        one = dmtpk.simulate(inhaled, dmtpk.Inhalation(res.total_dose), t).effects["intensity"]
        assert inside > np.sum((one >= 3) & (one <= 8)) * 0.01
    with pytest.raises(dmtpk.ValidationError, match="template"):
        design(inhaled, (3, 8), (3, 30), template="pump")
    with pytest.raises(dmtpk.ValidationError, match="count"):
        design(inhaled, (3, 8), (3, 30), template="inhalations", count=0)
    with pytest.raises(dmtpk.ValidationError, match="bounds.rate"):
        design(inhaled, (3, 8), (3, 30), template="inhalations", bounds={"rate": (0, 1)})
