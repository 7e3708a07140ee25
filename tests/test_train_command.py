"""`nadefast train` as a user meets it: defaults, interruptions, unwritable outputs, seeds,
divergence, messages (issue 16: each test here failed on the main before it)."""

import inspect
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import nadefast
from nadefast import NADE
from nadefast.cli import build_parser, main

from conftest import REPO_ROOT


def run(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path):
    """A small set with structure (two prototypes), so that training improves on the start."""
    rng = np.random.default_rng(7)
    protos = rng.integers(0, 2, size=(2, 12))
    rows = (protos[rng.integers(2, size=260)] ^ (rng.random((260, 12)) < 0.05)).astype(np.uint8)
    path = tmp_path / "data.npz"
    np.savez(path, train=rows[:200], valid=rows[200:240], test=rows[240:])
    return path, rows


def _interrupt_at_batch(monkeypatch, batch):
    """KeyboardInterrupt at the `batch`-th mini-batch of the next fits (counting from 1);
    returns a function that undoes it."""
    from nadefast.backends import _compiled

    calls = {"n": 0}
    original = _compiled.FixedKernels.gradient

    def interrupting(self, *args):
        calls["n"] += 1
        if calls["n"] == batch:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(_compiled.FixedKernels, "gradient", interrupting)
    return lambda: monkeypatch.setattr(_compiled.FixedKernels, "gradient", original)


FIT = ["--hidden", 6, "--batch-size", 50, "--epochs", 8, "--lr", 0.01, "--seed", 3, "--quiet",
       "--n-jobs", 1]


def test_interrupted_train_saves_the_best_model_and_resumes(data, tmp_path, capsys, monkeypatch):
    path, _ = data
    out = tmp_path / "m.npz"
    restore = _interrupt_at_batch(monkeypatch, 4 * 4 + 2)  # 4 batches per epoch: in epoch 5
    code, _, err = run(capsys, "train", path, *FIT, "--out", out)
    assert code == 130
    assert "saved the best model so far" in err and str(out) in err
    assert "run the same command again to resume" in err
    interrupted = NADE.load(out)  # written, atomically, with the best of 4 epochs
    assert os.path.exists(f"{out}.ckpt")

    restore()
    code, stdout, err = run(capsys, "train", path, *FIT, "--out", out)
    assert code == 0, err
    assert "resuming from" in stdout
    assert not os.path.exists(f"{out}.ckpt")  # the default checkpoint goes once the model is saved
    resumed = NADE.load(out)
    code, _, err = run(capsys, "train", path, *FIT, "--out", tmp_path / "whole.npz")
    assert code == 0, err
    whole = NADE.load(tmp_path / "whole.npz")
    np.testing.assert_array_equal(resumed.W_, whole.W_)  # bit for bit the uninterrupted run
    assert not np.array_equal(interrupted.W_, whole.W_)


@pytest.mark.parametrize("where", ["out", "checkpoint"])
@pytest.mark.parametrize("how", ["no such directory", "a directory"])
def test_an_unwritable_output_fails_before_any_training(data, tmp_path, capsys, monkeypatch,
                                                        where, how):
    path, _ = data
    target = tmp_path / "missing" / "m.npz" if how == "no such directory" else tmp_path
    argv = ["train", path, *FIT, "--out", tmp_path / "m.npz"]
    argv += ["--out", target] if where == "out" else ["--checkpoint", target]

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(nadefast.BaseNADE, "fit", no_training)
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert str(target) in err and "cannot write" in err, err
    assert "Traceback" not in err


def test_an_unwritable_checkpoint_fails_before_the_first_epoch_in_python(tmp_path):
    X = np.zeros((20, 3), np.uint8)
    model = NADE(2)
    with pytest.raises(FileNotFoundError, match="cannot write the checkpoint"):
        model.fit(X, epochs=1, checkpoint=tmp_path / "missing" / "c.ckpt")
    assert not model.__sklearn_is_fitted__()


def test_fit_and_train_share_one_set_of_defaults_shown_by_help(capsys):
    fit = inspect.signature(NADE.fit).parameters
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    cli = {a.dest: a.default for a in train._actions}
    pairs = {"epochs": "epochs", "batch_size": "batch_size", "learning_rate": "lr",
             "lr_schedule": "lr_schedule", "optimizer": "optimizer", "momentum": "momentum",
             "weight_decay": "weight_decay", "patience": "patience"}
    for api, option in pairs.items():
        assert fit[api].default == cli[option], api
    assert inspect.signature(nadefast.OrderAgnosticNADE.fit) == inspect.signature(NADE.fit)
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    text = " ".join(out.split())
    for option in ("epochs", "lr", "patience", "batch-size", "lr-schedule", "optimizer", "momentum"):
        value = cli[option.replace("-", "_")]
        assert re.search(rf"--{option} .*?\(default: {re.escape(str(value))}\)", text), option


def test_a_fit_that_runs_out_of_epochs_while_improving_warns(data):
    _, rows = data
    with pytest.warns(nadefast.ConvergenceWarning, match="epochs=3 before early stopping decided"):
        NADE(8, random_state=0).fit(rows[:200], rows[200:240], epochs=3)
    # early stopping decided (independent rows: nothing to learn): no warning
    noise = (np.random.default_rng(1).random((300, 10)) < 0.5).astype(np.uint8)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", nadefast.ConvergenceWarning)
        model = NADE(4, random_state=0).fit(noise[:200], noise[200:], epochs=500, patience=3)
    assert len(model.history_) < 500


