"""The order-agnostic score with its per-position glue fused (nadefast/backends/_triton_oa.py)
in Triton's CPU interpreter, against the compiled core.

Through the estimators (the torch backend on CPU tensors, NADEFAST_FUSED forced to "always"):
score_samples along one shared ordering, ensembles (per-row orderings over the (ordering,
row) pairs), log_marginal (per-row orderings and a shared one, with `stop`) and
prefix_log_marginals (the per-position terms) equal the compiled core's: float64 to 1e-10
relative, float32 to 1e-4; 1 to 3 layers (one launch for the whole sweep at L = 1, GEMMs and
a step kernel a position above), d padded (5 -> 16) and not (16), 37 rows (a multiple of no
block).  The kernel itself at several block sizes, one row, one feature, no rows; that the
comparison can fail; which requests take the fused path; bad input.

TRITON_INTERPRET=1 is set before the kernels are imported (as tests/test_triton_kernels.py);
NADEFAST_TORCH_DEVICE=cuda runs the same checks compiled on a GPU.  Without triton the file
skips, unless NADEFAST_REQUIRE_TRITON=1 makes that a failure.
"""

import pickle

import numpy as np
import pytest

from triton_session import DEVICE, RTOL, torch  # first: the interpreter, or a skip

import nadefast  # noqa: E402
from nadefast import OrderAgnosticNADE  # noqa: E402
from nadefast.backends import _torch  # noqa: E402
from nadefast.backends import _triton_oa  # noqa: E402


def _pair(rng, dtype, layers, d=5, rows=37, n=13, output="bernoulli"):
    """A compiled OrderAgnosticNADE with random parameters, the same on the torch backend,
    and binary rows."""
    X = (rng.random((rows, n)) < 0.4).astype(np.uint8)
    X[0], X[-1] = 0, 1
    m = OrderAgnosticNADE(d, n_layers=layers, dtype=dtype, ordering="random", random_state=0,
                          output=output).fit(X, epochs=0)
    for name in ("W", "M", "b", "W_hidden", "b_hidden", "V", "c"):
        setattr(m, name + "_", rng.normal(0.0, 0.8, size=getattr(m, name + "_").shape))
    return m, pickle.loads(pickle.dumps(m)).set_params(backend="torch", device=DEVICE), X


def _close(actual, expected, rtol, what):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    err = np.abs(actual - expected).max(initial=0.0) / max(np.abs(expected).max(initial=0), 1e-300)
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"


@pytest.fixture
def fused_calls(monkeypatch):
    """FUSED forced on; the positions of every call of the fused score, in order."""
    monkeypatch.setattr(_torch, "FUSED", "always")
    calls = []
    score = _triton_oa.score

    def counted(xs, orders, positions, *args, **kwargs):
        calls.append((xs.shape[0], orders.shape[0], positions))
        return score(xs, orders, positions, *args, **kwargs)

    monkeypatch.setattr(_triton_oa, "score", counted)
    return calls


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layers,d", [(1, 5), (2, 16), (3, 5)])
def test_fused_oa_score_is_the_compiled_cores(dtype, layers, d, rng, fused_calls):
    m, t, X = _pair(rng, dtype, layers, d)
    tol = RTOL[dtype]
    _close(t.score_samples(X), m.score_samples(X), tol, "score_samples")
    assert fused_calls == [(37, 1, 13)]  # one shared ordering, every position
    _close(t.score_samples(X, n_orderings=3, random_state=4),
           m.score_samples(X, n_orderings=3, random_state=4), tol, "ensemble of 3")
    assert fused_calls[-1] == (3 * 37, 3 * 37, 13)  # one sweep, per-row orderings
    observed = rng.random(X.shape) < 0.5
    observed[1] = False  # a row with nothing observed: log p = 0
    _close(t.log_marginal(X, observed), m.log_marginal(X, observed), tol, "log_marginal")
    assert fused_calls[-1][:2] == (37, 37) and fused_calls[-1][2] == observed.sum(1).max()
    shared = np.broadcast_to(rng.random(13) < 0.4, X.shape)
    _close(t.log_marginal(X, shared), m.log_marginal(X, shared), tol, "log_marginal, one mask")
    assert fused_calls[-1] == (37, 1, shared[0].sum())
    _close(t.prefix_log_marginals(X), m.prefix_log_marginals(X), tol, "prefix_log_marginals")
    assert len(fused_calls) == 5


