"""pandas tables in and out of a mixed model (docs/mixed.md §2).

A ``TableSchema`` remembers what a DataFrame looked like when a model was
fitted on it: the column names and their order, each column's dtype, the
output type chosen for it and, for discrete columns, the labels whose
positions are the codes the model computes with.  It turns such a frame
into the model's float64 matrix (codes as whole numbers, NaN for a missing
cell) and a matrix back into a frame with the same names, order and dtypes.

pandas stays optional: this module imports it only when a DataFrame is
passed (``is_dataframe`` looks at the object's type without importing it).

Type inference (output="auto"): bool / boolean -> "bernoulli"; category,
object and string -> "categorical"; numbers -> "gaussian_mixture".
``column_types`` overrides it: a list (one per column) or a dict (column
name -> type) for some columns.

Labels of a discrete column: a category dtype's categories (in their
order); bool columns [False, True]; otherwise the distinct non-missing
values, sorted when they can be compared, else in order of first appearance
(an object column mixing types, e.g. 1, "a", 2.5).  A bernoulli column has
at most two labels.  Missing cells: NaN, None, pd.NA, NaT.

A label at transform time that the model has not seen: ``unseen="missing"``
treats the cell as missing and warns (imputation then fills it with a known
label); ``unseen="error"`` raises ValueError naming the column and label.
"""

import warnings

import numpy as np

from nadefast._mixed import COLUMN_TYPES, DISCRETE, check_column_types


def is_dataframe(X):
    """Whether X is a pandas DataFrame (without importing pandas)."""
    return type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "columns") \
        and hasattr(X, "dtypes")


def _pandas():
    try:
        import pandas
    except ImportError:  # pragma: no cover - only without the extra
        raise ImportError("DataFrames need pandas: pip install 'nadefast[pandas]'") from None
    return pandas


def _json_value(v):
    """A label as JSON keeps it: numpy scalars -> Python scalars."""
    return v.item() if isinstance(v, np.generic) else v


def _distinct(values):
    """Distinct non-missing values, sorted when comparable, else by first appearance."""
    seen, out = set(), []
    for v in values:
        key = (type(v).__name__, v)  # 1 and True (and 1.0) stay apart
        if key not in seen:
            seen.add(key)
            out.append(_json_value(v))
    try:
        return sorted(out)
    except TypeError:
        return out


def _inferred_type(name, dtype, pd):
    if pd.api.types.is_bool_dtype(dtype):
        return "bernoulli"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype) \
            or pd.api.types.is_string_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "gaussian_mixture"
    raise TypeError(f"column {name!r} has dtype {dtype}, which output='auto' cannot model (bool, "
                    f"category, object, string or numbers); convert it or drop it")


