"""The compiled kernels for categorical outputs (csrc/cat_impl.h, nadefast/_core_categorical.pxi,
CategoricalFixedKernels and CategoricalOrderlessKernels of nadefast/backends/_compiled.py).

1. Against the NumPy reference (nadefast/backends/_numpy.py, which runs categorical models
   through its one generic implementation): scores, per-position terms, conditionals, hidden
   states, gradients, the order-agnostic objective and its gradient, and samples (random,
   greedy, with a given prefix, along per-row orderings), on random models with K in
   {1, 2, 3, 5} and random orderings.  float64 to 1e-10, float32 to float32 precision.
   Samples use the same Philox uniforms, so they agree draw for draw except at near-ties
   (a cumulative probability within rounding of its uniform), which are found and excused.
2. Bits that depend on neither the thread count nor the block size.
3. K = 2 with zero value-0 weights is the Bernoulli kernels, bit for bit (csrc/nade.h).
4. The wrappers' argument checks (shapes, blocks, codes) and the C kernels' own refusals.
"""

import ctypes
import re

import numpy as np
import pytest

from nadefast import _core
from nadefast._outputs import Bernoulli, Categorical, offsets
from nadefast.backends import _compiled, _numpy

from reference import philox_uniforms

KS = (1, 2, 3, 5)
DTYPES = ["float64", "float32"]
KEY = np.array([11, 12], dtype=np.uint64)
# loglik / terms, probabilities and hidden states, gradients (relative to the largest entry),
# and |cdf - u| below which a differing draw is a near-tie
TOL = {
    "float64": dict(loglik=1e-10, prob=1e-10, grad=1e-10, tie=1e-9),
    "float32": dict(loglik=3e-5, prob=2e-5, grad=3e-5, tie=1e-5),
}
FIXED_SIZES = [(1, 1), (6, 5), (11, 37)]
OA_SIZES = [(1, 1, 1), (7, 5, 2), (10, 37, 3)]


# ------------------------------------------------------------------------------ models


def _categories(rng, n):
    """K per feature: every value of KS once (when n allows), the rest at random."""
    K = np.resize(np.array(KS), n) if n >= len(KS) else rng.choice(KS, size=n)
    return rng.permutation(K).astype(np.intp)


def _codes(rng, rows, K):
    return np.stack([rng.integers(0, k, size=rows) for k in K], axis=1).astype(np.int32)


def _fixed_params(rng, K, d, scale=0.9):
    n_in, n_out = int((K - 1).sum()), int(K.sum())
    return {"W": rng.normal(0, scale, (d, n_in)), "b": rng.normal(0, 0.5, d),
            "V": rng.normal(0, scale, (n_out, d)), "c": rng.normal(0, 0.5, n_out)}


def _oa_params(rng, K, d, layers, scale=0.7):
    n, n_in, n_out = len(K), int((K - 1).sum()), int(K.sum())
    return {"W": rng.normal(0, scale, (d, n_in)), "M": rng.normal(0, scale, (d, n)),
            "b": rng.normal(0, 0.3, d), "W_hidden": rng.normal(0, scale, (layers - 1, d, d)),
            "b_hidden": rng.normal(0, 0.3, (layers - 1, d)),
            "V": rng.normal(0, scale, (n_out, d)), "c": rng.normal(0, 0.5, n_out)}


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
    return np.array([philox_uniforms(KEY, row0 + r, n) for r in range(rows)]).reshape(rows, n)


