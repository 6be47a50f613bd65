"""JAX comparison for the population workloads (optional: ``pip install "dmtpk[bench]"``).

The same subjects' parameters are simulated with

- W1 closed form in JAX (``jax.vmap`` over subjects, ``jax.jit``): the bi-exponential plasma
  curve and the effect-compartment convolution written out, as a JAX user would;
- W1 and W3 with diffrax (``diffeqsolve``, Tsit5, PID step control at rtol 1e-6, atol 1e-9,
  ``SaveAt(ts=times)``), vmapped over subjects.

JAX runs on the CPU here with its default threading (no explicit sharding over devices).
Times exclude compilation (one warm-up call). ``run(params, times)`` returns rows for the table
printed by ``bench_population.py``.
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
    out = fn(*args)
    out.block_until_ready()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best, np.asarray(out)


def run(params_w1: dict, params_w3: dict, times: np.ndarray) -> list[tuple[str, float, float]]:
    """Rows (workload, subjects per second, max |effect difference| vs ``reference``)."""
    import diffrax
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    ts = jnp.asarray(times)
    rows = []

    def closed_form(cl, v1, q, v2, ke0):
        k10, k12, k21 = cl / v1, q / v1, q / v2
        b = k10 + k12 + k21
        c = k10 * k21
        l1 = -0.5 * (b + jnp.sqrt(b * b - 4 * c))
        l2 = c / l1
        a1 = 20.0 / v1 * (l1 + k21) / (l1 - l2)
        a2 = 20.0 / v1 * (l2 + k21) / (l2 - l1)
        e1, e2, ek = jnp.exp(l1 * ts), jnp.exp(l2 * ts), jnp.exp(-ke0 * ts)
        ce = a1 * ke0 / (ke0 + l1) * (e1 - ek) + a2 * ke0 / (ke0 + l2) * (e2 - ek)
        r = (ce / 0.02) ** 2
        return 10.0 * r / (1.0 + r)

    p = [jnp.asarray(params_w1[k]) for k in ("CL", "V1", "Q", "V2", "KE0")]
    f = jax.jit(jax.vmap(closed_form))
    dt, eff = _timed(f, *p)
    rows.append(("W1 JAX closed form", p[0].size / dt, eff))

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
    rows.append(("W1 JAX + diffrax", n_ode / dt, eff_ode))

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
    rows.append(("W3 JAX + diffrax", n_ode / dt, eff3))
    return rows
