"""Natural-image patches: 8 x 8 patches of the CC0 / public-domain greyscale photographs that
scikit-image ships, built on first use (real values, 63 features; the RNADE protocol).

No data ship with nadefast.  ``nadefast.datasets.load_image_patches`` reads
``image_patches_v1.npz`` from the user cache (``$NADEFAST_CACHE``, else
``$XDG_CACHE_HOME/nadefast``, else ``~/.cache/nadefast``, as the demo digits); when it is not
there, `ensure_patch_file` builds it from the image files below, found inside the installed
scikit-image package (``pip install "nadefast[images]"``), and writes it atomically.  Nothing
is downloaded: the files are read from the package directory (never through
``skimage.data``'s fetcher, which may download), and their SHA-256 digests are checked.

Sources (inside the scikit-image wheel, ``skimage/data/``; statements quoted from the
docstrings of the ``skimage.data`` functions of scikit-image 0.26.0; see
``tools/LICENSE-scikit-image-data.txt``)
    ======  ====================  ==========  =====  =================================================
    name    file                  shape       split  licence statement
    ======  ====================  ==========  =====  =================================================
    brick   ``brick.png``         512 x 512   train  "licensed under the Creative Commons CC0 License"
    clock   ``clock_motion.png``  300 x 400   train  "Released into the public domain by the
                                                     photographer (Stefan van der Walt)."
    grass   ``grass.png``         512 x 512   train  "licensed under the Creative Commons CC0 License"
    gravel  ``gravel.png``        512 x 512   train  "licensed under the Creative Commons CC0 License"
    camera  ``camera.png``        512 x 512   test   "No copyright restrictions. CC0 by the
                                                     photographer (Lav Varshney)."
    ======  ====================  ==========  =====  =================================================

    All are 8-bit greyscale PNGs (grey levels 0-255).  The test image is none of the training
    images, so the test log-likelihood measures how a model generalises to a new photograph.

Protocol (all randomness from one ``np.random.default_rng(SEED)``, PCG64, in this order)
    1. positions.  Each training image of height H is cut in two: patches for ``train`` lie
       wholly in rows ``0 .. H - 65`` and patches for ``valid`` wholly in the last
       ``VALID_ROWS = 64`` rows, so no training patch shares a pixel with a validation patch.
       For each training image, in the order brick, clock, grass, gravel: the top-left
       corners of ``TRAIN_PER_IMAGE = 10000`` train patches, ``rng.choice(n, 10000,
       replace=False)`` over the n corners of its train region (row-major), then those of
       ``VALID_PER_IMAGE = 1000`` valid patches likewise over its valid region.  (Distinct
       corners; patches overlap one another, as in the BSDS300 sets.)  ``test`` is every
       non-overlapping 8 x 8 tile of camera, row-major: 64 x 64 = 4096 patches, each test
       pixel scored once.
    2. shuffle.  ``rng.permutation`` of the 40000 train rows (concatenated in image order),
       then of the 4000 valid rows.  The test rows stay in tile order.
    3. dequantise.  ``u = rng.random((rows, 64))`` for train, then valid, then test (rows in
       their final order); each patch's 64 pixels, row-major, become ``(p + u) / 256``: the
       grey level p in 0..255 plus uniform noise in [0, 1), divided by 256, so in [0, 1).
    4. remove the DC component.  Subtract each patch's mean (of its 64 dequantised values)
       and drop the last pixel (bottom right; the 64 values now sum to zero, so it is minus
       the sum of the other 63): 63 features, float64.

    This is the BSDS300 protocol of RNADE (Uria, Murray & Larochelle 2013): dequantise by
    uniform noise, divide by 256, subtract the mean, drop the last pixel; on other images and
    fewer patches (theirs: 200 training images, 1 000 000 patches; 100 test images).
    Densities of these 63-dimensional vectors are in nats per patch, for the units above.

Output layout (``np.savez``), for each split S in train/valid/test
    S           float64 (rows, 63)  the patches as above
    S_image     uint8   (rows,)     index into ``IMAGES`` of the image the patch comes from
    S_position  int32   (rows, 2)   (row, column) of the patch's top-left pixel in it
    version     int64   ()          ``VERSION``: the file name carries it too

Usage (the same build by hand; scikit-image must be installed)::

    python tools/make_image_patches.py [-o OUT]

Building twice gives identical arrays.  Bit-for-bit regeneration assumes the same NumPy
``Generator`` streams (NEP 19 does not promise them across versions); checked with NumPy 2.4.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

from nadefast._demo_data import cache_dir

# (file inside skimage/data/, SHA-256 of the file, shape).  The digests are those of
# scikit-image 0.26.0's wheel and equal the ones its own registry (skimage/data/_registry.py)
# lists for these files, observed on 2026-12-04.
SOURCES = {
    "brick": ("brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
              (512, 512)),
    "clock": ("clock_motion.png",
              "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955", (300, 400)),
    "grass": ("grass.png", "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
              (512, 512)),
    "gravel": ("gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
               (512, 512)),
    "camera": ("camera.png", "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
               (512, 512)),
}

#: Images whose patches form train and valid, and the test images, in build order.
TRAIN_IMAGES = ("brick", "clock", "grass", "gravel")
TEST_IMAGES = ("camera",)
#: The index stored in S_image refers to this tuple.
IMAGES = TRAIN_IMAGES + TEST_IMAGES

PATCH = 8                 # patches are PATCH x PATCH pixels
N_FEATURES = PATCH * PATCH - 1
TRAIN_PER_IMAGE = 10000
VALID_PER_IMAGE = 1000
VALID_ROWS = 64           # the bottom band of each training image that valid patches come from

# Arbitrary but fixed: the year of the RNADE paper (Uria, Murray & Larochelle 2013).
SEED = 2013

#: Bumped whenever the protocol changes, so that an older cached file is never read.
VERSION = 1
PATCH_FILE_NAME = f"image_patches_v{VERSION}.npz"

SPLITS = ("train", "valid", "test")

MISSING = ("the image patches are built from the greyscale photographs that scikit-image ships "
           "(CC0 / public domain), and scikit-image is not installed: "
           "pip install \"nadefast[images]\" (or scikit-image)")


def installed_image_dir() -> Path:
    """``skimage/data`` of the installed scikit-image (found without importing it)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(MISSING)
    return Path(spec.origin).parent / "data"