@pytest.mark.parametrize("block_rows,num_warps", [(1, 1), (4, 2), (16, 4)])
def test_fused_oa_kernel_blocks_and_edges(block_rows, num_warps, rng):
    """The kernel called directly (block sizes the default rule would not pick), against the
    compiled core's prefix log-probabilities; one row, one feature, no rows."""
    m, t, X = _pair(rng, "float64", 2, d=6, rows=11)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_torch, "FUSED", "always")
        module, params = t._fitted_kernels()._fused()
    orders = np.array([rng.permutation(13) for _ in range(11)])
    stop = rng.integers(0, 14, size=11)
    expected = m._score(X, orders=orders, stop=stop)
    xs = torch.as_tensor(X, dtype=torch.int8, device=DEVICE)
    o = torch.as_tensor(orders, dtype=torch.int32, device=DEVICE)
    s = torch.as_tensor(stop, dtype=torch.int32, device=DEVICE)
    for rows in (11, 1):
        got = module.score(xs[:rows], o[:rows], int(stop[:rows].max()), *params, stop=s[:rows],
                           block_rows=block_rows, num_warps=num_warps)
        _close(got.cpu().numpy(), expected[:rows], 1e-10, f"{rows} rows")
    assert module.score(xs[:0], o[:0], 13, *params).shape == (0,)
    one, t1, X1 = _pair(rng, "float64", 3, d=3, rows=5, n=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_torch, "FUSED", "always")
        _close(t1.score_samples(X1), one.score_samples(X1), 1e-10, "one feature")


@pytest.fixture
def fused_draws(monkeypatch):
    """FUSED forced on; (rows, shared ordering, greedy, kept) of every fused sampler call."""
    monkeypatch.setattr(_torch, "FUSED", "always")
    calls = []
    sample = _triton_oa.sample

    def counted(xs, orders, eps, kept, *args, **kwargs):
        calls.append((xs.shape[0], orders.shape[0] == 1, eps is None, kept is not None))
        return sample(xs, orders, eps, kept, *args, **kwargs)

    monkeypatch.setattr(_triton_oa, "sample", counted)
    return calls


