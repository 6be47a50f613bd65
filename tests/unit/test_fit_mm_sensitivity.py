"""Forward sensitivities of the Michaelis-Menten integrator, and fits through them.

The reference for every sensitivity is written here, independently of the package: the
model's right-hand side in plain numpy, the augmented system ``S' = J_x S + J_p dp/deta``
(Jacobians by complex step of that right-hand side, exact to rounding) solved by SciPy's Radau
at rtol 1e-11, and central differences (step 1e-4 on eta) of the same tight solve of the plain
system. Cases: a one-compartment bolus, a two-compartment 1-h infusion, and a dose into an
absorption depot after a 12-min lag (each with two subjects whose random effects differ).

Tolerance: 1e-8 of each derivative's largest value against the augmented solve (measured
4e-10 at the kernel's rtol 1e-9), 1e-6 against the differences (their own error, the Radau
error over the step and the truncation: measured 1.3e-7); the predictions within 1e-9
(measured 9e-11).

The linear limit: with KM 10^4 times the highest concentration, Michaelis-Menten elimination
is linear elimination with CL = VMAX/KM to within C/KM (3e-5); FOCE-I and maximum likelihood
through the integrator then give the linear model's closed-form estimates to 1e-3 and its
objective to 0.05.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dmtpk
from dmtpk.errors import ValidationError
from dmtpk.fit.problem import build_problem
from dmtpk.fit.sensitivity import predict_second, predict_sensitivities
from dmtpk.model.spec import model_from_dict

TIMES = np.array([0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0])   # h
DOSE = 20.0                                                                     # mg
ETA = np.array([[0.25, -0.2, 0.3, -0.1, 0.15], [-0.3, 0.1, -0.25, 0.2, -0.1]])
# Typical values in canonical units (min, mg, L): V1, VMAX, KM, Q, V2, KA.
TYPICAL = {"V1": 70.0, "VMAX": 1.0 / 60, "KM": 0.25, "Q": 4.0 / 60, "V2": 50.0, "KA": 1.0 / 60}
LAG = 12.0   # min


def mm_model(two_cpt=False, depot=False, km="250 ug/L", vmax="1000 ug/h"):
    params = {"V1": "70 L", "VMAX": vmax, "KM": km}
    if two_cpt:
        params.update(Q="4 L/h", V2="50 L")
    if depot:
        params.update(KA="1 1/h", F_INH=1, TLAG_INH=f"{LAG} min")
    return model_from_dict({
        "model": {"name": "mm", "routes": ["iv", "inhaled"] if depot else ["iv"],
                  "structure": "two_compartment" if two_cpt else "one_compartment",
                  "elimination": "michaelis_menten"},
        "parameters": params, "residual": {"proportional": 0.2}})


def dataset(tmp_path, rate=None, obs_cmt=1, n=2, dv=None, times=TIMES):
    """Subjects with one dose of DOSE mg at 0 into CMT 1 (a bolus, or an infusion at ``rate``
    mg/h) and observations (``dv``, default 1) at ``times`` in CMT ``obs_cmt``."""
    head = "ID,TIME,AMT,RATE,EVID,MDV,CMT,DV" if rate else "ID,TIME,AMT,EVID,MDV,CMT,DV"
    lines = [head]
    for i in range(1, n + 1):
        lines.append(f"{i},0,{DOSE},{rate},1,1,1,." if rate else f"{i},0,{DOSE},1,1,1,.")
        for j, t in enumerate(times):
            y = 1.0 if dv is None else float(dv[i - 1][j])
            lines.append(f"{i},{t},0,0,0,0,{obs_cmt},{y!r}" if rate
                         else f"{i},{t},0,0,0,{obs_cmt},{y!r}")
    path = tmp_path / "mm.csv"
    path.write_text("\n".join(lines) + "\n")
    return dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg", concentration_unit="ug/L")


def rhs(names, depot, rate_until=0.0, rate=0.0):
    """The model's right-hand side in plain numpy (complex-safe): states (depot,) central,
    (peripheral); parameters by name."""
    def f(t, x, p):
        out = np.zeros_like(x)
        c = 1 if depot else 0
        xc = x[c]
        out[c] = -p["VMAX"] * xc / (p["KM"] * p["V1"] + xc)
        if depot:
            out[0] = -p["KA"] * x[0]
            out[c] += p["KA"] * x[0]
        if "Q" in names:
            out[c] += -p["Q"] / p["V1"] * xc + p["Q"] / p["V2"] * x[c + 1]
            out[c + 1] = p["Q"] / p["V1"] * xc - p["Q"] / p["V2"] * x[c + 1]
        if t < rate_until:
            out[c] += rate
        return out
    return f


def reference(names, eta, depot=False, infusion=0.0, h=1e-20, differences=True):
    """Concentrations (ng/mL) and their derivatives in eta at TIMES for one subject: the
    augmented system by Radau at rtol 1e-11, and central differences of the plain system."""
    n = (2 if "Q" in names else 1) + (1 if depot else 0)
    c = 1 if depot else 0
    p_names = [k for k in names]

    def params(e):
        return {k: TYPICAL[k] * np.exp(e[i]) for i, k in enumerate(p_names)}

    def solve(e, sens):
        p = params(e)
        rate = DOSE / infusion if infusion else 0.0
        f = rhs(names, depot, infusion, rate)
        k = len(p_names)

        def aug(t, y):
            x = y[:n]
            out = np.empty_like(y)
            out[:n] = f(t, x, p)
            if not sens:
                return out
            s = y[n:].reshape(k, n)
            jx = np.array([f(t, x + 1j * h * np.eye(n)[j], p).imag / h for j in range(n)]).T
            for i, name in enumerate(p_names):
                pp = dict(p)
                pp[name] = p[name] + 1j * h * p[name]       # d p / d eta = p
                jp = f(t, x.astype(complex), pp).imag / h
                out[n + i * n:n + (i + 1) * n] = jx @ s[i] + jp
            return out
        y0 = np.zeros(n * (1 + (len(p_names) if sens else 0)))
        t0 = 0.0
        if depot:
            t0 = LAG
            y0[0] = DOSE
        elif not infusion:
            y0[c] = DOSE
        t_eval = TIMES * 60.0
        breaks = [t0] + ([infusion] if infusion else []) + [t_eval[-1]]
        out = np.full((y0.size, t_eval.size), np.nan)
        y = y0
        for a, b in zip(breaks[:-1], breaks[1:]):
            sel = (t_eval > a) & (t_eval <= b)
            sol = solve_ivp(aug, (a, b), y, method="Radau", rtol=1e-11, atol=1e-14,
                            t_eval=np.unique(np.concatenate([t_eval[sel], [b]])))
            out[:, sel] = sol.y[:, :sel.sum()]
            y = sol.y[:, -1]
        out[:, t_eval <= t0] = 0.0
        return out, params(e)

    y, p = solve(eta, True)
    conc = 1000.0 * y[c] / p["V1"]
    deriv = []
    for i, name in enumerate(p_names):
        s = y[n + i * n + c]
        d = 1000.0 * s / p["V1"] - (conc if name == "V1" else 0.0)
        deriv.append(d)
    diffs = []
    for i in range(len(p_names) if differences else 0):
        e = np.zeros(len(p_names))
        e[i] = 1e-4
        yp, pp = solve(eta + e, False)
        ym, pm = solve(eta - e, False)
        diffs.append((1000.0 * yp[c] / pp["V1"] - 1000.0 * ym[c] / pm["V1"]) / 2e-4)
    return conc, np.array(deriv), np.array(diffs)


CASES = {
    "bolus_1cpt": (["V1", "VMAX", "KM"], dict(), dict()),
    "infusion_2cpt": (["V1", "VMAX", "KM", "Q", "V2"], dict(two_cpt=True), dict(infusion=60.0)),
    "depot_1cpt": (["V1", "VMAX", "KM", "KA"], dict(depot=True), dict(depot=True)),
}


def case_problem(tmp_path, case):
    """(names, reference options, Problem, eta of the two subjects) of a case of CASES."""
    names, model_kw, ref_kw = CASES[case]
    work = tmp_path / case
    work.mkdir()
    data = dataset(work, rate=DOSE if "infusion" in ref_kw else None,
                   obs_cmt=2 if "depot" in ref_kw else 1)
    problem = build_problem(mm_model(**model_kw), data, omega={k: 0.1 for k in names})
    return names, ref_kw, problem, ETA[:, :len(names)]


@pytest.mark.parametrize("case", list(CASES))
def test_sensitivities_equal_the_augmented_system_and_differences(tmp_path, case):
    names, ref_kw, problem, eta = case_problem(tmp_path, case)
    f, a = predict_sensitivities(problem, problem.theta, eta[None])
    for i in range(2):
        sel = problem.obs_sub == i
        conc, deriv, diffs = reference(names, eta[i], **ref_kw)
        np.testing.assert_allclose(f[0, sel], conc, rtol=1e-9)
        for k in range(len(names)):
            scale = np.max(np.abs(deriv[k]))
            assert np.max(np.abs(a[0, k, sel] - deriv[k])) < 1e-8 * scale, (case, i, names[k])
            assert np.max(np.abs(a[0, k, sel] - diffs[k])) < 1e-6 * scale, (case, i, names[k])


@pytest.mark.parametrize("case", ["infusion_2cpt", "depot_1cpt"])
def test_second_derivatives_equal_differences_of_the_augmented_system(tmp_path, case):
    """d^2 f / d eta_k d eta_l from the kernel's run with complex parameters (no difference
    step through the integrator), against central differences (step 1e-4 on eta) of the
    first derivatives of the independent Radau solve of the augmented system (rtol 1e-11):
    their error is the truncation (1e-8) and the Radau error over the step (1e-7), so 1e-6 of
    the largest second derivative (measured 4.5e-8 and 8.4e-9). First subject of the two."""
    names, ref_kw, problem, eta = case_problem(tmp_path, case)
    s = predict_second(problem, problem.theta, eta)
    sel = problem.obs_sub == 0
    h = 1e-4
    p = len(names)
    ref = np.empty((p, p, sel.sum()))
    for k in range(p):
        e = np.zeros(p)
        e[k] = h
        _, d_up, _ = reference(names, eta[0] + e, differences=False, **ref_kw)
        _, d_down, _ = reference(names, eta[0] - e, differences=False, **ref_kw)
        ref[k] = (d_up - d_down) / (2 * h)
    ref = 0.5 * (ref + np.swapaxes(ref, 0, 1))
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(s[:, :, sel] - ref)) < 1e-6 * scale


def test_a_random_effect_on_the_depot_lag_is_refused(tmp_path):
    work = tmp_path / "depot"
    work.mkdir()
    data = dataset(work, obs_cmt=2)
    with pytest.raises(ValidationError, match="TLAG_INH"):
        dmtpk.fit(mm_model(depot=True), data, estimate=["V1"], omega=["V1", "TLAG_INH"],
                  covariance="none")


def _linear_limit_data(tmp_path, n=24, seed=3):
    """Subjects of a one-compartment linear model (CL 4 L/h, V 70 L, 30 % log-normal IIV,
    20 % proportional error), simulated here from the closed form."""
    rng = np.random.default_rng(seed)
    cl = 4.0 * np.exp(rng.normal(0, 0.3, n))
    v = 70.0 * np.exp(rng.normal(0, 0.3, n))
    c = DOSE * 1000.0 / v[:, None] * np.exp(-cl[:, None] / v[:, None] * TIMES)
    dv = c * (1 + 0.2 * rng.standard_normal(c.shape))
    return dataset(tmp_path, n=n, dv=np.maximum(dv, 0.05))


def test_focei_in_the_linear_limit_equals_the_linear_fit(tmp_path):
    data = _linear_limit_data(tmp_path)
    km = 3000.0    # mg/L = 1e4 times the highest concentration (0.3 mg/L)
    linear = model_from_dict({
        "model": {"name": "lin", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": "5 L/h", "V1": "60 L"}, "residual": {"proportional": 0.3}})
    mm = mm_model(km=f"{km} mg/L", vmax=f"{5 * km} mg/h").with_parameters(V1="60 L")
    ref = dmtpk.fit(linear, data, estimate=["CL", "V1"], omega={"CL": 0.2, "V1": 0.2},
                    covariance="none", progress=False)
    got = dmtpk.fit(mm, data, estimate=["VMAX", "V1"], omega={"VMAX": 0.2, "V1": 0.2},
                    covariance="none", progress=False)
    assert got.converged
    assert got.theta["VMAX"] / km == pytest.approx(ref.theta["CL"], rel=1e-3)
    assert got.theta["V1"] == pytest.approx(ref.theta["V1"], rel=1e-3)
    assert got.omega["VMAX"] == pytest.approx(ref.omega["CL"], rel=1e-3)
    assert got.omega["V1"] == pytest.approx(ref.omega["V1"], rel=1e-3)
    assert got.sigma["prop"] == pytest.approx(ref.sigma["prop"], rel=1e-3)
    assert got.ofv == pytest.approx(ref.ofv, abs=0.05)


def test_ml_in_the_linear_limit_equals_the_linear_fit(tmp_path):
    data = _linear_limit_data(tmp_path, n=3, seed=5)
    km = 3000.0
    linear = model_from_dict({
        "model": {"name": "lin", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": "4 L/h", "V1": "70 L"}, "residual": {"proportional": 0.2}})
    mm = mm_model(km=f"{km} mg/L", vmax=f"{4 * km} mg/h")
    ref = dmtpk.fit(linear, data, method="ml", estimate=["CL", "V1"])
    got = dmtpk.fit(mm, data, method="ml", estimate=["VMAX", "V1"])
    np.testing.assert_allclose(got.theta["VMAX"] / km, ref.theta["CL"], rtol=1e-3)
    np.testing.assert_allclose(got.theta["V1"], ref.theta["V1"], rtol=1e-3)
    # Standard errors from the exact Hessian (second derivatives by differences of the
    # sensitivities): the same within 1e-3.
    np.testing.assert_allclose(got.se["V1"], ref.se["V1"], rtol=1e-3)
    np.testing.assert_allclose(got.se["VMAX"] / got.theta["VMAX"],
                               ref.se["CL"] / ref.theta["CL"], rtol=1e-3)


def test_outer_gradient_equals_differences_of_the_objective(tmp_path):
    """The closed-form gradient of the FOCE-I objective (log theta, log omega^2, log sigma)
    against central differences of the objective itself (step 1e-4: truncation about 1e-8,
    the modes' convergence noise about 1e-7 of the objective's scale): within 1e-4 relative
    to the largest component, for a two-compartment infusion."""
    from dmtpk.fit.estimate import _Objective
    rng = np.random.default_rng(11)
    names = ["V1", "VMAX", "KM", "Q", "V2"]
    work = tmp_path / "grad"
    work.mkdir()
    data0 = dataset(work, rate=DOSE, n=6)
    problem0 = build_problem(mm_model(two_cpt=True), data0, omega={k: 0.09 for k in names})
    eta = rng.normal(0, 0.3, (problem0.n_subjects, len(names)))
    f, _ = predict_sensitivities(problem0, problem0.theta, eta[None])
    dv = f[0] * (1 + 0.2 * rng.standard_normal(f.shape[1]))
    data = dataset(work, rate=DOSE, n=6, dv=dv.reshape(6, -1))
    problem = build_problem(mm_model(two_cpt=True), data, omega={k: 0.12 for k in names})
    full0, free, _, _ = problem.start()
    obj = _Objective(problem, full0, free)
    x = full0[free] + 0.05 * rng.standard_normal(free.sum())
    grad = obj.gradient(x)
    h = 1e-4
    diff = np.array([(obj(x + h * e) - obj(x - h * e)) / (2 * h) for e in np.eye(x.size)])
    assert np.max(np.abs(grad - diff)) < 1e-4 * np.max(np.abs(diff))


II_SS = 48.0    # h: 20 mg per 48 h is below VMAX (1 mg/h), so a steady state exists
TRAIN = 150     # doses of the explicit train standing in for a steady state


def ss_dataset(tmp_path, steady, rate=None, lag_col=False, ss=1, n=2):
    """Two subjects with a dose of DOSE mg every II_SS h (a bolus or a 1-h infusion at
    ``rate`` mg/h) and observations at TIMES after the last: ``steady`` one SS dose at 0
    (SS = ``ss``), else an explicit train of TRAIN doses (ADDL) with the observations after
    its last. Observations DV 1 (values do not enter the sensitivities)."""
    head = "ID,TIME,AMT,RATE,EVID,MDV,CMT,SS,II,ADDL,DV"
    t0 = 0.0 if steady else (TRAIN - 1) * II_SS
    lines = [head]
    for i in range(1, n + 1):
        if steady:
            lines.append(f"{i},0,{DOSE},{rate or 0},1,1,1,{ss},{II_SS},0,.")
        else:
            lines.append(f"{i},0,{DOSE},{rate or 0},1,1,1,0,{II_SS},{TRAIN - 1},.")
        lines += [f"{i},{t0 + t},0,0,0,0,1,0,0,0,1" for t in TIMES]
    path = tmp_path / ("ss.csv" if steady else "train.csv")
    path.write_text("\n".join(lines) + "\n")
    return dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg", concentration_unit="ug/L")


SS_CASES = {"bolus_1cpt": (["V1", "VMAX", "KM"], dict(), None),
            "infusion_2cpt": (["V1", "VMAX", "KM", "Q", "V2"], dict(two_cpt=True), DOSE)}


@pytest.mark.parametrize("case", list(SS_CASES))
def test_steady_state_sensitivities_equal_an_explicit_dose_train(tmp_path, case):
    """A steady-state dose (SS 1) through the sensitivity kernel, against the same kernel's
    ordinary path over an explicit train of 150 doses (no steady-state code; the slowest
    half-life near steady state is about 100 h at these parameters, as a 60-dose train, still
    3e-9 from steady state, shows: 150 intervals of 48 h are 70 of them), and the predictions against the record walker's
    own steady state (``simulate_dataset``, rtol 1e-12) and the sensitivities against central
    differences (step 1e-4) of it. Tolerances: 1e-8 relative for the train (the kernel's
    integration at rtol 1e-9 over 150 intervals; measured 3e-10); differences 1e-6 of each derivative's largest
    value (their truncation and the walker's own steady-state tolerance; measured 2e-8)."""
    names, model_kw, rate = SS_CASES[case]
    model = mm_model(**model_kw)
    omega = {k: 0.1 for k in names}
    eta = ETA[:, :len(names)]
    data_ss = ss_dataset(tmp_path, True, rate)
    problem_ss = build_problem(model, data_ss, omega=omega)
    f_ss, a_ss = predict_sensitivities(problem_ss, problem_ss.theta, eta[None])
    data_tr = ss_dataset(tmp_path, False, rate)
    problem_tr = build_problem(model, data_tr, omega=omega)
    f_tr, a_tr = predict_sensitivities(problem_tr, problem_tr.theta, eta[None])
    assert np.all(f_ss[0] > 0.1 * np.max(f_ss[0]))      # observations at steady state
    np.testing.assert_allclose(f_ss, f_tr, rtol=1e-8)
    for k in range(len(names)):
        scale = np.max(np.abs(a_tr[0, k]))
        assert np.max(np.abs(a_ss[0, k] - a_tr[0, k])) < 1e-8 * scale, names[k]

    obs = data_ss.item("EVID") == 0
    sid = [s for s, _ in data_ss.subjects()]

    def walker(e):
        values = {s: {p: TYPICAL[p] * np.exp(e[i, j]) for j, p in enumerate(names)}
                  for i, s in enumerate(sid)}
        return dmtpk.simulate_dataset(model, data_ss, subject_parameters=values, rtol=1e-12,
                                      atol=1e-14).pred[obs]
    np.testing.assert_allclose(f_ss[0], walker(eta), rtol=1e-8)
    for k in range(len(names)):
        step = np.zeros_like(eta)
        step[:, k] = 1e-4
        diff = (walker(eta + step) - walker(eta - step)) / 2e-4
        scale = np.max(np.abs(diff))
        assert np.max(np.abs(a_ss[0, k] - diff)) < 1e-6 * scale, names[k]


def test_focei_objective_of_a_steady_state_equals_the_explicit_train(tmp_path):
    """FOCE-I of a Michaelis-Menten model on steady-state data equals FOCE-I on the same
    observations after an explicit 150-dose train: objective to 1e-5, estimates to 1e-5
    relative (the two paths differ by the integration over 150 intervals at rtol 1e-9)."""
    rng = np.random.default_rng(11)
    model = mm_model()
    results = []
    dv = None
    for steady in (True, False):
        data = ss_dataset(tmp_path, steady, n=12)
        if dv is None:
            pred = dmtpk.simulate_dataset(model, data).pred
            obs = data.item("EVID") == 0
            dv = pred[obs] * np.exp(0.3 * rng.standard_normal((12, 1)).repeat(TIMES.size, 1)
                                    .ravel()) * (1 + 0.2 * rng.standard_normal(obs.sum()))
        path = tmp_path / ("ss_dv.csv" if steady else "train_dv.csv")
        rows = (tmp_path / ("ss.csv" if steady else "train.csv")).read_text().splitlines()
        it = iter(dv)
        rows = [r if j == 0 or r.endswith(",.") else r[:-1] + repr(float(next(it)))
                for j, r in enumerate(rows)]
        path.write_text("\n".join(rows) + "\n")
        data = dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg",
                                 concentration_unit="ug/L")
        results.append(dmtpk.fit(model, data, estimate=["V1", "VMAX", "KM"],
                                 omega={"V1": 0.1, "VMAX": 0.1}, covariance="none",
                                 progress=False))
    ss, train = results
    assert ss.converged and train.converged
    assert ss.ofv == pytest.approx(train.ofv, abs=1e-5)
    for p in ("V1", "VMAX", "KM"):
        assert ss.theta[p] == pytest.approx(train.theta[p], rel=1e-5), p


