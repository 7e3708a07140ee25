"""NADE inference on Dask arrays: score, conditionals and samples, chunk by chunk.

Install with ``pip install "nadefast[dask]"`` (Dask is an optional extra;
``import nadefast`` never imports it).

>>> import dask.array as da
>>> import nadefast.dask as nd
>>> X = da.from_array(big_uint8_array, chunks=(50_000, -1))     # doctest: +SKIP
>>> logp = nd.score_samples(model, X)          # lazy (n_samples,) float64
>>> logp.sum().compute()                                          # doctest: +SKIP
>>> S = nd.sample(model, 10**7, chunks=100_000, random_state=0)  # lazy (10**7, n) uint8
>>> logp = nd.score_samples(model, nd.from_npy("big.npy", chunks=50_000))  # doctest: +SKIP

``score_samples``, ``conditionals`` and ``sample`` are thin layers over the
in-memory methods of the same names, applied with ``map_blocks`` to blocks of
rows; each returns exactly (bit for bit) what the in-memory call returns on
the whole array:

- ``score_samples`` / ``conditionals``: a row's result does not depend on the
  other rows of its batch (nadefast's canonical arithmetic), so any row
  chunking gives the in-memory numbers.
- ``sample``: chunk i is ``model.sample_rows(key, start_i, stop_i)``, rows
  start_i .. stop_i - 1 of the key's sample sequence, so any chunking gives
  ``model.sample(n_samples, random_state=random_state)``.

How the work is shipped
-----------------------
The model is copied once when the graph is built (later changes to `model`,
e.g. further ``fit`` calls, do not affect an array already built) and enters
the graph as ONE key that every task depends on: on a ``dask.distributed``
cluster it is pickled once, sent to the workers that need it and kept there,
not embedded in every task.  A model of 784 features and 500 hidden units is
about 3 MB.

Threads (``n_jobs``)
--------------------
Each task runs the compiled core with ``n_jobs`` threads, 1 by default.
Dask already runs one task per worker thread (the local threaded scheduler
uses one thread per core), and the kernels release the GIL, so one OpenMP
thread per task keeps every core busy without oversubscription: with the
model's own default (``n_jobs=None``: all cores) each of k Dask threads
would start its own team of all-cores OpenMP threads, k x cores threads
fighting for the cores (and libgomp keeps a separate pool per calling
thread).  Pass an int (or ``-1``: all CPUs) when a worker runs one Dask
thread on several cores, e.g. ``LocalCluster(n_workers=2,
threads_per_worker=1)`` on 8 cores: ``n_jobs=4``.  (``n_jobs=None`` means
OpenMP's default, and ``dask.distributed`` starts its workers with
OMP_NUM_THREADS=1, so there it is 1 thread too.)  Results never depend on
``n_jobs``.

Data in a file larger than memory
---------------------------------
``from_npy(path, chunks=rows)`` is a Dask array of the rows of a 2-D
``.npy`` file in which each block maps only its own rows (``np.memmap`` with
an offset) when it is computed, in whichever process computes it; the graph
holds the path, not the data.  Scoring such an array needs about one block
of memory per Dask thread.  Do not use ``dask.array.from_array(np.load(path,
mmap_mode="r"))``: since Dask 2024.12 ``from_array`` copies its input into
memory (dask/dask#11850), and on a cluster a memmap pickles as a full copy.

Errors
------
Arguments are checked when the array is built: a non-Dask X raises
TypeError (with the call to make instead), a wrong shape or number of
features ValueError, an unfitted model NotFittedError.  Values other than
0/1 are found only when a block is computed; the ValueError then names the
rows of X it was found in.
"""

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        'nadefast.dask needs Dask, an optional extra: pip install "nadefast[dask]" '
        f'(or pip install "dask[array]", plus "distributed" for a cluster); {exc}'
    ) from exc

import copy
import math
import numbers
import os

import numpy as np

