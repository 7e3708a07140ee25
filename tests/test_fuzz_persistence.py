"""Fuzz tests of save and load: bit-exact round trips under any file name,
model files whose arrays are missing, odd or of the wrong kind, damaged
bytes and zip structures, odd paths, and save errors that name the path
given.  Load fails with a ValueError naming the file (FileNotFoundError for
a missing one), never another exception.  Profiles and contract:
tests/fuzzing.py."""

import io
import os
import pathlib
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nadefast import NADE

import reference
from fuzzing import (assert_clear_error, call, fuzz, model_file_with_member, models, raises_clearly,
                     same_bits, valid_file_arrays, warnings_ignored)


# ------------------------------------------------------------------- save

NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00")


@fuzz(1)
@given(model=models(), name=st.text(NAME_CHARS, min_size=1, max_size=20), as_path=st.booleans())
def test_save_load_round_trip_is_bit_exact(model, name, as_path):
    assume(name not in (".", "..") and len(name.encode("utf-8")) < 200)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        model.save(pathlib.Path(path) if as_path else path)
        assert os.listdir(tmp) == [name], "save left temporary files behind"
        loaded = NADE.load(pathlib.Path(path) if not as_path else path)
    for attr in ("W_", "b_", "V_", "c_"):
        assert same_bits(getattr(loaded, attr), getattr(model, attr)), attr
    assert np.array_equal(loaded.ordering_, model.ordering_)
    assert loaded.n_features_in_ == model.n_features_in_
    X = np.tile(np.array([0, 1], dtype=np.uint8), (3, model.n_features_in_))[:, : model.n_features_in_]
    X[1] = 1 - X[1]
    assert same_bits(loaded.score_samples(X), model.score_samples(X))
    assert same_bits(loaded.sample(4, random_state=5), model.sample(4, random_state=5))


# Regression test: save's errors named its temporary file (.nadefast-XXXX.tmp), not the
# path it was given.
@pytest.mark.parametrize("where", ["missing-dir", "file-as-dir"])
def test_save_error_names_the_path_given(where):
    W, b, V, c = reference.random_params(np.random.default_rng(4), 2, 2)
    model = NADE.from_params(W, b, V, c)
    with tempfile.TemporaryDirectory() as tmp:
        if where == "missing-dir":
            path = os.path.join(tmp, "no-such-dir", "model.npz")
        else:
            open(os.path.join(tmp, "file"), "w").close()
            path = os.path.join(tmp, "file", "model.npz")
        with pytest.raises(OSError) as info:
            model.save(path)
        assert ".nadefast-" not in str(info.value), str(info.value)
        assert path in str(info.value) or os.path.dirname(path) in str(info.value)


# -------------------------------------------------------------- model files

ODD_ARRAYS = [np.array(1.5), np.array("nadefast.NADE"), np.array(b"nadefast.NADE"), np.zeros(0),
              np.zeros((2, 3)), np.zeros((3, 2), dtype=np.float32), np.full(3, np.nan),
              np.array([np.inf, 0, 1]), np.array([0, 1, 1]), np.array([2, 0, 1]), np.arange(3.0),
              np.array([0.5, 1, 2]), np.array([True, False, True]), np.array(2, dtype=np.int64),
              np.array(0), np.array(-1), np.array(2**63 - 1, dtype=np.int64),
              np.array(2**64 - 1, dtype=np.uint64), np.zeros(3, dtype=np.float16),
              np.zeros(3, dtype=complex), np.array(["a", "b", "c"]), np.zeros((1, 1, 1)),
              np.array(1, dtype=np.int8), np.zeros((2, 0))]


