r"""Record-sequence engine: one subject's NONMEM-style records, processed in order.

The event table of :mod:`dmtpk.regimen.table` describes doses given to a body that starts empty.
A NONMEM record sequence is more general: records reset the system (EVID 3 and 4), replace or
add to its state by a steady state (SS 1 and 2), repeat doses (ADDL/II), delay them (lag times),
scale them (bioavailability) and take infusion rates or durations from the model (RATE -1/-2).
This engine walks the records one after the other, as PREDPP does, keeping the state, the running
infusions and the doses still to come, and returns the state at every record.

Semantics (PREDPP's):

* Records are processed in their order. Before a record at time :math:`t` the system is advanced
  to :math:`t`, giving every scheduled event (additional dose, lagged dose, end of an infusion)
  due at or before :math:`t` on the way; then the record acts. So an observation sees a dose
  recorded before it at the same time, and one whose lag ends at that time.
* A dose of amount :math:`a` into compartment :math:`j` with bioavailability :math:`F_j` and lag
  :math:`L_j` is given at :math:`t + L_j`: a bolus adds :math:`F_j a`; an infusion with a rate
  :math:`R` from the data runs at :math:`R` for :math:`F_j a / R`; RATE = -1 takes the rate
  :math:`R_j` from the model (duration :math:`F_j a / R_j`); RATE = -2 the duration :math:`D_j`
  (rate :math:`F_j a / D_j`).
* ADDL additional doses repeat the dose every II after the record; each takes F, lag and modelled
  rate or duration from the most recent record processed before it (the initiating record, or a
  later one), as PREDPP's PK routine does.
* EVID 3 resets the system (amounts to zero, running infusions stopped, scheduled doses dropped);
  EVID 4 resets and then doses. SS = 1 does the same reset and then sets the state to the steady
  state of the dose repeated every II; SS = 2 adds that steady state to the present state.
  Infusions of earlier doses of the steady-state train still running at the record time keep
  running. ADDL after a steady-state dose continues the train.
* SS with AMT = 0, RATE > 0 and II = 0 is a steady-state constant infusion: the state becomes the
  infusion's steady state at the record time and the infusion is not continued afterwards (this is
  what NONMEM 7 reports, e.g. scenario 29 of the mrgsolve/nmtests corpus).
* Mass-balance accumulators (``eliminated``) hold the amount eliminated since the last reset or
  steady-state record: at steady state that amount is unbounded, so it restarts at zero.

Steady state for linear models is exact. Let :math:`\Phi(\tau)` be the state a single dose of the
train leaves :math:`\tau` after its record time (zero before its lag ends) and
:math:`E = e^{A\,II}`. Once a dose is fully delivered (:math:`\tau \ge L + D`, :math:`D` its
infusion duration, 0 for a bolus), :math:`\Phi(\tau + II) = E\,\Phi(\tau)`, so the state just
before the steady-state record is

.. math:: S = \sum_{k\ge 1}\Phi(k\,II)
            = \sum_{k=1}^{m-1}\Phi(k\,II) + (I - E)^{-1}\,\Phi(m\,II),
   \qquad m = \max(1, \lceil (L + D)/II \rceil),

which holds for any infusion duration, including durations longer than II (overlapping
infusions). Each :math:`\Phi(k\,II)` comes from the exact step
:math:`\exp([[A, b], [0, 0]]\,\tau)`. Without a defined answer (a lag of at least II with SS; SS
on a nonlinear model when adding, SS = 2) the record is rejected.

The SciPy path steps with ``solve_ivp`` between events and finds a steady state by giving the
dose train until the pre-dose state converges (``ss="iterate"``; the default for nonlinear
models). The stopping rule estimates the remaining error of the geometric convergence,
:math:`\lVert\Delta_j\rVert\,r/(1 - r)` with :math:`r = \lVert\Delta_j\rVert/\lVert\Delta_{j-1}
\rVert`, and stops when it is below ``ss_tol`` relative to the state.

All times are minutes, amounts mg and rates mg/min.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from .._kernels.dosing import (DOSE_BAD_F, DOSE_BAD_LAG, DOSE_NO_MODEL_DURATION,
                               DOSE_NO_MODEL_RATE, DOSE_OK, resolve_dose)
from .._kernels.expm import expm
from ..errors import SolverError, ValidationError
from .scipy_ivp import system_functions

__all__ = ["solve_records", "solve_records_batch", "WalkerState", "RecordError", "SS_MODES",
           "DEFAULT_SS_TOL"]

#: Ways to compute a steady state: ``"auto"`` (exact for linear models on the exact engine,
#: iteration otherwise), ``"exact"`` (matrix exponentials; linear models only), ``"iterate"``
#: (repeat the dose until the state converges).
SS_MODES = ("auto", "exact", "iterate")
#: Relative tolerance on the estimated remaining error of an iterated steady state.
DEFAULT_SS_TOL = 1e-10
#: Most dosing intervals given while iterating to a steady state (the compiled walker's
#: ``_kernels.records`` holds the same two values; a test keeps them equal).
SS_MAX_INTERVALS = 20000


class RecordError(ValidationError):
    """A record whose combination of items has no defined answer.

    Parameters
    ----------
    record : int
        Position of the record in the subject's sequence (0-based).
    item : str
        The data item or model quantity at fault (``"SS"``, ``"RATE"``, ``"ALAG"``, ``"F"``,
        ``"R"``, ``"D"``, ``"TIME"``, ``"II"``).
    message : str
    compartment : int, optional
        Compartment (0-based state index) the quantity belongs to.
    """

    def __init__(self, record: int, item: str, message: str, compartment: int | None = None):
        self.record = int(record)
        self.item = item
        self.compartment = compartment
        super().__init__(f"record {record}, {item}", message)
        self.detail = message


# --------------------------------------------------------------------------------------------
# Steppers: advance x' = A x + b (+ Michaelis-Menten flux) over dt with b constant.
# --------------------------------------------------------------------------------------------

class _ExactStep:
    """Exact step with the matrix exponential of the augmented matrix [[A, b], [0, 0]]."""

    def __init__(self, a: np.ndarray):
        self.a = a
        self.n = a.shape[0]
        self._cache: dict = {}

    def __call__(self, x: np.ndarray, b: np.ndarray, dt: float) -> np.ndarray:
        if dt <= 0.0:
            return x
        key = (b.tobytes(), dt)
        m = self._cache.get(key)
        if m is None:
            n = self.n
            aug = np.zeros((n + 1, n + 1))
            aug[:n, :n] = self.a
            aug[:n, n] = b
            m = expm(aug * dt)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = m
        return m[:-1, :-1] @ x + m[:-1, -1]


class _OdeStep:
    """``solve_ivp`` step (any model, Michaelis-Menten elimination included)."""

    def __init__(self, a, mm, central, eliminated, metabolite, method, rtol, atol):
        self.a = a
        self.n = a.shape[0]
        self.mm = mm
        self.c, self.e, self.m = central, eliminated, metabolite
        self.method, self.rtol, self.atol = method, rtol, atol

    def _fun(self, b):
        return system_functions(self.a, b, self.mm, self.c, self.e, self.m)

    def __call__(self, x, b, dt):
        if dt <= 0.0:
            return x
        fun, jac = self._fun(b)
        kw = {"jac": jac} if self.method in ("LSODA", "Radau", "BDF") else {}
        from scipy.integrate import solve_ivp  # imported on use: keeps `import dmtpk` light
        res = solve_ivp(fun, (0.0, dt), x, method=self.method, rtol=self.rtol, atol=self.atol,
                        **kw)
        if res.status < 0:
            raise SolverError(f"solve_ivp ({self.method}) failed: {res.message}")
        return res.y[:, -1].copy()


# --------------------------------------------------------------------------------------------
# A schedule: state, running infusions and events still to come.
# --------------------------------------------------------------------------------------------

class _Schedule:
    """State of the system between records, advanced by a stepper.

    ``infusions`` holds [state, rate, end]; ``pending`` is a heap of (time, seq, kind, payload):
    ``"dose"`` gives (state, amount, rate, duration) now (lag already applied); ``"implied"``
    is the next additional dose of a train (record, k, state, amount, rate, record time, II,
    ADDL), built with the values of the latest record when due.
    """

    def __init__(self, n: int, t0: float):
        self.n = n
        self.t = t0
        self.x = np.zeros(n)
        self.infusions: list = []
        self.pending: list = []
        self._seq = 0

    def reset(self):
        self.x = np.zeros(self.n)
        self.infusions = []
        self.pending = []

    def push(self, time: float, kind: str, payload):
        self._seq += 1
        heapq.heappush(self.pending, (time, self._seq, kind, payload))

    def rate_vector(self) -> np.ndarray:
        b = np.zeros(self.n)
        for s, r, _ in self.infusions:
            b[s] += r
        return b

    def give(self, t: float, dose):
        s, amount, rate, dur = dose
        if rate > 0.0:
            if dur > 0.0:
                self.infusions.append([s, rate, t + dur])
        else:
            self.x[s] += amount

    def advance(self, t_to: float, step, on_implied=None):
        """Advance to ``t_to``, giving every scheduled event due at or before it."""
        while True:
            t_next = math.inf
            if self.pending:
                t_next = self.pending[0][0]
            for inf in self.infusions:
                t_next = min(t_next, inf[2])
            if t_next > t_to:
                break
            t_next = max(t_next, self.t)
            self.x = step(self.x, self.rate_vector(), t_next - self.t)
            self.t = t_next
            self.infusions = [inf for inf in self.infusions if inf[2] > t_next]
            while self.pending and self.pending[0][0] <= t_next:
                _, _, kind, payload = heapq.heappop(self.pending)
                if kind == "dose":
                    self.give(t_next, payload)
                else:
                    on_implied(self, t_next, payload)
        if t_to > self.t:
            self.x = step(self.x, self.rate_vector(), t_to - self.t)
            self.t = t_to


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------

def _dose(i, src, s, amt, rate, f, lag, mrate, mdur):
    """(state, amount delivered, rate, duration) and lag of a dose of record ``i`` built with the
    values of record ``src``: :func:`dmtpk._kernels.dosing.resolve_dose`, its status turned
    into the error naming the record."""
    fj, lj = f[src, s], lag[src, s]
    r, d = mrate[src, s], mdur[src, s]
    st, amount, rate_d, dur_d, lag_d = resolve_dose(amt, rate, fj, lj, r, d, 1.0)
    if st == DOSE_OK:
        return (s, amount, rate_d, dur_d), lag_d
    if st == DOSE_BAD_F:
        raise RecordError(i, "F", f"bioavailability must be a finite number >= 0, got {fj}", s)
    if st == DOSE_BAD_LAG:
        raise RecordError(i, "ALAG", f"lag time must be a finite number >= 0, got {lj} min", s)
    if st == DOSE_NO_MODEL_RATE:
        raise RecordError(i, "R", f"RATE = -1 takes the infusion rate from the model, which "
                                  f"gives none (> 0) for this compartment (got {r})", s)
    if st == DOSE_NO_MODEL_DURATION:
        raise RecordError(i, "D", f"RATE = -2 takes the infusion duration from the model, "
                                  f"which gives none (> 0) for this compartment (got {d})", s)
    raise RecordError(i, "RATE", f"must be 0, positive, -1 or -2, got {rate}")


def solve_records(a, time, evid, amt, rate, target, ss, ii, addl, f, lag, mrate=None,
                  mdur=None, *, accumulators=(), method: str = "analytic", ss_mode: str = "auto",
                  mm=None, central: int = 0, eliminated: int = -1, metabolite: int = -1,
                  ode_method: str = "LSODA", rtol: float = 1e-10, atol: float = 1e-14,
                  ss_tol: float = DEFAULT_SS_TOL, x0=None, start: "WalkerState | None" = None,
                  return_state: bool = False):
    """States at every record of one subject.

    Parameters
    ----------
    a : ndarray, shape (n_records, n, n) or (n, n)
        System matrix in force on the way to each record (and for its doses and steady state);
        one matrix for all records when 2-D. 1/min.
    time : ndarray, shape (n_records,)
        Record times (min); non-decreasing except at reset records (EVID 3, 4).
    evid : ndarray of int, shape (n_records,)
        0 observation, 1 dose, 2 other, 3 reset, 4 reset and dose.
    amt : ndarray, shape (n_records,)
        Dose amounts (mg).
    rate : ndarray, shape (n_records,)
        Infusion rate (mg/min), 0 for a bolus, -1 rate from the model, -2 duration from the
        model.
    target : ndarray of int, shape (n_records,)
        State receiving each dose (ignored on other records).
    ss : ndarray of int, shape (n_records,)
        0, 1 or 2.
    ii : ndarray, shape (n_records,)
        Interdose interval (min).
    addl : ndarray of int, shape (n_records,)
        Number of additional doses.
    f, lag : ndarray, shape (n_records, n)
        Bioavailability and lag time (min) of doses into each state, as the model gives them at
        each record.
    mrate, mdur : ndarray, shape (n_records, n), optional
        Modelled infusion rate (mg/min) and duration (min) per state (NaN where the model gives
        none), for RATE = -1 and -2.
    accumulators : sequence of int
        Mass-balance states (no feedback into the others); excluded from steady states.
    method : {"analytic", "scipy"}
        Exact matrix-exponential steps (linear models) or ``solve_ivp``.
    ss_mode : {"auto", "exact", "iterate"}
        Steady-state computation (see :data:`SS_MODES`).
    mm : ndarray, shape (n_records, 4) or (4,), optional
        Michaelis-Menten (VMAX mg/min, KM mg/L, V1 L, metabolite mass per mg) per record;
        SciPy engine only.
    central, eliminated, metabolite : int
        State indices the Michaelis-Menten flux uses.
    ode_method, rtol, atol
        ``solve_ivp`` settings.
    ss_tol : float
        Relative tolerance of an iterated steady state.
    x0 : ndarray, shape (n,), optional
        Amounts at the first record's time, before it acts (default: an empty body).
    start : WalkerState, optional
        Continue a walk: the state (amounts, running infusions, doses still to come) returned
        by an earlier call with ``return_state=True``. The first record may not precede its
        time (unless it resets).
    return_state : bool
        Also return the :class:`WalkerState` after the last record.

    Returns
    -------
    ndarray, shape (n_records, n)
        State just after each record has acted (amounts in mg; effect compartments in mg/L);
        with ``return_state``, also the :class:`WalkerState` after the last record.

    Raises
    ------
    RecordError
        A record with no defined answer; names the record and the item.
    SolverError
        The integrator failed, or a steady state did not converge.
    """
    time = np.asarray(time, dtype=float)
    nrec = time.size
    a = np.asarray(a, dtype=float)
    if a.ndim == 2:
        a = np.broadcast_to(a, (nrec,) + a.shape)
    n = a.shape[-1]
    if method not in ("analytic", "scipy"):
        raise ValidationError("method", f"unknown engine {method!r}; expected 'analytic' or "
                                        "'scipy'")
    if ss_mode not in SS_MODES:
        raise ValidationError("ss", f"unknown steady-state mode {ss_mode!r}; expected one of "
                                    f"{SS_MODES}")
    if mm is not None:
        mm = np.asarray(mm, dtype=float)
        if mm.ndim == 1:
            mm = np.broadcast_to(mm, (nrec, 4))
        if method == "analytic":
            raise ValidationError("method", "the exact engine needs a linear model")
        if ss_mode == "exact":
            raise ValidationError("ss", "an exact steady state needs a linear model")
    exact_ss = ss_mode == "exact" or (ss_mode == "auto" and method == "analytic")
    nanarr = np.full((nrec, n), np.nan)
    mrate = nanarr if mrate is None else np.asarray(mrate, dtype=float)
    mdur = nanarr if mdur is None else np.asarray(mdur, dtype=float)
    f = np.asarray(f, dtype=float)
    lag = np.asarray(lag, dtype=float)
    dyn = np.array([k for k in range(n) if k not in set(accumulators)], dtype=np.int64)

    steppers: dict = {}

    def stepper(i):
        key = (a[i].tobytes(), None if mm is None else mm[i].tobytes())
        st = steppers.get(key)
        if st is None:
            if method == "analytic":
                st = _ExactStep(a[i])
            else:
                st = _OdeStep(a[i], None if mm is None else mm[i], central, eliminated,
                              metabolite, ode_method, rtol, atol)
            steppers[key] = st
        return st

    # The latest record processed: its values build additional doses. A continued walk uses
    # the values carried in its start state until its first record.
    current = [0]

    def on_implied(sched, t, payload):
        i, k, s, a_i, r_i, t_rec, ii_rec, n_addl = payload
        if k < n_addl:
            sched.push(t_rec + (k + 1) * ii_rec, "implied",
                       (i, k + 1, s, a_i, r_i, t_rec, ii_rec, n_addl))
        if current[0] is None:
            rows = tuple(np.asarray(v, dtype=float)[None, :] for v in start.rows)
            dose, lg = _dose(i, 0, s, a_i, r_i, *rows)
        else:
            dose, lg = _dose(i, current[0], s, a_i, r_i, f, lag, mrate, mdur)
        if lg > 0.0:
            sched.push(t + lg, "dose", dose)
        else:
            sched.give(t, dose)

    sched = _Schedule(n, float(time[0]) if nrec else 0.0)
    if x0 is not None:
        sched.x = np.array(x0, dtype=float)
    if start is not None:
        if x0 is not None:
            raise ValidationError("start", "give either a start state or start amounts x0")
        if nrec and float(time[0]) < start.t and int(evid[0]) not in (3, 4):
            raise RecordError(0, "TIME", f"time {float(time[0]):g} min precedes the start "
                                         f"state's ({start.t:g} min)")
        sched.t = start.t
        sched.x = np.array(start.x, dtype=float)
        sched.infusions = [list(inf) for inf in start.infusions]
        sched.pending = list(start.pending)
        sched._seq = max((item[1] for item in start.pending), default=0)
        current[0] = None
    out = np.zeros((nrec, n))
    for i in range(nrec):
        t = float(time[i])
        ev = int(evid[i])
        if t < sched.t:
            if ev not in (3, 4):
                raise RecordError(i, "TIME", f"time {t:g} min precedes the previous record's "
                                             f"({sched.t:g} min); only a reset record (EVID 3 "
                                             "or 4) may go back in time")
            sched.reset()
            sched.t = t
        else:
            sched.advance(t, stepper(i), on_implied)
        current[0] = i
        if ev in (3, 4):
            sched.reset()
        if ev in (1, 4):
            _dose_record(i, sched, stepper(i), a[i], dyn, time, amt, rate, target, ss, ii, addl,
                         f, lag, mrate, mdur, exact_ss, mm is not None, ss_tol)
        out[i] = sched.x
    if not return_state:
        return out
    last = current[0]
    rows = start.rows if last is None else (f[last], lag[last], mrate[last], mdur[last])
    state = WalkerState(t=sched.t, x=sched.x.copy(),
                        infusions=tuple(tuple(inf) for inf in sched.infusions),
                        pending=tuple(sched.pending), rows=tuple(np.array(r) for r in rows))
    return out, state


@dataclass(frozen=True, eq=False)
class WalkerState:
    """Everything the walker carries from one record to the next, to continue a walk later.

    Attributes
    ----------
    t : float
        Time (min) the state refers to (the last record's).
    x : ndarray, shape (n,)
        Amounts (mg; effect compartments mg/L).
    infusions : tuple of (state, rate, end)
        Infusions running at ``t`` (rate mg/min, end time min).
    pending : tuple
        Doses still to come (lagged doses, additional doses of ADDL trains), as the walker's
        heap items.
    rows : tuple of ndarray
        F, lag, modelled rate and duration per state of the latest record, which build the
        additional doses due before the continued walk's first record.
    """

    t: float
    x: np.ndarray
    infusions: tuple
    pending: tuple
    rows: tuple


def _dose_record(i, sched, step, a_i, dyn, time, amt, rate, target, ss, ii, addl, f, lag, mrate,
                 mdur, exact_ss, nonlinear, ss_tol):
    t = float(time[i])
    s = int(target[i])
    ssi = int(ss[i])
    iii = float(ii[i])
    if ssi in (1, 2):
        if ssi == 2 and nonlinear:
            raise RecordError(i, "SS", "SS = 2 adds a steady state to the present state, which "
                                       "has no meaning for a nonlinear model (superposition "
                                       "does not hold)")
        if iii == 0.0 and amt[i] == 0.0 and rate[i] > 0.0:
            fj = f[i, s]
            if fj != 1.0:
                raise RecordError(i, "F", f"a steady-state constant infusion (AMT = 0, II = 0) "
                                          f"with bioavailability {fj} != 1 has no defined "
                                          "answer", s)
            if int(addl[i]) != 0:
                raise RecordError(i, "ADDL", "must be 0 with a steady-state constant infusion")
            state = _ss_constant(i, step, a_i, dyn, s, float(rate[i]), exact_ss, nonlinear)
            if ssi == 1:
                sched.reset()
            sched.x[dyn] += state
            return
        if not iii > 0.0:
            raise RecordError(i, "II", f"a steady-state dose needs II > 0, got {iii:g} min")
        dose, lg = _dose(i, i, s, float(amt[i]), float(rate[i]), f, lag, mrate, mdur)
        if lg >= iii:
            raise RecordError(i, "ALAG", f"steady state with a lag time ({lg:g} min) of at least "
                                         f"the dosing interval II ({iii:g} min) has no defined "
                                         "answer", s)
        state, running = _steady_state(i, step, dyn, dose, lg, iii, exact_ss, ss_tol)
        if ssi == 1:
            sched.reset()
        sched.x[dyn] += state
        for end in running:
            sched.infusions.append([dose[0], dose[2], t + end])
    dose, lg = _dose(i, i, s, float(amt[i]), float(rate[i]), f, lag, mrate, mdur)
    if lg > 0.0:
        sched.push(t + lg, "dose", dose)
    else:
        sched.give(t, dose)
    n_addl = int(addl[i])
    if n_addl > 0:
        if not iii > 0.0:
            raise RecordError(i, "II", f"ADDL = {n_addl} needs II > 0")
        # One pending item per train: each additional dose schedules the next, so a train is
        # never expanded (a huge ADDL costs nothing beyond the last record).
        sched.push(t + iii, "implied", (i, 1, s, float(amt[i]), float(rate[i]), t, iii, n_addl))


def _sub_step(step, dyn):
    """A stepper restricted to the non-accumulator states."""
    if isinstance(step, _ExactStep):
        return _ExactStep(step.a[np.ix_(dyn, dyn)])
    remap = {int(k): j for j, k in enumerate(dyn)}
    sub = _OdeStep(step.a[np.ix_(dyn, dyn)], step.mm, remap.get(step.c, -1),
                   remap.get(step.e, -1), remap.get(step.m, -1), step.method, step.rtol,
                   step.atol)
    return sub


def _steady_state(i, step, dyn, dose, lg, ii, exact, ss_tol):
    """Pre-dose steady state (dynamic states) at the record time, and the end times (relative
    to the record) of the train's infusions still running then."""
    s, amount, r, dur = dose
    if s not in set(int(k) for k in dyn):
        raise RecordError(i, "CMT", "cannot give a steady-state dose into an accumulator", s)
    sd = int(np.flatnonzero(dyn == s)[0])
    nd = dyn.size
    sub = _sub_step(step, dyn)
    dsub = (sd, amount, r, dur)
    running = []
    k = 1
    while r > 0.0 and -k * ii + lg + dur > 0.0:
        running.append(-k * ii + lg + dur)
        k += 1
    if exact:
        m = max(1, math.ceil((lg + dur) / ii - 1e-12))
        if m * ii < lg + dur:
            m += 1
        sched = _Schedule(nd, 0.0)
        sched.push(lg, "dose", dsub)
        total = np.zeros(nd)
        phi = None
        for k in range(1, m + 1):
            sched.advance(k * ii, sub)
            phi = sched.x.copy()
            if k < m:
                total += phi
        e = expm(sub.a * ii)
        try:
            total += np.linalg.solve(np.eye(nd) - e, phi)
        except np.linalg.LinAlgError:
            raise RecordError(i, "SS", "the model has no steady state (a compartment without "
                                       "elimination)") from None
        return total, running
    # Iterate: give the train from an empty system until the pre-dose state converges.
    sched = _Schedule(nd, 0.0)
    prev = None
    d_prev = None
    for j in range(1, SS_MAX_INTERVALS + 1):
        sched.push((j - 1) * ii + lg, "dose", dsub)
        sched.advance(j * ii, sub)
        x = sched.x.copy()
        if prev is not None:
            d = float(np.max(np.abs(x - prev)))
            scale = max(float(np.max(np.abs(x))), 1e-300)
            if d == 0.0:
                return x, running
            if d_prev is not None and d_prev > 0.0 and j * ii > lg + dur + ii:
                ratio = d / d_prev
                if ratio < 1.0 and d * ratio / (1.0 - ratio) <= ss_tol * scale:
                    return x, running
            d_prev = d
        prev = x
    raise SolverError(f"record {i}: the steady state did not converge within "
                      f"{SS_MAX_INTERVALS} dosing intervals")


def _ss_constant(i, step, a_i, dyn, s, rate, exact, nonlinear):
    """Steady state (dynamic states) of a constant infusion of ``rate`` mg/min into ``s``."""
    ad = a_i[np.ix_(dyn, dyn)]
    sd = int(np.flatnonzero(dyn == s)[0])
    b = np.zeros(dyn.size)
    b[sd] = rate
    if not nonlinear:
        try:
            return -np.linalg.solve(ad, b)
        except np.linalg.LinAlgError:
            raise RecordError(i, "SS", "the model has no steady state (a compartment without "
                                       "elimination)") from None
    from scipy.optimize import root
    sub = _sub_step(step, dyn)
    fun, jac = sub._fun(b)
    # Start from the linear system with clearance VMAX/KM (the low-concentration limit).
    x0 = np.abs(-np.linalg.lstsq(ad - np.eye(dyn.size) * 1e-6, b, rcond=None)[0])
    sol = root(lambda x: fun(0.0, x), x0, jac=lambda x: jac(0.0, x), method="hybr", tol=1e-14)
    if not sol.success or np.any(sol.x < -1e-9 * max(1.0, np.abs(sol.x).max())):
        raise SolverError(f"record {i}: no steady state found for the constant infusion "
                          f"({sol.message}); the infusion rate may exceed the maximum "
                          "elimination rate")
    return sol.x


# --------------------------------------------------------------------------------------------
# Batches: the compiled walker over many subjects, each with its own records
# --------------------------------------------------------------------------------------------

#: Simultaneous infusions, lagged doses and additional-dose trains a subject holds in the
#: compiled walker at first; a subject needing more is run again with four times as many.
BATCH_CAPACITY = 16


def solve_records_batch(theta_rec, layout, mass_ratio, start, time, evid, amt, rate, target, ss,
                        ii, addl, f, lag, mrate=None, mdur=None, *, accumulators=(), x0=None,
                        mm=None, rtol: float = 1e-10, atol: float = 1e-14, ss_tol: float =
                        DEFAULT_SS_TOL, central: int = 0, eliminated: int = -1,
                        metabolite: int = -1, system_matrix=None) -> np.ndarray:
    """States at every record of a batch of subjects, compiled and in parallel.

    The arrays are those of :func:`solve_records` for all subjects one after the other: subject
    ``i`` owns records ``start[i]:start[i + 1]``. Parameters are per record (``theta_rec``,
    canonical units, shape (n_records, n_params)) and the system of each record is built from
    them with the model's ``layout`` (:func:`dmtpk._kernels.system.fill_system`). Linear models
    step exactly (steady states exact); Michaelis-Menten models (``mm``) with the compiled
    Dormand-Prince integrator at ``rtol``/``atol``.

    Parameters
    ----------
    theta_rec : ndarray, shape (n_records, n_params)
    layout : ndarray of int64
    mass_ratio : float
    start : ndarray of int, shape (n_subjects + 1,)
    time, evid, amt, rate, target, ss, ii, addl, f, lag, mrate, mdur
        As :func:`solve_records`, concatenated over subjects.
    accumulators : sequence of int
        Mass-balance states (excluded from steady states).
    x0 : ndarray, shape (n_subjects, n_states), optional
        Amounts at each subject's first record (default empty).
    mm : ndarray, shape (n_records, 4), optional
        Michaelis-Menten values per record (VMAX mg/min, KM mg/L, V1 L, metabolite mass per
        mg) for a nonlinear model.
    rtol, atol, ss_tol
        Integrator tolerances (nonlinear models) and the iterated steady state's tolerance.
    central, eliminated, metabolite : int
        States the Michaelis-Menten flux uses (for the single-subject walker).
    system_matrix : callable
        ``theta -> A`` for the single-subject walker, which runs any subject whose records the
        kernel leaves to it: it raises :class:`RecordError` for records with no defined answer
        and handles what the kernel does not (steady states of nonlinear models, stiff
        segments) with SciPy.

    Returns
    -------
    ndarray, shape (n_records, n_states)
        State just after each record.
    """
    from .._kernels.records import STATUS_CAPACITY, STATUS_OK, walk_batch

    theta_rec = np.ascontiguousarray(theta_rec, dtype=float)
    start = np.ascontiguousarray(start, dtype=np.int64)
    nrec = theta_rec.shape[0]
    n = f.shape[1]
    n_sub = start.size - 1
    nanarr = np.full((nrec, n), np.nan)
    mrate = nanarr if mrate is None else np.ascontiguousarray(mrate, dtype=float)
    mdur = nanarr if mdur is None else np.ascontiguousarray(mdur, dtype=float)
    mm_rec = np.zeros((nrec, 4)) if mm is None else np.ascontiguousarray(mm, dtype=float)
    dyn = np.array([k for k in range(n) if k not in set(accumulators)], dtype=np.int64)
    x0 = np.zeros((n_sub, n)) if x0 is None else np.ascontiguousarray(x0, dtype=float)
    args = [np.ascontiguousarray(time, dtype=float), np.ascontiguousarray(evid, dtype=np.int64),
            np.ascontiguousarray(amt, dtype=float), np.ascontiguousarray(rate, dtype=float),
            np.ascontiguousarray(target, dtype=np.int64), np.ascontiguousarray(ss, dtype=np.int64),
            np.ascontiguousarray(ii, dtype=float), np.ascontiguousarray(addl, dtype=np.int64),
            np.ascontiguousarray(f, dtype=float), np.ascontiguousarray(lag, dtype=float),
            mrate, mdur]
    out = np.zeros((nrec, n))
    status = np.zeros(n_sub, dtype=np.int64)
    status_record = np.zeros(n_sub, dtype=np.int64)
    cap = BATCH_CAPACITY
    walk_batch(theta_rec, mm_rec, layout, float(mass_ratio), start, *args, dyn, x0, out, status,
               status_record, cap, float(rtol), float(atol), float(ss_tol))
    while np.any(status == STATUS_CAPACITY):
        cap *= 4
        for i in np.flatnonzero(status == STATUS_CAPACITY):
            sub = np.array([start[i], start[i + 1]], dtype=np.int64)
            st = np.zeros(1, dtype=np.int64)
            sr = np.zeros(1, dtype=np.int64)
            walk_batch(theta_rec, mm_rec, layout, float(mass_ratio), sub, *args, dyn,
                       x0[i:i + 1], out, st, sr, cap, float(rtol), float(atol), float(ss_tol))
            status[i] = st[0]
    nonlinear = mm is not None and np.any(mm_rec[:, 0] > 0)
    for i in np.flatnonzero(status != STATUS_OK):
        if system_matrix is None:
            raise RecordError(int(status_record[i]), "record",
                              "the compiled walker cannot process this record")
        sl = slice(int(start[i]), int(start[i + 1]))
        a = np.array([system_matrix(theta_rec[r]) for r in range(sl.start, sl.stop)])
        try:
            out[sl] = solve_records(
                a, *(x[sl] for x in args), accumulators=accumulators,
                method="scipy" if nonlinear else "analytic",
                ss_mode="iterate" if nonlinear else "exact",
                mm=mm_rec[sl] if nonlinear else None, central=central, eliminated=eliminated,
                metabolite=metabolite, rtol=rtol, atol=atol, ss_tol=ss_tol, x0=x0[i])
        except RecordError as exc:
            exc.record += sl.start  # position in the batch
            raise
    return out
