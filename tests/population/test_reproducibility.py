"""Same seed, same subjects: bit-identical results whatever the thread count, chunk size and
backend (the draws are keyed by subject position, kernels write disjoint rows, summaries are
order-independent integer histograms)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dmtpk

from .conftest import TIMES, w_model

REG = dmtpk.Bolus(20.0) + dmtpk.Infusion(rate=1.0, duration=30.0)


def _arrays(r):
    return [r.concentration, r.effect, r.effect_site] + [r.parameters[k] for k in
                                                         sorted(r.parameters)]


@pytest.mark.parametrize("chunk, n", [(1, 300), (777, 5000), (4096, 5000), (5000, 5000)])
def test_chunk_size_does_not_change_subjects(linear_model, chunk, n):
    ref = dmtpk.simulate_population(linear_model, REG, TIMES, n=n, seed=42)
    other = dmtpk.simulate_population(linear_model, REG, TIMES, n=n, seed=42,
                                      chunk_size=chunk)
    for a, b in zip(_arrays(ref), _arrays(other)):
        assert np.array_equal(a, b)


def test_first_subjects_do_not_depend_on_population_size(linear_model):
    small = dmtpk.simulate_population(linear_model, REG, TIMES, n=10, seed=5)
    big = dmtpk.simulate_population(linear_model, REG, TIMES, n=9000, seed=5)
    assert np.array_equal(small.concentration, big.concentration[:10])


def test_different_seeds_differ(linear_model):
    a = dmtpk.simulate_population(linear_model, REG, TIMES, n=50, seed=1)
    b = dmtpk.simulate_population(linear_model, REG, TIMES, n=50, seed=2)
    assert not np.array_equal(a.concentration, b.concentration)


@pytest.mark.parametrize("elimination", ["linear", "michaelis_menten"])
def test_summary_independent_of_chunk_size(elimination):
    """Chunks of 999 and the default (65536, streamed in tiles of 4096) give the same
    summaries: the histograms are integer counts, whatever the grouping."""
    q = [5, 50, 95]
    model = w_model(elimination)
    a = dmtpk.simulate_population(model, REG, TIMES, n=6000, seed=8, keep="summary")
    b = dmtpk.simulate_population(model, REG, TIMES, n=6000, seed=8, keep="summary",
                                  chunk_size=999)
    assert np.array_equal(a.percentiles(q), b.percentiles(q))
    assert np.array_equal(a.percentiles(q, "intensity"), b.percentiles(q, "intensity"))
    for k, v in a.metric_percentiles(q).items():
        assert np.array_equal(v, b.metric_percentiles(q)[k], equal_nan=True)


SCRIPT = textwrap.dedent("""
    import sys, numpy as np, dmtpk
    sys.path.insert(0, {tests!r})
    from population.conftest import w_model, TIMES
    for elim in ("linear", "michaelis_menten"):
        r = dmtpk.simulate_population(w_model(elim), dmtpk.Bolus(20.0) + dmtpk.Inhalation(5, at=3),
                                      TIMES, n=3000, seed=7, chunk_size=1000)
        np.save({out!r} + elim + ".npy", np.stack([r.concentration, r.effect]))
""")


@pytest.mark.parametrize("threads", ["1", "2"])
def test_thread_count_does_not_change_results(tmp_path, threads):
    """Run in fresh processes with NUMBA_NUM_THREADS = 1 and 2; compare with this process."""
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = str(tmp_path / f"t{threads}_")
    env = dict(os.environ, NUMBA_NUM_THREADS=threads)
    subprocess.run([sys.executable, "-c", SCRIPT.format(tests=tests, out=out)], env=env,
                   check=True)
    for elim in ("linear", "michaelis_menten"):
        here = dmtpk.simulate_population(w_model(elim),
                                         dmtpk.Bolus(20.0) + dmtpk.Inhalation(5, at=3), TIMES,
                                         n=3000, seed=7)
        there = np.load(out + elim + ".npy")
        assert np.array_equal(there, np.stack([here.concentration, here.effect]))


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_backend_matches_numba(linear_model, mm_model, dask_client):
    for model in (linear_model, mm_model):
        local = dmtpk.simulate_population(model, REG, TIMES, n=3000, seed=21, chunk_size=700)
        remote = dmtpk.simulate_population(model, REG, TIMES, n=3000, seed=21, chunk_size=700,
                                           backend="dask", client=dask_client)
        for a, b in zip(_arrays(local), _arrays(remote)):
            assert np.array_equal(a, b)


def test_dask_summary_matches_numba(linear_model, dask_client):
    q = [5, 25, 50, 75, 95]
    local = dmtpk.simulate_population(linear_model, REG, TIMES, n=5000, seed=3, keep="summary",
                                      chunk_size=1200)
    remote = dmtpk.simulate_population(linear_model, REG, TIMES, n=5000, seed=3, keep="summary",
                                       chunk_size=1200, backend="dask", client=dask_client)
    assert np.array_equal(local.percentiles(q), remote.percentiles(q))
    for k, v in local.metric_percentiles(q).items():
        assert np.array_equal(v, remote.metric_percentiles(q)[k], equal_nan=True)


def test_dask_backend_matches_numba_for_a_steady_state_regimen(linear_model, dask_client):
    """A steady-state regimen runs through the record walker on the workers too (the chunk
    spec, with its compiled model and record template, pickled)."""
    reg = dmtpk.SteadyState(dmtpk.Bolus(10.0), "40 min") + dmtpk.Bolus(5.0, at=20.0)
    local = dmtpk.simulate_population(linear_model, reg, TIMES, n=600, seed=8, chunk_size=250)
    remote = dmtpk.simulate_population(linear_model, reg, TIMES, n=600, seed=8, chunk_size=250,
                                       backend="dask", client=dask_client)
    for a, b in zip(_arrays(local), _arrays(remote)):
        assert np.array_equal(a, b)
