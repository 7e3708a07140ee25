"""Imputation beside scikit-learn's imputers, on real tables that installed packages ship
(issue 18): RMSE, accuracy, time, and the coverage of nadefast's multiple imputations.

    pip install -e ".[bench]"        # statsmodels, scikit-learn, pandas
    python benchmarks/imputation.py --out results/imputation.json

Tables, loaded at run time from the installed packages (nothing is committed or
downloaded): statsmodels' `fair` (Fair 1978, "A Theory of Extramarital Affairs", the
Redbook survey; 6366 x 9), `anes96` (the 1996 American National Election Study, 944 x 10
here) and `randhie` (the RAND Health Insurance Experiment, 20190 x 10) -- statsmodels lists
all three as public domain (their `COPYRIGHT` notes) -- and scikit-learn's `diabetes`
(Efron et al. 2004, 442 x 11, BSD via scikit-learn).  Column types, and why, are in TABLES
below: integer codes of a few unordered or Likert levels are "categorical", 0/1
indicators "bernoulli", quantities (counts, amounts, ages, binned quantities with numeric
meaning) real ("gaussian_mixture").  Discrete columns are coded 0..K-1 (levels sorted).

Missing cells (fixed seeds, the same masks for every imputer):

* MCAR at 10 %, 30 % and 50 %: each cell hidden independently with that probability;
* MNAR "self-masking": a real cell above its column's 70th percentile is hidden with
  probability 0.5, one at or below it with probability 0.1 (about 22 % of real cells, the
  large values over-represented among them); discrete cells MCAR at 20 %.

A row left with nothing observed gets one cell back (drawn at random), so every row has
something to condition on; the realised share of hidden cells is recorded.

Imputers (fit + transform on the table with holes; nothing else is seen):

* `nadefast`: NADEImputer (its defaults unless options say otherwise), method="mean" --
  the mean in real cells and the most probable code in discrete ones -- and
  `multiple_imputations` draws for the coverage of the 90 % interval (5 % and 95 %
  quantiles of the draws of each hidden real cell; 100 draws, of at most 2000 rows per
  mask -- randhie's and fair's drawn from the seed: a draw is a chain of conditionals, ~10 000
  row-draws a second on one core).  Even exact draws would cover a little less than 90 %:
  with m draws the interpolated quantiles span order statistics 0.05 (m - 1) + 1 and
  0.95 (m - 1) + 1, which hold a further draw of the same law with probability
  0.9 (m - 1) / (m + 1) = 0.882 for m = 100;
* `simple`: SimpleImputer, the mean in real columns and the most frequent code in discrete;
* `knn`: KNNImputer (5 neighbours, uniform weights);
* `iterative`: IterativeImputer (BayesianRidge, max_iter=10);
* `iterative_rf`: IterativeImputer(estimator=RandomForestRegressor(n_estimators=30,
  max_depth=12, min_samples_leaf=2), max_iter=10) -- fewer and shallower trees than the
  forest's defaults so that randhie (20 190 rows) fits in minutes; recorded in the JSON.

scikit-learn's imputers see the table standardised (observed mean and standard deviation
per column; KNN's distances need it, the others do not mind) and give real numbers in
discrete columns: those are rounded to the nearest valid code (clipped to 0..K-1) before
accuracy is counted.

Metrics per (table, pattern, seed, imputer), over the hidden cells only: RMSE per real
column in the column's units and divided by the column's standard deviation (of all its
true values), their mean over the real columns ("nrmse"); accuracy over the hidden cells
of the discrete columns; seconds of fit + transform (nadefast: also the draws).
Threads: the accuracy runs use 1 thread everywhere (OMP/OPENBLAS/MKL_NUM_THREADS=1,
n_jobs=1); the speed section (a synthetic 100 000 x 20 mixed table, 30 % MCAR) runs in a
child process with 2 BLAS threads and reports NADEImputer's fit and transform separately.

The win rule, fixed before any result was seen: a (table, MCAR rate) cell is won when
nadefast's nrmse (mean over the seeds) is lower than IterativeImputer's (BayesianRidge).
The issue's target is 2/3 of the 12 cells; accuracy and the RF variant are reported beside.
"""

