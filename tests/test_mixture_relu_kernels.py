"""The fixed-order mixture kernels (RNADE; csrc/mix_impl.h, nadefast/_core_mixture.pxi,
MixtureFixedKernels of nadefast/backends/_compiled.py) with ReLU hidden units,
h_k = max(rho_k a_k, 0) (Uria et al. 2013), as well as the sigmoid.

1. Against a plain float64 reference written here (a loop over chain positions with
   h = act(rho_k a_k), the mixture of tests/reference.py): log-densities, per-position terms,
   conditionals and hidden states (float64 to 1e-10, float32 to 1e-4), the gradient of every
   parameter (W, b, V, c, rho) against central differences of the reference (float64) and
   against the float64 kernels (float32); the ReLU's results differ from the sigmoid's.
2. Samples: every drawn value is the reference's draw from the kernels' own uniforms given
   the kernels' own prefix (teacher-forced, so one near-tie cannot spread along the row);
   greedy values are the reference's mean-shift modes; a given prefix is kept bit for bit.
3. The sigmoid is the default (an output without `activation`) bit for bit (bits across
   threads and block sizes: tests/test_mixture_kernels.py, for both activations); rho_k = 0 or a unit that is off
   passes no gradient back (the derivative at the kink is 0); every instruction set; finite
   results from extreme parameters and values.
4. The wrappers refuse an unknown activation, naming it, before any kernel runs.

The models have a good fraction of their units off (negative pre-activation), rho of
either sign, and no pre-activation within 1e-3 of the kink (checked), so that central
differences never straddle it.
"""

import re
import types

import numpy as np
import pytest

from nadefast import _core
from nadefast.backends import _compiled

from reference import central_difference_gradient, mixture_parts, philox_uniforms

DTYPES = ["float64", "float32"]
KEY = np.array([21, 22], dtype=np.uint64)
TOL = {"float64": {"loglik": 1e-10, "prob": 1e-10, "value": 1e-9, "tie": 1e-9},
       "float32": {"loglik": 1e-4, "prob": 1e-4, "value": 1e-4, "tie": 1e-5}}
SIZES = [(1, 1, 1), (4, 6, 2), (7, 13, 3), (9, 37, 5)]  # n, d, C
KINK = 1e-3  # no pre-activation rho_k a_k of the test data is nearer 0 than this


# ------------------------------------------------------------------ models, reference


def _output(C, activation="relu", n=1):
    """A stand-in for GaussianMixture as MixtureFixedKernels reads it: standardised units
    (means 0, scales 1, so the conditionals are the kernels' own) and the activation."""
    out = types.SimpleNamespace(n_components=C, means=np.zeros(n), scales=np.ones(n))
    if activation is not None:
        out.activation = activation
    return out


def _params(rng, n, d, C, scale=1.0):
    """A model with about half its units off: biases either side of 0, rho of either sign.
    scale < 1: smaller weights, for sampling (a drawn value feeds the scales of later ones,
    and ReLU units, unbounded, could make them run away)."""
    rho = rng.uniform(0.5, 1.5, n) * rng.choice([-1.0, 1.0], n)
    rho[0] = abs(rho[0])
    return {"W": rng.normal(0, 0.5 * scale, (d, n)), "b": rng.normal(0, 0.8, d),
            "V": rng.normal(0, 0.3 * scale, (3 * C * n, d)), "c": rng.normal(0, 0.5, 3 * C * n),
            "rho": rho}


def _values(rng, rows, n):
    return rng.normal(size=(rows, n))


def _kernels(params, C, dtype, activation="relu"):
    n = params["rho"].shape[0]
    p = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}
    return _compiled.MixtureFixedKernels(p, _output(C, activation, n))


def _rounded(params, dtype):
    """The parameters as the kernels of `dtype` hold them, back in float64."""
    return {k: np.asarray(v, dtype=dtype).astype(np.float64) for k, v in params.items()}


def act_fn(t, activation):
    return np.maximum(t, 0.0) if activation == "relu" else 1.0 / (1.0 + np.exp(-t))


