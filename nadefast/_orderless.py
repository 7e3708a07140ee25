"""OrderAgnosticNADE: one deep network for every ordering (Uria, Murray & Larochelle 2014;
docs/order_agnostic.md)."""

import numpy as np

from nadefast._base import BaseNADE, parameter_attribute
from nadefast._missing import available_entries, masks_among
from nadefast._random import make_rng, philox_key
from nadefast._table import is_dataframe
from nadefast._validation import check_dtype, check_int, check_ordering


class OrderAgnosticNADE(BaseNADE):
    """Order-agnostic, deep NADE for binary vectors: any ordering, any observed set.

    One network serves every ordering.  Its first hidden layer sees the
    values of the observed variables and the mask of which are observed,

        h_1 = relu(W (x * m) + M m + b),   h_l = relu(W_l h_{l-1} + b_l),
        p(x_j = 1 | x_observed) = sigmoid(V[j] . h_top + c_j),

    and training averages over orderings (docs/order_agnostic.md §3).  Exact
    log-likelihoods follow one ordering (`ordering_`, or another through
    `with_ordering`); score_samples(X, n_orderings=K) averages K orderings,
    itself a normalised density.  log_marginal, conditional_sample and
    impute accept any set of observed variables: each row follows the
    ordering that lists its observed variables first (in the model's order).

    Parameters
    ----------
    n_hidden : int, default 500
        Units per hidden layer.
    n_layers : int, default 2
        Hidden layers (ReLU); two gave the best likelihoods (results/README.md).
    output, n_categories, n_components : as for NADE ("bernoulli", "categorical"
        or "gaussian_mixture"), and per-column outputs: a list of those names,
        one per column, or "auto" with a pandas DataFrame (docs/mixed.md).
    ordering : None, "random" or array-like of shape (n_features,)
        The ordering score_samples, conditionals, sample and the rest follow,
        and that ensembles start from.  None: the features' own order (a
        poor one for images: the raster scan); "random": drawn from
        `random_state` at fit time.
    dtype : "float32" or "float64", default "float32"
    random_state : None, int, numpy Generator or RandomState
        Seeds initialisation, the ordering, the shuffling and the training
        masks in `fit`, and is the default for sample and the ensembles'
        extra orderings.
    n_jobs : None or int
        Threads of the compiled core's inference kernels (None: OpenMP's
        default).  Results do not depend on it.  Training is matrix products
        on NumPy's BLAS, whose threads BLAS sets (OPENBLAS_NUM_THREADS,
        threadpoolctl), and a fit's bits depend on that thread count; the
        compiled steps between the products run on one thread.
    warm_start : bool, default False
        When fit is called on a fitted model, start from its parameters and
        ordering (see NADE).  The fitted model must match n_hidden, n_layers,
        dtype and the number of features.
    backend, device : as for NADE ("compiled", "numpy" or "torch"; "cpu", "cuda", "cuda:N"
        or "auto")

    Attributes
    ----------
    W_ : ndarray (n_hidden, n_features)   first-layer input weights, column j for feature j
    M_ : ndarray (n_hidden, n_features)   first-layer mask weights, column j for feature j
    b_ : ndarray (n_hidden,)              first-layer bias
    W_hidden_ : ndarray (n_layers-1, n_hidden, n_hidden)   deeper layers' weights
    b_hidden_ : ndarray (n_layers-1, n_hidden)             deeper layers' biases
    V_ : ndarray (n_features, n_hidden)   output weights, row j for feature j
    c_ : ndarray (n_features,)            output biases, c_[j] for feature j
        (categorical: W_ (n_hidden, sum K - 1), V_ (sum K, n_hidden), c_ (sum K),
        blocks by feature; n_categories_ (n_features,) the K_j)
    ordering_, n_features_in_, history_, best_epoch_ : as for NADE; history_'s
        valid_nll is the training objective on the validation rows, with
        masks fixed for the whole fit (an exact NLL costs n forward passes).
    """

    _decayed = ("W", "M", "W_hidden", "V")
    _fits_missing = True  # the objective over each row's observed entries (_missing.py)
    _exact_cells = True  # every cell's conditional given any observed set: one pass

    # rows per pass of _masked_outputs: bounds its memory at a few (rows, n_hidden) arrays
    CHUNK_ROWS = 4096

    def __init__(self, n_hidden=500, *, n_layers=2, output="bernoulli", column_types=None,
                 n_categories=None, n_components=10, ordering=None, dtype="float32",
                 random_state=None, n_jobs=None, warm_start=False, backend="compiled",
                 device="cpu"):
        super().__init__(n_hidden, output=output, column_types=column_types,
                         n_categories=n_categories,
                         n_components=n_components, ordering=ordering, dtype=dtype,
                         random_state=random_state, n_jobs=n_jobs, warm_start=warm_start,
                         backend=backend, device=device)
        self.n_layers = n_layers

    W_ = parameter_attribute("W", "(n_hidden, n_in) input weights, by feature")
    M_ = parameter_attribute("M", "(n_hidden, n_features) mask weights, column j: feature j")
    b_ = parameter_attribute("b", "(n_hidden,) first-layer bias")
    W_hidden_ = parameter_attribute("W_hidden", "(n_layers-1, n_hidden, n_hidden) deeper layers")
    b_hidden_ = parameter_attribute("b_hidden", "(n_layers-1, n_hidden) deeper biases")
    V_ = parameter_attribute("V", "(n_out, n_hidden) output weights, by feature")
    c_ = parameter_attribute("c", "(n_out,) output biases, by feature")

    def score_samples(self, X, n_orderings=1, *, random_state=None):
        """Exact log-likelihood log p(x) of each row, in nats: (n_samples,) float64.

        n_orderings = 1: along ordering_.  n_orderings = K > 1: the log of
        the mean probability over ordering_ and K - 1 orderings drawn from
        random_state (default: the estimator's) -- an ensemble, itself a
        normalised density (docs/order_agnostic.md §5).
        """
        X = self._check_X(X)
        n_orderings = check_int(n_orderings, "n_orderings", minimum=1)
        if n_orderings == 1:
            return self._in_user_units(self._score(X))
        rng = make_rng(self.random_state if random_state is None else random_state)
        orders = np.empty((n_orderings, self.n_features_in_), dtype=np.intp)
        orders[0] = self.ordering_
        for i in range(1, n_orderings):
            orders[i] = rng.permutation(self.n_features_in_)
        if getattr(self._fitted_kernels(), "batches_orderings", False):
            per_ordering = self._score_orderings_at_once(X, orders)
        else:  # one sweep per ordering, all rows sharing it
            per_ordering = np.array([self._score(X, orders=order[None]) for order in orders])
        top = per_ordering.max(axis=0)
        return self._in_user_units(top + np.log(np.mean(np.exp(per_ordering - top), axis=0)))

    # rows x orderings per sweep of _score_orderings_at_once (bounds the per-row orderings'
    # index array at 8 * n bytes a row)
    ENSEMBLE_CHUNK_ROWS = 65536

    def _score_orderings_at_once(self, X, orders):
        """log p(x) along each of orders (K, n), (K, rows): every (ordering, row) pair a row
        of one sweep with per-row orderings, so each position is one matrix product over
        rows and orderings together (kernels with batches_orderings: the torch backend,
        where a sweep is a launch per position)."""
        K, rows = orders.shape[0], X.shape[0]
        out = np.empty((K, rows))
        step = max(1, self.ENSEMBLE_CHUNK_ROWS // K)
        for start in range(0, rows, step):
            part = X[start:start + step]
            tiled = np.concatenate([part] * K)
            per_row = np.ascontiguousarray(np.repeat(orders, len(part), axis=0))
            out[:, start:start + len(part)] = self._score(tiled, orders=per_row).reshape(
                K, len(part))
        return out

    def with_ordering(self, ordering, *, random_state=None):
        """A copy of this model that follows another ordering.

        ordering: a permutation of range(n_features), or "random", drawn from
        random_state (default: the estimator's).  The copy's `ordering`
        parameter is that permutation; the parameters are copied, the
        original is unchanged.
        """
        self._check_fitted()
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

    def category_probabilities(self, X, observed=None):
        """p(x_j = v | x_observed) of every discrete column j, exact: the network's output
        for column j with the row's observed entries as its inputs (the ordering that
        lists them first, then j).  Observed cells give their own value probability 1.

        Returns {column: (n_samples, K_j) float64} for the bernoulli (K = 2) and
        categorical columns, keyed by column index -- or, for a model fitted on a
        DataFrame, by column name, each a DataFrame whose columns are the labels.
        """
        index = X.index if self._schema() is not None and is_dataframe(X) else None
        X, _, _, (user, observed) = self._observed(X, observed)
        types = getattr(self, "column_types_", [self._output.name] * self.n_features_in_)
        discrete = [j for j, t in enumerate(types) if t in ("bernoulli", "categorical")]
        out = {j: [] for j in discrete}
        for rows, Z, block in self._masked_outputs(X, observed):
            for j in discrete:
                out[j].append(self._output.distribution(j, Z[:, block[j]:block[j + 1]]))
        width = self._output.out_widths(self.n_features_in_)
        for j in discrete:
            p = np.concatenate(out[j]) if out[j] else np.empty((0, width[j]))
            if types[j] == "bernoulli":
                p = np.column_stack([1.0 - p[:, 0], p[:, 0]])
            seen = observed[:, j]
            p[seen] = 0.0
            p[seen, X[seen, j].astype(np.intp)] = 1.0
            out[j] = p
        if index is None:
            return out
        import pandas as pd

        schema = self._schema()
        return {schema.names[j]: pd.DataFrame(p, index=index, columns=pd.Index(
            schema.labels[j][:p.shape[1]], dtype=object)) for j, p in out.items()}

    def _masked_outputs(self, X, observed, rows=None):
        """The output units given each row's observed entries, CHUNK_ROWS rows at a time:
        yields (the rows' indices, Z (len, n_out) float64, the feature blocks' offsets).
        X as the model computes with it; rows: which rows (default: all)."""
        rows = np.arange(X.shape[0]) if rows is None else rows
        block = np.concatenate([[0], np.cumsum(self._output.out_widths(self.n_features_in_))])
        kernels = self._fitted_kernels()
        for start in range(0, len(rows), self.CHUNK_ROWS):
            r = rows[start:start + self.CHUNK_ROWS]
            yield r, kernels.outputs(X[r], np.ascontiguousarray(observed[r])), block

    def _conditional_points(self, X, observed, method):
        """impute's exact "mean" / "median": each unobserved cell from its own conditional
        given the row's observed cells (the ordering that lists them, then the cell), in
        the user's units, (rows, n) float64 (observed cells: 0)."""
        out = np.zeros(X.shape)
        missing_rows = np.flatnonzero(~observed.all(axis=1))
        for rows, Z, block in self._masked_outputs(X, observed, missing_rows):
            for j in range(self.n_features_in_):
                cells = ~observed[rows, j]
                if cells.any():
                    out[rows[cells], j] = self._output.point(
                        j, Z[cells, block[j]:block[j + 1]], method)
        return self._output.to_user(out) if self._output.real_valued else out

    # ------------------------------------------------------------------ hooks

    @staticmethod
    def _parameter_shapes(n, structure, output):
        d, hidden = structure["n_hidden"], structure["n_layers"] - 1
        n_in, n_out = int(output.in_widths(n).sum()), int(output.out_widths(n).sum())
        return {"W": (d, n_in), "M": (d, n), "b": (d,), "W_hidden": (hidden, d, d),
                "b_hidden": (hidden, d), "V": (n_out, d), "c": (n_out,)}

    @staticmethod
    def _make_kernels(backend, params, output):
        return backend.orderless(params, output)

    def _structure(self):
        return {"model": "OrderAgnosticNADE",
                "n_hidden": check_int(self.n_hidden, "n_hidden", minimum=1),
                "n_layers": check_int(self.n_layers, "n_layers", minimum=1),
                "dtype": check_dtype(self.dtype).name, "output": self.output}

    def _fitted_structure(self):
        p = self._fitted_kernels().public()
        return {"n_features": self.n_features_in_, "n_hidden": p["W"].shape[0],
                "dtype": p["W"].dtype.name, "n_layers": p["W_hidden"].shape[0] + 1}

    @classmethod
    def _from_file(cls, params, ordering):
        d, n = params["W"].shape[0], ordering.shape[0]
        identity = np.array_equal(ordering, np.arange(n))
        return cls(n_hidden=d, n_layers=params["W_hidden"].shape[0] + 1,
                   dtype=params["W"].dtype.name, ordering=None if identity else ordering.copy())

    def _orders(self, orders):
        return self.ordering_[None] if orders is None else orders

    def _score(self, X, *, orders=None, stop=None, cond=None, terms=None):
        return self._fitted_kernels().score(X, self._orders(orders), self._threads(), stop=stop,
                                            cond=cond, terms=terms)

    def _draw(self, X, key, *, orders=None, given=None, greedy=False, row0=0):
        self._fitted_kernels().sample(X, self._orders(orders), key, row0, given, greedy,
                                      self._threads())

    def _observed_first(self, observed):
        """Per-row orderings that list each row's observed features first, in the
        model's order within both groups: (orders, counts).  orders is (rows, n),
        or (1, n) when every row has the same mask (the kernels then share it)."""
        chain = observed[:, self.ordering_]
        counts = chain.sum(axis=1).astype(np.intp)
        if (chain == chain[:1]).all():
            chain = chain[:1]
        # a stable sort of "not observed" puts observed features first, keeping the model's order
        position = np.argsort(~chain, axis=1, kind="stable")
        return np.ascontiguousarray(self.ordering_[position], dtype=np.intp), counts

    def _log_marginal(self, X, orders, given):
        return self._score(X, orders=orders, stop=given)

    def _initial_parameters(self, X, order, structure, output, rng):
        """He-initialised ReLU layers; output biases at the data's marginal log-probabilities."""
        n, d, dtype = X.shape[1], structure["n_hidden"], structure["dtype"]
        n_in, n_out = int(output.in_widths(n).sum()), int(output.out_widths(n).sum())
        # the first layer's inputs are x*m and m (2n values, about n/2 of them non-zero; a
        # category adds one column of its variable's block)
        W = rng.normal(0.0, np.sqrt(2.0 / n), size=(n_in, d)).T
        M = rng.normal(0.0, np.sqrt(2.0 / n), size=(n, d)).T
        W_hidden = np.array([rng.normal(0.0, np.sqrt(2.0 / d), size=(d, d))
                             for _ in range(structure["n_layers"] - 1)]).reshape(-1, d, d)
        V = rng.normal(0.0, np.sqrt(1.0 / d), size=(n_out, d))
        c = output.initial_biases(X)  # by feature
        params = {"W": W, "M": M, "b": np.zeros(d), "W_hidden": W_hidden,
                  "b_hidden": np.zeros((structure["n_layers"] - 1, d)), "V": V, "c": c}
        return {k: v.astype(dtype) for k, v in params.items()}

    def _optimizer_threads(self, n_threads):
        # training is BLAS products on BLAS's threads; OpenMP threads spinning between them
        # would take BLAS's cores (nadefast/backends/_compiled.py, TRAINING_KERNEL_THREADS)
        return 1

    def _objective(self, n_threads):
        return _OrderlessObjective(self._fitted_kernels(), self._backend(), self.ordering_)


class _OrderlessObjective:
    """What the Trainer sees of an order-agnostic fit: the rescaled objective with
    masks drawn per batch, and on validation rows with masks fixed for the fit."""

    draws = True  # loss_and_gradient draws the masks from its rng

    # the validation masks' key: the same masks for the same rows in every epoch and every fit
    VALIDATION_KEY = philox_key(np.random.default_rng(0))

    def __init__(self, kernels, backend, ordering):
        self.kernels, self.backend, self.ordering = kernels, backend, ordering
        self.arrays, self.public = kernels.arrays, kernels.public

    def loss_and_gradient(self, X, grads, rng):
        available = available_entries(X)
        if available is not None:  # rows with missing entries (NaN): nadefast/_missing.py
            return self._with_missing(X, available, rng, grads)
        masks = self.backend.training_masks(philox_key(rng), *X.shape)
        return self.kernels.objective(X, masks, grads)

    def validation_loss(self, X):
        available = available_entries(X)
        if available is not None:
            rng = np.random.Generator(np.random.Philox(key=self.VALIDATION_KEY))
            return self._with_missing(X, available, rng, None)
        return self.kernels.objective(X, self.backend.training_masks(self.VALIDATION_KEY, *X.shape))

    def _with_missing(self, X, available, rng, grads):
        """The objective over each row's observed entries, masks drawn among them."""
        if not hasattr(self.kernels, "objective") or self.kernels.backend != "numpy":
            raise ValueError("rows with missing values train on backend='numpy' only")
        masks = masks_among(available, rng)
        return self.kernels.objective(np.where(available, X, 0.0), masks, grads,
                                      available=available)