def test_a_steady_state_that_does_not_exist_has_no_prediction(tmp_path):
    """20 mg every 48 h is 0.42 mg/h, beyond a VMAX of 0.2 mg/h: the train accumulates
    without bound and has no steady state. That subject gets NaN predictions (an optimiser's trial
    point may go there, as it may go outside the parameters' support), the other subject the
    same values as beside a well-behaved one, and a fit starting there is refused naming the
    subject."""
    names = ["V1", "VMAX", "KM"]
    problem = build_problem(mm_model(), ss_dataset(tmp_path, True), omega={k: 0.1 for k in names})
    eta = ETA[:, :3].copy()
    eta[0, 1] = np.log(0.2)                                          # VMAX 0.2 mg/h
    f, a = predict_sensitivities(problem, problem.theta, eta[None])
    first = problem.obs_sub == 0
    assert np.all(np.isnan(f[0, first])) and np.all(np.isnan(a[0][:, first]))
    f_ok, a_ok = predict_sensitivities(problem, problem.theta, ETA[None, :, :3])
    np.testing.assert_array_equal(f[0, ~first], f_ok[0, ~first])
    np.testing.assert_array_equal(a[0][:, ~first], a_ok[0][:, ~first])
    with pytest.raises(ValidationError, match="subject 1.*row 3.*no steady state.*VMAX"):
        dmtpk.fit(mm_model(vmax="200 ug/h"), ss_dataset(tmp_path, True), estimate=names,
                  omega=names, covariance="none", progress=False)


