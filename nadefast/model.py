"""The NADE estimator: validation, parameter layout, fit loop, persistence.

The numerics live in nadefast._core (Cython over the C kernels of csrc/);
this module checks inputs, keeps the parameters in the layout the kernels
want, and runs training as Python over those kernels.
"""

import os

import numpy as np

from nadefast import _core
from nadefast import io as _io
from nadefast import orderless
from nadefast._parallel import effective_n_threads
from nadefast._random import make_rng, philox_key
from nadefast._validation import (
    NotFittedError,
    as_binary_matrix,
    check_bool,
    check_dtype,
    check_int,
    check_ordering,
    check_params,
    check_memory,
    check_real,
)
from nadefast._training import (
    LR_SCHEDULES,
    Trainer,
    column_sums,
    data_digest,
    is_dask_array,
    is_out_of_core,
    load_checkpoint,
)
from nadefast.optim import OPTIMIZERS

_NO_TERMS = np.empty((0, 0), dtype=np.float64)
_NO_GIVEN = np.empty(0, dtype=np.intp)
_NO_COND = {np.dtype(t): np.empty((0, 0), dtype=t) for t in (np.float32, np.float64)}

_PARAM_NAMES = ("n_hidden", "ordering", "dtype", "random_state", "n_jobs", "order_agnostic",
                "n_layers", "warm_start")
_DEFAULTS = {"n_hidden": 500, "ordering": None, "dtype": "float32", "random_state": None,
             "n_jobs": None, "order_agnostic": False, "n_layers": 1, "warm_start": False}


def _training_matrix(X):
    """fit's X: validated into memory, or -- for a NumPy memmap or a Dask array --
    only its shape and dtype checked here, its rows validated chunk by chunk as
    training streams them (so data larger than memory can be used)."""
    if not is_out_of_core(X):
        return as_binary_matrix(X, allow_empty=False)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if np.dtype(X.dtype).kind not in "biuf":
        raise TypeError(f"X must hold numbers 0/1 (bool, integer or float), got dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X has shape {X.shape}; at least one sample and one feature are required")
    return X