import os
import sys

# one thread for every implicit pool unless the parent (the speed section) says otherwise;
# set before NumPy loads its BLAS
THREADS = os.environ.get("NADEFAST_BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = THREADS

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

REAL, BERN, CAT = "gaussian_mixture", "bernoulli", "categorical"
MCAR_RATES = (0.1, 0.3, 0.5)
MNAR = {"quantile": 0.7, "p_above": 0.5, "p_below": 0.1, "p_discrete": 0.2}
IMPUTERS = ("nadefast", "simple", "knn", "iterative", "iterative_rf")
RF = {"n_estimators": 30, "max_depth": 12, "min_samples_leaf": 2}

# Column types per table, with the reason.  A column not listed is real.
TABLES = {
    "fair": {
        CAT: {"rate_marriage": "1-5 rating of the marriage (Likert)",
              "religious": "1-4 religiousness (Likert)",
              "occupation": "1-6 occupation class codes (unordered)",
              "occupation_husb": "1-6 occupation class codes (unordered)"},
        BERN: {},
        "drop": {},
        "real": "age, yrs_married, children, educ (binned quantities coded by their values: "
                "years, counts), affairs (time in affairs, 77 values)",
    },
    "anes96": {
        CAT: {"selfLR": "1-7 left-right self-placement (Likert)",
              "ClinLR": "1-7 placement of Clinton (Likert)",
              "DoleLR": "1-7 placement of Dole (Likert)",
              "PID": "0-6 party identification (7-point scale)",
              "educ": "1-7 education level codes"},
        BERN: {"vote": "0/1 vote for Dole"},
        "drop": {"popul": "logpopul is log(popul + 0.1): a copy would make it trivial"},
        "real": "logpopul, TVnews (days a week, 0-7), age (years), income (24 brackets, "
                "ordered)",
    },
    "randhie": {
        CAT: {"lncoins": "5 coinsurance levels of the insurance plans (a design factor)"},
        BERN: {"idp": "0/1 individual deductible plan",
               "hlthg": "0/1 good health", "hlthf": "0/1 fair health",
               "hlthp": "0/1 poor health"},
        "drop": {},
        "real": "mdvis (visits, count), lpi, fmde (log amounts), physlm (share), disea "
                "(chronic diseases score)",
    },
    "diabetes": {
        CAT: {},
        BERN: {"sex": "two codes (1, 2)"},
        "drop": {},
        "real": "age, bmi, bp, s1-s6 (serum measurements), target (disease progression); "
                "raw units (scaled=False)",
    },
}


# ------------------------------------------------------------------- tables


def _raw_frame(name):
    """The table as the package ships it: a pandas DataFrame of numbers."""
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        return load_diabetes(as_frame=True, scaled=False).frame
    try:
        import statsmodels.api as sm
    except ImportError:
        sys.exit("benchmarks/imputation.py needs statsmodels for the fair, anes96 and randhie "
                 "tables: pip install -e \".[bench]\" (or pip install statsmodels), or pass "
                 "--tables diabetes")
    return getattr(sm.datasets, name).load_pandas().data


def load_table(name):
    """One benchmark table: {"X": (rows, n) float64 (discrete columns as codes 0..K-1),
    "types": n types, "columns": n names, "levels": per column the original values of
    codes 0..K-1 (None for real columns)}."""
    spec = TABLES[name]
    frame = _raw_frame(name).drop(columns=list(spec["drop"]))
    types, levels, cols = [], [], []
    for col in frame.columns:
        kind = CAT if col in spec[CAT] else BERN if col in spec[BERN] else REAL
        values = frame[col].to_numpy(dtype=np.float64)
        if kind == REAL:
            cols.append(values)
            levels.append(None)
        else:
            lv, codes = np.unique(values, return_inverse=True)
            if kind == BERN and lv.size != 2:
                raise ValueError(f"{name}.{col}: a bernoulli column needs 2 levels, has {lv.size}")
            cols.append(codes.astype(np.float64))
            levels.append(lv.tolist())
        types.append(kind)
    return {"name": name, "X": np.column_stack(cols), "types": types,
            "columns": list(frame.columns), "levels": levels}


# -------------------------------------------------------------------- masks


def keep_one_per_row(hidden, rng):
    """hidden (rows, n) bool with rows hidden whole given back one cell each (drawn
    uniformly), so that every row keeps an observed cell.  Returns a new array."""
    hidden = hidden.copy()
    full = np.flatnonzero(hidden.all(axis=1))
    hidden[full, rng.integers(0, hidden.shape[1], full.size)] = False
    return hidden


def mcar_mask(shape, rate, rng):
    """(rows, n) bool: each cell hidden independently with probability `rate`, no row
    hidden whole."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    return keep_one_per_row(rng.random(shape) < rate, rng)


def mnar_mask(X, types, rng, quantile=MNAR["quantile"], p_above=MNAR["p_above"],
              p_below=MNAR["p_below"], p_discrete=MNAR["p_discrete"]):
    """(rows, n) bool, self-masking: a real cell above its column's `quantile` quantile is
    hidden with probability p_above, one at or below with p_below; discrete cells with
    p_discrete (MCAR).  No row hidden whole."""
    p = np.full(X.shape, p_discrete)
    for j, t in enumerate(types):
        if t == REAL:
            high = X[:, j] > np.quantile(X[:, j], quantile)
            p[:, j] = np.where(high, p_above, p_below)
    return keep_one_per_row(rng.random(X.shape) < p, rng)


def make_mask(X, types, pattern, seed):
    """The mask of `pattern` ("mcar10", "mcar30", "mcar50" or "mnar") from its own seed."""
    rng = np.random.default_rng(seed)
    if pattern == "mnar":
        return mnar_mask(X, types, rng)
    if not pattern.startswith("mcar"):
        raise ValueError(f"unknown pattern {pattern!r}")
    return mcar_mask(X.shape, int(pattern[4:]) / 100.0, rng)


def mask_seed(table, pattern, seed):
    """A seed per (table, pattern, seed) that does not depend on the run's other choices."""
    return int(np.random.SeedSequence([seed, sum(map(ord, table)) * 1000 + sum(map(ord, pattern))])
               .generate_state(1)[0])


# ------------------------------------------------------------------ metrics


def rmse_per_column(X, filled, hidden, types):
    """{column index: RMSE over its hidden cells (the column's units)} for real columns
    with at least one hidden cell."""
    out = {}
    for j, t in enumerate(types):
        rows = hidden[:, j]
        if t == REAL and rows.any():
            out[j] = float(np.sqrt(np.mean((filled[rows, j] - X[rows, j]) ** 2)))
    return out


def normalised_rmse(X, rmse):
    """Mean over the columns of rmse[j] / (population standard deviation of X[:, j])."""
    ratios = [r / X[:, j].std() for j, r in rmse.items() if X[:, j].std() > 0]
    return float(np.mean(ratios)) if ratios else float("nan")


def discrete_accuracy(X, filled, hidden, types):
    """Share of the hidden discrete cells (all discrete columns pooled) filled with the
    true code; NaN when none is hidden."""
    cols = [j for j, t in enumerate(types) if t != REAL]
    if not cols:
        return float("nan")
    h = hidden[:, cols]
    if not h.any():
        return float("nan")
    return float(np.mean(filled[:, cols][h] == X[:, cols][h]))


def interval_coverage(X, draws, hidden, types, level=0.9):
    """Share of the hidden real cells whose true value lies inside the central `level`
    interval of the draws: draws (m, rows, n), quantiles (1-level)/2 and (1+level)/2 per
    cell, ends included."""
    lo, hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    inside, total = 0, 0
    for j, t in enumerate(types):
        rows = hidden[:, j]
        if t != REAL or not rows.any():
            continue
        d = draws[:, rows, j]
        q_lo, q_hi = np.quantile(d, lo, axis=0), np.quantile(d, hi, axis=0)
        truth = X[rows, j]
        inside += int(np.sum((truth >= q_lo) & (truth <= q_hi)))
        total += int(rows.sum())
    return inside / total if total else float("nan")


def snap_discrete(filled, types, levels_count):
    """Real numbers in discrete columns -> the nearest code, clipped to 0..K_j-1 (copy)."""
    out = filled.copy()
    for j, t in enumerate(types):
        if t != REAL:
            out[:, j] = np.clip(np.rint(out[:, j]), 0, levels_count[j] - 1)
    return out


# ----------------------------------------------------------------- imputers


def _standardised(H):
    """H with each column's observed mean subtracted and divided by its observed
    standard deviation (1 for a constant column): (Z, mean, sd)."""
    mean = np.nanmean(H, axis=0)
    sd = np.nanstd(H, axis=0)
    sd[~(sd > 0)] = 1.0
    return (H - mean) / sd, mean, sd


def sklearn_imputer(kind, types, seed):
    """An unfitted scikit-learn imputer of `kind` for columns of `types` (1 thread)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    if kind == "simple":
        real = [j for j, t in enumerate(types) if t == REAL]
        disc = [j for j, t in enumerate(types) if t != REAL]
        parts = [("real", SimpleImputer(strategy="mean"), real),
                 ("discrete", SimpleImputer(strategy="most_frequent"), disc)]
        return _Reordered(ColumnTransformer([p for p in parts if p[2]]), real + disc)
    if kind == "knn":
        return KNNImputer(n_neighbors=5)
    if kind == "iterative":
        return IterativeImputer(max_iter=10, random_state=seed)
    if kind == "iterative_rf":
        forest = RandomForestRegressor(**RF, n_jobs=1, random_state=seed)
        return IterativeImputer(estimator=forest, max_iter=10, random_state=seed)
    raise ValueError(f"unknown imputer {kind!r}")


class _Reordered:
    """A ColumnTransformer's output (columns grouped as given) back in the input's order."""

    def __init__(self, transformer, order):
        self.transformer, self.order = transformer, np.asarray(order)

    def fit_transform(self, X):
        out = np.empty_like(X)
        out[:, self.order] = self.transformer.fit_transform(X)
        return out


def run_sklearn(kind, H, types, levels_count, seed):
    """(filled, seconds): H's holes filled by a scikit-learn imputer on the standardised
    table, back in the original units, discrete columns snapped to valid codes."""
    t0 = time.perf_counter()
    Z, mean, sd = _standardised(H)
    with warnings.catch_warnings():  # IterativeImputer's "did not converge" at max_iter
        warnings.simplefilter("ignore")
        filled = sklearn_imputer(kind, types, seed).fit_transform(Z) * sd + mean
    filled = snap_discrete(filled, types, levels_count)
    seconds = time.perf_counter() - t0
    observed = ~np.isnan(H)
    filled[observed] = H[observed]  # the scaling's round trip can move the last bit
    return filled, seconds


def nade_settings(args):
    """NADEImputer keyword arguments given on the command line (the rest: its defaults)."""
    names = {"hidden": "n_hidden", "layers": "n_layers", "epochs": "epochs", "lr": "learning_rate",
             "weight_decay": "weight_decay", "components": "n_components",
             "patience": "patience", "mean_samples": "n_samples"}
    return {key: getattr(args, opt) for opt, key in names.items()
            if getattr(args, opt) is not None}


def coverage_rows(n_rows, limit, seed):
    """The rows whose draws measure the coverage: all of them when n_rows <= limit, else
    `limit` rows drawn without replacement (sorted) from the seed -- drawing costs a
    chain of conditionals per row and draw, minutes on randhie's 20 190 rows."""
    if limit is None or n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))


