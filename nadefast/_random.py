"""Random states: scikit-learn-style ``random_state`` to generators and keys."""

import functools
import numbers

import numpy as np


@functools.lru_cache(maxsize=64)
def _key_of_seed(seed):
    """SeedSequence(seed)'s key, computed once per seed (it costs a few microseconds)."""
    key = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    key.setflags(write=False)
    return key


def make_rng(random_state):
    """A numpy Generator from None, an int, a SeedSequence, a Generator or a RandomState.

    A Generator is used as is (and advanced); a RandomState seeds a new
    Generator from its stream (and is advanced); None draws fresh entropy.
    """
    if random_state is None or isinstance(random_state, (np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(np.frombuffer(random_state.bytes(16), dtype=np.uint64))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, a non-negative int, a numpy Generator, RandomState, "
        f"SeedSequence or BitGenerator; got {random_state!r}"
    )


def philox_key(random_state):
    """The sampler's 128-bit Philox key, (2,) uint64, from a random_state.

    An int (or SeedSequence) always gives the same key; a Generator or
    RandomState gives the next 128 bits of its stream; None gives fresh
    entropy.
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return _key_of_seed(int(random_state))
    if isinstance(random_state, np.random.SeedSequence):
        return random_state.generate_state(2, dtype=np.uint64)
    rng = make_rng(random_state)
    return rng.integers(0, np.iinfo(np.uint64).max, size=2, dtype=np.uint64, endpoint=True)
