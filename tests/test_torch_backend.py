"""The torch backend (nadefast/backends/_torch.py) on CPU tensors against the compiled core.

Every method of both models and every output distribution: float64 models agree with the
compiled backend to 1e-10 relative, float32 models to float32 precision.  The random numbers
are numpy.random.Philox's bit for bit, so samples are the compiled backend's (float64:
identical; float32: except near-ties, which must be rare).  Fits take the same optimizer
steps, checkpoints and model files cross between the backends, and the device parameter
gives clear errors.  Expected values come from the compiled backend, NumPy's Philox or
plain formulas, never from the torch backend itself.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

if os.environ.get("NADEFAST_REQUIRE_TORCH", "") not in ("", "0"):
    import torch  # CI installs the test extra, which holds torch: a failed import must fail
else:
    torch = pytest.importorskip("torch", reason='the torch backend needs PyTorch: pip install '
                                "\"nadefast[gpu]\" (or the test extra)")

import nadefast  # noqa: E402
from nadefast import NADE, OrderAgnosticNADE  # noqa: E402
from nadefast.backends import _torch  # noqa: E402
from nadefast.backends import get_backend  # noqa: E402

# NADEFAST_TORCH_DEVICE=cuda runs the comparisons on a GPU (a GPU session's check); the
# default is PyTorch's CPU tensors
DEVICE = os.environ.get("NADEFAST_TORCH_DEVICE", "cpu")
OUTPUTS = ("bernoulli", "categorical", "gaussian_mixture")
MODELS = [pytest.param(NADE, {}, id="NADE"),
          pytest.param(OrderAgnosticNADE, {"n_layers": 3}, id="OA")]
# relative tolerances against the compiled core (float32: its float32 arithmetic against ours)
RTOL = {"float64": 1e-10, "float32": 1e-4}


def _data(output, rng, rows=40, n=7):
    """Rows near one of three prototypes (something to learn), of the output's kind."""
    which = rng.integers(3, size=rows)
    if output == "bernoulli":
        X = (rng.integers(0, 2, size=(3, n))[which] ^ (rng.random((rows, n)) < 0.15))
        X = X.astype(np.uint8)
        X[0], X[-1] = 0, 1
    elif output == "categorical":
        X = np.where(rng.random((rows, n)) < 0.2, rng.integers(0, 4, size=(rows, n)),
                     rng.integers(0, 4, size=(3, n))[which]).astype(np.int32)
        X[:, 2] = rng.integers(0, 2, size=rows)  # K = 2: the Bernoulli case
        X[:, 4] = 0  # K = 1: no input columns, one certain outcome
    else:
        X = rng.normal(0, 3, size=(3, n))[which] + rng.normal(size=(rows, n)) + np.arange(n)
    return X


def _kwargs(output, dtype, extra):
    kw = dict(output=output, dtype=dtype, ordering="random", random_state=0, **extra)
    if output == "gaussian_mixture":
        kw["n_components"] = 3
    return kw


def _pair(Model, extra, output, dtype, rng, d=6, scale=0.7):
    """The same random parameters in a compiled and a torch model."""
    X = _data(output, rng)
    compiled = Model(d, **_kwargs(output, dtype, extra)).fit(X, epochs=0)
    for name in ("W", "M", "b", "W_hidden", "b_hidden", "V", "c"):
        if hasattr(compiled, name + "_") and name in compiled._kernels.public():
            shape = getattr(compiled, name + "_").shape
            setattr(compiled, name + "_", rng.normal(0.0, scale, size=shape))
    if output == "gaussian_mixture" and Model is NADE:
        compiled.rho_ = rng.uniform(0.5, 1.5, size=compiled.rho_.shape)
    torch_model = pickle.loads(pickle.dumps(compiled)).set_params(backend="torch", device=DEVICE)
    return compiled, torch_model, X