def forward(P, X, order, C, activation="relu"):
    """Teacher-forced fixed-order RNADE in float64, straight from the definition: for every
    row and chain position k (state a = b + sum_{i<k} W[:, i] x_{order[i]}), the
    pre-activation t = rho_k a, h = act(t) and the 3C units c_k + V_k h.
    Returns T (rows, n, d), H (rows, n, d), Z (rows, n, 3C)."""
    X = np.asarray(X, dtype=np.float64)
    rows, n = X.shape
    d = P["b"].shape[0]
    T, H, Z = np.empty((rows, n, d)), np.empty((rows, n, d)), np.empty((rows, n, 3 * C))
    for r in range(rows):
        a = P["b"].copy()
        for k in range(n):
            T[r, k] = P["rho"][k] * a
            H[r, k] = act_fn(T[r, k], activation)
            block = slice(3 * C * k, 3 * C * (k + 1))
            Z[r, k] = P["c"][block] + P["V"][block] @ H[r, k]
            a = a + P["W"][:, k] * X[r, order[k]]
    return T, H, Z


def mixture_logpdf(w, m, s, x):
    """log sum_c w_c N(x; m_c, s_c^2), term by term (x scalar or array)."""
    x = np.asarray(x, dtype=np.float64)[..., None]
    terms = np.log(w) - 0.5 * np.log(2 * np.pi) - np.log(s) - 0.5 * ((x - m) / s) ** 2
    top = terms.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(terms - top).sum(axis=-1, keepdims=True)))[..., 0]


def log_terms(P, X, order, C, activation="relu"):
    """(rows, n): log p(x_{order[k]} | x_<k), chain order."""
    _, _, Z = forward(P, X, order, C, activation)
    out = np.empty(Z.shape[:2])
    for r in range(Z.shape[0]):
        for k in range(Z.shape[1]):
            out[r, k] = mixture_logpdf(*mixture_parts(Z[r, k], C), X[r, order[k]])
    return out


def reference_draw(z, C, u):
    """The sampler's draw (docs/mixture.md §5): the component by inverse transform of u[0]
    over the cumulative weights, Box-Muller from u[1], u[2]; also the distance of u[0] from
    the nearest inner cumulative weight (a near-tie below rounding's reach)."""
    w, m, s = mixture_parts(z, C)
    cdf = np.cumsum(w)[:-1]
    below = np.flatnonzero(u[0] < cdf)
    c = below[0] if below.size else C - 1
    margin = np.abs(cdf - u[0]).min(initial=np.inf)
    return m[c] + s[c] * np.sqrt(-2.0 * np.log(u[1])) * np.cos(2.0 * np.pi * u[2]), margin


def reference_mode(z, C, steps=50):
    """The greedy value: 50 mean-shift steps from every component's mean, the end point of
    highest density (as nade_mix_mode)."""
    w, m, s = mixture_parts(z, C)
    ends = []
    for start in range(C):
        x = m[start]
        for _ in range(steps):
            lw = np.log(w) - np.log(s) - 0.5 * ((x - m) / s) ** 2
            lw = np.exp(lw - lw.max()) / s**2
            x = (lw * m).sum() / lw.sum()
        ends.append(x)
    ends = np.array(ends)
    return ends[np.argmax(mixture_logpdf(w, m, s, ends))], (w, m, s)


def _check_off(P, X, order, C):
    """Many of the units are off, many on."""
    off = (forward(P, X, order, C)[0] < 0).mean()
    assert 0.2 < off < 0.8, off


def _clear_of_the_kink(rng, P, rows, order, C):
    """Values whose pre-activations all keep KINK away from the ReLU's kink (drawn again
    until they do), so that central differences never straddle it."""
    for _ in range(200):
        X = _values(rng, rows, len(order))
        if np.abs(forward(P, X, order, C)[0]).min() > KINK:
            return X
    raise AssertionError("no values clear of the kink")


def _assert_close(got, want, tol, what):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=what)


