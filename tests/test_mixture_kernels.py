"""The compiled kernels for real-valued outputs, mixtures of C Gaussians (csrc/mix_impl.h,
csrc/mix_math.h, nadefast/_core_mixture.pxi, MixtureFixedKernels and MixtureOrderlessKernels
of nadefast/backends/_compiled.py).

1. Against the NumPy reference (nadefast/backends/_numpy.py with GaussianMixture of
   nadefast/_mixture.py, the specification): scores, per-position terms, conditionals (in
   the user's units), hidden states, gradients (rho included), the order-agnostic objective
   and its gradient, and samples (random, greedy = the mean-shift mode, with a given
   prefix, along per-row orderings), on random models with C in {1, 2, 3, 5} and random
   orderings.  float64 to 1e-10, float32 to float32 precision.  Samples use the same Philox
   uniforms (three per position), so they agree value for value, with the same component,
   except at near-ties (a cumulative weight within rounding of its uniform), which are
   found and excused.
2. Bits that depend on neither the thread count nor the block size.
3. Finite results from extreme parameters and values; the estimators on this backend.
4. The wrappers' argument checks (shapes, C, finite values) and the C kernels' own refusals.
"""

import ctypes
import re

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE, _core
from nadefast._mixture import SIGMA_FLOOR, GaussianMixture
from nadefast.backends import _compiled, _numpy

from reference import philox_uniforms

CS = (1, 2, 3, 5)
DTYPES = ["float64", "float32"]
KEY = np.array([11, 12], dtype=np.uint64)
# log-densities / terms, distributions and hidden states, gradients (relative to the largest
# entry), samples and modes (relative, plus absolute), and |cdf - u| below which a differing
# draw is a near-tie
TOL = {
    "float64": dict(loglik=1e-10, prob=1e-10, grad=1e-10, value=1e-9, tie=1e-9),
    # float32: a unit's rounding error moves log p by |t| / sigma times as much (t = (x - mu)
    # / sigma), up to a few hundred times on these random models' narrow components
    "float32": dict(loglik=1e-3, prob=1e-4, grad=1e-3, value=1e-3, tie=1e-5),
}
FIXED_SIZES = [(1, 1, 1), (5, 6, 3), (11, 37, 5), (8, 20, 2)]
OA_SIZES = [(1, 1, 1, 2), (6, 5, 2, 3), (9, 21, 3, 5), (4, 8, 1, 1)]


# ------------------------------------------------------------------------------ models


def _output(rng, n, C):
    """A fitted mixture output: standardisation statistics of some made-up data."""
    return GaussianMixture(C, rng.normal(0, 3, n), rng.uniform(0.2, 5, n))


def _values(rng, rows, n):
    """Standardised values, as the kernels see them: mostly moderate, some far out."""
    X = rng.normal(size=(rows, n))
    X[::7] *= 4.0
    return X


def _fixed_params(rng, n, d, C, scale=0.5):
    return {"W": rng.normal(0, scale, (d, n)), "b": rng.normal(0, 0.5, d),
            "V": rng.normal(0, scale, (3 * C * n, d)), "c": rng.normal(0, 0.5, 3 * C * n),
            "rho": rng.uniform(0.5, 1.5, n)}


def _oa_params(rng, n, d, layers, C, scale=0.4):
    return {"W": rng.normal(0, scale, (d, n)), "M": rng.normal(0, scale, (d, n)),
            "b": rng.normal(0, 0.3, d), "W_hidden": rng.normal(0, scale, (layers - 1, d, d)),
            "b_hidden": rng.normal(0, 0.3, (layers - 1, d)),
            "V": rng.normal(0, scale, (3 * C * n, d)), "c": rng.normal(0, 0.5, 3 * C * n)}


def _cast(params, dtype):
    return {k: np.asarray(v, dtype=dtype) for k, v in params.items()}


def _pair(kind, params, output, dtype):
    """(compiled, numpy) kernel objects on the same parameters, rounded to dtype."""
    p = _cast(params, dtype)
    make = "fixed" if kind == "fixed" else "orderless"
    return (getattr(_compiled.BACKEND, make)(p, output),
            getattr(_numpy.BACKEND, make)(p, output))


def _assert_close(a, b, tol, what):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def _assert_grads(got, want, tol):
    assert set(got) == set(want)
    for name, g in want.items():
        assert got[name].shape == g.shape, name
        if g.size:
            scale = max(np.abs(g).max(), 1e-12)
            assert np.abs(got[name] - g).max() <= tol * scale, name


# ---------------------------------------------------------------------------- samples


def _uniforms(rows, n, row0=0):
    """(rows, n, 3): the three uniforms of every chain position (docs/mixture.md §5)."""
    return np.array([philox_uniforms(KEY, row0 + r, 3 * n) for r in range(rows)]).reshape(
        rows, n, 3)


def _reference(ref, oa, output, rows, chains):
    """What the near-tie checks of _assert_same_draws ask of the reference (the NumPy
    kernels), for the variable at chain position k of row r given the prefix of rows[r]:
    weights(r, k), its mixing weights (the first C entries of its conditionals), and
    log_density(r, k, value)."""
    C, n = output.n_components, rows.shape[1]

    def score(r, row, cond=None, terms=None):
        if oa:
            ref.score(row[None].copy(), chains[r][None], 1, cond=cond, terms=terms)
        else:
            ref.score(row[None], chains[r], 1, cond=cond, terms=terms)

    def weights(r, k):
        cond = np.zeros((1, 3 * C * n))
        score(r, rows[r], cond=cond)
        j = chains[r][k]
        return cond[0, 3 * C * j:3 * C * j + C]

    def log_density(r, k, value):
        row, terms = rows[r].copy(), np.zeros((1, n))
        row[chains[r][k]] = value
        score(r, row, terms=terms)
        return terms[0, k]

    return weights, log_density


