"""Shared by test_bench_orderless.py and compare_orderless.py: the models, masks and plain
references of the order-agnostic / conditional-inference benchmarks (issue 6).

The references are float64 NumPy written from the formulas, with no incremental
tricks (every hidden layer recomputed from the masked input at every position):

* `oa_log_likelihood` (tests/reference.py) and `ref_ensemble`: log p(x) along an
  ordering, and the log-mean-exp over the model's ordering and K - 1 orderings
  drawn from `np.random.default_rng(seed).permutation`, as score_samples does;
* `ref_log_marginal`: log p(x_observed) = the sum of the first s terms of the
  chain that lists each row's observed features first (in the model's order);
* `ref_completion`: a sequential completion along that chain with the sampler's
  rule x_k = [z_k > log u - log(1 - u)], u from numpy's own Philox stream of the
  row (key = SeedSequence(seed).generate_state(2)), or [z_k > 0] for impute's
  mode.  A float32 model may resolve a near tie (|z_k - noise_k| < TIE) the other
  way, after which the two chains differ legitimately: the check stops there.

`blas_threads(n)` sets the BLAS pool of this process (threadpoolctl if installed, else
OpenBLAS through ctypes): order-agnostic training is NumPy matrix algebra, whose
thread count n_jobs does not set, and benchutil pins it to 1.
"""

import contextlib
import ctypes
import pathlib
import sys

import numpy as np

BENCH_DIR = pathlib.Path(__file__).resolve().parent
TESTS_DIR = BENCH_DIR.parent / "tests"
if str(TESTS_DIR) not in sys.path:  # pytest's pythonpath setting does it too; scripts need it
    sys.path.insert(0, str(TESTS_DIR))

from reference import oa_log_likelihood  # noqa: E402  (tests/reference.py)

from nadefast import OrderAgnosticNADE  # noqa: E402

TIE = 1e-3  # |z - noise| below which a float32 model may legitimately decide the other way
SEED = 123  # random_state of every sampling call


# ------------------------------------------------------------------ models and masks

def oa_model(X, d, layers, dtype="float32", seed=0):
    """An order-agnostic model with the package's own initialisation (He-scaled ReLU layers,
    output biases at the marginal log-odds of X), untrained: speed does not depend on training."""
    return OrderAgnosticNADE(d, n_layers=layers, dtype=dtype, random_state=seed).fit(X, epochs=0)