def _close(actual, expected, rtol, what):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    scale = max(np.abs(expected).max(initial=0.0), 1e-300)
    err = np.abs(actual - expected).max(initial=0.0) / scale
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"


# ----------------------------------------------------------------- random numbers


@pytest.mark.parametrize("row0", [0, 2**32 - 3, 2**63 + 12345, 2**64 - 4])
def test_philox_bits_are_numpys(row0):
    """philox_bits equals numpy.random.Philox's raw 64-bit words (both halves), for rows
    whose 64-bit counter word carries across 2^32 and reaches the top of its range."""
    rng = np.random.default_rng(row0 % 1000)
    for key in (np.array([0, 0], dtype=np.uint64), np.array([2**64 - 1] * 2, dtype=np.uint64),
                rng.integers(0, 2**64 - 1, size=2, dtype=np.uint64, endpoint=True)):
        bits = _torch.philox_bits(key, row0, 4, 21, device=DEVICE).cpu().numpy()
        assert bits.shape == (4, 21)
        for r in range(4):
            counter = np.array([0, row0 + r, 0, 0], dtype=np.uint64)
            words = np.random.Philox(key=key, counter=counter).random_raw(11)
            expected = np.stack([words & 0xFFFFFFFF, words >> 32], axis=1).reshape(-1)[:21]
            np.testing.assert_array_equal(bits[r].astype(np.uint64), expected, err_msg=str(r))


def test_philox_bits_can_fail():
    """A different row or key gives different bits (the comparison above can fail)."""
    key = np.array([1, 2], dtype=np.uint64)
    a = _torch.philox_bits(key, 5, 1, 16).numpy()
    assert not np.array_equal(a, _torch.philox_bits(key, 6, 1, 16).numpy())
    assert not np.array_equal(a, _torch.philox_bits(key[::-1].copy(), 5, 1, 16).numpy())


# ---------------------------------------------------------------------- inference


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("Model, extra", MODELS)
def test_inference_agrees_with_the_compiled_core(Model, extra, output, dtype, rng):
    compiled, model, X = _pair(Model, extra, output, dtype, rng)
    tol = RTOL[dtype]
    assert model._fitted_kernels().backend == "torch"
    assert compiled._fitted_kernels().backend == "compiled"
    _close(model.score_samples(X), compiled.score_samples(X), tol, "score_samples")
    _close(model.conditionals(X), compiled.conditionals(X), tol, "conditionals")
    assert model.conditionals(X).dtype == compiled.conditionals(X).dtype
    _close(model.prefix_log_marginals(X), compiled.prefix_log_marginals(X), tol, "prefix")
    n = X.shape[1]
    if Model is NADE:
        _close(model.hidden_states(X), compiled.hidden_states(X), tol, "hidden_states")
        given = rng.integers(0, n + 1, size=len(X))
        masks = np.arange(n) < given[:, None]  # a prefix of the ordering per row
        masks = masks[:, np.argsort(compiled.ordering_)]
    else:
        _close(model.score_samples(X, n_orderings=3, random_state=5),
               compiled.score_samples(X, n_orderings=3, random_state=5), tol, "ensemble")
        masks = rng.random(X.shape) < 0.5
        shared = np.tile(rng.random(n) < 0.5, (len(X), 1))
        _close(model.log_marginal(X, shared), compiled.log_marginal(X, shared), tol,
               "log_marginal (one mask)")
    _close(model.log_marginal(X, masks), compiled.log_marginal(X, masks), tol, "log_marginal")
    loss_t, grads_t = model.loss_and_gradient(X, random_state=3)
    loss_c, grads_c = compiled.loss_and_gradient(X, random_state=3)
    assert loss_t == pytest.approx(loss_c, rel=tol)
    assert set(grads_t) == set(grads_c)
    for name, g in grads_c.items():
        assert grads_t[name].dtype == g.dtype, name
        _close(grads_t[name], g, 10 * tol, f"gradient {name}")


