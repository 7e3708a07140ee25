"""The compiled backend: the C kernels of csrc/ under Cython (nadefast._core).

This is the only module that imports ``nadefast._core``.  Its kernel objects
keep the parameters in the layout the kernels want -- position-major rows,
the hidden width d padded with zeros to a multiple of the dot-product width
(128 bytes: 32 floats, 16 doubles) -- and hand out the public layout as
views of those arrays, so a model holds one copy of its parameters and
writing into a public view changes the model.  Padding entries get zero
gradients, so optimizers can update the padded arrays element-wise and
they stay zero.

Fixed-order layout (docs/fixed_order.md §1): W (n, dp) row k = W[:, k], the
input weights of chain position k; V (n, dp); b (dp,); c (n,).
Order-agnostic layout (docs/order_agnostic.md §1): W, M (n, dp) row j = the
input and mask weights of feature j; b (dp,); W_hidden (L-1, d, dp) row i of
layer l = W_l[i, :]; b_hidden (L-1, d); V (n, dp) row j = feature j; c (n,).
Categorical outputs (csrc/nade.h, "Categorical outputs"): the same with a block
of rows per variable -- W (n_in, dp), K_j - 1 rows per variable (values 1 ..
K_j - 1), V (n_out, dp) and c (n_out,), K_j rows per variable -- in blocks by
chain position (fixed-order) or by feature (order-agnostic), as the public
layout's blocks (docs/README.md).
Real-valued outputs (mixtures of C Gaussians, csrc/nade.h "Real-valued outputs"): W (n, dp),
V (3 C n, dp) and c (3 C n,), 3C rows per variable (C weight logits, C means, C scale
pre-activations), and for the fixed-order model rho (n,); X holds standardised float64 values.
"""

import numpy as np

from nadefast import _core
from nadefast._outputs import offsets
from nadefast.backends import Backend, Kernels

MAX_BLOCK_ROWS = _core.MAX_BLOCK_ROWS

# the instruction set, OpenMP and blocking queries of the compiled core
active_isa = _core.active_isa
isa_supported = _core.isa_supported
select_isa = _core.select_isa
openmp_enabled = _core.openmp_enabled
openmp_max_threads = _core.openmp_max_threads
block_rows = _core.block_rows
force_block_rows = _core._force_block_rows  # tests: results must not depend on it
uniform_bits = _core.uniform_bits
logistic_noise = _core.logistic_noise

_NO_TERMS = np.empty((0, 0), dtype=np.float64)
_NO_INDEX = np.empty(0, dtype=np.intp)
_NO_LOGLIK = np.empty(0, dtype=np.float64)
_NO_COND = {np.dtype(t): np.empty((0, 0), dtype=t) for t in (np.float32, np.float64)}

# Threads for the compiled kernels between the BLAS products of order-agnostic
# training.  The products are nearly all of the work and run on NumPy's BLAS
# threads; OpenMP threads that spin-wait between the kernels took the cores
# from them (a 2-layer MNIST epoch, 2 cores, BLAS on both: 3.4 s with one
# kernel thread, 21-23 s with two under OpenMP's default wait policy, 4.0 s
# with two under OMP_WAIT_POLICY=passive: the kernels are too small to gain
# from threads).  Their results do not depend on the thread count.
TRAINING_KERNEL_THREADS = 1

# Below this fraction of ones in x * m, the first layer adds the weight rows of
# the ones (a gather, ~nnz * dp adds) instead of a dense product (rows * n * dp
# multiply-adds at BLAS speed).  On a training batch of binarized MNIST's shape
# the two cost the same between 0.17 and 0.25 ones (benchmarks/
# test_bench_orderless.py::test_first_layer_inputs, one core); MNIST has ~0.07.
SPARSE_INPUT_FRACTION = 0.15