def run_nadefast(H, types, seed, settings, n_draws, rows):
    """(filled, draws, record): NADEImputer(method="mean") fitted on H and its
    multiple_imputations (n_draws, len(rows), n) of H[rows]."""
    from nadefast.impute import NADEImputer

    imputer = NADEImputer(column_types=types, method="mean", random_state=seed, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the budget running out first: n_epochs_ records it
        t0 = time.perf_counter()
        imputer.fit(H)
        t1 = time.perf_counter()
    filled = imputer.transform(H)
    t2 = time.perf_counter()
    draws = (imputer.multiple_imputations(H[rows], n_draws, random_state=seed + 1)
             if n_draws else None)
    t3 = time.perf_counter()
    record = {"fit_seconds": t1 - t0, "transform_seconds": t2 - t1, "draw_seconds": t3 - t2,
              "n_epochs": imputer.n_epochs_, "best_epoch": imputer.best_epoch_,
              "params": {k: v for k, v in imputer.get_params().items()
                         if isinstance(v, (int, float, str, type(None)))}}
    return filled, draws, record


# -------------------------------------------------------------------- runs


def evaluate(table, pattern, seed, imputers, args):
    """Every imputer on one mask of one table: a list of result records."""
    X, types = table["X"], table["types"]
    levels_count = [len(lv) if lv is not None else 0 for lv in table["levels"]]
    hidden = make_mask(X, types, pattern, mask_seed(table["name"], pattern, seed))
    H = np.where(hidden, np.nan, X)
    base = {"table": table["name"], "pattern": pattern, "seed": seed,
            "hidden_share": float(hidden.mean())}
    out = []
    for kind in imputers:
        extra = {}
        if kind == "nadefast":
            rows = coverage_rows(X.shape[0], args.coverage_rows, seed + 2)
            filled, draws, extra = run_nadefast(H, types, seed, nade_settings(args), args.draws,
                                                rows)
            seconds = extra["fit_seconds"] + extra["transform_seconds"]
            if draws is not None:
                extra["coverage90"] = interval_coverage(X[rows], draws, hidden[rows], types)
                extra["coverage_rows"] = int(rows.size)
        else:
            filled, seconds = run_sklearn(kind, H, types, levels_count, seed)
        rmse = rmse_per_column(X, filled, hidden, types)
        rec = {**base, "imputer": kind, "seconds": seconds,
               "rmse": {table["columns"][j]: r for j, r in rmse.items()},
               "nrmse": normalised_rmse(X, rmse),
               "accuracy": discrete_accuracy(X, filled, hidden, types), **extra}
        out.append(rec)
        cov = f"  coverage90 {rec['coverage90']:.3f}" if "coverage90" in rec else ""
        log(f"{table['name']:9s} {pattern:6s} seed {seed} {kind:13s} nrmse {rec['nrmse']:.4f}  "
            f"acc {rec['accuracy']:.4f}  {seconds:7.1f} s{cov}")
    return out


def mean_over_seeds(results):
    """{(table, pattern, imputer): {nrmse, accuracy, seconds, coverage90}} averaged."""
    groups = {}
    for r in results:
        groups.setdefault((r["table"], r["pattern"], r["imputer"]), []).append(r)
    out = {}
    for key, recs in groups.items():
        out[key] = {m: float(np.mean([r[m] for r in recs]))
                    for m in ("nrmse", "accuracy", "seconds", "coverage90") if m in recs[0]}
    return out


def win_count(summary, tables, patterns, against="iterative"):
    """Cells (table, MCAR pattern) where nadefast's nrmse is below `against`'s: (won,
    cells, the list of won cells)."""
    won, cells = [], 0
    for t in tables:
        for p in patterns:
            a, b = summary.get((t, p, "nadefast")), summary.get((t, p, against))
            if p.startswith("mcar") and a is not None and b is not None:
                cells += 1
                if a["nrmse"] < b["nrmse"]:
                    won.append(f"{t}/{p}")
    return len(won), cells, won


def print_table(summary, tables, patterns, imputers):
    """The summary as markdown: per table x pattern, nrmse / accuracy / seconds of each
    imputer and nadefast's coverage."""
    head = " | ".join(f"{k} nrmse / acc / s" for k in imputers)
    lines = [f"| table | pattern | {head} | nadefast cov90 |",
             "|---|---|" + "---|" * (len(imputers) + 1)]
    for t in tables:
        for p in patterns:
            cells = []
            for k in imputers:
                s = summary.get((t, p, k))
                cells.append("-" if s is None else
                             f"{s['nrmse']:.3f} / {_pct(s['accuracy'])} / {s['seconds']:.1f}")
            s = summary.get((t, p, "nadefast"), {})
            cov = f"{s['coverage90']:.3f}" if "coverage90" in s else "-"
            lines.append(f"| {t} | {p} | " + " | ".join(cells) + f" | {cov} |")
    return "\n".join(lines)


def _pct(x):
    return "-" if not np.isfinite(x) else f"{100 * x:.1f} %"


# -------------------------------------------------------------------- speed


def synthetic_table(rows, seed=0):
    """A 20-column mixed table with dependence between its columns: 10 real, 5 binary
    and 5 categorical (4 levels), all driven by 3 latent factors.  (X, types)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, 3))
    load = rng.normal(size=(3, 20))
    signal = z @ load
    real = signal[:, :10] + 0.5 * rng.normal(size=(rows, 10))
    binary = (signal[:, 10:15] + rng.logistic(size=(rows, 5)) > 0).astype(np.float64)
    cut = np.quantile(signal[:, 15:], [0.25, 0.5, 0.75], axis=0)  # (3, 5)
    noisy = signal[:, 15:] + 0.5 * rng.normal(size=(rows, 5))
    cat = (noisy[:, None, :] > cut[None]).sum(axis=1).astype(np.float64)
    return np.column_stack([real, binary, cat]), [REAL] * 10 + [BERN] * 5 + [CAT] * 5


def speed_check(rows, settings, seed=0):
    """NADEImputer on the synthetic table with 30 % MCAR: fit and transform seconds, in
    this process (run it with NADEFAST_BENCH_THREADS=2)."""
    from nadefast.impute import NADEImputer

    X, types = synthetic_table(rows, seed)
    H = np.where(mcar_mask(X.shape, 0.3, np.random.default_rng(seed + 1)), np.nan, X)
    imputer = NADEImputer(column_types=types, method="mean", random_state=seed, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        imputer.fit(H)
        t1 = time.perf_counter()
    filled = imputer.transform(H)
    t2 = time.perf_counter()
    hidden = np.isnan(H)
    rmse = rmse_per_column(X, filled, hidden, types)
    return {"rows": rows, "columns": 20, "threads": int(THREADS), "fit_seconds": t1 - t0,
            "transform_seconds": t2 - t1, "total_seconds": t2 - t0,
            "n_epochs": imputer.n_epochs_, "best_epoch": imputer.best_epoch_,
            "nrmse": normalised_rmse(X, rmse),
            "accuracy": discrete_accuracy(X, filled, hidden, types)}


def speed_in_child(args, threads=2):
    """speed_check in a fresh process whose BLAS pools have `threads` threads."""
    env = {**os.environ, "NADEFAST_BENCH_THREADS": str(threads)}
    cmd = [sys.executable, os.path.abspath(__file__), "--speed-child", "--speed-rows",
           str(args.speed_rows)] + _nade_argv(args)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"speed check failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _nade_argv(args):
    out = []
    for opt in ("hidden", "layers", "epochs", "lr", "weight_decay", "components", "patience",
                "mean_samples"):
        v = getattr(args, opt)
        if v is not None:
            out += [f"--{opt.replace('_', '-')}", str(v)]
    return out


# --------------------------------------------------------------------- main


def log(msg):
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


T0 = time.perf_counter()


def json_safe(value):
    """value with every non-finite float as None: standard JSON has no Infinity or NaN (an
    imputation whose draws overflowed scores an infinite RMSE)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def machine():
    """Date, CPU, load, versions: the record's header."""
    import sklearn

    import nadefast

    try:
        import statsmodels
        sm_version = statsmodels.__version__
    except ImportError:
        sm_version = None
    # imported late: importing benchutil pins the implicit thread pools to one thread, and
    # the speed section's child sets its own (this process's are loaded by now)
    from benchutil import cpu_model

    cpu = cpu_model()
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu": cpu, "logical_cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
            "python": platform.python_version(), "numpy": np.__version__,
            "sklearn": sklearn.__version__, "statsmodels": sm_version,
            "nadefast": nadefast.__version__, "git_commit": _git_commit(),
            "threads": int(THREADS)}


