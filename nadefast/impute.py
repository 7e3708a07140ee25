"""NADEImputer: missing values filled from an order-agnostic NADE (docs/mixed.md §5).

A scikit-learn transformer in the spirit of IterativeImputer, but with one
joint model of the whole table instead of a regression per column:

    imputer = NADEImputer(n_hidden=64, random_state=0).fit(X_with_holes)
    filled = imputer.transform(X_with_holes)

fit trains an OrderAgnosticNADE with one output per column on the observed
entries of each row (the missing ones are neither inputs nor terms of the
loss; nadefast/_missing.py); transform fills every missing entry -- the most
probable completion (method="mode"), or per cell, from its exact conditional
given the row's observed cells, the most probable value in discrete columns
and the mean ("mean") or median ("median") in real ones (one network pass;
n_samples=m estimates them from m draws instead) -- and returns observed
entries unchanged.  sample_posterior=True returns one draw
of that conditional instead (so repeated transforms with different
random_state give multiple imputations); multiple_imputations(X, m) gives m
of them at once.

X: a pandas DataFrame (types from its dtypes, labels kept, a DataFrame back)
or a numeric array (column_types="auto": every column real, or a list with
one of "bernoulli", "categorical", "gaussian_mixture" per column), with NaN,
None or pd.NA marking missing cells.  scikit-learn is not needed to use it;
with it, the imputer works in Pipeline, GridSearchCV and clone.
"""

import inspect

import numpy as np

from nadefast._orderless import OrderAgnosticNADE
from nadefast._parallel import blas_threads
from nadefast._random import make_rng
from nadefast._table import is_dataframe
from nadefast._training import auto_batch_size
from nadefast._validation import NotFittedError, check_int, check_real


# epochs="auto": the gradient steps a fit may take, and the bounds on its epochs.  On the
# benchmark's validation masks (benchmarks/imputation_tune.py) fair (5 700 training rows,
# 57 steps an epoch) was no better after 300 epochs than after 100 (5 700 steps); 8000
# steps is that with a margin, 9 epochs of a 100 000-row table.
AUTO_STEPS = 8000
AUTO_EPOCH_RANGE = (5, 200)


def _rows(X, index):
    """Rows `index` of an array or a DataFrame (by position)."""
    return X.iloc[index] if is_dataframe(X) else X[index]