def test_a_steady_state_the_walker_refuses_is_refused_naming_the_row(tmp_path):
    """SS 2 (a steady state added to what is there) of a Michaelis-Menten model has no
    defined answer in the walker either: a clear error naming the file row of the dose record
    (row 2, the header being row 1)."""
    data = ss_dataset(tmp_path, True, ss=2, n=1)
    with pytest.raises(ValidationError, match="row 2"):
        dmtpk.fit(mm_model(), data, method="ml", estimate=["V1", "VMAX"])


def test_a_subject_too_stiff_for_the_integrator_has_no_prediction(tmp_path):
    """A trial point far out (Q 1e7 times its typical value: rate constants of 1e4 /min over
    12 h, beyond the explicit integrator's step budget) gives that subject NaN predictions and
    sensitivities, as parameters outside their support do, and the other subject the same values
    as beside a well-behaved one."""
    names = ["V1", "VMAX", "KM", "Q", "V2"]
    work = tmp_path / "stiff"
    work.mkdir()
    problem = build_problem(mm_model(two_cpt=True), dataset(work, rate=DOSE),
                            omega={k: 0.1 for k in names})
    eta = ETA.copy()
    eta[0, 3] = np.log(1e7)
    f, a = predict_sensitivities(problem, problem.theta, eta[None])
    first = problem.obs_sub == 0
    assert np.all(np.isnan(f[0, first])) and np.all(np.isnan(a[0][:, first]))
    f_ok, a_ok = predict_sensitivities(problem, problem.theta, ETA[None])
    np.testing.assert_array_equal(f[0, ~first], f_ok[0, ~first])     # subjects independent
    np.testing.assert_array_equal(a[0][:, ~first], a_ok[0][:, ~first])
