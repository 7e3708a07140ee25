"""Mixed tables: one output distribution per column (docs/mixed.md).

``Mixed(column_types)`` composes the single-family outputs of
nadefast/_outputs.py and nadefast/_mixture.py: column j is a Bernoulli
(0/1), a categorical (codes 0..K_j - 1) or a mixture of Gaussians (a real
number), and the per-variable mathematics of variable j is that of its
column's own one-feature output (``self.columns[j]``, always asked about its
variable 0).  So the NumPy backend, which runs outputs variable by variable,
computes mixed models unchanged; the compiled kernels are per family and have
none (the backend seam says so, naming backend="numpy").

Values: a float64 matrix, one column per feature; discrete columns hold
their codes as whole numbers (0.0, 1.0, 2.0, ...), real columns their values;
NaN marks a missing entry where missing entries are allowed (conditional
inference, and an OrderAgnosticNADE's fit).  Samples and imputations come
back in the same form (pandas tables are converted by nadefast/_table.py).

Real columns are standardised with the training statistics of their
observed entries (mean, population standard deviation; a constant column
keeps scale 1); discrete columns have mean 0 and scale 1, so ``prepare``
and ``to_user`` leave them bit for bit as they are, and the Jacobian of the
change of units counts the real columns only.
"""

import json

import numpy as np

from nadefast._mixture import GaussianMixture
from nadefast._outputs import Bernoulli, Categorical, Output
from nadefast._validation import _as_2d_numbers

COLUMN_TYPES = ("bernoulli", "categorical", "gaussian_mixture")  # the names of column types
DISCRETE = ("bernoulli", "categorical")


def check_column_types(types, what="output"):
    """A list of column type names, checked: TypeError for a non-list or a non-string
    entry, ValueError for an empty list or an unknown name (naming the column)."""
    if isinstance(types, (str, bytes)) or not hasattr(types, "__len__"):
        raise TypeError(f"{what} must be a list with one of {list(COLUMN_TYPES)} per column, "
                        f"got {types!r}")
    types = list(types)
    if not types:
        raise ValueError(f"{what} lists no columns; give one type per column")
    for j, t in enumerate(types):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{j}] must be one of {list(COLUMN_TYPES)}, got {t!r}")
        if t not in COLUMN_TYPES:
            raise ValueError(f"{what}[{j}] must be one of {list(COLUMN_TYPES)}, got {t!r}")
    return types


def _most_frequent(codes, K):
    """Per cell, the most frequent code among draws: codes (S, rows) whole numbers in
    0..K-1 -> (rows,), ties to the smallest code."""
    counts = (codes[:, :, None] == np.arange(K)).sum(axis=0)
    return np.argmax(counts, axis=1).astype(np.float64)


