"""The command-line tool: the demo, train/eval/sample, and one-line errors."""

import re
import subprocess
import sys

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE
from nadefast.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_quick(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    code, out, err = run(capsys, "demo", "--hidden", 20, "--epochs", 2, "--out", out_dir, "--n-jobs", 1)
    assert code == 0, err
    assert "independent Bernoulli" in out and "mixture of 20 Bernoullis" in out
    test_line = re.search(r"test\s+([0-9.]+) \+- ([0-9.]+)", out)
    assert test_line, out
    model = NADE.load(out_dir / "model.npz")
    from nadefast.datasets import load_demo

    test = load_demo()["test"]
    # the printed test NLL is the saved model's
    assert float(test_line.group(1)) == pytest.approx(-model.score(test), abs=0.006)
    samples = np.load(out_dir / "samples.npy")
    assert samples.shape == (1000, 784) and samples.dtype == np.uint8
    assert (out_dir / "samples.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_train_eval_sample_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    np.savez(data, train=(rng.random((200, 16)) < 0.3).astype(np.uint8),
             valid=(rng.random((50, 16)) < 0.3).astype(np.uint8),
             test=(rng.random((60, 16)) < 0.3).astype(np.uint8))
    model_path = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", data, "--hidden", 8, "--epochs", 3, "--seed", 1, "--out",
                         model_path, "--quiet")
    assert code == 0, err
    assert "test NLL" in out and model_path.exists()

    code, out, err = run(capsys, "eval", model_path, data)
    assert code == 0, err
    mean, se = (float(v) for v in re.search(r"test NLL: ([0-9.]+) \+- ([0-9.]+) nats \(60 rows\)", out).groups())
    test = np.load(data)["test"]
    nll = -NADE.load(model_path).score_samples(test)
    assert mean == pytest.approx(nll.mean(), abs=1e-4)
    assert se == pytest.approx(nll.std(ddof=1) / np.sqrt(60), abs=1e-4)

    samples_path = tmp_path / "s.npy"
    png = tmp_path / "s.png"
    code, out, err = run(capsys, "sample", model_path, "-n", 25, "--out", samples_path, "--seed", 3,
                         "--png", png, "--shape", "4x4")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(samples_path), NADE.load(model_path).sample(25, random_state=3))
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_train_passes_the_learning_rate_schedule(tmp_path, capsys):
    rng = np.random.default_rng(1)
    data = tmp_path / "data.npz"
    splits = {"train": (rng.random((120, 10)) < 0.3).astype(np.uint8),
              "valid": (rng.random((30, 10)) < 0.3).astype(np.uint8)}
    np.savez(data, **splits)
    code, out, err = run(capsys, "train", data, "--hidden", 6, "--epochs", 4, "--seed", 2,
                         "--lr-schedule", "linear", "--out", tmp_path / "m.npz", "--quiet")
    assert code == 0, err
    expected = NADE(6, random_state=2).fit(splits["train"], splits["valid"], epochs=4, patience=10,
                                           lr_schedule="linear")
    np.testing.assert_array_equal(NADE.load(tmp_path / "m.npz").W_, expected.W_)
    # (random rows: the kept parameters may be the initial ones; the training losses differ)
    constant = NADE(6, random_state=2).fit(splits["train"], splits["valid"], epochs=4, patience=10,
                                           lr_schedule="constant")
    assert [h["train_nll"] for h in constant.history_] != [h["train_nll"] for h in expected.history_]


def test_train_order_agnostic_sgd_with_checkpoint_and_ensemble_eval(tmp_path, capsys):
    rng = np.random.default_rng(2)
    data = tmp_path / "data.npz"
    splits = {"train": (rng.random((90, 8)) < 0.3).astype(np.uint8),
              "valid": (rng.random((30, 8)) < 0.3).astype(np.uint8),
              "test": (rng.random((40, 8)) < 0.3).astype(np.uint8)}
    np.savez(data, **splits)
    ckpt, out_path = tmp_path / "fit.ckpt.npz", tmp_path / "m.npz"
    argv = ["train", data, "--hidden", 5, "--seed", 4, "--order-agnostic", "--layers", 2,
            "--optimizer", "sgd", "--momentum", 0.9, "--lr", 0.01, "--weight-decay", 0.5,
            "--checkpoint", ckpt, "--out", out_path, "--quiet", "--n-jobs", 1]
    code, out, err = run(capsys, *argv, "--epochs", 2)
    assert code == 0, err
    code, out, err = run(capsys, *argv, "--epochs", 4)  # resumes after epoch 2
    assert code == 0, err
    assert "resuming from" in out
    expected = OrderAgnosticNADE(5, n_layers=2, ordering="random", random_state=4,
                                 n_jobs=1).fit(splits["train"], splits["valid"], epochs=4, optimizer="sgd",
                                  momentum=0.9, learning_rate=0.01, weight_decay=0.5, patience=10)
    got = OrderAgnosticNADE.load(out_path)
    assert isinstance(got, OrderAgnosticNADE) and got.W_hidden_.shape == (1, 5, 5)
    np.testing.assert_array_equal(got.ordering_, expected.ordering_)  # random, not the identity
    assert not np.array_equal(got.ordering_, np.arange(8))
    for name in ("W_", "M_", "W_hidden_", "V_"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)

    code, out, err = run(capsys, "eval", out_path, data, "--orderings", 3, "--seed", 5)
    assert code == 0, err
    mean = float(re.search(r"test NLL: ([0-9.]+) \+- [0-9.]+ nats \(40 rows, ensemble of 3 orderings\)",
                           out).group(1))
    assert mean == pytest.approx(-got.score_samples(splits["test"], 3, random_state=5).mean(), abs=1e-4)