class TableSchema:
    """names (list), dtypes (list of str), types (COLUMN_TYPES), labels (list per column:
    the labels of codes 0, 1, ... for discrete columns, None for real ones)."""

    def __init__(self, names, dtypes, types, labels):
        self.names, self.dtypes, self.types, self.labels = names, dtypes, types, labels

    # ------------------------------------------------------------- building

    @classmethod
    def from_frame(cls, df, column_types=None):
        """The schema of a training frame: types from dtypes, overridden by column_types."""
        pd = _pandas()
        names = list(df.columns)
        if len(set(map(repr, names))) != len(names):
            raise ValueError("the DataFrame has repeated column names; rename them")
        if isinstance(column_types, dict):
            unknown = [k for k in column_types if k not in names]
            if unknown:
                raise ValueError(f"column_types names columns the DataFrame lacks: {unknown}")
            given = [column_types.get(name) for name in names]
        elif column_types is not None:
            given = check_column_types(column_types, "column_types")
            if len(given) != len(names):
                raise ValueError(f"column_types lists {len(given)} types, but the DataFrame has "
                                 f"{len(names)} columns")
        else:
            given = [None] * len(names)
        types, labels = [], []
        for name, wanted in zip(names, given):
            col = df[name]
            t = wanted if wanted is not None else _inferred_type(name, col.dtype, pd)
            if t not in COLUMN_TYPES:
                raise ValueError(f"column_types[{name!r}] must be one of {list(COLUMN_TYPES)}, "
                                 f"got {t!r}")
            types.append(t)
            labels.append(cls._labels(name, col, t, pd))
        return cls([_json_value(n) for n in names], [str(df[n].dtype) for n in names], types,
                   labels)

    @staticmethod
    def _labels(name, col, t, pd):
        if t not in DISCRETE:
            if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
                bad = [v for v in col.dropna() if not isinstance(v, (int, float, np.number))
                       or isinstance(v, (bool, np.bool_))]
                if bad:
                    raise ValueError(f"column {name!r} is to hold real numbers "
                                     f"(gaussian_mixture), but holds {bad[0]!r}")
            return None
        if isinstance(col.dtype, pd.CategoricalDtype):
            labels = [_json_value(v) for v in col.cat.categories]
        elif pd.api.types.is_bool_dtype(col.dtype):
            labels = [False, True]
        else:
            labels = _distinct(col.dropna().tolist())
        if t == "bernoulli" and len(labels) > 2:
            raise ValueError(f"column {name!r} is bernoulli but holds {len(labels)} labels "
                             f"({labels[:5]}...); make it categorical")
        if not labels:
            labels = [False, True] if t == "bernoulli" else []
        if t == "bernoulli" and len(labels) == 1:
            labels = labels + [None]  # code 1 has no label yet
        return labels

    def to_dict(self):
        return {"names": self.names, "dtypes": self.dtypes, "types": self.types,
                "labels": self.labels}

    @classmethod
    def from_dict(cls, d):
        return cls(list(d["names"]), list(d["dtypes"]), list(d["types"]), list(d["labels"]))

    def feature_names(self):
        return np.array([str(n) for n in self.names], dtype=object)

    def n_categories(self):
        """Per column: the number of labels of a categorical column, None otherwise."""
        return [len(l) if t == "categorical" else None for t, l in zip(self.types, self.labels)]

    # ----------------------------------------------------------- conversions

    def to_matrix(self, df, *, unseen="missing", name="X"):
        """The frame as the model's (rows, n) float64 matrix: codes (the label's
        position) in discrete columns, numbers in real ones, NaN where missing."""
        pd = _pandas()
        names = list(df.columns)
        if [repr(n) for n in names] != [repr(n) for n in self.names]:
            if sorted(map(repr, names)) == sorted(map(repr, self.names)):
                df = df[self.names]  # same columns, another order: the model's order
            else:
                raise ValueError(f"{name} has columns {names}, but the model was fitted on "
                                 f"{self.names}")
        out = np.empty((len(df), len(self.names)), dtype=np.float64)
        for j, (col_name, t, labels) in enumerate(zip(self.names, self.types, self.labels)):
            col = df[col_name]
            missing = col.isna().to_numpy()
            if t not in DISCRETE:
                try:
                    values = pd.to_numeric(col.astype(object).where(~missing, np.nan),
                                           errors="raise")
                except (ValueError, TypeError):
                    bad = next(v for v in col[~missing] if not isinstance(v, (int, float, np.number)))
                    raise ValueError(f"{name} column {col_name!r} is to hold real numbers, but "
                                     f"holds {bad!r}") from None
                out[:, j] = np.asarray(values, dtype=np.float64)
                continue
            index = {(type(v).__name__, v): k for k, v in enumerate(labels) if v is not None}
            codes = np.full(len(col), np.nan)
            for i, v in enumerate(col.astype(object).tolist()):
                if missing[i]:
                    continue
                v = _json_value(v)
                k = index.get((type(v).__name__, v))
                if k is None and isinstance(v, (int, float, bool, np.number)):
                    # numbers that compare equal to a label of another numeric type (2 vs 2.0)
                    k = next((k for k, l in enumerate(labels) if l is not None
                              and not isinstance(l, str) and l == v
                              and isinstance(l, bool) == isinstance(v, bool)), None)
                if k is None:
                    if unseen == "error":
                        raise ValueError(f"{name} column {col_name!r} holds {v!r} at row {i}, a "
                                         f"label the model has not seen (it knows {labels})")
                    warnings.warn(f"{name} column {col_name!r} holds {v!r} at row {i}, a label "
                                  f"the model has not seen; treated as missing", UserWarning,
                                  stacklevel=4)
                    continue
                codes[i] = k
            out[:, j] = codes
        return out

    def to_frame(self, X, index=None):
        """A (rows, n) matrix of the model's values as a frame: the names, order and
        dtypes of the training frame (integer columns rounded; labels for codes)."""
        pd = _pandas()
        columns = {}
        for j, (col_name, t, labels, dtype) in enumerate(zip(self.names, self.types, self.labels,
                                                             self.dtypes)):
            x = X[:, j]
            missing = np.isnan(x)
            if t in DISCRETE:
                codes = np.where(missing, -1, x).astype(np.int64)
                if dtype == "category":
                    columns[col_name] = pd.Categorical.from_codes(codes, categories=labels)
                    continue
                values = np.array([None if c < 0 else labels[c] for c in codes], dtype=object)
                columns[col_name] = self._cast(pd.Series(values, index=index), dtype, missing)
            else:
                series = pd.Series(x, index=index)
                if pd.api.types.is_integer_dtype(pd.api.types.pandas_dtype(dtype)):
                    series = series.round()
                columns[col_name] = self._cast(series, dtype, missing)
        frame = pd.DataFrame(columns, index=index)
        frame.columns = pd.Index(self.names, dtype=object) if not all(
            isinstance(n, str) for n in self.names) else pd.Index(self.names)
        return frame

    @staticmethod
    def _cast(series, dtype, missing):
        """The series in the training dtype where that can hold it (a numpy int or bool
        column with missing cells stays object / float)."""
        try:
            if missing.any() and dtype in ("bool",) + tuple(
                    f"{p}int{b}" for p in ("", "u") for b in (8, 16, 32, 64)):
                return series
            return series.astype(dtype)
        except (TypeError, ValueError):
            return series
