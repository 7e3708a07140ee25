"""fit lowers the validation NLL: on synthetic data of known entropy and on real data."""

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE
from nadefast.baselines import IndependentBernoulli
from nadefast.datasets import load_demo

from conftest import load_shared


def _prototype_mixture(rng, n_rows, prototypes, flip):
    """Rows = a random prototype with each bit flipped with probability `flip`."""
    which = rng.integers(len(prototypes), size=n_rows)
    noise = rng.random((n_rows, prototypes.shape[1])) < flip
    return (prototypes[which] ^ noise).astype(np.uint8)


def _mixture_log_likelihood(X, prototypes, flip):
    """Exact log p(x) of the generating process (equal-weight mixture of flipped prototypes)."""
    mismatches = (X[:, None, :] != prototypes[None, :, :]).sum(axis=2)
    n = X.shape[1]
    log_comp = mismatches * np.log(flip) + (n - mismatches) * np.log1p(-flip) - np.log(len(prototypes))
    top = log_comp.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(log_comp - top).sum(axis=1, keepdims=True)))[:, 0]


def test_fit_approaches_the_true_entropy_of_synthetic_data():
    """Compiled only: 2400 steps on 4000 rows (the NumPy backend's fits are checked on small
    data below and against the compiled backend's in test_backends.py)."""
    rng = np.random.default_rng(0)
    n, flip = 16, 0.05
    prototypes = rng.integers(0, 2, size=(4, n)).astype(np.uint8)
    train = _prototype_mixture(rng, 4000, prototypes, flip)
    valid = _prototype_mixture(rng, 2000, prototypes, flip)
    true_nll = -_mixture_log_likelihood(valid, prototypes, flip).mean()  # about 4.6 nats
    independent = -IndependentBernoulli().fit(train).score(valid)         # about 8.1 nats
    model = NADE(32, random_state=0).fit(train, valid, epochs=60, learning_rate=3e-3, patience=10)
    nll = -model.score(valid)
    assert independent > true_nll + 3
    # no model can beat the true distribution by more than sampling noise on 2000 rows
    assert nll > true_nll - 0.2
    assert nll < true_nll + 0.3, (nll, true_nll, independent)
    assert model.history_[0]["valid_nll"] > nll  # training lowered it


def test_fit_on_the_demo_digits():
    """Compiled only: a 784-feature fit is too large for the NumPy backend."""
    data = load_demo()
    model = NADE(100, random_state=1).fit(data["train"], data["valid"], epochs=15, learning_rate=3e-3)
    first, best = model.history_[0]["valid_nll"], -model.score(data["valid"])
    # independent Bernoulli: ~205 nats; a 20-component Bernoulli mixture: ~155
    assert best < 120, best
    assert best < first
    assert best == pytest.approx(min(h["valid_nll"] for h in model.history_), rel=1e-12)


def test_fit_on_mushrooms_from_shared_data():
    """Compiled only: too large for the NumPy backend."""
    data = load_shared("mushrooms")
    model = NADE(100, random_state=0).fit(data["train"], data["valid"], epochs=30, learning_rate=3e-3)
    # independent Bernoulli: 34.1 nats; published NADE (500 hidden, long training): 9.81
    assert -model.score(data["valid"]) < 14.0


def test_early_stopping_keeps_the_best_epoch(backend):
    rng = np.random.default_rng(3)
    prototypes = rng.integers(0, 2, size=(3, 12)).astype(np.uint8)
    train = _prototype_mixture(rng, 150, prototypes, 0.2)  # small: improves, then overfits
    valid = _prototype_mixture(rng, 500, prototypes, 0.2)
    model = NADE(64, random_state=0, backend=backend).fit(train, valid, epochs=300,
                                                          learning_rate=3e-3, patience=5)
    history = [h["valid_nll"] for h in model.history_]
    assert len(history) < 300, "patience should have stopped training"
    best = int(np.argmin(history))
    assert model.best_epoch_ == best + 1
    assert len(history) == best + 1 + 5  # stopped exactly `patience` epochs after the best
    assert -model.score(valid) == pytest.approx(history[best], rel=1e-12)