@pytest.mark.parametrize("argv, code, message", [
    (["train"], 2, "the following arguments are required: DATA"),
    (["demo", "--hidden", "0"], 2, "expected a positive integer"),
    (["demo", "--lr", "-1"], 2, "expected a positive number"),
    (["demo", "--n-jobs", "0"], 2, "0 is not a thread count"),
    (["frobnicate"], 2, "invalid choice"),
    (["eval", "missing-model.npz", "demo"], 1, "no such model file"),
    (["train", "no-such-file.npy"], 1, "no-such-file.npy"),
    (["sample", "{model}", "--png", "x.png"], 1, "--png needs --shape"),
    (["sample", "{model}", "--png", "x.png", "--shape", "3x3"], 1, "does not fit 4 features"),
    (["sample", "{model}", "--shape", "axb", "--png", "x.png"], 1, "--shape must look like 28x28"),
    (["sample", "{model}", "-n", "-3"], 2, "argument -n: expected an integer >= 0, got -3"),  # argparse: 2
    (["eval", "{model}", "{data}"], 1, "3 features, but the model has 4"),
    (["eval", "{notmodel}", "{data}"], 1, "not a"),
    (["eval", "{model}", "{data4}", "--orderings", "2"], 1, "--orderings 2 needs an order-agnostic"),
    (["train", "{data4}", "--layers", "2"], 1, "--layers 2 needs --order-agnostic"),
    (["train", "{data4}", "--momentum", "0.9"], 1, "--momentum applies to --optimizer sgd"),
    (["train", "{data4}", "--optimizer", "sgd", "--momentum", "1"], 2, "expected a number in [0, 1)"),
    (["train", "{data4}", "--weight-decay", "-1"], 2, "expected a number >= 0"),
    (["train", "{data4}", "--components", "3"], 1, "--components applies to --output "
                                                    "gaussian_mixture only"),
    (["train", "{data4}", "--activation", "relu"], 1, "--activation applies to a fixed-order "
                                                       "--output gaussian_mixture"),
    (["train", "{real}", "--output", "gaussian_mixture", "--order-agnostic", "--activation",
      "relu"], 1, "layers are ReLU"),
    (["train", "{data4}", "--fold", "2"], 1, "--fold applies to the folds of red_wine"),
    (["train", "{data4}", "--fold", "0"], 2, "expected a fold 1..10, got 0"),
    (["train", "{real}"], 1, "values must be 0 or 1"),
    (["train", "{real}", "--output", "gaussian_mixture", "--components", "0"], 2,
     "expected a positive integer"),
    (["train", "{realnan}", "--output", "gaussian_mixture"], 1, "values must be finite"),
])
def test_bad_arguments_give_one_line(tmp_path, capsys, monkeypatch, argv, code, message):
    model = tmp_path / "model.npz"
    NADE.from_params(np.zeros((2, 4)), np.zeros(2), np.zeros((4, 2)), np.zeros(4)).save(model)
    data = tmp_path / "data.npy"
    np.save(data, np.zeros((5, 3), dtype=np.uint8))
    notmodel = tmp_path / "notmodel.npz"
    notmodel.write_bytes(b"garbage")
    data4 = tmp_path / "data4.npy"
    np.save(data4, np.zeros((5, 4), dtype=np.uint8))
    real = tmp_path / "real.csv"
    real.write_text("0.5,1.5\n2.5,-1\n")
    realnan = tmp_path / "realnan.csv"
    realnan.write_text("0.5,1.5\n2.5,nan\n")
    argv = [a.format(model=model, data=data, notmodel=notmodel, data4=data4, real=real,
                     realnan=realnan) for a in argv]
    monkeypatch.chdir(tmp_path)
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse usage errors
        got = exc.code
    out, err = capsys.readouterr()
    assert got == code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0]
    assert "Traceback" not in err


def test_module_entry_point(tmp_path):
    # run outside the source tree, which holds an unbuilt copy of the package
    result = subprocess.run([sys.executable, "-m", "nadefast", "--help"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0
    for command in ("demo", "train", "eval", "sample"):
        assert command in result.stdout


def test_train_eval_sample_real_values(tmp_path, capsys):
    """--output gaussian_mixture on a CSV of real values: the printed NLLs are the saved
    model's (user's units), the text samples read back as the model's samples."""
    rng = np.random.default_rng(0)
    data = tmp_path / "wine.csv"
    np.savetxt(data, rng.normal(size=(120, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, 7.0],
               delimiter=",")
    model_path = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", data, "--output", "gaussian_mixture", "--components", 2,
                         "--activation", "relu", "--hidden", 6, "--epochs", 2, "--seed", 1,
                         "--out", model_path, "--quiet", "--backend", "numpy")
    assert code == 0, err
    model = NADE.load(model_path, backend="numpy")
    assert model.output == "gaussian_mixture" and model.n_components == 2
    assert model.activation == "relu"
    code, out, err = run(capsys, "eval", model_path, data, "--backend", "numpy")
    assert code == 0, err
    mean = float(re.search(r"all rows NLL: (-?[0-9.]+) \+-", out).group(1))
    assert mean == pytest.approx(-model.score(np.loadtxt(data, delimiter=",")), abs=1e-4)
    code, out, err = run(capsys, "sample", model_path, "-n", 4, "--seed", 3, "--backend", "numpy")
    assert code == 0, err
    np.testing.assert_array_equal(np.loadtxt(out.splitlines()), model.sample(4, random_state=3))
