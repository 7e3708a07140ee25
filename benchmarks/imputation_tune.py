"""How NADEImputer's defaults were chosen: one setting changed at a time from a base, on
validation masks only -- diabetes and fair at 30 % MCAR with mask seed 100, a seed the
reported benchmark (benchmarks/imputation.py, seeds 0, 1, ...) never uses.

    python benchmarks/imputation_tune.py --out results/imputation_tuning.json

Each setting is scored by nadefast's normalised RMSE (mean over real columns, then over
the two tables) and the accuracy on the discrete cells; IterativeImputer on the same masks
is printed for scale.  One thread (see imputation.py).
"""

import argparse
import json
import sys
import time

import imputation as imp  # sets the thread variables before NumPy loads
import numpy as np

SEED = 100
TABLES = ("diabetes", "fair")
# Round 1: one change at a time from the imputer's earlier defaults.  Round 2: from
# round 1's best (128 hidden units) with epochs="auto" (a budget of gradient steps).
ROUNDS = {
    1: ({"n_hidden": 64, "n_layers": 2, "learning_rate": 1e-3, "weight_decay": 0.0,
         "n_components": 5, "epochs": 100, "patience": 20},
        [{}, {"n_hidden": 32}, {"n_hidden": 128}, {"n_layers": 1}, {"n_layers": 3},
         {"learning_rate": 3e-3}, {"learning_rate": 3e-4, "epochs": 300},
         {"weight_decay": 0.01}, {"weight_decay": 0.1}, {"n_components": 2},
         {"n_components": 10}, {"epochs": 300, "patience": 40}]),
    2: ({"n_hidden": 128, "n_layers": 2, "learning_rate": 1e-3, "weight_decay": 0.0,
         "n_components": 5, "epochs": "auto", "patience": 20},
        [{}, {"n_components": 10}, {"n_components": 3}, {"learning_rate": 3e-3},
         {"weight_decay": 0.01}, {"n_hidden": 256}, {"patience": 10}]),
}


def score(settings, tables, n_samples):
    """{table: (nrmse, accuracy, seconds, epochs)} of NADEImputer(**settings) on each
    table's validation mask."""
    out = {}
    for name, (X, types, H, hidden) in tables.items():
        full = {**settings, "n_samples": n_samples} if n_samples else settings
        t0 = time.perf_counter()
        filled, _, rec = imp.run_nadefast(H, types, SEED, full, 0, np.arange(0))
        seconds = time.perf_counter() - t0
        rmse = imp.rmse_per_column(X, filled, hidden, types)
        out[name] = (imp.normalised_rmse(X, rmse), imp.discrete_accuracy(X, filled, hidden, types),
                     seconds, rec["n_epochs"])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out")
    p.add_argument("--round", type=int, default=2, choices=sorted(ROUNDS))
    p.add_argument("--mean-samples", type=int, default=None,
                   help="n_samples of method='mean' (default: the imputer's)")
    args = p.parse_args(argv)
    tables = {}
    for name in TABLES:
        t = imp.load_table(name)
        X, types = t["X"], t["types"]
        hidden = imp.make_mask(X, types, "mcar30", imp.mask_seed(name, "mcar30", SEED))
        tables[name] = (X, types, np.where(hidden, np.nan, X), hidden)
    record = {"command": " ".join(["benchmarks/imputation_tune.py"] + sys.argv[1:]),
              **imp.machine(), "seed": SEED, "round": args.round, "base": ROUNDS[args.round][0],
              "results": []}
    base, variants = ROUNDS[args.round]
    for name, (X, types, H, hidden) in tables.items():
        levels = [int(X[:, j].max()) + 1 if t != imp.REAL else 0 for j, t in enumerate(types)]
        filled, s = imp.run_sklearn("iterative", H, types, levels, SEED)
        rmse = imp.rmse_per_column(X, filled, hidden, types)
        record[f"iterative_{name}"] = {"nrmse": imp.normalised_rmse(X, rmse),
                                       "accuracy": imp.discrete_accuracy(X, filled, hidden, types)}
        imp.log(f"iterative {name}: {record[f'iterative_{name}']}")
    for change in variants:
        settings = {**base, **change}
        res = score(settings, tables, args.mean_samples)
        mean = float(np.mean([r[0] for r in res.values()]))
        record["results"].append({"change": change, "mean_nrmse": mean,
                                  **{k: dict(zip(("nrmse", "accuracy", "seconds", "epochs"), v))
                                     for k, v in res.items()}})
        imp.log(f"{json.dumps(change):45s} mean nrmse {mean:.4f}  " + "  ".join(
            f"{k} {v[0]:.4f}/{v[1]:.3f}/{v[2]:.0f}s/{v[3]}ep" for k, v in res.items()))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(imp.json_safe(record), f, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
