"""The sequential sampler: exact distribution, reproducibility, random streams."""

import numpy as np
import pytest

from nadefast import NADE
from nadefast.backends import _compiled

from reference import (
    all_binary_vectors,
    log_likelihood,
    philox_bits,
    philox_uniforms,
    random_params,
)

# chi-square critical value for 63 degrees of freedom at the 0.999 level
# (scipy.stats.chi2.ppf(0.999, 63) = 103.442...)
CHI2_63_999 = 103.44


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sample_frequencies_pass_chi_square(dtype, backend):
    rng = np.random.default_rng(7)
    n = 6
    W, b, V, c = random_params(rng, n, 5, scale=1.2)
    model = NADE.from_params(W, b, V, c, ordering=[3, 1, 5, 0, 2, 4], dtype=dtype, backend=backend)
    X = all_binary_vectors(n)
    p = np.exp(log_likelihood(W, b, V, c, X, [3, 1, 5, 0, 2, 4]))
    assert abs(p.sum() - 1) < 1e-12
    samples = model.sample(200_000, random_state=12345)
    assert samples.dtype == np.uint8 and samples.shape == (200_000, n)
    codes = samples @ (1 << np.arange(n - 1, -1, -1))  # row of all_binary_vectors
    counts = np.bincount(codes, minlength=2**n)
    expected = p * len(samples)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < CHI2_63_999, chi2


def test_samples_reproducible_across_threads_and_calls(rng, backend):
    model = NADE.from_params(*random_params(rng, 40, 30, 0.7), ordering=rng.permutation(40),
                             backend=backend)
    model.n_jobs = 1
    a = model.sample(300, random_state=99)
    for n_jobs in (1, 2, 3):
        model.n_jobs = n_jobs
        np.testing.assert_array_equal(model.sample(300, random_state=99), a)
    assert not np.array_equal(model.sample(300, random_state=100), a)
    # prefix property: row i depends only on (key, i)
    np.testing.assert_array_equal(model.sample(17, random_state=99), a[:17])
    np.testing.assert_array_equal(model.sample(1, random_state=99), a[:1])


def test_estimator_random_state_is_the_default(rng, backend):
    params = random_params(rng, 10, 5)
    m = NADE.from_params(*params, backend=backend)
    m.random_state = 5
    np.testing.assert_array_equal(m.sample(50), m.sample(50, random_state=5))
    m.random_state = None  # fresh entropy: two calls differ (with overwhelming probability)
    assert not np.array_equal(m.sample(200), m.sample(200))
    gen = np.random.default_rng(3)
    assert not np.array_equal(m.sample(200, random_state=gen), m.sample(200, random_state=gen))


def test_random_bits_are_numpys_philox_stream():
    """Row r, position k uses 32 bits of numpy.random.Philox(key, counter=[0, r, 0, 0]).

    Compiled only: the raw Philox generator of nadefast._core (the samplers of both
    backends are checked against the same stream in test_samples_follow_the_noise_rule)."""
    key = np.array([0x0123456789ABCDEF, 0xFEDCBA9876543210], dtype=np.uint64)
    n = 21
    for row in (0, 1, 123456789, 2**64 - 1):
        np.testing.assert_array_equal(_compiled.uniform_bits(key, row, n), philox_bits(key, row, n))


def test_logistic_noise_is_logit_of_the_uniforms():
    """Compiled only: the raw noise routine of nadefast._core."""
    key = np.array([1, 2], dtype=np.uint64)
    bits = _compiled.uniform_bits(key, 5, 1000)
    u = (bits.astype(np.float64) + 0.5) / 2.0**32
    np.testing.assert_allclose(_compiled.logistic_noise(key, 5, 1000), np.log(u) - np.log1p(-u),
                               rtol=1e-14, atol=1e-14)


# rows far along the stream: the NumPy backend once passed the Philox counter as a list,
# which NumPy turns into float64 for row >= 2**63 (rounded counters, other draws)
@pytest.mark.parametrize("backend, start", [
    pytest.param("compiled", 0, id="compiled-row0"),
    pytest.param("numpy", 0, id="numpy-row0"),
    pytest.param("compiled", 2**63 + 5, id="compiled-row2^63+5"),
    pytest.param("numpy", 2**63 + 5, id="numpy-row2^63+5"),
    pytest.param("compiled", 2**64 - 6, id="compiled-row2^64-6"),
    pytest.param("numpy", 2**64 - 6, id="numpy-row2^64-6")])
def test_samples_follow_the_noise_rule(rng, backend, start):
    """x_k = [logit_k > log u - log(1 - u)], u = (bits + 1/2) / 2^32 from the row's Philox
    stream: recompute a few rows by hand, at the start of the stream (sample) and far along
    it (sample_rows, up to the last row index 2^64 - 2)."""
    n, d = 8, 4
    W, b, V, c = random_params(rng, n, d)
    model = NADE.from_params(W, b, V, c, dtype="float64", backend=backend)
    key_seed = 42
    key = np.random.SeedSequence(key_seed).generate_state(2, dtype=np.uint64)
    if start == 0:
        samples = model.sample(5, random_state=key_seed)
    else:
        samples = model.sample_rows(key, start, start + 5)
    for r in range(5):
        u = philox_uniforms(key, start + r, n)
        noise = np.log(u) - np.log1p(-u)
        x = np.zeros(n)
        for k in range(n):
            h = 1 / (1 + np.exp(-(b + W[:, :k] @ x[:k])))
            x[k] = float(c[k] + V[k] @ h > noise[k])
        np.testing.assert_array_equal(samples[r], x)


def test_zero_samples(rng, backend):
    model = NADE.from_params(*random_params(rng, 7, 3), backend=backend)
    out = model.sample(0)
    assert out.shape == (0, 7) and out.dtype == np.uint8


def test_sample_rows_chunks_reproduce_one_request(rng, backend):
    """Any split of a request into row ranges gives exactly the in-memory samples."""
    from nadefast._random import philox_key

    model = NADE.from_params(*random_params(rng, 30, 20, 0.7), backend=backend)
    full = model.sample(250, random_state=17)
    key = philox_key(17)
    for cuts in ([0, 250], [0, 1, 2, 250], [0, 100, 101, 180, 250]):
        parts = [model.sample_rows(key, a, b) for a, b in zip(cuts[:-1], cuts[1:])]
        np.testing.assert_array_equal(np.vstack(parts), full)
    with pytest.raises(ValueError, match="stop must be >= 5"):
        model.sample_rows(key, 5, 4)
    with pytest.raises(ValueError, match="key must be 2"):
        model.sample_rows(key[:1], 0, 4)