def padded_width(d, dtype):
    """Hidden width in the kernels' layout: d rounded up to the dot-product width."""
    lanes = _core.lanes(dtype)
    return -(-d // lanes) * lanes


class _Kernels(Kernels):
    backend = "compiled"

    def _cond(self, cond):
        return _NO_COND[self.dtype] if cond is None else cond


class FixedKernels(_Kernels):
    """A fixed-order NADE with Bernoulli outputs on the compiled core (see the module
    docstring for the layout).  Subclasses for other outputs keep the layout with the
    widths their parameters have, plus the per-position arrays named in _extras."""

    _extras = ()

    def __init__(self, params, output=None):
        W, V = params["W"], params["V"]
        d, n_in = W.shape  # n_in, n_out: input columns and output units (n for Bernoulli)
        n_out = V.shape[0]
        dp = padded_width(d, W.dtype)
        self.d, self.output = d, output
        self.arrays = {"W": np.zeros((n_in, dp), W.dtype), "V": np.zeros((n_out, dp), W.dtype),
                       "b": np.zeros(dp, W.dtype), "c": np.zeros(n_out, W.dtype)}
        self.arrays.update({k: np.zeros(np.shape(params[k]), W.dtype) for k in self._extras})
        for name, view in self.public().items():
            view[...] = params[name]

    def public(self, arrays=None):
        a = self.arrays if arrays is None else arrays
        d = self.d
        return {"W": a["W"][:, :d].T, "b": a["b"][:d], "V": a["V"][:, :d], "c": a["c"]}

    def _args(self):
        a = self.arrays
        return a["W"], a["V"], a["b"], a["c"], self.d

    def score(self, X, order, n_threads, cond=None, terms=None):
        loglik = np.empty(X.shape[0], dtype=np.float64)
        _core.score(*self._args(), order, X, loglik, self._cond(cond),
                    _NO_TERMS if terms is None else terms, n_threads)
        return loglik

    def sample(self, X, order, key, row0, given, greedy, n_threads):
        _core.sample(*self._args(), order, key, row0, X, _NO_INDEX if given is None else given,
                     greedy, _NO_LOGLIK, n_threads)

    def gradient(self, X, order, grads, n_threads):
        """Mean NLL of X; its gradient (mean over rows) into `grads` (this layout)."""
        for g in grads.values():
            g.fill(0)
        nll = np.empty(X.shape[0], dtype=np.float64)
        _core.grad(*self._args(), order, X, nll, grads["W"], grads["V"], grads["b"], grads["c"],
                   n_threads)
        scale = grads["W"].dtype.type(1.0 / X.shape[0])
        for g in grads.values():
            g *= scale
        return float(np.mean(nll))

    def hidden(self, X, order, n_threads):
        out = np.empty((X.shape[0], X.shape[1], self.d), dtype=self.dtype)
        _core.hidden(*self._args(), order, X, out, n_threads)
        return out


class OrderlessKernels(_Kernels):
    """An order-agnostic NADE with Bernoulli outputs on the compiled core (see the module
    docstring for the layout)."""

    def __init__(self, params, output=None):
        W, M, V = params["W"], params["M"], params["V"]
        d, n_in = W.shape  # n_in, n_out: input columns and output units (n for Bernoulli)
        n, n_out = M.shape[1], V.shape[0]
        layers = params["W_hidden"].shape[0] + 1
        dp = padded_width(d, W.dtype)
        self.d, self.output = d, output
        self.arrays = {"W": np.zeros((n_in, dp), W.dtype), "M": np.zeros((n, dp), W.dtype),
                       "b": np.zeros(dp, W.dtype),
                       "W_hidden": np.zeros((layers - 1, d, dp), W.dtype),
                       "b_hidden": np.zeros((layers - 1, d), W.dtype),
                       "V": np.zeros((n_out, dp), W.dtype), "c": np.zeros(n_out, W.dtype)}
        for name, view in self.public().items():
            view[...] = params[name]

    def public(self, arrays=None):
        a = self.arrays if arrays is None else arrays
        d = self.d
        return {"W": a["W"][:, :d].T, "M": a["M"][:, :d].T, "b": a["b"][:d],
                "W_hidden": a["W_hidden"][:, :, :d], "b_hidden": a["b_hidden"],
                "V": a["V"][:, :d], "c": a["c"]}

    def _args(self):
        a = self.arrays
        return a["W"], a["M"], a["b"], a["W_hidden"], a["b_hidden"], a["V"], a["c"], self.d

    def score(self, X, orders, n_threads, stop=None, cond=None, terms=None):
        loglik = np.empty(X.shape[0], dtype=np.float64)
        _core.oa_score(*self._args(), orders, X, _NO_INDEX if stop is None else stop, loglik,
                       self._cond(cond), _NO_TERMS if terms is None else terms, n_threads)
        return loglik

    def sample(self, X, orders, key, row0, given, greedy, n_threads):
        _core.oa_sample(*self._args(), orders, key, row0, X,
                        _NO_INDEX if given is None else given, greedy, _NO_LOGLIK, n_threads)

    def objective(self, X, masks, grads=None, n_threads=TRAINING_KERNEL_THREADS):
        """The rescaled order-agnostic NLL of (X, masks), mean over rows
        (docs/order_agnostic.md §3), and its gradient into `grads` (this layout)
        when given.

        X (rows, n) uint8 0/1; masks (rows, n) bool, at least one False per
        row.  The backward pass is written by hand: BLAS products for the
        layers, compiled kernels for the output layer's loss and logit
        gradient and, when x * m is sparse, for the first layer's observed
        inputs.  The products' bits depend on BLAS's thread count.
        """
        X8 = np.ascontiguousarray(X, dtype=np.uint8)
        M8 = np.ascontiguousarray(masks, dtype=bool).view(np.uint8)  # no copy for bool masks
        rows = X8.shape[0]

        def output_layer(Z, need_grad):  # fused: per-row losses, Z overwritten by dloss/dZ
            row_loss = np.empty(rows)
            _core.oa_output(Z, X8, M8, 1.0 / rows, row_loss, n_threads)
            return float(row_loss.mean())

        return self._through_layers(M8, self._observed_inputs(X8, M8, n_threads),
                                    output_layer, grads)

    def _observed_inputs(self, X, M8, n_threads):
        """The first layer's inputs from the entries of X where M8 (rows, n) uint8 is 1:
        an object whose add(A) adds them times W to pre-activations A (rows, dp), and
        grad(dA, out) the gradient of W."""
        return _BinaryInputs(self.arrays["W"], np.ascontiguousarray(X, dtype=np.uint8), M8,
                             n_threads)

    def outputs(self, X, masks, n_threads=TRAINING_KERNEL_THREADS):
        """The output units given each row's observed entries, (rows, n_out) float64, blocks
        by feature: Z = H_L V^T + c with the entries where masks (rows, n) is True as the
        network's inputs -- for every feature j, its conditional given them (the model's
        dtype, widened)."""
        M8 = np.ascontiguousarray(masks, dtype=bool).view(np.uint8)
        out = {}

        def keep(Z, need_grad):
            out["Z"] = Z
            return 0.0

        self._through_layers(M8, self._observed_inputs(X, M8, n_threads), keep, None)
        return out["Z"].astype(np.float64)

    def _through_layers(self, M8, inputs, output_layer, grads):
        """The order-agnostic objective's pass shared by every output: the first layer
        A_1 = m M + b + (its observed inputs, `inputs.add`), ReLU layers, the output units
        Z = H_L V^T + c; output_layer(Z, need_grad) returns the mean loss and, if
        need_grad, overwrites Z with dloss/dZ; then, with grads, the backward pass through
        the layers into grads (this layout), the first layer's input weights by
        `inputs.grad`.  Returns the loss."""
        p, d = self.arrays, self.d
        dtype = p["W"].dtype
        layers = p["W_hidden"].shape[0] + 1
        Mf = M8.astype(dtype)

        # forward
        A = [Mf @ p["M"]]
        A[0] += p["b"]
        inputs.add(A[0])
        H = [np.maximum(A[0], 0)]
        for l in range(layers - 1):
            a = H[-1] @ p["W_hidden"][l].T + p["b_hidden"][l]  # (rows, d)
            h = np.zeros_like(H[-1])
            h[:, :d] = np.maximum(a, 0)
            A.append(a)
            H.append(h)
        Z = H[-1] @ p["V"].T
        Z += p["c"]
        loss = output_layer(Z, grads is not None)
        if grads is None:
            return loss

        # backward
        dZ = Z
        np.matmul(dZ.T, H[-1], out=grads["V"])
        grads["c"][...] = dZ.sum(axis=0)
        dH = dZ @ p["V"]
        for l in range(layers - 2, -1, -1):
            dA = dH[:, :d] * (A[l + 1] > 0)
            np.matmul(dA.T, H[l], out=grads["W_hidden"][l])
            grads["b_hidden"][l] = dA.sum(axis=0)
            dH = dA @ p["W_hidden"][l]
        dA1 = dH * (A[0] > 0)
        inputs.grad(dA1, grads["W"])
        np.matmul(Mf.T, dA1, out=grads["M"])
        grads["b"][...] = dA1.sum(axis=0)
        return loss


class _BinaryInputs:
    """The first layer's observed 0/1 inputs x & m of the order-agnostic objective: weight
    rows added by compiled kernels when they are sparse, BLAS products when dense."""

    def __init__(self, W, X8, M8, n_threads):
        self.W, self.X8, self.M8, self.n_threads = W, X8, M8, n_threads
        self.sparse = np.count_nonzero(X8 & M8) <= SPARSE_INPUT_FRACTION * X8.size
        self.dense = None if self.sparse else (X8 & M8).astype(W.dtype)

    def add(self, A):
        if self.X8.shape[1] == 0:  # (categorical models whose every K_j is 1)
            return
        if self.sparse:
            _core.oa_input_add(self.W, self.X8, self.M8, A, self.n_threads)
        else:
            A += self.dense @ self.W

    def grad(self, dA, out):
        if self.X8.shape[1] == 0:
            return
        if self.sparse:
            _core.oa_input_grad(dA, self.X8, self.M8, out, self.n_threads)
        else:
            np.matmul(self.dense.T, dA, out=out)


class _DenseInputs:
    """The first layer's observed inputs as a dense (rows, n_in) matrix in the model's
    dtype (real values: x * m)."""

    def __init__(self, W, values):
        self.W, self.values = W, values

    def add(self, A):
        A += self.values @ self.W

    def grad(self, dA, out):
        np.matmul(self.values.T, dA, out=out)


class CategoricalFixedKernels(FixedKernels):
    """A fixed-order NADE with categorical outputs on the compiled core: the arrays of
    FixedKernels with a block of rows per chain position (W (n_in, dp), V (n_out, dp),
    c (n_out,)); X holds int32 codes."""

    def _blocks(self, order):
        """in_off, out_off by chain position for this ordering."""
        K = np.asarray(self.output.out_widths(len(order)), dtype=np.intp)[order]
        return offsets(K - 1), offsets(K)

    def _args(self, order):
        a = self.arrays
        return (a["W"], a["V"], a["b"], a["c"], self.d, *self._blocks(order),
                np.ascontiguousarray(order, dtype=np.intp))

    def score(self, X, order, n_threads, cond=None, terms=None):
        loglik = np.empty(X.shape[0], dtype=np.float64)
        feature_off = offsets(self.output.out_widths(X.shape[1]))
        _core.cat_score(*self._args(order), X, loglik, self._cond(cond), feature_off,
                        _NO_TERMS if terms is None else terms, n_threads)
        return loglik

    def sample(self, X, order, key, row0, given, greedy, n_threads):
        _core.cat_sample(*self._args(order), key, row0, X,
                         _NO_INDEX if given is None else given, greedy, _NO_LOGLIK, n_threads)

    def gradient(self, X, order, grads, n_threads):
        """Mean NLL of X; its gradient (mean over rows) into `grads` (this layout)."""
        for g in grads.values():
            g.fill(0)
        nll = np.empty(X.shape[0], dtype=np.float64)
        _core.cat_grad(*self._args(order), X, nll, grads["W"], grads["V"], grads["b"],
                       grads["c"], n_threads)
        scale = grads["V"].dtype.type(1.0 / X.shape[0])
        for g in grads.values():
            g *= scale
        return float(np.mean(nll))

    def hidden(self, X, order, n_threads):
        out = np.empty((X.shape[0], X.shape[1], self.d), dtype=self.dtype)
        _core.cat_hidden(*self._args(order), X, out, n_threads)
        return out


class CategoricalOrderlessKernels(OrderlessKernels):
    """An order-agnostic NADE with categorical outputs on the compiled core: the arrays
    of OrderlessKernels with a block of rows per feature (W (n_in, dp), V (n_out, dp),
    c (n_out,)); X holds int32 codes."""

    def __init__(self, params, output):
        super().__init__(params, output)
        K = np.asarray(output.out_widths(params["M"].shape[1]), dtype=np.intp)
        self.in_off, self.out_off = offsets(K - 1), offsets(K)  # by feature

    def _args(self):
        return (*super()._args(), self.in_off, self.out_off)

    def score(self, X, orders, n_threads, stop=None, cond=None, terms=None):
        loglik = np.empty(X.shape[0], dtype=np.float64)
        _core.oa_cat_score(*self._args(), orders, X, _NO_INDEX if stop is None else stop,
                           loglik, self._cond(cond), _NO_TERMS if terms is None else terms,
                           n_threads)
        return loglik

    def sample(self, X, orders, key, row0, given, greedy, n_threads):
        _core.oa_cat_sample(*self._args(), orders, key, row0, X,
                            _NO_INDEX if given is None else given, greedy, _NO_LOGLIK,
                            n_threads)

    def objective(self, X, masks, grads=None, n_threads=TRAINING_KERNEL_THREADS):
        """The rescaled order-agnostic NLL of (X, masks), mean over rows
        (docs/order_agnostic.md §3), and its gradient into `grads` (this layout)
        when given: OrderlessKernels.objective with categorical inputs and outputs.

        X (rows, n) int32 codes; masks (rows, n) bool, at least one False per row.
        The first layer's observed inputs are one-hot: an observed value v >= 1 of
        feature j is a 1 in column in_off[j] + v - 1 (added as weight rows when sparse,
        as OrderlessKernels does); the output layer is a softmax per feature block, in
        NumPy, in the model's dtype (the loss summed in float64).
        """
        p = self.arrays
        dtype = p["W"].dtype
        X32 = np.ascontiguousarray(X, dtype=np.int32)
        M8 = np.ascontiguousarray(masks, dtype=bool).view(np.uint8)
        rows, n = X32.shape
        out_off = self.out_off
        K = np.diff(out_off)
        free = 1 - M8.astype(dtype)
        unobserved = n - M8.sum(axis=1, dtype=np.int64)
        if rows and unobserved.min() == 0:
            raise ValueError("objective: a row of masks observes every feature; the objective "
                             "needs at least one unobserved feature per row")
        weight = n / unobserved  # float64, n / (n - s)


        def output_layer(Z, need_grad):
            """A softmax per feature block (every block has K >= 1 entries)."""
            feature = np.repeat(np.arange(n), K)  # the feature of each output unit
            Z -= np.maximum.reduceat(Z, out_off[:-1], axis=1)[:, feature]  # z - max, <= 0
            observed = out_off[:-1] + X32  # (rows, n): the output unit of each row's value
            log_p = np.take_along_axis(Z, observed, axis=1)
            np.exp(Z, out=Z)  # 1 at each block's maximum
            total = np.add.reduceat(Z, out_off[:-1], axis=1)  # (rows, n), >= 1
            log_p -= np.log(total)
            row_loss = weight * -np.sum(free * log_p, axis=1, dtype=np.float64)
            if need_grad:  # dloss/dZ = (free * weight / rows) * (softmax - onehot)
                Z /= total[:, feature]
                np.put_along_axis(Z, observed, np.take_along_axis(Z, observed, axis=1) - 1,
                                  axis=1)
                Z *= (free * (weight / rows).astype(dtype)[:, None])[:, feature]
            return float(row_loss.mean())

        return self._through_layers(M8, self._observed_inputs(X32, M8, n_threads),
                                    output_layer, grads)

    def _observed_inputs(self, X, M8, n_threads):
        """One-hot: an observed value v >= 1 of feature j is a 1 in column in_off[j] + v - 1
        (IN & IN = IN: the one-hot inputs are their own mask)."""
        X32 = np.ascontiguousarray(X, dtype=np.int32)
        r_idx, j_idx = np.nonzero((X32 >= 1) & (M8 != 0))
        IN = np.zeros((X32.shape[0], self.arrays["W"].shape[0]), dtype=np.uint8)
        IN[r_idx, self.in_off[j_idx] + X32[r_idx, j_idx] - 1] = 1
        return _BinaryInputs(self.arrays["W"], IN, IN, n_threads)


def _cond_to_user(cond, output, written=None):
    """Conditionals as the mixture kernels write them (per feature the C weights, means and
    scales, standardised) -> the user's units, in place: means m_j + s_j mu, scales s_j sigma
    (GaussianMixture.distribution).  written (rows, n) bool, or None for all: the features
    whose blocks the kernel wrote (the others are left as they were)."""
    C, n = output.n_components, output.means.shape[0]
    blocks = cond.reshape(cond.shape[0], n, 3 * C)
    top = np.finfo(cond.dtype).max  # (float32: within its range, as the kernels write them)
    mu = np.clip(blocks[:, :, C:2 * C] * output.scales[:, None] + output.means[:, None], -top, top)
    sigma = np.minimum(blocks[:, :, 2 * C:] * output.scales[:, None], top)
    if written is None:
        blocks[:, :, C:2 * C], blocks[:, :, 2 * C:] = mu, sigma
    else:
        np.copyto(blocks[:, :, C:2 * C], mu, where=written[:, :, None], casting="unsafe")
        np.copyto(blocks[:, :, 2 * C:], sigma, where=written[:, :, None], casting="unsafe")


def _values(X):
    """Real values for the mixture kernels: float64, C-contiguous (a copy only if needed)."""
    return np.ascontiguousarray(X, dtype=np.float64)


class MixtureFixedKernels(FixedKernels):
    """A fixed-order NADE with mixture-of-Gaussians outputs (RNADE) on the compiled core: the
    arrays of FixedKernels with 3C rows of V and entries of c per chain position (V (3 C n,
    dp), c (3 C n,)) and rho (n,), the activation rescaling; X holds standardised float64
    values (the estimator standardises; `score` turns the conditionals into the user's units,
    as the NumPy backend's do).  The hidden units are the output's `activation`, "sigmoid"
    (h = sigmoid(rho a), the default) or "relu" (h = max(rho a, 0)), read at every call."""

    _extras = ("rho",)

    def __init__(self, params, output):
        super().__init__(params, output)
        self.C = int(output.n_components)

    def public(self, arrays=None):
        a = self.arrays if arrays is None else arrays
        return dict(super().public(a), rho=a["rho"])

    def _args(self):
        a = self.arrays
        return a["W"], a["V"], a["b"], a["c"], a["rho"], self.d, self.C

    def _activation(self):
        return getattr(self.output, "activation", "sigmoid")

    def score(self, X, order, n_threads, cond=None, terms=None):
        loglik = np.empty(X.shape[0], dtype=np.float64)
        _core.mix_score(*self._args(), order, _values(X), loglik, self._cond(cond),
                        _NO_TERMS if terms is None else terms, n_threads,
                        activation=self._activation())
        if cond is not None:
            _cond_to_user(cond, self.output)
        return loglik

    def sample(self, X, order, key, row0, given, greedy, n_threads):
        _core.mix_sample(*self._args(), order, key, row0, X,
                         _NO_INDEX if given is None else given, greedy, _NO_LOGLIK, n_threads,
                         activation=self._activation())

    def gradient(self, X, order, grads, n_threads):
        """Mean NLL of X; its gradient (mean over rows) into `grads` (this layout)."""
        for g in grads.values():
            g.fill(0)
        nll = np.empty(X.shape[0], dtype=np.float64)
        _core.mix_grad(*self._args(), order, _values(X), nll, grads["W"], grads["V"],
                       grads["b"], grads["c"], grads["rho"], n_threads,
                       activation=self._activation())
        scale = grads["V"].dtype.type(1.0 / X.shape[0])
        for g in grads.values():
            g *= scale
        return float(np.mean(nll))

    def hidden(self, X, order, n_threads):
        out = np.empty((X.shape[0], X.shape[1], self.d), dtype=self.dtype)
        _core.mix_hidden(*self._args(), order, _values(X), out, n_threads,
                         activation=self._activation())
        return out


class MixtureOrderlessKernels(OrderlessKernels):
    """An order-agnostic NADE with mixture-of-Gaussians outputs on the compiled core: the
    arrays of OrderlessKernels with 3C rows of V and entries of c per feature (V (3 C n, dp),
    c (3 C n,)); X holds standardised float64 values."""

    def __init__(self, params, output):
        super().__init__(params, output)
        self.C = int(output.n_components)

    def _args(self):
        return (*super()._args(), self.C)

    def score(self, X, orders, n_threads, stop=None, cond=None, terms=None):
        loglik = np.empty(X.shape[0], dtype=np.float64)
        _core.oa_mix_score(*self._args(), orders, _values(X),
                           _NO_INDEX if stop is None else stop, loglik, self._cond(cond),
                           _NO_TERMS if terms is None else terms, n_threads)
        if cond is not None:
            written = None
            if stop is not None:  # the features of each row's first stop[r] positions
                rows, n = X.shape
                written = np.zeros((rows, n), dtype=bool)
                np.put_along_axis(written, np.broadcast_to(orders, (rows, n)),
                                  np.arange(n) < stop[:, None], axis=1)
            _cond_to_user(cond, self.output, written)
        return loglik

    def sample(self, X, orders, key, row0, given, greedy, n_threads):
        _core.oa_mix_sample(*self._args(), orders, key, row0, X,
                            _NO_INDEX if given is None else given, greedy, _NO_LOGLIK,
                            n_threads)

    def objective(self, X, masks, grads=None, n_threads=TRAINING_KERNEL_THREADS):
        """The rescaled order-agnostic NLL of (X, masks), mean over rows
        (docs/order_agnostic.md §3), and its gradient into `grads` (this layout)
        when given: OrderlessKernels.objective with real inputs and mixture outputs.

        X (rows, n) standardised values; masks (rows, n) bool, at least one False per row.
        The first layer's observed inputs x * m are dense (a product; values clamped to
        +-1e15 as the kernels clamp them, csrc/mix_math.h); the output layer, a mixture per
        feature block, is the compiled kernel oa_mix_output (loss in float64, derivatives
        in the model's dtype).
        """
        X = _values(X)
        M8 = np.ascontiguousarray(masks, dtype=bool).view(np.uint8)
        rows, n = X.shape
        if rows and (M8.sum(axis=1, dtype=np.int64) == n).any():
            raise ValueError("objective: a row of masks observes every feature; the objective "
                             "needs at least one unobserved feature per row")

        def output_layer(Z, need_grad):  # fused: per-row losses, Z overwritten by dloss/dZ
            row_loss = np.empty(rows)
            _core.oa_mix_output(Z, X, M8, self.C, 1.0 / rows, row_loss, n_threads)
            return float(row_loss.mean())

        return self._through_layers(M8, self._observed_inputs(X, M8, n_threads), output_layer,
                                    grads)

    def _observed_inputs(self, X, M8, n_threads):
        """Dense x * m, values clamped to +-1e15 as the kernels clamp them."""
        W = self.arrays["W"]
        return _DenseInputs(W, (np.clip(_values(X), -1e15, 1e15) * M8).astype(W.dtype))


class CompiledBackend(Backend):
    """The compiled CPU backend (see the package docstring of nadefast.backends)."""

    name = "compiled"
    fixed_kernels = {"bernoulli": FixedKernels, "categorical": CategoricalFixedKernels,
                     "gaussian_mixture": MixtureFixedKernels}
    orderless_kernels = {"bernoulli": OrderlessKernels, "categorical": CategoricalOrderlessKernels,
                         "gaussian_mixture": MixtureOrderlessKernels}

    def training_masks(self, key, rows, n, n_threads=TRAINING_KERNEL_THREADS):
        """The order-agnostic objective's masks, (rows, n) bool (docs/order_agnostic.md §3);
        row r from the Philox stream of (key, r), whatever n_threads."""
        return _core.oa_masks(key, 0, rows, n, n_threads).view(bool)

    def adam_step(self, p, g, m, v, beta1, beta2, lr_t, eps_t, n_threads):
        """One Adam step in place on C-contiguous arrays (docs/training.md §2)."""
        _core.adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), beta1, beta2,
                   lr_t, eps_t, n_threads)

    def max_threads(self):
        """Threads n_jobs=None means: OpenMP's default (1 without OpenMP)."""
        return max(1, _core.openmp_max_threads()) if _core.openmp_enabled() else 1


BACKEND = CompiledBackend()
