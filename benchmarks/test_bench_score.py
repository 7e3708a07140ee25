"""Benchmark: NADE.score_samples (exact log p(x)), checked against the NumPy reference."""

import numpy as np
from conftest import LL_TOL, REF_ROWS, grid, label, max_rel_err


@grid
def test_score(benchmark, ctx, size, batch, dtype, n_jobs):
    model, X = ctx.model(size, dtype, n_jobs), ctx.data(size, batch)
    label(benchmark, "score", size, batch, dtype, n_jobs)
    ll = benchmark(model.score_samples, X)
    assert ll.shape == (batch,) and ll.dtype == np.float64
    rows = min(batch, REF_ROWS)
    assert max_rel_err(ll[:rows], ctx.ref_loglik(size)[:rows]) <= LL_TOL[dtype]
