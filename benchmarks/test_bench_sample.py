"""Benchmark: NADE.sample, checked for shape, reproducibility and distribution.

The distribution check: the mean log-likelihood of the drawn rows (scored by
nadefast in float64, whose scores test_bench_score checks) must lie within 5
standard errors of the same mean over draws of the NumPy reference sampler
(minus the model's entropy, estimated from the reference).
"""

import numpy as np
from conftest import grid, label

SEED = 123


@grid
def test_sample(benchmark, ctx, size, batch, dtype, n_jobs):
    model = ctx.model(size, dtype, n_jobs)
    label(benchmark, "sample", size, batch, dtype, n_jobs)
    S = benchmark(model.sample, batch, random_state=SEED)
    assert S.shape == (batch, size[0]) and S.dtype == np.uint8 and S.max() <= 1
    model.n_jobs = 1
    assert np.array_equal(model.sample(batch, random_state=SEED), S)  # same key, any n_jobs: same rows
    ll = ctx.model(size, "float64", 1).score_samples(S)
    ref_mean, ref_var, ref_rows = ctx.ref_sample_loglik(size)
    assert abs(ll.mean() - ref_mean) <= 5 * np.sqrt(ref_var / batch + ref_var / ref_rows)
