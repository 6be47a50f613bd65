"""Result: DataFrame export, plotting, engine choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict

pd = pytest.importorskip("pandas")
matplotlib = pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

TIMES = np.linspace(0.0, 30.0, 61)


def _one_compartment(effect=True, unit="score"):
    raw = {
        "model": {"name": "one", "structure": "one_compartment", "elimination": "linear",
                  "routes": ["iv"]},
        "parameters": {"CL": "1 L/min", "V1": "10 L"},
    }
    if effect:
        raw["parameters"].update({"KE0": "0.5 1/min", "E0": 0, "EMAX": 10,
                                  "EC50": "500 ng/mL", "GAMMA": 2})
        ep = {"link": "effect_compartment", "model": "sigmoid_emax",
              "parameters": {"KE0": "KE0", "E0": "E0", "EMAX": "EMAX", "EC50": "EC50",
                             "GAMMA": "GAMMA"}, "threshold": 3}
        if unit is not None:
            ep["unit"] = unit
        raw["effects"] = {"intensity": ep}
    return model_from_dict(raw)


def _two_compartment(elimination="linear"):
    params = {"CL": "1.5 L/min", "V1": "10 L", "Q": "2 L/min", "V2": "20 L", "KA": "3 1/min",
              "F_INH": 0.4, "TLAG_INH": "0 min", "KE0": "0.5 1/min", "E0": 0, "EMAX": 10,
              "EC50": "20 ng/mL", "GAMMA": 2}
    if elimination == "michaelis_menten":
        del params["CL"]
        params.update(VMAX="2 mg/min", KM="0.5 mg/L")
    omega = {"CL": 0.09} if elimination == "linear" else {"VMAX": 0.09}
    return model_from_dict({
        "model": {"name": "t", "structure": "two_compartment", "elimination": elimination,
                  "routes": ["iv", "inhaled"]},
        "parameters": params,
        "effects": {"intensity": {
            "link": "effect_compartment", "model": "sigmoid_emax",
            "parameters": {"KE0": "KE0", "E0": "E0", "EMAX": "EMAX", "EC50": "EC50",
                           "GAMMA": "GAMMA"},
            "unit": "score", "threshold": 3}},
        "variability": {"omega": omega, "correlation": {}},
    })


# --------------------------------------------------------------------------------------------
# to_dataframe
# --------------------------------------------------------------------------------------------

def test_dataframe_columns_and_values():
    r = dmtpk.simulate(_one_compartment(), dmtpk.Bolus(10), TIMES)
    df = r.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["time [min]", "Cp [ng/mL]", "Ce_intensity [ng/mL]",
                                "intensity [score]"]
    assert len(df) == TIMES.size
    np.testing.assert_array_equal(df["time [min]"].to_numpy(), r.time)
    np.testing.assert_array_equal(df["Cp [ng/mL]"].to_numpy(), r.concentration)
    np.testing.assert_array_equal(df["Ce_intensity [ng/mL]"].to_numpy(), r.effect_site)
    np.testing.assert_array_equal(df["intensity [score]"].to_numpy(), r.effect)
    for col in df.columns:
        assert df[col].dtype == np.float64, col


def test_dataframe_units_by_hand():
    """10 mg into 10 L with k = CL/V = 0.1/min: Cp = 1 mg/L e^(-0.1 t) = 1000 ng/mL e^(-0.1 t);
    Ce = C0 ke0/(ke0 - k) (e^(-k t) - e^(-ke0 t)) with ke0 = 0.5/min;
    E = 10 Ce^2 / (500^2 + Ce^2) with Ce in ng/mL."""
    r = dmtpk.simulate(_one_compartment(), dmtpk.Bolus(10), TIMES)
    df = r.to_dataframe()
    t = TIMES
    cp = 1000.0 * np.exp(-0.1 * t)
    ce = 1000.0 * 0.5 / (0.5 - 0.1) * (np.exp(-0.1 * t) - np.exp(-0.5 * t))
    effect = 10.0 * ce**2 / (500.0**2 + ce**2)
    np.testing.assert_allclose(df["time [min]"].to_numpy(), t, rtol=0, atol=0)
    np.testing.assert_allclose(df["Cp [ng/mL]"].to_numpy(), cp, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(df["Ce_intensity [ng/mL]"].to_numpy(), ce, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(df["intensity [score]"].to_numpy(), effect, rtol=1e-8,
                               atol=1e-12)


def test_dataframe_with_metabolite():
    r = dmtpk.simulate("eckernas2022", dmtpk.Bolus("20 mg"), TIMES)
    df = r.to_dataframe()
    assert list(df.columns) == ["time [min]", "Cp [ng/mL]", "C_IAA [ng/mL]",
                                "Ce_intensity [ng/mL]", "intensity [rating 0-10]"]
    np.testing.assert_array_equal(df["C_IAA [ng/mL]"].to_numpy(), r.metabolite_concentration)
    np.testing.assert_array_equal(df["Cp [ng/mL]"].to_numpy(), r.concentration)
    np.testing.assert_array_equal(df["intensity [rating 0-10]"].to_numpy(), r.effect)


def test_dataframe_without_effects_and_without_unit():
    r = dmtpk.simulate(_one_compartment(effect=False), dmtpk.Bolus(10), TIMES)
    assert list(r.to_dataframe().columns) == ["time [min]", "Cp [ng/mL]"]
    r = dmtpk.simulate(_one_compartment(unit=None), dmtpk.Bolus(10), TIMES)
    assert list(r.to_dataframe().columns) == ["time [min]", "Cp [ng/mL]",
                                              "Ce_intensity [ng/mL]", "intensity"]


def test_dataframe_times_in_minutes_whatever_the_input_unit():
    r = dmtpk.simulate(_one_compartment(), dmtpk.Bolus(10),
                       dmtpk.ureg.Quantity([0, 0.25, 0.5], "h"))
    np.testing.assert_allclose(r.to_dataframe()["time [min]"].to_numpy(), [0.0, 15.0, 30.0])


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------

def test_plot_returns_figure_that_saves_png(tmp_path):
    r = dmtpk.simulate(_two_compartment(), dmtpk.Bolus(10) + dmtpk.Inhalation(20, at=10), TIMES)
    fig = r.plot()
    assert isinstance(fig, Figure)
    FigureCanvasAgg(fig)  # draw with Agg explicitly, whatever the default backend
    out = tmp_path / "result.png"
    fig.savefig(out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000

    axes = fig.get_axes()
    assert len(axes) == 2
    conc_ax, eff_ax = axes
    assert conc_ax.get_xlabel() == "time [min]"
    assert conc_ax.get_ylabel() == "concentration [ng/mL]"
    assert eff_ax.get_xlabel() == "time [min]"
    assert eff_ax.get_ylabel() == "intensity [score]"
    assert conc_ax.get_lines() and eff_ax.get_lines()
    # the plasma line shows the result's arrays
    plasma = conc_ax.get_lines()[0]
    np.testing.assert_array_equal(plasma.get_xdata(), r.time)
    np.testing.assert_array_equal(plasma.get_ydata(), r.concentration)
    labels = [ln.get_label() for ln in conc_ax.get_lines()]
    assert "plasma" in labels
    assert any("effect site" in lab for lab in labels)
    response = [ln for ln in eff_ax.get_lines() if ln.get_label() == "intensity"]
    assert len(response) == 1
    np.testing.assert_array_equal(response[0].get_ydata(), r.effect)


def test_plot_without_effects_has_one_panel(tmp_path):
    r = dmtpk.simulate(_one_compartment(effect=False), dmtpk.Bolus(10), TIMES)
    fig = r.plot()
    FigureCanvasAgg(fig)
    assert len(fig.get_axes()) == 1
    ax = fig.get_axes()[0]
    assert ax.get_xlabel() == "time [min]"
    assert ax.get_ylabel() == "concentration [ng/mL]"
    assert len(ax.get_lines()) == 1
    fig.savefig(tmp_path / "one.png")
    assert (tmp_path / "one.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_log_scale():
    r = dmtpk.simulate(_one_compartment(), dmtpk.Bolus(10), TIMES)
    fig = r.plot(log=True)
    assert fig.get_axes()[0].get_yscale() == "log"


def test_plot_does_not_touch_pyplot(tmp_path):
    """Plotting must not import matplotlib.pyplot (no global figure state)."""
    code = textwrap.dedent(f"""
        import json, sys
        import dmtpk
        r = dmtpk.simulate("eckernas2022", dmtpk.Bolus("20 mg"), [0, 1, 2, 5, 10])
        fig = r.plot()
        fig.savefig({str(tmp_path / "sub.png")!r})
        print(json.dumps("matplotlib.pyplot" in sys.modules))
    """)
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) is False
    assert (tmp_path / "sub.png").read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------------------------
# engine
# --------------------------------------------------------------------------------------------

def test_engine_analytic_for_linear():
    r = dmtpk.simulate(_two_compartment(), dmtpk.Bolus(10), TIMES)
    assert r.engine == "analytic"
    assert dmtpk.simulate("eckernas2022", dmtpk.Bolus(10), TIMES).engine == "analytic"
    assert dmtpk.simulate(_two_compartment(), dmtpk.Bolus(10), TIMES,
                          method="analytic").engine == "analytic"


def test_engine_scipy_for_michaelis_menten():
    mm = _two_compartment("michaelis_menten")
    assert not mm.is_linear
    r = dmtpk.simulate(mm, dmtpk.Bolus(10) + dmtpk.Inhalation(20, at=5), TIMES)
    assert r.engine == "scipy"
    assert np.all(np.isfinite(r.concentration))
    assert r.concentration[0] == pytest.approx(10 / 10 * 1000, rel=1e-9)  # dose / V1 in ng/mL
    assert dmtpk.simulate(mm, dmtpk.Bolus(10), TIMES, method="scipy").engine == "scipy"


def test_method_scipy_on_linear_model():
    r = dmtpk.simulate(_two_compartment(), dmtpk.Bolus(10), TIMES, method="scipy")
    assert r.engine == "scipy"


def test_method_analytic_on_mm_model_rejected():
    with pytest.raises(dmtpk.ValidationError) as exc:
        dmtpk.simulate(_two_compartment("michaelis_menten"), dmtpk.Bolus(10), TIMES,
                       method="analytic")
    assert exc.value.field == "method"
    assert "Michaelis" in str(exc.value)


def test_unknown_method_rejected():
    with pytest.raises(dmtpk.ValidationError) as exc:
        dmtpk.simulate(_two_compartment(), dmtpk.Bolus(10), TIMES, method="euler")
    assert exc.value.field == "method"
    assert "euler" in str(exc.value)
