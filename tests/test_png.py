"""Tests for nadefast._png: PNG bytes decoded independently, and the grid layout."""

import struct
import zlib

import numpy as np
import pytest

from nadefast._png import PAD_GREY, sample_grid, write_png


def decode_greyscale_png(data: bytes) -> np.ndarray:
    """A plain decoder for what write_png may produce: 8-bit grey, filter 0.

    Checks the signature, every chunk's CRC, the IHDR fields, and that the
    file ends with IEND.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad signature"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour, compression, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, compression, filt, interlace) == (8, 0, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (width + 1)
    rows = []
    for r in range(height):
        line = raw[r * (width + 1):(r + 1) * (width + 1)]
        assert line[0] == 0, "filter type must be 0"
        rows.append(list(line[1:]))
    return np.array(rows, dtype=np.uint8)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (28, 28), (7, 300)])
def test_write_png_roundtrip(tmp_path, shape):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path / "img.png"
    write_png(path, image)
    np.testing.assert_array_equal(decode_greyscale_png(path.read_bytes()), image)


def test_write_png_accepts_non_contiguous_views(tmp_path):
    image = np.arange(64, dtype=np.uint8).reshape(8, 8)[::2, ::-1]
    path = tmp_path / "view.png"
    write_png(str(path), image)
    np.testing.assert_array_equal(decode_greyscale_png(path.read_bytes()), image)


def test_write_png_readable_by_pillow(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="Pillow not installed")
    image = np.arange(12 * 17, dtype=np.uint8).reshape(12, 17)
    path = tmp_path / "pil.png"
    write_png(path, image)
    with Image.open(path) as im:
        im.load()  # decodes fully, verifying zlib stream and CRCs
        assert im.mode == "L" and im.size == (17, 12)
        np.testing.assert_array_equal(np.asarray(im), image)


@pytest.mark.parametrize(
    "image, error",
    [
        (np.zeros((3, 3), np.float64), TypeError),
        (np.zeros((3, 3), np.int64), TypeError),
        ([[0, 1], [1, 0]], TypeError),
        (np.zeros((3, 3, 3), np.uint8), ValueError),
        (np.zeros(5, np.uint8), ValueError),
        (np.zeros((0, 4), np.uint8), ValueError),
    ],
)
def test_write_png_rejects_bad_images(tmp_path, image, error):
    with pytest.raises(error):
        write_png(tmp_path / "bad.png", image)
    assert not (tmp_path / "bad.png").exists()


# ---------------------------------------------------------------- sample_grid

W, G, B = 255, PAD_GREY, 0  # white (0 sample), padding grey, black (1 sample)


def test_sample_grid_hand_example():
    samples = np.array([[1, 0, 0, 1],   # 2 x 2 image: diagonal
                        [0, 1, 1, 1],
                        [1, 1, 1, 1]], dtype=np.uint8)
    grid = sample_grid(samples, (2, 2), n_cols=2, pad=1)
    expected = np.array([
        [G, G, G, G, G, G, G],
        [G, B, W, G, W, B, G],
        [G, W, B, G, B, B, G],
        [G, G, G, G, G, G, G],
        [G, B, B, G, G, G, G],
        [G, B, B, G, G, G, G],
        [G, G, G, G, G, G, G],
    ], dtype=np.uint8)
    assert grid.dtype == np.uint8
    np.testing.assert_array_equal(grid, expected)


def test_sample_grid_no_padding_default_columns():
    # 4 samples -> ceil(sqrt(4)) = 2 columns; pad 0 places images edge to edge.
    samples = np.eye(4, dtype=np.uint8)  # image i has only pixel i set, 1 x 4 images
    grid = sample_grid(samples, (1, 4), pad=0)
    expected = 255 - 255 * np.array([[1, 0, 0, 0, 0, 1, 0, 0],
                                     [0, 0, 1, 0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(grid, expected.astype(np.uint8))


def test_sample_grid_row_major_images():
    # A non-square image shows whether reshaping is row-major (h, w).
    sample = np.array([[1, 1, 1, 0, 0, 0]])  # top row black, bottom row white for (2, 3)
    grid = sample_grid(sample, (2, 3), pad=0)
    np.testing.assert_array_equal(grid, [[0, 0, 0], [255, 255, 255]])
    # and 3-D input of the same image gives the same grid
    np.testing.assert_array_equal(sample_grid(sample.reshape(1, 2, 3), (2, 3), pad=0), grid)


def test_sample_grid_scale_repeats_pixels():
    rng = np.random.default_rng(0)
    samples = (rng.random((5, 12)) < 0.5).astype(np.uint8)
    base = sample_grid(samples, (3, 4), n_cols=3, pad=2)
    big = sample_grid(samples, (3, 4), n_cols=3, pad=2, scale=3)
    np.testing.assert_array_equal(big, np.kron(base, np.ones((3, 3), dtype=np.uint8)))
    # documented shape: scale * (rows * (h + pad) + pad), scale * (cols * (w + pad) + pad)
    assert big.shape == (3 * (2 * (3 + 2) + 2), 3 * (3 * (4 + 2) + 2))


def test_sample_grid_grey_levels_for_probabilities():
    grid = sample_grid(np.array([[0.0, 0.25, 0.5, 1.0]]), (1, 4), pad=0)
    # round(255 * (1 - v))
    np.testing.assert_array_equal(grid, [[255, 191, 128, 0]])


def test_sample_grid_writes_valid_png(tmp_path):
    samples = np.random.default_rng(1).random((10, 784)) < 0.2
    grid = sample_grid(samples, (28, 28), n_cols=5, scale=2)
    path = tmp_path / "grid.png"
    write_png(path, grid)
    np.testing.assert_array_equal(decode_greyscale_png(path.read_bytes()), grid)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"samples": np.zeros((2, 5)), "image_shape": (2, 2)}, ValueError),       # 5 != 4
        ({"samples": np.zeros((0, 4)), "image_shape": (2, 2)}, ValueError),       # empty
        ({"samples": np.full((1, 4), 2.0), "image_shape": (2, 2)}, ValueError),   # > 1
        ({"samples": np.full((1, 4), -0.1), "image_shape": (2, 2)}, ValueError),  # < 0
        ({"samples": np.full((1, 4), np.nan), "image_shape": (2, 2)}, ValueError),
        ({"samples": np.array([["a"] * 4]), "image_shape": (2, 2)}, TypeError),
        ({"samples": np.zeros((1, 4)), "image_shape": (4,)}, ValueError),
        ({"samples": np.zeros((1, 4)), "image_shape": (2, 2), "pad": -1}, ValueError),
        ({"samples": np.zeros((1, 4)), "image_shape": (2, 2), "scale": 0}, ValueError),
        ({"samples": np.zeros((1, 4)), "image_shape": (2, 2), "n_cols": 0}, ValueError),
        ({"samples": np.zeros((1, 4)), "image_shape": (2, 2), "scale": 1.5}, TypeError),
    ],
)
def test_sample_grid_rejects_bad_input(kwargs, error):
    with pytest.raises(error):
        sample_grid(**kwargs)
