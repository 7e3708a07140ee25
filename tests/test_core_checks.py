"""The compiled core refuses arguments that do not fit together.

Two lines of defence, tested separately:

1. The Cython wrappers of nadefast._core check that the arrays they receive
   agree with one another (shapes, lengths, the key) before they release the
   GIL, and raise ValueError naming the function and the mismatch.  Each
   test below changes one argument of an otherwise valid call.  The messages
   are specific, so a missing Cython check makes its test fail even where
   the C kernel would catch the problem next (with another message).

2. The C entry points check what they can see -- sizes, strides, the range
   of every index in order, given and stop, pointers -- and return
   NADE_EINVAL, which the wrappers turn into ValueError after the parallel
   loop.  Index ranges are values, not shapes, so the wrappers leave them to
   the kernels: those tests reach the C status through nadefast._core.  The
   C checks of sizes that the wrappers always get right (strides, block
   sizes, NULL pointers) are in test_c_entry_points.py.

Buffers are padded (spare rows, spare columns, generous scratch) so that,
were a check missing, the kernel would run without touching memory it does
not own and the test would fail on its assertion rather than crash -- NULL
pointers aside.

The valid calls are checked too (test_valid_calls_pass), so that every
refusal below is caused by the one argument a test changes.
"""

import re

import numpy as np
import pytest

from nadefast import _core

from core_arrays import (D, DTYPES, KEY, N, NO_TERMS, ROWS, data, dp_of, fixed_model, masks,
                         oa_model)


# One valid call per function, as {argument name: value} in the function's
# argument order; a test replaces one entry.

def call_args(fn, dtype):
    dp = dp_of(dtype)
    if fn in ("score", "sample", "grad", "hidden"):
        Wt, V, b, c, d, order = fixed_model(dtype)
        model = dict(Wt=Wt, V=V, b=b, c=c, d=d, order=order)
        if fn == "score":
            return {**model, "X": data(), "loglik": np.empty(ROWS),
                    "cond": np.empty((ROWS, N), dtype), "terms": np.empty((ROWS, N)),
                    "n_threads": 1}
        if fn == "sample":
            return {**model, "key": KEY, "row0": 0, "X": data(),
                    "given": np.full(ROWS, 2, dtype=np.intp), "greedy": False,
                    "loglik": np.empty(ROWS), "n_threads": 1}
        if fn == "grad":
            return {**model, "X": data(), "nll": np.empty(ROWS), "gWt": np.zeros((N, dp), dtype),
                    "gV": np.zeros((N, dp), dtype), "gb": np.zeros(dp, dtype),
                    "gc": np.zeros(N, dtype), "n_threads": 1}
        return {**model, "X": data(), "out": np.empty((ROWS, N, D), dtype), "n_threads": 1}
    if fn in ("oa_score", "oa_sample"):
        model = dict(zip(("Win", "Wmask", "b1", "Wdeep", "bdeep", "V", "c", "d"),
                         oa_model(dtype)))
        order = np.tile(np.arange(N, dtype=np.intp), (ROWS, 1))
        if fn == "oa_score":
            return {**model, "order": order, "X": data(), "stop": np.full(ROWS, 3, np.intp),
                    "loglik": np.empty(ROWS), "cond": np.empty((ROWS, N), dtype),
                    "terms": np.empty((ROWS, N)), "n_threads": 1}
        return {**model, "order": order, "key": KEY, "row0": 0, "X": data(),
                "given": np.full(ROWS, 1, np.intp), "greedy": False, "loglik": np.empty(ROWS),
                "n_threads": 1}
    if fn == "oa_output":
        return {"Z": np.zeros((ROWS, N), dtype), "X": data(), "mask": masks(), "scale": 1.0,
                "loss": np.empty(ROWS), "n_threads": 1}
    if fn == "oa_input_add":
        return {"Win": oa_model(dtype)[0], "X": data(), "mask": masks(),
                "A": np.zeros((ROWS, dp), dtype), "n_threads": 1}
    if fn == "oa_input_grad":
        return {"dA": np.ones((ROWS, dp), dtype), "X": data(), "mask": masks(),
                "gWin": np.empty((N, dp), dtype), "n_threads": 1}
    if fn == "adam":
        return {"p": np.zeros(7, dtype), "g": np.ones(7, dtype), "m": np.zeros(7, dtype),
                "v": np.zeros(7, dtype), "b1": 0.9, "b2": 0.999, "lr_t": 1e-3, "eps_t": 1e-8,
                "n_threads": 1}
    if fn == "oa_masks":
        return {"key": KEY, "row0": 0, "nrows": ROWS, "n": N, "n_threads": 1}
    if fn in ("uniform_bits", "logistic_noise"):
        return {"key": KEY, "row": 3, "n": N}
    raise AssertionError(fn)