def test_fit_is_reproducible_and_thread_independent():
    """Compiled only: about the compiled core's threads (a NumPy-backend fit's
    reproducibility: test_backends.py)."""
    rng = np.random.default_rng(4)
    X = (rng.random((300, 20)) < 0.3).astype(np.uint8)
    a = NADE(10, random_state=7, n_jobs=1).fit(X, epochs=3)
    b = NADE(10, random_state=7, n_jobs=2).fit(X, epochs=3)
    for name in ("W_", "b_", "V_", "c_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = NADE(10, random_state=8, n_jobs=1).fit(X, epochs=3)
    assert not np.array_equal(a.W_, c.W_)


def test_order_agnostic_fit_threads():
    """What sets an order-agnostic fit's bits: its matrix products run on BLAS's threads,
    whose count changes the rounding (not the result beyond it); n_jobs does not reach the
    fit (its compiled steps run on one thread), so it changes nothing.  Compiled only."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(4)
    X = (rng.random((400, 40)) < 0.3).astype(np.uint8)

    def fit(n_jobs, blas_threads):
        with threadpoolctl.threadpool_limits(blas_threads, user_api="blas"):
            return OrderAgnosticNADE(96, n_layers=2, dtype="float64", random_state=7,
                                     n_jobs=n_jobs).fit(X[:300], X[300:], epochs=3, patience=None)

    reference = fit(1, 1)
    for n_jobs in (2, None):
        other = fit(n_jobs, 1)
        for name, value in _parameters(reference).items():
            np.testing.assert_array_equal(getattr(other, name), value, err_msg=name)
        assert [h["valid_nll"] for h in other.history_] == [h["valid_nll"] for h in reference.history_]
    more_blas = fit(1, 2)
    for name, value in _parameters(reference).items():
        np.testing.assert_allclose(getattr(more_blas, name), value, rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose([h["valid_nll"] for h in more_blas.history_],
                               [h["valid_nll"] for h in reference.history_], rtol=1e-12)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_optimizer_and_dtype_trains(optimizer, dtype, backend):
    rng = np.random.default_rng(5)
    prototypes = rng.integers(0, 2, size=(2, 10)).astype(np.uint8)
    X = _prototype_mixture(rng, 500, prototypes, 0.1)
    lr = 3e-3 if optimizer == "adam" else 0.3
    model = NADE(16, dtype=dtype, random_state=0, backend=backend).fit(
        X, epochs=20, optimizer=optimizer, learning_rate=lr)
    assert model.W_.dtype == np.dtype(dtype)
    losses = [h["train_nll"] for h in model.history_]
    assert losses[-1] < losses[0] - 0.5, losses


def test_random_ordering_is_drawn_from_random_state(backend):
    X = (np.random.default_rng(6).random((50, 9)) < 0.5).astype(np.uint8)
    a = NADE(4, ordering="random", random_state=0, backend=backend).fit(X, epochs=1)
    b = NADE(4, ordering="random", random_state=0, backend=backend).fit(X, epochs=1)
    np.testing.assert_array_equal(a.ordering_, b.ordering_)
    assert sorted(a.ordering_) == list(range(9))
    assert a.ordering == "random"  # the constructor argument is left untouched


# a step size near the dtype's largest number: the logits overflow in the first epochs.  Not
# (numpy, float32): the NumPy backend computes in float64, where a float32 model's logits of
# ~1e38 do not overflow (its losses stay finite, above float32's range, and training stops on
# patience instead).
@pytest.mark.parametrize("backend, dtype, learning_rate", [
    ("compiled", "float32", 1e38), ("compiled", "float64", 1e306), ("numpy", "float64", 1e306)])
@pytest.mark.filterwarnings("ignore:overflow encountered in reduce:RuntimeWarning")  # the mean NLL
def test_divergence_stops_with_a_clear_error_and_finite_parameters(backend, dtype, learning_rate):
    X = (np.random.default_rng(8).random((200, 30)) < 0.5).astype(np.uint8)
    model = NADE(20, random_state=0, dtype=dtype, backend=backend)
    with pytest.raises(FloatingPointError, match="diverged"):
        model.fit(X, X[:50], epochs=50, optimizer="sgd", learning_rate=learning_rate)
    for name in ("W_", "b_", "V_", "c_"):
        assert np.isfinite(getattr(model, name)).all()
    assert np.isfinite(model.score_samples(X)).all()


def test_verbose_levels(capsys):
    X = (np.random.default_rng(9).random((400, 10)) < 0.3).astype(np.uint8)
    NADE(4, random_state=0).fit(X, X[:50], epochs=2, verbose=1)
    out, err = capsys.readouterr()
    assert out.count("train NLL") == 2 and "valid NLL" in out and err == ""
    NADE(4, random_state=0).fit(X, epochs=1, verbose=2)
    out, err = capsys.readouterr()
    assert "epoch    1 [" in err and "100%" in err  # the in-epoch progress bar, on stderr
    NADE(4, random_state=0).fit(X, epochs=1)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("schedule, factors", [("constant", (1, 1, 1)), ("linear", (1, 2 / 3, 1 / 3))])
def test_learning_rate_schedule_sets_each_step(schedule, factors, backend):
    # one batch per epoch and plain SGD: each step is p -= rate * grad(p), replayed by hand
    rng = np.random.default_rng(7)
    X = (rng.random((12, 6)) < 0.4).astype(np.uint8)
    fit = dict(batch_size=12, optimizer="sgd", learning_rate=0.5, patience=None)
    kw = dict(dtype="float64", random_state=1, backend=backend)
    model = NADE(5, **kw).fit(X, epochs=3, lr_schedule=schedule, **fit)

    replay = NADE(5, **kw).fit(X, epochs=0, **fit)
    for factor in factors:
        _, grads = replay.loss_and_gradient(X)
        for name in ("W", "b", "V", "c"):
            setattr(replay, name + "_", getattr(replay, name + "_") - 0.5 * factor * grads[name])
    for name in ("W_", "b_", "V_", "c_"):
        np.testing.assert_allclose(getattr(model, name), getattr(replay, name), rtol=1e-12,
                                   atol=1e-14, err_msg=name)


def test_sgd_momentum_sets_each_step(backend):
    # one batch per epoch: v = 0.9 v + grad(p), p -= rate * v, replayed by hand
    rng = np.random.default_rng(17)
    X = (rng.random((12, 6)) < 0.4).astype(np.uint8)
    fit = dict(batch_size=12, optimizer="sgd", learning_rate=0.3, momentum=0.9, patience=None)
    kw = dict(dtype="float64", random_state=1, backend=backend)
    model = NADE(5, **kw).fit(X, epochs=3, **fit)
    replay = NADE(5, **kw).fit(X, epochs=0, **fit)
    velocity = {name: 0.0 for name in ("W", "b", "V", "c")}
    for _ in range(3):
        _, grads = replay.loss_and_gradient(X)
        for name in velocity:
            velocity[name] = 0.9 * velocity[name] + grads[name]
            setattr(replay, name + "_", getattr(replay, name + "_") - 0.3 * velocity[name])
    for name in ("W_", "b_", "V_", "c_"):
        np.testing.assert_allclose(getattr(model, name), getattr(replay, name), rtol=1e-12,
                                   atol=1e-14, err_msg=name)
    plain = NADE(5, **kw).fit(X, epochs=3, **{**fit, "momentum": 0.0})
    assert not np.allclose(plain.W_, model.W_)


def test_momentum_is_checked_and_part_of_a_checkpoint(tmp_path):
    X = (np.random.default_rng(3).random((30, 5)) < 0.4).astype(np.uint8)
    with pytest.raises(ValueError, match="momentum=0.9 applies to optimizer='sgd' only"):
        NADE(2).fit(X, epochs=1, momentum=0.9)
    with pytest.raises(ValueError, match="momentum must be below 1"):
        NADE(2).fit(X, epochs=1, optimizer="sgd", momentum=1.0)
    with pytest.raises(ValueError, match="momentum must be >= 0"):
        NADE(2).fit(X, epochs=1, optimizer="sgd", momentum=-0.5)
    with pytest.raises(TypeError, match="momentum must be a real number"):
        NADE(2).fit(X, epochs=1, optimizer="sgd", momentum="0.9")
    ckpt = tmp_path / "c.npz"
    NADE(3, random_state=0).fit(X, epochs=1, optimizer="sgd", momentum=0.5, checkpoint=ckpt)
    with pytest.raises(ValueError, match="momentum=0.5, this fit has momentum=0.9"):
        NADE(3, random_state=0).fit(X, epochs=2, optimizer="sgd", momentum=0.9, checkpoint=ckpt,
                                    resume=True)


def test_lr_schedule_is_checked():
    X = np.zeros((4, 3), np.uint8)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        NADE(2).fit(X, epochs=1, lr_schedule="cosine")
    with pytest.raises(TypeError, match="lr_schedule must be one of"):
        NADE(2).fit(X, epochs=1, lr_schedule=None)


def _parameters(model):
    names = ["W_", "b_", "V_", "c_"]
    if isinstance(model, OrderAgnosticNADE):
        names += ["M_", "W_hidden_", "b_hidden_"]
    return {k: np.array(getattr(model, k)) for k in names}


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_warm_start_continues_from_the_fitted_parameters(Model, backend):
    rng = np.random.default_rng(11)
    X = (rng.random((60, 9)) < 0.3).astype(np.uint8)
    kw = dict(dtype="float64", random_state=2, backend=backend)
    first = Model(6, **kw).fit(X, epochs=3, patience=None)
    before = _parameters(first)
    # a vanishing step: a warm start stays where it was, a cold one re-initialises
    first.set_params(warm_start=True, random_state=3, ordering="random")
    first.fit(X, epochs=1, learning_rate=1e-300, patience=None)
    for k, v in _parameters(first).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    np.testing.assert_array_equal(first.ordering_, np.arange(9))  # the ordering is kept too
    assert len(first.history_) == 1
    cold = Model(6, **{**kw, "random_state": 3}).fit(X, epochs=1, learning_rate=1e-300,
                                                     patience=None)
    assert not np.array_equal(cold.V_, first.V_)
    # and a real step moves on from there: the same as continuing by hand with a new optimizer
    first.fit(X, epochs=2, patience=None)
    assert -first.score(X) < -Model(6, **kw).fit(X, epochs=1, patience=None).score(X)


def test_warm_start_refuses_a_model_of_another_shape():
    X = np.zeros((10, 5), np.uint8)
    model = NADE(4, warm_start=True, random_state=0).fit(X, epochs=1)
    with pytest.raises(ValueError, match="warm_start: the fitted model has n_hidden=4"):
        model.set_params(n_hidden=5).fit(X, epochs=1)
    with pytest.raises(ValueError, match="n_features=5"):
        model.set_params(n_hidden=4).fit(np.zeros((10, 6), np.uint8), epochs=1)
    with pytest.raises(TypeError, match="warm_start"):
        NADE(4, warm_start="yes").fit(X, epochs=1)


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_weight_decay_shrinks_weights_not_biases(Model, backend):
    # one SGD step on one batch: with decay, p1 = p0 (1 - rate wd) - rate grad for the weight
    # matrices and p1 = p0 - rate grad for the biases; the fit without decay gives
    # p0 - rate grad with the same masks (same seed), so the difference is -rate wd p0
    rng = np.random.default_rng(19)
    X = (rng.random((12, 6)) < 0.4).astype(np.uint8)
    order_agnostic = Model is OrderAgnosticNADE
    kw = dict(dtype="float64", random_state=1, backend=backend,
              **({"n_layers": 2} if order_agnostic else {}))
    fit = dict(epochs=1, batch_size=12, optimizer="sgd", learning_rate=0.2, patience=None)
    start = Model(5, **kw).fit(X, **{**fit, "epochs": 0})
    plain = Model(5, **kw).fit(X, **fit)
    decayed = Model(5, **kw).fit(X, **fit, weight_decay=0.7)
    weights = ("W_", "V_", "M_", "W_hidden_") if order_agnostic else ("W_", "V_")
    biases = ("b_", "c_", "b_hidden_") if order_agnostic else ("b_", "c_")
    for name in weights:
        np.testing.assert_allclose(getattr(decayed, name),
                                   getattr(plain, name) - 0.2 * 0.7 * getattr(start, name),
                                   rtol=1e-12, atol=1e-15, err_msg=name)
        assert np.abs(getattr(start, name)).max() > 0.01, name  # the check has something to see
    for name in biases:
        np.testing.assert_array_equal(getattr(decayed, name), getattr(plain, name), err_msg=name)


def test_weight_decay_is_checked_and_part_of_a_checkpoint(tmp_path):
    X = (np.random.default_rng(3).random((30, 5)) < 0.4).astype(np.uint8)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        NADE(2).fit(X, epochs=1, weight_decay=-1e-4)
    with pytest.raises(TypeError, match="weight_decay must be a real number"):
        NADE(2).fit(X, epochs=1, weight_decay="0.1")
    with pytest.raises(ValueError, match="weight_decay \\* learning_rate must be below 1"):
        NADE(2).fit(X, epochs=1, optimizer="sgd", learning_rate=0.5, weight_decay=2.0)
    ckpt = tmp_path / "c.npz"
    NADE(3, random_state=0).fit(X, epochs=1, weight_decay=0.01, checkpoint=ckpt)
    with pytest.raises(ValueError, match="weight_decay=0.01, this fit has weight_decay=0.0"):
        NADE(3, random_state=0).fit(X, epochs=2, checkpoint=ckpt, resume=True)