def _git_commit():
    """The checkout's commit (with "+dirty" when it has changes), or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty.strip() else "")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="write the JSON record here")
    p.add_argument("--tables", default=",".join(TABLES), help='comma-separated; "" for none '
                   '(the speed check alone)')
    p.add_argument("--patterns", default="mcar10,mcar30,mcar50,mnar")
    p.add_argument("--seeds", default="0,1,2", help="mask (and model) seeds; each cell's "
                   "figures are means over them")
    p.add_argument("--imputers", default=",".join(IMPUTERS))
    p.add_argument("--draws", type=int, default=100,
                   help="nadefast's multiple imputations per row for the coverage (0: none)")
    p.add_argument("--coverage-rows", type=int, default=2000,
                   help="rows (drawn from the seed) whose draws measure the coverage, when the "
                        "table has more")
    p.add_argument("--speed-rows", type=int, default=100_000,
                   help="rows of the synthetic speed table (0: no speed section)")
    p.add_argument("--speed-child", action="store_true", help=argparse.SUPPRESS)
    g = p.add_argument_group("NADEImputer settings (default: the imputer's own defaults)")
    g.add_argument("--hidden", type=int)
    g.add_argument("--layers", type=int)
    g.add_argument("--epochs", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--components", type=int)
    g.add_argument("--patience", type=int)
    g.add_argument("--mean-samples", type=int,
                   help="n_samples of method='mean' (default: the imputer's)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.speed_child:
        print(json.dumps(speed_check(args.speed_rows, nade_settings(args))))
        return
    tables = [t for t in args.tables.split(",") if t]  # --tables "": the speed check alone
    patterns = args.patterns.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    imputers = args.imputers.split(",")
    for name in tables:
        if name not in TABLES:
            sys.exit(f"unknown table {name!r}; choose among {list(TABLES)}")
    for name in imputers:
        if name not in IMPUTERS:
            sys.exit(f"unknown imputer {name!r}; choose among {list(IMPUTERS)}")
    record = {"command": " ".join([os.path.relpath(__file__)] + sys.argv[1:] if argv is None
                                  else argv), **machine(), "seeds": seeds, "patterns": patterns,
              "mnar": MNAR, "random_forest": RF, "nadefast_settings": nade_settings(args),
              "draws": args.draws,
              "tables": {}, "results": []}
    for name in tables:
        table = load_table(name)
        record["tables"][name] = {"rows": int(table["X"].shape[0]), "columns": table["columns"],
                                  "types": table["types"], "levels": table["levels"],
                                  "why": {k: v for k, v in TABLES[name].items()}}
        log(f"{name}: {table['X'].shape[0]} rows; types {table['types']}")
        for pattern in patterns:
            for seed in seeds:
                record["results"].extend(evaluate(table, pattern, seed, imputers, args))
    summary = mean_over_seeds(record["results"])
    record["summary"] = [{"table": t, "pattern": p, "imputer": k, **v}
                         for (t, p, k), v in summary.items()]
    if tables:
        print(print_table(summary, tables, patterns, imputers))
    if tables and "nadefast" in imputers:
        for against in ("iterative", "iterative_rf"):
            if against in imputers:
                won, cells, which = win_count(summary, tables, patterns, against)
                record[f"wins_vs_{against}"] = {"won": won, "cells": cells, "which": which}
                print(f"nadefast beats {against} (nrmse) in {won} of {cells} MCAR cells: {which}")
    if args.speed_rows:
        log(f"speed check: {args.speed_rows} x 20 synthetic, 30 % MCAR, 2 threads")
        record["speed"] = speed_in_child(args)
        print(f"speed ({args.speed_rows} x 20, 2 threads): {json.dumps(record['speed'])}")
    record["seconds"] = time.perf_counter() - T0
    record["load_average_end"] = list(os.getloadavg())
    if args.out:
        with open(args.out, "w") as f:
            json.dump(json_safe(record), f, indent=1, allow_nan=False)
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