def run(fn, dtype, **replace):
    args = call_args(fn, dtype)
    assert set(replace) <= set(args), set(replace) - set(args)
    args.update(replace)
    return getattr(_core, fn)(*args.values())


FUNCTIONS = ["score", "sample", "grad", "hidden", "oa_score", "oa_sample", "oa_output",
             "oa_input_add", "oa_input_grad", "adam", "oa_masks", "uniform_bits",
             "logistic_noise"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_valid_calls_pass(fn, dtype):
    run(fn, dtype)


# ------------------------------------------------- a 3-column X for a 5-feature model

X3 = data(n=3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn, message", [
    ("score", "score: X.shape[1] = 3 does not match n = Wt.shape[0] = 5"),
    ("sample", "sample: X.shape[1] = 3 does not match n = Wt.shape[0] = 5"),
    ("grad", "grad: X.shape[1] = 3 does not match n = Wt.shape[0] = 5"),
    ("hidden", "hidden: X.shape[1] = 3 does not match n = Wt.shape[0] = 5"),
    ("oa_score", "oa_score: X.shape[1] = 3 does not match n = Win.shape[0] = 5"),
    ("oa_sample", "oa_sample: X.shape[1] = 3 does not match n = Win.shape[0] = 5"),
    ("oa_output", "oa_output: X.shape[1] = 3 does not match n = Z.shape[1] = 5"),
    ("oa_input_add", "oa_input_add: X.shape[1] = 3 does not match n = Win.shape[0] = 5"),
    # oa_input_grad takes n from X: the 5-column mask is what disagrees
    ("oa_input_grad", "oa_input_grad: mask.shape[1] = 5 does not match n = X.shape[1] = 3"),
])
def test_three_column_X_for_five_features(fn, message, dtype):
    X = X3.copy()
    with pytest.raises(ValueError, match=re.escape(message)):
        run(fn, dtype, X=X)


# ------------------------------------------------- other mismatches, one per test