class NADEImputer:
    """Fill missing values from an order-agnostic NADE of the table.

    Parameters
    ----------
    n_hidden, n_layers : the network (OrderAgnosticNADE)
    column_types : "auto" (DataFrame: from dtypes; array: every column
        "gaussian_mixture"), a list with one type per column, or (DataFrames) a
        dict column name -> type overriding the dtypes for some columns
    n_components : Gaussians per real column
    method : "mean" (default), "median" or "mode": what transform puts in a
        missing cell (see the module docstring); "mean" is what the benchmark beside
        scikit-learn's imputers measured (results/README.md)
    n_samples : None (default): method="mean" / "median" take each missing cell's
        exact conditional given the row's observed cells, in one network pass
        (OrderAgnosticNADE.impute); an int: estimate them from that many draws
    sample_posterior : transform returns one draw of p(x_missing | x_observed)
    epochs : the most epochs fit runs (a budget, which early stopping may end sooner:
        on the benchmark's small tables it did, on 6 000 and 20 000 rows the budget did),
        or "auto": enough epochs for about AUTO_STEPS (8000) gradient steps, between 5
        and 200 -- what a table needs is a number of steps, not of passes, and a fixed
        number of epochs would make a 100 000-row fit 250 times longer than a 400-row one
    batch_size, learning_rate, weight_decay : fit's (OrderAgnosticNADE.fit)
    validation_fraction : share of the rows fit holds out to stop early, in [0, 1)
        (rows drawn from random_state: the same rows for the same seed); 0 or None:
        no validation rows, fit runs all `epochs` epochs and keeps the last ones.
        The held-out rows are still imputed by transform; they only do not train.
        Fewer than one row's worth (fewer than 1 / validation_fraction rows): no
        validation.
    patience : with validation rows, stop after this many epochs without a better
        validation loss and keep the best epoch's parameters (the "plateau"
        schedule takes steps 10 times smaller after every 10 such epochs)
    dtype, random_state : the model's; random_state also seeds transform's draws
    backend : "numpy" (per-column outputs have no compiled kernels yet)
    n_jobs : threads of NumPy's BLAS during fit (with threadpoolctl
        installed; without it BLAS keeps its own setting), default 1: training is many
        small products, for which a second thread costs more than it gains (100 000 x
        20 table, 2 cores shared with one other job: fit 16.6 s with one BLAS thread,
        64.9 s with two; results/README.md).  None: leave BLAS as it is.

    The defaults (128 units, 2 layers, 5 Gaussians, learning rate 1e-3, no weight
    decay, patience 20, a budget of about 8000 steps) were chosen on validation masks
    of diabetes (442 rows) and fair (6366 rows) that the reported benchmark does not
    use, for tables of a few hundred to 100 000 rows; docs/mixed.md §5 gives the
    figures behind each choice, results/README.md the benchmark beside scikit-learn.

    Attributes
    ----------
    model_ : the fitted OrderAgnosticNADE (model_.history_: one record per epoch with
        train_nll and valid_nll, nats per row)
    n_epochs_ : int, the epochs fit ran
    best_epoch_ : int, the epoch whose parameters were kept (the best validation
        loss; without validation rows, the last epoch)
    validation_rows_ : (n_valid,) int array, the rows of X held out (empty without)
    n_features_in_ : int
    feature_names_in_ : (n_features,) object array, when fitted on a DataFrame
    """

    def __init__(self, n_hidden=128, *, n_layers=2, column_types="auto", n_components=5,
                 method="mean", n_samples=None, sample_posterior=False, epochs="auto",
                 batch_size="auto", learning_rate=1e-3, weight_decay=0.0,
                 validation_fraction=0.1, patience=20, dtype="float64", random_state=None,
                 backend="numpy", n_jobs=1):
        self.n_hidden = n_hidden
        self.n_layers = n_layers
        self.column_types = column_types
        self.n_components = n_components
        self.method = method
        self.n_samples = n_samples
        self.sample_posterior = sample_posterior
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.dtype = dtype
        self.random_state = random_state
        self.backend = backend
        self.n_jobs = n_jobs

    # ------------------------------------------------------------ estimator API

    @classmethod
    def _get_param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        names = self._get_param_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"invalid parameter {name!r} for NADEImputer; valid parameters "
                                 f"are {names}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if v is not defaults[k].default and v != defaults[k].default]
        return f"NADEImputer({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(),
                    input_tags=InputTags(two_d_array=True, allow_nan=True))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError("this NADEImputer is not fitted yet; call fit(X) first")

    # ----------------------------------------------------------------- fitting

    def _model(self, X):
        """The unfitted model for X: per-column outputs from column_types."""
        types = self.column_types
        kw = {}
        if is_dataframe(X):
            output = "auto"
            if not (isinstance(types, str) and types == "auto"):
                kw["column_types"] = types
        elif isinstance(types, str) and types == "auto":
            output = ["gaussian_mixture"] * np.shape(X)[1] if np.ndim(X) == 2 else "auto"
        else:
            output = types
        return OrderAgnosticNADE(self.n_hidden, n_layers=self.n_layers, output=output,
                                 n_components=self.n_components, dtype=self.dtype,
                                 random_state=self.random_state, backend=self.backend, **kw)

    def fit(self, X, y=None):
        """Train on the observed entries of X (missing: NaN / None / pd.NA).  Returns self."""
        if self.method not in ("mode", "mean", "median"):
            raise ValueError(f"method must be 'mode', 'mean' or 'median', got {self.method!r}")
        if not is_dataframe(X):
            X = self._as_float(X)
        elif X.shape[1] == 0:
            raise ValueError(f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
                             f"required.")
        model = self._model(X)
        valid = self._validation_rows(len(X))
        if valid.size:
            train = np.setdiff1d(np.arange(len(X)), valid)
            X, X_valid = _rows(X, train), _rows(X, valid)
            patience = self.patience
        else:
            X_valid, patience = None, None
        with self._blas():
            model.fit(X, X_valid, epochs=self._epoch_budget(len(X)), batch_size=self.batch_size,
                      learning_rate=self.learning_rate, weight_decay=self.weight_decay,
                      patience=patience)
        self.model_ = model
        self.n_features_in_ = model.n_features_in_
        self.n_epochs_ = len(model.history_)
        self.best_epoch_ = int(model.best_epoch_)
        self.validation_rows_ = valid
        if hasattr(model, "feature_names_in_"):
            self.feature_names_in_ = model.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _blas(self):
        """The context fit and transform run in: BLAS on n_jobs threads."""
        n = self.n_jobs
        return blas_threads(None if n is None else check_int(n, "n_jobs", minimum=1))

    def _epoch_budget(self, n_rows):
        """The epochs fit may run on n_rows training rows: `epochs`, or for "auto"
        ceil(AUTO_STEPS / steps per epoch) within AUTO_EPOCH_RANGE."""
        if not (isinstance(self.epochs, str) and self.epochs == "auto"):
            if isinstance(self.epochs, str):
                raise ValueError(f"epochs must be a positive integer or 'auto', got "
                                 f"{self.epochs!r}")
            return self.epochs
        batch = self.batch_size
        if isinstance(batch, str) and batch == "auto":
            batch = auto_batch_size(n_rows)
        steps = -(-n_rows // check_int(batch, "batch_size", minimum=1))
        low, high = AUTO_EPOCH_RANGE
        return int(min(high, max(low, -(-AUTO_STEPS // steps))))

    def _validation_rows(self, n_rows):
        """The rows fit holds out: (n_valid,) sorted int array, n_valid =
        floor(validation_fraction * n_rows) drawn without replacement from a generator
        seeded by random_state (empty for a fraction of 0 or None)."""
        fraction = self.validation_fraction
        if fraction is None:
            return np.empty(0, dtype=np.intp)
        fraction = check_real(fraction, "validation_fraction", minimum=0.0)
        if fraction >= 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1) (a share of the rows to "
                             f"hold out, or 0 / None for none), got {fraction!r}")
        n_valid = int(fraction * n_rows)
        if n_valid == 0:
            return np.empty(0, dtype=np.intp)
        # a generator of its own (an int seed gives the same rows every fit); the model's
        # initialisation and shuffling draw from random_state separately
        rng = make_rng(self.random_state)
        return np.sort(rng.choice(n_rows, size=n_valid, replace=False)).astype(np.intp)

    def _as_float(self, X, *, reset=True):
        """An array-like of numbers, None / NaN for missing -> (rows, n) float64 with NaN;
        TypeError / ValueError naming the problem (sparse, labels, shape, features)."""
        if hasattr(X, "toarray") or hasattr(X, "tocsr"):
            raise TypeError("X is a sparse matrix; NADEImputer needs dense data (X.toarray())")
        arr = np.asarray(X)
        if arr.dtype.kind == "O":
            try:
                arr = np.array([[np.nan if v is None else v for v in row] for row in arr],
                               dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError("X holds values that are not numbers: each argument must be a "
                                "real number or None, not a string or other object; pass a "
                                "pandas DataFrame to impute labels beside numbers") from None
        if arr.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: X has dtype {arr.dtype}")
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"X must hold numbers (NaN or None for missing), got dtype "
                            f"{arr.dtype}; pass a pandas DataFrame to impute labels")
        if arr.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {arr.shape}. "
                             f"Reshape your data with X.reshape(-1, 1) for one feature or "
                             f"X.reshape(1, -1) for one sample.")
        if arr.shape[1] == 0:
            raise ValueError(f"X has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is "
                             f"required.")
        if not reset and arr.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {arr.shape[1]} features, but NADEImputer is expecting "
                             f"{self.n_features_in_} features as input")
        return arr.astype(np.float64, copy=False)

    # ------------------------------------------------------------- transforming

    def transform(self, X):
        """X with every missing entry filled (observed entries unchanged): an array
        (float64; codes in discrete columns) or, for a DataFrame, a DataFrame with the
        training frame's columns, dtypes and labels."""
        self._check_fitted()
        if not is_dataframe(X):
            X = self._as_float(X, reset=False)
        if self.sample_posterior:
            draws = self.model_.conditional_sample(X, n_samples=1, random_state=self.random_state)
            return draws[0]
        return self.model_.impute(X, method=self.method, n_samples=self.n_samples,
                                  random_state=self.random_state)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def multiple_imputations(self, X, n_imputations=5, *, random_state=None):
        """n_imputations completions of X drawn from p(x_missing | x_observed): an array
        (n_imputations, n_rows, n_features), or a list of DataFrames for a DataFrame."""
        self._check_fitted()
        if not is_dataframe(X):
            X = self._as_float(X, reset=False)
        seed = self.random_state if random_state is None else random_state
        return self.model_.conditional_sample(X, n_samples=n_imputations, random_state=seed)

    def score(self, X, y=None):
        """Mean over rows of log p(x_observed), nats (the model's log_marginal): higher
        is better, so GridSearchCV can choose settings without a downstream model."""
        self._check_fitted()
        if not is_dataframe(X):
            X = self._as_float(X, reset=False)
        return float(np.mean(self.model_.log_marginal(X)))

    def get_feature_names_out(self, input_features=None):
        """The column names: the training frame's, else x0, x1, ... (object array)."""
        self._check_fitted()
        names = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if len(input_features) != self.n_features_in_:
                raise ValueError(f"input_features has {len(input_features)} names, but the "
                                 f"imputer has {self.n_features_in_} features")
            if names is not None and not np.array_equal(input_features, names):
                raise ValueError("input_features differ from the names seen in fit")
            return input_features
        if names is not None:
            return np.asarray(names, dtype=object)
        return np.array([f"x{j}" for j in range(self.n_features_in_)], dtype=object)