def read_image(directory: str | Path, name: str) -> np.ndarray:
    """The uint8 (H, W) grey levels of image `name` (a key of SOURCES) from `directory`.

    Raises FileNotFoundError if the file is missing (this scikit-image does not bundle it;
    nadefast does not download it), ValueError if its SHA-256 or its shape is not the
    expected one.
    """
    file_name, digest, shape = SOURCES[name]
    path = Path(directory) / file_name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the installed scikit-image does not bundle {file_name} "
            f"(nadefast reads it from the package and never downloads it); "
            f"scikit-image 0.26 ships it")
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != digest:
        raise ValueError(f"SHA-256 of {path} is {got}, expected {digest} (another release of "
                         f"this image; the patches are defined on scikit-image 0.26.0's)")
    try:
        from skimage.io import imread
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(MISSING) from exc
    image = np.asarray(imread(path))
    if image.dtype != np.uint8 or image.shape != shape:
        raise ValueError(f"{path}: expected a {shape} uint8 greyscale image, got "
                         f"{image.dtype} {image.shape}")
    return image


def read_images(directory: str | Path | None = None) -> dict[str, np.ndarray]:
    """Every image of SOURCES, keyed by name, from `directory` (default: the installed one)."""
    directory = installed_image_dir() if directory is None else directory
    return {name: read_image(directory, name) for name in IMAGES}


def _corners(rows: range, cols: range) -> np.ndarray:
    """(n, 2) int32 top-left corners (row, column), row-major: every pair of `rows` x `cols`."""
    r, c = np.meshgrid(np.asarray(rows), np.asarray(cols), indexing="ij")
    return np.stack([r.ravel(), c.ravel()], axis=1).astype(np.int32)