def _cases(dtype):
    """(function, {argument: replacement}, message) for one dtype."""
    dp = dp_of(dtype)
    Wt, V, b, c, d, order = fixed_model(dtype)
    Win, Wmask, b1, Wdeep, bdeep, Voa, coa, _ = oa_model(dtype)
    odd = dp // 2 + 4  # not a multiple of the lanes
    rows = f"the rows of X = {ROWS}"
    return [
        # the fixed-order model's own arrays
        ("score", {"V": V[:4]}, "score: V.shape[0] = 4 does not match n = Wt.shape[0] = 5"),
        ("score", {"V": np.zeros((N, 2 * dp), dtype)},
         f"score: V.shape[1] = {2 * dp} does not match dp = Wt.shape[1] = {dp}"),
        ("score", {"b": b[:-1]}, f"score: b.shape[0] = {dp - 1} does not match dp = Wt.shape[1]"),
        ("score", {"c": c[:4]}, "score: c.shape[0] = 4 does not match n = Wt.shape[0] = 5"),
        ("score", {"order": order[:4]}, "score: order.shape[0] = 4 does not match n"),
        ("score", {"d": dp + 1}, f"score: d = {dp + 1} must be in [1, dp = Wt.shape[1] = {dp}]"),
        ("score", {"d": 0}, "score: d = 0 must be in [1, dp"),
        ("score", {"Wt": np.zeros((N, odd), dtype), "V": np.zeros((N, odd), dtype),
                   "b": np.zeros(odd, dtype)},
         f"score: dp = Wt.shape[1] = {odd} is not a multiple of {dp}"),
        ("score", {"Wt": np.zeros((0, dp), dtype), "V": np.zeros((0, dp), dtype),
                   "c": np.zeros(0, dtype), "order": np.zeros(0, np.intp),
                   "X": np.zeros((ROWS, 0), np.uint8), "cond": np.empty((0, 0), dtype),
                   "terms": NO_TERMS},
         "score: n = Wt.shape[0] = 0 must be at least 1"),
        # score's outputs
        ("score", {"loglik": np.empty(3)}, f"score: loglik.shape[0] = 3 does not match {rows}"),
        ("score", {"cond": np.empty((ROWS, 3), dtype)},
         "score: cond.shape[1] = 3 does not match n = 5"),
        ("score", {"cond": np.empty((3, N), dtype)},
         f"score: cond.shape[0] = 3 does not match {rows}"),
        ("score", {"terms": np.empty((3, N))}, f"score: terms.shape[0] = 3 does not match {rows}"),
        ("score", {"terms": np.empty((ROWS, 6))}, "score: terms.shape[1] = 6 does not match n = 5"),
        # sample
        ("sample", {"given": np.zeros(3, np.intp)},
         f"sample: given.shape[0] = 3 does not match {rows}"),
        ("sample", {"loglik": np.empty(5)}, f"sample: loglik.shape[0] = 5 does not match {rows}"),
        ("sample", {"key": KEY[:1]}, "sample: key.shape[0] = 1; expected a 2-word Philox key"),
        ("sample", {"key": np.zeros(0, np.uint64)}, "sample: key.shape[0] = 0"),
        ("sample", {"V": V[:, :0]},
         f"sample: V.shape[1] = 0 does not match dp = Wt.shape[1] = {dp}"),
        # grad
        ("grad", {"nll": np.empty(3)}, f"grad: nll.shape[0] = 3 does not match {rows}"),
        ("grad", {"gWt": np.zeros((4, dp), dtype)}, "grad: gWt.shape[0] = 4 does not match n"),
        ("grad", {"gV": np.zeros((N, 2 * dp), dtype)},
         f"grad: gV.shape[1] = {2 * dp} does not match dp"),
        ("grad", {"gb": np.zeros(D, dtype)},
         f"grad: gb.shape[0] = {D} does not match dp = Wt.shape[1] = {dp}"),
        ("grad", {"gc": np.zeros(N + 1, dtype)},
         "grad: gc.shape[0] = 6 does not match n = Wt.shape[0] = 5"),
        ("grad", {"b": b[:8]}, "grad: b.shape[0] = 8 does not match dp"),
        # hidden
        ("hidden", {"out": np.empty((ROWS, N, D + 1), dtype)},
         "hidden: out.shape[2] = 4 does not match d = 3"),
        ("hidden", {"out": np.empty((ROWS, 4, D), dtype)},
         "hidden: out.shape[1] = 4 does not match n"),
        ("hidden", {"out": np.empty((ROWS + 1, N, D), dtype)},
         f"hidden: out.shape[0] = 5 does not match {rows}"),
        # the order-agnostic model's arrays
        ("oa_score", {"Wmask": Wmask[:4]},
         "oa_score: Wmask.shape[0] = 4 does not match n = Win.shape[0] = 5"),
        ("oa_score", {"b1": b1[:-1]},
         f"oa_score: b1.shape[0] = {dp - 1} does not match dp = Win.shape[1]"),
        ("oa_score", {"V": Voa[:3]},
         "oa_score: V.shape[0] = 3 does not match n = Win.shape[0] = 5"),
        ("oa_score", {"c": coa[:2]}, "oa_score: c.shape[0] = 2 does not match n"),
        ("oa_score", {"Wdeep": np.zeros((1, D + 1, dp), dtype)},
         "oa_score: Wdeep.shape[1] = 4 does not match d = 3"),
        ("oa_score", {"Wdeep": np.zeros((1, D, 2 * dp), dtype)},
         f"oa_score: Wdeep.shape[2] = {2 * dp} does not match dp"),
        ("oa_score", {"bdeep": np.zeros((2, D), dtype)},
         "oa_score: bdeep.shape[0] = 2 does not match layers - 1 = Wdeep.shape[0] = 1"),
        ("oa_score", {"bdeep": np.zeros((1, D + 2), dtype)},
         "oa_score: bdeep.shape[1] = 5 does not match d = 3"),
        ("oa_score", {"d": dp + 1},
         f"oa_score: d = {dp + 1} must be in [1, dp = Win.shape[1] = {dp}]"),
        ("oa_score", {"order": np.zeros((2, N), np.intp)},
         f"oa_score: order.shape[0] = 2 must be 1 (one ordering) or {rows}"),
        ("oa_score", {"order": np.zeros((1, 4), np.intp)},
         "oa_score: order.shape[1] = 4 does not match n = Win.shape[0] = 5"),
        ("oa_score", {"stop": np.zeros(3, np.intp)},
         f"oa_score: stop.shape[0] = 3 does not match {rows}"),
        ("oa_score", {"loglik": np.empty(0)},
         f"oa_score: loglik.shape[0] = 0 does not match {rows}"),
        ("oa_score", {"cond": np.empty((ROWS, 4), dtype)},
         "oa_score: cond.shape[1] = 4 does not match n = 5"),
        ("oa_score", {"terms": np.empty((1, N))},
         f"oa_score: terms.shape[0] = 1 does not match {rows}"),
        ("oa_sample", {"given": np.zeros(1, np.intp)},
         f"oa_sample: given.shape[0] = 1 does not match {rows}"),
        ("oa_sample", {"loglik": np.empty(3)},
         f"oa_sample: loglik.shape[0] = 3 does not match {rows}"),
        ("oa_sample", {"key": np.zeros(3, np.uint64)},
         "oa_sample: key.shape[0] = 3; expected a 2-word"),
        ("oa_sample", {"Win": np.zeros((N, dp + 1), dtype)},
         f"oa_sample: dp = Win.shape[1] = {dp + 1} is not a multiple"),
        # the order-agnostic objective
        ("oa_output", {"mask": masks(rows=3)},
         "oa_output: mask.shape[0] = 3 does not match the rows of Z = 4"),
        ("oa_output", {"loss": np.empty(5)},
         "oa_output: loss.shape[0] = 5 does not match the rows of Z = 4"),
        ("oa_output", {"X": data(rows=2)},
         "oa_output: X.shape[0] = 2 does not match the rows of Z = 4"),
        ("oa_output", {"Z": np.zeros((ROWS, 0), dtype), "X": data(n=0), "mask": masks(n=1)[:, :0]},
         "oa_output: n = Z.shape[1] = 0 must be at least 1"),
        ("oa_input_add", {"A": np.zeros((ROWS, dp + 1), dtype)},
         f"oa_input_add: A.shape[1] = {dp + 1} does not match dp = Win.shape[1] = {dp}"),
        ("oa_input_add", {"A": np.zeros((ROWS + 1, dp), dtype)},
         f"oa_input_add: A.shape[0] = 5 does not match {rows}"),
        ("oa_input_add", {"mask": masks(rows=2)},
         f"oa_input_add: mask.shape[0] = 2 does not match {rows}"),
        ("oa_input_grad", {"gWin": np.empty((N + 1, dp), dtype)},
         "oa_input_grad: gWin.shape[0] = 6 does not match n = X.shape[1] = 5"),
        ("oa_input_grad", {"gWin": np.empty((N, 1), dtype)},
         f"oa_input_grad: gWin.shape[1] = 1 does not match dp = dA.shape[1] = {dp}"),
        ("oa_input_grad", {"dA": np.ones((ROWS + 2, dp), dtype)},
         f"oa_input_grad: dA.shape[0] = 6 does not match {rows}"),
        # the optimizer
        ("adam", {"g": np.ones(6, dtype)}, "adam: g.shape[0] = 6 does not match p.shape[0] = 7"),
        ("adam", {"m": np.zeros(8, dtype)}, "adam: m.shape[0] = 8 does not match p.shape[0] = 7"),
        ("adam", {"v": np.zeros(0, dtype)}, "adam: v.shape[0] = 0 does not match p.shape[0] = 7"),
        # random numbers
        ("oa_masks", {"key": KEY[:1]}, "oa_masks: key.shape[0] = 1; expected a 2-word Philox key"),
        ("oa_masks", {"n": 0}, "oa_masks: need 0 < n < 2**31"),
        ("uniform_bits", {"key": np.zeros(3, np.uint64)}, "uniform_bits: key.shape[0] = 3"),
        ("logistic_noise", {"key": np.zeros(0, np.uint64)}, "logistic_noise: key.shape[0] = 0"),
    ]


