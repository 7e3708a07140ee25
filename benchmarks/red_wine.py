"""Red wine, the papers' 10-fold protocol: mean test log-likelihood per datapoint in the
standardised space (statistics of train + valid), averaged over the folds.

    NADEFAST_DATA=../shared/data python benchmarks/red_wine.py --model nade --out results/red_wine_nade.json

Models: `gaussian` (a full-covariance Gaussian of train + valid: the check, -13.18 in the
papers), `nade` (fixed-order RNADE) and `oa` (order-agnostic RNADE, scored as an ensemble of
--orderings orderings).  The estimators compute densities in the user's units; adding
sum_j log sd_j of the protocol's statistics gives the standardised space (docs/mixture.md §1).
"""

import argparse
import itertools
import json
import sys
import time

import numpy as np

import nadefast
from nadefast.datasets import RED_WINE_FOLDS, load_red_wine


def gaussian_test_loglik(train, test):
    """Mean test log-density of a full-covariance Gaussian fitted by maximum likelihood to
    `train`, in the space standardised with train's statistics."""
    mean, sd = train.mean(axis=0), train.std(axis=0)
    Z, T = (train - mean) / sd, (test - mean) / sd
    L = np.linalg.cholesky(np.cov(Z.T, bias=True))
    y = np.linalg.solve(L, T.T)
    return float((-0.5 * (y * y).sum(axis=0) - np.log(np.diag(L)).sum()
                  - 0.5 * Z.shape[1] * np.log(2 * np.pi)).mean())


def values(text, kind):
    """'1,2,3' -> [1, 2, 3] of `kind`."""
    return [kind(v) for v in str(text).split(",")]


def fit_one(args, data, hidden, components, weight_decay, lr, layers, activation):
    """One model fitted on data's train split (early stopping on valid): the model and its
    mean validation and test log-densities in the user's units."""
    common = dict(output="gaussian_mixture", n_components=components,
                  random_state=args.seed, backend=args.backend, n_jobs=args.n_jobs)
    if args.model == "nade":
        model = nadefast.NADE(hidden, activation=activation, **common)
        score = model.score_samples
    else:
        model = nadefast.OrderAgnosticNADE(hidden, n_layers=layers, ordering="random", **common)

        def score(X, orderings=None):
            return model.score_samples(X, orderings or args.orderings[0], random_state=args.seed)
    model.fit(data["train"], data["valid"], learning_rate=lr, weight_decay=weight_decay,
              epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
              lr_schedule=args.lr_schedule)
    more = ({K: float(score(data["test"], K).mean()) for K in args.orderings[1:]}
            if args.model == "oa" else {})
    return model, float(score(data["valid"]).mean()), float(score(data["test"]).mean()), more


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("gaussian", "nade", "oa"), required=True)
    p.add_argument("--hidden", default="50", help="hidden units (per layer); a list selects")
    p.add_argument("--layers", default="2", help="oa only; a list selects")
    p.add_argument("--components", default="10", help="a list selects")
    p.add_argument("--lr", default="1e-3", help="a list selects")
    p.add_argument("--activation", default="sigmoid",
                   help="nade only: its hidden units, sigmoid or relu; a list selects")
    p.add_argument("--weight-decay", default="0", help="a list selects")
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--patience", type=int, default=30)
    p.add_argument("--batch-size", default="auto")
    p.add_argument("--lr-schedule", default="plateau", choices=("plateau", "constant", "linear"))
    p.add_argument("--orderings", default="16",
                   help="oa only: ensemble size; more sizes after a comma are also reported "
                        "(the first one is the model's score and selects)")
    p.add_argument("--folds", default="1-10", help="e.g. 1-10 or 1,2,3")
    p.add_argument("--backend", default="compiled")
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the record here (JSON)")
    args = p.parse_args(argv)
    args.orderings = values(args.orderings, int)
    if args.model != "nade" and args.activation != "sigmoid":
        p.error("--activation applies to --model nade (an order-agnostic model's layers are ReLU)")
    if args.batch_size != "auto":
        args.batch_size = int(args.batch_size)
    if "-" in args.folds:
        a, b = (int(v) for v in args.folds.split("-"))
        folds = list(range(a, b + 1))
    else:
        folds = [int(v) for v in args.folds.split(",")]
    grid = list(itertools.product(values(args.hidden, int), values(args.components, int),
                                  values(args.weight_decay, float), values(args.lr, float),
                                  values(args.layers, int), values(args.activation, str)))
    records = []
    for k in folds:
        data = load_red_wine(k)
        seen = np.vstack([data["train"], data["valid"]])
        to_standardised = float(np.log(seen.std(axis=0)).sum())
        t0 = time.perf_counter()
        if args.model == "gaussian":
            record = {"test_loglik": gaussian_test_loglik(seen, data["test"])}
        else:
            best = None
            for setting in grid:
                model, valid, test, more = fit_one(args, data, *setting)
                if best is None or valid > best[1]:
                    best = (setting, valid, test, len(model.history_), model.best_epoch_, more)
            setting, valid, test, epochs, kept, more = best
            record = {"test_loglik": test + to_standardised,
                      "valid_loglik": valid + to_standardised,
                      "selected": {k: v for k, v in zip(
                          ("hidden", "components", "weight_decay", "lr", "layers", "activation"),
                          setting) if not (k == "activation" and args.model == "oa")},
                      "epochs": [epochs, kept]}
            if more:
                record["test_loglik_by_orderings"] = {K: v + to_standardised
                                                      for K, v in more.items()}
        record.update(fold=k, seconds=time.perf_counter() - t0)
        records.append(record)
        print(f"fold {k:2d}: test log-likelihood {record['test_loglik']:.3f}"
              + (f" (valid {record['valid_loglik']:.3f}, epochs {record['epochs'][0]}, kept "
                 f"{record['epochs'][1]}, {record['selected']})" if "selected" in record else ""),
              flush=True)
    mean = float(np.mean([r["test_loglik"] for r in records]))
    for K in args.orderings[1:] if args.model == "oa" else ():
        print(f"  with {K} orderings: mean test log-likelihood "
              f"{np.mean([r['test_loglik_by_orderings'][K] for r in records]):.3f}")
    valid = [r["valid_loglik"] for r in records if "valid_loglik" in r]
    print(f"mean over {len(records)} folds: {mean:.3f}"
          + (f" (validation {np.mean(valid):.3f})" if valid else ""))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"settings": vars(args), "folds": records, "mean_test_loglik": mean,
                       "n_folds": len(records), "of": RED_WINE_FOLDS,
                       "nadefast": nadefast.__version__,
                       "date": time.strftime("%Y-%m-%d")}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
