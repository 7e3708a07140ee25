"""Output distributions: what one conditional p(x_k | x_<k) is.

A model holds one of these.  It checks the data the model describes, starts
the output biases, and says what a sample looks like, so that models never
branch on the family themselves.  Today there is one family, binary data
(Bernoulli); categorical and mixture-of-Gaussian outputs come next
(../shared/DESIGN.md, "Output distribution").
"""

import numpy as np

from nadefast._validation import as_binary_matrix


class Bernoulli:
    """x_k in {0, 1}, p(x_k = 1 | .) = sigmoid(V[k] . h_k + c_k)."""

    name = "bernoulli"
    sample_dtype = np.dtype(np.uint8)

    def check_X(self, X, n_features=None, *, name="X", allow_empty=True):
        """X as a C-contiguous uint8 matrix of 0/1 (see _validation.as_binary_matrix)."""
        return as_binary_matrix(X, n_features, name=name, allow_empty=allow_empty)

    def check_dtype(self, dtype, name="X"):
        """For data streamed from memmaps and Dask arrays: numbers only (values are
        checked chunk by chunk)."""
        if np.dtype(dtype).kind not in "biuf":
            raise TypeError(f"{name} must hold numbers 0/1 (bool, integer or float), got dtype "
                            f"{dtype}")

    @staticmethod
    def marginal_log_odds(column_sums, n_rows):
        """Output biases that make the initial model (close to) independent Bernoullis:
        the log-odds of each feature's mean, smoothed by one 0 and one 1 (add-one)."""
        p = (np.asarray(column_sums, dtype=np.float64) + 1.0) / (n_rows + 2.0)
        return np.log(p) - np.log1p(-p)


OUTPUTS = {"bernoulli": Bernoulli()}


def get_output(name):
    """The output distribution called `name` (a key of OUTPUTS)."""
    if not isinstance(name, str):
        raise TypeError(f"output must be one of {sorted(OUTPUTS)}, got {name!r}")
    try:
        return OUTPUTS[name]
    except KeyError:
        raise ValueError(f"output must be one of {sorted(OUTPUTS)}, got {name!r}") from None