# ------------------------------------------------------------- 1. against the reference


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d, C", SIZES)
def test_inference_matches_the_reference(rng, n, d, C, dtype):
    params, order = _params(rng, n, d, C), rng.permutation(n)
    X = _values(rng, 40, n)
    kern, P = _kernels(params, C, dtype), _rounded(params, dtype)
    if n > 1:
        _check_off(P, X, order, C)
    tol = TOL[dtype]
    want_terms = log_terms(P, X, order, C)
    cond, terms = np.zeros((len(X), 3 * C * n), dtype), np.zeros((len(X), n))
    loglik = kern.score(X, order, 2, cond=cond, terms=terms)
    _assert_close(loglik, want_terms.sum(axis=1), tol["loglik"], "loglik")
    _assert_close(terms, want_terms, tol["loglik"], "terms")
    np.testing.assert_array_equal(kern.score(X, order, 1), loglik)  # without cond, terms
    _, H, Z = forward(P, X, order, C)
    want_cond = np.empty((len(X), n, 3 * C))
    for r in range(len(X)):
        for k in range(n):
            want_cond[r, order[k]] = np.concatenate(mixture_parts(Z[r, k], C))
    _assert_close(cond.reshape(len(X), n, 3 * C), want_cond, tol["prob"], "cond")
    hidden = kern.hidden(X, order, 2)
    assert hidden.dtype == dtype and hidden.shape == (len(X), n, d)
    _assert_close(hidden, H, tol["prob"], "hidden")
    if n > 1:
        assert (hidden == 0).any() and (hidden > 0).any()  # ReLU units both off and on


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_still_matches_the_reference(rng, dtype):
    """The same reference with h = sigmoid: the flag picks the sigmoid, and the ReLU's
    results are not the sigmoid's."""
    n, d, C = 6, 9, 3
    params, order = _params(rng, n, d, C), rng.permutation(n)
    X = _values(rng, 30, n)
    P = _rounded(params, dtype)
    relu, sigmoid = _kernels(params, C, dtype), _kernels(params, C, dtype, "sigmoid")
    want = log_terms(P, X, order, C, "sigmoid").sum(axis=1)
    _assert_close(sigmoid.score(X, order, 2), want, TOL[dtype]["loglik"], "sigmoid loglik")
    _assert_close(sigmoid.hidden(X, order, 2), forward(P, X, order, C, "sigmoid")[1],
                  TOL[dtype]["prob"], "sigmoid hidden")
    assert np.abs(relu.score(X, order, 2) - want).min() > 1e-3


def _mean_nll(P, X, order, C, activation="relu"):
    return -float(log_terms(P, X, order, C, activation).sum(axis=1).mean())


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("n, d, C", [(1, 3, 2), (3, 4, 2), (4, 5, 3)])
def test_gradient_matches_central_differences(rng, n, d, C, activation):
    params, order = _params(rng, n, d, C), rng.permutation(n)
    X = _clear_of_the_kink(rng, params, 6, order, C)
    if n > 1:
        _check_off(params, X, order, C)
    kern = _kernels(params, C, "float64", activation)
    grads = kern.zeros_like()
    loss = kern.gradient(X, order, grads, 2)
    assert abs(loss - _mean_nll(params, X, order, C, activation)) <= 1e-10 * abs(loss)
    P = {k: v.copy() for k, v in params.items()}
    want = central_difference_gradient(lambda: _mean_nll(P, X, order, C, activation), P)
    got = kern.public(grads)
    for name, g in want.items():
        scale = max(np.abs(g).max(), 1e-8)
        assert np.abs(got[name] - g).max() <= 1e-6 * scale, name
    if (forward(params, X, order, C)[0] > 0).any():  # (n = 1 may have every unit off)
        assert np.abs(got["rho"]).max() > 0
    for name in ("W", "V", "b"):  # the kernels' padding gets no gradient
        assert not grads[name][..., d:].any(), name


@pytest.mark.parametrize("n, d, C", SIZES)
def test_float32_gradient_matches_float64(rng, n, d, C):
    params, order = _params(rng, n, d, C), rng.permutation(n)
    X = _values(rng, 50, n)
    got = {}
    for dtype in DTYPES:
        kern = _kernels(_rounded(params, "float32"), C, dtype)  # the same model in both
        grads = kern.zeros_like()
        got[dtype] = kern.gradient(X, order, grads, 2), kern.public(grads)
    assert abs(got["float32"][0] - got["float64"][0]) <= 1e-4 * abs(got["float64"][0])
    for name, g in got["float64"][1].items():
        scale = max(np.abs(g).max(), 1e-12)
        assert np.abs(got["float32"][1][name] - g).max() <= 1e-3 * scale, name


