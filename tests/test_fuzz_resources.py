"""Fuzz tests of oversized requests: a sample, a hidden layer or a hidden-state
array far too large for memory fails fast, naming the argument, before
allocating (checked under a cap on the address space).  Profiles and
contract: tests/fuzzing.py."""

import contextlib
import os
import time

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nadefast import NADE

import reference
from fuzzing import fuzz, raises_clearly


# ------------------------------------------------------ oversized requests


@contextlib.contextmanager
def address_space_limit(extra_bytes=2 << 30):
    """Cap this process's address space near its current size, so that a request
    that really tried to allocate would fail instead of swapping or being OOM-killed."""
    resource = pytest.importorskip("resource")
    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        pytest.skip("no /proc/self/statm")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module")
def wide_model():
    rng = np.random.default_rng(3)
    W, b, V, c = reference.random_params(rng, 784, 3)
    return NADE.from_params(W, b, V, c)


@fuzz(0.5)
@given(count=st.integers(10**11, 2**80) | st.sampled_from([10**12, 2**63 - 1, 2**63, 2**64]))
@example(count=10**12)
def test_oversized_sample_fails_fast_before_allocating(wide_model, count):
    t0 = time.perf_counter()
    with address_space_limit():
        # the name, not just the number: numpy's own "Unable to allocate ... shape (count, 784)"
        # would mean that nothing checked the request before allocating
        with raises_clearly(["n_samples", "sample"], (ValueError, MemoryError)):
            wide_model.sample(count)
    assert time.perf_counter() - t0 < 5.0


@fuzz(0.5)
@given(n_hidden=st.integers(10**9, 2**80) | st.sampled_from([10**9, 2**31, 2**63 - 1, 2**64]),
       dtype=st.sampled_from(["float32", "float64"]))
@example(n_hidden=10**9, dtype="float32")
def test_oversized_n_hidden_fails_fast_before_allocating(n_hidden, dtype):
    X = np.zeros((2, 784), dtype=np.uint8)
    model = NADE(n_hidden, dtype=dtype)
    t0 = time.perf_counter()
    with address_space_limit():
        with raises_clearly(["n_hidden"], (ValueError, MemoryError)):
            model.fit(X, epochs=1)
    assert time.perf_counter() - t0 < 5.0
    assert not hasattr(model, "W_")


def test_oversized_hidden_states_fail_fast(wide_model):
    X = np.zeros((200_000, 784), dtype=np.uint8)  # 0.16 GB of data, 1.9 GB of hidden states ...
    big = NADE.from_params(np.zeros((2000, 784), np.float32), np.zeros(2000, np.float32),
                           np.zeros((784, 2000), np.float32), np.zeros(784, np.float32))
    # ... times 2000 hidden units: 1.25 TB
    t0 = time.perf_counter()
    with address_space_limit():
        with raises_clearly(["hidden_states", "n_samples"], (ValueError, MemoryError)):
            big.hidden_states(X)
    assert time.perf_counter() - t0 < 5.0