@pytest.mark.parametrize("valid", [True, False])
def test_a_learning_rate_that_makes_the_model_worse_is_an_error(data, valid):
    _, rows = data
    model = NADE(8, random_state=0)
    with pytest.raises(FloatingPointError, match=r"learning rate 1000 is too large: try 100"):
        model.fit(rows[:200], rows[200:240] if valid else None, epochs=12, learning_rate=1e3)


def test_train_with_a_diverging_learning_rate_exits_1_and_saves_nothing(data, tmp_path, capsys):
    path, _ = data
    out = tmp_path / "m.npz"
    code, _, err = run(capsys, "train", path, "--hidden", 6, "--lr", "1e3", "--epochs", 40,
                       "--out", out, "--quiet", "--seed", 0)
    assert code == 1
    assert "try 100" in err
    assert not out.exists()


def test_the_seed_is_printed_recorded_and_repeats_the_run(data, tmp_path, capsys):
    path, _ = data
    argv = ["train", path, "--hidden", 6, "--epochs", 3, "--quiet", "--n-jobs", 1]
    code, out, err = run(capsys, *argv, "--out", tmp_path / "a.npz")
    assert code == 0, err
    # 3 epochs end before early stopping decides: said once, on one line
    assert err.startswith("nadefast: warning: training stopped at its budget of epochs=3")
    assert len(err.strip().splitlines()) == 1
    seed = int(re.search(r"seed: (\d+) \(--seed \1 repeats this run", out).group(1))
    first = NADE.load(tmp_path / "a.npz")
    assert first.random_state == seed
    with np.load(tmp_path / "a.npz") as f:
        assert int(f["random_state"]) == seed
    code, out, err = run(capsys, *argv, "--seed", seed, "--out", tmp_path / "b.npz")
    assert code == 0, err
    np.testing.assert_array_equal(NADE.load(tmp_path / "b.npz").W_, first.W_)


def test_missing_model_and_data_files_read_alike(data, tmp_path, capsys):
    path, _ = data
    model = tmp_path / "m.npz"
    NADE.from_params(np.zeros((2, 12)), np.zeros(2), np.zeros((12, 2)), np.zeros(12)).save(model)
    _, _, err_model = run(capsys, "eval", tmp_path / "nope.npz", path)
    _, _, err_data = run(capsys, "eval", model, tmp_path / "nope.npy")
    assert err_model.strip() == f"nadefast: error: no such model file: '{tmp_path / 'nope.npz'}'"
    assert err_data.strip() == f"nadefast: error: no such data file: '{tmp_path / 'nope.npy'}'"


def test_eval_of_a_file_without_splits_names_what_it_scored(tmp_path, capsys):
    rows = (np.random.default_rng(2).random((30, 5)) < 0.4).astype(np.uint8)
    np.save(tmp_path / "rows.npy", rows)
    model = NADE.from_params(np.zeros((2, 5)), np.zeros(2), np.zeros((5, 2)), np.zeros(5))
    model.save(tmp_path / "m.npz")
    code, out, err = run(capsys, "eval", tmp_path / "m.npz", tmp_path / "rows.npy")
    assert code == 0, err
    assert out.startswith("all rows NLL:") and "train" not in out
    # all-zero parameters: every row has probability 2^-5
    assert float(out.split()[3]) == pytest.approx(5 * np.log(2), abs=1e-4)


def test_demo_prints_a_short_report_and_writes_where_it_says(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = build_parser()._subparsers._group_actions[0].choices["demo"].get_default("out")
    assert os.path.isabs(default) and pathlib.Path(default).name == "nadefast-demo"
    assert not pathlib.Path(default).is_relative_to(REPO_ROOT)  # outside the source tree
    out_dir = tmp_path / "demo-out"
    code, out, err = run(capsys, "demo", "--hidden", 10, "--epochs", 25, "--out", out_dir,
                         "--n-jobs", 1)
    assert code == 0, err
    assert len(out.splitlines()) < 25 and "epoch    " not in out  # no line per epoch
    assert str(out_dir) in out and (out_dir / "samples.png").stat().st_size > 0


def test_ci_runs_the_readme_commands_which_make_and_use_a_virtual_environment():
    tool, ci_run = REPO_ROOT / "tools" / "readme_commands.py", REPO_ROOT / ".ci" / "run"
    if not ci_run.exists():
        pytest.skip("not a clone of the repository (an unpacked sdist has no .ci/)")
    lines = subprocess.run([sys.executable, str(tool), str(REPO_ROOT / "README.md")],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    commands = [line.split("#", 1)[0].strip() for line in lines]
    assert commands[0].startswith("python3 -m venv .venv") and ". .venv/bin/activate" in commands[0]
    assert commands[1:] == ['pip install ".[demo]" && nadefast demo',
                            'pip install ".[test]" && pytest']
    ci = ci_run.read_text()
    assert "tools/readme_commands.py README.md" in ci and 'bash -euo pipefail -c "$commands"' in ci
