"""Results depend on neither the thread count nor the block size the core picks.

Every kernel does a row's arithmetic the same way whichever block or register
tile holds the row, and gradients are summed row after row in row order, so
forcing other block sizes (and thread counts) must not change a single bit.
"""

import numpy as np
import pytest

from nadefast import NADE
from nadefast.backends import _compiled

from reference import random_params


@pytest.fixture
def forced_rows():
    yield _compiled.force_block_rows
    _compiled.force_block_rows(0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bits_do_not_depend_on_blocks_or_threads(rng, forced_rows, dtype):
    n, d = 45, 70
    model = NADE.from_params(*random_params(rng, n, d, 0.5), ordering=rng.permutation(n), dtype=dtype)
    X = (rng.random((101, n)) < 0.3).astype(np.uint8)
    model.n_jobs = 1
    ref_ll = model.score_samples(X)
    ref_cond = model.conditionals(X)
    ref_samples = model.sample(77, random_state=4)
    ref_loss, ref_grads = model.loss_and_gradient(X)
    ref_hidden = model.hidden_states(X[:9])
    for rows in (1, 2, 5, 6, 7, 13, _compiled.MAX_BLOCK_ROWS):
        forced_rows(rows)
        for n_jobs in (1, 3):
            model.n_jobs = n_jobs
            np.testing.assert_array_equal(model.score_samples(X), ref_ll)
            np.testing.assert_array_equal(model.conditionals(X), ref_cond)
            np.testing.assert_array_equal(model.sample(77, random_state=4), ref_samples)
            np.testing.assert_array_equal(model.hidden_states(X[:9]), ref_hidden)
            loss, grads = model.loss_and_gradient(X)
            assert loss == ref_loss
            for name, g in ref_grads.items():
                np.testing.assert_array_equal(grads[name], g, err_msg=f"{name}, rows={rows}")


def test_block_rows_follow_the_cache_budget():
    assert _compiled.block_rows(512, np.float32) == 18  # 36 KiB of hidden states: 18 rows of 2 KiB
    assert _compiled.block_rows(512, np.float64) == 6   # 9 rows fit; rounded to a register tile
    assert _compiled.block_rows(32, np.float32) == _compiled.MAX_BLOCK_ROWS
    assert _compiled.block_rows(65536, np.float64) == 1
    with pytest.raises(ValueError):
        _compiled.force_block_rows(_compiled.MAX_BLOCK_ROWS + 1)
