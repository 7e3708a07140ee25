"""Minimal greyscale PNG output for looking at binary samples (stdlib + NumPy).

`sample_grid` tiles flat 0/1 samples into one image; `write_png` saves a 2-D
uint8 array as an 8-bit greyscale PNG.  Colour convention: a pixel value of 1
("ink") is drawn black and 0 is drawn white, i.e. black digits on white
paper; values in between (e.g. Bernoulli means) become shades of grey.
"""

from __future__ import annotations

import math
import numbers
import os
import struct
import zlib

import numpy as np

from nadefast._validation import check_int

__all__ = ["write_png", "sample_grid", "PAD_GREY"]

#: Grey level of the padding between images: distinct from both white (0)
#: and black (1) pixels, so image borders stay visible.
PAD_GREY = 128

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path, image: np.ndarray) -> None:
    """Write `image` to `path` as an 8-bit greyscale, non-interlaced PNG.

    Parameters
    ----------
    path : str or os.PathLike
    image : uint8 ndarray, shape (height, width); 0 is black, 255 white.
        Other dtypes are refused rather than silently rescaled.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must have dtype uint8, got {image.dtype}")
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (height, width), got shape {image.shape}")
    height, width = image.shape
    if height == 0 or width == 0 or max(height, width) > 2**31 - 1:
        raise ValueError(f"PNG dimensions must be in 1 .. 2**31 - 1, got {image.shape}")

    # IHDR: width, height, bit depth 8, colour type 0 (greyscale),
    # compression 0 (deflate), filter method 0, interlace 0 (none).
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # Every scanline starts with its filter-type byte; 0 = None (raw bytes).
    scanlines = np.zeros((height, width + 1), dtype=np.uint8)
    scanlines[:, 1:] = image
    data = zlib.compress(scanlines.tobytes(), 9)

    with open(os.fspath(path), "wb") as fh:
        fh.write(_PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))


def _check_count(value, name, minimum):
    return check_int(value, name, minimum=minimum)


def sample_grid(samples, image_shape, n_cols: int | None = None, pad: int = 1, scale: int = 1) -> np.ndarray:
    """Tile samples into one greyscale image, ready for `write_png`.

    Parameters
    ----------
    samples : array, shape (n, h * w) or (n, h, w), values in [0, 1]
        0/1 samples, or probabilities (e.g. Bernoulli means), each a row-major
        h x w image.  (Data stored column-major, such as the Caltech-101
        silhouettes, must be transposed per image first.)
    image_shape : (h, w)
    n_cols : images per grid row; default ceil(sqrt(n)).
    pad : pixels of grey (`PAD_GREY`) between neighbouring images and around
        the whole grid.  Unused cells of the last row are grey as well.
    scale : each pixel of the finished grid, padding included, becomes a
        scale x scale block.

    Returns
    -------
    uint8 ndarray of shape (scale * (rows * (h + pad) + pad),
    scale * (n_cols * (w + pad) + pad)) with rows = ceil(n / n_cols).
    A sample value v becomes grey level round(255 * (1 - v)): 1 is black,
    0 is white.
    """
    if (not isinstance(image_shape, (tuple, list)) or len(image_shape) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in image_shape)):
        raise ValueError(f"image_shape must be two positive ints (h, w), got {image_shape!r}")
    h, w = (int(s) for s in image_shape)
    pad = _check_count(pad, "pad", 0)
    scale = _check_count(scale, "scale", 1)

    x = np.asarray(samples)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"samples must be numeric or boolean, got dtype {x.dtype}")
    if x.ndim == 3 and x.shape[1:] == (h, w):
        x = x.reshape(x.shape[0], h * w)
    if x.ndim != 2 or x.shape[1] != h * w:
        raise ValueError(
            f"samples must have shape (n, {h * w}) or (n, {h}, {w}) for image_shape {(h, w)}, got {x.shape}"
        )
    n = x.shape[0]
    if n == 0:
        raise ValueError("samples is empty")
    x = x.astype(np.float64)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("sample values must be finite and within [0, 1]")

    n_cols = math.ceil(math.sqrt(n)) if n_cols is None else _check_count(n_cols, "n_cols", 1)
    n_rows = math.ceil(n / n_cols)

    tiles = np.rint(255.0 * (1.0 - x)).astype(np.uint8).reshape(n, h, w)
    grid = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad), PAD_GREY, dtype=np.uint8)
    for i in range(n):  # one slice assignment per image; n is small (a screenful)
        r, c = divmod(i, n_cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = tiles[i]
    if scale > 1:
        grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    return grid
