"""The fused Triton kernels (nadefast/backends/_triton.py) in Triton's CPU interpreter,
against the compiled core and NumPy's Philox.

The noise kernel's draws are NumPy's Philox stream bit for bit and its noise the compiled
core's (`_core.logistic_noise`); the fused score, loss and gradient equal the compiled
core's (float64: 1e-10 relative; float32: 1e-4, its float32 arithmetic against ours); a
fit through the fused gradient takes the compiled core's steps; the fused sampler's
draws equal the compiled core's: float64 identical; float32 identical except near ties,
a row allowed to differ only where, at its first differing position k, the logit z_k
(computed in float64 by NumPy along the compiled core's own sample) lies within 1e-4
(1 + |z_k|) of its noise.  Several block sizes, rows and n not multiples of a block, small
d (the padded columns), the skip of the update where a block drew no 1 and its absence.

TRITON_INTERPRET=1 is set here, before the kernels are imported (Triton decides at
decoration); NADEFAST_TORCH_DEVICE=cuda runs the same checks compiled on a GPU instead.
Without triton the file skips, unless NADEFAST_REQUIRE_TRITON=1 (CI) makes that a failure.
"""

import importlib.util
import json
import os
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

from triton_session import DEVICE, RTOL, _triton, torch  # first: the interpreter, or a skip

import nadefast._core as core  # noqa: E402
from nadefast import NADE  # noqa: E402
from nadefast._random import philox_key  # noqa: E402
from nadefast.backends import _torch  # noqa: E402
from nadefast.backends import _triton_grad  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
NEAR_TIE = 1e-4  # float32: |z - eps| <= NEAR_TIE (1 + |z|) may flip a draw


def _model(dtype, rng, rows=37, n=13, d=5, bias=0.0, scale=1.5):
    """A compiled NADE with random parameters (c shifted by `bias`: negative gives sparse
    samples, as MNIST's) and binary data."""
    X = (rng.random((rows, n)) < 0.3).astype(np.uint8)
    m = NADE(d, dtype=dtype, ordering="random", random_state=0).fit(X, epochs=0)
    m.W_ = rng.normal(0, scale, m.W_.shape)
    m.V_ = rng.normal(0, scale, m.V_.shape)
    m.c_ = rng.normal(bias, 1.0, m.c_.shape)
    m.b_ = rng.normal(0, 1.0, m.b_.shape)
    return m, X


def _params(m):
    """The model by chain position as the kernels take it: W's columns and V (n, d), c, b."""
    dt = torch.float32 if m.W_.dtype == np.float32 else torch.float64
    t = lambda a: torch.tensor(np.ascontiguousarray(a), dtype=dt, device=DEVICE)  # noqa: E731
    return t(m.W_.T), t(m.V_), t(m.c_), t(m.b_)


def _by_position(m, X):
    return torch.tensor(np.ascontiguousarray(X[:, m.ordering_]), dtype=torch.int8, device=DEVICE)


def _logits(m, xs):
    """float64 logits (rows, n) by position along values xs (rows, n) by position: NumPy."""
    W, V, c, b = (np.asarray(a, dtype=np.float64) for a in (m.W_, m.V_, m.c_, m.b_))
    A = b + np.concatenate([np.zeros((len(xs), 1, len(b))),
                            np.cumsum(xs[:, :, None] * W.T[None], axis=1)[:, :-1]], axis=1)
    return np.einsum("rkd,kd->rk", 1.0 / (1.0 + np.exp(-A)), V) + c