def _case_ids():
    return [f"{fn}-{'+'.join(rep)}-{i}" for i, (fn, rep, _) in enumerate(_cases(np.float64))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(_cases(np.float64))), ids=_case_ids())
def test_mismatched_arguments_are_named(case, dtype):
    fn, replace, message = _cases(dtype)[case]
    with pytest.raises(ValueError, match=re.escape(message)):
        run(fn, dtype, **replace)


def test_sizes_the_kernels_do_not_take():
    with pytest.raises(ValueError, match=re.escape("block_rows: need dp >= 1")):
        _core.block_rows(0, np.float32)
    with pytest.raises(ValueError, match="lanes: the kernels take float32 or float64, not int16"):
        _core.lanes(np.int16)


# --------------------------------------- C statuses, reached through nadefast._core

C_REFUSAL = re.escape("the C kernel rejected its arguments (NADE_EINVAL)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["score", "grad", "hidden", "sample"])
@pytest.mark.parametrize("bad", [N, -1])
def test_order_out_of_range_is_refused_by_the_kernel(fn, bad, dtype):
    order = np.arange(N, dtype=np.intp)
    order[2] = bad
    X = data(spare=1)  # X[r, order[k]] stays inside the buffer
    replace = {"order": order, "X": X}
    if fn == "score":
        replace["cond"] = np.empty((0, 0), dtype)  # cond would be written through order
    with pytest.raises(ValueError, match=f"^{fn}: {C_REFUSAL}"):
        run(fn, dtype, **replace)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["sample", "oa_sample"])