def _cut(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(n, 64) grey levels of the patches at `corners`, each row-major."""
    offsets = np.arange(PATCH)
    rows = corners[:, 0, None, None] + offsets[None, :, None]
    cols = corners[:, 1, None, None] + offsets[None, None, :]
    return image[rows, cols].reshape(len(corners), PATCH * PATCH)


def dequantise_and_center(pixels: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Steps 3-4 of the protocol: ``(pixels + u) / 256``, minus each row's mean, last column
    dropped.  `pixels` (n, 64) grey levels, `u` (n, 64) in [0, 1).  Returns (n, 63) float64."""
    x = (np.asarray(pixels, dtype=np.float64) + u) / 256.0
    x -= x.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(x[:, :-1])


def make_patches(
    train_images: list[np.ndarray],
    test_images: list[np.ndarray],
    seed: int = SEED,
    train_per_image: int = TRAIN_PER_IMAGE,
    valid_per_image: int = VALID_PER_IMAGE,
    valid_rows: int = VALID_ROWS,
) -> dict[str, np.ndarray]:
    """The protocol of the module docstring on given images (uint8 2-D arrays).

    Image indices in ``S_image`` count the training images first, then the test images.
    Returns the arrays of the output layout, less ``version``.
    """
    rng = np.random.default_rng(seed)
    pieces = {"train": [], "valid": []}
    for index, image in enumerate(train_images):
        height, width = image.shape
        if height - valid_rows < PATCH or valid_rows < PATCH or width < PATCH:
            raise ValueError(f"training image {index} ({height} x {width}) is too small for "
                             f"{PATCH} x {PATCH} patches above and within a band of "
                             f"{valid_rows} rows")
        cols = range(0, width - PATCH + 1)
        regions = {"train": (range(0, height - valid_rows - PATCH + 1), train_per_image),
                   "valid": (range(height - valid_rows, height - PATCH + 1), valid_per_image)}
        for split, (rows, count) in regions.items():
            corners = _corners(rows, cols)
            chosen = corners[rng.choice(len(corners), count, replace=False)]
            pieces[split].append((index, image, chosen))

    out: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    for split in ("train", "valid"):
        pixels = np.concatenate([_cut(image, c) for _, image, c in pieces[split]])
        image_index = np.concatenate([np.full(len(c), i, np.uint8) for i, _, c in pieces[split]])
        positions = np.concatenate([c for _, _, c in pieces[split]])
        order = rng.permutation(len(pixels))
        raw[split] = pixels[order]
        out[f"{split}_image"] = image_index[order]
        out[f"{split}_position"] = np.ascontiguousarray(positions[order])

    test_pixels, test_index, test_positions = [], [], []
    for offset, image in enumerate(test_images):
        height, width = image.shape
        corners = _corners(range(0, height - PATCH + 1, PATCH), range(0, width - PATCH + 1, PATCH))
        test_pixels.append(_cut(image, corners))
        test_index.append(np.full(len(corners), len(train_images) + offset, np.uint8))
        test_positions.append(corners)
    raw["test"] = np.concatenate(test_pixels)
    out["test_image"] = np.concatenate(test_index)
    out["test_position"] = np.concatenate(test_positions)

    for split in SPLITS:
        out[split] = dequantise_and_center(raw[split], rng.random(raw[split].shape))
    return {key: out[key] for split in SPLITS
            for key in (split, f"{split}_image", f"{split}_position")}


def build(directory: str | Path | None = None) -> dict[str, np.ndarray]:
    """The installed (or `directory`'s) images -> arrays ready for ``np.savez``."""
    images = read_images(directory)
    arrays = make_patches([images[n] for n in TRAIN_IMAGES], [images[n] for n in TEST_IMAGES])
    arrays["version"] = np.array(VERSION, dtype=np.int64)
    return arrays


def ensure_patch_file() -> Path:
    """Path of the built patch file, building it into the cache first if needed."""
    path = cache_dir() / PATCH_FILE_NAME
    if not path.is_file():
        from nadefast._atomic import write_npz_atomic

        arrays = build()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz_atomic(path, arrays)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", help="directory holding the PNG files (default: the "
                        "installed scikit-image's skimage/data)")
    parser.add_argument("-o", "--output", default=str(cache_dir() / PATCH_FILE_NAME),
                        help="output .npz (default: %(default)s)")
    args = parser.parse_args(argv)

    arrays = build(args.images)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez(output, **arrays)
    for split in SPLITS:
        x = arrays[split]
        counts = np.bincount(arrays[f"{split}_image"], minlength=len(IMAGES))
        per_image = ", ".join(f"{name} {n}" for name, n in zip(IMAGES, counts) if n)
        print(f"{split:5s} {x.shape[0]:6d} x {x.shape[1]}  sd {x.std():.4f}  ({per_image})")
    print(f"wrote {output} ({output.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