def test_conditionals_of_improbable_values():
    """Output biases from -35 to 35 alone: the conditionals are sigmoid(c), down to 6e-16."""
    n = 71
    c = np.linspace(-35.0, 35.0, n)
    model = NADE.from_params(np.zeros((1, n)), np.zeros(1), np.zeros((n, 1)), c,
                             dtype="float64", backend="torch", device=DEVICE)
    np.testing.assert_allclose(model.conditionals(np.zeros((1, n), np.uint8))[0],
                               1.0 / (1.0 + np.exp(-c)), rtol=1e-14)


# ------------------------------------------------------------------------ samples


def _assert_same_draws(a, b, output, dtype, what):
    """float64: identical (mixtures: to rounding); float32: rows may differ only rarely (a
    logit within float32 rounding of its noise)."""
    assert a.shape == b.shape and a.dtype == b.dtype, what
    a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    if output == "gaussian_mixture":
        same = np.isclose(a2, b2, rtol=1e-9 if dtype == "float64" else 1e-4, atol=1e-9)
    else:
        same = a2 == b2
    bad = np.flatnonzero(~same.all(axis=1))
    allowed = 0 if dtype == "float64" else max(1, len(a2) // 100)
    assert len(bad) <= allowed, f"{what}: {len(bad)} of {len(a2)} rows differ"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("Model, extra", MODELS)
def test_samples_equal_the_compiled_cores(Model, extra, output, dtype, rng):
    # (mixtures: weights that keep the samples, fed back into the network, in a sane range)
    scale = 0.4 if output == "gaussian_mixture" else 1.0
    compiled, model, X = _pair(Model, extra, output, dtype, rng, scale=scale)
    n = X.shape[1]
    _assert_same_draws(model.sample(200, random_state=7), compiled.sample(200, random_state=7),
                       output, dtype, "sample")
    # rows 1000.. of the key: the row index enters the counter
    key = nadefast._random.philox_key(7)
    _assert_same_draws(model.sample_rows(key, 1000, 1050), compiled.sample_rows(key, 1000, 1050),
                       output, dtype, "sample_rows")
    if Model is NADE:
        masks = (np.arange(n) < rng.integers(0, n + 1, size=len(X))[:, None])
        masks = masks[:, np.argsort(compiled.ordering_)]
    else:
        masks = rng.random(X.shape) < 0.4
    _assert_same_draws(model.conditional_sample(X, masks, n_samples=3, random_state=9),
                       compiled.conditional_sample(X, masks, n_samples=3, random_state=9),
                       output, dtype, "conditional_sample")
    mode_t, mode_c = model.impute(X, masks), compiled.impute(X, masks)
    if output == "gaussian_mixture":  # the mean-shift's end points, to its convergence
        np.testing.assert_allclose(mode_t, mode_c, rtol=1e-4, atol=1e-6)
    else:
        _assert_same_draws(mode_t, mode_c, output, dtype, "impute")
    if "mean" in compiled._output.impute_methods:
        mean_t = model.impute(X, masks, method="mean", n_samples=20, random_state=2)
        mean_c = compiled.impute(X, masks, method="mean", n_samples=20, random_state=2)
        np.testing.assert_allclose(mean_t, mean_c, rtol=1e-4, atol=1.0 / 20)


RELU = {"activation": "relu"}  # RNADE's ReLU units: fixed-order mixtures only


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_mixtures_agree_with_the_compiled_core(dtype, rng):
    test_inference_agrees_with_the_compiled_core(NADE, RELU, "gaussian_mixture", dtype, rng)
    test_samples_equal_the_compiled_cores(NADE, RELU, "gaussian_mixture", dtype, rng)


def test_relu_mixture_fits_take_the_compiled_cores_steps(rng):
    test_fits_take_the_compiled_cores_steps(NADE, RELU, "gaussian_mixture", "adam", rng)


def test_sample_check_can_fail(rng):
    compiled, model, _ = _pair(NADE, {}, "bernoulli", "float64", rng, scale=1.0)
    with pytest.raises(AssertionError, match="rows differ"):
        _assert_same_draws(model.sample(50, random_state=1), compiled.sample(50, random_state=2),
                           "bernoulli", "float64", "other key")


def test_results_do_not_depend_on_the_chunk_size(rng, monkeypatch):
    """Tiny chunks (one row at a time) give the same scores and samples, and gradients to
    rounding."""
    results = {}
    for chunk in (_torch.CHUNK_BYTES, 1):
        monkeypatch.setattr(_torch, "CHUNK_BYTES", chunk)
        out = []
        for Model, extra in ((NADE, {}), (OrderAgnosticNADE, {"n_layers": 2})):
            _, model, X = _pair(Model, extra, "categorical", "float64", np.random.default_rng(1))
            out += [model.score_samples(X), model.conditionals(X), model.sample(30, random_state=1),
                    model.prefix_log_marginals(X)]
            if Model is OrderAgnosticNADE:  # per-row orderings
                out.append(model.log_marginal(X, np.random.default_rng(2).random(X.shape) < 0.5))
            out.append(model.loss_and_gradient(X, random_state=1)[1]["V"])
        results[chunk] = out
    for a, b in zip(*results.values()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_out_of_device_memory_is_a_memory_error(rng, monkeypatch):
    _, model, X = _pair(NADE, {}, "bernoulli", "float32", rng)

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(_torch.FixedKernels, "_forward", exhausted)
    monkeypatch.setattr(_torch, "FUSED", "never")  # _forward is the torch path's (on CUDA too)
    with pytest.raises(MemoryError, match="CHUNK_BYTES"):
        model.score_samples(X)


# ----------------------------------------------------------------------------- fits


def _device(backend):
    return DEVICE if backend == "torch" else "cpu"


def _public(model):
    return {k: np.array(v) for k, v in model._fitted_kernels().public().items()}


@pytest.mark.parametrize("output, optimizer", [("bernoulli", "adam"), ("bernoulli", "sgd"),
                                               ("categorical", "adam"),
                                               ("gaussian_mixture", "adam")])
@pytest.mark.parametrize("Model, extra", MODELS)
def test_fits_take_the_compiled_cores_steps(Model, extra, output, optimizer, rng):
    """float64: the same trajectory (Adam with weight decay, SGD with momentum), the same
    validation losses, best epoch and kept parameters."""
    X = _data(output, rng, rows=80)
    fit = dict(epochs=3, batch_size=15, optimizer=optimizer, patience=None, weight_decay=0.01,
               learning_rate=1e-2 if optimizer == "adam" else 0.1,
               momentum=0.5 if optimizer == "sgd" else 0.0)
    kw = _kwargs(output, "float64", extra)
    start = Model(6, **kw).fit(X[:60], epochs=0)
    # without validation rows a fit keeps its last parameters: the whole trajectory agrees
    fitted = {be: Model(6, backend=be, device=_device(be), **kw).fit(X[:60], **fit)
              for be in ("compiled", "torch")}
    c, t = fitted["compiled"], fitted["torch"]
    assert t._fitted_kernels().backend == "torch"
    assert np.abs(_public(c)["V"] - _public(start)["V"]).max() > 1e-3  # the fit moved
    for name, value in _public(c).items():
        _close(_public(t)[name], value, 1e-9, name)
    np.testing.assert_allclose([h["train_nll"] for h in t.history_],
                               [h["train_nll"] for h in c.history_], rtol=1e-10)
    # with validation rows: the same validation losses, best epoch and kept parameters
    fitted = {be: Model(6, backend=be, device=_device(be), **kw).fit(X[:60], X[60:], **fit)
              for be in ("compiled", "torch")}
    c, t = fitted["compiled"], fitted["torch"]
    for name, value in _public(c).items():
        _close(_public(t)[name], value, 1e-9, name)
    np.testing.assert_allclose([h["valid_nll"] for h in t.history_],
                               [h["valid_nll"] for h in c.history_], rtol=1e-10)
    assert t.best_epoch_ == c.best_epoch_


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, kw", [("adam", {"weight_decay": 0.1}),
                                      ("sgd", {"momentum": 0.9, "weight_decay": 0.1})])
