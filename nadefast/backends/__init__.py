"""Backends: where the arithmetic of a model runs.

A backend turns a model's parameters, given in the public layout (the shapes
of ``docs/README.md``), into a *kernel object* that holds them in whatever
layout its arithmetic wants and runs that model's numerical work:

``backend.fixed(params, output)`` -> kernels of a fixed-order NADE (W, b, V, c)
    for the fitted output distribution `output` (nadefast/_outputs.py)
    ``score(X, order, n_threads, cond=None, terms=None)`` -> log p(x) per row
    ``sample(X, order, key, row0, given, greedy, n_threads)``  fills rows of X
    ``gradient(X, order, grads, n_threads)`` -> mean NLL; mean gradient into grads
    ``hidden(X, order, n_threads)`` -> (rows, n, d) hidden states
``backend.orderless(params, output)`` -> kernels of an order-agnostic NADE (W, M, b,
    W_hidden, b_hidden, V, c)
    ``score(X, orders, n_threads, stop=None, cond=None, terms=None)``
    ``sample(X, orders, key, row0, given, greedy, n_threads)``
    ``objective(X, masks, grads=None)`` -> the order-agnostic training loss
``backend.training_masks(key, rows, n, n_threads)`` -> (rows, n) bool
``backend.adam_step(p, g, m, v, beta1, beta2, lr_t, eps_t, n_threads)``

Every kernel object also has ``arrays`` (a dict of the arrays it computes
with, keyed by public parameter name: what an optimizer updates in place),
``public(arrays=None)`` (views of those arrays, or of any dict laid out like
them -- gradients, optimizer moments -- in the public layout) and
``zeros_like()``.  Above this package nothing depends on a backend's layout;
files and checkpoints hold the public one.

Backends:

* ``"compiled"`` (`_compiled.py`): the C kernels of ``csrc/`` under Cython,
  OpenMP threads, instruction set chosen at import.  The default, and the
  only module that imports ``nadefast._core``.
* ``"numpy"`` (`_numpy.py`): plain float64 NumPy, written for clarity: the
  reference the tests compare the compiled backend with.  Slow; for small
  models.

A new backend is one module: a Backend subclass with its two Kernels
subclasses, named in BACKENDS and get_backend.
"""

import numpy as np

BACKENDS = ("compiled", "numpy")


class Kernels:
    """What every kernel object shares: `arrays` (set by the subclass), zeros
    laid out like them, the model's dtype."""

    backend = None  # the backend's name

    def zeros_like(self):
        return {k: np.zeros_like(v) for k, v in self.arrays.items()}

    @property
    def dtype(self):
        return self.arrays["V"].dtype


class Backend:
    """A backend: its kernel classes, and the element-wise steps of training."""

    name = None
    fixed_kernels = {}  # output distribution's name -> class of fixed-order kernel objects
    orderless_kernels = {}  # likewise, order-agnostic

    def fixed(self, params, output):
        return self._kernels(self.fixed_kernels, "NADE", output)(params, output)

    def orderless(self, params, output):
        return self._kernels(self.orderless_kernels, "OrderAgnosticNADE", output)(params, output)

    def _kernels(self, table, model, output):
        if output.name not in table:
            raise ValueError(f"the {self.name!r} backend has no {model} kernels for "
                             f"output={output.name!r} yet; backend='numpy' has them")
        return table[output.name]


def get_backend(name):
    """The backend called `name` (one of BACKENDS)."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be one of {list(BACKENDS)}, got {name!r}")
    if name == "compiled":
        from nadefast.backends._compiled import BACKEND
    elif name == "numpy":
        from nadefast.backends._numpy import BACKEND
    else:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {name!r}")
    return BACKEND
