"""nadefast.dask: score_samples, conditionals and sample on Dask arrays; from_npy.

Every result is compared bit for bit with the in-memory call on the same
data, for several chunkings and both dtypes; one test runs on a real
dask.distributed.LocalCluster (2 worker processes, loopback only).  Tests
that need Dask (or distributed) are skipped, with the command to install it,
when it is missing -- or fail, when NADEFAST_REQUIRE_DASK=1 (for CI, which
installs the extra); the import-hygiene tests run either way.
"""

import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

from nadefast import NADE, NotFittedError, OrderAgnosticNADE

INSTALL = 'pip install "nadefast[dask]"'
N_FEATURES = 23


def _import_or_skip(module, what):
    """Import `module`, or skip -- or fail, when NADEFAST_REQUIRE_DASK=1 (CI with the extra)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{what} is not installed or does not import ({INSTALL}): {exc}"
        if os.environ.get("NADEFAST_REQUIRE_DASK", "") not in ("", "0"):
            pytest.fail(message + " [NADEFAST_REQUIRE_DASK is set]")
        pytest.skip(message)


@pytest.fixture(scope="module")
def da():
    return _import_or_skip("dask.array", "Dask")


@pytest.fixture(scope="module")
def nd(da):
    import nadefast.dask

    return nadefast.dask


def _model(dtype, seed=0, d=17, n=N_FEATURES, random_state=None):
    """A fitted model with random parameters and a random ordering."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 1.0, (d, n))
    V = rng.normal(0, 1.0, (n, d))
    model = NADE.from_params(W.astype(dtype), rng.normal(0, 0.5, d).astype(dtype),
                             V.astype(dtype), rng.normal(0, 1.0, n).astype(dtype),
                             ordering=rng.permutation(n))
    return model.set_params(random_state=random_state)


@pytest.fixture(scope="module", params=["float32", "float64"])
def model(request):
    return _model(request.param)


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(7)
    return (rng.random((157, N_FEATURES)) < 0.3).astype(np.uint8)


