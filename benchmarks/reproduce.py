"""Reproduce one row of results/README.md: train NADE on a benchmark, report NLLs.

    python benchmarks/reproduce.py adult                  # one dataset, its recorded settings
    python benchmarks/reproduce.py binarized_mnist --epochs 2000
    python benchmarks/reproduce.py --list

Data come from $NADEFAST_DATA (or --data-dir, default ../shared/data next to
the repository): the bit-packed NAME.npz files described in that folder's
README; nothing is downloaded and nothing is copied into the repository.

Writes results/NAME.json (settings, NLLs with standard errors, epochs, wall
time, CPU, date) and results/logs/NAME.log (one line per epoch); the trained
model goes to results/models/NAME.npz (not committed).  For datasets
without a test split the row reports what the splits allow, labelled.
"""

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import sys
import time

import numpy as np

from benchutil import log_mean_exp

REPO = pathlib.Path(__file__).resolve().parent.parent

# Settings per dataset (None = the script-wide default).  Published: test NLL
# of NADE with 500 hidden units as commonly quoted from Larochelle & Murray
# (2011) / Uria et al. (2016) (see ../shared/NADE.md; not re-read from the papers).
DATASETS = {
    "adult":           {"published": 13.19},
    "dna":             {"published": 84.81},
    "mushrooms":       {"published": 9.81},
    "nips":            {"published": 273.08, "lr": 1e-4, "batch_size": 10},  # 400 rows: small steps
    "connect4":        {"published": 11.99},
    "ocr_letters":     {"published": 27.22},
    "rcv1":            {"published": 46.66},
    "binarized_mnist": {"published": 88.86, "published_note": "88.33 in Uria et al. 2016",
                        "image_shape": (28, 28)},
    # order-agnostic (deep) NADE, Uria, Murray & Larochelle 2014: single ordering, and
    # ensembles of K orderings (EoNADE); published: 1 layer 92.17, 2 layers 89.17,
    # 2 layers with 128 orderings 85.10 (NADE.md); the ensembles of 2..16 as the authors'
    # plotting script lists them (github.com/MarcCote/NADE, deepnade/analyse_orderless_NADE.py,
    # plot_MNIST_results: the figure of test log-likelihood against orderings averaged)
    "binarized_mnist_oa1": {"data": "binarized_mnist", "published": 92.17, "order_agnostic": True,
                            "layers": 1, "orderings": (1, 2, 4, 8, 16), "epochs": 450,
                            "lr_schedule": "linear", "patience": 0,
                            "published_ensembles": {2: 90.69, 4: 89.86, 8: 89.16, 16: 88.61,
                                                    128: 87.71},
                            "image_shape": (28, 28)},
    "binarized_mnist_oa2": {"data": "binarized_mnist", "published": 89.17, "order_agnostic": True,
                            "layers": 2, "orderings": (1, 2, 4, 8, 16), "epochs": 700,
                            "lr_schedule": "linear", "patience": 0,
                            "published_ensembles": {2: 87.96, 4: 87.10, 8: 86.41, 16: 85.96,
                                                    128: 85.10},
                            "image_shape": (28, 28)},
}

# patience 0: no early stopping (the epoch of the lowest validation NLL is still kept)
DEFAULTS = {"hidden": 500, "epochs": 1000, "batch_size": 100, "optimizer": "adam", "lr": 1e-3,
            "lr_schedule": "constant", "momentum": 0.0, "weight_decay": 0.0, "patience": 30, "seed": 0}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nll_summary(model, X):
    nll = -model.score_samples(X)
    return {"mean": float(nll.mean()), "stderr": float(nll.std(ddof=1) / math.sqrt(len(nll))),
            "rows": int(len(nll))}


