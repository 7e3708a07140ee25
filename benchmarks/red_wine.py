"""Red wine, the papers' 10-fold protocol: mean test log-likelihood per datapoint in the
standardised space (statistics of train + valid), averaged over the folds.

    NADEFAST_DATA=../shared/data python benchmarks/red_wine.py --model nade --out results/red_wine_nade.json

Models: `gaussian` (a full-covariance Gaussian of train + valid: the check, -13.18 in the
papers), `nade` (fixed-order RNADE) and `oa` (order-agnostic RNADE, scored as an ensemble of
--orderings orderings).  The estimators compute densities in the user's units; adding
sum_j log sd_j of the protocol's statistics gives the standardised space (docs/mixture.md §1).
"""

import argparse
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("gaussian", "nade", "oa"), required=True)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--layers", type=int, default=2, help="oa only")
    p.add_argument("--components", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--orderings", type=int, default=16, help="oa only: ensemble size")
    p.add_argument("--folds", default="1-10", help="e.g. 1-10 or 1,2,3")
    p.add_argument("--backend", default="numpy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the record here (JSON)")
    args = p.parse_args(argv)
    if "-" in args.folds:
        a, b = (int(v) for v in args.folds.split("-"))
        folds = list(range(a, b + 1))
    else:
        folds = [int(v) for v in args.folds.split(",")]
    records = []
    for k in folds:
        data = load_red_wine(k)
        seen = np.vstack([data["train"], data["valid"]])
        to_standardised = float(np.log(seen.std(axis=0)).sum())
        t0 = time.perf_counter()
        if args.model == "gaussian":
            test, epochs = gaussian_test_loglik(seen, data["test"]), None
        else:
            common = dict(output="gaussian_mixture", n_components=args.components,
                          random_state=args.seed, backend=args.backend)
            if args.model == "nade":
                model = nadefast.NADE(args.hidden, **common)
            else:
                model = nadefast.OrderAgnosticNADE(args.hidden, n_layers=args.layers,
                                                   ordering="random", **common)
            model.fit(data["train"], data["valid"], learning_rate=args.lr,
                      weight_decay=args.weight_decay)
            ll = (model.score_samples(data["test"]) if args.model == "nade" else
                  model.score_samples(data["test"], args.orderings, random_state=args.seed))
            test, epochs = float(ll.mean()) + to_standardised, (len(model.history_),
                                                                 model.best_epoch_)
        records.append({"fold": k, "test_loglik": test, "epochs": epochs,
                        "seconds": time.perf_counter() - t0})
        print(f"fold {k:2d}: test log-likelihood {test:.3f}"
              + (f" (epochs {epochs[0]}, kept {epochs[1]})" if epochs else ""), flush=True)
    mean = float(np.mean([r["test_loglik"] for r in records]))
    print(f"mean over {len(records)} folds: {mean:.3f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"settings": vars(args), "folds": records, "mean_test_loglik": mean,
                       "n_folds": len(records), "of": RED_WINE_FOLDS,
                       "nadefast": nadefast.__version__,
                       "date": time.strftime("%Y-%m-%d")}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
