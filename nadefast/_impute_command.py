"""``nadefast impute MODEL data.csv --out filled.csv``: fill the missing cells of a CSV table
with a saved model (the parser is in cli.py).

The CSV has a header row; a missing cell is empty or NA (also NaN, null and the other
markers pandas reads as missing).  The filled table keeps the file's column order and
names.  A model fitted on a pandas DataFrame (output="auto") reads the file with pandas
and writes its labels and dtypes (pandas needed: the ``pandas`` extra); a model fitted on
an array reads numbers (codes in discrete columns) with the csv module and writes codes
as integers.
"""

import csv
import math

import numpy as np

from nadefast._commands import CliError, _load_model, say

MISSING = {"", "na", "nan", "n/a", "null", "none", "<na>"}


def cmd_impute(args):
    model = _load_model(args)
    seed = args.seed
    kw = {"method": args.method, "n_samples": args.samples, "random_state": seed}
    if model._schema() is not None:
        filled, n_missing = _impute_frame(model, args.data, kw)
        filled.to_csv(args.out, index=False)
        rows, cols = filled.shape
    else:
        names, X = read_numeric_csv(args.data)
        if X.shape[1] != model.n_features_in_:
            raise CliError(f"{args.data} has {X.shape[1]} columns, the model {model.n_features_in_}")
        n_missing = int(np.isnan(X).sum())
        filled = model.impute(X, **kw) if n_missing else X
        _write_numeric_csv(args.out, names, filled, model)
        rows, cols = filled.shape
    say(f"wrote {args.out}: {rows} rows x {cols} columns, {n_missing} missing cells filled "
        f"(method {args.method})")
    return 0


def _impute_frame(model, path, kw):
    try:
        import pandas as pd
    except ImportError:
        raise CliError("this model was fitted on a table with labels: reading the CSV needs "
                       "pandas (pip install 'nadefast[pandas]')") from None
    frame = pd.read_csv(path)
    names = {str(n): n for n in model._schema().names}
    unknown = [c for c in frame.columns if c not in names]
    if unknown or len(frame.columns) != len(names):
        raise CliError(f"{path} has columns {list(frame.columns)}, the model "
                       f"{list(names)}")
    file_order = list(frame.columns)
    frame.columns = [names[c] for c in frame.columns]
    n_missing = int(frame.isna().sum().sum())
    filled = model.impute(frame, **kw)
    filled = filled[[names[c] for c in file_order]]
    filled.columns = file_order
    return filled, n_missing


def read_numeric_csv(path):
    """(header names, (rows, n) float64 with NaN for missing cells) of a CSV of numbers;
    CliError naming the line and column of anything else."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            names = next(reader)
        except StopIteration:
            raise CliError(f"{path} is empty (a header row is needed)") from None
        rows = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(names):
                raise CliError(f"{path}, line {line}: {len(row)} cells, the header has "
                               f"{len(names)}")
            values = []
            for j, cell in enumerate(row):
                text = cell.strip()
                if text.lower() in MISSING:
                    values.append(math.nan)
                    continue
                try:
                    values.append(float(text))
                except ValueError:
                    raise CliError(f"{path}, line {line}, column {names[j]!r}: {cell!r} is not a "
                                   f"number (this model was fitted on an array: codes, not "
                                   f"labels)") from None
            rows.append(values)
    return names, np.array(rows, dtype=np.float64).reshape(len(rows), len(names))


def _write_numeric_csv(path, names, X, model):
    discrete = [t != "gaussian_mixture" for t in getattr(model, "column_types_", [])] \
        or [model._output.name != "gaussian_mixture"] * X.shape[1]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for row in X:
            # a binary model's --method mean gives probabilities: whole numbers only as codes
            writer.writerow([str(int(v)) if d and float(v).is_integer() else repr(float(v))
                             for v, d in zip(row, discrete)])
