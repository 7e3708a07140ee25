"""fit on data that need not fit in memory: NumPy memmaps and Dask arrays, streamed by chunks."""

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE
from nadefast._streaming import epoch_batches, row_chunks


def _data(rows=600, n=16, seed=0):
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 2, size=(3, n))
    return (prototypes[rng.integers(3, size=rows)] ^ (rng.random((rows, n)) < 0.1)).astype(np.uint8)


@pytest.fixture
def memmap(tmp_path):
    X = _data()
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=X.shape)
    mm[...] = X
    mm.flush()
    return np.load(tmp_path / "x.npy", mmap_mode="r"), X


def test_epoch_batches_visit_every_row_once_chunk_by_chunk(memmap, monkeypatch):
    mm, X = memmap
    import nadefast._streaming as streaming
    from nadefast._outputs import make_output

    monkeypatch.setattr(streaming, "row_chunks", lambda X, bs: [(0, 250), (250, 500), (500, 600)])
    rng = np.random.default_rng(0)
    batches = list(epoch_batches(mm, 64, rng, make_output("bernoulli")))
    seen = np.vstack(batches)
    # every row exactly once (compare as sorted multisets of rows)
    key = lambda A: np.sort(A @ (1 << np.arange(16)))  # noqa: E731
    np.testing.assert_array_equal(key(seen), key(X))
    # a batch never mixes chunks: each comes from one of the three row ranges
    for b in batches:
        codes = set(b @ (1 << np.arange(16)))
        assert any(codes <= set(X[a:z] @ (1 << np.arange(16))) for a, z in ((0, 250), (250, 500), (500, 600)))


def test_fit_on_a_memmap(memmap, tmp_path):
    mm, X = memmap
    assert row_chunks(mm, 100) == [(0, 600)]  # 64 MB chunks: one here
    model = NADE(16, random_state=0).fit(mm, X[:100], epochs=20, learning_rate=1e-2)
    losses = [h["train_nll"] for h in model.history_]
    assert losses[-1] < losses[0] - 1.0
    # and resuming is exact, as in memory
    ckpt = tmp_path / "c.ckpt"
    full = NADE(8, random_state=1).fit(mm, epochs=4, patience=None)
    NADE(8, random_state=1).fit(mm, epochs=2, checkpoint=ckpt)
    resumed = NADE(8).fit(mm, epochs=4, checkpoint=ckpt, resume=True)
    np.testing.assert_array_equal(resumed.W_, full.W_)


def test_bad_values_in_a_streamed_chunk_are_named(tmp_path):
    X = _data().astype(np.float32)
    X[450, 3] = 0.5
    np.save(tmp_path / "bad.npy", X)
    mm = np.load(tmp_path / "bad.npy", mmap_mode="r")
    with pytest.raises(ValueError, match=r"contains 0.5 at \[450, 3\].*rows 0\.\.599 of X"):
        NADE(4, random_state=0).fit(mm, epochs=1)


def test_fit_on_a_dask_array():
    da = pytest.importorskip("dask.array", reason="dask is not installed (pip install '.[dask]')")
    X = _data(800)
    dX = da.from_array(X, chunks=(200, 16))
    model = NADE(16, random_state=0).fit(dX, X[:100], epochs=15,
                                                                learning_rate=1e-2)
    losses = [h["train_nll"] for h in model.history_]
    assert losses[-1] < losses[0] - 1.0
    again = NADE(16, random_state=0).fit(dX, X[:100], epochs=15, learning_rate=1e-2)
    np.testing.assert_array_equal(again.W_, model.W_)  # reproducible for the same chunking
    oa = OrderAgnosticNADE(8, n_layers=2, random_state=0).fit(dX, dX[:100], epochs=2)
    assert np.isfinite(oa.score(X[:50]))


@pytest.mark.parametrize("output", ["bernoulli", "categorical", "gaussian_mixture"])
@pytest.mark.parametrize("model_cls", [NADE, OrderAgnosticNADE])
def test_a_one_chunk_memmap_fits_as_the_array_does(tmp_path, output, model_cls):
    """One chunk, one batch: the same rows in the same order, so the streamed fit must start
    from the same initial parameters (which for real values are placed in standardised
    units) and take the same steps as the in-memory one."""
    rng = np.random.default_rng(3)
    X = {"bernoulli": _data(200, 6),
         "categorical": rng.integers(0, 3, size=(200, 5)).astype(np.int32),
         # far from standardised units: an initialisation in the wrong units shows
         "gaussian_mixture": 50.0 + 20.0 * rng.normal(size=(200, 4))}[output]
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    fits = [model_cls(8, output=output, random_state=0).fit(data, epochs=2, batch_size=200,
                                                            patience=None)
            for data in (X, mm)]
    np.testing.assert_allclose(fits[1].W_, fits[0].W_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fits[1].c_, fits[0].c_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose([h["train_nll"] for h in fits[1].history_],
                               [h["train_nll"] for h in fits[0].history_], rtol=1e-9)
