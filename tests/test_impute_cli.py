"""``nadefast impute MODEL data.csv --out filled.csv`` (nadefast/_impute_command.py): the
file's column order and names kept, observed cells unchanged, labels and codes valid,
errors in one line naming the cell."""

import csv

import numpy as np
import pytest

from nadefast import OrderAgnosticNADE
from nadefast.cli import main


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_a_table_model_fills_labels_and_keeps_the_files_columns(rng, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    n = 60
    frame = pd.DataFrame({"smoker": rng.random(n) < 0.3, "city": rng.choice(["Paris", "Oslo"], n),
                          "age": rng.integers(18, 80, n), "income": rng.normal(3e4, 1e4, n)})
    OrderAgnosticNADE(6, output="auto", backend="numpy", random_state=0).fit(
        frame, epochs=2).save(tmp_path / "m.npz")
    data = tmp_path / "t.csv"
    data.write_text("city,smoker,age,income\nParis,True,30,\nOslo,,NA,25000.5\n,False,44,31000\n")
    out = tmp_path / "f.csv"
    assert main(["impute", str(tmp_path / "m.npz"), str(data), "--out", str(out)]) == 0
    assert "4 missing cells filled" in capsys.readouterr().out
    rows = _rows(out)
    assert rows[0] == ["city", "smoker", "age", "income"]  # the file's order, not the model's
    assert rows[1][:3] == ["Paris", "True", "30"] and rows[2][0] == "Oslo"
    assert float(rows[2][3]) == 25000.5 and float(rows[3][3]) == 31000.0
    assert rows[3][0] in ("Paris", "Oslo") and rows[2][1] in ("True", "False")
    assert rows[2][2].isdigit()  # an integer column stays integer
    float(rows[1][3])


def test_an_array_model_reads_and_writes_codes(rng, tmp_path):
    n = 60
    X = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 3, n), rng.normal(size=n)])
    OrderAgnosticNADE(6, output=["bernoulli", "categorical", "gaussian_mixture"], backend="numpy",
                      random_state=0).fit(X, epochs=2).save(tmp_path / "a.npz")
    data = tmp_path / "a.csv"
    data.write_text("b,c,r\n1,,0.1\n,2,\n0,1,-1.25\n")
    out = tmp_path / "g.csv"
    for method in ("mode", "mean"):
        assert main(["impute", str(tmp_path / "a.npz"), str(data), "--out", str(out),
                     "--method", method]) == 0
        rows = _rows(out)
        assert rows[0] == ["b", "c", "r"]
        assert rows[1][0] == "1" and rows[1][2] == "0.1" and rows[3] == ["0", "1", "-1.25"]
        assert rows[1][1] in ("0", "1", "2") and rows[2][0] in ("0", "1")
        float(rows[2][2])


def test_a_cell_that_is_not_a_number_is_named(rng, tmp_path, capsys):
    X = np.column_stack([rng.integers(0, 2, 30), rng.normal(size=30)])
    OrderAgnosticNADE(4, output=["bernoulli", "gaussian_mixture"], backend="numpy",
                      random_state=0).fit(X, epochs=1).save(tmp_path / "a.npz")
    data = tmp_path / "bad.csv"
    data.write_text("b,r\n1,0.5\n0,x\n")
    assert main(["impute", str(tmp_path / "a.npz"), str(data), "--out",
                 str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err
    assert "line 3, column 'r'" in err and "'x'" in err


def test_a_binary_models_mean_is_written_as_probabilities(rng, tmp_path):
    """--method mean of a Bernoulli model gives p(x_j = 1 | observed), not a code: the file
    must hold those numbers, not their integer parts."""
    X = (rng.random((80, 4)) < 0.5).astype(np.float64)
    model = OrderAgnosticNADE(6, random_state=0).fit(X, epochs=2)
    model.save(tmp_path / "b.npz")
    data = tmp_path / "b.csv"
    data.write_text("a,b,c,d\n1,,0,1\n,,1,0\n")
    out = tmp_path / "p.csv"
    assert main(["impute", str(tmp_path / "b.npz"), str(data), "--out", str(out),
                 "--method", "mean"]) == 0
    rows = _rows(out)
    holes = np.array([[np.nan, np.nan, 0, 1], [np.nan, np.nan, 1, 0]])
    holes[0, 0] = 1
    expected = model.impute(holes, method="mean")
    assert rows[1][0] == "1" and rows[1][2] == "0"
    np.testing.assert_allclose([float(rows[1][1]), float(rows[2][0]), float(rows[2][1])],
                               [expected[0, 1], expected[1, 0], expected[1, 1]], rtol=1e-6)
    assert 0 < float(rows[1][1]) < 1
