"""The model file: a plain ``.npz`` (no pickle), written atomically.

Format version 3 holds these arrays (n features, d hidden units, L layers;
``f`` is float32 or float64, the model's dtype, the same for every
parameter array):

=================  ===============  ===========================================
key                shape, dtype     meaning
=================  ===============  ===========================================
``format``         (), str          always ``"nadefast.NADE"``
``format_version`` (), int64        3
``model``          (), str          ``"NADE"`` or ``"OrderAgnosticNADE"``
``output``         (), str          the output distribution: ``"bernoulli"``,
                                    ``"categorical"``, ``"gaussian_mixture"`` or
                                    ``"mixed"`` (one output per column)
``n_categories``   (n,), int64      categorical only: K_j of every feature (mixed: K_j
                                    of categorical columns, 2 bernoulli, 0 real)
``n_components``   (), int64        gaussian_mixture and mixed: C, components per variable
``means``,         (n,), float64    gaussian_mixture and mixed: the training data's column
``scales``                          means and standard deviations (standardisation;
                                    mixed: 0 and 1 in discrete columns)
``column_types``   (n,), str        mixed only: each column's type ("bernoulli",
                                    "categorical", "gaussian_mixture")
``table_schema``   (), str          mixed, fitted on a pandas DataFrame only: JSON of
                                    the column names, dtypes, types and category labels
``rho``            (n,), f          NADE with real columns only: activation rescaling
``activation``     (), str          NADE with gaussian_mixture output only: ``"relu"``
                                    for ReLU hidden units (absent: sigmoid)
``ordering``       (n,), int64      ``ordering[k]`` = feature at chain position k
``W``              (d, n_in), f     input weights
``b``              (d,), f          (first) hidden layer's bias
``V``              (n_out, d), f    output weights
``c``              (n_out,), f      output biases
``random_state``   (), int64        optional: the seed the model was fitted with (its
                                    ``random_state`` parameter, when that is an int)
``M``              (d, n), f        OrderAgnosticNADE: mask weights
``W_hidden``       (L-1, d, d), f   OrderAgnosticNADE: deeper layers' weights
``b_hidden``       (L-1, d), f      OrderAgnosticNADE: deeper layers' biases
=================  ===============  ===========================================

Bernoulli outputs have n_in = n_out = n: in a NADE, column k of W, row k of
V and c[k] belong to chain position k; in an OrderAgnosticNADE, column j of
W and M, row j of V and c[j] belong to feature j, and ``ordering`` is the
model's default ordering.  Categorical outputs give each variable K_j - 1
columns of W (its values 1..K_j - 1) and K_j rows of V and entries of c, in
blocks by chain position (NADE) or by feature (OrderAgnosticNADE);
docs/README.md has the layouts.  Older files still load: version 1 is a NADE (no
``model``, ``output``); version 2 marks an order-agnostic model with
``kind = "order_agnostic"``.  Readers refuse newer versions, naming them;
files are read with ``allow_pickle=False`` and every array is checked
before use.
"""

import errno
import os
import zipfile
import zlib

import numpy as np

from nadefast._atomic import write_npz_atomic
from nadefast._outputs import OUTPUTS, output_from_state

FILE_OUTPUTS = OUTPUTS + ("mixed",)  # the output names a file may hold
from nadefast._validation import FLOAT_DTYPES, check_ordering

FORMAT_NAME = "nadefast.NADE"
FORMAT_VERSION = 3
_KEYS = {"format", "format_version", "W", "b", "V", "c", "ordering"}
# parameters beyond W, b, V, c, by model
_EXTRA = {"NADE": [], "OrderAgnosticNADE": ["M", "W_hidden", "b_hidden"]}


