"""Tests for the natural-image patches: nadefast/_patch_data.py (the protocol, on synthetic
images: no scikit-image needed) and nadefast.datasets.load_image_patches (built from the
photographs scikit-image ships: skipped without scikit-image)."""

import numpy as np
import pytest

from nadefast import _patch_data as pd


def synthetic_images(seed=0):
    """Two small training images and one test image of random grey levels."""
    rng = np.random.default_rng(seed)
    return ([rng.integers(0, 256, (40, 30), dtype=np.uint8),
             rng.integers(0, 256, (36, 24), dtype=np.uint8)],
            [rng.integers(0, 256, (24, 16), dtype=np.uint8)])


def small_patches(seed=pd.SEED):
    train, test = synthetic_images()
    return make(train, test, seed=seed), train, test


def make(train, test, seed=pd.SEED):
    return pd.make_patches(train, test, seed=seed, train_per_image=50, valid_per_image=20,
                           valid_rows=12)


def noise_of(x, pixels):
    """256 * (dequantised pixel - patch mean) - (grey level - patch mean of grey levels), with
    the dropped last pixel restored as minus the sum of the others: u - mean(u), u in [0, 1)."""
    full = np.hstack([x, -x.sum(axis=1, keepdims=True)])
    return 256.0 * full - (pixels - pixels.mean(axis=1, keepdims=True))


def pixels_at(images, index, positions):
    return np.array([images[i][r:r + 8, c:c + 8].ravel()
                     for i, (r, c) in zip(index, positions)], dtype=np.float64)


# ------------------------------------------------------------ the protocol, synthetic images

def test_shapes_dtypes_and_layout():
    out, _, _ = small_patches()
    assert list(out) == [f"{s}{k}" for s in ("train", "valid", "test")
                         for k in ("", "_image", "_position")]
    # test: every non-overlapping tile of the 24 x 16 test image, 3 x 2, row-major
    assert [out[s].shape for s in ("train", "valid", "test")] == [(100, 63), (40, 63), (6, 63)]
    for s in ("train", "valid", "test"):
        assert out[s].dtype == np.float64 and out[s].flags.c_contiguous
        assert np.isfinite(out[s]).all()
        assert out[f"{s}_image"].dtype == np.uint8
        assert out[f"{s}_position"].dtype == np.int32
    np.testing.assert_array_equal(out["test_position"],
                                  [[0, 0], [0, 8], [8, 0], [8, 8], [16, 0], [16, 8]])
    assert (out["test_image"] == 2).all()   # test images are numbered after the training ones


def test_patches_are_dequantised_centred_pixels_of_their_images():
    out, train, test = small_patches()
    images = train + test
    for s in ("train", "valid", "test"):
        pixels = pixels_at(images, out[f"{s}_image"], out[f"{s}_position"])
        noise = noise_of(out[s], pixels)
        # u - mean(u) with u in [0, 1): every entry in (-1, 1), each row's spread below 1
        assert np.abs(noise).max() < 1
        assert (noise.max(axis=1) - noise.min(axis=1)).max() < 1
        # and the noise is there: uniform u has variance 1/12
        assert 0.06 < noise.var() < 0.1


def test_dequantise_and_center_arithmetic():
    pixels = np.arange(64, dtype=np.uint8)[None, :].repeat(2, axis=0)
    u = np.vstack([np.zeros(64), np.full(64, 0.5)])
    x = pd.dequantise_and_center(pixels, u)
    expected = (np.arange(63) - 31.5) / 256.0
    np.testing.assert_allclose(x, [expected, expected], rtol=0, atol=1e-15)


def test_train_and_valid_regions_do_not_overlap():
    out, train, _ = small_patches()
    for index, image in enumerate(train):
        height = image.shape[0]
        tr = out["train_position"][out["train_image"] == index]
        va = out["valid_position"][out["valid_image"] == index]
        assert len(tr) == 50 and len(va) == 20
        assert tr[:, 0].max() + 8 <= height - 12          # train patches end above the band
        assert va[:, 0].min() >= height - 12              # valid patches lie inside it
        assert va[:, 0].max() + 8 <= height and tr[:, 1].max() + 8 <= image.shape[1]
        # distinct corners
        assert len(np.unique(tr, axis=0)) == len(tr) and len(np.unique(va, axis=0)) == len(va)