def _assert_same_draws(ours, ref, m, key, row0, dtype, what, greedy=False):
    """ours, ref (rows, n) by position; ref the compiled core's.  float64: identical;
    float32: rows differ only at a near tie (module docstring)."""
    assert ours.shape == ref.shape, what
    bad = np.flatnonzero((ours != ref).any(axis=1))
    if dtype == "float64":
        assert len(bad) == 0, f"{what}: rows {bad.tolist()} differ"
        return
    z = _logits(m, ref.astype(np.float64))
    for r in bad:
        k = int(np.flatnonzero(ours[r] != ref[r])[0])
        eps = 0.0 if greedy else core.logistic_noise(key, row0 + int(r), ref.shape[1])[k]
        gap = abs(z[r, k] - eps)
        assert gap <= NEAR_TIE * (1 + abs(z[r, k])), \
            f"{what}: row {r} differs at position {k}, logit {z[r, k]:.6g} vs noise {eps:.6g}"


# ---------------------------------------------------------------------- the noise kernel


@pytest.mark.parametrize("native", [True, False], ids=["umulhi", "halves"])
@pytest.mark.parametrize("row0", [0, 2**32 - 3, 2**64 - 4])
def test_noise_bits_are_numpys_philox(row0, native):
    """The raw 32-bit draws are numpy.random.Philox(key, counter=[0, row, 0, 0])'s, low
    half of each word first, for counters that carry across 2^32 and wrap at 2^64; n (21)
    not a multiple of a Philox block (8), rows (5) not of the kernel's block (4)."""
    rng = np.random.default_rng(row0 % 997)
    keys = (np.array([0, 0], dtype=np.uint64), np.array([2**64 - 1] * 2, dtype=np.uint64),
            rng.integers(0, 2**64 - 1, size=2, dtype=np.uint64, endpoint=True))
    for key in keys:
        bits = _triton.noise(key, row0, 5, 21, DEVICE, bits=True, block_rows=4, block_words=2,
                             native_mulhi=native).cpu().numpy()
        for r in range(5):
            counter = np.array([0, (row0 + r) % 2**64, 0, 0], dtype=np.uint64)
            words = np.random.Philox(key=key, counter=counter).random_raw(11)
            expected = np.stack([words & 0xFFFFFFFF, words >> 32], axis=1).reshape(-1)[:21]
            np.testing.assert_array_equal(bits[r].astype(np.uint64), expected, err_msg=str(r))


def test_noise_is_the_compiled_cores():
    """The float64 noise log(u) - log(1 - u) equals _core.logistic_noise to rounding."""
    key = philox_key(11)
    eps = _triton.noise(key, 2**40, 3, 30, DEVICE).cpu().numpy()
    for r in range(3):
        np.testing.assert_allclose(eps[r], core.logistic_noise(key, 2**40 + r, 30),
                                   rtol=1e-14, atol=1e-14)
    assert not np.allclose(eps[0], eps[1])  # rows have their own streams


# ---------------------------------------------------------------------- the fused score


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("block_rows, skip", [(2, True), (4, True), (16, True), (4, False)])
def test_fused_score_is_the_compiled_cores(dtype, block_rows, skip, rng):
    for bias in (0.0, -3.0):  # dense, and sparse rows: blocks that skip their update
        m, X = _model(dtype, rng, bias=bias)
        X = (rng.random(X.shape) < (0.3 if bias == 0 else 0.05)).astype(np.uint8)
        ours = _triton.score(_by_position(m, X), *_params(m), block_rows=block_rows,
                             skip=skip).cpu().numpy()
        ref = m.score_samples(X)  # the compiled core
        assert ours.dtype == np.float64
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        assert err <= RTOL[dtype], f"relative error {err:.3g}"


def test_fused_score_of_confident_models_keeps_small_terms(rng):
    """Logits of +-40: terms of ~1e-18, which log(1 + exp(-|t|)) would round to 0."""
    m, X = _model("float64", rng, rows=9, n=4, d=2, scale=0.0)
    m.c_ = np.array([40.0, -40.0, 40.0, -40.0])
    X = np.tile(np.array([1, 0, 1, 0], dtype=np.uint8)[np.argsort(m.ordering_)], (9, 1))
    ours = _triton.score(_by_position(m, X), *_params(m)).cpu().numpy()
    expected = -4 * np.log1p(np.exp(-40.0))  # plain NumPy, along the certain values
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_fused_score_check_can_fail(rng):
    """Another model's score is not this one's: the comparisons above can fail."""
    m, X = _model("float64", rng)
    other = pickle.loads(pickle.dumps(m))
    other.c_ = other.c_ + 0.1
    ours = _triton.score(_by_position(other, X), *_params(other)).cpu().numpy()
    assert np.abs(ours - m.score_samples(X)).max() > 1e-3


