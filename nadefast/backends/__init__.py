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
    ``outputs(X, masks)`` -> (rows, n_out) float64 output units given the entries
    where masks is True: every feature's conditional given them (impute's exact cells)
``backend.training_masks(key, rows, n, n_threads)`` -> (rows, n) bool
``backend.adam_step(p, g, m, v, beta1, beta2, lr_t, eps_t, n_threads)``
``backend.zeros_like(a)``, ``backend.scalar(a, x)``: what the optimizers need to
    work on the backend's arrays (NumPy arrays by default)

Every kernel object also has ``arrays`` (a dict of the arrays it computes
with, keyed by public parameter name: what an optimizer updates in place),
``public(arrays=None)`` (NumPy arrays in the public layout: views of those
arrays, or of any dict laid out like them -- gradients, optimizer moments --
or host copies where the arrays live on a GPU, ``shares_public`` False),
``set_public(arrays, values)`` (public-layout values into such a dict),
``zeros_like(arrays=None)``, ``copy(arrays)`` and ``all_finite(arrays)`` (what
the Trainer does with them).  Above this package nothing depends on a
backend's layout or array type; files and checkpoints hold the public one.

Backends:

* ``"compiled"`` (`_compiled.py`): the C kernels of ``csrc/`` under Cython,
  OpenMP threads, instruction set chosen at import.  The default, and the
  only module that imports ``nadefast._core``.
* ``"numpy"`` (`_numpy.py`): plain float64 NumPy, written for clarity: the
  reference the tests compare the compiled backend with.  Slow; for small
  models.
* ``"torch"`` (`_torch.py`): PyTorch tensors on a device -- a GPU, or the
  CPU, where the tests compare it with the compiled core.  Optional (the
  ``gpu`` extra: ``pip install "nadefast[gpu]"``); PyTorch is imported only
  when this backend is asked for.

Backend and device (the estimators' ``backend=`` and ``device=``; get_backend):
``device="cpu"`` (the default) runs the backend ``backend`` names on the CPU:
the compiled core (default), NumPy, or torch on CPU tensors.  ``device="cuda"``
(or ``"cuda:N"``) runs on that GPU, which only the torch backend can: the
default ``backend="compiled"`` and ``backend="torch"`` both mean torch there,
``backend="numpy"`` is an error.  ``device="auto"``: the GPU when PyTorch is
installed and sees one (and the backend is not "numpy"), else the CPU.

A new backend is one module: a Backend subclass with its two Kernels
subclasses, named in BACKENDS and get_backend.
"""

import re

import numpy as np

BACKENDS = ("compiled", "numpy", "torch")
GPU_EXTRA = 'pip install "nadefast[gpu]"'


class Kernels:
    """What every kernel object shares: `arrays` (set by the subclass), zeros
    laid out like them, the model's dtype."""

    backend = None  # the backend's name
    owner = None  # the Backend object that made it (set by Backend.fixed / orderless)
    shares_public = True  # public() gives views: writing into them changes the arrays

    def zeros_like(self, arrays=None):
        return {k: np.zeros_like(v) for k, v in (self.arrays if arrays is None else arrays).items()}

    def copy(self, arrays):
        return {k: v.copy() for k, v in arrays.items()}

    def all_finite(self, arrays):
        return all(np.isfinite(v).all() for v in arrays.values())

    def set_public(self, arrays, values):
        """values (public layout, by name) into `arrays` (None: the parameters)."""
        views = self.public(arrays)
        for name, value in values.items():
            views[name][...] = value

    @property
    def dtype(self):
        return self.arrays["V"].dtype


class Backend:
    """A backend: its kernel classes, and the element-wise steps of training."""

    name = None
    fixed_kernels = {}  # output distribution's name -> class of fixed-order kernel objects
    orderless_kernels = {}  # likewise, order-agnostic

    def fixed(self, params, output):
        return self._owned(self._kernels(self.fixed_kernels, "NADE", output)(params, output))

    def orderless(self, params, output):
        return self._owned(self._kernels(self.orderless_kernels, "OrderAgnosticNADE",
                                         output)(params, output))

    def _owned(self, kernels):
        kernels.owner = self
        return kernels

    # element-wise helpers of the optimizers (nadefast/optim.py), for NumPy arrays
    @staticmethod
    def zeros_like(a):
        return np.zeros_like(a)

    @staticmethod
    def scalar(a, x):
        """x as a scalar of a's precision (products with it round as a's dtype does)."""
        return a.dtype.type(x)

    def _kernels(self, table, model, output):
        if output.name not in table:
            raise ValueError(f"the {self.name!r} backend has no {model} kernels for "
                             f"output={output.name!r} yet; backend='numpy' has them")
        return table[output.name]


_DEVICE = re.compile(r"cpu|cuda|cuda:[0-9]+|auto")


def check_device(device):
    """`device` checked: "cpu", "cuda", "cuda:N" or "auto" (a torch.device is taken by its
    name)."""
    if type(device).__name__ == "device" and type(device).__module__ == "torch":
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    if not _DEVICE.fullmatch(device):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    return device


def _import_torch(why):
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"{why} needs PyTorch, which is not installed ({exc}); install it "
                          f"with the gpu extra: {GPU_EXTRA}") from None
    return torch


def _gpu_visible():
    """Whether PyTorch is installed and sees a CUDA GPU (device="auto")."""
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def get_backend(name, device="cpu"):
    """The backend called `name` (one of BACKENDS) running on `device` (see the module
    docstring: "cuda" means the torch backend, "auto" the GPU when one is visible)."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be one of {list(BACKENDS)}, got {name!r}")
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {name!r}")
    device = check_device(device)
    if device == "auto":
        device = "cuda" if name != "numpy" and _gpu_visible() else "cpu"
    if device != "cpu":
        if name == "numpy":
            raise ValueError(f"backend='numpy' runs on the CPU only, not on device={device!r}; "
                             f"the GPU backend is backend='torch'")
        name = "torch"
    if name == "compiled":
        from nadefast.backends._compiled import BACKEND
    elif name == "numpy":
        from nadefast.backends._numpy import BACKEND
    else:
        _import_torch(f"backend='torch'" if device == "cpu" else f"device={device!r}")
        from nadefast.backends._torch import backend_on

        return backend_on(device)
    return BACKEND