def top_half_mask(rows, n):
    """The first n // 2 features observed: a prefix of the identity ordering."""
    mask = np.zeros((rows, n), dtype=bool)
    mask[:, : n // 2] = True
    return mask


def random_mask(rows, n, seed=17, frac=0.5):
    """Each entry observed with probability frac, independently (each row its own mask)."""
    return np.random.default_rng(seed).random((rows, n)) < frac


def is_order_agnostic(model):
    """An OrderAgnosticNADE (features own the parameters), not a fixed-order NADE."""
    return isinstance(model, OrderAgnosticNADE)


def public_params(model):
    """The model's parameters in the public layout, float64 (from its own dtype, so the
    reference sees exactly the numbers the kernels use)."""
    names = (("W", "M", "b", "W_hidden", "b_hidden", "V", "c") if is_order_agnostic(model)
             else ("W", "b", "V", "c"))
    return {k: np.array(getattr(model, k + "_"), dtype=np.float64) for k in names}


def chain_of(model, observed_row):
    """The chain a conditional query follows: observed features first, each group in the
    model's ordering; and the number observed."""
    o = np.asarray(model.ordering_)
    obs = observed_row[o]
    return np.concatenate([o[obs], o[~obs]]), int(obs.sum())


# ---------------------------------------------------------------------- references

def _relu(t):
    return np.maximum(t, 0.0)


def _sigmoid(t):
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def _oa_top(P, A):
    h = _relu(A)
    for Wl, bl in zip(P["W_hidden"], P["b_hidden"]):
        h = _relu(h @ Wl.T + bl)
    return h


def ref_chain_logits(model, P, x, chain, stop):
    """Logits z_k of positions k < stop along `chain`, x known (masked form, all positions at once)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if is_order_agnostic(model):
        masks = np.zeros((stop, n))
        for k in range(1, stop):
            masks[k] = masks[k - 1]
            masks[k, chain[k - 1]] = 1.0
        H = _oa_top(P, (masks * x) @ P["W"].T + masks @ P["M"].T + P["b"])
        return np.einsum("kd,kd->k", H, P["V"][chain[:stop]]) + P["c"][chain[:stop]]
    # fixed order: the chain is ordering_, column/row k of W/V belong to position k
    xo = x[chain]
    tri = np.tril(np.ones((stop, n)), -1)  # position k sees positions < k
    H = _sigmoid((tri * xo) @ P["W"].T + P["b"])
    return np.einsum("kd,kd->k", H, P["V"][:stop]) + P["c"][:stop]


def ref_log_marginal(model, P, X, observed):
    """log p(x_observed) of each row by the plain formula."""
    out = np.empty(len(X))
    for r, (x, obs) in enumerate(zip(X, observed)):
        chain, s = chain_of(model, obs)
        z = ref_chain_logits(model, P, x, chain, s)
        out[r] = -np.logaddexp(0.0, -(2.0 * x[chain[:s]] - 1.0) * z).sum()
    return out


def ref_ensemble(model, P, X, k, seed):
    """log of the mean probability over the model's ordering and k - 1 drawn orderings."""
    rng = np.random.default_rng(seed)
    orders = [model.ordering_] + [rng.permutation(X.shape[1]) for _ in range(k - 1)]
    ll = np.array([oa_log_likelihood(P, X, o) for o in orders])
    top = ll.max(axis=0)
    return top + np.log(np.mean(np.exp(ll - top), axis=0))


def philox_noise(seed, row, n):
    """log u - log(1 - u) of the 32-bit uniforms of numpy.random.Philox(key, counter=[0, row, 0, 0])."""
    key = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    words = np.random.Philox(key=key, counter=np.array([0, row, 0, 0], dtype=np.uint64)).random_raw((n + 1) // 2)
    bits = np.empty(n, dtype=np.uint64)
    bits[0::2] = (words & np.uint64(0xFFFFFFFF))[: (n + 1) // 2]
    bits[1::2] = (words >> np.uint64(32))[: n // 2]
    u = (bits.astype(np.float64) + 0.5) / 2.0**32
    return np.log(u) - np.log1p(-u)


def ref_completion(model, P, x, observed_row, noise):
    """Sequential completion of one row; returns (completed row, positions decided without a near tie).

    noise[k] is the threshold at chain position k (zeros: impute's mode)."""
    chain, s = chain_of(model, observed_row)
    n = len(chain)
    x = np.where(observed_row, x, 0).astype(np.float64)
    oa = is_order_agnostic(model)
    if oa:
        mask = np.zeros(n)
        mask[chain[:s]] = 1.0
    for k in range(s, n):
        j = chain[k]
        if oa:
            h = _oa_top(P, P["W"] @ (mask * x) + P["M"] @ mask + P["b"])
            z = P["V"][j] @ h + P["c"][j]
            mask[j] = 1.0
        else:
            h = _sigmoid(P["b"] + P["W"][:, :k] @ x[chain[:k]])
            z = P["V"][k] @ h + P["c"][k]
        if abs(z - noise[k]) < TIE:
            return x.astype(np.uint8), k
        x[j] = float(z > noise[k])
    return x.astype(np.uint8), n


def check_completions(model, P, X, observed, got, *, greedy, seed=SEED, rows=2):
    """Assert that got (completions of X, one per row, stream s*rows+r with s=0) keeps the observed
    values and equals the reference completion of its first `rows` rows up to any near tie.
    Returns the fraction of the checked rows' free positions that were compared."""
    assert got.shape == X.shape and got.dtype == np.uint8
    assert np.array_equal(got[observed], X[observed]), "observed values changed"
    compared = free = 0
    n = X.shape[1]
    for r in range(min(rows, len(X))):
        noise = np.zeros(n) if greedy else philox_noise(seed, r, n)
        ref, upto = ref_completion(model, P, X[r], observed[r], noise)
        chain, s = chain_of(model, observed[r])
        same = got[r, chain[:upto]] == ref[chain[:upto]]
        assert same.all(), f"row {r}: differs from the reference at chain position {np.argmin(same)}"
        compared += upto - s
        free += n - s
    return compared / max(free, 1)


# ------------------------------------------------------------------- BLAS threads

def _openblas_setter():
    """(set, get) of the OpenBLAS loaded in this process, or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and ln.split()[-1].startswith("/")})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for stem in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                try:
                    return getattr(lib, f"{stem}_set_num_threads{suffix}"), getattr(lib, f"{stem}_get_num_threads{suffix}")
                except AttributeError:
                    pass
    return None


@contextlib.contextmanager
def blas_threads(n):
    """Run the block with n BLAS threads; yields False if the BLAS pool cannot be set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=n, user_api="blas"):
            yield True
        return
    fns = _openblas_setter()
    if fns is None:
        yield False
        return
    set_, get = fns
    old = get()
    set_(n)
    try:
        yield get() == n
    finally:
        set_(old)
