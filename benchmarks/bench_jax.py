"""JAX comparison for the population workloads (optional: ``pip install "dmtpk[bench]"``).

The same subjects' parameters are simulated with

- W1 closed form in JAX (``jax.vmap`` over subjects, ``jax.jit``), no random draws: the
  bi-exponential plasma curve and the effect-compartment convolution written out, as a JAX user
  would. Two variants: ``closed_form`` returns plasma and effect-site concentration (ng/mL),
  the comparison the issue defines; ``closed_form_effect`` returns the sigmoid-Emax effect as
  well, the same three arrays dmtpk's W1 writes;
- W1 and W3 with diffrax (``diffeqsolve``, Tsit5, PID step control at rtol 1e-6, atol 1e-9,
  ``SaveAt(ts=times)``), vmapped over subjects (effect only).

JAX runs on the CPU here with its default threading (no explicit sharding over devices).
Times exclude compilation (one warm-up call). ``w1_closed_forms(times)`` gives the compiled
closed forms for timing beside dmtpk in the same process; ``run(params, times)`` returns rows
for the table printed by ``bench_population.py``.
"""

from __future__ import annotations

import time

import numpy as np


def available() -> bool:
    try:
        import diffrax  # noqa: F401  (presence check)
        import jax  # noqa: F401  (presence check)
    except ImportError:
        return False
    return True


def _timed(fn, *args, repeats=3):
    import jax
    out = jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best, out


def w1_closed_forms(times: np.ndarray) -> dict:
    """The W1 closed form compiled with ``jax.jit(jax.vmap(...))`` over subjects.

    Returns
    -------
    dict
        ``"closed_form"``: f(CL, V1, Q, V2, KE0) -> (Cp, Ce), each (n, n_times) in ng/mL;
        ``"closed_form_effect"``: the same and the effect, (Cp, Ce, E). Arguments are arrays of
        shape (n,) in L/min, L and 1/min.
    """
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    ts = jnp.asarray(times)

    def curves(cl, v1, q, v2, ke0):
        k10, k12, k21 = cl / v1, q / v1, q / v2
        b = k10 + k12 + k21
        c = k10 * k21
        l1 = -0.5 * (b + jnp.sqrt(b * b - 4 * c))
        l2 = c / l1
        a1 = 20.0 / v1 * (l1 + k21) / (l1 - l2)
        a2 = 20.0 / v1 * (l2 + k21) / (l2 - l1)
        e1, e2, ek = jnp.exp(l1 * ts), jnp.exp(l2 * ts), jnp.exp(-ke0 * ts)
        cp = a1 * e1 + a2 * e2
        ce = a1 * ke0 / (ke0 + l1) * (e1 - ek) + a2 * ke0 / (ke0 + l2) * (e2 - ek)
        return 1000.0 * cp, 1000.0 * ce  # mg/L -> ng/mL

    def with_effect(cl, v1, q, v2, ke0):
        cp, ce = curves(cl, v1, q, v2, ke0)
        r = (ce / 20.0) ** 2
        return cp, ce, 10.0 * r / (1.0 + r)

    return {"closed_form": jax.jit(jax.vmap(curves)),
            "closed_form_effect": jax.jit(jax.vmap(with_effect))}


def run(params_w1: dict, params_w3: dict, times: np.ndarray) -> list[tuple[str, float, tuple]]:
    """Rows (workload, subjects per second, outputs): the outputs are (Cp, Ce) for
    ``"W1 JAX closed form"``, (Cp, Ce, E) for ``"W1 JAX closed form with effect"`` and (E,) for
    the diffrax rows, each (n, n_times), for comparison with dmtpk's."""
    import diffrax
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    ts = jnp.asarray(times)
    rows = []

    p = [jnp.asarray(params_w1[k]) for k in ("CL", "V1", "Q", "V2", "KE0")]
    forms = w1_closed_forms(times)
    dt, out = _timed(forms["closed_form"], *p)
    rows.append(("W1 JAX closed form", p[0].size / dt, tuple(np.asarray(x) for x in out)))
    dt, out = _timed(forms["closed_form_effect"], *p)
    rows.append(("W1 JAX closed form with effect", p[0].size / dt,
                 tuple(np.asarray(x) for x in out)))

    def solve(rhs, y0, args):
        term = diffrax.ODETerm(rhs)
        sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), t0=0.0, t1=float(times[-1]), dt0=0.01,
                                  y0=y0, args=args, saveat=diffrax.SaveAt(ts=ts),
                                  stepsize_controller=diffrax.PIDController(rtol=1e-6,
                                                                            atol=1e-9),
                                  max_steps=100000)
        ce = sol.ys[:, 3]
        r = (ce / 0.02) ** 2
        return 10.0 * r / (1.0 + r)

    def rhs_w1(t, y, a):
        cl, v1, q, v2, ke0 = a
        d, c, per, ce = y
        conc = c / v1
        return jnp.stack([-3.0 * d, 3.0 * d - cl * conc - q * conc + q * per / v2,
                          q * conc - q * per / v2, ke0 * (conc - ce)])

    def w1(cl, v1, q, v2, ke0):
        return solve(rhs_w1, jnp.array([0.0, 20.0, 0.0, 0.0]), (cl, v1, q, v2, ke0))

    g = jax.jit(jax.vmap(w1))
    n_ode = min(p[0].size, 20000)
    dt, eff_ode = _timed(g, *[x[:n_ode] for x in p], repeats=1)
    rows.append(("W1 JAX + diffrax", n_ode / dt, (np.asarray(eff_ode),)))

    def rhs_w3(t, y, a):
        vmax, v1, q, v2, ke0 = a
        d, c, per, ce = y
        conc = c / v1
        return jnp.stack([-3.0 * d, 3.0 * d - vmax * conc / (0.2 + conc) - q * conc
                          + q * per / v2, q * conc - q * per / v2, ke0 * (conc - ce)])

    def w3(vmax, v1, q, v2, ke0):
        return solve(rhs_w3, jnp.array([8.0, 0.0, 0.0, 0.0]), (vmax, v1, q, v2, ke0))

    p3 = [jnp.asarray(params_w3[k][:n_ode]) for k in ("VMAX", "V1", "Q", "V2", "KE0")]
    h = jax.jit(jax.vmap(w3))
    dt, eff3 = _timed(h, *p3, repeats=1)
    rows.append(("W3 JAX + diffrax", n_ode / dt, (np.asarray(eff3),)))
    return rows
