"""Categorical outputs (output="categorical"): normalisation, the binary special case,
gradients, samples, conditional inference and bad input -- on every backend that has
kernels for them (docs/fixed_order.md, docs/order_agnostic.md; nadefast/_outputs.py)."""

import pickle

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE
from nadefast.backends import get_backend

from reference import (
    all_codes,
    categorical_log_likelihood,
    central_difference_gradient,
    oa_categorical_log_likelihood,
)

CHI2_999 = {8: 26.12, 11: 31.26, 17: 40.79}  # scipy.stats.chi2.ppf(0.999, dof)


@pytest.fixture(params=["compiled", "numpy"])
def backend(request):
    if "categorical" not in get_backend(request.param).fixed_kernels:
        pytest.skip(f"the {request.param} backend has no categorical kernels yet")
    return request.param


def _data(rng, K, rows=60):
    """Rows of codes that use every category of every column."""
    X = np.stack([rng.integers(0, k, rows) for k in K], axis=1)
    X[: max(K)] = np.minimum(np.arange(max(K))[:, None], np.asarray(K) - 1)
    return X


def _random_model(rng, Model, K, backend, d=5, scale=1.0, **kw):
    model = Model(d, output="categorical", dtype="float64", random_state=0, backend=backend,
                  **kw).fit(_data(rng, K), epochs=0)
    for name in ("W_", "b_", "V_", "c_", "M_", "W_hidden_", "b_hidden_"):
        if hasattr(type(model), name):
            value = getattr(model, name)
            value[...] = rng.normal(0, scale, value.shape)
    return model


def _params(model, names):
    return {k: np.array(getattr(model, k + "_")) for k in names}


FIXED = ("W", "b", "V", "c")
ORDERLESS = ("W", "M", "b", "W_hidden", "b_hidden", "V", "c")


@pytest.mark.parametrize("K", [(2, 3, 5), (3, 3, 3, 2), (5, 1, 4)])
@pytest.mark.parametrize("ordering", [None, "random"])
def test_fixed_order_probabilities_are_exact_and_sum_to_one(rng, backend, K, ordering):
    model = _random_model(rng, NADE, K, backend, ordering=ordering)
    X = all_codes(K)
    ll = model.score_samples(X)
    ref = categorical_log_likelihood(*_params(model, FIXED).values(), X, K, model.ordering_)
    np.testing.assert_allclose(ll, ref, rtol=1e-12, atol=1e-12)
    assert abs(np.exp(ll).sum() - 1) < 1e-12
    np.testing.assert_array_equal(model.n_categories_, K)


@pytest.mark.parametrize("K", [(2, 3, 5), (4, 2, 2, 3)])
@pytest.mark.parametrize("layers", [1, 2])
def test_order_agnostic_probabilities_are_exact_and_sum_to_one(rng, backend, K, layers):
    model = _random_model(rng, OrderAgnosticNADE, K, backend, n_layers=layers, ordering="random",
                          scale=0.7)
    X = all_codes(K)
    ll = model.score_samples(X)
    ref = oa_categorical_log_likelihood(_params(model, ORDERLESS), X, K, model.ordering_)
    np.testing.assert_allclose(ll, ref, rtol=1e-12, atol=1e-12)
    for k in (1, 3):
        assert abs(np.exp(model.score_samples(X, n_orderings=k, random_state=2)).sum() - 1) < 1e-12


def test_two_categories_everywhere_is_the_binary_nade(rng, backend):
    n, d = 6, 4
    binary = NADE.from_params(*(rng.normal(size=s) for s in ((d, n), d, (n, d), n)),
                              ordering=rng.permutation(n), dtype="float64")
    cat = _random_model(rng, NADE, (2,) * n, backend, d=d, ordering=binary.ordering_)
    cat.W_[...], cat.b_[...] = binary.W_, binary.b_
    cat.V_[...], cat.c_[...] = 0.0, 0.0
    cat.V_[1::2], cat.c_[1::2] = binary.V_, binary.c_  # value 1 of each position; value 0 stays 0
    X = all_codes((2,) * n)
    np.testing.assert_allclose(cat.score_samples(X), binary.score_samples(X), rtol=1e-12)
    cond = cat.conditionals(X[:9])  # a block of 2 probabilities per feature
    np.testing.assert_allclose(cond[:, 1::2], binary.conditionals(X[:9]), rtol=1e-12)
    np.testing.assert_allclose(cond[:, 0::2] + cond[:, 1::2], 1.0, rtol=1e-14)