# --------------------------------------------------------------------- the fused sampler


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("block_rows, skip", [(2, True), (4, True), (16, True), (4, False)])
def test_fused_samples_are_the_compiled_cores(dtype, block_rows, skip, rng):
    key, row0, rows = philox_key(5), 1000, 37
    for bias in (0.0, -3.0):
        m, _ = _model(dtype, rng, bias=bias)
        n = m.n_features_in_
        xs = torch.zeros((rows, n), dtype=torch.int8, device=DEVICE)
        eps = _triton.noise(key, row0, rows, n, DEVICE)
        _triton.sample(xs, eps, None, *_params(m), block_rows=block_rows, skip=skip)
        ref = m.sample_rows(key, row0, row0 + rows)[:, m.ordering_]  # the compiled core
        _assert_same_draws(xs.cpu().numpy(), ref, m, key, row0, dtype, f"bias {bias}")
        if bias < 0 and block_rows == 4:  # the skip was exercised: a block drew no 1
            blocks = ref[:36].reshape(9, 4, n).any(axis=1)
            assert not blocks.all()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_greedy_and_kept_prefix_are_the_compiled_cores(dtype, rng):
    """Kept prefixes (conditional_sample, given) and greedy completion (impute's mode)
    through the estimator, the torch backend forced onto the fused kernels."""
    m, X = _model(dtype, rng)
    t = pickle.loads(pickle.dumps(m)).set_params(backend="torch", device=DEVICE)
    n = X.shape[1]
    masks = (np.arange(n) < rng.integers(0, n + 1, size=len(X))[:, None])
    masks = masks[:, np.argsort(m.ordering_)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_torch, "FUSED", "always")
        mp.setattr(_triton, "BLOCK_ROWS", 8)
        cond_t = t.conditional_sample(X, masks, n_samples=2, random_state=9)
        mode_t = t.impute(X, masks)
        sample_t = t.sample(45, random_state=3)
        score_t = t.score_samples(X)
    cond_c = m.conditional_sample(X, masks, n_samples=2, random_state=9)
    mode_c = m.impute(X, masks)
    assert np.array_equal(cond_t[masks[None].repeat(2, 0)], cond_c[masks[None].repeat(2, 0)])
    assert (cond_t.reshape(-1, n) != cond_c.reshape(-1, n)).any(axis=1).sum() <= (
        0 if dtype == "float64" else 2)
    assert (mode_t != mode_c).any(axis=1).sum() <= (0 if dtype == "float64" else 1)
    _assert_same_draws(sample_t[:, m.ordering_], m.sample(45, random_state=3)[:, m.ordering_],
                       m, philox_key(3), 0, dtype, "sample")
    err = np.abs(score_t - m.score_samples(X)).max() / np.abs(score_t).max()
    assert err <= RTOL[dtype]


def test_fused_sampler_edge_sizes(rng):
    """One feature, one hidden unit, one row, no rows."""
    m, _ = _model("float64", rng, rows=3, n=1, d=1)
    key = philox_key(2)
    xs = torch.zeros((1, 1), dtype=torch.int8, device=DEVICE)
    _triton.sample(xs, _triton.noise(key, 0, 1, 1, DEVICE), None, *_params(m), block_rows=4)
    assert xs.cpu().numpy().tolist() == m.sample_rows(key, 0, 1).tolist()
    empty = torch.zeros((0, 1), dtype=torch.int8, device=DEVICE)
    assert _triton.sample(empty, None, None, *_params(m)).shape == (0, 1)
    assert _triton.score(empty, *_params(m)).shape == (0,)


