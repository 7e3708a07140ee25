"""Training data in memory or streamed: mini-batches, chunks, fingerprints.

fit accepts an in-memory array, a NumPy memmap or a Dask array.  The last
two are streamed chunk by chunk, so data larger than memory can be used:
their rows are validated as each chunk is read.
"""

import hashlib

import numpy as np


def is_dask_array(X):
    return hasattr(X, "chunks") and hasattr(X, "compute") and hasattr(X, "dask")


def is_out_of_core(X):
    """Data trained on chunk by chunk instead of being held in memory."""
    return isinstance(X, np.memmap) or is_dask_array(X)


def training_matrix(X, output, **check):
    """fit's X: validated into memory by the output distribution, or -- for a
    NumPy memmap or a Dask array -- only its shape and dtype checked here, its
    rows validated chunk by chunk as training streams them."""
    if not is_out_of_core(X):
        return output.check_X(X, allow_empty=False, **check)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    output.check_dtype(X.dtype)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X has shape {X.shape}; at least one sample and one feature are required")
    return X


def validation_matrix(X_valid, n_features, output, **check):
    """fit's X_valid, in memory (a memmap or Dask array is read whole: it is scored every epoch)."""
    if is_out_of_core(X_valid):
        X_valid = np.asarray(X_valid.compute() if is_dask_array(X_valid) else X_valid)
    return output.check_X(X_valid, n_features, name="X_valid", allow_empty=False, **check)


def data_digest(X):
    """A short fingerprint of the training data (None for None): its bytes for
    arrays and memmaps (read in slices), its graph's name for a Dask array."""
    if X is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    h.update(np.asarray(X.shape, dtype=np.int64).tobytes())
    if is_dask_array(X):
        h.update(str(X.name).encode())
        return h.hexdigest()
    step = max(1, (64 << 20) // max(1, X.shape[1] * X.itemsize))
    for start in range(0, X.shape[0], step):
        h.update(np.ascontiguousarray(X[start : start + step]).data)
    return h.hexdigest()


def row_chunks(X, batch_size):
    """[(start, stop)] row ranges: a Dask array's own chunks, or about 64 MB of a memmap."""
    if is_dask_array(X):
        bounds = np.cumsum((0,) + tuple(X.chunks[0]))
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    rows = max(batch_size, (64 << 20) // max(1, X.shape[1] * X.itemsize))
    rows -= rows % batch_size
    return [(a, min(a + rows, X.shape[0])) for a in range(0, X.shape[0], rows)]


def load_chunk(X, start, stop, output, name="X"):
    """Rows start..stop-1 of an out-of-core matrix, in memory and checked by `output`."""
    part = X[start:stop]
    if is_dask_array(part):
        part = part.compute()
    try:
        return output.check_X(np.asarray(part), X.shape[1], name=f"{name}[{start}:{stop}]")
    except ValueError as exc:
        raise ValueError(f"{exc} (rows {start}..{stop - 1} of {name})") from None


def training_rows(X, start, stop, output):
    """Rows start..stop-1 of fit's X in the units the fitted output computes in: an
    in-memory X was prepared whole; an out-of-core one is checked and prepared here."""
    if not is_out_of_core(X):
        return X[start:stop]
    return output.prepare(load_chunk(X, start, stop, output))


def _chunks(X, output):
    """The rows of X in memory, a chunk at a time (X itself when in memory)."""
    if not is_out_of_core(X):
        yield X
        return
    for start, stop in row_chunks(X, 1):
        yield load_chunk(X, start, stop, output)


def column_moments(X, output, n_features):
    """Mean and (population) standard deviation of every column, float64, streamed."""
    total, squares, rows = np.zeros(n_features), np.zeros(n_features), 0
    for part in _chunks(X, output):
        part = np.asarray(part, dtype=np.float64)
        total += part.sum(axis=0)
        rows += part.shape[0]
    mean = total / rows
    for part in _chunks(X, output):  # a second pass: no cancellation in sum(x^2) - n mean^2
        squares += ((np.asarray(part, dtype=np.float64) - mean) ** 2).sum(axis=0)
    return mean, np.sqrt(squares / rows)


def column_range(X, output, n_features):
    """Smallest and largest value of every column, streamed."""
    low, high = np.full(n_features, np.inf), np.full(n_features, -np.inf)
    for part in _chunks(X, output):
        np.minimum(low, part.min(axis=0), out=low)
        np.maximum(high, part.max(axis=0), out=high)
    return low, high


def column_max(X, output, n_features):
    """The largest value of every column (X checked by `output` chunk by chunk)."""
    top = np.zeros(n_features, dtype=np.int64)
    for part in _chunks(X, output):
        np.maximum(top, part.max(axis=0), out=top)
    return top


def value_counts(X, n_categories, output):
    """Per column j, the count of each code 0..n_categories[j] - 1: a list of arrays."""
    counts = [np.zeros(int(k), dtype=np.int64) for k in n_categories]
    for part in _chunks(X, output):
        for j, c in enumerate(counts):
            c += np.bincount(part[:, j], minlength=c.size)
    return counts


def column_sums(X):
    """Sum of every column as float64: (n_features,); streams memmaps and Dask arrays."""
    if is_dask_array(X):
        return np.asarray(X.sum(axis=0, dtype=np.float64).compute())
    return np.asarray(X.sum(axis=0, dtype=np.float64))


def epoch_batches(X, batch_size, rng, output):
    """The mini-batches of one epoch.

    In-memory X: one permutation of all rows.  Memmaps and Dask arrays are
    streamed: the order of their row chunks is shuffled, then the rows within
    each chunk, so only one chunk is in memory at a time.
    """
    if not is_out_of_core(X):
        perm = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            yield X[perm[start : start + batch_size]]
        return
    chunks = row_chunks(X, batch_size)
    for c in rng.permutation(len(chunks)):
        rows = training_rows(X, *chunks[c], output)
        perm = rng.permutation(rows.shape[0])
        for start in range(0, rows.shape[0], batch_size):
            yield rows[perm[start : start + batch_size]]
