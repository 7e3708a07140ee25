"""Output distributions: what one conditional p(x_j | .) is, for each family.

A model holds one output object.  It checks the data the model describes,
fixes what it learns from the training data (the number of categories of
each column), starts the output biases, and says how an observed value
enters the hidden layer and how many output units each variable has -- so
that models never branch on the family themselves.  The families
(docs/README.md §3-§4 give the parameter layouts they imply):

* ``Bernoulli``: x_j in {0, 1}; one input column and one logit per variable;
  p(x_j = 1 | .) = sigmoid(z_j).
* ``Categorical``: x_j in {0, ..., K_j - 1}; K_j - 1 input columns per
  variable (value 0 adds nothing, so a binary variable is the Bernoulli
  case) and K_j logits, p(x_j = v | .) = softmax(z_j)[v].
* ``GaussianMixture`` (nadefast/_mixture.py): x_j real; one input column
  and 3C outputs per variable, a mixture of C Gaussians (RNADE).  Real
  values are standardised with the training statistics (``prepare``,
  ``to_user``, ``log_jacobian``); discrete outputs leave values as they are.

Besides that, each family carries its mathematics per variable in plain
float64 NumPy (log-probability, its gradient, the sampler, the mode, the
distribution's parameters), which the NumPy backend runs and the compiled
kernels are checked against.
"""

import numpy as np

from nadefast._validation import as_binary_matrix, as_code_matrix


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def _log_softmax(z):
    """z (rows, K) -> log softmax along the last axis, without overflow."""
    top = z.max(axis=1, keepdims=True)
    shifted = z - top
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class Output:
    """The shared protocol; see the module docstring.  Per-variable widths are arrays
    over the features, in feature order."""

    name = None
    sample_dtype = None
    impute_methods = ("mode",)
    uniforms = 1  # uniforms a draw takes per position (docs/sampling.md)
    real_valued = False  # values in other units inside the model (nadefast/_mixture.py)
    fixed_extras = ()  # parameters a fixed-order NADE adds for this output (by chain position)
    activation = "sigmoid"  # a fixed-order NADE's hidden units (only mixtures offer another)

    def prepare(self, X):
        """Checked data as the fitted output computes with them (discrete: as they are)."""
        return X

    def to_user(self, X):
        """Model values -> the user's (discrete: the same)."""
        return X

    def log_jacobian(self):
        """Per feature, what a density in the user's units adds (discrete: None)."""
        return None

    def stacks(self, n_features):
        """Groups of variables whose mathematics is one function: [(features (k,), j0)],
        every feature in exactly one group, such that input, log_prob and grad_logits
        of any feature in a group are those of j0 -- so rows of all of them can be
        stacked into one call (the NumPy backend's objective).  Here: by output width
        (the families' per-variable functions depend on the variable only through it)."""
        widths = np.asarray(self.out_widths(n_features))
        groups = [np.flatnonzero(widths == w) for w in np.unique(widths)]
        return [(features, int(features[0])) for features in groups]

    def in_widths(self, n_features):
        """Input columns (of W) per variable."""
        raise NotImplementedError

    def out_widths(self, n_features):
        """Output units (rows of V, entries of c) per variable."""
        raise NotImplementedError

    def fitted(self, X):
        """The output with what it learns from the training data fixed (X checked)."""
        return self

    def state(self):
        """What a model file or a pickle must keep of this output (arrays by name)."""
        return {}

    def fitted_attributes(self):
        """The estimator's fitted attributes this output adds (name -> value)."""
        return {}

    def constructor_params(self):
        """The estimator's parameters that rebuild this fitted output (for load)."""
        return {}

    def spec(self):
        """What the estimator's `output` parameter is for this output (its name)."""
        return self.name

    def point(self, j, z, method):
        """One value from variable j's own conditional, given its output units z
        (rows, width): its mean (method="mean") or median ("median"), in the model's
        units, (rows,) float64 -- an imputation of a cell from its exact conditional.
        Only the methods of impute_methods other than "mode" are asked for."""
        raise ValueError(f"method={method!r} has no exact per-cell form for output={self.name!r}")

    def summarise(self, draws, method):
        """One imputation from conditional draws (S, rows, n) in the user's units:
        their mean (method="mean") or median ("median"), (rows, n) float64."""
        if method == "median":
            return np.median(draws, axis=0)
        return draws.mean(axis=0, dtype=np.float64)

    def check_dtype(self, dtype, name="X"):
        """For data streamed from memmaps and Dask arrays: numbers only (values are
        checked chunk by chunk)."""
        if np.dtype(dtype).kind not in "biuf":
            raise TypeError(f"{name} must hold numbers (bool, integer or float), got dtype {dtype}")


