"""Fuzz tests of the command line, nadefast.cli.main: random command lines
built from the subcommands, their options and odd values, run on a folder of
small files (good and damaged models and data).  main must return 0/1/2 or
exit with status 2 (0 for --help), with at most one line on stderr and never
a traceback.  Expensive commands only have their parsing fuzzed.  Profiles
and contract: tests/fuzzing.py."""

import contextlib
import io
import os
import shutil
import tempfile
from unittest import mock

import numpy as np
import pytest
from hypothesis import event, example, given, note
from hypothesis import strategies as st

import nadefast.cli
import nadefast.datasets
from nadefast import NADE

import reference
from fuzzing import fuzz, model_file_with_member, warnings_ignored


# ------------------------------------------------------------------- CLI

SUBCOMMANDS = ["demo", "train", "eval", "sample"]
INTS = ["1", "2", "3"] * 4 + ["0", "-1", "-3", "x", "", "1e3", "0x10", "\u0661", " 2", "1000000000000",
        "99999999999", "-99999999999", "2147483648", "10000000000000000000000"]
FLOATS = ["1e-3", "0.1", "0.5"] * 3 + ["nan", "inf", "-inf", "1e400", "0", "-1", "x", "1e-320", ""]
OUTS = ["o.npz", "o.npy", "o.png", "subdir", "nodir/o.npz", "model.npz", "-", "", "data.npz",
        "o\nnewline.npz"]
SHAPES = ["2x2", "4x1", "1x4", "0x4", "axb", "4X1", "-2x-2", "2x2x2", "x", "", "28x28", "2x"]
DATA = ["data.npz", "data.npy", "data.txt", "bad.npy", "wide.npy",
        "subdir", "missing.npy", "data3.npy", "onlyvalid.npz", "obj.npy", "adult", "model.npz",
        "data\nnewline.npy", "empty.txt", "text.txt", "bad\nname.npy", "notmodel.npz",
        "trunc.npz", "rawW.npz", "empty.npz"]
MODELS = ["model.npz", "model32.npz", "notmodel.npz", "empty.npz", "data.npz", "missing.npz",
          "subdir", "data.npy", "trunc.npz", "rawW.npz"]
SUB_OPTIONS = {
    "demo": {"--hidden": INTS, "--epochs": INTS, "--patience": INTS, "--lr": FLOATS,
             "--seed": INTS, "--out": OUTS, "--n-jobs": INTS},
    "train": {"--valid": DATA, "--test": DATA, "--hidden": INTS, "--epochs": INTS,
              "--batch-size": INTS, "--lr": FLOATS, "--patience": INTS,
              "--dtype": ["float32", "float64", "float16", ""], "--ordering": ["identity", "random", "r"],
              "--seed": INTS, "--out": OUTS, "--quiet": None, "--n-jobs": INTS},
    "eval": {"--split": ["train", "valid", "test", "TEST", "", "nope"], "--n-jobs": INTS},
    "sample": {"-n": INTS, "--out": OUTS, "--png": OUTS, "--shape": SHAPES, "--scale": INTS,
               "--seed": INTS, "--n-jobs": INTS},
}
STRAY = ["--help", "-h", "--", "--frobnicate", "-x", "--hid", "--n", "--out=o.npz", "--lr=nan",
         "--hidden=2", "-n5", "--n-jobs=99999999999", "--quiet=1", "-"]