from nadefast._parallel import effective_n_threads
from nadefast._random import philox_key
from nadefast._validation import NotFittedError, check_int
from nadefast._base import BaseNADE

__all__ = ["score_samples", "conditionals", "sample", "from_npy"]


# ------------------------------------------------------------------ helpers

def _check_model(model, n_jobs):
    """Validate model and n_jobs; return a Delayed holding a private copy of the model.

    The copy runs with `n_jobs` threads and is one key of the graph, so it
    is serialized once per graph, not once per task.
    """
    if not isinstance(model, BaseNADE):
        raise TypeError(f"model must be a nadefast NADE or OrderAgnosticNADE, got "
                        f"{type(model).__name__}")
    if not model.__sklearn_is_fitted__():
        raise NotFittedError(f"this {type(model).__name__} is not fitted yet; fit or load it first")
    effective_n_threads(n_jobs)  # raises now, not inside a task
    snapshot = copy.deepcopy(model)
    snapshot.n_jobs = n_jobs
    name = "nade-model-" + tokenize(type(snapshot).__qualname__, snapshot.__getstate__())
    return dask.delayed(snapshot, pure=True, traverse=False, name=name), snapshot


def _check_X(X, n_features, func):
    """X as a 2-D Dask array with one chunk along features."""
    if not isinstance(X, da.Array):
        kind = type(X).__module__.split(".")[0] + "." + type(X).__name__
        if hasattr(X, "to_dask_array"):  # a Dask DataFrame or Series
            advice = "convert it with X.to_dask_array(lengths=True)"
        elif isinstance(X, np.memmap):
            advice = ("for a .npy file use nadefast.dask.from_npy(path, chunks=rows_per_chunk), "
                      "which reads each block's rows from the file when it is computed")
        else:
            advice = (f"for data in memory call model.{func}(X) directly, or wrap it with "
                      f"dask.array.from_array(X, chunks=(rows_per_chunk, -1))")
        raise TypeError(f"X must be a dask.array.Array, got {kind}; {advice}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got {X.ndim}-D shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold numbers 0/1 (bool, integer or float), got dtype {X.dtype}")
    if math.isnan(X.shape[1]):
        raise ValueError("X has an unknown number of features; call X.compute_chunk_sizes() first")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the model has {n_features}")
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})  # the kernels need whole rows; row chunks are kept
    return X


def _row_chunks(chunks, n_rows, n_cols, dtype):
    """Dask chunks ((rows...), (n_cols,)) from a rows-only spec: int, "auto" or row counts."""
    if isinstance(chunks, numbers.Integral) and not isinstance(chunks, bool):
        if chunks < 1:
            raise ValueError(f"chunks must be at least 1 row, got {chunks}")
        chunks = int(chunks)
    elif isinstance(chunks, (tuple, list)):
        if not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c >= 0
                   for c in chunks):
            raise ValueError(f"chunks must be row counts >= 0, got {chunks!r}")
        if sum(chunks) != n_rows:
            raise ValueError(f"chunks {tuple(chunks)} sum to {sum(chunks)} rows, "
                             f"but there are {n_rows}")
        chunks = tuple(int(c) for c in chunks)
    elif not (isinstance(chunks, str) and chunks == "auto"):
        raise TypeError(f"chunks must be an int, 'auto' or a tuple of row counts, got {chunks!r}")
    return da.core.normalize_chunks((chunks, -1), shape=(n_rows, n_cols), dtype=dtype)


def _rows_of(block_info, key):
    """'rows a..b of X' for an error message, from map_blocks' block_info."""
    try:
        start, stop = block_info[key]["array-location"][0]
        if not (math.isnan(start) or math.isnan(stop)):
            return f"rows {int(start)}..{int(stop) - 1}"
    except (KeyError, TypeError, ValueError, IndexError):
        pass
    try:
        return f"row chunk {block_info[key]['chunk-location'][0]}"
    except (KeyError, TypeError, IndexError):
        return "one chunk"