class Bernoulli(Output):
    """x_j in {0, 1}, p(x_j = 1 | .) = sigmoid(z_j)."""

    name = "bernoulli"
    sample_dtype = np.dtype(np.uint8)
    impute_methods = ("mode", "mean")

    def in_widths(self, n_features):
        return np.ones(n_features, dtype=np.intp)

    out_widths = in_widths

    def check_X(self, X, n_features=None, *, name="X", allow_empty=True):
        """X as a C-contiguous uint8 matrix of 0/1 (see _validation.as_binary_matrix)."""
        return as_binary_matrix(X, n_features, name=name, allow_empty=allow_empty)

    def check_dtype(self, dtype, name="X"):
        if np.dtype(dtype).kind not in "biuf":
            raise TypeError(f"{name} must hold numbers 0/1 (bool, integer or float), got dtype "
                            f"{dtype}")

    @staticmethod
    def marginal_log_odds(column_sums, n_rows):
        """Output biases that make the initial model (close to) independent Bernoullis:
        the log-odds of each feature's mean, smoothed by one 0 and one 1 (add-one)."""
        p = (np.asarray(column_sums, dtype=np.float64) + 1.0) / (n_rows + 2.0)
        return np.log(p) - np.log1p(-p)

    def initial_biases(self, X):
        """Per variable (feature order): the smoothed marginal log-odds."""
        from nadefast._streaming import column_sums

        return self.marginal_log_odds(column_sums(X), X.shape[0])

    # ---- the mathematics of variable j, rows at a time (z: (rows, 1) logits)

    @staticmethod
    def input(j, x):
        """What the values x add to the hidden layer: per row, which of the variable's
        input columns (-1: none) and times what (docs/fixed_order.md §3)."""
        return np.where(x == 1, 0, -1), np.ones(len(x))

    @staticmethod
    def log_prob(j, z, x):
        return _log_sigmoid((2.0 * x - 1.0) * z[:, 0])

    @staticmethod
    def grad_logits(j, z, x):
        """d(-log p(x | z)) / dz, (rows, 1)."""
        return (_sigmoid(z[:, 0]) - x)[:, None]

    @staticmethod
    def draw(j, z, u):
        """x = [z > log u - log(1 - u)] (docs/sampling.md §2); u (rows, 1)."""
        u = u[:, 0]
        return (z[:, 0] > np.log(u) - np.log1p(-u)).astype(np.int64)

    @staticmethod
    def mode(j, z):
        return (z[:, 0] > 0).astype(np.int64)

    @staticmethod
    def distribution(j, z):
        """What conditionals() reports: p(x_j = 1 | .), (rows, 1)."""
        return _sigmoid(z)

    @staticmethod
    def point(j, z, method):
        """The mean of a Bernoulli: p(x_j = 1 | .)."""
        return _sigmoid(z[:, 0])


class Categorical(Output):
    """x_j in {0, ..., K_j - 1}, p(x_j = v | .) = softmax(z_j)[v]; K_j from the training
    data (the largest code + 1) unless given (`n_categories`: an int for every
    column, or one per column)."""

    name = "categorical"
    sample_dtype = np.dtype(np.int32)

    def __init__(self, n_categories=None):
        self.n_categories = n_categories

    def _given(self, n_features):
        """The categories given to the constructor, per feature (or None)."""
        K = self.n_categories
        if K is None:
            return None
        K = np.asarray(K)
        if K.dtype.kind not in "iu" or K.ndim > 1:
            raise TypeError(f"n_categories must be an int or a sequence of ints, got "
                            f"{self.n_categories!r}")
        K = np.broadcast_to(K, (n_features,)).astype(np.intp)
        if K.shape != (n_features,):
            raise ValueError(f"n_categories has {K.size} entries, but there are {n_features} "
                             f"features")
        if (K < 1).any():
            raise ValueError(f"n_categories must be >= 1, got {K.min()}")
        return K

    def in_widths(self, n_features):
        return self.n_categories - 1

    def out_widths(self, n_features):
        return np.asarray(self.n_categories, dtype=np.intp)

    def check_X(self, X, n_features=None, *, name="X", allow_empty=True):
        """X as a C-contiguous int32 matrix of codes, each in 0..K_j - 1 when K is known."""
        K = None if self.n_categories is None or n_features is None else self._given(n_features)
        return as_code_matrix(X, n_features, K, name=name, allow_empty=allow_empty)

    def fitted(self, X):
        from nadefast._streaming import column_max

        n = X.shape[1]
        seen = column_max(X, self, n) + 1
        given = self._given(n)
        if given is not None:
            bad = np.flatnonzero(seen > given)
            if bad.size:
                j = bad[0]
                raise ValueError(f"n_categories gives {given[j]} categories for column {j}, but X "
                                 f"holds the code {seen[j] - 1} there")
            seen = given
        return Categorical(seen.astype(np.intp))

    def state(self):
        return {"n_categories": np.asarray(self.n_categories, dtype=np.int64)}

    def fitted_attributes(self):
        return {"n_categories_": np.asarray(self.n_categories, dtype=np.intp).copy()}

    def constructor_params(self):
        return {"n_categories": [int(k) for k in self.n_categories]}

    def initial_biases(self, X):
        """Per variable (feature order, K_j each): the log of the smoothed frequencies."""
        from nadefast._streaming import value_counts

        counts = value_counts(X, self.n_categories, self)
        blocks = [np.log((c + 1.0) / (c.sum() + c.size)) for c in counts]
        return np.concatenate(blocks)

    # ---- the mathematics of variable j, rows at a time (z: (rows, K_j) logits)

    @staticmethod
    def input(j, x):
        return x - 1, np.ones(len(x))  # value v >= 1 adds column v - 1; value 0 nothing

    @staticmethod
    def log_prob(j, z, x):
        return _log_softmax(z)[np.arange(z.shape[0]), x]

    @staticmethod
    def grad_logits(j, z, x):
        g = np.exp(_log_softmax(z))
        g[np.arange(z.shape[0]), x] -= 1.0
        return g

    @staticmethod
    def draw(j, z, u):
        """The smallest v with u < p_0 + ... + p_v (the last value when rounding leaves
        the sum short of u): inverse transform with one uniform (docs/sampling.md)."""
        cdf = np.cumsum(np.exp(_log_softmax(z)), axis=1)
        return np.minimum((cdf <= u).sum(axis=1), z.shape[1] - 1)

    @staticmethod
    def mode(j, z):
        return np.argmax(z, axis=1)

    @staticmethod
    def distribution(j, z):
        """What conditionals() reports: the K_j probabilities, (rows, K_j)."""
        return np.exp(_log_softmax(z))


