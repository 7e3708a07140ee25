"""NADE: the fixed-order model (Larochelle & Murray, 2011; docs/fixed_order.md)."""

import numpy as np

from nadefast._base import BaseNADE, parameter_attribute
from nadefast._mixture import check_activation
from nadefast._outputs import blocks_in_order, make_output
from nadefast._validation import check_dtype, check_int, check_memory, check_ordering, check_params


class NADE(BaseNADE):
    """Neural Autoregressive Distribution Estimator, one ordering.

    p(x) = prod_k p(x_{o[k]} | x_{o[<k]}), each factor a logistic regression
    (categorical data: a softmax; real values: a mixture of Gaussians, RNADE)
    on a hidden layer shared by all positions, computed by the O(n d)
    recurrence a_{k+1} = a_k + W[:, k] x_{o[k]} (docs/fixed_order.md;
    docs/categorical.md; docs/mixture.md).  Log-likelihoods (log-densities
    for real values, in the user's units) are exact, in nats.  Conditional
    inference (log_marginal, conditional_sample, impute) takes the first
    variables of the ordering as observed, in each row any number of them;
    for any other set of observed variables use OrderAgnosticNADE.

    Parameters
    ----------
    n_hidden : int, default 500
        Hidden units d.
    output : "bernoulli" (default), "categorical" or "gaussian_mixture"
        What each variable is: 0/1, a category code 0..K_j - 1, or a real
        number (RNADE: data standardised with the training statistics).
    n_categories : None, int or array-like of n_features ints
        Categorical only: K_j of every column (default: the largest code in
        the training data + 1).
    n_components : int, default 10
        gaussian_mixture only: Gaussians per conditional.
    activation : "sigmoid" (default) or "relu"
        The hidden units, h_k = activation(rho_k a_k) with RNADE's
        per-position rescaling rho_k.  "relu" (RNADE's other choice, the
        better one on red wine: results/README.md) for output=
        "gaussian_mixture" only.
    ordering : None, "random" or array-like of shape (n_features,)
        ``ordering[k]`` is the feature at chain position k. None: the
        features' own order; "random": a permutation drawn from
        `random_state` at fit time.
    dtype : "float32" or "float64", default "float32"
        Precision of the parameters and of the kernels' arithmetic.
        Log-likelihoods are always returned as float64.
    random_state : None, int, numpy Generator or RandomState
        Seeds initialisation, the ordering and the shuffling in `fit`, and is
        the default for `sample` (so with an int, repeated `sample` calls give
        the same samples unless they are given their own random_state).
    n_jobs : None or int
        Threads of the compiled core. None: OpenMP's default (all cores, or
        OMP_NUM_THREADS); -1: all CPUs; -2: all but one; ...  Results do not
        depend on it.
    warm_start : bool, default False
        When fit is called on a fitted model, start from its parameters and
        ordering instead of a fresh initialisation (to train longer, or with
        another schedule); the optimizer state and history_ start afresh.
        The fitted model must match n_hidden, dtype and the number of features.
    backend : "compiled" (default), "numpy" or "torch"
        How the arithmetic runs on the CPU (nadefast.backends): the compiled
        C core, the plain float64 NumPy reference (slow; for checking), or
        PyTorch CPU tensors (the GPU backend's code; needs the gpu extra).
    device : "cpu" (default), "cuda", "cuda:N" or "auto"
        Where the arithmetic runs.  "cuda": on the GPU, always by the torch
        backend (``pip install "nadefast[gpu]"``; backend="numpy" is an
        error); "auto": the GPU when PyTorch sees one, else the CPU.  A
        fitted model moves when `backend` or `device` is changed with
        set_params; model files and pickles do not depend on either.

    Attributes
    ----------
    W_ : ndarray (n_hidden, n_features)   input weights, column k for chain position k
    b_ : ndarray (n_hidden,)              hidden bias
    V_ : ndarray (n_features, n_hidden)   output weights, row k for chain position k
    c_ : ndarray (n_features,)            output biases, c_[k] for chain position k
        (categorical: W_ (n_hidden, sum K - 1), V_ (sum K, n_hidden), c_ (sum K),
        blocks by chain position; docs/categorical.md §3)
    n_categories_ : ndarray (n_features,) categorical only: K_j of every feature
    ordering_ : ndarray (n_features,)     ordering_[k] is the feature at chain position k
    n_features_in_ : int
    history_ : list of dict               per epoch of `fit`: epoch, train_nll,
                                          valid_nll (or None), seconds
    best_epoch_ : int                     epoch whose parameters were kept (0: initial)

    The parameter attributes are views of the arrays the backend computes
    with: writing into them changes the model; assigning a new array copies
    it in.  (On a GPU they are host copies: assigning still works, writing
    into one does not reach the model.)
    """

    _decayed = ("W", "V")

    def __init__(self, n_hidden=500, *, output="bernoulli", column_types=None, n_categories=None,
                 n_components=10, activation="sigmoid", ordering=None, dtype="float32",
                 random_state=None, n_jobs=None, warm_start=False, backend="compiled",
                 device="cpu"):
        self.activation = activation
        super().__init__(n_hidden, output=output, column_types=column_types,
                         n_categories=n_categories,
                         n_components=n_components, ordering=ordering, dtype=dtype,
                         random_state=random_state, n_jobs=n_jobs, warm_start=warm_start,
                         backend=backend, device=device)

    W_ = parameter_attribute("W", "(n_hidden, n_in) input weights, by chain position")
    b_ = parameter_attribute("b", "(n_hidden,) hidden bias")
    V_ = parameter_attribute("V", "(n_out, n_hidden) output weights, by chain position")
    c_ = parameter_attribute("c", "(n_out,) output biases, by chain position")
    rho_ = parameter_attribute("rho", "(n_features,) gaussian_mixture only: RNADE's activation "
                                      "rescaling, h_k = activation(rho_k a_k), by chain position")

    @classmethod
    def _how_to_get_fitted(cls):
        return "NADE.from_params(...) or NADE.load(path)"

    @classmethod
    def from_params(cls, W, b, V, c, *, ordering=None, dtype=None, backend="compiled",
                    device="cpu"):
        """A fitted model from parameters in the public layout.

        W (d, n), b (d,), V (n, d), c (n,); column k of W, row k of V and
        c[k] belong to chain position k, whose feature is ``ordering[k]``
        (default: identity).  dtype: float32 if every array is float32,
        else float64, unless given.  The arrays are copied.
        """
        W, b, V, c, (n, d) = check_params(W, b, V, c, dtype)
        order = np.arange(n, dtype=np.intp) if ordering is None else check_ordering(ordering, n)
        model = cls(n_hidden=d, ordering=None if ordering is None else order.copy(),
                    dtype=W.dtype.name, backend=backend, device=device)
        model._set_fitted({"W": W, "b": b, "V": V, "c": c}, order, make_output("bernoulli"))
        return model

    def hidden_states(self, X):
        """Hidden state h_k of every row at every chain position k.

        Returns (n_samples, n_features, n_hidden) in the model's dtype, the
        second axis in chain order (h_k depends on x_o[0..k-1]).  Needs
        n_samples * n_features * n_hidden elements of memory.
        """
        X = self._check_X(X)
        kernels = self._fitted_kernels()
        shape = (X.shape[0], self.n_features_in_, kernels.public()["b"].shape[0])
        check_memory(np.prod(shape, dtype=np.float64) * kernels.dtype.itemsize, "hidden_states")
        return kernels.hidden(X, self.ordering_, self._threads())

    # ------------------------------------------------------------------ hooks

    @staticmethod
    def _parameter_shapes(n, structure, output):
        d = structure["n_hidden"]
        n_in, n_out = int(output.in_widths(n).sum()), int(output.out_widths(n).sum())
        shapes = {"W": (d, n_in), "b": (d,), "V": (n_out, d), "c": (n_out,)}
        shapes.update({name: (n,) for name in output.fixed_extras})  # per chain position
        return shapes

    @staticmethod
    def _make_kernels(backend, params, output):
        return backend.fixed(params, output)

    def _structure(self):
        return {"model": "NADE", "n_hidden": check_int(self.n_hidden, "n_hidden", minimum=1),
                "n_layers": 1, "dtype": check_dtype(self.dtype).name, "output": self.output,
                "activation": check_activation(self.activation)}

    def _fitted_structure(self):
        W = self._fitted_kernels().public()["W"]
        return {"n_features": self.n_features_in_, "n_hidden": W.shape[0],
                "dtype": W.dtype.name, "n_layers": 1, "activation": self._output.activation}

    def _output_options(self):
        return {"activation": self.activation}

    @classmethod
    def _from_file(cls, params, ordering):
        d, n = params["W"].shape[0], ordering.shape[0]
        identity = np.array_equal(ordering, np.arange(n))
        return cls(n_hidden=d, dtype=params["W"].dtype.name,
                   ordering=None if identity else ordering.copy())

    def _score(self, X, *, orders=None, stop=None, cond=None, terms=None):
        return self._fitted_kernels().score(X, self.ordering_, self._threads(), cond=cond,
                                            terms=terms)

    def _draw(self, X, key, *, orders=None, given=None, greedy=False, row0=0):
        self._fitted_kernels().sample(X, self.ordering_, key, row0, given, greedy, self._threads())

    def _observed_first(self, observed):
        """A fixed-order NADE conditions exactly only on prefixes of its ordering."""
        chain = observed[:, self.ordering_]
        given = chain.sum(axis=1).astype(np.intp)
        prefix = np.arange(self.n_features_in_) < given[:, None]
        bad = np.flatnonzero((chain != prefix).any(axis=1))
        if bad.size:
            raise ValueError(
                f"observed is not a prefix of the model's ordering in row {bad[0]} "
                f"({bad.size} rows in all): a fixed-order NADE conditions exactly only on the "
                f"first variables of its ordering (ordering_[:k]); for other masks use an "
                f"order-agnostic model (OrderAgnosticNADE), which accepts any mask"
            )
        return None, given

    def _log_marginal(self, X, orders, given):
        terms = np.empty(X.shape, dtype=np.float64)  # log p(x_k | x_<k), chain order
        self._score(X, terms=terms)
        cumulative = np.concatenate([np.zeros((X.shape[0], 1)), np.cumsum(terms, axis=1)], axis=1)
        return cumulative[np.arange(X.shape[0]), given]

    def _initial_parameters(self, X, order, structure, output, rng):
        """Small random weights; output biases at the data's marginal log-probabilities,
        so the initial model is (close to) the fit of independent variables."""
        n, d, dtype = X.shape[1], structure["n_hidden"], structure["dtype"]
        in_widths, out_widths = output.in_widths(n), output.out_widths(n)
        scale = 0.01
        W = rng.normal(0.0, scale, size=(d, int(in_widths.sum())))
        V = rng.normal(0.0, scale, size=(int(out_widths.sum()), d))
        c = blocks_in_order(output.initial_biases(X), out_widths, order)  # by chain position
        params = {"W": W.astype(dtype), "b": np.zeros(d, dtype), "V": V.astype(dtype),
                  "c": c.astype(dtype)}
        params.update({name: np.ones(n, dtype) for name in output.fixed_extras})  # rho: 1
        return params

    def _objective(self, n_threads):
        return _FixedObjective(self._fitted_kernels(), self.ordering_, n_threads)


class _FixedObjective:
    """What the Trainer sees of a fixed-order fit: the exact mean NLL and its gradient."""

    draws = False  # no random numbers: loss_and_gradient ignores its rng

    def __init__(self, kernels, ordering, n_threads):
        self.kernels, self.ordering, self.n_threads = kernels, ordering, n_threads
        self.arrays, self.public = kernels.arrays, kernels.public

    def loss_and_gradient(self, X, grads, rng):
        return self.kernels.gradient(X, self.ordering, grads, self.n_threads)

    def validation_loss(self, X):
        return -float(np.mean(self.kernels.score(X, self.ordering, self.n_threads)))