def test_optimizer_steps_round_as_the_compiled_cores(name, kw, dtype, rng):
    """Steps of Adam (with the subnormal flushes) and SGD on torch tensors give the compiled
    backend's bits: gradients of every magnitude, moments that decay into the subnormals."""
    from nadefast.optim import make_optimizer

    shape = (7, 33)
    p0 = rng.normal(size=shape).astype(dtype)
    grads = [rng.normal(size=shape) * 10.0 ** rng.integers(-60, 3, size=shape)
             for _ in range(4)] + [np.zeros(shape)] * 3
    results = []
    for backend in (get_backend("compiled"), get_backend("torch", DEVICE)):
        params = {"W": p0.copy() if backend.name == "compiled" else torch.tensor(p0, device=DEVICE)}
        opt = make_optimizer(name, params, 1e-2, decayed=("W",), backend=backend, **kw)
        for g in grads:
            g = g.astype(dtype)
            opt.step({"W": g if backend.name == "compiled" else torch.tensor(g, device=DEVICE)})
        arrays = [params["W"]] + [a["W"] for a in opt.state.values()]
        results.append([a.cpu().numpy().copy() if torch.is_tensor(a) else a for a in arrays])
    assert np.abs(results[0][0] - p0).max() > 1e-3
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("Model, extra", MODELS)
def test_float32_fits_stay_close(Model, extra, rng):
    X = _data("bernoulli", rng, rows=80)
    fit = dict(epochs=2, batch_size=20, learning_rate=1e-2, patience=None)
    kw = _kwargs("bernoulli", "float32", extra)
    c, t = (Model(6, backend=be, device=_device(be), **kw).fit(X, **fit)
            for be in ("compiled", "torch"))
    for name, value in _public(c).items():
        assert _public(t)[name].dtype == np.float32
        _close(_public(t)[name], value, 1e-4, name)