def ensemble_nlls(model, X, sizes, seed, log):
    """Test NLL of the ensembles of the first K orderings, for each K in `sizes`,
    and the test NLL of each single ordering (max(sizes),).

    The orderings are those of model.score_samples(X, n_orderings=K,
    random_state=seed) -- the model's own, then permutations drawn in turn --
    so the ensemble of K is a prefix of the ensemble of max(sizes): each
    ordering is scored once (exactly, by the compiled sequential kernels).
    """
    rng = np.random.default_rng(seed)
    logp = np.empty((max(sizes), X.shape[0]))
    seconds = np.empty(max(sizes))
    for i in range(max(sizes)):
        t0 = time.perf_counter()
        # after the model's own ordering, the same draws as score_samples(n_orderings=...) makes
        along = model if i == 0 else model.with_ordering(rng.permutation(X.shape[1]))
        logp[i] = along.score_samples(X)
        seconds[i] = time.perf_counter() - t0
        print(f"# ordering {i + 1}: test NLL {-logp[i].mean():.3f} ({seconds[i]:.1f} s)", file=log)
    check = model.score_samples(X[:20], n_orderings=2, random_state=seed)
    if not np.allclose(check, log_mean_exp(logp[:2, :20]), rtol=1e-12):
        raise RuntimeError("the orderings drawn here differ from score_samples(n_orderings=2)")
    out = {}
    for k in sizes:
        nll = -log_mean_exp(logp[:k])
        out[str(k)] = {"mean": float(nll.mean()), "stderr": float(nll.std(ddof=1) / math.sqrt(len(nll))),
                       "seconds": round(float(seconds[:k].sum()), 1)}
        print(f"# test NLL with {k} ordering(s): {nll.mean():.3f}", file=log)
    return out, -logp.mean(axis=1)