@pytest.mark.parametrize("bad", [N + 1, -1])
def test_given_out_of_range_is_refused_by_the_kernel(fn, bad, dtype):
    given = np.full(ROWS, 2, dtype=np.intp)
    given[3] = bad
    with pytest.raises(ValueError, match=f"^{fn}: {C_REFUSAL}"):
        run(fn, dtype, given=given)


@pytest.mark.parametrize("dtype", DTYPES)
def test_stop_out_of_range_is_refused_by_the_kernel(dtype):
    stop = np.full(ROWS, 3, dtype=np.intp)
    stop[0] = N + 1  # row 0's ordering is followed by row 1's: reads stay in memory
    with pytest.raises(ValueError, match=f"^oa_score: {C_REFUSAL}"):
        run("oa_score", dtype, stop=stop, cond=np.empty((0, 0), dtype), terms=NO_TERMS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["oa_score", "oa_sample"])
def test_a_row_ordering_out_of_range_is_refused_by_the_kernel(fn, dtype):
    # the weights of a sixth feature exist behind the model's arrays
    model = dict(zip(("Win", "Wmask", "b1", "Wdeep", "bdeep", "V", "c", "d"),
                     oa_model(dtype, spare=1)))
    order = np.tile(np.arange(N, dtype=np.intp), (ROWS, 1))
    order[2, 4] = N  # row 2 only: each row's ordering is checked, not just the first
    replace = dict(model, order=order, X=data(spare=1))
    if fn == "oa_score":
        replace.update(cond=np.empty((0, 0), dtype), terms=NO_TERMS)
    with pytest.raises(ValueError, match=f"^{fn}: {C_REFUSAL}"):
        run(fn, dtype, **replace)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_fully_observed_row_is_refused_by_the_kernel(dtype):
    full = masks()
    full[1] = 1
    message = f"^oa_output: {C_REFUSAL}: a row of mask observes every feature"
    with pytest.raises(ValueError, match=message):
        run("oa_output", dtype, mask=full)