@st.composite
def model_files(draw):
    """The arrays of a model file with some keys dropped, replaced or added."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    arrays = valid_file_arrays(rng, draw(st.integers(1, 4)), draw(st.integers(1, 3)), dtype)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(arrays) + ["extra"]))
        action = draw(st.sampled_from(["drop", "replace", "replace", "cast"]))
        if action == "drop":
            arrays.pop(key, None)
        elif action == "replace":
            arrays[key] = draw(st.sampled_from(ODD_ARRAYS))
        elif key in arrays and arrays[key].dtype.kind in "biuf":
            with warnings_ignored():  # overflow in casts
                arrays[key] = arrays[key].astype(draw(st.sampled_from(
                    [np.float16, np.float32, np.float64, np.int64, np.uint8, object])))
    compressed = draw(st.booleans())
    return arrays, compressed


def _model_file_is_valid(arrays):
    keys = {"format", "format_version", "W", "b", "V", "c", "ordering"}
    if not keys <= arrays.keys():
        return False
    if any(a.dtype == object for a in arrays.values()):
        return False
    f, v = arrays["format"], arrays["format_version"]
    if f.shape != () or f.dtype.kind != "U" or str(f) != "nadefast.NADE":
        return False
    # versions 1 and 2 are understood (2 adds order-agnostic models, marked by a "kind" key)
    if v.shape != () or v.dtype.kind not in "iu" or int(v) not in (1, 2):
        return False
    W, b, V, c = (arrays[k] for k in "WbVc")
    if W.dtype not in (np.float32, np.float64) or any(a.dtype != W.dtype for a in (b, V, c)):
        return False
    if W.ndim != 2 or 0 in W.shape:
        return False
    d, n = W.shape
    if b.shape != (d,) or V.shape != (n, d) or c.shape != (n,):
        return False
    if not all(np.isfinite(a).all() for a in (W, b, V, c)):
        return False
    o = arrays["ordering"]
    return (o.dtype.kind in "iuf" and o.ndim == 1 and o.shape == (n,) and np.isfinite(o).all()
            and (o == np.round(o)).all() and np.array_equal(np.sort(o), np.arange(n)))


@fuzz(1.5)
@given(case=model_files())
def test_load_checks_every_array(case):
    arrays, compressed = case
    valid = _model_file_is_valid(arrays)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        with warnings_ignored():
            (np.savez_compressed if compressed else np.savez)(path, **arrays)
        model, exc = call(NADE.load, path)
    if valid:
        assert exc is None, f"load rejected a valid file: {type(exc).__name__}: {exc}"
        assert same_bits(model.W_, arrays["W"]) and same_bits(model.c_, arrays["c"])
        return
    assert exc is not None, f"load accepted an invalid file with keys {sorted(arrays)}"
    assert_clear_error(exc, [path], (ValueError,))


@st.composite
def corrupted_files(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    compressed = draw(st.booleans())
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **valid_file_arrays(rng))
    data = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "zero"]))
        pos = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif how == "truncate":
            del data[pos:]
        elif how == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[pos : pos + 16] = bytes(len(data[pos : pos + 16]))
        if not data:
            break
    return bytes(data), compressed


def _compressed_member_payload_offset():
    """Bytes of a savez_compressed model file and the offset of W's deflate stream."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez_compressed(buf, **valid_file_arrays(rng))
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("W.npy")
    # local header: 30 bytes + name + extra
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    return data, info.header_offset + 30 + name_len + extra_len


@fuzz(2)
@given(case=corrupted_files())
def test_load_corrupted_files(case):
    data, _ = case
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        with open(path, "wb") as f:
            f.write(data)
        model, exc = call(NADE.load, path)
    if exc is None:  # a harmless corruption (e.g. in a zip comment): the model must be sound
        for p in ("W_", "b_", "V_", "c_"):
            assert np.isfinite(getattr(model, p)).all()
        assert np.array_equal(np.sort(model.ordering_), np.arange(model.n_features_in_))
        return
    assert_clear_error(exc, [path], (ValueError,))


def _damaged_zip(how):
    """A model file whose zip structure is damaged in one specific way."""
    if how == "deflate":  # savez_compressed, W's deflate stream overwritten
        data, start = _compressed_member_payload_offset()
        data[start : start + 4] = b"\xff\xff\xff\xff"
        return bytes(data)
    buf = io.BytesIO()
    np.savez(buf, **valid_file_arrays(np.random.default_rng(0)))
    data = bytearray(buf.getvalue())
    entry = data.find(b"PK\x01\x02")  # first central-directory entry
    field, value = {"encrypted": (8, 1), "method": (10, 99)}[how]  # flag bits / compression
    data[entry + field : entry + field + 2] = value.to_bytes(2, "little")
    return bytes(data)


# Regression test: io.read_npz caught OSError/ValueError/EOFError/KeyError/BadZipFile only;
# zipfile and zlib raise zlib.error, RuntimeError, NotImplementedError too.
@pytest.mark.parametrize("how", ["deflate", "encrypted", "method"])
def test_load_damaged_zip_structures(how):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        pathlib.Path(path).write_bytes(_damaged_zip(how))
        with raises_clearly([path], (ValueError,)):
            NADE.load(path)


# Regression test: numpy's NpzFile returns raw bytes for a member without the .npy magic;
# load_model then failed with AttributeError.
@pytest.mark.parametrize("member", ["W.npy", "c.npy", "format_version.npy"])
def test_load_rejects_members_that_are_not_arrays(member):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        pathlib.Path(path).write_bytes(model_file_with_member(member, b"not an npy file"))
        with raises_clearly([path], (ValueError,)):
            NADE.load(path)


@pytest.mark.parametrize("what", ["missing", "directory", "empty", "npy", "text"])
def test_load_odd_paths(what):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.npz")
        if what == "directory":
            os.mkdir(path)
        elif what == "empty":
            open(path, "wb").close()
        elif what == "npy":
            with open(path, "wb") as f:
                np.save(f, np.zeros(3))
        elif what == "text":
            pathlib.Path(path).write_text("W,b,V,c\n1,2,3,4\n")
        # a missing file is a FileNotFoundError (an OSError), as open() gives
        types = (FileNotFoundError,) if what == "missing" else (ValueError,)
        with raises_clearly([path], types):
            NADE.load(path)