def _assert_same_draws(a, b, chains, u, reference, tol, tie):
    """a (compiled) and b (numpy) rows of values, (rows, n): equal to `tol` (relative to the
    value, plus absolute), except rows whose first difference in chain order is a near-tie
    (reference: _reference of b): of the component draw, the reference's cumulative weights at
    that position within `tie` of the uniform u[r, k, 0]; greedy (u None), of the modes, the
    two values' log-densities within `tie` of each other (two mean-shift end points on one
    flat top)."""
    assert a.shape == b.shape and a.dtype == b.dtype == np.float64
    assert np.isfinite(a).all()
    weights, log_density = reference
    off = np.abs(a - b) > tol * (1.0 + np.abs(b))
    differ = np.flatnonzero(off.any(axis=1))
    for r in differ:
        k = int(np.flatnonzero(off[r, chains[r]])[0])
        if u is None:
            j = chains[r][k]
            margin = abs(log_density(r, k, a[r, j]) - log_density(r, k, b[r, j]))
        else:
            margin = np.abs(np.cumsum(weights(r, k))[:-1] - u[r, k, 0]).min(initial=np.inf)
        assert margin < tie, f"row {r} differs at chain position {k}: not a near-tie"
    if u is not None:  # (mean-shift end points on a flat top are not rare)
        assert len(differ) <= max(1, len(a) // 50), f"{len(differ)} of {len(a)} near-ties?"


# ------------------------------------------------------------------ 1. against NumPy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d, C", FIXED_SIZES)
def test_fixed_inference_matches_numpy(rng, n, d, C, dtype):
    output, order = _output(rng, n, C), rng.permutation(n)
    comp, ref = _pair("fixed", _fixed_params(rng, n, d, C), output, dtype)
    rows = 61
    X = _values(rng, rows, n)
    tol = TOL[dtype]
    cond, terms = np.zeros((2, rows, 3 * C * n), dtype), np.zeros((2, rows, n))
    loglik = [kern.score(X, order, 2, cond=cond[i], terms=terms[i])
              for i, kern in enumerate((comp, ref))]
    _assert_close(loglik[0], loglik[1], tol["loglik"], "loglik")
    _assert_close(terms[0], terms[1], tol["loglik"], "terms")
    _assert_close(cond[0], cond[1], tol["prob"], "cond")
    _assert_close(comp.score(X, order, 1), loglik[1], tol["loglik"], "loglik alone")
    # per feature: C weights summing to 1, C means, C scales of at least the floor, user's units
    blocks = cond[0].reshape(rows, n, 3 * C)
    np.testing.assert_allclose(blocks[:, :, :C].sum(axis=2), 1.0, rtol=10 * tol["prob"])
    assert (blocks[:, :, 2 * C:] >= SIGMA_FLOOR * output.scales[:, None] * (1 - tol["prob"])).all()
    _assert_close(comp.hidden(X, order, 2), ref.hidden(X, order, 1), tol["prob"], "hidden")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d, C", FIXED_SIZES)
def test_fixed_gradient_matches_numpy(rng, n, d, C, dtype):
    output, order = _output(rng, n, C), rng.permutation(n)
    comp, ref = _pair("fixed", _fixed_params(rng, n, d, C), output, dtype)
    X = _values(rng, 75, n)
    grads = comp.zeros_like(), ref.zeros_like()
    loss = comp.gradient(X, order, grads[0], 2), ref.gradient(X, order, grads[1], 1)
    _assert_close(loss[0], loss[1], TOL[dtype]["loglik"], "loss")
    _assert_grads(comp.public(grads[0]), grads[1], TOL[dtype]["grad"])
    assert np.abs(grads[1]["rho"]).max() > 0  # rho is exercised
    for name, g in grads[0].items():  # the padding of the kernels' layout gets no gradient
        if name in ("W", "V", "b"):
            assert not g[..., comp.d:].any(), name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C", CS)
def test_fixed_samples_match_numpy(rng, C, dtype):
    n, d, rows = 7, 6, 150
    output, order = _output(rng, n, C), rng.permutation(n)
    comp, ref = _pair("fixed", _fixed_params(rng, n, d, C, scale=0.6), output, dtype)
    chains = np.tile(order, (rows, 1))
    tol = TOL[dtype]

    def reference(drawn):
        return _reference(ref, False, output, drawn, chains)

    drawn = [np.full((rows, n), np.nan) for _ in range(2)]  # every entry is drawn
    comp.sample(drawn[0], order, KEY, 3, None, False, 2)
    ref.sample(drawn[1], order, KEY, 3, None, False, 1)
    _assert_same_draws(*drawn, chains, _uniforms(rows, n, 3), reference(drawn[1]), tol["value"],
                       tol["tie"])

    greedy = [np.full((rows, n), np.nan) for _ in range(2)]
    comp.sample(greedy[0], order, np.empty(0, np.uint64), 0, None, True, 2)
    ref.sample(greedy[1], order, None, 0, None, True, 1)
    _assert_same_draws(*greedy, chains, None, reference(greedy[1]), tol["value"], tol["tie"])

    given = rng.integers(0, n + 1, size=rows).astype(np.intp)
    X = _values(rng, rows, n)
    kept = np.arange(n)[None] < given[:, None]  # chain positions
    for greedy in (False, True):
        completed = [X.copy(), X.copy()]
        comp.sample(completed[0], order, KEY, 0, given, greedy, 2)
        ref.sample(completed[1], order, KEY, 0, given, greedy, 1)
        # the given prefix bit for bit; the rest drawn as the reference draws it
        assert np.array_equal(completed[0][:, order][kept], X[:, order][kept])
        assert not np.isin(completed[0][:, order][~kept], X).any()
        _assert_same_draws(*completed, chains, None if greedy else _uniforms(rows, n),
                           reference(completed[1]), tol["value"], tol["tie"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d, layers, C", OA_SIZES)
def test_order_agnostic_inference_matches_numpy(rng, n, d, layers, C, dtype):
    output = _output(rng, n, C)
    comp, ref = _pair("oa", _oa_params(rng, n, d, layers, C), output, dtype)
    rows = 53
    X = _values(rng, rows, n)
    tol = TOL[dtype]
    one = rng.permutation(n)[None].astype(np.intp)
    per_row = np.array([rng.permutation(n) for _ in range(rows)], dtype=np.intp)
    for orders in (one, per_row):
        cond, terms = np.zeros((2, rows, 3 * C * n), dtype), np.zeros((2, rows, n))
        loglik = [comp.score(X, orders, 2, cond=cond[0], terms=terms[0]),
                  ref.score(X.copy(), orders, 1, cond=cond[1], terms=terms[1])]
        _assert_close(loglik[0], loglik[1], tol["loglik"], "loglik")
        _assert_close(terms[0], terms[1], tol["loglik"], "terms")
        _assert_close(cond[0], cond[1], tol["prob"], "cond")
        # stop: the log-density of each row's first stop[r] variables; their conditionals only
        stop = rng.integers(0, n + 1, size=rows).astype(np.intp)
        terms_stop = np.zeros((rows, n))
        cond_stop = np.full((rows, 3 * C * n), 7.0, dtype)
        prefix = comp.score(X, orders, 2, stop=stop, cond=cond_stop, terms=terms_stop)
        evaluated = np.arange(n)[None] < stop[:, None]
        _assert_close(prefix, ref.score(X.copy(), orders, 1, stop=stop), tol["loglik"], "stop")
        _assert_close(terms_stop[evaluated], terms[1][evaluated], tol["loglik"], "stop terms")
        assert not terms_stop[~evaluated].any()  # left as they were
        written = np.zeros((rows, n), dtype=bool)
        np.put_along_axis(written, np.broadcast_to(orders, (rows, n)), evaluated, axis=1)
        written = np.repeat(written, 3 * C, axis=1)
        _assert_close(cond_stop[written], cond[1][written], tol["prob"], "stop cond")
        assert (cond_stop[~written] == 7.0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C", CS)
def test_order_agnostic_samples_match_numpy(rng, C, dtype):
    n, d, layers, rows = 6, 6, 2, 120
    output = _output(rng, n, C)
    # small weights: a drawn value feeds the scales of later ones, which could run away
    comp, ref = _pair("oa", _oa_params(rng, n, d, layers, C, scale=0.3), output, dtype)
    tol = TOL[dtype]
    one = rng.permutation(n)[None].astype(np.intp)
    per_row = np.array([rng.permutation(n) for _ in range(rows)], dtype=np.intp)
    for orders in (one, per_row):
        chains = np.broadcast_to(orders, (rows, n))

        def reference(drawn):
            return _reference(ref, True, output, drawn, chains)

        drawn = [np.full((rows, n), np.nan) for _ in range(2)]
        comp.sample(drawn[0], orders, KEY, 0, None, False, 2)
        ref.sample(drawn[1], orders, KEY, 0, None, False, 1)
        _assert_same_draws(*drawn, chains, _uniforms(rows, n), reference(drawn[1]),
                           tol["value"], tol["tie"])

        given = rng.integers(0, n + 1, size=rows).astype(np.intp)
        X = _values(rng, rows, n)
        for greedy in (False, True):
            completed = [X.copy(), X.copy()]
            comp.sample(completed[0], orders, KEY, 0, given, greedy, 2)
            ref.sample(completed[1], orders, KEY, 0, given, greedy, 1)
            for r in range(rows):
                kept = chains[r][:given[r]]
                assert np.array_equal(completed[0][r, kept], X[r, kept])
            _assert_same_draws(*completed, chains, None if greedy else _uniforms(rows, n),
                               reference(completed[1]), tol["value"], tol["tie"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_order_agnostic_objective_matches_numpy(rng, layers, dtype):
    n, d, rows, C = 7, 11, 40, 3
    comp, ref = _pair("oa", _oa_params(rng, n, d, layers, C), _output(rng, n, C), dtype)
    X = _values(rng, rows, n)
    masks = _compiled.BACKEND.training_masks(KEY, rows, n)
    grads = comp.zeros_like(), ref.zeros_like()
    loss = comp.objective(X, masks, grads[0]), ref.objective(X, masks, grads[1])
    _assert_close(loss[0], loss[1], TOL[dtype]["loglik"], "loss")
    assert comp.objective(X, masks) == loss[0]  # without the gradient: the same loss
    _assert_grads(comp.public(grads[0]), grads[1], TOL[dtype]["grad"])
    for name in ("W", "M", "b", "V", "W_hidden"):
        assert not grads[0][name][..., d:].any(), name  # padding
    full = masks.copy()
    full[3] = True
    with pytest.raises(ValueError, match="a row of masks observes every feature"):
        comp.objective(X, full)


def test_the_mode_is_the_highest_point_of_a_bimodal_mixture():
    """The greedy value of the first chain position (no inputs: its units are c) against a
    fine grid of its density; the heavier of two separated modes wins, the lighter one would
    be a mean-shift fixed point too."""
    n, d, C = 1, 1, 3
    output = GaussianMixture(C, np.zeros(n), np.ones(n))
    params = {"W": np.zeros((d, n)), "b": np.zeros(d), "V": np.zeros((3 * C, d)),
              "c": np.array([0.0, 0.3, -2.0, -2.0, 1.5, 1.9, np.log(0.4), np.log(0.3),
                             np.log(0.5)]), "rho": np.ones(n)}
    comp = _compiled.BACKEND.fixed(params, output)
    mode = np.zeros((1, n))
    comp.sample(mode, np.arange(n), np.empty(0, np.uint64), 0, None, True, 1)
    grid = np.linspace(-4, 4, 80001)[:, None]
    density = comp.score(grid, np.arange(n), 1)
    assert abs(mode[0, 0] - grid[np.argmax(density), 0]) < 2e-4
    assert mode[0, 0] > 1.0  # the mode near 1.5-1.9, not the one near -2


# ------------------------------------------------------------- 2. blocks and threads


@pytest.fixture
def forced_rows():
    yield _compiled.force_block_rows
    _compiled.force_block_rows(0)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])  # (the fixed-order model's)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bits_do_not_depend_on_blocks_or_threads(rng, forced_rows, dtype, activation):
    n, d, rows, C = 9, 40, 67, 3
    output, order = _output(rng, n, C), rng.permutation(n)
    output.activation = activation
    fixed = _pair("fixed", _fixed_params(rng, n, d, C), output, dtype)[0]
    oa = _pair("oa", _oa_params(rng, n, d, 2, C), output, dtype)[0]
    X = _values(rng, rows, n)
    per_row = np.array([rng.permutation(n) for _ in range(rows)], dtype=np.intp)
    stop = rng.integers(0, n + 1, size=rows).astype(np.intp)
    given = rng.integers(0, n + 1, size=rows).astype(np.intp)
    masks = _compiled.BACKEND.training_masks(KEY, rows, n)

    def outputs(n_jobs):
        out = {}
        cond, terms = np.zeros((rows, 3 * C * n), dtype), np.zeros((rows, n))
        out["loglik"] = fixed.score(X, order, n_jobs, cond=cond, terms=terms)
        out["cond"], out["terms"] = cond, terms
        out["hidden"] = fixed.hidden(X, order, n_jobs)
        grads = fixed.zeros_like()
        out["loss"] = fixed.gradient(X, order, grads, n_jobs)
        out.update({"grad " + k: g for k, g in grads.items()})
        for greedy in (False, True):
            drawn = X.copy()
            fixed.sample(drawn, order, KEY, 5, given, greedy, n_jobs)
            out[f"sample {greedy}"] = drawn
        cond = np.zeros((rows, 3 * C * n), dtype)
        out["oa loglik"] = oa.score(X, per_row, n_jobs, stop=stop, cond=cond)
        out["oa cond"] = cond
        for orders in (per_row, order[None].astype(np.intp)):
            for greedy in (False, True):
                drawn = X.copy()
                oa.sample(drawn, orders, KEY, 5, given, greedy, n_jobs)
                out[f"oa sample {orders.shape[0]} {greedy}"] = drawn
        grads = oa.zeros_like()
        out["oa objective"] = oa.objective(X, masks, grads)
        out.update({"oa grad " + k: g for k, g in grads.items()})
        return out

    reference = outputs(1)
    for block in (1, 5, 7, _compiled.MAX_BLOCK_ROWS):
        forced_rows(block)
        for n_jobs in (1, 2, 3):
            for name, value in outputs(n_jobs).items():
                np.testing.assert_array_equal(value, reference[name],
                                              err_msg=f"{name}, {block} rows, {n_jobs} threads")


def test_a_sample_depends_on_its_row_only(rng):
    """Row i of a request is the stream of row row0 + i: a request for rows 5.. equals the
    tail of one for rows 0.. (docs/mixture.md §5)."""
    n, d, C = 5, 8, 2
    output, order = _output(rng, n, C), rng.permutation(n)
    fixed = _pair("fixed", _fixed_params(rng, n, d, C), output, "float64")[0]
    whole, tail = np.zeros((30, n)), np.zeros((25, n))
    fixed.sample(whole, order, KEY, 0, None, False, 2)
    fixed.sample(tail, order, KEY, 5, None, False, 1)
    np.testing.assert_array_equal(tail, whole[5:])


# ------------------------------------------- 3. extreme values, and the estimators on top


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["fixed", "oa"])
def test_extreme_parameters_and_values_stay_finite(rng, kind, dtype):
    """Scale pre-activations far beyond exp's range either way, weight logits of 1e30, means
    of 1e300 (float32: 1e10), values of 1e200 and duplicated values: log-densities,
    conditionals, samples and modes are finite numbers (csrc/mix_math.h's clamps; float32
    conditionals within float32's range), and so are gradients where they fit the type (not
    at the values of 1e200, whose true gradient is beyond even float64's range)."""
    n, d, C, rows = 4, 5, 3, 12
    output = _output(rng, n, C)
    params = _fixed_params(rng, n, d, C) if kind == "fixed" else _oa_params(rng, n, d, 2, C)
    c = params["c"].reshape(n, 3 * C)
    c[0, 2 * C:] = 800.0  # sigma = e^800 before the clamp
    c[1, 2 * C:] = -800.0  # sigma = the floor
    c[2, :C] = [1e30, -1e30, 1e30]
    c[3, C:2 * C] = 1e10 if dtype == "float32" else 1e300  # float32: gradients of ~1e26
    comp = _pair(kind, params, output, dtype)[0]
    X = _values(rng, rows, n)
    X[0] = 1e200
    X[1] = -1e200
    X[2:4] = X[4]  # duplicated rows
    orders = np.arange(n, dtype=np.intp) if kind == "fixed" else np.arange(n)[None]
    cond = np.zeros((rows, 3 * C * n), dtype)
    loglik = comp.score(X, orders, 1, cond=cond)
    assert np.isfinite(loglik).all() and np.isfinite(cond).all()
    assert loglik[2] == loglik[3]
    grads = comp.zeros_like()
    if kind == "fixed":
        assert np.isfinite(comp.gradient(X[2:], orders, grads, 1))
    else:
        assert np.isfinite(comp.objective(X[2:], _compiled.BACKEND.training_masks(KEY, rows - 2,
                                                                                   n), grads))
    assert all(np.isfinite(g).all() for g in grads.values())
    for greedy in (False, True):
        drawn = np.zeros((rows, n))
        comp.sample(drawn, orders, np.empty(0, np.uint64) if greedy else KEY, 0, None, greedy, 1)
        assert np.isfinite(drawn).all()


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_estimators_agree_across_backends(rng, Model):
    """A short fit, then every public method that reaches the kernels, on both backends."""
    X = rng.normal(size=(120, 5)) * [1, 2, 3, 4, 5] + [0, 10, -3, 2, 7]
    X[:, 1] += X[:, 0]
    kw = dict(output="gaussian_mixture", n_components=3, dtype="float64", random_state=0)
    if Model is OrderAgnosticNADE:
        kw["n_layers"] = 2
    models = [Model(8, backend=b, **kw).fit(X, epochs=2, batch_size=32)
              for b in ("compiled", "numpy")]
    test = X[:20] + 0.1
    observed = rng.random(test.shape) < 0.5
    if Model is NADE:  # a fixed-order model conditions on prefixes of its ordering
        observed = np.arange(5)[models[0].ordering_] < rng.integers(0, 6, size=20)[:, None]
    results = [dict(score=m.score_samples(test), cond=m.conditionals(test),
                    prefix=m.prefix_log_marginals(test),
                    marginal=m.log_marginal(test, observed),
                    sample=m.sample(30, random_state=3),
                    completed=m.conditional_sample(test, observed, random_state=4),
                    mode=m.impute(test, observed, method="mode")) for m in models]
    for name in results[0]:
        np.testing.assert_allclose(results[0][name], results[1][name], rtol=1e-8, atol=1e-8,
                                   err_msg=name)
    if Model is NADE:
        assert models[0].rho_.shape == (5,)
        np.testing.assert_allclose(models[0].rho_, models[1].rho_, rtol=1e-8)
        assert not np.array_equal(models[0].rho_, np.ones(5))  # trained
        models[0].rho_[...] = 2.0  # a view of the kernels' array
        assert not np.allclose(models[0].score_samples(test), results[0]["score"])


# ----------------------------------------------------------- 4. the wrappers' checks

N, D, ROWS, C_ = 5, 3, 4, 2
NO_TERMS = np.empty((0, 0))
NO_INDEX = np.empty(0, dtype=np.intp)
C_REFUSAL = re.escape("the C kernel rejected its arguments (NADE_EINVAL)")
FUNCTIONS = ["mix_score", "mix_sample", "mix_grad", "mix_hidden", "oa_mix_score",
             "oa_mix_sample"]


def _check_args(fn, dtype):
    """One valid call of `fn`, as {argument: value} in its argument order."""
    rng = np.random.default_rng(4)
    dp = _core.lanes(dtype)
    n_out = 3 * C_ * N

    def weights(rows):
        w = np.zeros((rows, dp), dtype)
        w[:, :D] = rng.normal(size=(rows, D))
        return w

    b = np.zeros(dp, dtype)
    b[:D] = rng.normal(size=D)
    c = rng.normal(size=n_out).astype(dtype)
    X = rng.normal(size=(ROWS, N))
    if fn.startswith("mix_"):
        model = dict(Wt=weights(N), V=weights(n_out), b=b, c=c, rho=np.ones(N, dtype), d=D,
                     C=C_, order=np.arange(N, dtype=np.intp))
        if fn == "mix_score":
            return {**model, "X": X, "loglik": np.empty(ROWS),
                    "cond": np.empty((ROWS, n_out), dtype), "terms": np.empty((ROWS, N)),
                    "n_threads": 1}
        if fn == "mix_sample":
            return {**model, "key": KEY, "row0": 0, "X": X, "given": np.full(ROWS, 2, np.intp),
                    "greedy": False, "loglik": np.empty(ROWS), "n_threads": 1}
        if fn == "mix_grad":
            return {**model, "X": X, "nll": np.empty(ROWS), "gWt": np.zeros((N, dp), dtype),
                    "gV": np.zeros((n_out, dp), dtype), "gb": np.zeros(dp, dtype),
                    "gc": np.zeros(n_out, dtype), "grho": np.zeros(N, dtype), "n_threads": 1}
        return {**model, "X": X, "out": np.empty((ROWS, N, D), dtype), "n_threads": 1}
    Wdeep = np.zeros((1, D, dp), dtype)
    Wdeep[0, :, :D] = rng.normal(size=(D, D))
    model = dict(Win=weights(N), Wmask=weights(N), b1=b, Wdeep=Wdeep,
                 bdeep=rng.normal(size=(1, D)).astype(dtype), V=weights(n_out), c=c, d=D, C=C_,
                 order=np.tile(np.arange(N, dtype=np.intp), (ROWS, 1)))
    if fn == "oa_mix_score":
        return {**model, "X": X, "stop": np.full(ROWS, 3, np.intp), "loglik": np.empty(ROWS),
                "cond": np.empty((ROWS, n_out), dtype), "terms": np.empty((ROWS, N)),
                "n_threads": 1}
    return {**model, "key": KEY, "row0": 0, "X": X, "given": np.full(ROWS, 1, np.intp),
            "greedy": False, "loglik": np.empty(ROWS), "n_threads": 1}


def _run(fn, dtype, **replace):
    args = _check_args(fn, dtype)
    assert set(replace) <= set(args), set(replace) - set(args)
    args.update(replace)
    return getattr(_core, fn)(*args.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_valid_calls_pass(fn, dtype):
    _run(fn, dtype)
    if fn.endswith("sample"):
        _run(fn, dtype, key=np.empty(0, np.uint64), greedy=True)  # greedy needs no key


def _cases(dtype):
    """(function, {argument: replacement}, message) for one dtype."""
    dp = _core.lanes(dtype)
    n_out = 3 * C_ * N
    cases = []
    for fn in FUNCTIONS:
        W = "Win" if fn.startswith("oa_") else "Wt"
        cases += [
            (fn, {"X": np.zeros((ROWS, 3))},
             f"{fn}: X.shape[1] = 3 does not match n = {W}.shape[0] = 5"),
            (fn, {"V": np.zeros((n_out - 1, dp), dtype)},
             f"{fn}: V.shape[0] = {n_out - 1} does not match 3 C n = {n_out}"),
            (fn, {"V": np.zeros((n_out, 2 * dp), dtype)},
             f"{fn}: V.shape[1] = {2 * dp} does not match dp = {W}.shape[1] = {dp}"),
            (fn, {"c": np.zeros(N, dtype)}, f"{fn}: c.shape[0] = {N} does not match 3 C n"),
            (fn, {"C": 3}, f"{fn}: V.shape[0] = {n_out} does not match 3 C n = 45"),
            (fn, {"C": 0}, f"{fn}: C = 0 must be at least 1"),
            (fn, {"C": 2**61}, f"{fn}: C = {2**61} components of n = 5 variables are too many"),
            (fn, {"d": dp + 1}, f"{fn}: d = {dp + 1} must be in [1, dp = {W}.shape[1] = {dp}]"),
            (fn, {W: np.zeros((0, dp), dtype)}, f"{fn}: n = {W}.shape[0] = 0 must be at least 1"),
        ]
        X_nan = np.zeros((ROWS, N))
        X_nan[2, 3] = np.nan
        X_inf = np.zeros((ROWS, N))
        X_inf[1, 0] = -np.inf
        if not fn.endswith("sample"):
            every = {"stop": NO_INDEX} if fn == "oa_mix_score" else {}  # all positions evaluated
            cases += [(fn, {"X": X_nan, **every}, f"{fn}: X[2, 3] = nan is not a finite number"),
                      (fn, {"X": X_inf}, f"{fn}: X[1, 0] = -inf is not a finite number")]
        else:
            cases += [(fn, {"X": X_inf}, f"{fn}: X[1, 0] = -inf is not a finite number"),
                      (fn, {"given": np.zeros(3, np.intp)},
                       f"{fn}: given.shape[0] = 3 does not match the rows of X = {ROWS}"),
                      (fn, {"loglik": np.zeros(3)},
                       f"{fn}: loglik.shape[0] = 3 does not match the rows of X = {ROWS}"),
                      (fn, {"key": KEY[:1]},
                       f"{fn}: key.shape[0] = 1; expected a 2-word Philox key"),
                      (fn, {"key": np.empty(0, np.uint64)},
                       f"{fn}: key.shape[0] = 0; expected a 2-word Philox key")]
        if fn.startswith("mix_"):
            cases += [(fn, {"rho": np.ones(N + 1, dtype)},
                       f"{fn}: rho.shape[0] = {N + 1} does not match n = Wt.shape[0] = {N}"),
                      (fn, {"b": np.zeros(D, dtype)},
                       f"{fn}: b.shape[0] = {D} does not match dp = Wt.shape[1] = {dp}"),
                      (fn, {"order": np.arange(4, dtype=np.intp)},
                       f"{fn}: order.shape[0] = 4 does not match n = Wt.shape[0] = 5")]
    cases += [
        ("mix_score", {"cond": np.empty((ROWS, N), dtype)},
         f"mix_score: cond.shape[1] = {N} does not match 3 C n = {n_out}"),
        ("mix_score", {"cond": np.empty((ROWS + 1, n_out), dtype)},
         f"mix_score: cond.shape[0] = {ROWS + 1} does not match the rows of X = {ROWS}"),
        ("mix_score", {"terms": np.empty((ROWS, N + 1))},
         "mix_score: terms.shape[1] = 6 does not match n = 5"),
        ("mix_score", {"loglik": np.empty(ROWS + 1)},
         "mix_score: loglik.shape[0] = 5 does not match"),
        ("mix_grad", {"gWt": np.zeros((N + 1, dp), dtype)},
         f"mix_grad: gWt.shape[0] = {N + 1} does not match n = Wt.shape[0] = {N}"),
        ("mix_grad", {"gV": np.zeros((N, dp), dtype)},
         f"mix_grad: gV.shape[0] = {N} does not match 3 C n = {n_out}"),
        ("mix_grad", {"gc": np.zeros(N, dtype)}, f"mix_grad: gc.shape[0] = {N} does not match"),
        ("mix_grad", {"gb": np.zeros(D, dtype)}, f"mix_grad: gb.shape[0] = {D} does not match dp"),
        ("mix_grad", {"grho": np.zeros(N - 1, dtype)},
         f"mix_grad: grho.shape[0] = {N - 1} does not match n = Wt.shape[0] = {N}"),
        ("mix_grad", {"nll": np.empty(1)},
         "mix_grad: nll.shape[0] = 1 does not match the rows of X"),
        ("mix_hidden", {"out": np.empty((ROWS, N, D + 1), dtype)},
         "mix_hidden: out.shape[2] = 4 does not match d = 3"),
        ("oa_mix_score", {"Wmask": np.zeros((N + 1, dp), dtype)},
         "oa_mix_score: Wmask.shape[0] = 6 does not match n = Win.shape[0] = 5"),
        ("oa_mix_score", {"order": np.zeros((2, N), np.intp)},
         f"oa_mix_score: order.shape[0] = 2 must be 1 (one ordering) or the rows of X = {ROWS}"),
        ("oa_mix_score", {"cond": np.empty((ROWS, N), dtype)},
         f"oa_mix_score: cond.shape[1] = {N} does not match 3 C n = {n_out}"),
        ("oa_mix_score", {"stop": np.zeros(2, np.intp)},
         "oa_mix_score: stop.shape[0] = 2 does not match"),
        ("oa_mix_score", {"Wdeep": np.zeros((1, D + 1, dp), dtype)},
         "oa_mix_score: Wdeep.shape[1] = 4 does not match d = 3"),
        ("oa_mix_sample", {"bdeep": np.zeros((2, D), dtype)},
         "oa_mix_sample: bdeep.shape[0] = 2 does not match layers - 1 = Wdeep.shape[0] = 1"),
    ]
    return cases


def _case_ids():
    return [f"{fn}-{'+'.join(rep)}-{i}" for i, (fn, rep, _) in enumerate(_cases(np.float64))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(_cases(np.float64))), ids=_case_ids())
def test_mismatched_arguments_are_named(case, dtype):
    fn, replace, message = _cases(dtype)[case]
    with pytest.raises(ValueError, match=re.escape(message)):
        _run(fn, dtype, **replace)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_arrays_of_other_types_are_refused(fn):
    """Values must be float64 whatever the model's type; the model's arrays one type."""
    with pytest.raises(ValueError, match="Buffer dtype mismatch"):
        _run(fn, np.float32, X=np.zeros((ROWS, N), np.float32))
    with pytest.raises((TypeError, ValueError), match="dtype mismatch|No matching signature"):
        _run(fn, np.float32, c=np.zeros(3 * C_ * N, np.float64))
    with pytest.raises(ValueError, match="not C-contiguous"):
        _run(fn, np.float64, X=np.zeros((N, ROWS)).T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_are_checked_where_they_are_read(dtype):
    """Scores read the evaluated prefix, samplers the given one: other entries may hold anything
    (a sampler overwrites them)."""
    X = np.zeros((ROWS, N))
    X[:, 4] = np.nan  # feature 4 is the last chain position of the identity ordering
    _run("mix_sample", dtype, X=X.copy(), given=np.full(ROWS, 4, np.intp))
    _run("oa_mix_sample", dtype, X=X.copy(), given=np.full(ROWS, 4, np.intp))
    _run("oa_mix_score", dtype, X=X, stop=np.full(ROWS, 4, np.intp))
    drawn = X.copy()
    _run("mix_sample", dtype, X=drawn, given=NO_INDEX)
    assert np.isfinite(drawn).all()
    message = "X[0, 4] = nan is not a finite number"
    for fn, replace in [("mix_sample", {"given": np.full(ROWS, 5, np.intp)}),
                        ("oa_mix_sample", {"given": np.full(ROWS, 5, np.intp)}),
                        ("oa_mix_score", {"stop": np.full(ROWS, 5, np.intp)}),
                        ("mix_hidden", {}), ("mix_grad", {})]:
        with pytest.raises(ValueError, match=re.escape(f"{fn}: {message}")):
            _run(fn, dtype, X=X.copy(), **replace)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_indices_out_of_range_are_refused_by_the_kernel(fn, dtype):
    if fn.startswith("oa_"):
        order = np.tile(np.arange(N, dtype=np.intp), (ROWS, 1))
        order[2, 4] = N  # row 2 only
    else:
        order = np.arange(N, dtype=np.intp)
        order[2] = -1
    replace = {"order": order}
    if fn in ("mix_score", "oa_mix_score"):
        replace.update(cond=np.empty((0, 0), dtype), terms=NO_TERMS)
    with pytest.raises(ValueError, match=f"^{fn}: {C_REFUSAL}"):
        _run(fn, dtype, **replace)
    if fn.endswith("sample"):
        given = np.full(ROWS, 1, np.intp)
        given[3] = N + 1
        with pytest.raises(ValueError, match=f"^{fn}: {C_REFUSAL}"):
            _run(fn, dtype, given=given)


# the C kernels' own checks, reached with ctypes (as tests/test_c_entry_points.py)

try:
    _LIB = ctypes.CDLL(_core.__file__)
    _LIB.nade_mix_score_f64  # noqa: B018
except (OSError, AttributeError):
    _LIB = None

_ptr, _ssize = ctypes.c_void_p, ctypes.c_ssize_t


class _MixParams(ctypes.Structure):
    _fields_ = [("n", _ssize), ("d", _ssize), ("dp", _ssize), ("C", _ssize), ("Wt", _ptr),
                ("V", _ptr), ("b", _ptr), ("c", _ptr), ("rho", _ptr),
                ("act", ctypes.c_int)]  # NADE_ACT_SIGMOID = 0 (the default), NADE_ACT_RELU = 1


def _p(a):
    return None if a is None else _ptr(a.ctypes.data)


@pytest.mark.skipif(_LIB is None, reason="the C entry points are not exported")
@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_the_kernels_check_values_and_sizes_themselves(isa):
    if not _core.isa_supported(isa):
        pytest.skip(f"{isa} is not supported here")
    before = _core.active_isa()
    _core.select_isa(isa)
    try:
        args = _check_args("mix_score", np.float64)
        score = _LIB.nade_mix_score_f64
        score.restype = ctypes.c_int
        grad = _LIB.nade_mix_grad_f64
        grad.restype = ctypes.c_int
        bytes_ = _LIB.nade_mix_work_bytes
        bytes_.restype = ctypes.c_size_t
        bytes_.argtypes = [_ssize, _ssize, _ssize, ctypes.c_size_t, _ssize]
        assert bytes_(N, 0, 16, 8, ROWS) == 0  # no components
        assert bytes_(N, 2**60, 16, 8, ROWS) == 0  # 3 C n would overflow
        assert bytes_(N, C_, 16, 8, _core.MAX_BLOCK_ROWS + 1) == 0
        work = np.zeros(bytes_(N, C_, 16, 8, ROWS) + 64, np.uint8)
        loglik = np.zeros(ROWS)
        dp = args["V"].shape[1]

        def call(X, C=C_, rho=args["rho"], cond=None, ldc=None, act=0):
            p = _MixParams(N, D, dp, C, _p(args["Wt"]), _p(args["V"]), _p(args["b"]),
                           _p(args["c"]), _p(rho), act)
            ldc = (0 if cond is None else cond.shape[1]) if ldc is None else ldc
            return score(ctypes.byref(p), _p(args["order"]), _p(X), _ssize(N), _ssize(ROWS),
                         _p(loglik), _p(cond), _ssize(ldc), None, _ssize(0), _p(work))

        X = args["X"]
        assert call(X) == 0
        for value in (np.nan, np.inf, -np.inf):
            bad = X.copy()
            bad[3, 2] = value
            assert call(bad) == 1, value
        assert call(X, C=0) == 1
        assert call(X, rho=None) == 1
        assert call(X, act=1) == 0  # ReLU
        for act in (-1, 2):  # no such activation
            assert call(X, act=act) == 1, act
        cond = np.zeros((ROWS, 3 * C_ * N))
        assert call(X, cond=cond) == 0
        assert call(X, cond=cond, ldc=3 * C_ * N - 1) == 1  # ldc too short

        # the gradient refuses a bad value and still posts its progress counter
        g = _check_args("mix_grad", np.float64)
        gsum = (_ptr * 5)(*[g[k].ctypes.data for k in ("gWt", "gV", "gb", "gc", "grho")])
        progress = np.array([N], dtype=np.int64)
        bad = X.copy()
        bad[0, 0] = np.nan
        p = _MixParams(N, D, dp, C_, _p(args["Wt"]), _p(args["V"]), _p(args["b"]),
                       _p(args["c"]), _p(args["rho"]))
        assert grad(ctypes.byref(p), _p(args["order"]), _p(bad), _ssize(N), _ssize(ROWS),
                    _p(g["nll"]), ctypes.byref(gsum), None, _p(progress), _p(work)) == 1
        assert progress[0] == -1
        assert not any(g[k].any() for k in ("gWt", "gV", "gb", "gc", "grho"))
        progress[0] = N
        gsum[4] = None  # no rho sums
        assert grad(ctypes.byref(p), _p(args["order"]), _p(X), _ssize(N), _ssize(ROWS),
                    _p(g["nll"]), ctypes.byref(gsum), None, _p(progress), _p(work)) == 1
        assert progress[0] == -1
    finally:
        _core.select_isa(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_objective_output_layer_checks_its_arguments(dtype):
    """oa_mix_output (the objective's fused output layer): shapes and C named; of X, only the
    unobserved values are read, so only they must be finite; a full row of masks refused."""
    rng = np.random.default_rng(6)
    rows, n, C = 5, 4, 2
    Z = rng.normal(size=(rows, 3 * C * n)).astype(dtype)
    X = rng.normal(size=(rows, n))
    mask = np.zeros((rows, n), np.uint8)
    mask[:, 0] = 1
    X[:, 0] = np.nan  # observed: never read
    loss = np.empty(rows)
    _core.oa_mix_output(Z.copy(), X, mask, C, 1.0, loss, 1)
    assert np.isfinite(loss).all()
    cases = [({"Z": Z[:, :-1].copy()}, f"oa_mix_output: Z.shape[1] = {3 * C * n - 1} does not "
                                       f"match 3 C n = {3 * C * n}"),
             ({"C": 0}, "oa_mix_output: C = 0 must be at least 1"),
             ({"mask": mask[:, :3].copy()}, "oa_mix_output: mask.shape[1] = 3 does not match"),
             ({"loss": np.empty(2)}, "oa_mix_output: loss.shape[0] = 2 does not match"),
             ({"X": np.where(np.arange(n) == 2, np.inf, X)},
              "oa_mix_output: X[0, 2] = inf is not a finite number"),
             ({"mask": np.where(np.arange(rows)[:, None] == 3, 1, mask).astype(np.uint8)},
              "a row of mask observes every feature")]
    for replace, message in cases:
        args = dict(Z=Z.copy(), X=X, mask=mask, C=C, scale=1.0, loss=loss, n_threads=1)
        args.update(replace)
        with pytest.raises(ValueError, match=re.escape(message)):
            _core.oa_mix_output(*args.values())