def _padded(d, dtype):
    """Hidden width in the kernels' layout: d rounded up to the dot-product width."""
    lanes = _core.lanes(dtype)
    return -(-d // lanes) * lanes


class NADE:
    """Neural Autoregressive Distribution Estimator for binary vectors.

    p(x) = prod_k p(x_{o[k]} | x_{o[<k]}), each factor a logistic regression
    on a hidden layer shared by all positions (Larochelle & Murray, 2011).
    Log-likelihoods are exact, in nats.

    Parameters
    ----------
    n_hidden : int, default 500
        Hidden units d.
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
        depend on it.  Training an order-agnostic model is matrix products on
        NumPy's BLAS, whose threads BLAS sets (OPENBLAS_NUM_THREADS,
        threadpoolctl); the compiled steps between them run on one thread.
    order_agnostic : bool, default False
        Train one network for every ordering (Uria et al. 2014): the first
        hidden layer also sees which variables are observed, hidden units are
        ReLU, and any set of observed variables can be conditioned on.
        `ordering` is then the ordering score_samples, sample and
        conditionals use by default; score_samples(X, n_orderings=K) averages
        K orderings.
    n_layers : int, default 1
        Hidden layers of n_hidden units (more than one needs order_agnostic).
    warm_start : bool, default False
        When fit is called on a fitted model, start from its parameters and
        ordering instead of a fresh initialisation (to train longer, or with
        another schedule); the optimizer state and history_ start afresh.
        The fitted model must match n_hidden, dtype, order_agnostic, n_layers
        and the number of features.

    Attributes
    ----------
    W_ : ndarray (n_hidden, n_features)   input weights, column k for chain position k
                                          (order-agnostic: column j for feature j)
    b_ : ndarray (n_hidden,)              hidden bias (order-agnostic: first layer's)
    V_ : ndarray (n_features, n_hidden)   output weights, row k for chain position k
                                          (order-agnostic: row j for feature j)
    c_ : ndarray (n_features,)            output biases, likewise
    M_ : ndarray (n_hidden, n_features)   order-agnostic only: mask weights of the first layer
    W_hidden_, b_hidden_ : ndarrays (n_layers-1, n_hidden, n_hidden), (n_layers-1, n_hidden)
                                          order-agnostic only: the deeper layers
    ordering_ : ndarray (n_features,)     the ordering in use
    n_features_in_ : int
    history_ : list of dict               per epoch of `fit`: epoch, train_nll,
                                          valid_nll (or None), seconds
    best_epoch_ : int                     epoch whose parameters were kept (0: initial)

    The four parameter attributes are views of the arrays the kernels use:
    writing into them changes the model; assigning a new array copies it in.
    """

    def __init__(self, n_hidden=500, *, ordering=None, dtype="float32", random_state=None,
                 n_jobs=None, order_agnostic=False, n_layers=1, warm_start=False):
        self.n_hidden = n_hidden
        self.ordering = ordering
        self.dtype = dtype
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.order_agnostic = order_agnostic
        self.n_layers = n_layers
        self.warm_start = warm_start

    # ------------------------------------------------------------ estimator API

    def get_params(self, deep=True):
        """Constructor parameters, as scikit-learn's BaseEstimator does."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        for name, value in params.items():
            if name not in _PARAM_NAMES:
                raise ValueError(
                    f"invalid parameter {name!r} for NADE; valid parameters are {list(_PARAM_NAMES)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self):
        changed = []
        for name in _PARAM_NAMES:
            value = getattr(self, name)
            default = _DEFAULTS[name]
            if isinstance(value, np.ndarray) or value is not default and value != default:
                changed.append(f"{name}={value!r}")
        return f"NADE({', '.join(changed)})"

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (scikit-learn is imported only when it asks).

        A density estimator of binary data: 2-D numeric input, no target,
        values 0/1 only (positive), no NaN.
        """
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=True, allow_nan=False))

    # pickle and copy.deepcopy: constructor parameters, fitted parameters in the
    # public layout (the arrays of the .npz format) and the training record --
    # not the kernels' padded arrays, whose layout is an implementation detail
    def __getstate__(self):
        state = {"params": self.get_params(), "format_version": _io.FORMAT_VERSION}
        if self.__sklearn_is_fitted__():
            names = ("W_", "b_", "V_", "c_") + (("M_", "W_hidden_", "b_hidden_") if self._is_oa else ())
            state["fitted"] = {name[:-1]: np.array(getattr(self, name)) for name in names}
            state["ordering_"] = np.array(self.ordering_)
            for name in ("history_", "best_epoch_"):
                if hasattr(self, name):
                    state[name] = getattr(self, name)
        return state

    def __setstate__(self, state):
        if state.get("format_version", 1) > _io.FORMAT_VERSION:
            raise ValueError("this NADE was pickled by a newer nadefast; upgrade to unpickle it")
        self.__init__(**state["params"])
        if "fitted" in state:
            self._set_from_public(state["fitted"], state["ordering_"])
            for name in ("history_", "best_epoch_"):
                if name in state:
                    setattr(self, name, state[name])

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_Wt") or self._is_oa

    # ------------------------------------------------------- fitted parameters

    def _check_fitted(self):
        if not (hasattr(self, "_Wt") or self._is_oa):
            raise NotFittedError(
                "this NADE is not fitted yet; call fit(X), NADE.from_params(...) or NADE.load(path) first"
            )

    def _set_fitted(self, W, b, V, c, ordering):
        """Store public-layout parameters in the kernels' layout.

        Kernels want position-major rows padded with zeros to a multiple of
        the dot-product width: Wt (n, dp) with row k = W[:, k], V (n, dp),
        b (dp,).  The public attributes are views of these arrays.
        """
        d, n = W.shape
        dtype = W.dtype
        dp = _padded(d, dtype)
        self._Wt = np.zeros((n, dp), dtype=dtype)
        self._Wt[:, :d] = W.T
        self._V = np.zeros((n, dp), dtype=dtype)
        self._V[:, :d] = V
        self._b = np.zeros(dp, dtype=dtype)
        self._b[:d] = b
        self._c = np.array(c, dtype=dtype, copy=True)
        self._oa = None
        self._d = d
        self.ordering_ = np.ascontiguousarray(ordering, dtype=np.intp)
        self.n_features_in_ = n

    def _set_fitted_oa(self, params, d, ordering):
        """Store an order-agnostic model given in the kernels' layout (see orderless.py)."""
        self._oa = params
        for name in ("_Wt", "_V", "_b", "_c"):
            self.__dict__.pop(name, None)
        self._d = d
        self.ordering_ = np.ascontiguousarray(ordering, dtype=np.intp)
        self.n_features_in_ = params["Win"].shape[0]

    @property
    def _is_oa(self):
        return getattr(self, "_oa", None) is not None

    def _params_padded(self):
        if self._is_oa:
            return self._oa
        return {"W": self._Wt, "V": self._V, "b": self._b, "c": self._c}

    def _view(self, name):
        """Parameter `name` in the public layout: a view of the kernels' arrays."""
        self._check_fitted()
        d = self._d
        if self._is_oa:
            p = self._oa
            views = {"W_": lambda: p["Win"][:, :d].T, "M_": lambda: p["Wmask"][:, :d].T,
                     "b_": lambda: p["b1"][:d], "W_hidden_": lambda: p["Wdeep"][:, :, :d],
                     "b_hidden_": lambda: p["bdeep"], "V_": lambda: p["V"][:, :d],
                     "c_": lambda: p["c"]}
        else:
            views = {"W_": lambda: self._Wt[:, :d].T, "b_": lambda: self._b[:d],
                     "V_": lambda: self._V[:, :d], "c_": lambda: self._c}
        if name not in views:
            raise AttributeError(f"{name} exists only for order-agnostic models")
        return views[name]()

    def _param_property(name, doc):  # noqa: N805 (a helper run in the class body)
        def get(self):
            return self._view(name)

        def set_(self, value):
            self._assign(name, self._view(name), value)

        return property(get, set_, doc=doc)

    W_ = _param_property("W_", "(n_hidden, n_features) input weights")
    b_ = _param_property("b_", "(n_hidden,) hidden bias")
    V_ = _param_property("V_", "(n_features, n_hidden) output weights")
    c_ = _param_property("c_", "(n_features,) output biases")
    M_ = _param_property("M_", "(n_hidden, n_features) mask weights (order-agnostic)")
    W_hidden_ = _param_property("W_hidden_", "(n_layers-1, n_hidden, n_hidden) deeper layers")
    b_hidden_ = _param_property("b_hidden_", "(n_layers-1, n_hidden) deeper biases")
    del _param_property

    @staticmethod
    def _assign(name, target, value):
        try:
            value = np.asarray(value)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array: {exc}") from None
        if value.shape != target.shape:
            raise ValueError(f"{name} must have shape {target.shape}, got {value.shape}")
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers, got dtype {value.dtype}")
        with np.errstate(over="ignore"):
            cast = value.astype(target.dtype)  # check after the cast: 1e39 is inf in float32
        if not np.isfinite(cast).all():
            raise ValueError(f"{name} must hold finite values in {target.dtype}")
        target[...] = cast

    @classmethod
    def from_params(cls, W, b, V, c, *, ordering=None, dtype=None):
        """A fitted model from parameters in the public layout.

        W (d, n), b (d,), V (n, d), c (n,); column k of W, row k of V and
        c[k] belong to chain position k, whose feature is ``ordering[k]``
        (default: identity).  dtype: float32 if every array is float32,
        else float64, unless given.  The arrays are copied.
        """
        W, b, V, c, (n, d) = check_params(W, b, V, c, dtype)
        order = np.arange(n, dtype=np.intp) if ordering is None else check_ordering(ordering, n)
        model = cls(n_hidden=d, ordering=None if ordering is None else order.copy(),
                    dtype=W.dtype.name)
        model._set_fitted(W, b, V, c, order)
        return model

    # ------------------------------------------------------------- inference

    def _threads(self):
        return effective_n_threads(self.n_jobs)

    def _kernel_params(self):
        return self._Wt, self._V, self._b, self._c, self._d, self.ordering_

    def _check_X(self, X, *, allow_empty=True):
        self._check_fitted()
        return as_binary_matrix(X, self.n_features_in_, allow_empty=allow_empty)

    # The two kernel entry points every inference method goes through.  For an
    # order-agnostic model `orders` is (1, n) -- one ordering for all rows --
    # or (rows, n); a fixed-order model always uses its own ordering_.

    def _run_score(self, X, *, orders=None, stop=None, cond=None, terms=None):
        """log p(x) of every row (of its first stop[r] positions); fills cond/terms if given."""
        loglik = np.empty(X.shape[0], dtype=np.float64)
        cond = _NO_COND[self._dtype()] if cond is None else cond
        terms = _NO_TERMS if terms is None else terms
        if self._is_oa:
            orders = self.ordering_[None] if orders is None else orders
            stop = _NO_GIVEN if stop is None else stop
            _core.oa_score(*orderless.kernel_args(self._oa, self._d), orders, X, stop, loglik, cond,
                           terms, self._threads())
        else:
            _core.score(*self._kernel_params(), X, loglik, cond, terms, self._threads())
        return loglik

    def _run_sample(self, X, key, *, orders=None, given=None, greedy=False, row0=0):
        """Fill the rows of X (uint8, C-contiguous) with draws, after given[r] kept positions.

        Row i uses the random stream of row row0 + i of `key`."""
        given = _NO_GIVEN if given is None else given
        if self._is_oa:
            orders = self.ordering_[None] if orders is None else orders
            _core.oa_sample(*orderless.kernel_args(self._oa, self._d), orders, key, row0, X, given,
                            greedy, np.empty(0), self._threads())
        else:
            _core.sample(*self._kernel_params(), key, row0, X, given, greedy, np.empty(0),
                         self._threads())

    def _dtype(self):
        return (self._oa["V"] if self._is_oa else self._V).dtype

    def score_samples(self, X, n_orderings=1, *, random_state=None):
        """Exact log-likelihood log p(x) of each row, in nats.

        X: (n_samples, n_features) of 0/1 (bool, int or float). Returns
        (n_samples,) float64.  n_orderings > 1 (order-agnostic models only):
        the log of the mean probability over the model's ordering and
        n_orderings - 1 more drawn from random_state (default: the
        estimator's) -- an ensemble, itself a normalised density.
        """
        X = self._check_X(X)
        n_orderings = check_int(n_orderings, "n_orderings", minimum=1)
        if n_orderings == 1:
            return self._run_score(X)
        if not self._is_oa:
            raise ValueError("n_orderings > 1 needs an order-agnostic model "
                             "(NADE(order_agnostic=True)); a fixed-order NADE has one ordering")
        rng = make_rng(self.random_state if random_state is None else random_state)
        per_ordering = np.empty((n_orderings, X.shape[0]))
        per_ordering[0] = self._run_score(X)
        for i in range(1, n_orderings):
            order = rng.permutation(self.n_features_in_).astype(np.intp)[None]
            per_ordering[i] = self._run_score(X, orders=order)
        top = per_ordering.max(axis=0)
        return top + np.log(np.mean(np.exp(per_ordering - top), axis=0))

    def with_ordering(self, ordering, *, random_state=None):
        """A copy of this order-agnostic model that follows another ordering.

        One order-agnostic network serves every ordering; this sets the one
        that score_samples, conditionals, sample and the rest follow (and that
        score_samples(n_orderings=K) starts its ensemble from).  ordering: a
        permutation of range(n_features), or "random", drawn from random_state
        (default: the estimator's).  The copy's `ordering` parameter is that
        permutation; the parameters are copied, the original is unchanged.
        Fixed-order models raise ValueError: their parameters belong to their
        ordering.
        """
        self._check_fitted()
        if not self._is_oa:
            raise ValueError("with_ordering needs an order-agnostic model (NADE(order_agnostic=True)); "
                             "a fixed-order NADE's parameters belong to the ordering it was fitted with")
        n = self.n_features_in_
        if isinstance(ordering, str) and ordering == "random":
            rng = make_rng(self.random_state if random_state is None else random_state)
            order = rng.permutation(n).astype(np.intp)
        else:
            order = check_ordering(ordering, n)
        state = self.__getstate__()
        state["params"]["ordering"] = order.copy()
        state["ordering_"] = order
        model = type(self).__new__(type(self))
        model.__setstate__(state)
        return model

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X, in nats (higher is better)."""
        X = self._check_X(X, allow_empty=False)
        return float(np.mean(self.score_samples(X)))

    def conditionals(self, X):
        """P(x_i = 1 | the variables before i in the ordering) for every feature i.

        Returns (n_samples, n_features) in the model's dtype, columns in the
        original feature order.
        """
        X = self._check_X(X)
        check_memory(float(X.size) * self._dtype().itemsize, "conditionals")
        cond = np.empty(X.shape, dtype=self._dtype())
        self._run_score(X, cond=cond)
        return cond

    def hidden_states(self, X):
        """Hidden state h_k of every row at every chain position k.

        Returns (n_samples, n_features, n_hidden) in the model's dtype, the
        second axis in chain order (h_k depends on x_o[0..k-1]).  Needs
        n_samples * n_features * n_hidden elements of memory.  Fixed-order
        models only.
        """
        X = self._check_X(X)
        if self._is_oa:
            raise ValueError("hidden_states is defined for fixed-order models; an order-agnostic "
                             "model's hidden layers depend on the ordering")
        shape = (X.shape[0], self.n_features_in_, self._d)
        check_memory(np.prod(shape, dtype=np.float64) * self._Wt.itemsize, "hidden_states")
        out = np.empty(shape, dtype=self._Wt.dtype)
        _core.hidden(*self._kernel_params(), X, out, self._threads())
        return out

    def sample(self, n_samples=1, *, random_state=None):
        """Draw n_samples vectors from the model: (n_samples, n_features) uint8.

        Row i depends only on the key derived from random_state (default:
        the estimator's random_state) and on i: the same key gives the same
        rows for any n_jobs, and the first m rows of a request equal a
        request for m rows.  Random numbers are Philox4x64-10 (see
        nadefast._core.uniform_bits).  Order-agnostic models sample along
        their ordering_.
        """
        self._check_fitted()
        n_samples = check_int(n_samples, "n_samples", minimum=0)
        key = philox_key(self.random_state if random_state is None else random_state)
        return self.sample_rows(key, 0, n_samples)

    def sample_rows(self, key, start, stop):
        """Rows start .. stop-1 of the infinite sequence of samples of a Philox key.

        key: (2,) uint64, as nadefast._random.philox_key(random_state) makes it.
        ``sample(n, random_state=s)`` is ``sample_rows(philox_key(s), 0, n)``, so
        chunks of a large request (Dask, several processes) can be drawn
        independently and still give exactly the in-memory result.
        Returns (stop - start, n_features) uint8.
        """
        self._check_fitted()
        key = np.ascontiguousarray(key, dtype=np.uint64)
        if key.shape != (2,):
            raise ValueError(f"key must be 2 uint64 words, got shape {key.shape}")
        start = check_int(start, "start", minimum=0)
        stop = check_int(stop, "stop", minimum=start)
        n_samples = stop - start
        check_memory(float(n_samples) * self.n_features_in_, f"sample({n_samples})")
        X = np.empty((n_samples, self.n_features_in_), dtype=np.uint8)
        self._run_sample(X, key, row0=start)
        return X

    # ------------------------------------------------- conditional inference

    def prefix_log_marginals(self, X):
        """log p(x_o[0], ..., x_o[k-1]) for k = 0 .. n_features, in one pass.

        Returns (n_samples, n_features + 1) float64: column 0 is 0 (the empty
        prefix), column k the log-probability of the first k variables of the
        ordering, the last column log p(x) (equal to score_samples up to
        rounding).
        """
        X = self._check_X(X)
        terms = np.empty(X.shape, dtype=np.float64)
        self._run_score(X, terms=terms)
        out = np.zeros((X.shape[0], self.n_features_in_ + 1), dtype=np.float64)
        np.cumsum(terms, axis=1, out=out[:, 1:])
        return out

    def _check_observed(self, X, observed):
        """Validate (X, observed) for conditional inference.

        observed: bool array shaped like X (or (n_features,) for every row),
        or None for "not NaN" (X then floating).  Unobserved entries of X are
        ignored (NaN allowed there).  Returns X with unobserved entries set to
        0 as uint8, the per-row orderings to follow (None: the model's own),
        and per row the number of observed variables, which come first.  A
        fixed-order model needs them to be a prefix of its ordering; an
        order-agnostic one puts them first in each row's ordering.
        """
        self._check_fitted()
        if isinstance(X, (str, bytes)):
            raise TypeError(f"X must be an array of 0/1, got a {type(X).__name__}")
        X = np.asarray(X)
        if observed is None:
            if X.dtype.kind != "f":
                raise ValueError("observed=None means 'the entries of X that are not NaN', "
                                 "which needs a floating X; pass observed explicitly")
            observed = ~np.isnan(X)
        if isinstance(observed, (str, bytes)):
            raise TypeError("observed must be a boolean array shaped like X")
        observed = np.asarray(observed)
        if observed.dtype.kind not in "biu":
            raise TypeError(f"observed must be a boolean array, got dtype {observed.dtype}")
        if observed.dtype.kind != "b":
            if ((observed != 0) & (observed != 1)).any():
                raise ValueError("observed must hold only True/False (or 0/1)")
            observed = observed.astype(bool)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        if observed.shape == (self.n_features_in_,):
            observed = np.broadcast_to(observed, X.shape)
        if observed.shape != X.shape:
            raise ValueError(f"observed has shape {observed.shape}, expected {X.shape} (like X) "
                             f"or ({self.n_features_in_},)")
        if X.dtype.kind in "biuf":
            X = np.where(observed, X, 0)
        X = as_binary_matrix(X, self.n_features_in_)
        if self._is_oa:
            orders, given = orderless.orderings_observed_first(observed, self.ordering_)
            return X, orders, given
        chain = observed[:, self.ordering_]
        given = chain.sum(axis=1).astype(np.intp)
        prefix = np.arange(self.n_features_in_) < given[:, None]
        bad = np.flatnonzero((chain != prefix).any(axis=1))
        if bad.size:
            raise ValueError(
                f"observed is not a prefix of the model's ordering in row {bad[0]} "
                f"({bad.size} rows in all): a fixed-order NADE conditions exactly only on the "
                f"first variables of its ordering (ordering_[:k]); for other masks use an "
                f"order-agnostic model (NADE(order_agnostic=True)), which accepts any mask"
            )
        return X, None, given

    def log_marginal(self, X, observed=None):
        """log p(x_observed) of each row, nats: (n_samples,) float64.

        Exact, in one pass, for the ordering that puts each row's observed
        variables first (see _check_observed for the arguments).
        """
        X, orders, given = self._check_observed(X, observed)
        if self._is_oa:
            return self._run_score(X, orders=orders, stop=given)
        terms = np.empty(X.shape, dtype=np.float64)
        self._run_score(X, terms=terms)
        cumulative = np.concatenate([np.zeros((X.shape[0], 1)), np.cumsum(terms, axis=1)], axis=1)
        return cumulative[np.arange(X.shape[0]), given]

    def _complete(self, X, orders, given, n_samples, key, greedy):
        """Rows of X completed after their given prefixes, n_samples times each."""
        rows, n = X.shape
        check_memory(float(n_samples) * rows * n, f"conditional_sample(n_samples={n_samples})")
        out = np.empty((n_samples, rows, n), dtype=np.uint8)
        out[...] = X
        flat = out.reshape(n_samples * rows, n)
        if orders is not None and orders.shape[0] > 1:
            orders = np.tile(orders, (n_samples, 1))
        self._run_sample(flat, key, orders=orders, given=np.tile(given, n_samples), greedy=greedy)
        return out

    def conditional_sample(self, X, observed=None, n_samples=1, *, random_state=None):
        """Completions of X drawn from p(x_unobserved | x_observed), observed values kept.

        Returns (n_samples, n_rows, n_features) uint8: out[s] is one completed
        copy of X.  Completion s of row r uses the random stream of row
        s * n_rows + r of the key from random_state (default: the estimator's).
        """
        n_samples = check_int(n_samples, "n_samples", minimum=0)
        X, orders, given = self._check_observed(X, observed)
        key = philox_key(self.random_state if random_state is None else random_state)
        return self._complete(X, orders, given, n_samples, key, greedy=False)

    def impute(self, X, observed=None, *, method="mode", n_samples=100, random_state=None):
        """Fill in the unobserved entries of X.

        method="mode": sequential most-probable values -- each unobserved
            variable in turn takes its more likely value given everything
            before it (deterministic; (n_rows, n_features) uint8).
        method="mean": E[x | x_observed] estimated from `n_samples`
            conditional samples ((n_rows, n_features) float64; standard error
            at most 0.5 / sqrt(n_samples) per entry).
        Observed entries are returned unchanged.
        """
        if method not in ("mode", "mean"):
            raise ValueError(f"method must be 'mode' or 'mean', got {method!r}")
        X, orders, given = self._check_observed(X, observed)
        if method == "mode":
            return self._complete(X, orders, given, 1, np.empty(0, dtype=np.uint64), greedy=True)[0]
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        key = philox_key(self.random_state if random_state is None else random_state)
        return self._complete(X, orders, given, n_samples, key, greedy=False).mean(axis=0,
                                                                                   dtype=np.float64)

    # ------------------------------------------------------ loss and gradient

    def _loss_and_gradient_padded(self, X, grads, n_threads):
        """Mean NLL of X and its gradient, into `grads` (padded layout, zeroed here)."""
        for g in grads.values():
            g.fill(0)
        nll = np.empty(X.shape[0], dtype=np.float64)
        _core.grad(*self._kernel_params(), X, nll, grads["W"], grads["V"], grads["b"],
                   grads["c"], n_threads)
        scale = grads["W"].dtype.type(1.0 / X.shape[0])
        for g in grads.values():
            g *= scale
        return float(np.mean(nll))

    def _training_loss(self, X, grads, n_threads, rng):
        """The training objective on a batch and its gradient (into grads)."""
        if self._is_oa:
            masks = orderless.draw_masks(rng, X.shape[0], X.shape[1], n_threads)
            return orderless.loss_and_gradient(self._oa, X, masks, self._d, grads,
                                               n_threads=n_threads)[0]
        return self._loss_and_gradient_padded(X, grads, n_threads)

    def _validation_nll(self, X):
        """What early stopping watches: the exact mean NLL; for an order-agnostic
        model, its training objective with masks fixed for the whole fit (the exact
        NLL of a deep model costs n forward passes)."""
        if not self._is_oa:
            return -float(np.mean(self.score_samples(X)))
        key = (X.shape, X.__array_interface__["data"][0])
        cached = getattr(self, "_valid_masks", None)
        if cached is None or cached[0] != key:
            masks = orderless.draw_masks(np.random.default_rng(0), X.shape[0], X.shape[1])
            self._valid_masks = cached = (key, masks)
        return orderless.loss_and_gradient(self._oa, X, cached[1], self._d, want_grad=False,
                                           n_threads=orderless.TRAINING_KERNEL_THREADS)[0]

    def loss_and_gradient(self, X, *, random_state=None):
        """Mean training loss of X and its gradient.

        Fixed-order models: the mean NLL and its gradient, the hand-written
        O(n d) backward pass; grads "W" (n_hidden, n_features), "b", "V", "c".
        Order-agnostic models: the order-agnostic objective with orderings and
        split points drawn from random_state (default: the estimator's); grads
        also "M", "W_hidden", "b_hidden".  Arrays are shaped like the
        parameters (model dtype; views of fresh buffers).
        """
        X = self._check_X(X, allow_empty=False)
        grads = {k: np.zeros_like(v) for k, v in self._params_padded().items()}
        d = self._d
        if self._is_oa:
            rng = make_rng(self.random_state if random_state is None else random_state)
            threads = orderless.TRAINING_KERNEL_THREADS
            masks = orderless.draw_masks(rng, X.shape[0], X.shape[1], threads)
            loss = orderless.loss_and_gradient(self._oa, X, masks, d, grads, n_threads=threads)[0]
            return loss, {"W": grads["Win"][:, :d].T, "M": grads["Wmask"][:, :d].T,
                          "b": grads["b1"][:d], "W_hidden": grads["Wdeep"][:, :, :d],
                          "b_hidden": grads["bdeep"], "V": grads["V"][:, :d], "c": grads["c"]}
        loss = self._loss_and_gradient_padded(X, grads, self._threads())
        # views of this call's own buffers (in the kernels' layout): no copies
        return loss, {"W": grads["W"][:, :d].T, "b": grads["b"][:d], "V": grads["V"][:, :d],
                      "c": grads["c"]}

    # --------------------------------------------------------------- training

    def _initial_params(self, X, n_hidden, dtype, order, rng):
        """Small random weights; output biases at the data's marginal log-odds.

        With c_k = logit(mean of x_o[k]) the initial model is (close to) the
        independent-Bernoulli fit, so training starts from a sensible NLL.
        """
        m, n = X.shape
        scale = 0.01
        W = rng.normal(0.0, scale, size=(n_hidden, n))
        V = rng.normal(0.0, scale, size=(n, n_hidden))
        b = np.zeros(n_hidden)
        p = (column_sums(X)[order] + 1.0) / (m + 2.0)
        c = np.log(p) - np.log1p(-p)
        return W.astype(dtype), b.astype(dtype), V.astype(dtype), c.astype(dtype)

    def _resolve_ordering(self, n, rng):
        if self.ordering is None:
            return np.arange(n, dtype=np.intp)
        if isinstance(self.ordering, str):
            if self.ordering == "random":
                return rng.permutation(n).astype(np.intp)
            raise ValueError(f"ordering must be None, 'random' or a permutation, got {self.ordering!r}")
        return check_ordering(self.ordering, n)

    def fit(self, X, X_valid=None, *, epochs=50, batch_size=100, optimizer="adam",
            learning_rate=1e-3, lr_schedule="constant", momentum=0.0, weight_decay=0.0,
            patience=10, verbose=False,
            checkpoint=None, checkpoint_every=1, resume=False):
        """Maximum-likelihood training by mini-batch gradient descent.

        X : (n_samples, n_features) of 0/1, n_samples >= 1.
        X_valid : optional validation rows. When given, the parameters of the
            epoch with the lowest validation NLL are kept, and training stops
            after `patience` epochs without improvement (patience=None: never
            early).
        epochs : passes over X in all (a resumed fit counts the epochs it
            already ran).   batch_size : rows per step.
        optimizer : "adam" or "sgd".      learning_rate : step size.
        momentum : SGD's heavy-ball coefficient in [0, 1) (v = momentum v + g,
            p -= rate v; the papers' order-agnostic NADE used 0.9); only
            with optimizer="sgd".
        weight_decay : >= 0; each step first shrinks the weight matrices
            (not the biases) by the factor (1 - rate * weight_decay), rate
            the step's learning rate: decoupled weight decay, i.e. AdamW
            with Adam, an L2 penalty weight_decay/2 |w|^2 with SGD without
            momentum.
        lr_schedule : "constant", or "linear": the step size falls in
            proportion to the rows seen, from learning_rate at the start to
            zero at the end of `epochs` (the noise of the last steps shrinks
            with it; pair it with patience=None or a large patience).
        verbose : 0/False silent; 1/True one line per epoch (train/valid
            NLL, seconds); 2 also a progress bar within each epoch (stderr).
        checkpoint : path of a checkpoint file, written atomically every
            `checkpoint_every` epochs and when training ends.
        resume : continue from `checkpoint` if that file exists (it must come
            from a fit with the same data and settings); the continued fit is
            bit-identical to one that was never interrupted.

        Without `resume`, fitting starts from scratch. Training that diverges
        raises FloatingPointError and Ctrl-C raises KeyboardInterrupt; either
        way the model keeps its best (or last finite) parameters so far.
        Returns self.
        """
        n_hidden = check_int(self.n_hidden, "n_hidden", minimum=1)
        dtype = check_dtype(self.dtype)
        order_agnostic = check_bool(self.order_agnostic, "order_agnostic")
        n_layers = check_int(self.n_layers, "n_layers", minimum=1)
        if n_layers > 1 and not order_agnostic:
            raise ValueError(f"n_layers={n_layers} needs order_agnostic=True: a fixed-order NADE "
                             f"has one hidden layer")
        epochs = check_int(epochs, "epochs", minimum=0)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        learning_rate = check_real(learning_rate, "learning_rate", minimum=0, strict_minimum=True)
        if patience is not None:
            patience = check_int(patience, "patience", minimum=1)
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", minimum=1)
        if not isinstance(lr_schedule, str) or lr_schedule not in LR_SCHEDULES:
            raise (TypeError if not isinstance(lr_schedule, str) else ValueError)(
                f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
            raise (TypeError if not isinstance(optimizer, str) else ValueError)(
                f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        momentum = check_real(momentum, "momentum", minimum=0, maximum=1)
        weight_decay = check_real(weight_decay, "weight_decay", minimum=0)
        if weight_decay * learning_rate >= 1:
            raise ValueError(f"weight_decay * learning_rate must be below 1, got {weight_decay!r} * "
                             f"{learning_rate!r} (a step would flip or zero the weights)")
        if momentum >= 1:
            raise ValueError(f"momentum must be below 1, got {momentum!r} (the steps would not decay)")
        if momentum and optimizer.lower() != "sgd":
            raise ValueError(f"momentum={momentum!r} applies to optimizer='sgd' only; Adam keeps its "
                             f"own moment estimates")
        n_threads = effective_n_threads(self.n_jobs)
        if order_agnostic:  # its training is BLAS products, on BLAS's own threads
            n_threads = orderless.TRAINING_KERNEL_THREADS
        X = _training_matrix(X)
        n = X.shape[1]
        if X_valid is not None:
            if is_out_of_core(X_valid):
                X_valid = np.asarray(X_valid.compute() if is_dask_array(X_valid) else X_valid)
            X_valid = as_binary_matrix(X_valid, n, name="X_valid", allow_empty=False)
        # parameters, gradients, optimizer moments, best and epoch-start copies
        weights = (3 * n + (n_layers - 1) * n_hidden) * _padded(n_hidden, dtype)
        check_memory(6 * weights * dtype.itemsize, f"fit with n_hidden={n_hidden}")

        settings = {
            "n_hidden": n_hidden, "dtype": dtype.name, "optimizer": optimizer.lower(),
            "momentum": momentum, "weight_decay": weight_decay, "learning_rate": learning_rate,
            "lr_schedule": lr_schedule,
            # a linear schedule is laid out over the whole fit: its length is part of it
            "schedule_epochs": epochs if lr_schedule == "linear" else None,
            "batch_size": batch_size, "n_features": n,
            "n_rows": X.shape[0], "n_valid_rows": None if X_valid is None else X_valid.shape[0],
            "data_digest": data_digest(X), "valid_digest": data_digest(X_valid),
            "order_agnostic": order_agnostic, "n_layers": n_layers,
        }
        resuming = bool(resume) and checkpoint is not None and os.path.exists(checkpoint)
        if resuming:
            order, params, progress, arrays = load_checkpoint(checkpoint, settings)
            order = check_ordering(order, n)
            if self.ordering is not None and not isinstance(self.ordering, str):
                if not np.array_equal(check_ordering(self.ordering, n), order):
                    raise ValueError(f"cannot resume from {checkpoint!r}: it was made with another ordering")
            if order_agnostic:
                shapes = orderless.init_params(X[:1], n_hidden, n_layers, dtype,
                                               np.random.default_rng(0))
                self._set_fitted_oa(shapes, n_hidden, order)
            else:
                self._set_fitted(np.zeros((n_hidden, n), dtype), np.zeros(n_hidden, dtype),
                                 np.zeros((n, n_hidden), dtype), np.zeros(n, dtype), order)
            self._restore(params)
            rng = None  # replaced by the checkpoint's generator
        elif check_bool(self.warm_start, "warm_start") and self.__sklearn_is_fitted__():
            self._check_warm_start(n, n_hidden, dtype, order_agnostic, n_layers)
            rng = make_rng(self.random_state)  # parameters and ordering stay as they are
        else:
            rng = make_rng(self.random_state)
            order = self._resolve_ordering(n, rng)
            if order_agnostic:
                self._set_fitted_oa(orderless.init_params(X, n_hidden, n_layers, dtype, rng),
                                    n_hidden, order)
            else:
                self._set_fitted(*self._initial_params(X, n_hidden, dtype, order, rng), order)
        trainer = Trainer(self, X, X_valid, settings, rng, patience=patience, n_threads=n_threads,
                          verbose=verbose)
        if resuming:
            trainer.load_progress(progress, arrays)
        else:
            trainer._publish()
        trainer.run(epochs, checkpoint, checkpoint_every)
        return self

    def _check_warm_start(self, n, n_hidden, dtype, order_agnostic, n_layers):
        """warm_start needs the fitted model to have the shape this fit asks for."""
        fitted = {"n_features": self.n_features_in_, "n_hidden": self._d,
                  "dtype": self._params_padded()["V"].dtype.name, "order_agnostic": self._is_oa,
                  "n_layers": self._oa["Wdeep"].shape[0] + 1 if self._is_oa else 1}
        wanted = {"n_features": n, "n_hidden": n_hidden, "dtype": dtype.name,
                  "order_agnostic": order_agnostic, "n_layers": n_layers}
        for key, value in wanted.items():
            if fitted[key] != value:
                raise ValueError(f"warm_start: the fitted model has {key}={fitted[key]!r}, this fit "
                                 f"asks for {key}={value!r}; set warm_start=False to start afresh")

    def _restore(self, saved):
        for k, v in self._params_padded().items():
            if saved[k].shape != v.shape:
                raise ValueError(f"saved parameter {k} has shape {saved[k].shape}, expected {v.shape}")
            v[...] = saved[k]

    # ------------------------------------------------------------ persistence

    def save(self, path):
        """Write the fitted model to `path` (.npz, no pickle; see nadefast.io), atomically."""
        self._check_fitted()
        names = ("W_", "b_", "V_", "c_") + (("M_", "W_hidden_", "b_hidden_") if self._is_oa else ())
        _io.save_model(path, {name[:-1]: getattr(self, name) for name in names}, self.ordering_)

    @classmethod
    def load(cls, path):
        """Read a model written by `save`; parameters round-trip bit for bit."""
        params, ordering = _io.load_model(path)
        W = params["W"]
        d, n = W.shape
        model = cls(n_hidden=d, dtype=W.dtype.name)
        if not np.array_equal(ordering, np.arange(n)):
            model.ordering = ordering.copy()
        if "M" in params:
            model.order_agnostic = True
            model.n_layers = params["W_hidden"].shape[0] + 1
        model._set_from_public(params, ordering)
        return model

    def _set_from_public(self, params, ordering):
        """Fitted state from parameters in the public layout (as load and unpickling give)."""
        W = params["W"]
        d, n = W.shape
        if "M" in params:
            layers = params["W_hidden"].shape[0] + 1
            shapes = orderless.init_params(np.zeros((1, n), np.uint8), d, layers, W.dtype,
                                           np.random.default_rng(0))
            self._set_fitted_oa(shapes, d, ordering)
            for name in ("W", "M", "b", "W_hidden", "b_hidden", "V", "c"):
                self._view(name + "_")[...] = params[name]
        else:
            self._set_fitted(W, params["b"], params["V"], params["c"], ordering)