def _mixture():
    # nadefast/_mixture.py builds on this module, so it is imported when first needed
    from nadefast._mixture import GaussianMixture

    return GaussianMixture


OUTPUTS = ("bernoulli", "categorical", "gaussian_mixture")  # the output= names


def offsets(widths):
    """Where each variable's block starts in a concatenation of blocks: (len + 1,)."""
    return np.concatenate([[0], np.cumsum(widths)]).astype(np.intp)


def blocks_in_order(values, widths, order):
    """The per-feature blocks of `values` (along its first axis; block j has widths[j]
    entries) rearranged into the order `order` lists the features in."""
    start = offsets(widths)
    index = np.concatenate([np.arange(start[j], start[j + 1]) for j in order]).astype(np.intp)
    return values[index]


def make_output(name, n_categories=None, n_components=10, column_types=None,
                activation="sigmoid"):
    """The output distribution `name` (one of OUTPUTS), not yet fitted; a list of
    column types, or "auto" with `column_types`, gives per-column outputs
    (nadefast/_mixed.py).  `activation`: a fixed-order NADE's hidden units, "relu"
    for gaussian_mixture only (RNADE's; the other outputs' kernels are sigmoid)."""
    from nadefast._mixture import check_activation

    if check_activation(activation) != "sigmoid" and not (isinstance(name, str)
                                                          and name == "gaussian_mixture"):
        raise ValueError(f"activation={activation!r} applies to output='gaussian_mixture' "
                         f"(RNADE) only; output={name!r} has sigmoid hidden units")
    if (name == "auto") if isinstance(name, str) else isinstance(name, (list, tuple, np.ndarray)):
        from nadefast._mixed import Mixed, check_column_types

        if isinstance(name, str):
            if column_types is None:
                raise ValueError("output='auto' reads the column types from a pandas DataFrame's "
                                 "dtypes; for an array, pass column_types=[...] (one of "
                                 f"{sorted(OUTPUTS)} per column)")
            types = check_column_types(column_types, "column_types")
        else:
            if column_types is not None:
                raise ValueError("give the column types once: output=[...] or output='auto' "
                                 "with column_types=[...], not both")
            types = check_column_types(name, "output")
        output = Mixed(types, n_categories, n_components)
        output._given_categories(), output._C()  # checked now
        return output
    if column_types is not None:
        raise ValueError(f"column_types applies to output='auto', not {name!r}")
    if not isinstance(name, str):
        raise TypeError(f"output must be one of {sorted(OUTPUTS)}, a list of them (one per "
                        f"column) or 'auto', got {name!r}")
    if name not in OUTPUTS:
        raise ValueError(f"output must be one of {sorted(OUTPUTS)}, a list of them (one per "
                         f"column) or 'auto', got {name!r}")
    if n_categories is not None and name != "categorical":
        raise ValueError(f"n_categories applies to output='categorical', not {name!r}")
    if name == "categorical":
        return Categorical(n_categories)
    if name == "gaussian_mixture":
        output = _mixture()(n_components, activation=activation)
        output._C()  # checked now
        return output
    return Bernoulli()


def output_from_state(name, state):
    """The fitted output a model file or a pickle describes."""
    if name == "categorical":
        return Categorical(np.asarray(state["n_categories"], dtype=np.intp))
    if name == "gaussian_mixture":
        activation = state.get("activation")
        return _mixture()(int(state["n_components"]), np.asarray(state["means"], np.float64),
                          np.asarray(state["scales"], np.float64),
                          "sigmoid" if activation is None else str(activation))
    if name == "mixed":
        from nadefast._mixed import Mixed

        return Mixed.from_state(state)
    return make_output(name)
