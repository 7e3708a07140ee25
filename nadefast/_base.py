"""The base of every NADE estimator: protocol, persistence, inference and fit, written once.

`BaseNADE` carries the scikit-learn protocol (parameters, tags, clone,
pickle: nadefast._estimator), the model file, the inference API (score_samples, sample,
conditionals, prefix_log_marginals, log_marginal, conditional_sample,
impute, loss_and_gradient) and the fit loop's setup.  Each model subclasses
it and fills a few hooks (the scikit-learn BaseMixture -> GaussianMixture
pattern):

    _parameter_shapes(n, structure, output)  public parameter names and shapes
    _make_kernels(backend, params, output)   the backend's kernel object for the model
    _score(X, *, orders, stop, cond, terms) / _draw(X, key, *, orders, given, greedy, row0)
                                     run the kernels along the model's ordering
                                     (orders: per-row orderings, order-agnostic only)
    _observed_first(observed)        per-row orderings that condition on `observed`
    _log_marginal(X, orders, given)  log p of the first given[r] variables of each row
    _initial_parameters(X, ordering, structure, rng)
                                     a fresh model's parameters (public layout)
    _objective(n_threads)            what the Trainer sees of a fit (see _training.py)
    _structure(), _fitted_structure() what a checkpoint or warm start must match
    _from_file(params, ordering)     an instance for a model file's contents

Parameters live in a backend's kernel object (``self._kernels``); the
public attributes (W_, b_, ...) are views of its arrays.  What a value is --
binary, a category code -- is the fitted output distribution's business
(``self._output``, nadefast/_outputs.py): its widths set the parameters'
shapes, it checks data, and the backends pick their kernels by it.
"""

import math
import numbers
import os

import numpy as np

from nadefast import io as _io
from nadefast._checkpoint import load_checkpoint
from nadefast._estimator import EstimatorProtocol
from nadefast._outputs import make_output
from nadefast._parallel import effective_n_threads
from nadefast._random import make_rng, philox_key
from nadefast._streaming import data_digest, is_out_of_core, training_matrix, validation_matrix
from nadefast._table import TableSchema, is_dataframe
from nadefast._atomic import check_writable
from nadefast._training import FIT_DEFAULTS, Trainer, auto_batch_size, check_fit_arguments
from nadefast._validation import (
    NotFittedError,
    assign_checked,
    check_bool,
    check_int,
    check_memory,
    check_observed,
    check_ordering,
)
from nadefast.backends import get_backend
from nadefast.optim import make_optimizer


def parameter_attribute(name, doc):
    """A fitted parameter in the public layout: a view of the kernels' array;
    assigning an array checks it and copies it in."""

    def get(self):
        public = self._fitted_kernels().public()
        if name not in public:
            raise AttributeError(f"{type(self).__name__} with output={self._output.name!r} has "
                                 f"no {name}_")
        return public[name]

    def set_(self, value):
        kernels = self._fitted_kernels()
        view = kernels.public()[name]
        assign_checked(name + "_", view, value)
        if not kernels.shares_public:  # a host copy (GPU): copy it back in
            kernels.set_public(None, {name: view})

    return property(get, set_, doc=doc)