class Mixed(Output):
    """One output per column: ``column_types[j]`` in COLUMN_TYPES.

    n_categories: None (K_j from the training data: the largest code + 1),
    an int for every categorical column, or a sequence with one entry per
    column (entries of non-categorical columns are ignored and may be None).
    n_components: C of every real column.  The fitted output also holds
    ``means``, ``scales`` (n,) and the per-column K_j; ``schema`` (a
    nadefast._table.TableSchema, or None) is what a pandas table looked like.
    """

    name = "mixed"
    sample_dtype = np.dtype(np.float64)
    impute_methods = ("mode", "mean", "median")
    real_valued = True  # samples pass through to_user; observed entries are copied back
    accepts_missing = True  # NaN marks a missing entry (see check_X)

    def __init__(self, column_types, n_categories=None, n_components=10, *, means=None,
                 scales=None, schema=None):
        self.column_types = check_column_types(column_types)
        self.n_categories = n_categories
        self.n_components = n_components
        self.means, self.scales, self.schema = means, scales, schema
        self.columns = None  # per column, its one-feature output (once fitted)

    # ---------------------------------------------------------------- shapes

    @property
    def n_features(self):
        return len(self.column_types)

    def _types(self):
        return np.array(self.column_types)

    def real_columns(self):
        """(n,) bool: which columns are real numbers."""
        return self._types() == "gaussian_mixture"

    @property
    def uniforms(self):
        """Uniforms per chain position: the most any column takes (docs/sampling.md)."""
        return 3 if self.real_columns().any() else 1

    @property
    def fixed_extras(self):
        """NADE's rho (per chain position) when some column is real (docs/mixture.md §3)."""
        return ("rho",) if self.real_columns().any() else ()

    def spec(self):
        return list(self.column_types)

    def _C(self):
        return GaussianMixture(self.n_components)._C()

    def _given_categories(self):
        """K_j given to the constructor, per column (0 where not given)."""
        K, n = self.n_categories, self.n_features
        if K is None:
            return np.zeros(n, dtype=np.intp)
        if isinstance(K, (int, np.integer)) and not isinstance(K, (bool, np.bool_)):
            if K < 1:
                raise ValueError(f"n_categories must be >= 1, got {K}")
            return np.where(self._types() == "categorical", int(K), 0).astype(np.intp)
        if isinstance(K, (str, bytes)) or not hasattr(K, "__len__"):
            raise TypeError(f"n_categories must be None, an int or one entry per column, got {K!r}")
        if len(K) != n:
            raise ValueError(f"n_categories has {len(K)} entries, but there are {n} columns")
        out = np.zeros(n, dtype=np.intp)
        for j, (t, k) in enumerate(zip(self.column_types, K)):
            if t != "categorical" or k is None:
                continue
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
                raise TypeError(f"n_categories[{j}] must be an int, got {k!r}")
            if k < 1:
                raise ValueError(f"n_categories[{j}] must be >= 1, got {k}")
            out[j] = k
        return out

    def _column_output(self, j):
        """Column j's own one-feature output, fitted."""
        t = self.column_types[j]
        if t == "bernoulli":
            return Bernoulli()
        if t == "categorical":
            return Categorical(np.array([self.category_counts()[j]], dtype=np.intp))
        return GaussianMixture(self._C(), self.means[j:j + 1], self.scales[j:j + 1])

    def category_counts(self):
        """(n,) K_j of every categorical column (fitted), 2 for Bernoulli, 0 for real."""
        return np.asarray(self._fitted_categories, dtype=np.intp)

    def in_widths(self, n_features):
        return np.array([c.in_widths(1)[0] for c in self.columns], dtype=np.intp)

    def out_widths(self, n_features):
        return np.array([c.out_widths(1)[0] for c in self.columns], dtype=np.intp)

    # ------------------------------------------------------------------ data

    def check_dtype(self, dtype, name="X"):
        raise TypeError(f"{name}: streamed data (a memmap or a Dask array) is not supported with "
                        f"per-column outputs yet; pass the table in memory (np.asarray)")

    def check_X(self, X, n_features=None, *, name="X", allow_empty=True, missing=False):
        """X as a C-contiguous float64 matrix, each column checked by its type: 0/1,
        whole codes >= 0 (and < K_j once fitted), or finite reals.  missing=True: NaN
        marks a missing entry (kept as NaN); otherwise NaN is an error.  Infinities are
        always an error."""
        n = self.n_features
        arr = _as_2d_numbers(
            X, None, name, allow_empty, dense="a dense array", values="numbers",
            dtype_error=lambda a: f"{name} must hold numbers (category codes 0, 1, ... in "
                                  f"discrete columns), got dtype {a.dtype}; pass a pandas "
                                  f"DataFrame to use labels",
            complex_error=lambda a: f"Complex data not supported: {name} has dtype {a.dtype}")
        if arr.shape[1] != (n if n_features is None else n_features):
            raise ValueError(f"{name} has {arr.shape[1]} columns, but the model's column types "
                             f"list {n}")
        X = np.array(arr, dtype=np.float64, order="C")  # a copy: callers may write into it
        if X.shape[0] == 0:
            return X
        infinite = np.isinf(X)
        if infinite.any():
            i, j = np.argwhere(infinite)[0]
            raise ValueError(f"{name} contains infinity ({X[i, j]}) at [{i}, {j}] (column {j}, "
                             f"{self.column_types[j]}); values must be finite (NaN marks a "
                             f"missing value)")
        nan = np.isnan(X)
        if not missing and nan.any():
            i, j = np.argwhere(nan)[0]
            raise ValueError(f"{name} contains NaN at [{i}, {j}] (column {j}); this needs "
                             f"complete rows (log_marginal, conditional_sample and impute take "
                             f"missing values)")
        K = self.category_counts() if self.columns is not None else self._given_categories()
        for j, t in enumerate(self.column_types):
            if t == "gaussian_mixture":
                continue
            col = X[:, j]
            if t == "bernoulli":
                bad = ~nan[:, j] & (col != 0) & (col != 1)
                rule = "a bernoulli column holds 0 or 1"
            else:
                bad = ~nan[:, j] & ((col != np.round(col)) | (col < 0)
                                    | ((col >= K[j]) if K[j] > 0 else False))
                rule = ("a categorical column holds whole codes 0.." + str(K[j] - 1) if K[j] > 0
                        else "a categorical column holds whole codes >= 0")
            if bad.any():
                i = np.flatnonzero(bad)[0]
                raise ValueError(f"{name} contains {col[i]!r} at [{i}, {j}]; {rule}")
        return X

    def fitted(self, X):
        """The output with each column's statistics from its observed (non-NaN) entries:
        K_j of categorical columns, mean and scale of real ones.  A column with no
        observed entry is an error (nothing to learn it from)."""
        n = self.n_features
        self._C()
        given = self._given_categories()
        K = np.zeros(n, dtype=np.intp)
        means, scales = np.zeros(n), np.ones(n)
        for j, t in enumerate(self.column_types):
            col = X[:, j][~np.isnan(X[:, j])]
            if col.size == 0:
                raise ValueError(f"column {j} has no observed value (all missing); a model cannot "
                                 f"learn it: drop the column")
            if t == "bernoulli":
                K[j] = 2
            elif t == "categorical":
                seen = int(col.max()) + 1
                if given[j] and seen > given[j]:
                    raise ValueError(f"n_categories gives {given[j]} categories for column {j}, "
                                     f"but X holds the code {seen - 1} there")
                K[j] = given[j] or seen
            else:
                means[j] = col.mean()
                std = np.sqrt(((col - means[j]) ** 2).mean())
                scales[j] = std if std > 0 else 1.0
        out = Mixed(self.column_types, self.n_categories, self.n_components, schema=self.schema)
        return out._set_statistics(K, means, scales)

    def _set_statistics(self, K, means, scales):
        self._fitted_categories = np.asarray(K, dtype=np.intp)
        self.means = np.asarray(means, dtype=np.float64)
        self.scales = np.asarray(scales, dtype=np.float64)
        self.columns = [self._column_output(j) for j in range(self.n_features)]
        return self

    def prepare(self, X):
        """Real columns standardised; discrete columns (mean 0, scale 1) unchanged."""
        return (X - self.means) / self.scales

    def to_user(self, X):
        return X * self.scales + self.means

    def log_jacobian(self):
        """Per column: -log scale_j (0 for discrete columns)."""
        return -np.log(self.scales)

    def initial_biases(self, X):
        """Per column (feature order), its own output's initial biases from its observed
        entries (X prepared; NaN missing)."""
        blocks = []
        for j, (t, column) in enumerate(zip(self.column_types, self.columns)):
            col = X[:, j][~np.isnan(X[:, j])][:, None]
            if t == "categorical":
                col = col.astype(np.int32)
            blocks.append(np.asarray(column.initial_biases(col), dtype=np.float64))
        return np.concatenate(blocks)

    # ----------------------------------------------------------- persistence

    def state(self):
        state = {"column_types": np.array(self.column_types),
                 "n_categories": self.category_counts().astype(np.int64),
                 "n_components": np.asarray(self._C(), dtype=np.int64),
                 "means": np.asarray(self.means, dtype=np.float64),
                 "scales": np.asarray(self.scales, dtype=np.float64)}
        if self.schema is not None:
            state["table_schema"] = np.array(json.dumps(self.schema.to_dict()))
        return state

    @classmethod
    def from_state(cls, state):
        from nadefast._table import TableSchema

        schema = state.get("table_schema")
        if schema is not None:
            schema = TableSchema.from_dict(json.loads(str(schema)))
        types = [str(t) for t in np.asarray(state["column_types"]).tolist()]
        out = cls(types, n_components=int(state["n_components"]), schema=schema)
        return out._set_statistics(np.asarray(state["n_categories"]), state["means"],
                                   state["scales"])

    def fitted_attributes(self):
        attributes = {"column_types_": list(self.column_types),
                      "n_categories_": self.category_counts().copy(),
                      "means_": np.array(self.means), "scales_": np.array(self.scales)}
        if self.schema is not None:
            attributes["feature_names_in_"] = self.schema.feature_names()
        return attributes

    def constructor_params(self):
        K = self.category_counts()
        return {"output": list(self.column_types), "n_components": self._C(),
                "n_categories": [int(K[j]) if t == "categorical" else None
                                 for j, t in enumerate(self.column_types)]}

    # ------------------------------- the mathematics of variable j: its column's own

    @staticmethod
    def _values(column, x):
        return x.astype(np.intp) if column.name in DISCRETE else x

    def input(self, j, x):
        column = self.columns[j]
        return column.input(0, self._values(column, x))

    def log_prob(self, j, z, x):
        column = self.columns[j]
        return column.log_prob(0, z, self._values(column, x))

    def grad_logits(self, j, z, x):
        column = self.columns[j]
        return column.grad_logits(0, z, self._values(column, x))

    def draw(self, j, z, u):
        column = self.columns[j]
        return np.asarray(column.draw(0, z, u[:, :column.uniforms]), dtype=np.float64)

    def mode(self, j, z):
        return np.asarray(self.columns[j].mode(0, z), dtype=np.float64)

    def distribution(self, j, z):
        return self.columns[j].distribution(0, z)

    def stacks(self, n_features):
        """By column type and width (a categorical K = 3 and a mixture of C = 1 are both
        3 units wide, but not one function)."""
        keys = [(t, int(w)) for t, w in zip(self.column_types, self.out_widths(n_features))]
        groups = {}
        for j, key in enumerate(keys):
            groups.setdefault(key, []).append(j)
        return [(np.array(g), g[0]) for g in groups.values()]

    def point(self, j, z, method):
        """Discrete columns: the most probable value (what "mean" and "median" impute
        there); real columns: their mixture's mean or median."""
        if self.column_types[j] in DISCRETE:
            return self.mode(j, z)
        return self.columns[j].point(0, z, method)

    # ------------------------------------------------------------ imputation

    def summarise(self, draws, method):
        """One imputation from conditional draws (S, rows, n) in the user's units: per
        cell the most frequent value in discrete columns; the mean (method="mean") or
        the median ("median") in real columns.  (rows, n) float64."""
        out = np.empty(draws.shape[1:], dtype=np.float64)
        K = self.category_counts()
        for j, t in enumerate(self.column_types):
            if t in DISCRETE:
                out[:, j] = _most_frequent(draws[:, :, j], K[j])
            elif method == "median":
                out[:, j] = np.median(draws[:, :, j], axis=0)
            else:
                out[:, j] = draws[:, :, j].mean(axis=0)
        return out