@pytest.mark.parametrize("Model, names", [(NADE, FIXED), (OrderAgnosticNADE, ORDERLESS)])
def test_gradient_matches_central_differences(rng, backend, Model, names):
    K = (3, 2, 4)
    kw = {"n_layers": 2} if Model is OrderAgnosticNADE else {}
    model = _random_model(rng, Model, K, backend, d=4, scale=0.6, **kw)
    X = _data(rng, K, rows=7)
    loss, grads = model.loss_and_gradient(X, random_state=3)
    params = _params(model, names)

    def objective():
        for k, v in params.items():
            getattr(model, k + "_")[...] = v
        return model.loss_and_gradient(X, random_state=3)[0]  # the same masks every time

    numeric = central_difference_gradient(objective, params, eps=1e-6)
    for name, g in numeric.items():
        if g.size:
            err = np.abs(grads[name] - g).max() / max(np.abs(g).max(), 1e-12)
            assert err < 1e-6, (name, err)
    if Model is NADE:
        ref = categorical_log_likelihood(*params.values(), X, K, model.ordering_)
        assert loss == pytest.approx(-ref.mean(), rel=1e-12)


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_samples_follow_the_model(rng, backend, Model):
    K = (2, 3, 3)
    model = _random_model(rng, Model, K, backend, scale=0.8)
    p = np.exp(model.score_samples(all_codes(K)))
    draws = model.sample(30_000, random_state=4)
    assert draws.dtype == np.int32 and draws.shape == (30_000, 3)
    codes = (draws[:, 0] * 3 + draws[:, 1]) * 3 + draws[:, 2]
    counts = np.bincount(codes, minlength=p.size)
    chi2 = ((counts - p * len(draws)) ** 2 / (p * len(draws))).sum()
    assert chi2 < CHI2_999[17], chi2
    np.testing.assert_array_equal(model.sample(50, random_state=4), draws[:50])


def test_conditional_inference_follows_the_exact_conditional(rng, backend):
    K = (3, 2, 4, 2)
    model = _random_model(rng, OrderAgnosticNADE, K, backend, n_layers=2, scale=0.8)
    allx = all_codes(K)
    x = np.array([2, 0, 1, 1])
    observed = np.array([True, False, False, True])
    # each row follows the ordering that puts its observed variables first (model's order)
    o = model.ordering_
    observed_first = np.concatenate([o[observed[o]], o[~observed[o]]])
    joint = np.exp(oa_categorical_log_likelihood(_params(model, ORDERLESS), allx, K,
                                                 observed_first))
    match = (allx[:, observed] == x[observed]).all(axis=1)
    assert model.log_marginal(x[None], observed[None])[0] == pytest.approx(
        np.log(joint[match].sum()), rel=1e-12)
    X = x[None].astype(float)
    X[0, ~observed] = np.nan
    draws = model.conditional_sample(X, n_samples=20_000, random_state=5)[:, 0]
    assert (draws[:, observed] == x[observed]).all()  # observed entries kept
    p = joint[match] / joint[match].sum()
    index = {tuple(v): i for i, v in enumerate(allx[match][:, ~observed])}
    counts = np.bincount([index[tuple(v)] for v in draws[:, ~observed]], minlength=p.size)
    chi2 = ((counts - p * len(draws)) ** 2 / (p * len(draws))).sum()
    assert chi2 < CHI2_999[8 if p.size == 9 else 11], chi2  # p.size - 1 degrees of freedom
    filled = model.impute(X)[0]
    assert filled.dtype == np.int32 and (filled[observed] == x[observed]).all()
    with pytest.raises(ValueError, match="method must be one of \\['mode'\\]"):
        model.impute(X, method="mean")


def test_fit_learns_and_round_trips(rng, backend, tmp_path):
    # two prototypes of 6 variables with 4 values, a few codes changed
    protos = rng.integers(0, 4, size=(2, 6))
    X = protos[rng.integers(2, size=400)]
    noise = rng.random(X.shape) < 0.1
    X = np.where(noise, rng.integers(0, 4, X.shape), X)
    model = NADE(16, output="categorical", random_state=0, backend=backend)
    model.fit(X[:300], X[300:], epochs=30, learning_rate=1e-2)
    independent = -np.mean([np.log(np.bincount(X[:300, j], minlength=4)[X[300:, j]] / 300)
                            for j in range(6)]) * 6
    assert -model.score(X[300:]) < independent - 0.5
    path = tmp_path / "cat.npz"
    model.save(path)
    loaded = NADE.load(path, backend=backend)
    assert loaded.output == "categorical" and loaded.n_categories == [4] * 6
    np.testing.assert_array_equal(loaded.n_categories_, [4] * 6)
    np.testing.assert_array_equal(loaded.score_samples(X[:20]), model.score_samples(X[:20]))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.score_samples(X[:20]), model.score_samples(X[:20]))