def read_npz(path, what):
    """All arrays of the .npz at `path`, read without pickle.

    Raises FileNotFoundError if `path` does not exist, and ValueError naming
    the file (and `what` it should have been) if it is not a readable .npz of
    arrays: truncated, damaged, encrypted, oddly compressed, pickled, or
    holding members that are not .npy data.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"no such {what} file", path)
    damage = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
              RuntimeError, NotImplementedError)  # what numpy, zipfile and zlib raise
    try:
        loaded = np.load(path, allow_pickle=False)
    except damage as exc:
        raise ValueError(f"{path!r} is not a readable nadefast {what} file: {exc}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path!r} is not a nadefast {what} file: it holds a single array, "
                         f"not an .npz archive")
    arrays = {}
    with loaded as f:
        for key in f.files:
            try:
                arrays[key] = f[key]
            except damage as exc:
                raise ValueError(f"{path!r} is not a readable nadefast {what} file: member "
                                 f"{key!r}: {exc}") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # numpy returns raw bytes for non-.npy members
            raise ValueError(f"{path!r} is not a readable nadefast {what} file: member {key!r} "
                             f"is not an array")
    return arrays


def save_model(path, model, params, ordering, output="bernoulli", output_state=None,
               random_state=None):
    """Save a model (`model`: "NADE" or "OrderAgnosticNADE"), `params` in the
    public layout, in the current format version; `output_state` holds what the
    output distribution learnt (nadefast._outputs); `random_state` (an int, or
    None for none to record) is the seed it was fitted with."""
    arrays = {
        "format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "model": np.array(model),
        "output": np.array(output),
        "ordering": np.asarray(ordering, dtype=np.int64),
    }
    if random_state is not None:
        arrays["random_state"] = np.array(random_state, dtype=np.int64)
    arrays.update({k: np.asarray(v) for k, v in (output_state or {}).items()})
    arrays.update({k: np.asarray(v) for k, v in params.items()})
    write_npz_atomic(path, arrays)


def _model_kind(data, version, fail):
    """Which model a file holds, by its format version's rules."""
    if version >= 3:
        if "model" not in data or data["model"].shape != () or str(data["model"]) not in _EXTRA:
            fail(f"model must be one of {sorted(_EXTRA)}")
        if "output" not in data or str(data["output"]) not in FILE_OUTPUTS:
            fail(f"output must be one of {sorted(FILE_OUTPUTS)}")
        return str(data["model"])
    if "kind" not in data:
        return "NADE"
    if str(data["kind"]) != "order_agnostic":
        fail(f"unknown model kind {str(data['kind'])!r}")
    return "OrderAgnosticNADE"


def load_model(path):
    """Read and check a model file; returns (model, params, ordering, output,
    random_state): the model's class name, its parameters in the public layout,
    its ordering, its fitted output distribution, and the seed it was fitted
    with (an int, or None when the file has none).

    Raises FileNotFoundError when `path` does not exist and ValueError,
    naming the file and the problem, for anything that is not a complete,
    consistent nadefast model of a version this code understands.
    """
    path = os.fspath(path)
    data = read_npz(path, "model")

    def fail(problem):
        raise ValueError(f"{path!r} is not a valid nadefast model file: {problem}")

    missing = _KEYS - data.keys()
    if missing:
        fail(f"missing {sorted(missing)}")
    if data["format"].shape != () or str(data["format"]) != FORMAT_NAME:
        fail(f"format is {data['format']!r}, expected {FORMAT_NAME!r}")
    version = data["format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        fail("format_version is not an integer")
    if int(version) > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written in model format version {int(version)}, newer than this "
            f"nadefast understands ({FORMAT_VERSION}); upgrade nadefast to read it"
        )
    if int(version) < 1:
        fail(f"format_version {int(version)} is invalid")
    model = _model_kind(data, int(version), fail)
    W = data["W"]
    if W.ndim != 2 or 0 in W.shape:
        fail(f"W has shape {W.shape}")
    output, n = _output(data, int(version), W, fail)
    names = ["W", "b", "V", "c"] + _EXTRA[model] + (list(output.fixed_extras)
                                                    if model == "NADE" else [])
    missing = [k for k in names if k not in data]
    if missing:
        fail(f"missing {missing}")
    params = {k: data[k] for k in names}
    dtype = W.dtype
    if dtype not in FLOAT_DTYPES or any(a.dtype != dtype for a in params.values()):
        fail(f"parameters must all be float32 or all float64, got "
             f"{[str(a.dtype) for a in params.values()]}")
    try:
        ordering = check_ordering(data["ordering"], n)
    except (TypeError, ValueError) as exc:
        fail(str(exc))
    d, n_in, n_out = W.shape[0], int(output.in_widths(n).sum()), int(output.out_widths(n).sum())
    shapes = {"W": (d, n_in), "b": (d,), "V": (n_out, d), "c": (n_out,), "M": (d, n), "rho": (n,)}
    if "W_hidden" in params:
        L1 = params["W_hidden"].shape[0] if params["W_hidden"].ndim == 3 else -1
        shapes.update({"W_hidden": (L1, d, d), "b_hidden": (L1, d)})
    for name, shape in shapes.items():
        if name in params and params[name].shape != shape:
            fail(f"{name} has shape {params[name].shape}, expected {shape}")
    for name, arr in params.items():
        if not np.isfinite(arr).all():
            fail(f"{name} contains NaN or infinite values")
    seed = data.get("random_state")
    if seed is not None and (seed.shape != () or seed.dtype.kind not in "iu" or int(seed) < 0):
        fail("random_state must be a non-negative integer")
    return model, params, ordering, output, None if seed is None else int(seed)


