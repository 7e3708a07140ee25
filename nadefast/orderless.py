"""Order-agnostic and deep NADE (Uria, Murray & Larochelle 2014; NADE.md section 6).

One network serves every ordering.  Its first layer sees the values of the
observed variables and the mask of which variables are observed:

    h1 = relu(W (x * m) + M m + b),   h_l = relu(W_l h_{l-1} + b_l),
    p(x_j = 1 | x_observed) = sigmoid(V[j] . h_top + c_j)  for unobserved j.

Training draws, for every row, an ordering and a split point s, observes the
first s variables and minimises the rescaled NLL of the others,
n / (n - s) * sum_{j unobserved} -log p(x_j | x_observed) -- an unbiased
estimate of the NLL averaged over orderings.  It is batched matrix algebra
(NumPy/BLAS); exact likelihoods, sampling and conditional inference go
through the compiled sequential kernels (nadefast._core.oa_score/oa_sample).

Parameters live in the kernels' layout (hidden width padded to dp with zeros):

    Win, Wmask (n, dp)     row j = W[:, j], M[:, j]: input and mask weights of feature j
    b1 (dp,)               first-layer bias
    Wdeep (L-1, d, dp)     layer l+2 row i = W_{l+2}[i, :]
    bdeep (L-1, d)
    V (n, dp), c (n,)      output weights and bias of feature j
"""

import numpy as np

from nadefast import _core
from nadefast._random import philox_key

PARAM_NAMES = ("Win", "Wmask", "b1", "Wdeep", "bdeep", "V", "c")