def test_relu_gradient_is_not_the_sigmoid_one(rng):
    n, d, C = 5, 8, 2
    params, order = _params(rng, n, d, C), rng.permutation(n)
    X = _values(rng, 20, n)
    got = {}
    for activation in ("relu", "sigmoid"):
        kern = _kernels(params, C, "float64", activation)
        grads = kern.zeros_like()
        got[activation] = kern.gradient(X, order, grads, 1), kern.public(grads)
    assert got["relu"][0] != got["sigmoid"][0]
    for name in ("W", "b", "V", "c", "rho"):
        assert not np.allclose(got["relu"][1][name], got["sigmoid"][1][name]), name


# --------------------------------------------------------------------------- 2. samples


def _uniforms(rows, n, row0=0):
    """(rows, n, 3): the three uniforms of every chain position (docs/mixture.md §5)."""
    return np.array([philox_uniforms(KEY, row0 + r, 3 * n) for r in range(rows)]).reshape(
        rows, n, 3)


def _assert_draws(drawn, P, order, C, u, given, tol, tie):
    """Every drawn entry of `drawn` (rows, n) is the reference's draw (u) or mode (u None)
    at its position, given the row's own earlier values: equal to tol (relative, plus
    absolute), except draws whose uniform lies within `tie` of a cumulative weight and
    modes no less dense (within tie) than the reference's."""
    assert np.isfinite(drawn).all()
    Z = forward(P, drawn, order, C)[2]
    assert np.abs(Z).max() < 50  # no draw ran away: the kernels' clamps are not in play
    rows, n = drawn.shape
    for r in range(rows):
        for k in range(given[r], n):
            x = drawn[r, order[k]]
            if u is None:
                want, (w, m, s) = reference_mode(Z[r, k], C)
                if abs(x - want) > tol * (1 + abs(want)):
                    lp = mixture_logpdf(w, m, s, np.array([x, want]))
                    assert lp[0] >= lp[1] - tie, (r, k, x, want)
            else:
                want, margin = reference_draw(Z[r, k], C, u[r, k])
                assert abs(x - want) <= tol * (1 + abs(want)) or margin < tie, (r, k, x, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C", [1, 2, 3])
def test_samples_match_the_reference(rng, C, dtype):
    n, d, rows = 6, 7, 60
    params, order = _params(rng, n, d, C, scale=0.5), rng.permutation(n)
    kern, P = _kernels(params, C, dtype), _rounded(params, dtype)
    tol = TOL[dtype]
    none = np.zeros(rows, np.intp)

    drawn = np.full((rows, n), np.nan)  # every entry is drawn
    kern.sample(drawn, order, KEY, 3, None, False, 2)
    _assert_draws(drawn, P, order, C, _uniforms(rows, n, 3), none, tol["value"], tol["tie"])
    greedy = np.full((rows, n), np.nan)
    kern.sample(greedy, order, np.empty(0, np.uint64), 0, None, True, 2)
    _assert_draws(greedy, P, order, C, None, none, tol["value"], tol["tie"])
    assert (greedy == greedy[0]).all()  # no randomness: every row the same

    given = rng.integers(0, n + 1, size=rows).astype(np.intp)
    X = _values(rng, rows, n)
    kept = np.arange(n)[None] < given[:, None]  # chain positions
    for is_greedy in (False, True):
        completed = X.copy()
        kern.sample(completed, order, KEY, 0, given, is_greedy, 2)
        assert np.array_equal(completed[:, order][kept], X[:, order][kept])
        assert not np.isin(completed[:, order][~kept], X).any()
        _assert_draws(completed, P, order, C, None if is_greedy else _uniforms(rows, n),
                      given, tol["value"], tol["tie"])


def test_samples_have_the_model_s_density(rng):
    """The mean log-density of many draws estimates minus the model's entropy: two
    independent sets of draws (other rows of the stream) agree within their standard error,
    and with the mean over a third set drawn with the rows split among threads."""
    n, d, C, rows = 4, 6, 2, 4000
    params, order = _params(rng, n, d, C, scale=0.5), rng.permutation(n)
    kern = _kernels(params, C, "float64")
    a, b, c = np.zeros((rows, n)), np.zeros((rows, n)), np.zeros((rows, n))
    kern.sample(a, order, KEY, 0, None, False, 1)
    kern.sample(b, order, KEY, rows, None, False, 2)
    kern.sample(c, order, KEY, 2 * rows, None, False, 3)
    la, lb, lc = (kern.score(x, order, 2) for x in (a, b, c))
    for other in (lb, lc):
        se = np.hypot(la.std(), other.std()) / np.sqrt(rows)
        assert abs(la.mean() - other.mean()) < 4 * se


# --------------------------------------------------------------------- 3. defaults


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_sigmoid_is_the_default_bit_for_bit(rng, dtype):
    """An output without `activation` (every Output but GaussianMixture) gets the sigmoid:
    the same bits as asking for it, and as the Cython entry points' default."""
    n, d, C, rows = 5, 9, 2, 30
    params, order = _params(rng, n, d, C), rng.permutation(n)
    X = _values(rng, rows, n)
    plain, sigmoid = _kernels(params, C, dtype, None), _kernels(params, C, dtype, "sigmoid")
    assert not hasattr(plain.output, "activation")

    def results(kern):
        out = {"loglik": kern.score(X, order, 2), "hidden": kern.hidden(X, order, 2)}
        grads = kern.zeros_like()
        out["loss"] = kern.gradient(X, order, grads, 2)
        out.update({"grad " + k: g for k, g in grads.items()})
        for greedy in (False, True):
            drawn = np.zeros((rows, n))
            kern.sample(drawn, order, KEY, 0, None, greedy, 2)
            out[f"sample {greedy}"] = drawn
        return out

    want = results(sigmoid)
    for name, value in results(plain).items():
        np.testing.assert_array_equal(value, want[name], err_msg=name)
    # the entry point without the keyword
    a = plain.arrays
    loglik = np.empty(rows)
    _core.mix_score(a["W"], a["V"], a["b"], a["c"], a["rho"], d, C, order.astype(np.intp), X,
                    loglik, np.zeros((0, 0), dtype), np.zeros((0, 0)), 1)
    np.testing.assert_array_equal(loglik, want["loglik"])


def test_a_unit_at_the_kink_passes_nothing_back(rng):
    """rho_k = 0: every unit of position k sits at the kink, h = 0, and its derivative is
    taken as 0 -- rho_k gets no gradient from the ReLU (the sigmoid's is not 0), and
    position k's units depend on c_k alone."""
    n, d, C = 3, 5, 2
    params, order = _params(rng, n, d, C), np.arange(n)
    params["rho"][1] = 0.0
    X = _values(rng, 10, n)
    got = {}
    for activation in ("relu", "sigmoid"):
        kern = _kernels(params, C, "float64", activation)
        grads = kern.zeros_like()
        kern.gradient(X, order, grads, 1)
        got[activation] = kern.public(grads), kern.hidden(X, order, 1)
    grads, hidden = got["relu"]
    assert grads["rho"][1] == 0.0 and got["sigmoid"][0]["rho"][1] != 0.0
    assert not hidden[:, 1].any()
    assert not grads["V"][3 * C:6 * C].any()  # h_1 = 0: V_1 gets nothing
    assert grads["rho"][0] != 0.0 and grads["rho"][2] != 0.0


@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_every_instruction_set_matches_the_reference(rng, isa):
    """Each instruction set's copy of the kernels (float64, where this CPU has it): scores,
    hidden states and draws as the reference, the gradient as the baseline's."""
    if not _core.isa_supported(isa):
        pytest.skip(f"{isa} is not supported here")
    n, d, C, rows = 6, 21, 3, 25
    params, order = _params(rng, n, d, C, scale=0.3), rng.permutation(n)
    X = _values(rng, rows, n)
    kern = _kernels(params, C, "float64")
    before = _core.active_isa()
    got = {}
    try:
        for name in ("baseline", isa):
            _core.select_isa(name)
            grads = kern.zeros_like()
            drawn = np.zeros((rows, n))
            kern.sample(drawn, order, KEY, 0, None, False, 2)
            got[name] = (kern.score(X, order, 2), kern.hidden(X, order, 2),
                         kern.gradient(X, order, grads, 2), kern.public(grads), drawn)
    finally:
        _core.select_isa(before)
    loglik, hidden, loss, grads, drawn = got[isa]
    _assert_close(loglik, log_terms(params, X, order, C).sum(axis=1), 1e-10, "loglik")
    _assert_close(hidden, forward(params, X, order, C)[1], 1e-10, "hidden")
    _assert_draws(drawn, params, order, C, _uniforms(rows, n), np.zeros(rows, np.intp), 1e-9,
                  1e-9)
    assert abs(loss - got["baseline"][2]) <= 1e-12 * abs(loss)
    for name, g in got["baseline"][3].items():
        assert np.abs(grads[name] - g).max() <= 1e-10 * max(np.abs(g).max(), 1e-12), name


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_parameters_and_values_stay_finite(rng, dtype):
    """As tests/test_mixture_kernels.py's test of the name, with ReLU units, which are not
    bounded as the sigmoid's are: values of 1e200 (clamped to 1e15 where they enter the
    state), scale pre-activations of +-800, weight logits of 1e30, means of 1e300 (float32:
    1e10) -- finite log-densities, conditionals, gradients, draws and modes."""
    n, d, C, rows = 4, 5, 3, 12
    params = _params(rng, n, d, C)
    c = params["c"].reshape(n, 3 * C)
    c[0, 2 * C:] = 800.0
    c[1, 2 * C:] = -800.0
    c[2, :C] = [1e30, -1e30, 1e30]
    c[3, C:2 * C] = 1e10 if dtype == "float32" else 1e300
    kern, order = _kernels(params, C, dtype), np.arange(n)
    X = _values(rng, rows, n)
    X[0], X[1] = 1e200, -1e200
    cond = np.zeros((rows, 3 * C * n), dtype)
    assert np.isfinite(kern.score(X, order, 1, cond=cond)).all() and np.isfinite(cond).all()
    assert np.isfinite(kern.hidden(X, order, 1)).all()
    grads = kern.zeros_like()
    assert np.isfinite(kern.gradient(X[2:], order, grads, 1))
    assert all(np.isfinite(g).all() for g in grads.values())
    for greedy in (False, True):
        drawn = np.zeros((rows, n))
        kern.sample(drawn, order, np.empty(0, np.uint64) if greedy else KEY, 0, None, greedy, 1)
        assert np.isfinite(drawn).all()


# ------------------------------------------------------------------- 4. argument checks


def _entry_args(fn, dtype, rows=4):
    """Valid arguments of one fixed-order mixture entry point (n = 3, d = 2, C = 2), the
    outputs zeros."""
    n, d, C = 3, 2, 2
    dp = _compiled.padded_width(d, np.dtype(dtype))
    Wt, V = np.zeros((n, dp), dtype), np.zeros((3 * C * n, dp), dtype)
    b, c, rho = np.zeros(dp, dtype), np.zeros(3 * C * n, dtype), np.ones(n, dtype)
    order, X = np.arange(n, dtype=np.intp), np.zeros((rows, n))
    model = (Wt, V, b, c, rho, d, C, order)
    if fn == "mix_score":
        return model + (X, np.zeros(rows), np.zeros((0, 0), dtype), np.zeros((0, 0)), 1)
    if fn == "mix_sample":
        return model + (KEY, 0, X, np.zeros(0, np.intp), False, np.zeros(0), 1)
    if fn == "mix_grad":
        return model + (X, np.zeros(rows), np.zeros_like(Wt), np.zeros_like(V),
                        np.zeros_like(b), np.zeros_like(c), np.zeros_like(rho), 1)
    return model + (X, np.zeros((rows, n, d), dtype), 1)


FUNCTIONS = ["mix_score", "mix_sample", "mix_grad", "mix_hidden"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_an_unknown_activation_is_refused_by_name(fn, dtype):
    entry = getattr(_core, fn)
    for activation in ("sigmoid", "relu"):
        entry(*_entry_args(fn, dtype), activation=activation)
    for bad in ("tanh", "ReLU", "", None, 1):
        args = _entry_args(fn, dtype)
        with pytest.raises(ValueError, match=f"^{fn}: activation = {re.escape(repr(bad))} is"):
            entry(*args, activation=bad)
        for out in args[8:]:  # nothing written: X and the outputs are still zeros
            if isinstance(out, np.ndarray) and out.dtype.kind == "f":
                assert not out.any(), fn
    with pytest.raises(ValueError, match=f"^{fn}: activation = 'tanh'"):  # even with no rows
        entry(*_entry_args(fn, dtype, rows=0), activation="tanh")


def test_mixture_fixed_kernels_refuse_an_unknown_activation(rng):
    kern = _kernels(_params(rng, 3, 4, 2), 2, "float64", "softplus")
    with pytest.raises(ValueError, match="mix_score: activation = 'softplus'"):
        kern.score(_values(rng, 5, 3), np.arange(3), 1)