ALL_VALUES = sorted({v for opts in SUB_OPTIONS.values() for vals in opts.values() if vals
                     for v in vals} | set(DATA) | set(MODELS))


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A folder of small files the fuzzed command lines refer to."""
    root = tmp_path_factory.mktemp("cli-files")
    rng = np.random.default_rng(5)
    W, b, V, c = reference.random_params(rng, 4, 3)
    NADE.from_params(W, b, V, c).save(root / "model.npz")
    NADE.from_params(W, b, V, c, dtype="float32", ordering=[3, 1, 0, 2]).save(root / "model32.npz")
    X = (rng.random((12, 4)) < 0.5).astype(np.uint8)
    np.savez(root / "data.npz", train=X[:6], valid=X[6:9], test=X[9:])
    np.savez(root / "onlyvalid.npz", valid=X[:3])
    np.save(root / "data.npy", X)
    np.save(root / "data3.npy", X[:, :3])
    np.save(root / "bad.npy", np.full((3, 4), 2))
    np.save(root / "wide.npy", np.zeros((2, 4, 1)))
    np.save(root / "obj.npy", np.zeros((2, 4), dtype=object), allow_pickle=True)
    np.savetxt(root / "data.txt", X, fmt="%d")
    (root / "notmodel.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (root / "empty.npz").write_bytes(b"")
    np.save(root / "bad\nname.npy", np.full((3, 4), 2))
    (root / "empty.txt").write_text("")
    (root / "text.txt").write_text("0 1 0 1\n1 1 a 0\n")
    (root / "trunc.npz").write_bytes((root / "model.npz").read_bytes()[:200])
    (root / "rawW.npz").write_bytes(model_file_with_member("W.npy", b"not an npy file"))
    (root / "subdir").mkdir()
    (root / "datasets").mkdir()  # an empty NADEFAST_DATA
    return root


def _guard(real, cheap):
    """Run the real command only when it is cheap; otherwise only parsing is fuzzed."""

    def command(args):
        return real(args) if cheap(args) else 0

    return command


_CHEAP = {
    # the demo runs on tiny stand-in digits (_tiny_demo) when asked for little training
    "cmd_demo": lambda a: a.hidden * a.epochs <= 5000,
    # tiny data: an epoch costs microseconds per hidden unit; n_hidden >= 1e9 must fail fast
    "cmd_train": lambda a: a.hidden * a.epochs <= 2 * 10**6 or a.hidden >= 10**9,
    "cmd_eval": lambda a: True,
    "cmd_sample": lambda a: (a.n <= 2000 or a.n >= 10**11) and a.scale <= 8,
}

text_token = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def argvs(draw):
    anything = st.one_of(st.sampled_from(STRAY), st.sampled_from(ALL_VALUES), text_token)
    if draw(st.integers(0, 9)) == 0:
        return draw(st.lists(anything, max_size=6))
    sub = draw(st.sampled_from(SUBCOMMANDS * 4 + ["", "trian", "-h", "--version", "help"]))
    argv = [sub]
    if sub in ("eval", "sample") and draw(st.integers(0, 9)):
        argv.append(draw(st.sampled_from(MODELS[:2] * 4 + MODELS)))
    if sub in ("eval", "train") and draw(st.integers(0, 9)):
        argv.append(draw(st.sampled_from(DATA[:3] * 4 + DATA)))
    options = SUB_OPTIONS.get(sub, SUB_OPTIONS["train"])
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 9)) == 0:
            argv.append(draw(anything))
            continue
        option = draw(st.sampled_from(sorted(options)))
        argv.append(option)
        values = options[option]
        if values is not None and draw(st.integers(0, 9)):
            argv.append(draw(st.sampled_from(values) if draw(st.integers(0, 3)) else anything))
    return argv


def _tiny_demo(return_labels=False):
    """A stand-in for the bundled digits: 784 features, a few dozen rows."""
    rng = np.random.default_rng(0)
    return {split: (rng.random((rows, 784)) < 0.3).astype(np.uint8)
            for split, rows in (("train", 24), ("valid", 8), ("test", 8))}


def run_cli(argv, files):
    """main(argv) in a fresh copy of the files: (code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.join(tmp, "w")
        shutil.copytree(files, work)
        cwd = os.getcwd()
        patches = [mock.patch.object(nadefast.cli, name, _guard(getattr(nadefast.cli, name), cheap))
                   for name, cheap in _CHEAP.items()]
        try:
            os.chdir(work)
            with contextlib.ExitStack() as stack:
                for p in patches:
                    stack.enter_context(p)
                stack.enter_context(mock.patch.dict(os.environ, {"NADEFAST_DATA": str(files / "datasets")}))
                stack.enter_context(mock.patch.object(nadefast.datasets, "load_demo", _tiny_demo))
                stack.enter_context(contextlib.redirect_stdout(out))
                stack.enter_context(contextlib.redirect_stderr(err))
                stack.enter_context(warnings_ignored())
                try:
                    code = nadefast.cli.main(list(argv))
                except SystemExit as exc:
                    code = ("exit", exc.code)
        finally:
            os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def check_cli_outcome(argv, code, out, err):
    with contextlib.suppress(Exception):  # outside a hypothesis test there is nothing to note
        note(f"argv={argv!r} code={code!r}\nstderr={err!r}")
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n") if err else []
    if isinstance(code, tuple):  # SystemExit
        status = code[1]
        if status == 0:  # --help / -h
            assert "usage:" in out and not err, (out, err)
            return
        assert status == 2, f"SystemExit({status!r})"
        assert len(lines) == 1, f"usage error on {len(lines)} lines: {err!r}"
        assert "error:" in lines[0]
        return
    assert code in (0, 1, 2), f"main returned {code!r}"
    if code == 0:  # nothing on stderr but warnings, one line each (a fit's ConvergenceWarning)
        assert all(line.startswith("nadefast: warning: ") for line in lines), err
    else:
        assert len(lines) == 1, f"error on {len(lines)} lines: {err!r}"
        assert lines[0].startswith("nadefast:") and len(lines[0]) > len("nadefast: error: ")


@fuzz(2)
@given(argv=argvs())
@example(argv=["sample", "model.npz", "-n", "1000000000000", "--out", "o.npy"])
@example(argv=["train", "data.npz", "--out", "subdir"])
@example(argv=["frobnicate\nsecond line"])
@example(argv=["demo", "--epochs", "1", "--hidden", "2", "--seed", "3"])
@example(argv=["train", "data.npz", "--epochs", "2", "--hidden", "3", "--dtype", "float64",
               "--ordering", "random", "--seed", "1", "--out", "o.npz"])
@example(argv=["train", "data.npy", "--epochs", "1", "--hidden", "2", "--seed", "-1"])
@example(argv=["train", "data.txt", "--hidden", "1000000000", "--epochs", "1"])
@example(argv=["train", "text.txt", "--epochs", "1"])
@example(argv=["sample", "model32.npz", "-n", "7", "--png", "o.png", "--shape", "2x2", "--seed", "1"])
@example(argv=["sample", "model.npz", "--png", "o.png", "--shape", "3x3"])
@example(argv=["eval", "trunc.npz", "data.npz"])
@example(argv=["eval", "model.npz", "data3.npy"])
@example(argv=["sample", "model.npz", "--shape", "a\nb", "--png", "x.png"])
@example(argv=["eval", "model.npz", "data.npz", "--split", "a\nb"])
def test_cli_parsing(cli_files, argv):
    code, out, err = run_cli(argv, cli_files)
    event(f"cli: {code!r}")
    check_cli_outcome(argv, code, out, err)


# ------------------------------------------------------------ regression tests


# An OverflowError from the compiled core escaped nadefast.cli.main.
def test_cli_huge_n_jobs_is_one_line(cli_files):
    argv = ["eval", "model.npz", "data.npz", "--n-jobs", "99999999999"]
    check_cli_outcome(argv, *run_cli(argv, cli_files))


# datasets._open_npz caught ValueError/OSError only, not zipfile.BadZipFile or EOFError.
@pytest.mark.parametrize("data", ["notmodel.npz", "trunc.npz", "empty.npz"])
def test_cli_data_npz_that_cannot_be_read(cli_files, data):
    argv = ["train", data, "--epochs", "1", "--hidden", "2"]
    code, out, err = run_cli(argv, cli_files)
    check_cli_outcome(argv, code, out, err)
    assert code == 1 and data in err


# argparse's 'unrecognized arguments' and the data loaders' messages printed arguments and
# paths raw, newlines included.
@pytest.mark.parametrize("argv", [["eval", "model.npz", "data.npz", "x\ny"],
                                  ["train", "bad\nname.npy", "--epochs", "1"]])
def test_cli_error_is_one_line_even_with_newlines_in_arguments(cli_files, argv):
    check_cli_outcome(argv, *run_cli(argv, cli_files))
