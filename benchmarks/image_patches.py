"""Natural-image patches (8 x 8, 63 features; nadefast.datasets.load_image_patches): mean test
log-likelihood per patch in nats of a scikit-learn Gaussian mixture fitted on the spot and of
RNADE, on the same arrays.

    python benchmarks/image_patches.py --out results/image_patches.json

Needs scikit-image (the images; ``pip install "nadefast[images]"``) and scikit-learn.

Models (``--models``, comma-separated, in this order):

* ``gmm`` - ``sklearn.mixture.GaussianMixture`` with full covariances, one fit per number of
  components in ``--gmm-components``; the one with the highest mean validation
  log-likelihood is the baseline's figure (the others' test figures are recorded too, never
  used to choose).
* ``nade`` - fixed-order RNADE, ``nadefast.NADE(output="gaussian_mixture")`` with the
  compiled backend, trained on train with early stopping on valid (``fit``'s defaults unless
  a flag says otherwise: Adam, plateau schedule, patience 30).
* ``oa`` - order-agnostic RNADE, ``OrderAgnosticNADE(output="gaussian_mixture",
  ordering="random")``, scored as an ensemble of ``--orderings`` random orderings.

Both kinds of model score the same float64 arrays: sklearn's ``score_samples`` and
nadefast's (which includes the Jacobian of its internal standardisation, docs/mixture.md §1)
are log-densities of the 63-dimensional patch vectors in the same units.  The record also
splits the test figure by patch contrast (the standard deviation of a patch's grey levels).
Standard errors
are the sample standard deviation of the per-patch log-likelihoods over sqrt(n); for the
difference between an RNADE and the baseline, of the per-patch differences (paired: the
same patches), which is the smaller error that matters for the comparison.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import nadefast
from nadefast import _patch_data
from nadefast.datasets import load_image_patches


def summary(ll):
    ll = np.asarray(ll, dtype=np.float64)
    return {"mean": float(ll.mean()), "se": float(ll.std(ddof=1) / np.sqrt(len(ll))),
            "n": int(len(ll))}


# bins of a test patch's contrast: the standard deviation of its 64 grey levels
CONTRAST_BINS = (0, 1, 2, 4, 8, 16, 32, 48, 64, 256)


def contrast(x):
    """Standard deviation, in grey levels, of each patch's 64 dequantised pixels (the dropped
    one restored as minus the sum of the others)."""
    return np.hstack([x, -x.sum(axis=1, keepdims=True)]).std(axis=1) * 256


def by_contrast(ll, sd, base=None):
    """Mean log-likelihood per contrast bin (and, with `base`, the bin's share of the mean
    difference to the baseline: sum over the bin of ll - base, over all test patches)."""
    rows = []
    for lo, hi in zip(CONTRAST_BINS[:-1], CONTRAST_BINS[1:]):
        k = (sd >= lo) & (sd < hi)
        if k.any():
            row = {"sd_from": lo, "sd_to": hi, "n": int(k.sum()), "mean": float(ll[k].mean())}
            if base is not None:
                row["share_of_difference"] = float((ll[k] - base[k]).sum() / len(ll))
            rows.append(row)
    return rows


def fit_gmm(data, args, kind="gmm"):
    from sklearn.mixture import GaussianMixture

    trials, test_ll = [], {}
    for k in args.gmm_components:
        t0 = time.perf_counter()
        gmm = GaussianMixture(k, covariance_type="full", reg_covar=args.reg_covar,
                              max_iter=args.gmm_max_iter, random_state=args.seed)
        gmm.fit(data["train"])
        seconds = time.perf_counter() - t0
        test_ll[k] = gmm.score_samples(data["test"])
        trial = {"n_components": k, "seconds": seconds, "n_iter": int(gmm.n_iter_),
                 "converged": bool(gmm.converged_),
                 "valid": summary(gmm.score_samples(data["valid"])), "test": summary(test_ll[k])}
        trials.append(trial)
        print(f"gmm K={k:3d}: valid {trial['valid']['mean']:.3f}  test "
              f"{trial['test']['mean']:.3f} +- {trial['test']['se']:.3f}  ({gmm.n_iter_} EM "
              f"iterations{'' if gmm.converged_ else ', not converged'}, {seconds:.1f} s)",
              flush=True)
    best = max(trials, key=lambda t: t["valid"]["mean"])
    return {"model": "gmm", "settings": {"covariance_type": "full", "reg_covar": args.reg_covar,
                                         "max_iter": args.gmm_max_iter, "n_init": 1,
                                         "random_state": args.seed,
                                         "n_components_tried": args.gmm_components,
                                         "n_components": best["n_components"]},
            "valid": best["valid"], "test": best["test"], "train_seconds": best["seconds"],
            "total_seconds": sum(t["seconds"] for t in trials),
            "trials": trials}, test_ll[best["n_components"]]


def fit_rnade(data, args, kind):
    common = dict(output="gaussian_mixture", n_components=args.components,
                  random_state=args.seed, backend="compiled", n_jobs=args.n_jobs)
    if kind == "nade":
        model = nadefast.NADE(args.hidden, activation=args.activation, **common)
        fit = dict(learning_rate=args.lr, weight_decay=args.weight_decay)
    else:
        model = nadefast.OrderAgnosticNADE(args.oa_hidden, n_layers=args.oa_layers,
                                           ordering="random", **common)
        fit = dict(learning_rate=args.oa_lr, weight_decay=args.oa_weight_decay)
    fit.update(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
               lr_schedule=args.lr_schedule)
    t0 = time.perf_counter()
    model.fit(data["train"], data["valid"], verbose=True, **fit)
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    if kind == "nade":
        valid, test = (model.score_samples(data[s]) for s in ("valid", "test"))
    else:
        valid, test = (model.score_samples(data[s], args.orderings, random_state=args.seed)
                       for s in ("valid", "test"))
    eval_seconds = time.perf_counter() - t0
    settings = {"n_hidden": model.n_hidden, "n_components": args.components,
                **({"activation": args.activation} if kind == "nade" else {}),
                "backend": "compiled", "random_state": args.seed, "n_jobs": args.n_jobs,
                "dtype": str(model.dtype), **fit}
    record = {"model": kind, "settings": settings, "valid": summary(valid), "test": summary(test),
              "epochs": len(model.history_), "best_epoch": model.best_epoch_,
              "train_seconds": train_seconds, "eval_seconds": eval_seconds}
    if kind == "oa":
        settings.update(n_layers=args.oa_layers, ordering="random", orderings=args.orderings)
        # the same ensemble's first ordering alone (same random_state: the same orderings)
        record["test_one_ordering"] = summary(model.score_samples(data["test"], 1,
                                                                  random_state=args.seed))
    print(f"{kind}: valid {record['valid']['mean']:.3f}  test {record['test']['mean']:.3f} +- "
          f"{record['test']['se']:.3f}  ({record['epochs']} epochs, kept {record['best_epoch']}, "
          f"{train_seconds:.0f} s)", flush=True)
    return record, test


def benchutil_cpu_model():
    # imported late: importing benchutil pins the implicit thread pools, which this script
    # sets with --n-jobs (they are loaded by now, so the pin changes nothing here)
    from benchutil import cpu_model

    return cpu_model()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="gmm,nade,oa", help="comma-separated: gmm, nade, oa "
                   "(default: %(default)s)")
    p.add_argument("--gmm-components", default="1,5,10,20,40",
                   help="numbers of GMM components to try (default: %(default)s)")
    p.add_argument("--reg-covar", type=float, default=1e-8,
                   help="added to the GMM covariances' diagonals (sklearn's default 1e-6 is "
                        "close to the dequantisation noise's variance, 1 / (12 * 256^2) = "
                        "1.27e-6; default: %(default)s)")
    p.add_argument("--gmm-max-iter", type=int, default=500)
    p.add_argument("--components", type=int, default=10, help="Gaussians per conditional")
    p.add_argument("--hidden", type=int, default=200, help="nade: hidden units")
    p.add_argument("--activation", default="sigmoid", choices=("sigmoid", "relu"),
                   help="nade: hidden units")
    p.add_argument("--lr", type=float, default=1e-3, help="nade: Adam's learning rate")
    p.add_argument("--weight-decay", type=float, default=0.1, help="nade: AdamW's decay")
    p.add_argument("--oa-hidden", type=int, default=500, help="oa: units per hidden layer")
    p.add_argument("--oa-layers", type=int, default=2, help="oa: hidden layers")
    p.add_argument("--oa-lr", type=float, default=1e-3)
    p.add_argument("--oa-weight-decay", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--patience", type=int, default=30)
    p.add_argument("--batch-size", default="auto")
    p.add_argument("--lr-schedule", default="plateau")
    p.add_argument("--orderings", type=int, default=64, help="oa: orderings in the test ensemble")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-jobs", type=int, default=1, help="threads for each model (BLAS too)")
    p.add_argument("--out", help="write the record here (JSON)")
    args = p.parse_args(argv)
    args.gmm_components = [int(k) for k in args.gmm_components.split(",")]
    if args.batch_size != "auto":
        args.batch_size = int(args.batch_size)
    models = args.models.split(",")
    unknown = set(models) - {"gmm", "nade", "oa"}
    if unknown:
        p.error(f"unknown models {sorted(unknown)}")

    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    data = load_image_patches()
    print("patches: " + ", ".join(f"{s} {data[s].shape}" for s in ("train", "valid", "test")),
          flush=True)
    records, test_ll = [], {}
    with threadpool_limits(args.n_jobs):
        for kind in models:
            record, test_ll[kind] = (fit_gmm if kind == "gmm" else fit_rnade)(data, args, kind)
            records.append(record)
    sd = contrast(data["test"])
    base = test_ll.get("gmm")
    for r in records:
        r["test_by_contrast"] = by_contrast(test_ll[r["model"]], sd,
                                            None if r["model"] == "gmm" else base)
        if base is not None and r["model"] != "gmm":
            # paired: per-patch test log-likelihoods minus the baseline's, the same patches
            r["test_minus_gmm"] = summary(test_ll[r["model"]] - base)
    print("\ntest patches by contrast (sd of grey levels): n, mean log-likelihood per model")
    for i, row in enumerate(records[0]["test_by_contrast"]):
        print(f"[{row['sd_from']:3d}, {row['sd_to']:3d})  {row['n']:5d}  " +
              "  ".join(f"{r['model']} {r['test_by_contrast'][i]['mean']:8.2f}" for r in records))
    print("\nmodel   test log-likelihood per patch (nats)   minus the GMM's, paired")
    for r in records:
        paired = r.get("test_minus_gmm")
        print(f"{r['model']:6s}  {r['test']['mean']:.3f} +- {r['test']['se']:.3f}" +
              (f"                 {paired['mean']:+.3f} +- {paired['se']:.3f}" if paired else ""))
    if args.out:
        import sklearn

        record = {"data": {"loader": "nadefast.datasets.load_image_patches",
                           "version": _patch_data.VERSION,
                           "train_images": list(_patch_data.TRAIN_IMAGES),
                           "test_images": list(_patch_data.TEST_IMAGES),
                           "rows": {s: int(data[s].shape[0]) for s in ("train", "valid", "test")},
                           "features": int(data["train"].shape[1]),
                           "contrast_train_max": float(contrast(data["train"]).max()),
                           "contrast_test_max": float(sd.max()),
                           "test_above_train_max": int((sd > contrast(data["train"]).max()).sum()),
                           "units": "nats per patch, densities of the 63-dimensional vectors "
                                    "((p + u) / 256, patch mean subtracted, last pixel dropped)"},
                  "settings": vars(args), "models": records,
                  "versions": {"nadefast": nadefast.__version__, "numpy": np.__version__,
                               "scikit-learn": sklearn.__version__,
                               "python": platform.python_version()},
                  "machine": {"cpu": benchutil_cpu_model(), "cpus": os.cpu_count()},
                  "date": time.strftime("%Y-%m-%d")}
        with open(args.out, "w") as fh:
            json.dump(record, fh, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