def _assert_same_draws(a, b, chains, u, probs, tie):
    """a (compiled) and b (numpy) draws, (rows, n): equal, except rows whose first difference
    in chain order is a near-tie: probs(r, k), the reference's probabilities of the variable
    at chain position k of row r given b[r]'s prefix, has a cumulative sum within `tie` of
    the uniform u[r, k] (greedy, u None: two values within `tie` of the most probable)."""
    assert a.shape == b.shape and a.dtype == b.dtype == np.int32
    differ = np.flatnonzero((a != b).any(axis=1))
    for r in differ:
        k = int(np.flatnonzero(a[r, chains[r]] != b[r, chains[r]])[0])
        p = probs(r, k)
        if u is None:
            top = np.sort(p)
            margin = top[-1] - top[-2]
        else:
            margin = np.abs(np.cumsum(p)[:-1] - u[r, k]).min()
        assert margin < tie, f"row {r} differs at chain position {k}: p={p}, not a near-tie"
    assert len(differ) <= max(1, len(a) // 50), f"{len(differ)} of {len(a)} rows are near-ties?"


def _probs(ref, oa, rows, chains, K):
    """probs(r, k) of _assert_same_draws from the NumPy kernels."""
    feature_off = offsets(K)

    def probs(r, k):
        cond = np.zeros((1, feature_off[-1]))
        if oa:
            ref.score(rows[r:r + 1].copy(), chains[r][None], 1, cond=cond)
        else:
            ref.score(rows[r:r + 1], chains[r], 1, cond=cond)
        j = chains[r][k]
        return cond[0, feature_off[j]:feature_off[j + 1]]

    return probs


# ------------------------------------------------------------------ 1. against NumPy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d", FIXED_SIZES)
def test_fixed_inference_matches_numpy(rng, n, d, dtype):
    K = _categories(rng, n)
    output, order = Categorical(K), rng.permutation(n)
    comp, ref = _pair("fixed", _fixed_params(rng, K, d), output, dtype)
    X = _codes(rng, 61, K)
    tol = TOL[dtype]
    cond, terms = np.zeros((2, 61, K.sum()), dtype), np.zeros((2, 61, n))
    loglik = [kern.score(X, order, 2, cond=cond[i], terms=terms[i])
              for i, kern in enumerate((comp, ref))]
    _assert_close(loglik[0], loglik[1], tol["loglik"], "loglik")
    _assert_close(terms[0], terms[1], tol["loglik"], "terms")
    _assert_close(cond[0], cond[1], tol["prob"], "cond")
    _assert_close(comp.score(X, order, 1), loglik[1], tol["loglik"], "loglik alone")
    # each block of cond is a distribution, written at its feature's offsets
    np.testing.assert_allclose(np.add.reduceat(cond[0], offsets(K)[:-1], axis=1), 1.0,
                               rtol=10 * tol["prob"])
    _assert_close(comp.hidden(X, order, 2), ref.hidden(X, order, 1), tol["prob"], "hidden")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d", FIXED_SIZES)
def test_fixed_gradient_matches_numpy(rng, n, d, dtype):
    K = _categories(rng, n)
    output, order = Categorical(K), rng.permutation(n)
    comp, ref = _pair("fixed", _fixed_params(rng, K, d), output, dtype)
    X = _codes(rng, 75, K)
    grads = comp.zeros_like(), ref.zeros_like()
    loss = comp.gradient(X, order, grads[0], 2), ref.gradient(X, order, grads[1], 1)
    _assert_close(loss[0], loss[1], TOL[dtype]["loglik"], "loss")
    _assert_grads(comp.public(grads[0]), grads[1], TOL[dtype]["grad"])
    # the padding of the kernels' layout gets no gradient
    for name, g in grads[0].items():
        if name != "c":
            assert not g[..., comp.d:].any(), name


@pytest.mark.parametrize("dtype", DTYPES)
def test_fixed_samples_match_numpy(rng, dtype):
    n, d, rows = 9, 6, 200
    K = _categories(rng, n)
    output, order = Categorical(K), rng.permutation(n)
    comp, ref = _pair("fixed", _fixed_params(rng, K, d, scale=1.2), output, dtype)
    chains = np.tile(order, (rows, 1))
    tie = TOL[dtype]["tie"]

    drawn = [np.full((rows, n), -7, np.int32) for _ in range(2)]  # every entry is drawn
    comp.sample(drawn[0], order, KEY, 3, None, False, 2)
    ref.sample(drawn[1], order, KEY, 3, None, False, 1)
    _assert_same_draws(*drawn, chains, _uniforms(rows, n, 3),
                       _probs(ref, False, drawn[1], chains, K), tie)
    assert all(((drawn[0][:, j] >= 0) & (drawn[0][:, j] < K[j])).all() for j in range(n))

    greedy = [np.zeros((rows, n), np.int32) for _ in range(2)]
    comp.sample(greedy[0], order, np.empty(0, np.uint64), 0, None, True, 2)
    ref.sample(greedy[1], order, None, 0, None, True, 1)
    _assert_same_draws(*greedy, chains, None, _probs(ref, False, greedy[1], chains, K), tie)

    given = rng.integers(0, n + 1, size=rows).astype(np.intp)
    X = _codes(rng, rows, K)
    completed = [X.copy(), X.copy()]
    comp.sample(completed[0], order, KEY, 0, given, False, 2)
    ref.sample(completed[1], order, KEY, 0, given, False, 1)
    kept = np.arange(n)[None] < given[:, None]  # chain positions
    assert np.array_equal(completed[0][:, order][kept], X[:, order][kept])
    _assert_same_draws(*completed, chains, _uniforms(rows, n),
                       _probs(ref, False, completed[1], chains, K), tie)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d, layers", OA_SIZES)
def test_order_agnostic_inference_matches_numpy(rng, n, d, layers, dtype):
    K = _categories(rng, n)
    comp, ref = _pair("oa", _oa_params(rng, K, d, layers), Categorical(K), dtype)
    rows = 53
    X = _codes(rng, rows, K)
    tol = TOL[dtype]
    one = rng.permutation(n)[None].astype(np.intp)
    per_row = np.array([rng.permutation(n) for _ in range(rows)], dtype=np.intp)
    for orders in (one, per_row):
        cond, terms = np.zeros((2, rows, K.sum()), dtype), np.zeros((2, rows, n))
        loglik = [comp.score(X, orders, 2, cond=cond[0], terms=terms[0]),
                  ref.score(X.copy(), orders, 1, cond=cond[1], terms=terms[1])]
        _assert_close(loglik[0], loglik[1], tol["loglik"], "loglik")
        _assert_close(terms[0], terms[1], tol["loglik"], "terms")
        _assert_close(cond[0], cond[1], tol["prob"], "cond")
        # stop: the log-probability of each row's first stop[r] variables
        stop = rng.integers(0, n + 1, size=rows).astype(np.intp)
        terms_stop = np.zeros((rows, n))
        prefix = comp.score(X, orders, 2, stop=stop, terms=terms_stop)
        evaluated = np.arange(n)[None] < stop[:, None]
        _assert_close(prefix, ref.score(X.copy(), orders, 1, stop=stop), tol["loglik"], "stop")
        _assert_close(terms_stop[evaluated], terms[1][evaluated], tol["loglik"], "stop terms")
        assert not terms_stop[~evaluated].any()  # left as they were


@pytest.mark.parametrize("dtype", DTYPES)
def test_order_agnostic_samples_match_numpy(rng, dtype):
    n, d, layers, rows = 8, 6, 2, 150
    K = _categories(rng, n)
    comp, ref = _pair("oa", _oa_params(rng, K, d, layers, scale=1.0), Categorical(K), dtype)
    tie = TOL[dtype]["tie"]
    one = rng.permutation(n)[None].astype(np.intp)
    per_row = np.array([rng.permutation(n) for _ in range(rows)], dtype=np.intp)
    for orders in (one, per_row):
        chains = np.broadcast_to(orders, (rows, n))
        drawn = [np.full((rows, n), 99, np.int32) for _ in range(2)]
        comp.sample(drawn[0], orders, KEY, 0, None, False, 2)
        ref.sample(drawn[1], orders, KEY, 0, None, False, 1)
        _assert_same_draws(*drawn, chains, _uniforms(rows, n),
                           _probs(ref, True, drawn[1], chains, K), tie)

        given = rng.integers(0, n + 1, size=rows).astype(np.intp)
        X = _codes(rng, rows, K)
        for greedy in (False, True):
            completed = [X.copy(), X.copy()]
            comp.sample(completed[0], orders, KEY, 0, given, greedy, 2)
            ref.sample(completed[1], orders, KEY, 0, given, greedy, 1)
            for r in range(rows):
                kept = chains[r][:given[r]]
                assert np.array_equal(completed[0][r, kept], X[r, kept])
            _assert_same_draws(*completed, chains, None if greedy else _uniforms(rows, n),
                               _probs(ref, True, completed[1], chains, K), tie)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("sparse", [True, False])
def test_order_agnostic_objective_matches_numpy(rng, monkeypatch, layers, sparse, dtype):
    """Both ways of adding the observed one-hot inputs: as weight rows (sparse) and as a
    product (dense)."""
    monkeypatch.setattr(_compiled, "SPARSE_INPUT_FRACTION", 1.0 if sparse else 0.0)
    n, d, rows = 9, 11, 40
    K = _categories(rng, n)
    comp, ref = _pair("oa", _oa_params(rng, K, d, layers), Categorical(K), dtype)
    X = _codes(rng, rows, K)
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


@pytest.mark.parametrize("kind", ["fixed", "oa"])
def test_variables_of_one_value(rng, kind):
    """K = 1 everywhere: no input columns (n_in = 0), log p = 0, samples 0, no gradient."""
    n, d, rows = 4, 3, 10
    K = np.ones(n, dtype=np.intp)
    params = _fixed_params(rng, K, d) if kind == "fixed" else _oa_params(rng, K, d, 2)
    comp, ref = _pair(kind, params, Categorical(K), "float64")
    X = np.zeros((rows, n), np.int32)
    orders = np.arange(n, dtype=np.intp)
    orders = orders if kind == "fixed" else orders[None]
    cond = np.empty((rows, n))
    assert not comp.score(X, orders, 1, cond=cond).any()
    assert (cond == 1).all()
    drawn = np.full((rows, n), 5, np.int32)
    comp.sample(drawn, orders, KEY, 0, None, False, 1)
    assert not drawn.any()
    grads = comp.zeros_like()
    if kind == "fixed":
        assert comp.gradient(X, orders, grads, 1) == 0.0
        assert not any(g.any() for g in grads.values())
    else:
        masks = _compiled.BACKEND.training_masks(KEY, rows, n)
        ref_grads = ref.zeros_like()
        assert comp.objective(X, masks, grads) == ref.objective(X, masks, ref_grads) == 0.0
        assert not grads["V"].any() and not grads["c"].any()


# ------------------------------------------------------------- 2. blocks and threads


@pytest.fixture
def forced_rows():
    yield _compiled.force_block_rows
    _compiled.force_block_rows(0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bits_do_not_depend_on_blocks_or_threads(rng, forced_rows, dtype):
    n, d, rows = 12, 40, 67
    K = _categories(rng, n)
    order = rng.permutation(n)
    fixed = _pair("fixed", _fixed_params(rng, K, d), Categorical(K), dtype)[0]
    oa = _pair("oa", _oa_params(rng, K, d, 2), Categorical(K), dtype)[0]
    X = _codes(rng, rows, K)
    per_row = np.array([rng.permutation(n) for _ in range(rows)], dtype=np.intp)
    stop = rng.integers(0, n + 1, size=rows).astype(np.intp)
    given = rng.integers(0, n + 1, size=rows).astype(np.intp)

    def outputs(n_jobs):
        out = {}
        cond, terms = np.zeros((rows, K.sum()), dtype), np.zeros((rows, n))
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
        cond = np.zeros((rows, K.sum()), dtype)
        out["oa loglik"] = oa.score(X, per_row, n_jobs, stop=stop, cond=cond)
        out["oa cond"] = cond
        for orders in (per_row, order[None].astype(np.intp)):
            drawn = X.copy()
            oa.sample(drawn, orders, KEY, 5, given, False, n_jobs)
            out[f"oa sample {orders.shape[0]}"] = drawn
        return out

    reference = outputs(1)
    for block in (1, 5, 7, _compiled.MAX_BLOCK_ROWS):
        forced_rows(block)
        for n_jobs in (1, 2, 3):
            for name, value in outputs(n_jobs).items():
                np.testing.assert_array_equal(value, reference[name],
                                              err_msg=f"{name}, {block} rows, {n_jobs} threads")


# -------------------------------------------------------- 3. K = 2 is the Bernoulli case


def _as_two_categories(params, blocks):
    """The categorical parameters equal to Bernoulli ones: W unchanged (value 1 adds the
    variable's column), V rows and c entries of value 0 zero."""
    cat = dict(params)
    n = params["V"].shape[0]
    cat["V"] = np.zeros((2 * n,) + params["V"].shape[1:], params["V"].dtype)
    cat["V"][1::2] = params["V"]
    cat["c"] = np.zeros(2 * n, params["c"].dtype)
    cat["c"][1::2] = params["c"]
    return cat


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_categories_are_the_bernoulli_kernels(rng, dtype):
    n, d, rows = 10, 21, 50
    X = (rng.random((rows, n)) < 0.4).astype(np.uint8)
    X32 = X.astype(np.int32)
    K = np.full(n, 2, dtype=np.intp)
    order = rng.permutation(n)

    # fixed-order
    params = _cast({"W": rng.normal(0, 1, (d, n)), "b": rng.normal(0, 1, d),
                    "V": rng.normal(0, 1, (n, d)), "c": rng.normal(0, 1, n)}, dtype)
    ber = _compiled.BACKEND.fixed(params, Bernoulli())
    cat = _compiled.BACKEND.fixed(_as_two_categories(params, K), Categorical(K))
    cond_b, cond_c = np.zeros((rows, n), dtype), np.zeros((rows, 2 * n), dtype)
    terms_b, terms_c = np.zeros((2, rows, n))
    np.testing.assert_array_equal(cat.score(X32, order, 2, cond=cond_c, terms=terms_c),
                                  ber.score(X, order, 2, cond=cond_b, terms=terms_b))
    np.testing.assert_array_equal(terms_c, terms_b)
    np.testing.assert_array_equal(cond_c[:, 1::2], cond_b)
    np.testing.assert_array_equal(cat.hidden(X32, order, 2), ber.hidden(X, order, 2))
    g_b, g_c = ber.zeros_like(), cat.zeros_like()
    assert cat.gradient(X32, order, g_c, 2) == ber.gradient(X, order, g_b, 2)
    for name in ("W", "b"):
        np.testing.assert_array_equal(g_c[name], g_b[name], err_msg=name)
    np.testing.assert_array_equal(g_c["V"][1::2], g_b["V"])
    np.testing.assert_array_equal(g_c["c"][1::2], g_b["c"])
    greedy_b, greedy_c = np.zeros((rows, n), np.uint8), X32.copy()
    given = rng.integers(0, n + 1, size=rows).astype(np.intp)
    greedy_b[...] = X
    ber.sample(greedy_b, order, np.empty(0, np.uint64), 0, given, True, 2)
    cat.sample(greedy_c, order, np.empty(0, np.uint64), 0, given, True, 2)
    np.testing.assert_array_equal(greedy_c, greedy_b)

    # order-agnostic
    params = _cast({"W": rng.normal(0, 1, (d, n)), "M": rng.normal(0, 1, (d, n)),
                    "b": rng.normal(0, 0.5, d), "W_hidden": rng.normal(0, 0.5, (1, d, d)),
                    "b_hidden": rng.normal(0, 0.5, (1, d)), "V": rng.normal(0, 1, (n, d)),
                    "c": rng.normal(0, 1, n)}, dtype)
    ber = _compiled.BACKEND.orderless(params, Bernoulli())
    cat = _compiled.BACKEND.orderless(_as_two_categories(params, K), Categorical(K))
    per_row = np.array([rng.permutation(n) for _ in range(rows)], dtype=np.intp)
    stop = rng.integers(0, n + 1, size=rows).astype(np.intp)
    for orders in (order[None].astype(np.intp), per_row):
        cond_b, cond_c = np.zeros((rows, n), dtype), np.zeros((rows, 2 * n), dtype)
        terms_b, terms_c = np.zeros((2, rows, n))
        np.testing.assert_array_equal(
            cat.score(X32, orders, 2, stop=stop, cond=cond_c, terms=terms_c),
            ber.score(X, orders, 2, stop=stop, cond=cond_b, terms=terms_b))
        np.testing.assert_array_equal(terms_c, terms_b)
        np.testing.assert_array_equal(cond_c[:, 1::2], cond_b)
        greedy_b, greedy_c = X.copy(), X32.copy()
        ber.sample(greedy_b, orders, np.empty(0, np.uint64), 0, given, True, 2)
        cat.sample(greedy_c, orders, np.empty(0, np.uint64), 0, given, True, 2)
        np.testing.assert_array_equal(greedy_c, greedy_b)
    # the training objective: another route (NumPy softmax against the fused C kernel)
    masks = _compiled.BACKEND.training_masks(KEY, rows, n)
    g_b, g_c = ber.zeros_like(), cat.zeros_like()
    tol = TOL[dtype]
    _assert_close(cat.objective(X32, masks, g_c), ber.objective(X, masks, g_b), tol["loglik"],
                  "objective")
    g_c = dict(g_c, V=g_c["V"][1::2], c=g_c["c"][1::2])
    _assert_grads(g_c, g_b, tol["grad"])


def test_random_draws_of_two_categories_take_value_0_first(rng):
    """The one difference from the Bernoulli sampler (csrc/nade.h): a K = 2 draw is 0 when
    u < p_0, where a Bernoulli draw is 1 when u < p_1."""
    n, d, rows = 6, 5, 400
    K = np.full(n, 2, dtype=np.intp)
    params = {"W": rng.normal(0, 1, (d, n)), "b": rng.normal(0, 1, d),
              "V": rng.normal(0, 1, (n, d)), "c": rng.normal(0, 1, n)}
    order = np.arange(n)
    cat = _compiled.BACKEND.fixed(_as_two_categories(params, K), Categorical(K))
    drawn = np.zeros((rows, n), np.int32)
    cat.sample(drawn, order, KEY, 0, None, False, 1)
    cond = np.zeros((rows, 2 * n))
    cat.score(drawn, order, 1, cond=cond)
    u = _uniforms(rows, n)
    margin = np.abs(u - cond[:, 0::2])
    sure = margin > 1e-9
    assert np.array_equal(drawn[sure], (u >= cond[:, 0::2])[sure])


# ----------------------------------------------------------- 4. the wrappers' checks

N, D, ROWS = 5, 3, 4
K_POS = np.array([2, 1, 3, 5, 2], dtype=np.intp)  # by chain position (fixed), by feature (oa)
NO_TERMS = np.empty((0, 0))
NO_INDEX = np.empty(0, dtype=np.intp)
C_REFUSAL = re.escape("the C kernel rejected its arguments (NADE_EINVAL)")


def _valid_codes(rows=ROWS, K=K_POS, order=None):
    """Codes (rows, N) in feature order, for K given by chain position along `order`."""
    order = np.arange(N) if order is None else order
    X = np.zeros((rows, N), np.int32)
    X[:, order] = _codes(np.random.default_rng(5), rows, K)
    return X


def _check_args(fn, dtype, order=None):
    """One valid call of `fn`, as {argument: value} in its argument order."""
    rng = np.random.default_rng(4)
    dp = _core.lanes(dtype)
    n_in, n_out = int((K_POS - 1).sum()), int(K_POS.sum())
    in_off, out_off = offsets(K_POS - 1), offsets(K_POS)

    def weights(rows):
        w = np.zeros((rows, dp), dtype)
        w[:, :D] = rng.normal(size=(rows, D))
        return w

    b = np.zeros(dp, dtype)
    b[:D] = rng.normal(size=D)
    c = rng.normal(size=n_out).astype(dtype)
    if fn.startswith("cat_"):
        order = np.arange(N, dtype=np.intp) if order is None else order
        model = dict(Wt=weights(n_in), V=weights(n_out), b=b, c=c, d=D, in_off=in_off,
                     out_off=out_off, order=order)
        X = _valid_codes(order=order)
        if fn == "cat_score":
            return {**model, "X": X, "loglik": np.empty(ROWS),
                    "cond": np.empty((ROWS, n_out), dtype),
                    "feat_off": offsets(K_POS[np.argsort(order)]), "terms": np.empty((ROWS, N)),
                    "n_threads": 1}
        if fn == "cat_sample":
            return {**model, "key": KEY, "row0": 0, "X": X, "given": np.full(ROWS, 2, np.intp),
                    "greedy": False, "loglik": np.empty(ROWS), "n_threads": 1}
        if fn == "cat_grad":
            return {**model, "X": X, "nll": np.empty(ROWS), "gWt": np.zeros((n_in, dp), dtype),
                    "gV": np.zeros((n_out, dp), dtype), "gb": np.zeros(dp, dtype),
                    "gc": np.zeros(n_out, dtype), "n_threads": 1}
        return {**model, "X": X, "out": np.empty((ROWS, N, D), dtype), "n_threads": 1}
    Wdeep = np.zeros((1, D, dp), dtype)
    Wdeep[0, :, :D] = rng.normal(size=(D, D))
    model = dict(Win=weights(n_in), Wmask=weights(N), b1=b, Wdeep=Wdeep,
                 bdeep=rng.normal(size=(1, D)).astype(dtype), V=weights(n_out), c=c, d=D,
                 in_off=in_off, out_off=out_off,
                 order=np.tile(np.arange(N, dtype=np.intp), (ROWS, 1)))
    if fn == "oa_cat_score":
        return {**model, "X": _valid_codes(), "stop": np.full(ROWS, 3, np.intp),
                "loglik": np.empty(ROWS), "cond": np.empty((ROWS, n_out), dtype),
                "terms": np.empty((ROWS, N)), "n_threads": 1}
    return {**model, "key": KEY, "row0": 0, "X": _valid_codes(), "given": np.full(ROWS, 1, np.intp),
            "greedy": False, "loglik": np.empty(ROWS), "n_threads": 1}


def _run(fn, dtype, **replace):
    args = _check_args(fn, dtype, order=replace.pop("_order", None))
    assert set(replace) <= set(args), set(replace) - set(args)
    args.update(replace)
    return getattr(_core, fn)(*args.values())


FUNCTIONS = ["cat_score", "cat_sample", "cat_grad", "cat_hidden", "oa_cat_score", "oa_cat_sample"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_valid_calls_pass(fn, dtype):
    _run(fn, dtype)
    if fn.startswith("cat_"):  # codes and conditionals follow another ordering
        _run(fn, dtype, _order=np.array([3, 0, 4, 2, 1], dtype=np.intp))


def _cases(dtype):
    """(function, {argument: replacement}, message) for one dtype."""
    dp = _core.lanes(dtype)
    n_out = int(K_POS.sum())
    bad_out = offsets(K_POS).copy()
    bad_out[2:] -= 1  # position 1 gets K = 0
    bad_in = offsets(K_POS - 1).copy()
    bad_in[3:] += 1  # position 2 gets 3 input rows for K = 3
    X_bad = _valid_codes()
    X_bad[2, 3] = 5  # feature 3 has K = 5
    X_neg = _valid_codes()
    X_neg[1, 0] = -1
    cases = []
    for fn in FUNCTIONS:
        oa = fn.startswith("oa_")
        W, by = ("Win", "feature") if oa else ("Wt", "chain position")
        cases += [
            (fn, {"X": np.zeros((ROWS, 3), np.int32)},
             f"{fn}: X.shape[1] = 3 does not match n = out_off.shape[0] - 1 = 5"),
            (fn, {W: np.zeros((7, dp), dtype)},
             f"{fn}: {W}.shape[0] = 7 does not match n_in = in_off[n] = 8"),
            (fn, {W: np.zeros((8, 2 * dp), dtype)},
             f"{fn}: {W}.shape[1] = {2 * dp} does not match dp = V.shape[1] = {dp}"),
            (fn, {"V": np.zeros((n_out - 1, dp), dtype)},
             f"{fn}: V.shape[0] = {n_out - 1} does not match n_out = out_off[n] = {n_out}"),
            (fn, {"c": np.zeros(N, dtype)},
             f"{fn}: c.shape[0] = {N} does not match n_out = out_off[n] = {n_out}"),
            (fn, {"d": dp + 1}, f"{fn}: d = {dp + 1} must be in [1, dp = V.shape[1] = {dp}]"),
            (fn, {"in_off": offsets(K_POS - 1)[:-1]},
             f"{fn}: in_off.shape[0] = 5 does not match out_off.shape[0] = 6"),
            (fn, {"out_off": bad_out},
             f"{fn}: out_off[2] - out_off[1] = 0 ({by} 1): every variable needs K >= 1 values"),
            (fn, {"in_off": bad_in},
             f"{fn}: in_off[3] - in_off[2] = 3 does not match K - 1 = 2 of out_off ({by} 2)"),
            (fn, {"in_off": offsets(K_POS - 1) + 1},
             f"{fn}: in_off[0] = 1 and out_off[0] = 0 must both be 0"),
            (fn, {"out_off": np.zeros(1, np.intp), "in_off": np.zeros(1, np.intp)},
             f"{fn}: n = out_off.shape[0] - 1 = 0 must be at least 1"),
        ]
        if fn != "cat_sample" and fn != "oa_cat_sample":  # samplers read only the given prefix
            every = {"stop": NO_INDEX} if fn == "oa_cat_score" else {}  # all positions evaluated
            cases += [(fn, {"X": X_bad, **every}, f"{fn}: X[2, 3] = 5 is not a code of feature 3, "
                                                  f"whose K = 5 values are 0 .. 4"),
                      (fn, {"X": X_neg},
                       f"{fn}: X[1, 0] = -1 is not a code of feature 0, whose K = 2 "
                                         f"values are 0 .. 1")]
        else:
            cases += [(fn, {"X": X_neg}, f"{fn}: X[1, 0] = -1 is not a code of feature 0"),
                      (fn, {"given": np.zeros(3, np.intp)},
                       f"{fn}: given.shape[0] = 3 does not match the rows of X = {ROWS}"),
                      (fn, {"key": KEY[:1]},
                       f"{fn}: key.shape[0] = 1; expected a 2-word Philox key")]
    cases += [
        ("cat_score", {"cond": np.empty((ROWS, N), dtype)},
         f"cat_score: cond.shape[1] = {N} does not match n_out = out_off[n] = {n_out}"),
        ("cat_score", {"feat_off": offsets(K_POS)[:-1]},
         "cat_score: feat_off.shape[0] = 5 does not match out_off.shape[0] = 6"),
        ("cat_score", {"feat_off": offsets(K_POS[::-1])},
         "cat_score: feat_off[2] - feat_off[1] = 5 does not match K = 1 of feature 1 at chain "
         "position 1 (out_off)"),
        ("cat_score", {"feat_off": offsets(K_POS), "_order": np.array([3, 0, 4, 2, 1], np.intp)},
         "cat_score: feat_off[4] - feat_off[3] = 5 does not match K = 2 of feature 3 at chain "
         "position 0 (out_off)"),
        ("cat_score", {"terms": np.empty((ROWS, N + 1))},
         "cat_score: terms.shape[1] = 6 does not match n = 5"),
        ("cat_score", {"loglik": np.empty(ROWS + 1)},
         "cat_score: loglik.shape[0] = 5 does not match"),
        ("cat_score", {"order": np.arange(4, dtype=np.intp)},
         "cat_score: order.shape[0] = 4 does not match n = out_off.shape[0] - 1 = 5"),
        ("cat_grad", {"gWt": np.zeros((7, dp), dtype)},
         "cat_grad: gWt.shape[0] = 7 does not match n_in = in_off[n] = 8"),
        ("cat_grad", {"gV": np.zeros((N, dp), dtype)},
         f"cat_grad: gV.shape[0] = {N} does not match n_out = out_off[n] = {n_out}"),
        ("cat_grad", {"gc": np.zeros(N, dtype)},
         f"cat_grad: gc.shape[0] = {N} does not match n_out"),
        ("cat_grad", {"gb": np.zeros(D, dtype)}, f"cat_grad: gb.shape[0] = {D} does not match dp"),
        ("cat_grad", {"nll": np.empty(1)},
         "cat_grad: nll.shape[0] = 1 does not match the rows of X"),
        ("cat_hidden", {"out": np.empty((ROWS, N, D + 1), dtype)},
         "cat_hidden: out.shape[2] = 4 does not match d = 3"),
        ("oa_cat_score", {"Wmask": np.zeros((N + 1, dp), dtype)},
         "oa_cat_score: Wmask.shape[0] = 6 does not match n = out_off.shape[0] - 1 = 5"),
        ("oa_cat_score", {"order": np.zeros((2, N), np.intp)},
         f"oa_cat_score: order.shape[0] = 2 must be 1 (one ordering) or the rows of X = {ROWS}"),
        ("oa_cat_score", {"cond": np.empty((ROWS, N), dtype)},
         f"oa_cat_score: cond.shape[1] = {N} does not match n_out = out_off[n] = {n_out}"),
        ("oa_cat_score", {"stop": np.zeros(2, np.intp)},
         "oa_cat_score: stop.shape[0] = 2 does not match"),
        ("oa_cat_score", {"Wdeep": np.zeros((1, D + 1, dp), dtype)},
         "oa_cat_score: Wdeep.shape[1] = 4 does not match d = 3"),
        ("oa_cat_sample", {"bdeep": np.zeros((2, D), dtype)},
         "oa_cat_sample: bdeep.shape[0] = 2 does not match layers - 1 = Wdeep.shape[0] = 1"),
    ]
    return cases


def _case_ids():
    return [f"{fn}-{'+'.join(r.strip('_') for r in rep)}-{i}"
            for i, (fn, rep, _) in enumerate(_cases(np.float64))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(_cases(np.float64))), ids=_case_ids())
def test_mismatched_arguments_are_named(case, dtype):
    fn, replace, message = _cases(dtype)[case]
    with pytest.raises(ValueError, match=re.escape(message)):
        _run(fn, dtype, **replace)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_codes_are_checked_where_they_are_read(dtype):
    """Scores read the evaluated prefix, samplers the given one: other entries may hold anything."""
    X = _valid_codes()
    X[:, 4] = 77  # feature 4 (K = 2) is the last chain position of the identity ordering
    _run("cat_sample", dtype, X=X.copy(), given=np.full(ROWS, 4, np.intp))
    _run("oa_cat_sample", dtype, X=X.copy(), given=np.full(ROWS, 4, np.intp))
    _run("oa_cat_score", dtype, X=X, stop=np.full(ROWS, 4, np.intp))
    message = "X[0, 4] = 77 is not a code of feature 4, whose K = 2 values are 0 .. 1"
    for fn, replace in [("cat_sample", {"given": np.full(ROWS, 5, np.intp)}),
                        ("oa_cat_sample", {"given": np.full(ROWS, 5, np.intp)}),
                        ("oa_cat_score", {"stop": np.full(ROWS, 5, np.intp)}),
                        ("cat_hidden", {})]:
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
    if fn in ("cat_score", "oa_cat_score"):
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
    _LIB.nade_cat_score_f64  # noqa: B018
except (OSError, AttributeError):
    _LIB = None

_ptr, _ssize = ctypes.c_void_p, ctypes.c_ssize_t


class _CatParams(ctypes.Structure):
    _fields_ = [("n", _ssize), ("d", _ssize), ("dp", _ssize), ("Wt", _ptr), ("V", _ptr),
                ("b", _ptr), ("c", _ptr), ("in_off", _ptr), ("out_off", _ptr)]


def _p(a):
    return None if a is None else _ptr(a.ctypes.data)


@pytest.mark.skipif(_LIB is None, reason="the C entry points are not exported")
@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_the_kernels_check_codes_and_blocks_themselves(isa):
    if not _core.isa_supported(isa):
        pytest.skip(f"{isa} is not supported here")
    before = _core.active_isa()
    _core.select_isa(isa)
    try:
        args = _check_args("cat_score", np.float64)
        score = _LIB.nade_cat_score_f64
        score.restype = ctypes.c_int
        grad = _LIB.nade_cat_grad_f64
        grad.restype = ctypes.c_int
        bytes_ = _LIB.nade_cat_work_bytes
        bytes_.restype = ctypes.c_size_t
        bytes_.argtypes = [_ssize, _ssize, _ssize, ctypes.c_size_t, _ssize]
        assert bytes_(N, N - 1, 16, 8, ROWS) == 0  # n_out < n: some K would be 0
        work = np.zeros(bytes_(N, int(K_POS.sum()), 16, 8, ROWS) + 64, np.uint8)
        loglik = np.zeros(ROWS)

        def call(X, in_off=args["in_off"], out_off=args["out_off"], cond=None, feat_off=None):
            p = _CatParams(N, D, args["V"].shape[1], _p(args["Wt"]), _p(args["V"]), _p(args["b"]),
                           _p(args["c"]), _p(in_off), _p(out_off))
            return score(ctypes.byref(p), _p(args["order"]), _p(X), _ssize(N), _ssize(ROWS),
                         _p(loglik), _p(cond), _ssize(0 if cond is None else cond.shape[1]),
                         _p(feat_off), None, _ssize(0), _p(work))

        X = args["X"]
        assert call(X) == 0
        for r, j, code in [(0, 3, 5), (3, 1, 1), (1, 0, -1)]:
            bad = X.copy()
            bad[r, j] = code
            assert call(bad) == 1, (r, j, code)
        bad_out = args["out_off"].copy()
        bad_out[3] += 1
        assert call(X, out_off=bad_out) == 1
        cond = np.zeros((ROWS, int(K_POS.sum())))
        assert call(X, cond=cond, feat_off=args["feat_off"]) == 0
        assert call(X, cond=cond) == 1  # cond without feat_off
        assert call(X, cond=cond[:, :-1].copy(), feat_off=args["feat_off"]) == 1  # ldc too short
        assert call(X, cond=cond, feat_off=offsets(K_POS[::-1])) == 1

        # the gradient refuses a bad code and still posts its progress counter
        g = _check_args("cat_grad", np.float64)
        gsum = (_ptr * 4)(*[g[k].ctypes.data for k in ("gWt", "gV", "gb", "gc")])
        progress = np.array([N], dtype=np.int64)
        bad = X.copy()
        bad[2, 2] = 3
        p = _CatParams(N, D, args["V"].shape[1], _p(args["Wt"]), _p(args["V"]), _p(args["b"]),
                       _p(args["c"]), _p(args["in_off"]), _p(args["out_off"]))
        assert grad(ctypes.byref(p), _p(args["order"]), _p(bad), _ssize(N), _ssize(ROWS),
                    _p(np.zeros(ROWS)), gsum, None, _p(progress), _p(work)) == 1
        assert progress[0] == -1
        assert not g["gWt"].any() and not g["gV"].any()
    finally:
        _core.select_isa(before)