def test_fused_sample_check_can_fail(rng):
    """Another key's draws are not these: the comparisons above can fail."""
    m, _ = _model("float64", rng)
    n = m.n_features_in_
    xs = torch.zeros((37, n), dtype=torch.int8, device=DEVICE)
    _triton.sample(xs, _triton.noise(philox_key(6), 0, 37, n, DEVICE), None, *_params(m))
    ref = m.sample_rows(philox_key(5), 0, 37)[:, m.ordering_]
    assert (xs.cpu().numpy() != ref).any(axis=1).sum() > 5


# ------------------------------------------------------------------- the fused gradient


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("block_rows", [2, 16])
def test_fused_gradient_is_the_compiled_cores(dtype, block_rows, rng, monkeypatch):
    """loss_and_gradient through the fused kernel (the torch backend forced onto it) against
    the compiled core: dense and sparse rows, 37 rows in blocks that do not divide them,
    launches of at most 3 programs (their partials summed by the caller), blocks of 2 and 16
    rows."""
    monkeypatch.setattr(_torch, "FUSED", "always")
    monkeypatch.setattr(_triton, "BLOCK_ROWS", block_rows)
    monkeypatch.setattr(_triton_grad, "MAX_PROGRAMS", 3)
    for bias in (0.0, -3.0):
        m, X = _model(dtype, rng, bias=bias)
        X = (rng.random(X.shape) < (0.3 if bias == 0 else 0.05)).astype(np.uint8)
        t = pickle.loads(pickle.dumps(m)).set_params(backend="torch", device=DEVICE)
        loss_t, grads_t = t.loss_and_gradient(X)
        loss_c, grads_c = m.loss_and_gradient(X)  # the compiled core
        assert abs(loss_t - loss_c) <= RTOL[dtype] * abs(loss_c)
        assert set(grads_t) == set(grads_c) == {"W", "b", "V", "c"}
        for name, g in grads_c.items():
            err = np.abs(grads_t[name] - g).max() / np.abs(g).max()
            assert err <= RTOL[dtype], f"d{name}: relative error {err:.3g}"
        assert np.all(grads_t["W"][:, -1] == 0)  # the last position's column gets nothing
    # partials bounded by bytes: one program a launch, the same sums
    W, V, c, b = _params(m)
    xs = _by_position(m, X)
    nll, parts = _triton_grad.loss_and_gradient(xs, W, V, c, b, block_rows=block_rows)
    nll_1, parts_1 = _triton_grad.loss_and_gradient(xs, W, V, c, b, block_rows=block_rows,
                                                    max_bytes=1)
    assert abs(nll_1 - nll) <= 1e-12 * abs(nll)
    for one, many in zip(parts_1, parts):
        np.testing.assert_allclose(one.cpu().numpy(), many.cpu().numpy(), rtol=RTOL[dtype],
                                   atol=RTOL[dtype] * float(many.abs().max()))


def test_fused_fit_takes_the_compiled_cores_steps(rng, monkeypatch):
    """Two epochs of Adam (float64) through the fused gradient reach the compiled core's
    parameters, and the fused gradient repeats bit for bit."""
    monkeypatch.setattr(_torch, "FUSED", "always")
    m, X = _model("float64", rng, rows=20, scale=0.5)
    t = pickle.loads(pickle.dumps(m)).set_params(backend="torch", device=DEVICE)
    fit = dict(epochs=2, batch_size=10, patience=None, learning_rate=1e-2)
    m.set_params(warm_start=True).fit(X, **fit)
    t.set_params(warm_start=True).fit(X, **fit)
    for name in ("W_", "b_", "V_", "c_"):
        np.testing.assert_allclose(getattr(t, name), getattr(m, name), rtol=1e-8, atol=1e-10)
    first, again = t.loss_and_gradient(X)[1], t.loss_and_gradient(X)[1]
    assert all(np.array_equal(first[k], again[k]) for k in first)


