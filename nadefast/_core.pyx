# cython: language_level=3, cdivision=True, embedsignature=True
# (boundscheck, wraparound and initializedcheck are off in release builds and on in
#  NADEFAST_DEBUG / NADEFAST_SANITIZE builds: see setup.py)
"""The compiled core of nadefast: loops over blocks of rows.

Each function takes arrays that nadefast.backends._compiled (its only
importer) has already validated and laid out (parameters position-major
and padded, data uint8 C-contiguous),
splits the rows into blocks (``block_rows``: as many rows as keep a block's
hidden states in L1), and runs the C kernel of csrc/nade.h on every block
with the GIL released, blocks spread over ``n_threads`` OpenMP threads.

Errors are caught twice.  Before releasing the GIL, every function checks
that the arrays it is given agree with one another (shapes, lengths) and
raises ValueError naming itself and the mismatch.  The C kernels then check
what they can see (sizes, strides, the ranges of order, given and stop,
pointers) and return a status code; the codes of a parallel loop are
collected and turned into an exception after it by ``_check_status``.

Arguments are marked ``# IN`` (read), ``# OUT`` (overwritten) or
``# INOUT`` (accumulated into).  The parameter arguments are always
``Wt`` (n, dp), ``V`` (n, dp), ``b`` (dp,), ``c`` (n,) of one floating type,
``d`` the number of real hidden units (dp >= d is the padded width) and
``order`` (n,) the feature at each chain position.

The source is split by topic into the files included at the end:
_core_checks.pxi (argument checks, statuses, blocks of rows),
_core_fixed.pxi (fixed-order kernels, Adam, random numbers),
_core_orderless.pxi (order-agnostic kernels), _core_categorical.pxi (both
models' kernels for categorical outputs: int32 codes, blocks of K values) and
_core_mixture.pxi (both models' kernels for real values: mixtures of Gaussians,
3C output units per variable).
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport uint8_t, int32_t, uint32_t, int64_t, uint64_t

from nadefast._cnade cimport *

MAX_BLOCK_ROWS = NADE_MAX_BLOCK_ROWS


cdef Py_ssize_t _forced_block_rows = 0


def block_rows(Py_ssize_t dp, dtype):
    """Rows per kernel call for padded width `dp` (see nade_block_rows in nade.h)."""
    cdef Py_ssize_t rows = _rows_per_block(dp, np.dtype(dtype).itemsize)
    if rows < 1:
        raise ValueError(f"block_rows: need dp >= 1 and a float32 or float64 dtype, got dp={dp}, "
                         f"dtype={np.dtype(dtype)}")
    return rows


def _force_block_rows(Py_ssize_t rows):
    """For tests: use `rows` rows per block (0 restores the automatic choice).

    Results must not change: every kernel's per-row arithmetic is fixed and
    gradients are summed in row order whatever the blocking.
    """
    global _forced_block_rows
    if not 0 <= rows <= NADE_MAX_BLOCK_ROWS:
        raise ValueError(f"rows must be in [0, {NADE_MAX_BLOCK_ROWS}]")
    _forced_block_rows = rows


cdef Py_ssize_t _rows_per_block(Py_ssize_t dp, size_t real_size) noexcept:
    if _forced_block_rows > 0:
        return _forced_block_rows
    return nade_block_rows(dp, real_size)


cdef Py_ssize_t _balanced_rows(Py_ssize_t nrows, Py_ssize_t dp, size_t real_size,
                               int n_threads) noexcept:
    """Rows per block: at most _rows_per_block, and a block count that is a
    multiple of the thread count, so that no thread gets one block more than
    another (100 rows at 18 per block on 2 threads: 6 blocks of 17, not 54/46)."""
    cdef Py_ssize_t most = _rows_per_block(dp, real_size), nblocks
    if _forced_block_rows > 0 or nrows <= 0:
        return most
    nblocks = (nrows + most - 1) // most
    if n_threads > 1:
        nblocks = (nblocks + n_threads - 1) // n_threads * n_threads
    return (nrows + nblocks - 1) // nblocks


def lanes(dtype):
    """Padded hidden width must be a multiple of this for `dtype`."""
    cdef Py_ssize_t width = nade_lanes(np.dtype(dtype).itemsize)
    if width < 1:
        raise ValueError(f"lanes: the kernels take float32 or float64, not {np.dtype(dtype)}")
    return width


def openmp_enabled():
    """Whether the extension was compiled with OpenMP."""
    return bool(nade_openmp_enabled())


def openmp_max_threads():
    """omp_get_max_threads(): OMP_NUM_THREADS, threadpoolctl limits, ... (1 without OpenMP)."""
    return nade_openmp_max_threads()


def active_isa():
    """Name of the instruction set whose kernels are in use."""
    return nade_active_isa().decode("ascii")


def isa_supported(str name):
    """Whether kernels for `name` exist in this build and run on this CPU."""
    return bool(nade_isa_supported(name.encode("ascii")))


def select_isa(str name):
    """Use the kernels of `name` ("auto", "baseline", "avx2", "avx512").

    Not thread-safe: no kernel may be running while this is called.
    """
    if nade_select_isa(name.encode("ascii")) != NADE_OK:
        raise ValueError(f"instruction set {name!r} is not available on this CPU or build")

def _select_isa_from_environment():
    """NADEFAST_ISA (auto | baseline | avx2 | avx512) picks the kernels at import."""
    import os
    import warnings

    name = os.environ.get("NADEFAST_ISA", "auto").strip().lower() or "auto"
    if nade_select_isa(name.encode("ascii", "replace")) != NADE_OK:
        nade_select_isa(b"auto")
        warnings.warn(
            f"NADEFAST_ISA={name!r} is not available on this CPU or build; "
            f"using {active_isa()!r}",
            RuntimeWarning,
            stacklevel=2,
        )


_select_isa_from_environment()


include "_core_checks.pxi"
include "_core_fixed.pxi"
include "_core_orderless.pxi"
include "_core_categorical.pxi"
include "_core_mixture.pxi"