class BaseNADE(EstimatorProtocol):
    """Base class of the NADE estimators (not used directly); see NADE, OrderAgnosticNADE."""

    _decayed = ()  # the weight matrices weight decay shrinks (not the biases)
    _models = {}  # model file kind -> class, filled by subclasses

    _fits_missing = False  # whether fit takes rows with missing entries (order-agnostic only)
    # whether each cell's own conditional given any observed set is one pass
    # (_conditional_points; order-agnostic only): impute's exact "mean"/"median"
    _exact_cells = False

    def __init__(self, n_hidden, *, output, column_types, n_categories, n_components, ordering,
                 dtype, random_state, n_jobs, warm_start, backend, device):
        self.n_hidden = n_hidden
        self.output = output
        self.column_types = column_types
        self.n_categories = n_categories
        self.n_components = n_components
        self.ordering = ordering
        self.dtype = dtype
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.backend = backend
        self.device = device

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        BaseNADE._models[cls.__name__] = cls

    # ------------------------------------------------------- fitted parameters

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) or "
                                 f"{self._how_to_get_fitted()} first")

    @classmethod
    def _how_to_get_fitted(cls):
        return f"{cls.__name__}.load(path)"

    def _set_fitted(self, params, ordering, output):
        """Fitted state from parameters in the public layout (copied), an ordering and the
        fitted output distribution."""
        self._kernels = self._make_kernels(self._backend(), params, output)
        self._output = output
        self.ordering_ = np.ascontiguousarray(ordering, dtype=np.intp)
        self.n_features_in_ = self.ordering_.shape[0]
        for name, value in output.fitted_attributes().items():
            setattr(self, name, value)

    def _backend(self):
        """The backend object the `backend` and `device` parameters name (nadefast.backends)."""
        return get_backend(self.backend, self.device)

    def _fitted_kernels(self):
        """The kernel object, moved to the backend and device the parameters name."""
        self._check_fitted()
        backend = self._backend()
        if self._kernels.owner is not backend:
            self._kernels = self._make_kernels(backend, self._kernels.public(), self._output)
        return self._kernels

    def _threads(self):
        return effective_n_threads(self.n_jobs)

    def _check_X(self, X, *, allow_empty=True, **check):
        self._check_fitted()
        output = self._output
        X, _ = self._as_matrix(X, unseen="error")
        return output.prepare(output.check_X(X, self.n_features_in_, allow_empty=allow_empty,
                                             **check))

    def _schema(self):
        """The fitted table schema (nadefast/_table.py), or None: not fitted on a DataFrame."""
        return getattr(self.__dict__.get("_output"), "schema", None)  # (None when unfitted)

    def _as_matrix(self, X, *, unseen):
        """(the model's matrix, the frame's index) for a DataFrame of a model fitted on
        one (labels -> codes, missing -> NaN; `unseen` labels: "missing" or "error");
        (X, None) for anything else."""
        schema = self._schema()
        if schema is None or not is_dataframe(X):
            return X, None
        return schema.to_matrix(X, unseen=unseen), X.index

    # ------------------------------------------------------------- inference

    def score_samples(self, X):
        """Exact log-likelihood log p(x) of each row, in nats: (n_samples,) float64.

        X: (n_samples, n_features) of 0/1, category codes, or real numbers, as
        the model's output is.  Real-valued models give the log-density in the
        user's units: the standardisation's Jacobian is included.
        """
        return self._in_user_units(self._score(self._check_X(X)))

    def _in_user_units(self, loglik, observed=None):
        """Log-densities of standardised data -> the user's units (discrete data: as they
        are): add log |d standardised / d x| of every (observed) feature."""
        jacobian = self._output.log_jacobian()
        if jacobian is None:
            return loglik
        return loglik + (jacobian.sum() if observed is None else observed @ jacobian)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X, in nats (higher is better)."""
        self._check_fitted()
        X, _ = self._as_matrix(X, unseen="error")
        X = self._output.check_X(X, self.n_features_in_, allow_empty=False)
        return float(np.mean(self.score_samples(X)))

    def conditionals(self, X):
        """The distribution of every variable given the variables before it in the ordering.

        Bernoulli: P(x_i = 1 | .), (n_samples, n_features).  Categorical: the K_i
        probabilities of each variable, (n_samples, sum of n_categories_), a block
        of K_i columns per feature.  Gaussian mixture: per feature a block of 3C
        columns, the C weights, the C means and the C standard deviations, in the
        user's units.  Feature order, the model's dtype.
        """
        X = self._check_X(X)
        dtype = self._fitted_kernels().dtype
        width = int(self._output.out_widths(self.n_features_in_).sum())
        check_memory(float(X.shape[0]) * width * dtype.itemsize, "conditionals")
        cond = np.empty((X.shape[0], width), dtype=dtype)
        self._score(X, cond=cond)
        return cond

    def sample(self, n_samples=1, *, random_state=None):
        """Draw n_samples vectors from the model: (n_samples, n_features) uint8
        (categorical: int32 codes; real-valued and mixed: float64; a model fitted on a
        pandas DataFrame: a DataFrame with its columns, dtypes and labels).

        Row i depends only on the key derived from random_state (default:
        the estimator's random_state) and on i: the same key gives the same
        rows for any n_jobs, and the first m rows of a request equal a
        request for m rows (docs/sampling.md).
        """
        self._check_fitted()
        n_samples = check_int(n_samples, "n_samples", minimum=0)
        key = philox_key(self.random_state if random_state is None else random_state)
        X = self.sample_rows(key, 0, n_samples)
        schema = self._schema()
        return X if schema is None else schema.to_frame(X)

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
        X = np.empty((n_samples, self.n_features_in_), dtype=self._output.sample_dtype)
        self._draw(X, key, row0=start)
        return self._output.to_user(X)

    def prefix_log_marginals(self, X):
        """log p(x_o[0], ..., x_o[k-1]) for k = 0 .. n_features, in one pass.

        Returns (n_samples, n_features + 1) float64: column 0 is 0 (the empty
        prefix), column k the log-probability of the first k variables of the
        ordering, the last column log p(x) (equal to score_samples up to
        rounding).
        """
        X = self._check_X(X)
        terms = np.empty(X.shape, dtype=np.float64)
        self._score(X, terms=terms)
        jacobian = self._output.log_jacobian()
        if jacobian is not None:  # (in chain order)
            terms += jacobian[self.ordering_]
        out = np.zeros((X.shape[0], self.n_features_in_ + 1), dtype=np.float64)
        np.cumsum(terms, axis=1, out=out[:, 1:])
        return out

    def column_log_likelihoods(self, X):
        """Each column's contribution to log p(x): log p(x_j | the columns before j in the
        ordering), nats, (n_samples, n_features) float64 in feature order (real columns in
        the user's units, their Jacobian included); each row sums to score_samples.  A
        model fitted on a DataFrame gives a DataFrame with its column names."""
        index = X.index if self._schema() is not None and is_dataframe(X) else None
        X = self._check_X(X)
        terms = np.empty(X.shape, dtype=np.float64)
        self._score(X, terms=terms)
        jacobian = self._output.log_jacobian()
        if jacobian is not None:
            terms += jacobian[self.ordering_]
        out = np.empty_like(terms)
        out[:, self.ordering_] = terms
        if index is None:
            return out
        import pandas as pd

        return pd.DataFrame(out, index=index, columns=self._schema().names)

    # ------------------------------------------------- conditional inference

    def _observed(self, X, observed):
        """Checked (X, observed) -> X as the model computes with it (unobserved entries 0),
        the per-row orderings to follow (None: the model's own), per row the number of
        observed variables, which those orderings put first, and (the user's X, observed)."""
        self._check_fitted()
        X, _ = self._as_matrix(X, unseen="missing")
        user, observed = check_observed(X, observed, self.n_features_in_)
        X = self._output.prepare(self._output.check_X(user, self.n_features_in_))
        orders, given = self._observed_first(observed)
        return X, orders, given, (user, observed)

    def log_marginal(self, X, observed=None):
        """log p(x_observed) of each row, nats: (n_samples,) float64.

        Exact, in one pass, for the ordering that puts each row's observed
        variables first.  observed: bool array shaped like X (or
        (n_features,) for every row), or None for "the entries of X that are
        not NaN"; unobserved entries of X are ignored.
        """
        X, orders, given, (_, observed) = self._observed(X, observed)
        return self._in_user_units(self._log_marginal(X, orders, given), observed)

    def _complete(self, X, orders, given, n_samples, key, greedy, user):
        """Rows of X completed after their given prefixes, n_samples times each, in the
        user's units with the observed entries exactly as the user gave them."""
        rows, n = X.shape
        check_memory(float(n_samples) * rows * n, f"conditional_sample(n_samples={n_samples})")
        out = np.empty((n_samples, rows, n), dtype=self._output.sample_dtype)
        out[...] = X
        flat = out.reshape(n_samples * rows, n)
        if orders is not None and orders.shape[0] > 1:  # one ordering per row
            orders = np.tile(orders, (n_samples, 1))
        self._draw(flat, key, orders=orders, given=np.tile(given, n_samples), greedy=greedy)
        if self._output.real_valued:  # back to the user's units; observed values unrounded
            out = self._output.to_user(out)
            np.copyto(out, user[0], where=user[1])
        return out

    def conditional_sample(self, X, observed=None, n_samples=1, *, random_state=None):
        """Completions of X drawn from p(x_unobserved | x_observed), observed values kept.

        Returns (n_samples, n_rows, n_features) uint8: out[s] is one completed
        copy of X (multiple imputations; the sample dtype; a DataFrame X of a model
        fitted on one: a list of n_samples DataFrames).  Completion s of row r uses the random stream of row
        s * n_rows + r of the key from random_state (default: the estimator's).
        """
        n_samples = check_int(n_samples, "n_samples", minimum=0)
        index = X.index if self._schema() is not None and is_dataframe(X) else None
        X, orders, given, user = self._observed(X, observed)
        key = philox_key(self.random_state if random_state is None else random_state)
        draws = self._complete(X, orders, given, n_samples, key, greedy=False, user=user)
        if index is None:
            return draws
        return [self._schema().to_frame(d, index) for d in draws]

    def impute(self, X, observed=None, *, method="mode", n_samples=None, random_state=None):
        """Fill in the unobserved entries of X.

        method="mode": sequential most-probable values -- each unobserved
            variable in turn takes its likeliest value (real-valued: the
            highest point of its mixture) given everything before it
            (deterministic; the sample dtype).
        method="mean": E[x_j | x_observed] of each unobserved cell
            ((n_rows, n_features) float64; not for category codes).  Mixed
            tables: the mean in real columns and the most probable value in
            discrete ones; method="median" (real and mixed): the median in real
            columns.  n_samples=None: for an OrderAgnosticNADE, exact and
            deterministic -- each cell's own conditional given the row's
            observed cells is the network's output for it with them as inputs
            (one pass for all cells of a row); for a NADE, 100 draws as below.
            n_samples=m: estimated from m conditional samples (binary data:
            standard error at most 0.5 / sqrt(m) per entry; mixed tables: the
            most frequent draw in discrete columns).
        Observed entries are returned unchanged.  A pandas DataFrame X of a
        model fitted on one gives a DataFrame (columns, dtypes, labels, index).
        """
        self._check_fitted()
        if method not in self._output.impute_methods:
            raise ValueError(f"method must be one of {list(self._output.impute_methods)} for "
                             f"output={self._output.name!r}, got {method!r}")
        index = X.index if self._schema() is not None and is_dataframe(X) else None
        X, orders, given, user = self._observed(X, observed)
        if method == "mode":
            no_key = np.empty(0, dtype=np.uint64)
            filled = self._complete(X, orders, given, 1, no_key, greedy=True, user=user)[0]
        elif n_samples is None and self._exact_cells:
            filled = self._conditional_points(X, user[1], method)
            np.copyto(filled, user[0], where=user[1])
        else:
            n_samples = check_int(100 if n_samples is None else n_samples, "n_samples",
                                  minimum=1)
            key = philox_key(self.random_state if random_state is None else random_state)
            draws = self._complete(X, orders, given, n_samples, key, greedy=False, user=user)
            filled = self._output.summarise(draws, method)
            np.copyto(filled, user[0], where=user[1])  # a mean of copies can round: the user's
        return filled if index is None else self._schema().to_frame(filled, index)

    def loss_and_gradient(self, X, *, random_state=None):
        """Mean training loss of X and its gradient, arrays shaped like the
        parameters (keys: the parameter names without the trailing "_"; model
        dtype; views of fresh buffers).  random_state (default: the
        estimator's) draws what the loss draws (order-agnostic: orderings and
        split points)."""
        self._check_fitted()
        X = self._check_X(X, allow_empty=False, **self._missing_check(self._output))
        objective = self._objective(self._threads())
        grads = self._fitted_kernels().zeros_like()
        rng = None
        if objective.draws:  # a generator from fresh entropy costs microseconds: only if used
            rng = make_rng(self.random_state if random_state is None else random_state)
        loss = objective.loss_and_gradient(X, grads, rng)
        return loss, objective.public(grads)

    # --------------------------------------------------------------- training

    def fit(self, X, X_valid=None, *, epochs=FIT_DEFAULTS["epochs"],
            batch_size=FIT_DEFAULTS["batch_size"], optimizer=FIT_DEFAULTS["optimizer"],
            learning_rate=FIT_DEFAULTS["learning_rate"], lr_schedule=FIT_DEFAULTS["lr_schedule"],
            momentum=FIT_DEFAULTS["momentum"], weight_decay=FIT_DEFAULTS["weight_decay"],
            patience=FIT_DEFAULTS["patience"], verbose=False, checkpoint=None, checkpoint_every=1,
            resume=False):
        """Maximum-likelihood training by mini-batch gradient descent (docs/training.md).

        X : (n_samples, n_features) of 0/1, n_samples >= 1; an array, a NumPy
            memmap or a Dask array (streamed chunk by chunk).
        X_valid : optional validation rows. When given, the parameters of the
            epoch with the lowest validation loss are kept, and training stops
            after `patience` epochs without improvement (by more than 1e-4 of
            the best loss; patience=None: never early).
        epochs : the most passes over X (a resumed fit counts the epochs it
            already ran); the default is a budget for early stopping to end,
            and a ConvergenceWarning says when it ran out first.
        batch_size : rows per step, or "auto": about 40 steps per epoch,
            between 10 and 100 rows (small data sets learn better from more,
            smaller steps).
        optimizer : a name in nadefast.optim.OPTIMIZERS ("adam", "sgd").
        learning_rate : step size.
        momentum : SGD's heavy-ball coefficient in [0, 1) (v = momentum v + g,
            p -= rate v); only with optimizer="sgd".
        weight_decay : >= 0; each step first shrinks the weight matrices
            (not the biases) by the factor (1 - rate * weight_decay), rate
            the step's learning rate: decoupled weight decay, i.e. AdamW
            with Adam, an L2 penalty weight_decay/2 |w|^2 with SGD without
            momentum.
        lr_schedule : "plateau": after 10 epochs without a better validation
            loss, go back to the best epoch's parameters and continue with
            steps 10 times smaller and a fresh optimizer state (without
            validation rows: constant); "constant"; or "linear": the step
            size falls in proportion to the rows seen, from learning_rate at
            the start to zero at the end of `epochs` (pair it with
            patience=None or a large patience).
        verbose : 0/False silent; 1/True one line per epoch (train/valid
            loss, seconds); 2 also a progress bar within each epoch (stderr).
        checkpoint : path of a checkpoint file, written atomically every
            `checkpoint_every` epochs and when training ends.
        resume : continue from `checkpoint` if that file exists (it must come
            from a fit with the same data and settings); the continued fit is
            bit-identical to one that was never interrupted.

        The defaults are nadefast._training.FIT_DEFAULTS, which the command
        line shares.  Without `resume` (or `warm_start`), fitting starts from
        scratch.  Training that diverges raises FloatingPointError saying
        what to try -- a non-finite loss, or no epoch better than the initial
        model -- and Ctrl-C raises KeyboardInterrupt; either way the model
        keeps its best (or last finite) parameters so far.  Returns self.
        """
        structure = self._structure()
        args = check_fit_arguments(epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                                   learning_rate=learning_rate, lr_schedule=lr_schedule,
                                   momentum=momentum, weight_decay=weight_decay,
                                   patience=patience, checkpoint_every=checkpoint_every)
        backend = self._backend()
        n_threads = self._threads()
        warm = check_bool(self.warm_start, "warm_start") and self.__sklearn_is_fitted__()
        X, X_valid, output = self._training_tables(X, X_valid, warm and not resume)
        structure["output"] = output.spec()
        if checkpoint is not None:
            check_writable(checkpoint, "checkpoint")  # now, not after the first epoch
        missing = self._missing_check(output)
        X = training_matrix(X, output, **missing)
        n = X.shape[1]
        resuming = bool(resume) and checkpoint is not None and os.path.exists(checkpoint)
        warm = warm and not resuming
        if warm:  # the fitted model's output (its categories), which X must fit
            self._check_warm_start(structure, n)
            output = self._output
            training_matrix(X, output, **missing)
        else:
            output = output.fitted(X)
        if not is_out_of_core(X):  # (streamed chunks are prepared as they are read)
            X = output.prepare(X)
        structure["output_state"] = {k: v.tolist() for k, v in output.state().items()}
        if args["batch_size"] == "auto":
            args["batch_size"] = auto_batch_size(X.shape[0])
        if X_valid is not None:
            X_valid = output.prepare(validation_matrix(X_valid, n, output, **missing))
        # parameters, gradients, optimizer moments, best and epoch-start copies
        shapes = self._parameter_shapes(n, structure, output)
        check_memory(6 * sum(math.prod(s) for s in shapes.values())
                     * np.dtype(structure["dtype"]).itemsize,
                     f"fit with n_hidden={structure['n_hidden']}")
        settings = {
            **structure, **args, "n_features": n,
            # a linear schedule is laid out over the whole fit: its length is part of it
            "schedule_epochs": args["epochs"] if args["lr_schedule"] == "linear" else None,
            "n_rows": X.shape[0], "n_valid_rows": None if X_valid is None else X_valid.shape[0],
            "data_digest": data_digest(X), "valid_digest": data_digest(X_valid),
        }
        saved = None
        if resuming:
            saved = load_checkpoint(checkpoint, settings)
            order = check_ordering(saved["ordering"], n)
            if self.ordering is not None and not isinstance(self.ordering, str):
                if not np.array_equal(check_ordering(self.ordering, n), order):
                    raise ValueError(f"cannot resume from {checkpoint!r}: it was made with another "
                                     f"ordering")
            self._set_fitted(self._checked_shapes(saved["params"], shapes), order, output)
            rng = None  # replaced by the checkpoint's generator
        else:
            rng = make_rng(self.random_state)
            if not warm:  # (a warm start keeps its parameters and ordering)
                order = self._resolve_ordering(n, rng)
                self._set_fitted(self._initial_parameters(X, order, structure, output, rng),
                                 order, output)
        objective = self._objective(n_threads)
        trainer = Trainer(objective, make_optimizer(
            args["optimizer"], objective.arrays, args["learning_rate"], momentum=args["momentum"],
            weight_decay=args["weight_decay"], decayed=self._decayed, backend=backend,
            n_threads=self._optimizer_threads(n_threads)),
            X, X_valid, settings, rng, output, verbose=verbose)
        if saved is not None:
            trainer.restore(saved)
        try:
            trainer.run(checkpoint)
        finally:
            self.history_ = list(trainer.history)
            self.best_epoch_ = trainer.best_epoch
        return self

    def _output_options(self):
        """What the model adds to make_output's arguments (NADE: its activation)."""
        return {}

    def _optimizer_threads(self, n_threads):
        return n_threads

    def _training_tables(self, X, X_valid, warm):
        """fit's data and the output distribution to fit: a pandas DataFrame becomes the
        model's matrix through a table schema (output="auto": types from its dtypes, or a
        warm start's fitted schema), which the output keeps; arrays pass as they are."""
        output = None
        if is_dataframe(X) and (warm or self.output == "auto" or not isinstance(self.output, str)):
            if warm and self._schema() is not None:
                schema, output = self._schema(), self._output
            else:
                types = None if isinstance(self.output, str) else self.output
                if types is not None and self.column_types is not None:
                    raise ValueError("give the column types once: output=[...] or output='auto' "
                                     "with column_types=..., not both")
                schema = TableSchema.from_frame(X, types if types is not None
                                                else self.column_types)
                n_categories = self.n_categories
                if n_categories is None:  # the labels fix the categories
                    n_categories = schema.n_categories()
                output = make_output(schema.types, n_categories, self.n_components,
                                     **self._output_options())
                output.schema = schema
            X = schema.to_matrix(X, unseen="error")
            if is_dataframe(X_valid):
                X_valid = schema.to_matrix(X_valid, unseen="missing", name="X_valid")
        if output is None:
            output = make_output(self.output, self.n_categories, self.n_components,
                                 self.column_types, **self._output_options())
        return X, X_valid, output

    def _missing_check(self, output):
        """The data checks' missing-value setting for fit: only per-column outputs of a
        model that fits on missing entries take NaN (nadefast/_missing.py)."""
        if not getattr(output, "accepts_missing", False):
            return {}
        if not self._fits_missing:
            return {"missing": False}
        return {"missing": True}

    def _resolve_ordering(self, n, rng):
        if self.ordering is None:
            return np.arange(n, dtype=np.intp)
        if isinstance(self.ordering, str):
            if self.ordering == "random":
                return rng.permutation(n).astype(np.intp)
            raise ValueError(f"ordering must be None, 'random' or a permutation, got {self.ordering!r}")
        return check_ordering(self.ordering, n)

    @staticmethod
    def _checked_shapes(params, shapes):
        """Saved public-layout parameters, checked against the shapes this fit expects."""
        for name, shape in shapes.items():
            if name not in params or params[name].shape != shape:
                got = params[name].shape if name in params else None
                raise ValueError(f"saved parameter {name} has shape {got}, expected {shape}")
        return params

    def _check_warm_start(self, structure, n):
        """warm_start needs the fitted model to have the shape this fit asks for."""
        fitted = {**self._fitted_structure(), "output": self._output.spec()}
        wanted = {**structure, "n_features": n}
        for key in ("n_features", "n_hidden", "dtype", "n_layers", "output", "activation"):
            if key in wanted and fitted[key] != wanted[key]:
                raise ValueError(f"warm_start: the fitted model has {key}={fitted[key]!r}, this "
                                 f"fit asks for {key}={wanted[key]!r}; set warm_start=False to "
                                 f"start afresh")

    # ------------------------------------------------------------ persistence

    def save(self, path):
        """Write the fitted model to `path` (.npz, no pickle; see nadefast.io), atomically.

        An int random_state is recorded and restored by load (so sample() and the
        orderings of ensembles repeat after loading, as before saving)."""
        kernels = self._fitted_kernels()
        seed = self.random_state
        seed = int(seed) if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) else None
        _io.save_model(path, type(self).__name__, kernels.public(), self.ordering_,
                       output=self._output.name, output_state=self._output.state(),
                       random_state=seed)

    @classmethod
    def load(cls, path, *, backend="compiled", device="cpu"):
        """Read a model written by `save`; parameters round-trip bit for bit.

        ``nadefast.load(path)`` returns whichever model the file holds;
        ``NADE.load`` / ``OrderAgnosticNADE.load`` refuse the other kind.
        `backend`, `device`: where the loaded model computes (files do not
        depend on them: a model trained on a GPU loads on the CPU and back).
        """
        kind, params, ordering, output, seed = _io.load_model(path)
        model_cls = BaseNADE._models[kind]
        if not issubclass(model_cls, cls):
            raise ValueError(f"{os.fspath(path)!r} holds a {kind}, not a {cls.__name__}; load it "
                             f"with {kind}.load or nadefast.load")
        model = model_cls._from_file(params, ordering)
        model.set_params(**{"random_state": seed, "output": output.name, "backend": backend,
                            "device": device, **output.constructor_params()})
        model._set_fitted(params, ordering, output)
        return model