def padded_width(d, dtype):
    lanes = _core.lanes(dtype)
    return -(-d // lanes) * lanes


def init_params(X, d, layers, dtype, rng):
    """He-initialised ReLU layers; output biases at the data's marginal log-odds."""
    m, n = X.shape
    dp = padded_width(d, dtype)
    p = {
        "Win": np.zeros((n, dp), dtype),
        "Wmask": np.zeros((n, dp), dtype),
        "b1": np.zeros(dp, dtype),
        "Wdeep": np.zeros((layers - 1, d, dp), dtype),
        "bdeep": np.zeros((layers - 1, d), dtype),
        "V": np.zeros((n, dp), dtype),
        "c": np.zeros(n, dtype),
    }
    # the first layer's inputs are x*m and m (2n values, about n/2 of them non-zero)
    p["Win"][:, :d] = rng.normal(0.0, np.sqrt(2.0 / n), size=(n, d))
    p["Wmask"][:, :d] = rng.normal(0.0, np.sqrt(2.0 / n), size=(n, d))
    for l in range(layers - 1):
        p["Wdeep"][l, :, :d] = rng.normal(0.0, np.sqrt(2.0 / d), size=(d, d))
    p["V"][:, :d] = rng.normal(0.0, np.sqrt(1.0 / d), size=(n, d))
    from nadefast._training import column_sums

    marginal = (column_sums(X) + 1.0) / (m + 2.0)
    p["c"][:] = np.log(marginal) - np.log1p(-marginal)
    return p


def draw_masks(rng, rows, n, n_threads=1):
    """Observed-variable masks of the training objective, (rows, n) bool: per row
    a split s uniform in {0, ..., n-1} and a uniformly random set of s observed
    variables (the first s of a random ordering).

    Drawn by the compiled kernel (nade_oa_masks in csrc/nade.h) from the
    counter-based Philox stream of (key, row), the key taken from `rng`: the
    masks depend on rng's state only, not on n_threads."""
    key = philox_key(rng)
    return _core.oa_masks(key, 0, rows, n, n_threads).view(bool)


# Threads for the compiled kernels between the BLAS products of training.  Those
# products are nearly all of the work and run on NumPy's BLAS threads; OpenMP
# threads that spin-wait between the kernels took the cores from them
# (a 2-layer MNIST epoch, 2 cores, BLAS on both: 3.4 s with one kernel thread,
# 21-23 s with two under OpenMP's default wait policy, 4.0 s with two under
# OMP_WAIT_POLICY=passive: the kernels are too small to gain from threads).
TRAINING_KERNEL_THREADS = 1


# Below this fraction of ones in x * m, the first layer adds the weight rows of
# the ones (a gather, ~nnz * dp adds) instead of a dense product (rows * n * dp
# multiply-adds at BLAS speed).  On a training batch of binarized MNIST's shape
# the two cost the same between 0.17 and 0.25 ones (benchmarks/
# test_bench_orderless.py::test_first_layer_inputs, one core); MNIST has ~0.07.
SPARSE_INPUT_FRACTION = 0.15


def loss_and_gradient(params, X, masks, d, grads=None, want_grad=True, n_threads=1):
    """The rescaled order-agnostic NLL of (X, masks), mean over rows, and its gradient.

    X (rows, n) 0/1; masks (rows, n) bool, at least one False per row.  Returns
    (loss, grads) with grads shaped like params (padding entries zero).  The
    backward pass is written by hand: BLAS products for the layers, compiled
    kernels for the output layer's loss and logit gradient and, when x * m is
    sparse, for the first layer's observed inputs.  tests/reference.py holds
    the plain NumPy form it is checked against.
    """
    dtype = params["Win"].dtype
    X8 = np.ascontiguousarray(X, dtype=np.uint8)
    M8 = np.ascontiguousarray(masks, dtype=bool).view(np.uint8)  # no copy for bool masks
    rows, n = X8.shape
    layers = params["Wdeep"].shape[0] + 1
    Mf = M8.astype(dtype)
    sparse = np.count_nonzero(X8 & M8) <= SPARSE_INPUT_FRACTION * X8.size
    XM = None if sparse else (X8 & M8).astype(dtype)

    # forward
    A = [Mf @ params["Wmask"]]
    A[0] += params["b1"]
    if sparse:
        _core.oa_input_add(params["Win"], X8, M8, A[0], n_threads)
    else:
        A[0] += XM @ params["Win"]
    H = [np.maximum(A[0], 0)]
    for l in range(layers - 1):
        a = H[-1] @ params["Wdeep"][l].T + params["bdeep"][l]  # (rows, d)
        h = np.zeros_like(H[-1])
        h[:, :d] = np.maximum(a, 0)
        A.append(a)
        H.append(h)
    Z = H[-1] @ params["V"].T
    Z += params["c"]
    # the output layer, fused: per-row losses, and Z overwritten by dloss/dZ
    row_loss = np.empty(rows)
    _core.oa_output(Z, X8, M8, 1.0 / rows, row_loss, n_threads)
    loss = float(row_loss.mean())
    if not want_grad:
        return loss, None

    # backward
    if grads is None:
        grads = {k: np.zeros_like(v) for k, v in params.items()}
    dZ = Z
    np.matmul(dZ.T, H[-1], out=grads["V"])
    grads["c"][...] = dZ.sum(axis=0)
    dH = dZ @ params["V"]
    for l in range(layers - 2, -1, -1):
        dA = dH[:, :d] * (A[l + 1] > 0)
        np.matmul(dA.T, H[l], out=grads["Wdeep"][l])
        grads["bdeep"][l] = dA.sum(axis=0)
        dH = dA @ params["Wdeep"][l]
    dA1 = dH * (A[0] > 0)
    if sparse:
        _core.oa_input_grad(dA1, X8, M8, grads["Win"], n_threads)
    else:
        np.matmul(XM.T, dA1, out=grads["Win"])
    np.matmul(Mf.T, dA1, out=grads["Wmask"])
    grads["b1"][...] = dA1.sum(axis=0)
    return loss, grads


def kernel_args(params, d):
    """The arrays and width nadefast._core.oa_score / oa_sample take, in order."""
    return (params["Win"], params["Wmask"], params["b1"], params["Wdeep"], params["bdeep"],
            params["V"], params["c"], d)


def orderings_observed_first(observed, ordering):
    """Per-row orderings that list each row's observed features first.

    observed (rows, n) bool; ordering (n,) the model's ordering, which sets the
    order within both groups.  Returns (orders, counts (rows,)): orders is
    (rows, n) intp, or (1, n) when every row has the same mask (the kernels
    then share one ordering across rows).
    """
    chain = observed[:, ordering]
    counts = chain.sum(axis=1).astype(np.intp)
    if (chain == chain[:1]).all():  # one mask for every row: one ordering, shared by the kernels
        chain = chain[:1]
    # a stable sort of "not observed" puts observed features first, keeping the model's order
    position = np.argsort(~chain, axis=1, kind="stable")
    return np.ascontiguousarray(ordering[position], dtype=np.intp), counts
