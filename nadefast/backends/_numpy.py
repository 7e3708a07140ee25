"""The NumPy backend: every computation of the compiled backend, in plain float64.

Written for clarity, not speed: no padding, no blocks, no incremental
tricks beyond the cumulative sum of the fixed-order recurrence.  Parameters
are stored in the public layout and the model's dtype (so optimizer steps
round exactly as the compiled backend's do); all other arithmetic is
float64.  The tests compare the compiled backend with this one; models of a
few hundred features and hidden units run in seconds.

Random numbers are the compiled backend's: row r of a request draws from
numpy.random.Philox(key, counter=[0, row0 + r, 0, 0]) (docs/sampling.md §2),
so samples match the compiled backend's except where a logit and its noise
agree to rounding.
"""

import numpy as np

from nadefast.backends import Backend, Kernels


def _sigmoid(x):
    """1 / (1 + exp(-x)), accurate to a few ulp for large |x| of either sign."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _log_sigmoid(z):
    """log sigmoid(z) without overflow."""
    return -np.logaddexp(0.0, -z)


def _uniform_bits(key, row, n):
    """The sampler's 32-bit draws of one row: low half of each Philox word first."""
    counter = np.array([0, row, 0, 0], dtype=np.uint64)  # a list would be float64 past 2^63
    words = np.random.Philox(key=key, counter=counter).random_raw((n + 1) // 2)
    bits = np.empty(2 * len(words), dtype=np.uint64)
    bits[0::2] = words & 0xFFFFFFFF
    bits[1::2] = words >> 32
    return bits[:n]


def _noise(key, row0, rows, n):
    """(rows, n) logistic noise log u - log(1 - u), u = (bits + 1/2) / 2^32."""
    u = np.array([_uniform_bits(key, row0 + r, n) for r in range(rows)], dtype=np.float64)
    u = (u.reshape(rows, n) + 0.5) / 2.0**32
    return np.log(u) - np.log1p(-u)


def _draw_or_keep(X, r_index, column, logits, noise, given, position):
    """x = [logit > noise] (greedy: noise None, [logit > 0]), except in rows whose
    first given[r] positions are kept from X."""
    drawn = (logits > (0.0 if noise is None else noise)).astype(np.uint8)
    if given is not None:
        drawn = np.where(given > position, X[r_index, column], drawn)
    X[r_index, column] = drawn
    return drawn.astype(np.float64)


class _Kernels(Kernels):
    backend = "numpy"

    def __init__(self, params, names):
        self.arrays = {k: np.array(params[k], copy=True, order="C") for k in names}

    def public(self, arrays=None):
        return dict(self.arrays if arrays is None else arrays)

    def _float64(self):
        return {k: v.astype(np.float64) for k, v in self.arrays.items()}


class FixedKernels(_Kernels):
    """A fixed-order NADE (docs/fixed_order.md), parameters in the public layout."""

    def __init__(self, params):
        super().__init__(params, ("W", "b", "V", "c"))

    def _forward(self, X, order):
        """Hidden states (rows, n, d) and logits (rows, n) in chain order, and x in chain order.

        a_k = b + sum_{i<k} W[:, i] x_i: a cumulative sum over positions."""
        p = self._float64()
        Xo = X[:, order].astype(np.float64)
        steps = Xo[:, :, None] * p["W"].T[None]  # (rows, n, d): W[:, i] x_i
        A = p["b"] + np.cumsum(steps, axis=1) - steps  # exclusive: positions before k
        H = _sigmoid(A)
        Z = p["c"] + np.einsum("rkd,kd->rk", H, p["V"])
        return H, Z, Xo

    def score(self, X, order, n_threads, cond=None, terms=None):
        _, Z, Xo = self._forward(X, order)
        term = _log_sigmoid((2.0 * Xo - 1.0) * Z)
        if cond is not None:
            cond[:, order] = _sigmoid(Z)
        if terms is not None:
            terms[...] = term
        return term.sum(axis=1)

    def sample(self, X, order, key, row0, given, greedy, n_threads):
        p = self._float64()
        rows, n = X.shape
        noise = None if greedy else _noise(key, row0, rows, n)
        r = np.arange(rows)
        a = np.tile(p["b"], (rows, 1))
        for k in range(n):
            z = p["c"][k] + _sigmoid(a) @ p["V"][k]
            x = _draw_or_keep(X, r, order[k], z, None if noise is None else noise[:, k], given, k)
            a += x[:, None] * p["W"][:, k]

    def gradient(self, X, order, grads, n_threads):
        """Mean NLL; the mean gradient into `grads` (docs/fixed_order.md §4)."""
        p = self._float64()
        H, Z, Xo = self._forward(X, order)
        rows = X.shape[0]
        dZ = _sigmoid(Z) - Xo  # d(-log p(x_k | x_<k)) / dz_k
        dA = dZ[:, :, None] * p["V"][None] * H * (1.0 - H)  # error at a_k
        # a_k holds W[:, i] x_i for every i < k: W[:, i] collects the errors of later positions
        later = np.cumsum(dA[:, ::-1], axis=1)[:, ::-1] - dA
        exact = {"W": np.einsum("ri,rid->di", Xo, later), "b": dA.sum(axis=(0, 1)),
                 "V": np.einsum("rk,rkd->kd", dZ, H), "c": dZ.sum(axis=0)}
        for k, g in exact.items():
            grads[k][...] = g / rows
        return float(-np.mean(_log_sigmoid((2.0 * Xo - 1.0) * Z).sum(axis=1)))

    def hidden(self, X, order, n_threads):
        return self._forward(X, order)[0].astype(self.dtype)


class OrderlessKernels(_Kernels):
    """An order-agnostic NADE (docs/order_agnostic.md), parameters in the public layout."""

    def __init__(self, params):
        super().__init__(params, ("W", "M", "b", "W_hidden", "b_hidden", "V", "c"))

    @staticmethod
    def _layers(p, X, mask):
        """Pre-activations and ReLU outputs of every layer for inputs x * m and m."""
        A = [(X * mask) @ p["W"].T + mask @ p["M"].T + p["b"]]
        H = [np.maximum(A[0], 0.0)]
        for Wl, bl in zip(p["W_hidden"], p["b_hidden"]):
            A.append(H[-1] @ Wl.T + bl)
            H.append(np.maximum(A[-1], 0.0))
        return A, H

    def _logits_along(self, X, orders):
        """For each chain position k: the rows' logits of their k-th feature, the
        network recomputed from the mask of the features before it (O(n^2 d))."""
        p = self._float64()
        rows, n = X.shape
        orders = np.broadcast_to(orders, (rows, n))
        r = np.arange(rows)
        mask = np.zeros((rows, n))
        for k in range(n):
            j = orders[:, k]
            h = self._layers(p, X, mask)[1][-1]
            yield k, j, np.einsum("rd,rd->r", h, p["V"][j]) + p["c"][j]
            mask[r, j] = 1.0

    def score(self, X, orders, n_threads, stop=None, cond=None, terms=None):
        rows = X.shape[0]
        r = np.arange(rows)
        Xf = X.astype(np.float64)
        loglik = np.zeros(rows)
        for k, j, z in self._logits_along(Xf, orders):
            term = _log_sigmoid((2.0 * Xf[r, j] - 1.0) * z)
            if stop is not None:
                term = np.where(k < stop, term, 0.0)
            loglik += term
            if cond is not None:
                cond[r, j] = _sigmoid(z)
            if terms is not None:
                terms[:, k] = term
        return loglik

    def sample(self, X, orders, key, row0, given, greedy, n_threads):
        rows, n = X.shape
        noise = None if greedy else _noise(key, row0, rows, n)
        r = np.arange(rows)
        Xf = X.astype(np.float64)  # the generator below reads the draws made so far
        for k, j, z in self._logits_along(Xf, orders):
            Xf[r, j] = _draw_or_keep(X, r, j, z, None if noise is None else noise[:, k], given, k)

    def objective(self, X, masks, grads=None):
        """The rescaled order-agnostic NLL (docs/order_agnostic.md §3), mean over rows;
        its gradient into `grads` when given."""
        p = self._float64()
        Xf = X.astype(np.float64)
        m = np.asarray(masks, dtype=np.float64)
        rows, n = Xf.shape
        A, H = self._layers(p, Xf, m)
        Z = H[-1] @ p["V"].T + p["c"]
        weight = n / (n - m.sum(axis=1))  # n / (n - s): unbiased over the split s
        nll = (1.0 - m) * -_log_sigmoid((2.0 * Xf - 1.0) * Z)
        loss = float(np.mean(weight * nll.sum(axis=1)))
        if grads is None:
            return loss
        dZ = (1.0 - m) * (_sigmoid(Z) - Xf) * (weight / rows)[:, None]
        exact = {"V": dZ.T @ H[-1], "c": dZ.sum(axis=0),
                 "W_hidden": np.zeros(p["W_hidden"].shape), "b_hidden": np.zeros(p["b_hidden"].shape)}
        dH = dZ @ p["V"]
        for l in range(len(p["W_hidden"]) - 1, -1, -1):
            dA = dH * (A[l + 1] > 0)
            exact["W_hidden"][l] = dA.T @ H[l]
            exact["b_hidden"][l] = dA.sum(axis=0)
            dH = dA @ p["W_hidden"][l]
        dA1 = dH * (A[0] > 0)
        exact.update({"W": dA1.T @ (Xf * m), "M": dA1.T @ m, "b": dA1.sum(axis=0)})
        for k, g in exact.items():
            grads[k][...] = g
        return loss


def _bounded(draws, bound):
    """A uniform integer in [0, bound) from 32-bit draws, Lemire's multiply-and-reject."""
    product = next(draws) * bound
    if product % 2**32 < bound:
        threshold = (2**32 - bound) % bound
        while product % 2**32 < threshold:
            product = next(draws) * bound
    return product >> 32


def _row_draws(key, row):
    """The 32-bit draws of a row's Philox stream, in order."""
    bitgen = np.random.Philox(key=key, counter=np.array([0, row, 0, 0], dtype=np.uint64))
    while True:
        for word in bitgen.random_raw(16).tolist():
            yield word & 0xFFFFFFFF
            yield word >> 32


class NumpyBackend(Backend):
    """The float64 NumPy reference backend (see the package docstring of nadefast.backends)."""

    name = "numpy"
    fixed_kernels = FixedKernels
    orderless_kernels = OrderlessKernels

    def training_masks(self, key, rows, n, n_threads=1):
        """Per row a split s uniform in 0..n-1, then the first s entries of a partial
        Fisher-Yates shuffle observed (docs/order_agnostic.md §3)."""
        masks = np.zeros((rows, n), dtype=bool)
        for r in range(rows):
            draws = _row_draws(key, r)
            split = _bounded(draws, n)
            perm = list(range(n))
            for i in range(split):
                k = i + _bounded(draws, n - i)
                perm[i], perm[k] = perm[k], perm[i]
            masks[r, perm[:split]] = True
        return masks

    def adam_step(self, p, g, m, v, beta1, beta2, lr_t, eps_t, n_threads):
        """The compiled Adam step's arithmetic in NumPy, rounding as it does
        (docs/training.md §2): moments below the smallest normal number are
        stored as 0, and so are gradient entries whose square would be subnormal."""
        f = p.dtype.type
        tiny = np.ldexp(f(1), -56 if p.dtype == np.float32 else -500)
        g = np.where(np.abs(g) < tiny, f(0), g)
        normal = np.finfo(p.dtype).tiny
        m *= f(beta1)
        m += g * f(1.0 - beta1)
        m[np.abs(m) < normal] = 0
        v *= f(beta2)
        v += (g * g) * f(1.0 - beta2)
        v[v < normal] = 0
        p -= f(lr_t) * (m / (np.sqrt(v) + f(eps_t)))

    def max_threads(self):
        return 1


BACKEND = NumpyBackend()