@pytest.mark.parametrize("Model, extra", MODELS)
def test_a_resumed_torch_fit_is_bit_identical(Model, extra, rng, tmp_path):
    """Interrupted after 2 of 4 epochs, resumed on the same device: the uninterrupted fit's
    bits; resumed from the compiled backend's checkpoint: its values to rounding."""
    X = _data("bernoulli", rng, rows=80)
    fit = dict(epochs=4, batch_size=15, learning_rate=1e-2, patience=None)
    kw = dict(dtype="float32", random_state=4, ordering="random", **extra)
    full = Model(6, backend="torch", device=DEVICE, **kw).fit(X[:60], X[60:], **fit)
    for first in ("torch", "compiled"):
        ckpt = tmp_path / f"{first}.ckpt"
        Model(6, backend=first, device=_device(first), **kw).fit(
            X[:60], X[60:], **{**fit, "epochs": 2}, checkpoint=ckpt)
        resumed = Model(6, backend="torch", device=DEVICE, **kw).fit(
            X[:60], X[60:], **fit, checkpoint=ckpt, resume=True)
        assert len(resumed.history_) == 4
        for name, value in _public(full).items():
            if first == "torch":
                np.testing.assert_array_equal(_public(resumed)[name], value, err_msg=name)
            else:
                _close(_public(resumed)[name], value, 1e-4, name)