def test_deterministic_and_seeded():
    a, _, _ = small_patches()
    b, _, _ = small_patches()
    c, _, _ = small_patches(seed=pd.SEED + 1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(a["train"], c["train"])
    assert not np.array_equal(a["train_position"], c["train_position"])


def test_rows_are_shuffled_across_images():
    out, _, _ = small_patches()
    assert np.any(np.diff(out["train_image"].astype(int)) < 0)


def test_too_small_image_is_refused():
    train, test = synthetic_images()
    with pytest.raises(ValueError, match="too small"):
        make([train[0][:15]], test)


def test_missing_scikit_image_is_explained(tmp_path, monkeypatch):
    from nadefast.datasets import load_image_patches

    monkeypatch.setenv("NADEFAST_CACHE", str(tmp_path))
    monkeypatch.setattr(pd.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install \"nadefast\[images\]\""):
        load_image_patches()
    assert not list(tmp_path.iterdir())


def test_read_image_checks_presence_and_digest(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        pd.read_image(tmp_path, "camera")
    (tmp_path / "camera.png").write_bytes(b"\x89PNG not the camera")
    with pytest.raises(ValueError, match="SHA-256"):
        pd.read_image(tmp_path, "camera")


# ------------------------------------------------------------ the built set (scikit-image)

@pytest.fixture(scope="module")
def patches():
    pytest.importorskip("skimage")
    from nadefast.datasets import load_image_patches

    return load_image_patches(return_sources=True)


def test_load_image_patches_shapes_and_values(patches):
    for split, rows in (("train", 40000), ("valid", 4000), ("test", 4096)):
        x = patches[split]
        assert x.shape == (rows, 63) and x.dtype == np.float64 and x.flags.c_contiguous
        assert np.isfinite(x).all()
        # centred dequantised values in [0, 1): |x| < 1, and each patch's 64 values sum to 0
        assert np.abs(x).max() < 1
        assert np.abs(np.hstack([x, -x.sum(1, keepdims=True)]).sum(1)).max() < 1e-12


def test_load_image_patches_splits_by_image(patches):
    names = pd.IMAGES
    train_images = {names[i] for i in np.unique(patches["train_image"])}
    valid_images = {names[i] for i in np.unique(patches["valid_image"])}
    test_images = {names[i] for i in np.unique(patches["test_image"])}
    assert train_images == valid_images == {"brick", "clock", "grass", "gravel"}
    assert test_images == {"camera"}
    assert not (train_images | valid_images) & test_images
    assert np.bincount(patches["train_image"]).tolist() == [10000] * 4
    assert np.bincount(patches["valid_image"]).tolist() == [1000] * 4
    # the test set tiles all of camera (512 x 512), each pixel once
    cover = np.zeros((512, 512), int)
    for r, c in patches["test_position"]:
        cover[r:r + 8, c:c + 8] += 1
    assert (cover == 1).all()


def test_load_image_patches_match_the_installed_images(patches):
    images = pd.read_images()
    by_index = [images[n] for n in pd.IMAGES]
    for split in ("train", "valid", "test"):
        rows = slice(0, 500)
        pixels = pixels_at(by_index, patches[f"{split}_image"][rows],
                           patches[f"{split}_position"][rows])
        assert np.abs(noise_of(patches[split][rows], pixels)).max() < 1
    for index, name in enumerate(pd.TRAIN_IMAGES):
        height = images[name].shape[0]
        assert patches["train_position"][patches["train_image"] == index, 0].max() + 8 <= height - 64
        assert patches["valid_position"][patches["valid_image"] == index, 0].min() >= height - 64


def test_load_image_patches_is_deterministic(patches, tmp_path, monkeypatch):
    from nadefast.datasets import load_image_patches

    monkeypatch.setenv("NADEFAST_CACHE", str(tmp_path))
    fresh = load_image_patches(return_sources=True)      # built anew into tmp_path
    assert (tmp_path / pd.PATCH_FILE_NAME).is_file()
    again = load_image_patches(return_sources=True)      # read back from there
    assert sorted(fresh) == sorted(patches)
    for key in patches:
        np.testing.assert_array_equal(fresh[key], patches[key], err_msg=key)
        np.testing.assert_array_equal(again[key], patches[key], err_msg=key)


def test_stale_patch_file_is_refused(tmp_path, monkeypatch):
    from nadefast.datasets import load_image_patches

    monkeypatch.setenv("NADEFAST_CACHE", str(tmp_path))
    np.savez(tmp_path / pd.PATCH_FILE_NAME, train=np.zeros((2, 63)))
    with pytest.raises(ValueError, match="delete it"):
        load_image_patches()