def _in_rows(exc, block_info):
    """exc, its message completed with where in X the failing block lies."""
    message = (f"{exc} [in the Dask block holding {_rows_of(block_info, 0)} of X; "
               f"row indices above count from the start of that block]")
    try:
        return type(exc)(message)
    except Exception:  # an exception class with another signature: keep it as is
        return exc


# The task functions: module-level, so workers import them from nadefast
# instead of receiving pickled code.

def _score_block(block, model, block_info=None):
    # (rows, 1), a view: score_samples takes the column away with [:, 0].
    # (map_blocks' drop_axis would copy every input block first: blockwise
    # concatenates the blocks along a dropped axis, even a single one.)
    try:
        return model.score_samples(block)[:, None]
    except (ValueError, TypeError) as exc:
        raise _in_rows(exc, block_info) from exc


def _conditionals_block(block, model, block_info=None):
    try:
        return model.conditionals(block)
    except (ValueError, TypeError) as exc:
        raise _in_rows(exc, block_info) from exc


def _sample_block(model, key, block_info=None):
    start, stop = block_info[None]["array-location"][0]
    return model.sample_rows(np.array(key, dtype=np.uint64), start, stop)


def _npy_block(path, dtype, offset, n_cols, block_info=None):
    """Rows start..stop-1 of a C-order 2-D .npy file, mapped (not read) from the file."""
    start, stop = block_info[None]["array-location"][0]
    row_bytes = n_cols * dtype.itemsize
    if stop == start:  # mmap cannot map 0 bytes
        return np.empty((0, n_cols), dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset + start * row_bytes,
                     shape=(stop - start, n_cols))


# --------------------------------------------------------------------- API

def score_samples(model, X, *, n_jobs=1):
    """Exact log p(x) of each row of a Dask array, in nats, computed chunk by chunk.

    Parameters
    ----------
    model : fitted nadefast.NADE or OrderAgnosticNADE
    X : dask.array.Array, shape (n_samples, n_features), of 0/1
        Bool, integer or float.  Chunked by rows; several chunks along the
        features are merged (``X.rechunk({1: -1})``).  Unknown row-chunk
        sizes (NaN) are fine.
    n_jobs : threads of the compiled core per task (see the module
        docstring); 1 by default.  Results do not depend on it.

    Returns
    -------
    dask.array.Array, shape (n_samples,), float64, chunked like the rows of X:
    equal bit for bit to ``model.score_samples(X.compute())``.
    """
    model_d, snapshot = _check_model(model, n_jobs)
    X = _check_X(X, snapshot.n_features_in_, "score_samples")
    column = da.map_blocks(_score_block, X, model_d, chunks=(X.chunks[0], (1,)),
                           dtype=np.float64, meta=np.empty((0, 0), np.float64),
                           name="nade-score-samples-" + tokenize(X.name, model_d.key))
    return column[:, 0]


def conditionals(model, X, *, n_jobs=1):
    """P(x_i = 1 | the variables before i in the ordering) for every row of a Dask array.

    Parameters
    ----------
    model : fitted nadefast.NADE or OrderAgnosticNADE
    X : dask.array.Array, shape (n_samples, n_features), of 0/1, chunked by
        rows (see `score_samples`).
    n_jobs : threads of the compiled core per task; 1 by default.

    Returns
    -------
    dask.array.Array, shape (n_samples, n_features), in the model's dtype,
    columns in feature order, chunked like X (one chunk along features):
    equal bit for bit to ``model.conditionals(X.compute())``.
    """
    model_d, snapshot = _check_model(model, n_jobs)
    X = _check_X(X, snapshot.n_features_in_, "conditionals")
    dtype = snapshot.c_.dtype
    return da.map_blocks(_conditionals_block, X, model_d, dtype=dtype,
                         meta=np.empty((0, 0), dtype),
                         name="nade-conditionals-" + tokenize(X.name, model_d.key))


