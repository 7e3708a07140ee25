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


def draw_masks(rng, rows, n):
    """Observed-variable masks of the training objective: per row an ordering and a
    split s uniform in {0, ..., n-1}; the first s variables of the ordering are observed."""
    split = rng.integers(0, n, size=rows)
    perm = np.argsort(rng.random((rows, n)), axis=1)
    rank = np.empty_like(perm)  # the inverse permutation: one scatter instead of a second sort
    np.put_along_axis(rank, perm, np.broadcast_to(np.arange(n), perm.shape), axis=1)
    return rank < split[:, None]


def _softplus(t):
    return np.logaddexp(0.0, t)


def loss_and_gradient(params, X, masks, d, grads=None, want_grad=True):
    """The rescaled order-agnostic NLL of (X, masks), mean over rows, and its gradient.

    X (rows, n) 0/1; masks (rows, n) bool, at least one False per row.  Returns
    (loss, grads) with grads shaped like params (padding entries zero).  The
    backward pass is written by hand (ReLU layers, matrix products).
    """
    dtype = params["Win"].dtype
    Xf = X.astype(dtype)
    Mf = masks.astype(dtype)
    rows, n = X.shape
    layers = params["Wdeep"].shape[0] + 1
    observed = Mf.sum(axis=1)
    weight = (n / (n - observed)).astype(dtype)  # n / (n - s): the objective's rescaling

    # forward
    XM = Xf * Mf
    A = [XM @ params["Win"] + Mf @ params["Wmask"] + params["b1"]]
    H = [np.maximum(A[0], 0)]
    for l in range(layers - 1):
        a = H[-1] @ params["Wdeep"][l].T + params["bdeep"][l]  # (rows, d)
        h = np.zeros_like(H[-1])
        h[:, :d] = np.maximum(a, 0)
        A.append(a)
        H.append(h)
    Z = H[-1] @ params["V"].T + params["c"]
    sign = 2 * Xf - 1
    free = 1 - Mf
    loss = float(np.mean(weight * (free * _softplus(-sign * Z)).sum(axis=1, dtype=np.float64)))
    if not want_grad:
        return loss, None

    # backward
    if grads is None:
        grads = {k: np.zeros_like(v) for k, v in params.items()}
    y = 0.5 * (1 + np.tanh(0.5 * Z))  # sigmoid, without overflow warnings
    dZ = (y - Xf) * free * (weight / rows)[:, None]
    grads["V"][...] = dZ.T @ H[-1]
    grads["c"][...] = dZ.sum(axis=0)
    dH = dZ @ params["V"]
    for l in range(layers - 2, -1, -1):
        dA = dH[:, :d] * (A[l + 1] > 0)
        grads["Wdeep"][l] = dA.T @ H[l]
        grads["bdeep"][l] = dA.sum(axis=0)
        dH = dA @ params["Wdeep"][l]
    dA1 = dH * (A[0] > 0)
    grads["Win"][...] = XM.T @ dA1
    grads["Wmask"][...] = Mf.T @ dA1
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