def _same_draws(a, b, dtype, what):
    """float64: identical; float32: at most 1 row in 100 (at least 1) may differ, a logit
    within float32 rounding of its noise (as tests/test_torch_backend.py)."""
    assert a.shape == b.shape, what
    bad = np.flatnonzero((a != b).reshape(-1, a.shape[-1]).any(axis=1))
    allowed = 0 if dtype == "float64" else max(1, a.reshape(-1, a.shape[-1]).shape[0] // 100)
    assert len(bad) <= allowed, f"{what}: {len(bad)} rows differ"


@pytest.mark.parametrize("layers,d,dtype", [(1, 5, "float64"), (2, 16, "float32"),
                                           (3, 5, "float64"), (2, 5, "float32")])
def test_fused_oa_samples_are_the_compiled_cores(dtype, layers, d, rng, fused_draws):
    """sample (one shared ordering), sample_rows (rows 1000.. of a key: the row enters the
    noise's counter), conditional_sample (per-row orderings, kept prefixes) and impute's
    greedy completion draw the compiled core's values."""
    m, t, X = _pair(rng, dtype, layers, d)
    drawn = t.sample(40, random_state=7)
    _same_draws(drawn, m.sample(40, random_state=7), dtype, "sample")
    assert fused_draws == [(40, True, False, False)]
    assert len(np.unique(drawn, axis=0)) > 1  # not a constant
    key = nadefast._random.philox_key(7)
    _same_draws(t.sample_rows(key, 1000, 1021), m.sample_rows(key, 1000, 1021), dtype,
                "sample_rows")
    observed = rng.random(X.shape) < 0.4
    _same_draws(t.conditional_sample(X, observed, random_state=9),
                m.conditional_sample(X, observed, random_state=9), dtype, "conditional_sample")
    assert fused_draws[-1] == (37, False, False, True)
    _same_draws(t.impute(X, observed), m.impute(X, observed), dtype, "impute")
    assert fused_draws[-1] == (37, False, True, True)


def test_fused_oa_sample_check_can_fail(rng, fused_draws):
    m, t, _ = _pair(rng, "float64", 2)
    with pytest.raises(AssertionError, match="rows differ"):
        _same_draws(t.sample(50, random_state=1), m.sample(50, random_state=2), "float64", "")


def test_fused_oa_check_can_fail(rng, fused_calls):
    """A change of one output weight by 1e-6 is caught at float64's tolerance."""
    m, t, X = _pair(rng, "float64", 2)
    V = t.V_.copy()
    V[3, 2] += 1e-6
    t.V_ = V
    with pytest.raises(AssertionError, match="relative error"):
        _close(t.score_samples(X, n_orderings=2, random_state=1),
               m.score_samples(X, n_orderings=2, random_state=1), 1e-10, "perturbed")
    assert fused_calls


def test_fused_oa_path_selection(rng, fused_calls, monkeypatch):
    """conditionals (not fused) and the categorical output take the torch path, still right;
    NADEFAST_FUSED=never takes it everywhere."""
    m, t, X = _pair(rng, "float64", 2, d=4, rows=9)
    _close(t.conditionals(X), m.conditionals(X), 1e-10, "conditionals")
    assert fused_calls == []
    monkeypatch.setattr(_torch, "FUSED", "never")
    _close(t.score_samples(X), m.score_samples(X), 1e-10, "torch path")
    assert fused_calls == []
    monkeypatch.setattr(_torch, "FUSED", "always")
    mc, tc, _ = _pair(rng, "float64", 2, d=4, rows=9, output="categorical")
    _close(tc.score_samples(X), mc.score_samples(X), 1e-10, "categorical")
    assert fused_calls == []


def test_fused_oa_rejects_bad_input(rng):
    m, t, X = _pair(rng, "float64", 2, d=4, rows=6)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_torch, "FUSED", "always")
        module, params = t._fitted_kernels()._fused()
    xs = torch.as_tensor(X, dtype=torch.int8, device=DEVICE)
    o = torch.as_tensor(np.tile(np.arange(13), (6, 1)), dtype=torch.int32, device=DEVICE)
    with pytest.raises(ValueError, match="orders must be"):
        module.score(xs, o[:2], 13, *params)
    with pytest.raises(ValueError, match="positions must"):
        module.score(xs, o, 14, *params)
    with pytest.raises(ValueError, match="terms must"):
        module.score(xs, o, 12, *params, terms=torch.empty((6, 13), dtype=torch.float64))
    with pytest.raises(ValueError, match="stop must"):
        module.score(xs, o, 13, *params, stop=torch.zeros(5, dtype=torch.int32))
    with pytest.raises(ValueError, match="contiguous"):
        module.score(xs, o.T.contiguous().T, 13, *params)
    with pytest.raises(ValueError, match="eps must"):
        module.sample(xs, o, torch.zeros((6, 12), dtype=torch.float64), None, *params)
    with pytest.raises(ValueError, match="kept must"):
        module.sample(xs, o, None, torch.zeros(7, dtype=torch.int32), *params)
    with pytest.raises(ValueError, match="orders must"):
        module.sample(xs, o[:, :3], None, None, *params)
    with pytest.raises(TypeError, match="orders must be int32"):
        module.score(xs, o.to(torch.float32), 13, *params)
    with pytest.raises(TypeError, match="values must be int8"):
        module.score(xs.to(torch.float64), o, 13, *params)
    with pytest.raises(TypeError, match="share float32 or float64"):
        module.score(xs, o, 13, params[0].to(torch.float32), *params[1:])
    with pytest.raises(TypeError, match="eps must be float64"):
        module.sample(xs, o, torch.zeros((6, 13), dtype=torch.float32), None, *params)
    with pytest.raises(TypeError, match="kept must be int32 or int64"):
        module.sample(xs, o, None, torch.zeros(6, dtype=torch.float64), *params)
    with pytest.raises(TypeError, match="stop must be int32 or int64"):
        module.score(xs, o, 13, *params, stop=torch.zeros(6, dtype=torch.float32))
    with pytest.raises(TypeError, match="terms must be float64"):
        module.score(xs, o, 13, *params, terms=torch.empty((6, 13), dtype=torch.float32))
