"""The NumPy backend: every computation of the compiled backend, in plain float64.

Written for clarity, not speed: no padding, no blocks, no incremental
tricks; a loop over chain positions, all rows at once.  One implementation
serves every output distribution: what a value adds to the hidden layer and
what a variable's logits mean (log-probability, gradient, draw, mode) come
from the model's output object (nadefast/_outputs.py), variable by variable.
Parameters are stored in the public layout and the model's dtype (so
optimizer steps round exactly as the compiled backend's do); all other
arithmetic is float64.  The tests compare the compiled backend with this
one; models of a few hundred features and hidden units run in seconds.

Random numbers are the compiled backend's: row r of a request draws from
numpy.random.Philox(key, counter=[0, row0 + r, 0, 0]) (docs/sampling.md §3),
one 32-bit uniform per position, so samples match the compiled backend's
except where a draw and its threshold agree to rounding.
"""

import numpy as np

from nadefast._missing import row_weights
from nadefast._outputs import offsets
from nadefast.backends import Backend, Kernels


def _sigmoid(x):
    """1 / (1 + exp(-x)), accurate to a few ulp for large |x| of either sign."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _relu(x):
    return np.maximum(x, 0.0)


# a fixed-order NADE's hidden units (Output.activation) and their derivatives from h
_ACTIVATIONS = {"sigmoid": (_sigmoid, lambda h: h * (1.0 - h)),
                "relu": (_relu, lambda h: (h > 0.0).astype(h.dtype))}


def _uniform_bits(key, row, n):
    """The sampler's 32-bit draws of one row: low half of each Philox word first."""
    counter = np.array([0, row, 0, 0], dtype=np.uint64)  # a list would be float64 past 2^63
    words = np.random.Philox(key=key, counter=counter).random_raw((n + 1) // 2)
    bits = np.empty(2 * len(words), dtype=np.uint64)
    bits[0::2] = words & 0xFFFFFFFF
    bits[1::2] = words >> 32
    return bits[:n]


def _uniforms(key, row0, rows, n, per_position=1):
    """(rows, n, per_position) uniforms u = (bits + 1/2) / 2^32 of the rows' streams: the
    draws of position k are per_position consecutive ones, from draw k * per_position."""
    m = n * per_position
    u = np.array([_uniform_bits(key, row0 + r, m) for r in range(rows)], dtype=np.float64)
    return (u.reshape(rows, n, per_position) + 0.5) / 2.0**32


class _Kernels(Kernels):
    backend = "numpy"

    def __init__(self, params, names, output):
        self.arrays = {k: np.array(params[k], copy=True, order="C") for k in names}
        self.output = output

    def public(self, arrays=None):
        return dict(self.arrays if arrays is None else arrays)

    def _float64(self):
        return {k: v.astype(np.float64) for k, v in self.arrays.items()}

    def _draw(self, X, rows, j, z, u, given, position):
        """Values of variable j in `rows`: drawn from the logits z with uniforms u
        (greedy: u None, the mode), except in rows whose first given[r] positions are
        kept from X; written into X, returned."""
        drawn = self.output.mode(j, z) if u is None else self.output.draw(j, z, u)
        if given is not None:
            drawn = np.where(given[rows] > position, X[rows, j], drawn)
        X[rows, j] = drawn
        return X[rows, j]


class FixedKernels(_Kernels):
    """A fixed-order NADE (docs/fixed_order.md), parameters in the public layout:
    blocks of W's columns and V's rows by chain position."""

    def __init__(self, params, output):
        super().__init__(params, ("W", "b", "V", "c") + output.fixed_extras, output)

    def _blocks(self, order):
        n = len(order)
        return (offsets(self.output.in_widths(n)[order]),
                offsets(self.output.out_widths(n)[order]))

    def _sweep(self, X, order, on_position):
        """The recurrence a_{k+1} = a_k + (the column x_k adds), position by position.

        on_position(k, j, a, h, z) sees the rows' pre-activations a (rows, d), hidden
        states h and logits z (rows, width of j) at position k (feature j) and
        returns the values of x_j to go on with (X's own when scoring)."""
        p = self._float64()
        in_off, out_off = self._blocks(order)
        a = np.tile(p["b"], (X.shape[0], 1))
        rho = p.get("rho", np.ones(len(order)))  # RNADE's activation rescaling (mixtures)
        activate = _ACTIVATIONS[self.output.activation][0]
        for k, j in enumerate(order):
            h = activate(rho[k] * a)
            z = p["c"][out_off[k]:out_off[k + 1]] + h @ p["V"][out_off[k]:out_off[k + 1]].T
            x = on_position(k, j, a, h, z)
            column, times = self.output.input(j, x)
            adds = column >= 0
            a[adds] += times[adds, None] * p["W"][:, in_off[k] + column[adds]].T

    def score(self, X, order, n_threads, cond=None, terms=None):
        loglik = np.zeros(X.shape[0])
        feature_off = offsets(self.output.out_widths(X.shape[1]))

        def on_position(k, j, a, h, z):
            term = self.output.log_prob(j, z, X[:, j])
            loglik[...] += term
            if cond is not None:
                cond[:, feature_off[j]:feature_off[j + 1]] = self.output.distribution(j, z)
            if terms is not None:
                terms[:, k] = term
            return X[:, j]

        self._sweep(X, order, on_position)
        return loglik

    def sample(self, X, order, key, row0, given, greedy, n_threads):
        u = None if greedy else _uniforms(key, row0, *X.shape, self.output.uniforms)
        rows = np.arange(X.shape[0])

        def on_position(k, j, a, h, z):
            return self._draw(X, rows, j, z, None if u is None else u[:, k], given, k)

        self._sweep(X, order, on_position)

    def gradient(self, X, order, grads, n_threads):
        """Mean NLL; the mean gradient into `grads` (docs/fixed_order.md §7)."""
        p = self._float64()
        rows, n = X.shape
        in_off, out_off = self._blocks(order)
        exact = {k: np.zeros_like(v) for k, v in p.items()}
        states, nll = [], np.zeros(rows)
        slope = _ACTIVATIONS[self.output.activation][1]  # d h / d(rho_k a_k), from h

        def on_position(k, j, a, h, z):
            x = X[:, j]
            nll[...] -= self.output.log_prob(j, z, x)
            dz = self.output.grad_logits(j, z, x)  # d(-log p(x_j | .)) / dz
            block = slice(out_off[k], out_off[k + 1])
            exact["V"][block] += dz.T @ h
            exact["c"][block] += dz.sum(axis=0)
            error = (dz @ p["V"][block]) * slope(h)  # at rho_k a_k
            if "rho" in p:
                exact["rho"][k] = (error * a).sum()
                error = error * p["rho"][k]
            states.append((self.output.input(j, x), error))
            return x

        self._sweep(X, order, on_position)
        # a_k holds the columns of the values before k: each collects the errors of later positions
        later = np.zeros((rows, p["b"].shape[0]))
        for k in range(n - 1, -1, -1):
            (column, times), error = states[k]
            adds = column >= 0
            np.add.at(exact["W"].T, in_off[k] + column[adds], times[adds, None] * later[adds])
            later += error
        exact["b"] = later.sum(axis=0)
        for k, g in exact.items():
            grads[k][...] = g / rows
        return float(nll.mean())

    def hidden(self, X, order, n_threads):
        out = np.empty((X.shape[0], X.shape[1], self.arrays["b"].shape[0]), dtype=self.dtype)

        def on_position(k, j, a, h, z):
            out[:, k] = h
            return X[:, j]

        self._sweep(X, order, on_position)
        return out


class OrderlessKernels(_Kernels):
    """An order-agnostic NADE (docs/order_agnostic.md), parameters in the public layout:
    blocks of W's columns and V's rows by feature."""

    def __init__(self, params, output):
        super().__init__(params, ("W", "M", "b", "W_hidden", "b_hidden", "V", "c"), output)
        # the groups of features computed as one (Output.stacks), fixed with the model:
        # found once here, not in every training step
        self.stacks = output.stacks(self.arrays["M"].shape[1])

    def _inputs(self, X, mask):
        """The first layer's observed inputs: per row, the column each observed value adds,
        times its coefficient (Bernoulli: x * m), (rows, n_in)."""
        rows, n = X.shape
        in_off = offsets(self.output.in_widths(n))
        inputs = np.zeros((rows, in_off[-1]))
        for features, j0 in self.stacks:  # rows of a group's features stacked
            column, times = self.output.input(j0, X[:, features].reshape(-1))
            adds = (column >= 0) & (mask[:, features].reshape(-1) > 0)
            r, k = np.divmod(np.flatnonzero(adds), len(features))
            inputs[r, in_off[features[k]] + column[adds]] = times[adds]
        return inputs

    def _layers(self, p, X, mask):
        """Inputs, pre-activations and ReLU outputs of every layer."""
        inputs = self._inputs(X, mask)
        A = [inputs @ p["W"].T + mask @ p["M"].T + p["b"]]
        H = [np.maximum(A[0], 0.0)]
        for Wl, bl in zip(p["W_hidden"], p["b_hidden"]):
            A.append(H[-1] @ Wl.T + bl)
            H.append(np.maximum(A[-1], 0.0))
        return inputs, A, H

    def _along(self, X, orders, on_position):
        """For each chain position k: the network recomputed from the mask of the features
        before it (O(n^2 d)); on_position(k, rows, j, z) gets the logits z of feature j for
        the rows whose k-th feature it is and returns their values of x_j."""
        p = self._float64()
        rows, n = X.shape
        orders = np.broadcast_to(orders, (rows, n))
        out_off = offsets(self.output.out_widths(n))
        mask = np.zeros((rows, n))
        for k in range(n):
            h = self._layers(p, X, mask)[2][-1]
            for j in np.unique(orders[:, k]):
                these = np.flatnonzero(orders[:, k] == j)
                block = slice(out_off[j], out_off[j + 1])
                z = h[these] @ p["V"][block].T + p["c"][block]
                X[these, j] = on_position(k, these, j, z)
            mask[np.arange(rows), orders[:, k]] = 1.0

    def score(self, X, orders, n_threads, stop=None, cond=None, terms=None):
        loglik = np.zeros(X.shape[0])
        feature_off = offsets(self.output.out_widths(X.shape[1]))

        def on_position(k, rows, j, z):
            term = self.output.log_prob(j, z, X[rows, j])
            if stop is not None:
                term = np.where(k < stop[rows], term, 0.0)
            loglik[rows] += term
            if cond is not None:
                cond[rows, feature_off[j]:feature_off[j + 1]] = self.output.distribution(j, z)
            if terms is not None:
                terms[rows, k] = term
            return X[rows, j]

        self._along(X.copy(), orders, on_position)
        return loglik

    def sample(self, X, orders, key, row0, given, greedy, n_threads):
        u = None if greedy else _uniforms(key, row0, *X.shape, self.output.uniforms)

        def on_position(k, rows, j, z):
            return self._draw(X, rows, j, z, None if u is None else u[rows, k], given, k)

        self._along(X, orders, on_position)

    def outputs(self, X, masks, n_threads=1):
        """The output units given each row's observed entries, (rows, n_out) float64, blocks
        by feature: Z = H_L V^T + c with the entries where masks (rows, n) is True as the
        network's inputs -- for every feature j, its conditional given them."""
        p = self._float64()
        return self._layers(p, X, np.asarray(masks, dtype=np.float64))[2][-1] @ p["V"].T + p["c"]

    def objective(self, X, masks, grads=None, available=None):
        """The rescaled order-agnostic NLL (docs/order_agnostic.md §3), mean over rows;
        its gradient into `grads` when given.  available (rows, n) bool: only those
        entries exist (the others hold any finite value), masks lie within them, and
        the weight is a / (a - s) over a row's a available entries (nadefast/_missing.py)."""
        p = self._float64()
        m = np.asarray(masks, dtype=np.float64)
        rows, n = X.shape
        out_off = offsets(self.output.out_widths(n))
        inputs, A, H = self._layers(p, X, m)
        Z = H[-1] @ p["V"].T + p["c"]
        if available is None:
            weight = n / (n - m.sum(axis=1))  # n / (n - s): unbiased over the split s
            counted = 1.0 - m
        else:
            weight, counted = row_weights(available, np.asarray(masks, dtype=bool))
            counted = counted.astype(np.float64)
        nll, dZ = np.zeros(rows), np.zeros_like(Z)
        for features, j0 in self.stacks:  # rows of a group's features stacked
            k, width = len(features), out_off[j0 + 1] - out_off[j0]
            units = (out_off[features][:, None] + np.arange(width)).reshape(-1)
            z = Z[:, units].reshape(rows * k, width)
            x = X[:, features].reshape(-1)
            free = counted[:, features]
            nll -= np.sum(free * self.output.log_prob(j0, z, x).reshape(rows, k), axis=1)
            dZ[:, units] = (np.repeat(free * (weight / rows)[:, None], width, axis=1)
                            * self.output.grad_logits(j0, z, x).reshape(rows, k * width))
        loss = float(np.mean(weight * nll))
        if grads is None:
            return loss
        exact = {"V": dZ.T @ H[-1], "c": dZ.sum(axis=0),
                 "W_hidden": np.zeros(p["W_hidden"].shape), "b_hidden": np.zeros(p["b_hidden"].shape)}
        dH = dZ @ p["V"]
        for l in range(len(p["W_hidden"]) - 1, -1, -1):
            dA = dH * (A[l + 1] > 0)
            exact["W_hidden"][l] = dA.T @ H[l]
            exact["b_hidden"][l] = dA.sum(axis=0)
            dH = dA @ p["W_hidden"][l]
        dA1 = dH * (A[0] > 0)
        exact.update({"W": dA1.T @ inputs, "M": dA1.T @ m, "b": dA1.sum(axis=0)})
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
    """The float64 NumPy reference backend (see the package docstring of nadefast.backends):
    one kernel class per model, for every output distribution."""

    name = "numpy"
    fixed_kernels = {"bernoulli": FixedKernels, "categorical": FixedKernels,
                     "gaussian_mixture": FixedKernels, "mixed": FixedKernels}
    orderless_kernels = {"bernoulli": OrderlessKernels, "categorical": OrderlessKernels,
                         "gaussian_mixture": OrderlessKernels, "mixed": OrderlessKernels}

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
