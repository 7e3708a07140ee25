"""Optimizers: the compiled Adam step equals the textbook NumPy arithmetic."""

import numpy as np
import pytest

from nadefast.backends import get_backend
from nadefast.optim import OPTIMIZERS, SGD, Adam, make_optimizer

NUMPY = get_backend("numpy")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_compiled_adam_equals_numpy_adam(dtype, n_threads):
    rng = np.random.default_rng(0)
    shapes = {"W": (300, 513), "b": (64,), "c": (7,)}  # W spans several 64k-element chunks
    params_a = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    params_b = {k: v.copy() for k, v in params_a.items()}
    fast = Adam(params_a, learning_rate=3e-3, n_threads=n_threads)  # the compiled backend
    slow = Adam(params_b, learning_rate=3e-3, backend=NUMPY)
    for _ in range(5):
        grads = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
        fast.step(grads)
        slow.step(grads)
    for k in shapes:
        np.testing.assert_array_equal(params_a[k], params_b[k])
        np.testing.assert_array_equal(fast.state["m"][k], slow.state["m"][k])
        np.testing.assert_array_equal(fast.state["v"][k], slow.state["v"][k])


def test_adam_matches_the_textbook_update():
    """Kingma & Ba's Algorithm 1, written out with explicit bias correction, in float64."""
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=20)
    params = {"p": p0.copy()}
    opt = Adam(params, learning_rate=0.01, beta1=0.8, beta2=0.99, eps=1e-6)
    p, m, v = p0.copy(), np.zeros(20), np.zeros(20)
    for t in range(1, 8):
        g = rng.normal(size=20)
        opt.step({"p": g})
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        mhat, vhat = m / (1 - 0.8**t), v / (1 - 0.99**t)
        p = p - 0.01 * mhat / (np.sqrt(vhat) + 1e-6)
    np.testing.assert_allclose(params["p"], p, rtol=1e-12)


def test_sgd_with_momentum():
    params = {"p": np.array([1.0, -2.0])}
    opt = SGD(params, learning_rate=0.5, momentum=0.9)
    opt.step({"p": np.array([1.0, 1.0])})  # v = g; p -= 0.5 g
    opt.step({"p": np.array([1.0, 1.0])})  # v = 0.9 g + g
    np.testing.assert_allclose(params["p"], [1.0 - 0.5 - 0.95, -2.0 - 0.5 - 0.95])


def test_optimizer_arguments_are_checked():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("adagrad", {"p": np.zeros(2)}, 0.1)
    with pytest.raises(ValueError, match="C-contiguous"):
        Adam({"p": np.zeros((4, 4))[:, ::2]})
    with pytest.raises(ValueError, match="learning_rate"):
        Adam({"p": np.zeros(2)}, learning_rate=-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_keeps_subnormal_numbers_out_of_its_moments(dtype):
    # zero and tiny gradients make the moments decay through the subnormal range; those
    # values are stored as 0, identically in the compiled step and the NumPy reference
    info = np.finfo(dtype)
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=4000).astype(dtype)
    fast_p, slow_p = {"p": p0.copy()}, {"p": p0.copy()}
    fast, slow = Adam(fast_p, learning_rate=1e-3), Adam(slow_p, learning_rate=1e-3, backend=NUMPY)
    exponent = np.log2(float(info.tiny))  # -126 or -1022
    for step in range(60):
        g = rng.normal(size=4000) * 2.0 ** rng.uniform(exponent / 2 - 8, exponent / 2 + 8, 4000)
        g[: 2000 if step > 0 else 0] = 0  # half the entries stop receiving gradient
        g[::97] = info.tiny / 3 if step % 2 else rng.normal()  # subnormal and ordinary gradients
        g = g.astype(dtype)
        fast.step({"p": g})
        slow.step({"p": g})
        for state in (fast.state["m"]["p"], fast.state["v"]["p"]):
            assert not ((state != 0) & (np.abs(state) < info.tiny)).any()
    np.testing.assert_array_equal(fast_p["p"], slow_p["p"])
    np.testing.assert_array_equal(fast.state["m"]["p"], slow.state["m"]["p"])
    np.testing.assert_array_equal(fast.state["v"]["p"], slow.state["v"]["p"])
    assert (fast.state["m"]["p"][:2000] == 0).any()  # decayed moments were flushed, not left subnormal