def _output(data, version, W, fail):
    """The fitted output distribution a file describes (Bernoulli before version 3) and
    the number of features n it implies."""
    name = str(data["output"]) if version >= 3 else "bernoulli"
    if name == "categorical":
        K = data.get("n_categories")
        if K is None or K.ndim != 1 or K.size == 0 or K.dtype.kind not in "iu" or (K < 1).any():
            fail("n_categories must be a 1-D array of integers >= 1")
        return output_from_state(name, {"n_categories": K}), K.size
    if name == "gaussian_mixture":
        state = {k: data.get(k) for k in ("n_components", "means", "scales", "activation")}
        C, means, scales = state["n_components"], state["means"], state["scales"]
        activation = state["activation"]
        if activation is not None and (activation.shape != () or activation.dtype.kind != "U"
                                       or str(activation) not in ("sigmoid", "relu")):
            fail("activation must be 'sigmoid' or 'relu'")
        if activation is not None and str(data["model"]) != "NADE":
            fail("activation belongs to a NADE (fixed-order) model")
        if C is None or C.shape != () or C.dtype.kind not in "iu" or int(C) < 1:
            fail("n_components must be an integer >= 1")
        if (means is None or scales is None or means.shape != (W.shape[1],)
                or scales.shape != means.shape or not np.isfinite(means).all()
                or not (np.isfinite(scales) & (scales > 0)).all()):
            fail(f"means and scales must be {W.shape[1]} finite numbers (scales > 0)")
        return output_from_state(name, state), W.shape[1]
    if name == "mixed":
        return _mixed_output(data, fail)
    return output_from_state(name, {}), W.shape[1]


def _mixed_output(data, fail):
    """A mixed output's arrays, checked; (output, n)."""
    from nadefast._mixed import COLUMN_TYPES

    types = data.get("column_types")
    if types is None or types.ndim != 1 or types.size == 0 or types.dtype.kind != "U" \
            or not set(types.tolist()) <= set(COLUMN_TYPES):
        fail(f"column_types must be a 1-D array of names in {list(COLUMN_TYPES)}")
    n = types.size
    K, C = data.get("n_categories"), data.get("n_components")
    if K is None or K.shape != (n,) or K.dtype.kind not in "iu" \
            or (K[types == "categorical"] < 1).any():
        fail(f"n_categories must be {n} integers (>= 1 for categorical columns)")
    if C is None or C.shape != () or C.dtype.kind not in "iu" or int(C) < 1:
        fail("n_components must be an integer >= 1")
    means, scales = data.get("means"), data.get("scales")
    if (means is None or scales is None or means.shape != (n,) or scales.shape != (n,)
            or not np.isfinite(means).all() or not (np.isfinite(scales) & (scales > 0)).all()):
        fail(f"means and scales must be {n} finite numbers (scales > 0)")
    state = {k: data[k] for k in ("column_types", "n_categories", "n_components", "means",
                                  "scales")}
    if "table_schema" in data:
        state["table_schema"] = data["table_schema"]
    try:
        return output_from_state("mixed", state), n
    except (TypeError, ValueError, KeyError) as exc:
        fail(f"table_schema: {exc}")
