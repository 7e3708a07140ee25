"""Benchmark: one training epoch (NADE.fit, Adam, batch 100) over a fixed data set.

Data: 2000 rows drawn from 10 random binary prototypes (~11 % ones) with 3 %
of the bits flipped, so there is structure to learn.  Checks: one epoch
lowers the NLL below that of the initial model, and the fitted model's
log-likelihoods match the NumPy reference on the fitted parameters.
"""

import functools

import numpy as np
import pytest
from conftest import BENCH, DTYPES, LL_TOL, N_JOBS, SIZES, TRAIN_ROWS, label, max_rel_err, train_data

from nadefast import NADE
from reference_impls import NumpyNADE

ROWS = TRAIN_ROWS


@functools.cache
def initial_nll(size, dtype):
    X = train_data(size[0])
    return -NADE(n_hidden=size[1], dtype=dtype, random_state=0).fit(X, epochs=0).score(X)


@BENCH
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_jobs", N_JOBS, ids=lambda j: f"j{j}")
def test_train_epoch(benchmark, size, dtype, n_jobs):
    X = train_data(size[0])

    def one_epoch():
        return NADE(n_hidden=size[1], dtype=dtype, random_state=0, n_jobs=n_jobs).fit(
            X, epochs=1, batch_size=100, learning_rate=1e-3)

    label(benchmark, "train", size, ROWS, dtype, n_jobs)
    model = benchmark.pedantic(one_epoch, rounds=3, warmup_rounds=1)
    assert np.isfinite(model.history_[0]["train_nll"])
    assert -model.score(X) < initial_nll(size, dtype)
    ref = NumpyNADE(model.W_, model.b_, model.V_, model.c_, dtype="float64")
    assert max_rel_err(model.score_samples(X[:4]), ref.score_samples(X[:4])) <= LL_TOL[dtype]
