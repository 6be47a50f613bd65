r"""A model compiled into plain arrays: state layout, parameter vector and system matrix.

Every engine reads the same :class:`CompiledModel`, so engines cannot drift apart. The states are
amounts (mg) except effect compartments, which hold concentrations (mg/L):

``[depot] central [peripheral_1] [peripheral_2] [metabolite] [ce_<endpoint> ...] eliminated
[metabolite_eliminated]``

``eliminated`` accumulates the parent eliminated from the body (and ``metabolite_eliminated``
the metabolite's), so mass balance can be checked at every time. The linear part of the system
is :math:`\dot x = A(\theta)\,x + b(t)`, with :math:`b` the zero-order input (infusions). With
Michaelis–Menten elimination the flux :math:`V_{max} C/(K_M + C)`, :math:`C = x_c/V_1`, leaves
the central compartment, enters ``eliminated`` and forms metabolite (``FM`` times the molar mass
ratio); it is the model's only nonlinear term.

Effect compartments follow :math:`\dot C_e = k_{e0}(C_{drv} - C_e)`, linear in the driver's
amount. PD responses are

* linear: :math:`E = E_0 + \mathrm{SLOPE}\,C`
* Emax family: :math:`E = E_0 \pm M\,C^\gamma/(EC_{50}^\gamma + C^\gamma)`, with
  :math:`M = E_{max}` or, for the fractional forms, :math:`M = E_0 E_{max}`; :math:`\gamma = 1`
  for ``emax`` and ``imax``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .._kernels.pd import pd_response
from .._kernels.system import LAYOUT_FIELDS, L_NENDPOINTS, empty_layout, fill_system
from .spec import PD_MODELS, Model

__all__ = ["CompiledModel", "compile_model"]

_STRUCT_ROLES = ("CL", "V1", "Q", "V2", "Q3", "V3", "VMAX", "KM", "KA", "F_INH", "TLAG_INH")
_PD_CODE = {"linear": 0}  # every other form is the Emax family (code 1)


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """State layout, parameter vector and system of one model.

    Attributes
    ----------
    name : str
    state_names : tuple of str
    param_names : tuple of str
        Order of the parameter vector ``theta``.
    theta : ndarray, shape (n_params,)
        Typical values in canonical units.
    linear : bool
    index : mapping of str to int
        State index of ``depot``, ``central``, ``peripheral_1``, ``peripheral_2``,
        ``metabolite``, ``eliminated``, ``metabolite_eliminated`` (-1 when absent).
    param : mapping of str to int
        Position in ``theta`` of each structural role (CL, V1, ..., ``M_CL``, ``M_V``, ``FM``);
        -1 when absent.
    endpoints : tuple of dict
        Per endpoint: ``name``, ``state`` (effect-compartment state, -1 for a direct link),
        ``driver`` (0 parent, 1 metabolite), ``code``, ``sign``, ``fractional`` and the
        positions in ``theta`` of ``KE0``, ``E0``, ``EMAX``, ``EC50``, ``GAMMA``, ``SLOPE``
        (-1 when absent).
    mass_ratio : float
        Metabolite mass formed per mg of parent eliminated, per unit ``FM`` (molar mass ratio).
    layout : ndarray of int64
        The same layout as one array, for :func:`dmtpk._kernels.system.fill_system`.
    """

    name: str
    state_names: tuple
    param_names: tuple
    theta: np.ndarray
    linear: bool
    index: MappingProxyType
    param: MappingProxyType
    endpoints: tuple
    mass_ratio: float
    layout: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.state_names)

    @property
    def accumulators(self) -> list[int]:
        """The mass-balance states (``eliminated``, ``metabolite_eliminated``): amounts that
        feed nothing back, left out of steady states."""
        return [k for k in (self.index["eliminated"], self.index["metabolite_eliminated"])
                if k >= 0]

    def get(self, theta: np.ndarray, role: str, default: float = np.nan):
        """Value of a structural role in ``theta`` (``default`` when the model lacks it): a
        float for one parameter vector, an array for a stack of them (shape (..., n_params))."""
        i = self.param[role]
        if i < 0:
            return default
        return theta[..., i] if np.ndim(theta) > 1 else float(theta[i])

    def route_parameters(self, theta: np.ndarray) -> tuple[float, float, float]:
        """(F_INH, TLAG_INH in min, KA in 1/min) for the inhaled route (NaN KA without it)."""
        return (self.get(theta, "F_INH", 1.0), self.get(theta, "TLAG_INH", 0.0),
                self.get(theta, "KA"))

    def system_matrix(self, theta: np.ndarray, depot_kas=()) -> np.ndarray:
        """The matrix :math:`A(\\theta)`, shape (n, n) with n = n_states + extra depots.

        ``depot_kas`` are the absorption rate constants of the depots a regimen uses (the
        model's own depot first); depots beyond the model's own are appended as extra states.
        """
        depot_kas = np.asarray(depot_kas, dtype=float)
        n_extra = max(0, depot_kas.size - (1 if self.index["depot"] >= 0 else 0))
        n = self.n_states + n_extra
        a = np.empty((n, n))
        fill_system(np.asarray(theta, dtype=float), self.layout, self.mass_ratio, depot_kas, a)
        return a

    def input_states(self, n_inputs: int) -> np.ndarray:
        """State index of each input of :class:`~dmtpk.regimen.ResolvedEvents` (central first,
        then the depots, the model's own first and any extra ones appended)."""
        out = [self.index["central"]]
        if n_inputs > 1:  # inhaled doses exist only for models with a depot
            out += [self.index["depot"]] + [self.n_states + k for k in range(n_inputs - 2)]
        return np.asarray(out, dtype=np.int64)

    def mm_parameters(self, theta: np.ndarray) -> np.ndarray:
        """(VMAX mg/min, KM mg/L, V1 L, metabolite mass formed per mg eliminated), shape (4,),
        or (..., 4) for a stack of parameter vectors."""
        fm = self.get(theta, "FM", 0.0) * self.mass_ratio if self.index["metabolite"] >= 0 else 0.0
        vals = [self.get(theta, "VMAX"), self.get(theta, "KM"), self.get(theta, "V1"), fm]
        if np.ndim(theta) > 1:
            return np.stack([np.broadcast_to(v, theta.shape[:-1]) for v in vals], axis=-1)
        return np.array(vals)

    def endpoint_array(self) -> np.ndarray:
        """Endpoints as an int64 array for the population kernels, shape (n_endpoints, 11):
        effect-compartment state (-1 direct), driver (0 parent, 1 metabolite), and positions in
        theta of KE0, then PD code, sign, fractional flag, and positions of E0, EMAX, EC50,
        GAMMA, SLOPE (-1 when absent)."""
        out = np.full((len(self.endpoints), 11), -1, dtype=np.int64)
        for k, ep in enumerate(self.endpoints):
            out[k] = (ep["state"], ep["driver"], ep["KE0"], ep["code"], ep["sign"],
                      int(ep["fractional"]), ep["E0"], ep["EMAX"], ep["EC50"], ep["GAMMA"],
                      ep["SLOPE"])
        return out

    def output_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the population kernels' concentration output and the row driving each
        endpoint: row 0 the plasma parent, then the metabolite (if any), then one row per
        effect-compartment endpoint. Codes: 0 parent, 1 metabolite, 2 + k effect site of k."""
        rows = [0] + ([1] if self.index["metabolite"] >= 0 else [])
        ep_row = []
        for k, ep in enumerate(self.endpoints):
            if ep["state"] >= 0:
                ep_row.append(len(rows))
                rows.append(2 + k)
            else:
                ep_row.append(rows.index(1) if ep["driver"] == 1 else 0)
        return np.array(rows, dtype=np.int64), np.array(ep_row, dtype=np.int64)

    def route_positions(self) -> np.ndarray:
        """Positions in theta of F_INH and TLAG_INH (-1 when absent), int64 shape (2,)."""
        return np.array([self.param["F_INH"], self.param["TLAG_INH"]], dtype=np.int64)

    def concentrations(self, states: np.ndarray, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Plasma concentrations (mg/L) of the parent (``"parent"``) and metabolite.

        ``states`` has shape (..., n) with the model's states first; ``theta`` is one
        parameter vector or one per row of ``states``.
        """
        out = {"parent": states[..., self.index["central"]] / self.get(theta, "V1")}
        if self.index["metabolite"] >= 0:
            out["metabolite"] = states[..., self.index["metabolite"]] / self.get(theta, "M_V")
        return out

    def endpoint_outputs(self, states: np.ndarray, theta: np.ndarray):
        """For each endpoint: (driving concentration at the effect site in mg/L, response).

        ``theta`` is one parameter vector, or one per row of ``states`` (shape
        (..., n_params)).
        """
        conc = self.concentrations(states, theta)
        out = []
        for ep in self.endpoints:
            drv = conc["parent"] if ep["driver"] == 0 else conc["metabolite"]
            ce = states[..., ep["state"]] if ep["state"] >= 0 else drv
            g = (lambda k, d=0.0: (theta[..., ep[k]] if np.ndim(theta) > 1
                                   else float(theta[ep[k]])) if ep[k] >= 0 else d)
            gamma = g("GAMMA", 1.0)
            resp = pd_response(ce, ep["code"], ep["sign"], ep["fractional"], g("E0"), g("EMAX"),
                               g("EC50", 1.0), gamma, g("SLOPE"))
            out.append((ce, resp))
        return out


def compile_model(model: Model) -> CompiledModel:
    """Compile a :class:`~dmtpk.model.spec.Model` (use ``model.compiled``, which caches it)."""
    names = list(model.parameters)
    theta = np.array([model.parameters[n].value for n in names], dtype=float)
    theta.setflags(write=False)
    pos = {n: i for i, n in enumerate(names)}

    states = []
    index = {}

    def add(key, label=None):
        index[key] = len(states)
        states.append(label or key)

    if "inhaled" in model.routes:
        add("depot")
    add("central")
    for j in range(1, model.n_compartments):
        add(f"peripheral_{j}")
    if model.metabolite is not None:
        add("metabolite", f"metabolite ({model.metabolite.name})")
    endpoints = []
    for ep in model.effects:
        state = -1
        if ep.link == "effect_compartment":
            state = len(states)
            states.append(f"ce_{ep.name}")
        has_gamma, sign, fractional = PD_MODELS[ep.model]
        entry = {"name": ep.name, "state": state, "driver": 0 if ep.driver == "parent" else 1,
                 "code": _PD_CODE.get(ep.model, 1), "sign": sign, "fractional": fractional}
        for role in ("KE0", "E0", "EMAX", "EC50", "GAMMA", "SLOPE"):
            entry[role] = pos[ep.roles[role]] if role in ep.roles else -1
        endpoints.append(MappingProxyType(entry))
    add("eliminated")
    if model.metabolite is not None:
        add("metabolite_eliminated")
    for key in ("depot", "peripheral_1", "peripheral_2", "metabolite", "metabolite_eliminated"):
        index.setdefault(key, -1)

    param = {role: pos.get(role, -1) for role in _STRUCT_ROLES}
    mass_ratio = 0.0
    if model.metabolite is not None:
        r = model.metabolite.roles
        param.update(M_CL=pos[r["CL"]], M_V=pos[r["V"]], FM=pos[r["FM"]])
        mass_ratio = model.metabolite.molar_mass / model.molar_mass
    else:
        param.update(M_CL=-1, M_V=-1, FM=-1)
    layout = empty_layout(len(endpoints))
    layout[0] = len(states)
    for k, fname in enumerate(LAYOUT_FIELDS[1:], start=1):
        if fname == "linear":
            layout[k] = 1 if model.is_linear else 0
        elif fname in index:
            layout[k] = index[fname]
        else:
            layout[k] = param[fname]
    for i, ep in enumerate(endpoints):
        layout[L_NENDPOINTS + 1 + 3 * i: L_NENDPOINTS + 4 + 3 * i] = (ep["state"], ep["driver"],
                                                                      ep["KE0"])
    layout.setflags(write=False)
    return CompiledModel(
        name=model.name, state_names=tuple(states), param_names=tuple(names), theta=theta,
        linear=model.is_linear, index=MappingProxyType(index), param=MappingProxyType(param),
        endpoints=tuple(endpoints), mass_ratio=mass_ratio, layout=layout,
    )