@pytest.mark.parametrize("bad, error, match", [
    (np.array([[0.0, 1.0], [np.nan, 2.0]]), ValueError, "NaN at \\[1, 0\\]"),
    (np.array([[0.0, 1.0], [np.inf, 2.0]]), ValueError, "infinity"),
    (np.array([[0, 1], [1, -1]]), ValueError, "-1 at \\[1, 1\\]; category codes must be >= 0"),
    (np.array([[0, 1.5], [1, 2]]), ValueError, "1.5 at \\[0, 1\\]; category codes must be whole"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "encode labels as codes"),
])
def test_bad_training_data_is_refused_clearly(bad, error, match):
    with pytest.raises(error, match=match):
        NADE(3, output="categorical", backend="numpy").fit(bad, epochs=1)


def test_codes_beyond_the_categories_are_refused(rng):
    X = np.array([[0, 1], [2, 1], [1, 0]])
    with pytest.raises(ValueError, match="n_categories gives 2 categories for column 0, but X "
                                         "holds the code 2"):
        NADE(3, output="categorical", n_categories=2, backend="numpy").fit(X, epochs=1)
    model = NADE(3, output="categorical", n_categories=[3, 4], backend="numpy").fit(X, epochs=1)
    np.testing.assert_array_equal(model.n_categories_, [3, 4])
    with pytest.raises(ValueError, match="code 3 at \\[0, 0\\], but column 0 has 3 categories"):
        model.score_samples(np.array([[3, 0]]))
    with pytest.raises(ValueError, match="n_categories applies to output='categorical'"):
        NADE(3, n_categories=3).fit(X, epochs=1)
    with pytest.raises(ValueError, match="output must be one of"):
        NADE(3, output="poisson").fit(X, epochs=1)
    # codes above 1 are not binary data
    with pytest.raises(ValueError, match="values must be 0 or 1"):
        NADE(3).fit(X, epochs=1)


def test_one_hot_groups_decode_to_codes():
    from nadefast.datasets import one_hot_to_codes

    X = np.array([[1, 0, 0, 0, 0, 1], [0, 1, 0, 1, 0, 0]])
    np.testing.assert_array_equal(one_hot_to_codes(X, 3, True), [[0, 2], [1, 0]])
    Y = np.array([[0, 0, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0]])  # at most one: none is code 0
    np.testing.assert_array_equal(one_hot_to_codes(Y, 3, False), [[0, 2], [1, 0]])
    with pytest.raises(ValueError, match="row 0, group 0 .* holds 0 ones; the encoding has exactly one"):
        one_hot_to_codes(Y, 3, True)
    with pytest.raises(ValueError, match="row 1, group 1 .* holds 2 ones"):
        one_hot_to_codes(np.array([[1, 0, 0, 0], [0, 1, 1, 1]]), 2, False)
    with pytest.raises(ValueError, match="5 columns are not groups of 3"):
        one_hot_to_codes(np.zeros((2, 5)), 3, True)


def test_text_files_of_codes(tmp_path):
    from nadefast.datasets import load_array

    path = tmp_path / "codes.csv"
    path.write_text("# three columns\n0,2,1\n3,0,1\n")
    X = load_array(path, values="codes")
    assert X.dtype == np.int32
    np.testing.assert_array_equal(X, [[0, 2, 1], [3, 0, 1]])
    path.write_text("0,2,1\n3,-1,1\n")
    with pytest.raises(ValueError, match="line 2, column 2 holds '-1'; category codes must be whole"):
        load_array(path, values="codes")
    path.write_text("0,2,1\n3,1.5,1\n")
    with pytest.raises(ValueError, match="line 2, column 2 holds '1.5'"):
        load_array(path, values="codes")
    with pytest.raises(ValueError, match="values must be one of"):
        load_array(path, values="labels")


def test_command_line_trains_evaluates_and_samples_categorical_models(tmp_path, capsys):
    from nadefast.cli import main

    rng = np.random.default_rng(3)
    X = _data(rng, (3, 4, 2, 3), rows=120)
    np.savez(tmp_path / "codes.npz", train=X[:80], valid=X[80:100], test=X[100:])
    model = tmp_path / "m.npz"
    argv = ["train", tmp_path / "codes.npz", "--output", "categorical", "--hidden", 6,
            "--epochs", 3, "--seed", 1, "--backend", "numpy", "--quiet", "--out", model]
    assert main([str(a) for a in argv]) == 0
    expected = NADE(6, output="categorical", random_state=1, backend="numpy").fit(
        X[:80], X[80:100], epochs=3)
    loaded = NADE.load(model, backend="numpy")
    np.testing.assert_array_equal(loaded.W_, expected.W_)
    np.testing.assert_array_equal(loaded.n_categories_, [3, 4, 2, 3])
    capsys.readouterr()
    assert main(["eval", str(model), str(tmp_path / "codes.npz"), "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert float(out.split()[2]) == pytest.approx(-expected.score(X[100:]), abs=1e-4)
    assert main(["sample", str(model), "-n", "3", "--seed", "2", "--backend", "numpy"]) == 0
    rows = [list(map(int, line.split())) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_array_equal(rows, expected.sample(3, random_state=2))