def test_near_tie_rule_can_fail(rng):
    """The float32 rule excuses a differing row only at a near tie: a draw flipped where the
    logit is far from its noise fails it, one flipped at a true near tie passes."""
    m, _ = _model("float32", rng)
    key, n = philox_key(5), m.n_features_in_
    ref = m.sample_rows(key, 0, 37)[:, m.ordering_]
    z = _logits(m, ref.astype(np.float64))
    eps = np.stack([core.logistic_noise(key, r, n) for r in range(37)])
    gap = np.abs(z - eps)
    r, k = np.unravel_index(np.argmax(gap), gap.shape)
    ours = ref.copy()
    ours[r, k:] = 1 - ours[r, k:]  # a flip where the draw was far from a tie
    with pytest.raises(AssertionError, match="differs at position"):
        _assert_same_draws(ours, ref, m, key, 0, "float32", "flipped")
    with pytest.raises(AssertionError, match="differ"):
        _assert_same_draws(ours, ref, m, key, 0, "float64", "flipped")
    # a logit placed on its noise: flipping that draw is a near tie
    tie = pickle.loads(pickle.dumps(m))
    first = int(np.argmin(np.abs(eps[:, 0] - np.median(eps[:, 0]))))
    tie.c_ = tie.c_.copy()
    tie.c_[0] += eps[first, 0] - z[first, 0]
    ref = tie.sample_rows(key, 0, 37)[:, tie.ordering_]
    ours = ref.copy()
    ours[first, 0] = 1 - ours[first, 0]
    _assert_same_draws(ours, ref, tie, key, 0, "float32", "tie")


# --------------------------------------------------------------- selection and errors


def test_fused_path_selection(monkeypatch):
    """auto: the fused kernels on CUDA devices only; always: on any device; never: none;
    anything else a ValueError."""
    cpu = torch.device("cpu")
    monkeypatch.setattr(_torch, "FUSED", "auto")
    assert _torch._fused_module(cpu) is None
    monkeypatch.setattr(_torch, "FUSED", "always")
    assert _torch._fused_module(cpu) is _triton
    monkeypatch.setattr(_torch, "FUSED", "never")
    assert _torch._fused_module(torch.device("cuda")) is None
    monkeypatch.setattr(_torch, "FUSED", "sometimes")
    with pytest.raises(ValueError, match="NADEFAST_FUSED"):
        _torch._fused_module(cpu)


def test_fused_kernels_reject_bad_tensors(rng):
    m, X = _model("float64", rng)
    W, V, c, b = _params(m)
    xs = _by_position(m, X)
    with pytest.raises(ValueError, match="contiguous"):
        _triton.score(xs, W.T.contiguous().T, V, c, b)
    if DEVICE == "cpu":
        with pytest.raises(ValueError, match="one device"):
            _triton.score(xs, W.to("meta"), V, c, b)


# ------------------------------------------------------------------ GPU code generation


def test_kernels_compile_for_hopper_without_spilling(tmp_path):
    """Every variant the backend launches by default compiles for sm_90 (H100/H200) through
    Triton's ahead-of-time path, no GPU needed, and the default launch settings keep the
    rows' state in registers (no stack: nothing spilled).  tools/triton_codegen.py, run
    in a fresh process: the kernels of this one are the interpreter's."""
    if importlib.util.find_spec("triton.backends.nvidia") is None:
        if os.environ.get("NADEFAST_REQUIRE_TRITON", "") not in ("", "0"):
            pytest.fail("this Triton has no NVIDIA backend")
        pytest.skip("this Triton has no NVIDIA backend")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "triton_codegen.py"),
                           "--defaults", "--json"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    names = {r["variant"].split()[0] for r in rows}
    assert names == {"sample", "score", "grad", "noise", "oa_step", "oa_sample"}
    for r in rows:
        assert r["ok"], f"{r['variant']}: {r.get('error')}"
        if r["resources"] is not None:
            assert r["resources"]["STACK"] == 0, f"{r['variant']} spills: {r['resources']}"