# ------------------------------------------- files, pickles, views, switching


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("Model, extra", MODELS)
def test_files_cross_between_the_backends(Model, extra, output, rng, tmp_path):
    X = _data(output, rng)
    kw = _kwargs(output, "float64", extra)
    for first, second in (("torch", "compiled"), ("compiled", "torch")):
        model = Model(5, backend=first, device=_device(first), **kw).fit(X, epochs=1,
                                                                          batch_size=10)
        path = tmp_path / f"{first}.npz"
        model.save(path)
        loaded = nadefast.load(path, backend=second, device=_device(second))
        assert type(loaded) is Model and loaded.backend == second
        assert loaded._fitted_kernels().backend == second
        for name, value in _public(model).items():
            np.testing.assert_array_equal(_public(loaded)[name], value, err_msg=name)
        _close(loaded.score_samples(X), model.score_samples(X), 1e-10, (first, second))
        copy = pickle.loads(pickle.dumps(model))  # a pickle keeps the backend
        assert copy.backend == first and copy._fitted_kernels().backend == first
        np.testing.assert_array_equal(copy.score_samples(X), model.score_samples(X))


def test_parameter_views_write_through_on_the_cpu(rng):
    W, b, V, c = (rng.normal(size=s) for s in ((4, 6), (4,), (6, 4), (6,)))
    model = NADE.from_params(W, b, V, c, dtype="float64", backend="torch", device="cpu")
    X = (rng.random((5, 6)) < 0.5).astype(np.uint8)
    model.W_[0, 0] += 1.0  # a view of the tensor's memory
    W2 = W.copy()
    W2[0, 0] += 1.0
    expected = NADE.from_params(W2, b, V, c, dtype="float64").score_samples(X)
    _close(model.score_samples(X), expected, 1e-10, "after writing into W_")
    model.c_ = np.zeros(6)  # assignment copies in
    expected = NADE.from_params(W2, b, V, np.zeros(6), dtype="float64").score_samples(X)
    _close(model.score_samples(X), expected, 1e-10, "after assigning c_")


# ------------------------------------------------------------ device and errors


def test_device_names_are_checked():
    X = np.zeros((3, 4), dtype=np.uint8)
    for bad in ("gpu", "cuda:x", "CUDA", "cuda:", ""):
        with pytest.raises(ValueError, match="device must be 'cpu', 'cuda', 'cuda:N' or 'auto'"):
            NADE(3, device=bad).fit(X, epochs=0)
    with pytest.raises(TypeError, match="device must be"):
        NADE(3, device=0).fit(X, epochs=0)
    with pytest.raises(ValueError, match="backend='numpy' runs on the CPU only"):
        NADE(3, backend="numpy", device="cuda").fit(X, epochs=0)
    with pytest.raises(ValueError, match="backend must be one of"):
        NADE(3, backend="gpu").fit(X, epochs=0)


def test_cuda_without_a_visible_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X = np.zeros((3, 4), dtype=np.uint8)
    for device in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError, match="sees no CUDA GPU"):
            NADE(3, device=device).fit(X, epochs=0)
    # "auto" falls back to the CPU, where the default backend is the compiled core
    model = NADE(3, device="auto").fit(X, epochs=0)
    assert model._fitted_kernels().backend == "compiled"
    assert NADE(3, backend="torch", device="auto").fit(X, epochs=0)._fitted_kernels().backend \
        == "torch"


def test_without_torch_the_errors_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" raises ImportError
    X = np.zeros((3, 4), dtype=np.uint8)
    for kw in ({"device": "cuda"}, {"backend": "torch"}):
        with pytest.raises(ImportError, match=r'pip install "nadefast\[gpu\]"'):
            NADE(3, **kw).fit(X, epochs=0)
    assert NADE(3, device="auto").fit(X, epochs=0)._fitted_kernels().backend == "compiled"