def test_adamw_weight_decay_matches_the_textbook_update():
    """Loshchilov & Hutter's AdamW as PyTorch writes it: w *= 1 - lr wd, then the Adam step;
    arrays not named in `decayed` follow plain Adam."""
    rng = np.random.default_rng(5)
    w0, b0 = rng.normal(size=20), rng.normal(size=5)
    params = {"w": w0.copy(), "b": b0.copy()}
    opt = Adam(params, learning_rate=0.01, weight_decay=0.5, decayed=["w"])
    w, b = w0.copy(), b0.copy()
    mw, vw, mb, vb = np.zeros(20), np.zeros(20), np.zeros(5), np.zeros(5)
    for t in range(1, 8):
        gw, gb = rng.normal(size=20), rng.normal(size=5)
        opt.learning_rate = 0.01 * (1 - t / 10)  # as a schedule sets it
        opt.step({"w": gw, "b": gb})
        lr = 0.01 * (1 - t / 10)
        w = w * (1 - lr * 0.5)
        mw, vw = 0.9 * mw + 0.1 * gw, 0.999 * vw + 0.001 * gw * gw
        mb, vb = 0.9 * mb + 0.1 * gb, 0.999 * vb + 0.001 * gb * gb
        w = w - lr * (mw / (1 - 0.9**t)) / (np.sqrt(vw / (1 - 0.999**t)) + 1e-8)
        b = b - lr * (mb / (1 - 0.9**t)) / (np.sqrt(vb / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(params["w"], w, rtol=1e-12)
    np.testing.assert_allclose(params["b"], b, rtol=1e-12)


def test_sgd_weight_decay_is_an_l2_penalty():
    # without momentum: p -= lr (g + wd p), the gradient step of loss + wd/2 |p|^2
    rng = np.random.default_rng(6)
    p0, g = rng.normal(size=9), rng.normal(size=9)
    params = {"p": p0.copy()}
    SGD(params, learning_rate=0.1, weight_decay=0.3, decayed=["p"]).step({"p": g})
    np.testing.assert_allclose(params["p"], p0 - 0.1 * (g + 0.3 * p0), rtol=1e-13)


def test_weight_decay_arguments_are_checked():
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        Adam({"p": np.zeros(2)}, weight_decay=-0.1, decayed=["p"])
    with pytest.raises(ValueError, match=r"unknown parameters \['q'\]"):
        SGD({"p": np.zeros(2)}, weight_decay=0.1, decayed=["q"])


def test_optimizers_come_from_one_registry():
    assert sorted(OPTIMIZERS) == ["adam", "sgd"]
    for name, cls in OPTIMIZERS.items():
        params = {"p": np.zeros(3)}
        assert type(make_optimizer(name.upper(), params, 0.1)) is cls
    with pytest.raises(TypeError, match="optimizer must be one of"):
        make_optimizer(3, {"p": np.zeros(2)}, 0.1)


@pytest.mark.parametrize("name, slots", [("adam", ["m", "v"]), ("sgd", ["velocity"])])
def test_optimizer_state_round_trips(name, slots):
    rng = np.random.default_rng(8)
    a = {"p": rng.normal(size=6)}
    b = {"p": a["p"].copy()}
    momentum = 0.5 if name == "sgd" else 0.0
    first = make_optimizer(name, a, 0.1, momentum=momentum)
    for _ in range(3):
        first.step({"p": rng.normal(size=6)})
    scalars, state = first.state_dict()
    assert scalars == {"n_steps": 3} and sorted(state) == slots
    second = make_optimizer(name, b, 0.1, momentum=momentum)
    b["p"][...] = a["p"]
    second.load_state_dict(scalars, {k: {"p": v["p"].copy()} for k, v in state.items()})
    g = rng.normal(size=6)
    first.step({"p": g})
    second.step({"p": g})
    np.testing.assert_array_equal(a["p"], b["p"])
    with pytest.raises(ValueError, match="missing or has the wrong shape"):
        second.load_state_dict(scalars, {})
