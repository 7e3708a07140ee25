"""Model files: bit-exact round trips, atomic writes, and refusal of bad files."""

import os

import numpy as np
import pytest

import nadefast
from nadefast import NADE, OrderAgnosticNADE
from nadefast import io as nio

from reference import random_params


@pytest.fixture(params=["float32", "float64"])
def model(request, rng):
    n, d = 11, 7
    return NADE.from_params(*random_params(rng, n, d), ordering=rng.permutation(n), dtype=request.param)


def test_round_trip_is_bit_exact(model, tmp_path, rng, backend):
    model.set_params(backend=backend)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = NADE.load(path)
    assert loaded.backend == "compiled"  # a file holds no backend: a loaded model has the default
    loaded.set_params(backend=backend)
    assert loaded.W_.dtype == model.W_.dtype
    for name in ("W_", "b_", "V_", "c_", "ordering_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    X = (rng.random((30, 11)) < 0.5).astype(np.uint8)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    np.testing.assert_array_equal(loaded.sample(20, random_state=3), model.sample(20, random_state=3))


def test_file_layout_is_the_documented_one(model, tmp_path):
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == {"format", "format_version", "model", "output", "W", "b", "V", "c",
                                "ordering"}
        assert str(f["format"]) == "nadefast.NADE" and int(f["format_version"]) == 3
        assert str(f["model"]) == "NADE" and str(f["output"]) == "bernoulli"
        np.testing.assert_array_equal(f["W"], model.W_)
        assert f["W"].shape == (7, 11) and f["V"].shape == (11, 7)
        assert f["ordering"].dtype == np.int64


def test_save_writes_exactly_the_given_path(model, tmp_path):
    path = tmp_path / "no-suffix"
    model.save(path)
    assert path.exists() and not (tmp_path / "no-suffix.npz").exists()
    assert NADE.load(path).n_features_in_ == 11
    assert sorted(os.listdir(tmp_path)) == ["no-suffix"]  # no temporary left behind


def test_failed_save_leaves_the_old_file_intact(model, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")  # something reaches the disk ...
        raise OSError("No space left on device")  # ... then the write fails

    monkeypatch.setattr(nio.np, "savez", failing_savez)
    other = NADE.from_params(np.ones((2, 11)), np.ones(2), np.ones((11, 2)), np.ones(11))
    with pytest.raises(OSError, match="No space left"):
        other.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def _write(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _good_arrays(model):
    return {"format": np.array("nadefast.NADE"), "format_version": np.array(1, dtype=np.int64),
            "W": np.asarray(model.W_), "b": np.asarray(model.b_), "V": np.asarray(model.V_),
            "c": np.asarray(model.c_), "ordering": np.asarray(model.ordering_, dtype=np.int64)}


@pytest.mark.parametrize("mutate, match", [
    (lambda a: a.pop("V"), r"missing \['V'\]"),
    (lambda a: a.update(format=np.array("something.else")), "format is"),
    (lambda a: a.update(format_version=np.array(4)), "version 4, newer than"),
    (lambda a: a.update(format_version=np.array(3)), "model must be one of"),
    (lambda a: a.update(format_version=np.array(3), model=np.array("NADE"),
                        output=np.array("gaussian")), "output must be one of"),
    (lambda a: a.update(kind=np.array("sideways")), "unknown model kind 'sideways'"),
    (lambda a: a.update(format_version=np.array(0)), "format_version 0 is invalid"),
    (lambda a: a.update(format_version=np.array(1.5)), "not an integer"),
    (lambda a: a.update(W=a["W"][:, :-1]), "V has shape|c has shape|ordering has 11 entries"),
    (lambda a: a.update(b=a["b"][:-1]), "b has shape"),
    (lambda a: a.update(W=a["W"].astype(np.float16)), "float32 or all float64"),
    (lambda a: a.update(c=a["c"].astype(np.float32) if a["W"].dtype == np.float64
                        else a["c"].astype(np.float64)), "float32 or all float64"),
    (lambda a: a.update(c=np.full_like(a["c"], np.nan)), "c contains NaN"),
    (lambda a: a.update(ordering=np.zeros_like(a["ordering"])), "permutation"),
    (lambda a: a.update(ordering=a["ordering"][:-1]), "entries"),
])
def test_invalid_model_files_are_refused(model, tmp_path, mutate, match):
    arrays = _good_arrays(model)
    mutate(arrays)
    path = tmp_path / "bad.npz"
    _write(path, **arrays)
    with pytest.raises(ValueError, match=match):
        NADE.load(path)


def test_truncated_and_foreign_files_are_refused(model, tmp_path):
    good = tmp_path / "good.npz"
    model.save(good)
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        bad = tmp_path / f"truncated{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="not a readable nadefast model file|not a valid"):
            NADE.load(bad)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a"):
        NADE.load(text)
    single = tmp_path / "array.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="not a"):
        NADE.load(single)
    pickled = tmp_path / "pickled.npz"
    with open(pickled, "wb") as f:
        np.savez(f, **{**_good_arrays(model), "W": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="not a readable|pickle"):
        NADE.load(pickled)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        NADE.load(tmp_path / "missing.npz")


def _oa_model(rng, n=9, d=5, layers=3, dtype="float64", backend="compiled"):
    X = (rng.random((30, n)) < 0.5).astype(np.uint8)
    model = OrderAgnosticNADE(d, n_layers=layers, ordering="random", dtype=dtype,
                              random_state=1, backend=backend).fit(X, epochs=1)
    model.b_hidden_[...] = rng.normal(size=model.b_hidden_.shape)
    return model, X


def test_order_agnostic_file_layout_and_round_trip(rng, tmp_path, backend):
    model, X = _oa_model(rng, backend=backend)
    path = tmp_path / "oa.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == {"format", "format_version", "model", "output", "W", "M", "b",
                                "W_hidden", "b_hidden", "V", "c", "ordering", "random_state"}
        assert int(f["random_state"]) == 1  # the seed of the fit, restored by load
        assert int(f["format_version"]) == 3 and str(f["model"]) == "OrderAgnosticNADE"
        assert f["W_hidden"].shape == (2, 5, 5) and f["M"].shape == (5, 9)
    for loaded in (OrderAgnosticNADE.load(path), nadefast.load(path)):
        assert type(loaded) is OrderAgnosticNADE and loaded.n_layers == 3
        assert loaded.random_state == 1
        loaded.set_params(backend=backend)
        for name in ("W_", "M_", "b_", "W_hidden_", "b_hidden_", "V_", "c_", "ordering_"):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
        np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    with pytest.raises(ValueError, match="holds a OrderAgnosticNADE, not a NADE"):
        NADE.load(path)


def test_files_of_earlier_format_versions_still_load(model, rng, tmp_path):
    """Version 1 (a NADE) and version 2 (kind = order_agnostic) as nadefast 0.1 wrote them."""
    old = tmp_path / "v1.npz"
    _write(old, **_good_arrays(model))
    for loaded in (NADE.load(old), nadefast.load(old)):
        assert type(loaded) is NADE
        for name in ("W_", "b_", "V_", "c_", "ordering_"):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    oa, X = _oa_model(rng)
    arrays = {"format": np.array("nadefast.NADE"), "format_version": np.array(2, dtype=np.int64),
              "kind": np.array("order_agnostic"),
              "ordering": np.asarray(oa.ordering_, dtype=np.int64)}
    arrays.update({k: np.asarray(getattr(oa, k + "_")) for k in
                   ("W", "M", "b", "W_hidden", "b_hidden", "V", "c")})
    v2 = tmp_path / "v2.npz"
    _write(v2, **arrays)
    loaded = nadefast.load(v2)
    assert type(loaded) is OrderAgnosticNADE and loaded.n_layers == 3
    np.testing.assert_array_equal(loaded.score_samples(X), oa.score_samples(X))