def test_device_cpu_with_the_torch_backend_and_switching(rng):
    compiled, _, X = _pair(OrderAgnosticNADE, {"n_layers": 2}, "bernoulli", "float64", rng)
    model = pickle.loads(pickle.dumps(compiled))
    model.set_params(backend="torch", device="cpu")
    kernels = model._fitted_kernels()
    assert kernels.backend == "torch" and kernels.device == torch.device("cpu")
    assert kernels.owner is get_backend("torch") is get_backend("torch", "cpu")  # one per device
    assert get_backend("compiled", "cpu").name == "compiled"
    _close(model.score_samples(X), compiled.score_samples(X), 1e-10, "torch")
    model.set_params(backend="compiled")
    np.testing.assert_array_equal(model.score_samples(X), compiled.score_samples(X))


def test_nadefast_does_not_import_torch_unless_asked(tmp_path):
    code = ("import sys, numpy as np, nadefast\n"
            "X = (np.random.default_rng(0).random((20, 5)) < 0.5).astype(np.uint8)\n"
            "m = nadefast.NADE(4, random_state=0).fit(X, epochs=1)\n"
            "m.score_samples(X); m.sample(3)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "m.set_params(backend='torch'); m.score_samples(X)\n"
            "assert 'torch' in sys.modules\n")
    # cwd: away from the source tree, which `python -c` would import instead of the install
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, cwd=tmp_path)


def test_command_line_backend_and_device(tmp_path, capsys, monkeypatch):
    """train / eval / sample with --backend torch give the compiled model's figures and samples;
    a bad or absent device is a one-line error before any work."""
    from nadefast.cli import main

    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    np.savez(data, train=_data("bernoulli", rng, rows=60, n=9), test=_data("bernoulli", rng, n=9))
    paths = {be: tmp_path / f"{be}.npz" for be in ("compiled", "torch")}
    for be, path in paths.items():
        assert main(["train", str(data), "--hidden", "5", "--epochs", "2", "--seed", "1", "--out",
                     str(path), "--quiet", "--backend", be, "--device", "cpu"]) == 0
    _close(_public(NADE.load(paths["torch"]))["V"], _public(NADE.load(paths["compiled"]))["V"],
           1e-4, "trained V")
    capsys.readouterr()
    assert main(["sample", str(paths["torch"]), "-n", "7", "--seed", "3", "--out",
                 str(tmp_path / "s.npy"), "--backend", "torch"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"),
                                  NADE.load(paths["torch"]).sample(7, random_state=3))
    capsys.readouterr()
    assert main(["eval", str(paths["torch"]), str(data), "--device", "gpu"]) == 1
    assert "device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got 'gpu'" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["eval", str(paths["torch"]), str(data), "--device", "cuda"]) == 1
    assert "sees no CUDA GPU" in capsys.readouterr().err


@pytest.mark.parametrize("output", OUTPUTS)
def test_ensembles_take_every_ordering_in_one_sweep(output, rng, monkeypatch):
    """score_samples(n_orderings=K) scores (ordering, row) pairs as the rows of one sweep:
    the same as K sweeps one ordering at a time (float64: to rounding), in chunks or not."""
    _, model, X = _pair(OrderAgnosticNADE, {"n_layers": 2}, output, "float64", rng)
    calls = []
    sweep = model._score

    def counted(*args, **kwargs):
        calls.append(1)
        return sweep(*args, **kwargs)

    monkeypatch.setattr(model, "_score", counted)
    together = model.score_samples(X, n_orderings=4, random_state=2)
    assert len(calls) == 1
    monkeypatch.setattr(OrderAgnosticNADE, "ENSEMBLE_CHUNK_ROWS", 4 * 7)  # 7 rows a sweep
    chunked = model.score_samples(X, n_orderings=4, random_state=2)
    assert len(calls) == 1 + -(-len(X) // 7)
    monkeypatch.setattr(_torch.OrderlessKernels, "batches_orderings", False)
    one_at_a_time = model.score_samples(X, n_orderings=4, random_state=2)
    np.testing.assert_allclose(together, one_at_a_time, rtol=1e-12)
    np.testing.assert_allclose(chunked, one_at_a_time, rtol=1e-12)