def sample(model, n_samples, *, chunks="auto", random_state=None, n_jobs=1):
    """Draw n_samples vectors from the model as a Dask array, chunk by chunk.

    Parameters
    ----------
    model : fitted nadefast.NADE or OrderAgnosticNADE
    n_samples : int >= 0
    chunks : rows per chunk: an int, "auto" (Dask's ``array.chunk-size``,
        128 MiB by default) or a tuple of row counts summing to n_samples.
        The features are always one chunk.
    random_state : None, int, numpy Generator, RandomState or SeedSequence
        As in ``NADE.sample`` (None: the estimator's random_state).  The
        128-bit key is drawn once, now: computing the array twice gives the
        same rows, even when the key comes from fresh entropy.
    n_jobs : threads of the compiled core per task; 1 by default.

    Returns
    -------
    dask.array.Array, shape (n_samples, n_features), uint8, chunked by rows:
    chunk i is ``model.sample_rows(key, start_i, stop_i)``, so the whole array
    equals ``model.sample(n_samples, random_state=random_state)`` bit for bit,
    for ANY chunking.
    """
    model_d, snapshot = _check_model(model, n_jobs)
    n_samples = check_int(n_samples, "n_samples", minimum=0)
    n_features = snapshot.n_features_in_
    chunks = _row_chunks(chunks, n_samples, n_features, np.uint8)
    # the caller's model, as model.sample does: a Generator there is advanced
    key = philox_key(model.random_state if random_state is None else random_state)
    key = tuple(int(k) for k in np.asarray(key, dtype=np.uint64))
    return da.map_blocks(_sample_block, model_d, key, chunks=chunks, dtype=np.uint8,
                         meta=np.empty((0, 0), np.uint8),
                         name="nade-sample-" + tokenize(model_d.key, key, chunks))


def from_npy(path, *, chunks="auto"):
    """The rows of a 2-D ``.npy`` file as a Dask array, read block by block.

    Parameters
    ----------
    path : str or os.PathLike
        A 2-D, C-order ``.npy`` file (``np.save`` or
        ``np.lib.format.open_memmap`` write one), e.g. of uint8 0/1.
    chunks : rows per block: an int, "auto" (Dask's ``array.chunk-size``)
        or a tuple of row counts summing to the number of rows.  The
        columns are always one chunk.

    Returns
    -------
    dask.array.Array, shape (n_rows, n_cols), the file's dtype.  A block is
    a read-only ``np.memmap`` of its own rows, opened where it is computed
    (a worker process needs the same path), so the graph holds the path, not
    the data, and memory follows the blocks in flight, not the file.  The
    file must not change while the array is in use.
    """
    path = os.fspath(path)
    head = np.load(path, mmap_mode="r")  # reads the header; maps, does not read, the data
    shape, dtype, offset = head.shape, head.dtype, head.offset
    fortran = head.ndim == 2 and head.flags.f_contiguous and not head.flags.c_contiguous
    del head
    if len(shape) != 2:
        raise ValueError(f"{path} holds a {len(shape)}-D array of shape {shape}; from_npy needs "
                         f"2-D (n_rows, n_cols)")
    if shape[1] == 0:
        raise ValueError(f"{path} holds an array with 0 columns, shape {shape}")
    if fortran:
        raise ValueError(f"{path} is stored in Fortran order; from_npy reads rows of C-order "
                         f"files (rewrite it with np.save(path, np.ascontiguousarray(X)))")
    if dtype.hasobject:
        raise TypeError(f"{path} holds Python objects (dtype {dtype}); from_npy needs numbers")
    chunks = _row_chunks(chunks, shape[0], shape[1], dtype)
    stat = os.stat(path)
    name = "nade-from-npy-" + tokenize(os.path.abspath(path), stat.st_size, stat.st_mtime_ns,
                                       chunks)
    return da.map_blocks(_npy_block, path, dtype, offset, shape[1], chunks=chunks, dtype=dtype,
                         meta=np.empty((0, 0), dtype), name=name)
