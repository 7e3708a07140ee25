"""CSV tables on the command line: ``nadefast train table.csv``, ``eval``, ``sample --out
x.csv`` (``impute`` is nadefast/_impute_command.py).

A CSV file is read with pandas (the ``pandas`` extra) into a DataFrame, and the model's
column types come from its dtypes (output="auto", docs/mixed.md §2): numbers are real
columns, text a categorical, true/false a Bernoulli.  Missing cells (empty, NA, ...) are
allowed where the model allows them: an order-agnostic model trains on each row's
observed cells and scores log p(observed cells).
"""

import numpy as np

from nadefast._commands import CliError


def is_csv(path):
    """A file name ending in .csv (what sample --out writes a table to)."""
    return str(path).lower().endswith(".csv")


def is_table(path):
    """A .csv file whose first line is a header -- a cell that is not a number.  A .csv
    of numbers alone is rows of an array, as other text files (datasets.load_array)."""
    if not is_csv(path):
        return False
    try:
        with open(path, newline="") as f:
            first = f.readline()
    except OSError:
        return False
    for cell in first.strip().split(","):
        try:
            float(cell)
        except ValueError:
            return True
    return False


def read_table(path):
    """The DataFrame of a CSV file with a header row; CliError when pandas is missing."""
    try:
        import pandas as pd
    except ImportError:
        raise CliError(f"{path} is a CSV table: reading it needs pandas "
                       f"(pip install 'nadefast[pandas]')") from None
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise CliError(f"{path} is empty (a header row and rows are needed)") from None
    if frame.shape[1] == 0:
        raise CliError(f"{path} has no columns")
    return frame


def table_splits(path, valid=None, test=None, valid_fraction=0.1, seed=0):
    """{"train": frame, "valid": ..., "test": ...}: the table, with `valid_fraction` of its
    rows held out for validation (a seeded draw: the same rows for the same seed) unless a
    validation file is given; test rows only from a file."""
    frame = read_table(path)
    splits = {}
    if valid is not None:
        splits["valid"] = read_table(valid)
        splits["train"] = frame
    elif valid_fraction > 0:
        n_valid = int(round(valid_fraction * len(frame)))
        if n_valid == 0 or n_valid == len(frame):
            raise CliError(f"{path} has {len(frame)} rows: too few to hold out "
                           f"{valid_fraction:g} of them for validation (give --valid FILE, or "
                           f"--valid-fraction 0 for none)")
        held = np.random.default_rng(seed).permutation(len(frame))[:n_valid]
        is_valid = np.zeros(len(frame), dtype=bool)
        is_valid[held] = True
        splits["train"], splits["valid"] = frame[~is_valid], frame[is_valid]
    else:
        splits["train"] = frame
    if test is not None:
        splits["test"] = read_table(test)
    return splits


def nll_summary(model, frame):
    """Mean and standard error over rows of -log p(x) (complete rows) or -log p(observed
    cells) (an order-agnostic model on rows with holes), nats, and what was scored."""
    if frame.isna().to_numpy().any():
        if not hasattr(model, "category_probabilities"):  # a fixed-order NADE
            raise CliError("the table has missing cells: only an --order-agnostic model scores "
                           "the observed cells of such rows")
        nll, what = -model.log_marginal(frame), "NLL of the observed cells"
    else:
        nll, what = -model.score_samples(frame), "NLL"
    se = nll.std(ddof=1) / np.sqrt(len(nll)) if len(nll) > 1 else float("nan")
    return float(nll.mean()), float(se), what
