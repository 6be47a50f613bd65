"""The only place random numbers are drawn.

Subjects are grouped in fixed blocks of :data:`BLOCK_SIZE` by their position (subject ``i`` is in
block ``i // BLOCK_SIZE``). Block ``k`` draws from its own generator, seeded by
``SeedSequence(seed, spawn_key=(0, k))`` (the k-th child of the seed), always in the same order:
standard normals for the etas, then covariates, then residual-error normals. A covariate with
bounds (a normal one is always bounded below by 0) is drawn from its truncated distribution
(:func:`_draw_cov`). Any chunk of
subjects is served by generating the blocks it overlaps and slicing, so the same seed gives the
same subjects whatever the chunk size, thread count or backend.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK_SIZE", "block_generator", "draw_subjects", "replicate_generator"]

#: Subjects per random-number block. Part of the reproducibility contract: changing it changes
#: which numbers each subject gets.
BLOCK_SIZE = 4096


def block_generator(seed: int, block: int) -> np.random.Generator:
    """Generator of block ``block`` (PCG64 seeded by child ``(0, block)`` of ``seed``)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0, block))))


def replicate_generator(seed: int, replicate: int) -> np.random.Generator:
    """Generator of the typical values of replicate trial ``replicate`` (child ``(1, r)``)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed,
                                                                       spawn_key=(1, replicate))))


_CACHE: dict = {}


def _block_draws(seed, block, n_eta, covariates, residual_names, n_times, n_occ=0):
    """Draws of one block; the last two blocks are kept, so small chunks reuse them."""
    key = (seed, block, n_eta, n_occ, tuple((c.name, c.kind, c.loc, c.scale, c.lower, c.upper)
                                     for c in covariates), tuple(residual_names), n_times)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    out = _generate_block(seed, block, n_eta, covariates, residual_names, n_times, n_occ)
    if len(_CACHE) >= 2:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = out
    return out


def _generate_block(seed, block, n_eta, covariates, residual_names, n_times, n_occ=0):
    rng = block_generator(seed, block)
    out = {"z": rng.standard_normal((BLOCK_SIZE, n_eta))}
    if n_occ:
        out["z_occ"] = rng.standard_normal((BLOCK_SIZE, n_occ))
    cov = {}
    for spec in covariates:
        if spec.kind not in ("lognormal", "normal"):
            continue
        x = _draw_cov(rng, spec, BLOCK_SIZE)
        cov[spec.name] = x
    out["cov"] = cov
    out["eps"] = {name: rng.standard_normal((2, BLOCK_SIZE, n_times)) for name in residual_names}
    return out


#: Rounds of redrawing the values outside a covariate's bounds before the rest are drawn by
#: the inverse distribution function.
REDRAW_ROUNDS = 16


def _draw_cov(rng, spec, size):
    """``size`` draws of a covariate from its distribution truncated to [lower, upper].

    Values outside the bounds are redrawn (rejection, :data:`REDRAW_ROUNDS` rounds); any still
    outside are drawn by inversion, ``F^-1(F(a) + u (F(b) - F(a)))`` with ``u`` uniform, through
    :func:`scipy.stats.truncnorm.ppf` on the normal scale (the log scale for a log-normal
    covariate). Both give exactly the truncated distribution: a value is the first accepted
    draw, or an independent draw from the truncated distribution itself. The generator is used
    in a fixed order, so the values are reproducible from the seed; unbounded draws (and bounded
    ones that need no redraw) use the same numbers as before bounds were enforced.
    """
    def value(z):
        return np.exp(spec.loc + spec.scale * z) if spec.kind == "lognormal" \
            else spec.loc + spec.scale * z

    x = value(rng.standard_normal(size))
    if spec.scale == 0.0:
        return x
    for _ in range(REDRAW_ROUNDS):
        bad = (x < spec.lower) | (x > spec.upper)
        if not bad.any():
            return x
        x[bad] = value(rng.standard_normal(int(bad.sum())))
    bad = (x < spec.lower) | (x > spec.upper)
    if bad.any():
        from scipy.stats import truncnorm

        from .variability import _standard_bounds
        lo, hi = _standard_bounds(spec)
        z = truncnorm.ppf(rng.random(int(bad.sum())), lo, hi)
        x[bad] = np.clip(value(z), spec.lower, spec.upper)
    return x


def draw_subjects(seed: int, start: int, stop: int, n_eta: int, covariates=(),
                  residual_names=(), n_times: int = 0, n_occ: int = 0) -> dict:
    """Random draws of subjects ``start`` to ``stop - 1``.

    Returns
    -------
    dict
        ``"z"``: standard normals, shape (stop - start, n_eta); ``"z_occ"``: the occasion
        normals, shape (stop - start, n_occ), when ``n_occ``; ``"cov"``: drawn covariate
        values by name, shape (stop - start,); ``"eps"``: by residual output, standard normals
        of shape (2, stop - start, n_times).
    """
    first, last = start // BLOCK_SIZE, (stop - 1) // BLOCK_SIZE
    parts = [_block_draws(seed, b, n_eta, covariates, residual_names, n_times, n_occ)
             for b in range(first, last + 1)]
    lo = start - first * BLOCK_SIZE
    hi = lo + (stop - start)
    z = np.concatenate([p["z"] for p in parts])[lo:hi]
    cov = {k: np.concatenate([p["cov"][k] for p in parts])[lo:hi] for k in parts[0]["cov"]}
    eps = {k: np.concatenate([p["eps"][k] for p in parts], axis=1)[:, lo:hi]
           for k in parts[0]["eps"]}
    out = {"z": z, "cov": cov, "eps": eps}
    if n_occ:
        out["z_occ"] = np.concatenate([p["z_occ"] for p in parts])[lo:hi]
    return out
