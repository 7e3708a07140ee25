"""CSV tables on the command line (nadefast/_csv_tables.py): ``nadefast train table.csv``
with column types from the values, a seeded validation split, rows with holes for an
order-agnostic model; ``eval`` on a table; ``sample --out x.csv`` with the table's labels
and columns; and the errors that name what to do instead."""

import csv

import numpy as np
import pytest

from nadefast import load
from nadefast.cli import main

pd = pytest.importorskip("pandas", reason="CSV tables need pandas (the pandas extra)")


def _table(rng, n=200):
    age = rng.integers(18, 80, n)
    return pd.DataFrame({"age": age, "city": rng.choice(["Paris", "Oslo", "Rome"], n),
                         "income": 1e3 * age + rng.normal(0, 5e3, n)})


def _write(frame, path, holes=0.0, rng=None):
    if holes:
        frame = frame.astype(object).mask(rng.random(frame.shape) < holes)
    frame.to_csv(path, index=False)
    return str(path)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_train_eval_sample_on_a_table(rng, tmp_path, capsys):
    data = _write(_table(rng), tmp_path / "t.csv")
    model = str(tmp_path / "m.npz")
    assert main(["train", data, "--hidden", "8", "--epochs", "3", "--seed", "4", "--out", model,
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "train: 180 rows x 3 features; valid: 20 rows" in out  # 10 % held out
    fitted = load(model, backend="numpy")
    assert list(fitted.column_types_) == ["gaussian_mixture", "categorical", "gaussian_mixture"]
    assert list(fitted.feature_names_in_) == ["age", "city", "income"]
    # the held-out rows are a seeded draw: the same seed trains on the same rows
    assert main(["eval", model, data]) == 0
    first = capsys.readouterr().out
    assert first.startswith("NLL: ") and "(200 rows)" in first
    expected = -fitted.score_samples(pd.read_csv(data)).mean()
    assert abs(float(first.split()[1]) - expected) < 1e-3
    samples = str(tmp_path / "s.csv")
    assert main(["sample", model, "-n", "5", "--seed", "1", "--out", samples]) == 0
    rows = _rows(samples)
    assert rows[0] == ["age", "city", "income"] and len(rows) == 6
    assert all(r[1] in ("Paris", "Oslo", "Rome") and r[0].lstrip("-").isdigit() for r in rows[1:])


def test_an_order_agnostic_model_trains_on_rows_with_holes(rng, tmp_path, capsys):
    data = _write(_table(rng), tmp_path / "h.csv", holes=0.2, rng=rng)
    model = str(tmp_path / "m.npz")
    assert main(["train", data, "--order-agnostic", "--hidden", "8", "--epochs", "3", "--seed",
                 "0", "--out", model, "--quiet"]) == 0
    assert "valid NLL of the observed cells" in capsys.readouterr().out
    assert main(["eval", model, data]) == 0
    said = capsys.readouterr().out
    fitted = load(model, backend="numpy")
    expected = -fitted.log_marginal(pd.read_csv(data)).mean()
    assert said.startswith("NLL of the observed cells: ")
    assert abs(float(said.split(": ")[1].split()[0]) - expected) < 1e-3
    filled = str(tmp_path / "f.csv")
    assert main(["impute", model, data, "--out", filled, "--method", "mean"]) == 0
    original, rows = _rows(data), _rows(filled)
    for a, b in zip(original[1:], rows[1:]):
        for x, y in zip(a, b):  # observed cells kept (numbers: 30 may come back as 30.0)
            assert y != ""
            if x != "":
                assert x == y or float(x) == float(y)


@pytest.mark.parametrize("argv, message", [
    (["train", "{h}", "--out", "{m}"], "--order-agnostic"),
    (["train", "{t}", "--output", "bernoulli", "--out", "{m}"], "--output auto"),
    (["train", "{x}", "--output", "auto", "--out", "{m}"], "header row"),
    (["train", "{small}", "--out", "{m}"], "too few"),
    (["train", "{t}", "--fold", "2", "--out", "{m}"], "--fold"),
])
def test_errors_name_what_to_do(rng, tmp_path, capsys, argv, message):
    paths = {"t": _write(_table(rng), tmp_path / "t.csv"),
             "h": _write(_table(rng), tmp_path / "h.csv", holes=0.2, rng=rng),
             "small": _write(_table(rng, n=4), tmp_path / "small.csv"),
             "x": str(tmp_path / "x.npy"), "m": str(tmp_path / "m.npz")}
    np.save(paths["x"], (rng.random((20, 3)) < 0.5).astype(np.uint8))
    assert main([a.format(**paths) for a in argv]) == 1
    assert message in capsys.readouterr().err


def test_table_and_array_outputs_are_not_mixed_up(rng, tmp_path, capsys):
    data = _write(_table(rng), tmp_path / "t.csv")
    table_model, array_model = str(tmp_path / "t.npz"), str(tmp_path / "a.npz")
    assert main(["train", data, "--hidden", "4", "--epochs", "1", "--out", table_model,
                 "--quiet", "--seed", "0"]) == 0
    np.save(tmp_path / "x.npy", (rng.random((30, 3)) < 0.5).astype(np.uint8))
    assert main(["train", str(tmp_path / "x.npy"), "--hidden", "4", "--epochs", "1", "--out",
                 array_model, "--quiet", "--seed", "0"]) == 0
    capsys.readouterr()
    assert main(["sample", table_model, "--out", str(tmp_path / "s.npy")]) == 1
    assert "CSV" in capsys.readouterr().err
    assert main(["sample", table_model, "--png", "p.png", "--shape", "1x3"]) == 1
    assert main(["sample", array_model, "--out", str(tmp_path / "s.csv")]) == 1
    assert ".npy" in capsys.readouterr().err
    assert main(["eval", array_model, data]) == 1
    assert "not trained on one" in capsys.readouterr().err