def _same(a, b):
    """Bit-for-bit equality: same dtype, same shape, same bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


CHUNKINGS = [
    (157, N_FEATURES),              # one block
    (50, N_FEATURES),               # regular blocks and a short last one
    (1, N_FEATURES),                # one row per block
    ((0, 57, 3, 97), (N_FEATURES,)),  # irregular, with an empty block
    (40, 5),                        # chunked along the features too: rechunked
]


# ------------------------------------------------------------ no Dask needed

def _run(code):
    # from outside the source tree, whose nadefast/ has no compiled extension
    with tempfile.TemporaryDirectory() as elsewhere:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=120, cwd=elsewhere)


def test_import_nadefast_does_not_import_dask():
    proc = _run("""
        import sys
        import nadefast, nadefast.cli, nadefast.datasets
        from nadefast import NADE
        assert not any(m == "dask" or m.startswith("dask.") or m == "distributed"
                       for m in sys.modules), sorted(m for m in sys.modules if "dask" in m)
    """)
    assert proc.returncode == 0, proc.stderr


def test_import_without_dask_says_how_to_install():
    proc = _run("""
        import sys
        sys.modules["dask"] = None      # as if Dask were not installed
        try:
            import nadefast.dask
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("no ImportError")
    """)
    assert proc.returncode == 0, proc.stderr
    assert INSTALL in proc.stdout


# ----------------------------------------------- identical to the in-memory calls

@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
def test_score_samples_and_conditionals_identical(da, nd, model, X, chunks):
    dX = da.from_array(X, chunks=chunks)
    logp = nd.score_samples(model, dX)
    cond = nd.conditionals(model, dX)
    assert logp.shape == (X.shape[0],) and logp.dtype == np.float64
    assert logp.chunks[0] == dX.chunks[0]
    assert cond.shape == X.shape and cond.dtype == model.c_.dtype
    assert cond.chunks == (dX.chunks[0], (N_FEATURES,))
    assert _same(logp.compute(), model.score_samples(X))
    assert _same(cond.compute(), model.conditionals(X))


@pytest.mark.parametrize("kind", [bool, np.float32, np.float64, np.int64])
def test_input_dtypes(da, nd, model, X, kind):
    dX = da.from_array(X.astype(kind), chunks=(60, -1))
    assert _same(nd.score_samples(model, dX).compute(), model.score_samples(X))
    assert _same(nd.conditionals(model, dX).compute(), model.conditionals(X))


def test_unknown_row_chunks(da, nd, model, X):
    dX = da.from_array(X, chunks=(40, -1))
    keep = dX.sum(axis=1) > 5
    sub = dX[keep]                                      # row-chunk sizes unknown (NaN)
    assert np.isnan(sub.shape[0])
    expected = X[X.sum(axis=1) > 5]
    assert _same(nd.score_samples(model, sub).compute(), model.score_samples(expected))
    assert _same(nd.conditionals(model, sub).compute(), model.conditionals(expected))


def test_order_agnostic_model(da, nd, X):
    model = OrderAgnosticNADE(12, n_layers=2, random_state=0).fit(X, epochs=1)
    dX = da.from_array(X, chunks=(33, -1))
    assert _same(nd.score_samples(model, dX).compute(), model.score_samples(X))
    assert _same(nd.conditionals(model, dX).compute(), model.conditionals(X))
    assert _same(nd.sample(model, 90, chunks=13, random_state=4).compute(),
                 model.sample(90, random_state=4))


@pytest.mark.parametrize("chunks", [1000, 7, 1, (3, 0, 500, 497), "auto"], ids=str)
def test_sample_identical_for_any_chunking(da, nd, model, chunks):
    S = nd.sample(model, 1000, chunks=chunks, random_state=3)
    assert S.shape == (1000, N_FEATURES) and S.dtype == np.uint8
    assert S.numblocks[1] == 1
    if chunks == 7:
        assert S.chunks[0] == (7,) * 142 + (6,)
    assert _same(S.compute(), model.sample(1000, random_state=3))


def test_sample_random_states(da, nd):
    model = _model("float32", random_state=11)
    # None: the estimator's random_state, as in model.sample
    assert _same(nd.sample(model, 50, chunks=9).compute(), model.sample(50))
    # a Generator: the same 128 bits are drawn from it
    got = nd.sample(model, 50, chunks=9, random_state=np.random.default_rng(5)).compute()
    assert _same(got, model.sample(50, random_state=np.random.default_rng(5)))
    # fresh entropy: the key is drawn once, when the array is built
    model.random_state = None
    S = nd.sample(model, 40, chunks=6)
    assert _same(S.compute(), S.compute())
    assert not _same(S.compute(), nd.sample(model, 40, chunks=6).compute())
    # no rows
    empty = nd.sample(model, 0, chunks=5).compute()
    assert empty.shape == (0, N_FEATURES) and empty.dtype == np.uint8


def test_n_jobs_does_not_change_results(da, nd, model, X):
    dX = da.from_array(X, chunks=(50, -1))
    expected = model.score_samples(X)
    for n_jobs in (1, 2, None, -1):
        assert _same(nd.score_samples(model, dX, n_jobs=n_jobs).compute(), expected)
    assert _same(nd.sample(model, 200, chunks=64, random_state=1, n_jobs=2).compute(),
                 model.sample(200, random_state=1))


# ------------------------------------------------------- how the work is shipped

def test_model_is_one_key_of_the_graph(da, nd, model, X):
    S = nd.sample(model, 5000, chunks=100, random_state=0)         # 50 tasks
    graph = dict(S.__dask_graph__())
    model_bytes = len(pickle.dumps(model))
    assert len(pickle.dumps(graph)) < model_bytes + 50_000          # not 50 copies
    assert sum(str(k).startswith("nade-model-") for k in graph) == 1
    logp = nd.score_samples(model, da.from_array(X, chunks=(10, -1)))
    assert len(pickle.dumps(dict(logp.__dask_graph__()))) < model_bytes + X.nbytes + 50_000


def test_model_copied_when_the_graph_is_built(da, nd, X):
    model = _model("float64")
    dX = da.from_array(X, chunks=(50, -1))
    logp, S = nd.score_samples(model, dX), nd.sample(model, 30, chunks=7, random_state=2)
    expected_logp, expected_S = model.score_samples(X), model.sample(30, random_state=2)
    model.c_ = model.c_ + 1.0                           # changed after the arrays were built
    assert _same(logp.compute(), expected_logp)
    assert _same(S.compute(), expected_S)


# ---------------------------------------------------------------- from_npy

@pytest.mark.parametrize("chunks", [64, (0, 100, 57), "auto"], ids=str)
def test_from_npy_reads_rows_lazily(da, nd, model, X, tmp_path, chunks):
    path = tmp_path / "X.npy"
    np.save(path, X)
    dX = nd.from_npy(path, chunks=chunks)
    assert dX.shape == X.shape and dX.dtype == X.dtype and dX.numblocks[1] == 1
    assert len(pickle.dumps(dict(dX.__dask_graph__()))) < 5_000       # the path, not the data
    assert _same(dX.compute(), X)
    assert _same(nd.score_samples(model, dX).compute(), model.score_samples(X))
    assert nd.from_npy(str(path), chunks=chunks).name == dX.name          # deterministic


def test_from_npy_errors(da, nd, X, tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(X))
    with pytest.raises(ValueError, match="Fortran"):
        nd.from_npy(tmp_path / "f.npy")
    np.save(tmp_path / "v.npy", X[0])
    with pytest.raises(ValueError, match="2-D"):
        nd.from_npy(tmp_path / "v.npy")
    np.save(tmp_path / "e.npy", X[:, :0])
    with pytest.raises(ValueError, match="0 columns"):
        nd.from_npy(tmp_path / "e.npy")
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match="sum to"):
        nd.from_npy(tmp_path / "X.npy", chunks=(100, 100))
    with pytest.raises(FileNotFoundError):
        nd.from_npy(tmp_path / "missing.npy")
    with pytest.raises(TypeError, match="from_npy"):
        nd.score_samples(_model("float32"), np.load(tmp_path / "X.npy", mmap_mode="r"))


# ------------------------------------------------------------------ errors

def test_errors(da, nd, model, X):
    dX = da.from_array(X, chunks=(50, -1))
    with pytest.raises(TypeError, match="dask.array.from_array"):
        nd.score_samples(model, X)                      # a NumPy array
    with pytest.raises(TypeError, match="dask.array.Array"):
        nd.conditionals(model, X.tolist())
    with pytest.raises(TypeError, match="NADE"):
        nd.score_samples("model.npz", dX)
    with pytest.raises(NotFittedError):
        nd.score_samples(NADE(5), dX)
    with pytest.raises(NotFittedError):
        nd.sample(NADE(5), 10)
    with pytest.raises(ValueError, match="features"):
        nd.score_samples(model, dX[:, :-1])
    with pytest.raises(ValueError, match="2-D"):
        nd.score_samples(model, dX[0])
    with pytest.raises(ValueError, match="2-D"):
        nd.conditionals(model, dX[None])
    with pytest.raises(TypeError, match="dtype"):
        nd.score_samples(model, da.from_array(X.astype(str), chunks=50))
    with pytest.raises(ValueError, match="n_samples"):
        nd.sample(model, -1)
    with pytest.raises(ValueError, match="sum to"):
        nd.sample(model, 10, chunks=(3, 3))
    with pytest.raises(ValueError, match="at least 1"):
        nd.sample(model, 10, chunks=0)
    with pytest.raises(TypeError, match="chunks"):
        nd.sample(model, 10, chunks=2.5)
    with pytest.raises(ValueError, match="n_jobs"):
        nd.score_samples(model, dX, n_jobs=0)


def test_bad_values_found_at_compute_name_the_rows(da, nd, model, X):
    Y = X.copy()
    Y[120, 4] = 2
    logp = nd.score_samples(model, da.from_array(Y, chunks=(50, -1)))   # lazy: no error yet
    with pytest.raises(ValueError, match=r"contains 2 at \[20, 4\].*rows 100\.\.149"):
        logp.compute()


# ----------------------------------------------------- a real distributed cluster

def test_local_cluster_scores_and_samples(da, nd, X, tmp_path):
    distributed = _import_or_skip("distributed", "dask.distributed")
    model = _model("float32", seed=3)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in
                   [cluster.scheduler_address, *client.scheduler_info()["workers"]])
        dX = da.from_array(X, chunks=(20, -1))
        np.save(tmp_path / "X.npy", X)
        logp, cond, S, logp_file = client.compute([
            nd.score_samples(model, dX),
            nd.conditionals(model, dX),
            nd.sample(model, 1000, chunks=125, random_state=9),
            nd.score_samples(model, nd.from_npy(tmp_path / "X.npy", chunks=30)),  # read by workers
        ], sync=True)
        # the work ran in the worker processes, not here
        ran = client.run(lambda: "nadefast._core" in sys.modules)
        assert len(ran) == 2 and any(ran.values())
    assert _same(logp, model.score_samples(X))
    assert _same(logp_file, logp)
    assert _same(cond, model.conditionals(X))
    assert _same(S, model.sample(1000, random_state=9))