class Tee:
    """Echo training lines to stdout and to the log file."""

    def __init__(self, path, append=False):
        self.file = open(path, "a" if append else "w", buffering=1)

    def write(self, text):
        sys.__stdout__.write(text)
        self.file.write(text)

    def flush(self):
        sys.__stdout__.flush()
        self.file.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", nargs="?", choices=sorted(DATASETS))
    parser.add_argument("--list", action="store_true", help="list the datasets and settings")
    parser.add_argument("--data-dir", default=os.environ.get("NADEFAST_DATA", str(REPO.parent / "shared" / "data")))
    for key, value in DEFAULTS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=None,
                            help=f"default {value}")
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--score-n-jobs", type=int, default=None,
                        help="threads for the exact test scoring after training (default: all)")
    parser.add_argument("--warm-start", metavar="MODEL",
                        help="continue training this saved model (nadefast.load; a NADE, or an "
                             "OrderAgnosticNADE for the order-agnostic datasets) instead of a fresh "
                             "initialisation, with this run's schedule; recorded in the JSON")
    parser.add_argument("--checkpoint", action="store_true",
                        help="checkpoint to results/models/NAME.ckpt.npz every 5 epochs and resume "
                             "from it when it exists")
    parser.add_argument("--out", default=str(REPO / "results"))
    args = parser.parse_args(argv)
    if args.list or not args.name:
        for name, spec in DATASETS.items():
            print(f"{name:16s} published {spec['published']}  settings "
                  f"{ {k: spec.get(k, v) for k, v in DEFAULTS.items()} }")
        return 0

    import nadefast
    from nadefast import NADE, OrderAgnosticNADE
    from nadefast.backends import _compiled
    from nadefast.datasets import load_dataset

    spec = DATASETS[args.name]
    settings = {k: (getattr(args, k) if getattr(args, k) is not None else spec.get(k, v))
                for k, v in DEFAULTS.items()}
    data = load_dataset(spec.get("data", args.name), args.data_dir)
    train = data.get("train")
    valid = data.get("valid")
    out = pathlib.Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(parents=True, exist_ok=True)
    record = {
        "dataset": args.name,
        "splits": {k: list(v.shape) for k, v in data.items()},
        "settings": settings,
        "published_test_nll": spec["published"],
        "command": "python benchmarks/reproduce.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": cpu_model(),
        "isa": _compiled.active_isa(),
        "n_jobs": args.n_jobs,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "date": datetime.date.today().isoformat(),
    }
    if train is None:
        if valid is None:
            raise SystemExit(f"{args.name}: no train or valid split in {args.data_dir}")
        # Only a validation split exists: train on its first 80 %, stop early on
        # the next 10 %, score the last 10 %.  Not comparable to published test NLLs.
        rows = valid.shape[0]
        a, b = int(rows * 0.8), int(rows * 0.9)
        data = {"train": valid[:a], "valid": valid[a:b], "test": valid[b:]}
        train, valid = data["train"], data["valid"]
        record["note"] = (f"only a validation split ({rows} rows) is available: trained on its first "
                          f"{a} rows, early stopping on the next {b - a}, 'test' = its last {rows - b} "
                          f"rows; NOT comparable to the published test NLL")

    # the spec's "order_agnostic" flag picks the estimator: OrderAgnosticNADE (n_layers deep) or NADE
    if spec.get("order_agnostic"):
        model_cls = OrderAgnosticNADE
        model = OrderAgnosticNADE(settings["hidden"], n_layers=spec.get("layers", 1),
                                  random_state=settings["seed"], n_jobs=args.n_jobs)
    else:
        model_cls = NADE
        model = NADE(settings["hidden"], random_state=settings["seed"], n_jobs=args.n_jobs)
    if args.warm_start:
        model = nadefast.load(args.warm_start)
        if not isinstance(model, model_cls):
            raise SystemExit(f"--warm-start {args.warm_start}: the file holds a model of class "
                             f"{type(model).__name__}; {args.name} trains {model_cls.__name__}")
        model.set_params(warm_start=True, random_state=settings["seed"], n_jobs=args.n_jobs)
        record["warm_start_from"] = args.warm_start
    if spec.get("order_agnostic"):
        record["model"] = f"order-agnostic NADE, {spec['layers']} hidden layer(s) of {settings['hidden']} ReLU units"
        record["early_stopping_on"] = "the order-agnostic objective on valid (masks fixed for the fit)"
    checkpoint = out / "models" / f"{args.name}.ckpt.npz" if args.checkpoint else None
    log = Tee(out / "logs" / f"{args.name}.log", append=checkpoint is not None and checkpoint.exists())
    print(f"# {record['command']}  ({record['date']}, {record['cpu']}, kernels {record['isa']})", file=log)
    print(f"# splits {record['splits']}", file=log)
    if checkpoint is not None and checkpoint.exists():
        print(f"# resuming from {checkpoint.name}: the epochs after its last checkpoint run again",
              file=log)
    t0 = time.perf_counter()
    stdout, sys.stdout = sys.stdout, log
    try:
        model.fit(train, valid, epochs=settings["epochs"], batch_size=settings["batch_size"],
                  optimizer=settings["optimizer"], learning_rate=settings["lr"],
                  lr_schedule=settings["lr_schedule"], momentum=settings["momentum"],
                  weight_decay=settings["weight_decay"], patience=settings["patience"] or None,
                  verbose=True, checkpoint=checkpoint, checkpoint_every=5,
                  resume=checkpoint is not None)
    finally:
        sys.stdout = stdout
    record["wall_seconds_this_run"] = round(time.perf_counter() - t0, 1)
    # every epoch, including those of earlier runs a --checkpoint fit resumed from
    record["train_seconds"] = round(sum(h["seconds"] for h in model.history_), 1)
    record["epochs_run"] = len(model.history_)
    model.set_params(n_jobs=args.score_n_jobs)
    record["best_epoch"] = model.best_epoch_
    record["nll"] = {split: nll_summary(model, X) for split, X in data.items()
                     if not spec.get("order_agnostic")}
    if spec.get("orderings"):
        # Its fit leaves an order-agnostic model on the identity ordering, the
        # raster scan -- a structured mask unlike the random ones it trained
        # on, and worse than a typical ordering: report it apart, and score
        # single orderings and ensembles with random ones, as the papers do.
        if np.array_equal(model.ordering_, np.arange(model.n_features_in_)):  # (a warm start may not be)
            t1 = time.perf_counter()
            raster = -model.score_samples(data["test"])
            record["identity_ordering"] = {"mean": float(raster.mean()),
                                           "stderr": float(raster.std(ddof=1) / math.sqrt(len(raster))),
                                           "seconds": round(time.perf_counter() - t1, 1)}
            print(f"# test NLL along the identity ordering (raster scan): {raster.mean():.3f}", file=log)
        # (a child seed: the ensembles below draw their orderings from the seed itself)
        model = model.with_ordering("random", random_state=np.random.SeedSequence(settings["seed"]).spawn(1)[0])
        ensembles, singles = ensemble_nlls(model, data["test"], spec["orderings"], settings["seed"], log)
        record["ensembles"] = ensembles
        record["single_orderings"] = {"count": len(singles), "mean": float(np.mean(singles)),
                                      "min": float(np.min(singles)), "max": float(np.max(singles))}
        record["nll"]["test"] = dict(ensembles["1"], rows=int(data["test"].shape[0]))
        record["published_ensembles"] = spec.get("published_ensembles", {})
    if "test" not in data:
        record["note"] = "no test split in the available data: the figures are for the splits present"
    record["splits_used"] = {k: list(v.shape) for k, v in data.items()}
    model.save(out / "models" / f"{args.name}.npz")
    if "image_shape" in spec:
        from nadefast._png import sample_grid, write_png

        png = out / f"{args.name}_samples.png"
        samples = model.sample(100, random_state=settings["seed"])
        write_png(png, sample_grid(samples, spec["image_shape"], n_cols=10, scale=2))
        record["samples_png"] = str(png.relative_to(out))
    (out / f"{args.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("dataset", "nll", "epochs_run", "best_epoch", "train_seconds")},
                     indent=2), file=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
