"""Categorical NADE beside binary NADE on the same rows: connect4 and dna.

    NADEFAST_DATA=../shared/data python benchmarks/categorical.py --out results/categorical.json

connect4 (42 cells x 3 states, one 1 in each group of 3 bits) and dna (60 positions x 4
bases, at most one 1 in each group of 3 bits: 000 is the fourth base) are distributed
one-hot.  A binary NADE models the 126 / 180 bits; a categorical NADE models the decoded
codes (`load_dataset(name, categorical=True)`).  Valid one-hot rows and code rows are in
one-to-one correspondence, so the two test NLLs (nats per row) measure the same
information; the binary model can also put mass on bit patterns that are no code at all
(two 1s in a group; for connect4 also none), which the categorical model cannot.  That
mass is estimated here as the share of the binary model's samples that are invalid.

Both models: 500 hidden units, fit's defaults (Adam 1e-3, batch "auto", plateau schedule,
patience 30, early stopping on the valid split), float32, compiled backend, one thread
(--n-jobs), one run per seed.  The table gives the mean over seeds of each run's test NLL, with the standard
error over test rows of one run and the spread over seeds.
"""

import argparse
import json
import platform
import sys
import time

import numpy as np

import nadefast
from nadefast.datasets import CATEGORICAL_ENCODINGS, load_dataset


def invalid_share(samples, group, exactly_one):
    """Share of rows of 0/1 `samples` (rows, groups * group) with a group that is no code."""
    ones = samples.reshape(len(samples), -1, group).sum(axis=2)
    bad = (ones != 1) if exactly_one else (ones > 1)
    return float(bad.any(axis=1).mean())


def fit_and_score(model, data):
    t0 = time.perf_counter()
    model.fit(data["train"], data["valid"])
    seconds = time.perf_counter() - t0
    nll = -model.score_samples(data["test"])
    return model, {"test_nll": float(nll.mean()),
                   "test_se": float(nll.std(ddof=1) / np.sqrt(len(nll))),
                   "epochs": len(model.history_), "kept": model.best_epoch_,
                   "seconds": seconds}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="connect4,dna")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--samples", type=int, default=20000,
                   help="samples of each binary model to estimate its invalid mass")
    p.add_argument("--n-jobs", type=int, default=1,
                   help="threads per fit (1: runs do not wait on each other on a busy machine)")
    p.add_argument("--out", help="write the record here (JSON)")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    record = {"settings": vars(args), "datasets": {}, "nadefast": nadefast.__version__,
              "machine": platform.processor() or platform.machine(),
              "date": time.strftime("%Y-%m-%d")}
    for name in args.datasets.split(","):
        group, exactly_one = CATEGORICAL_ENCODINGS[name]
        bits, codes = load_dataset(name), load_dataset(name, categorical=True)
        runs = []
        for seed in seeds:
            binary, b = fit_and_score(nadefast.NADE(args.hidden, random_state=seed,
                                                         n_jobs=args.n_jobs), bits)
            b["invalid_sample_share"] = invalid_share(binary.sample(args.samples), group,
                                                      exactly_one)
            _, c = fit_and_score(nadefast.NADE(args.hidden, output="categorical",
                                               random_state=seed, n_jobs=args.n_jobs), codes)
            runs.append({"seed": seed, "binary": b, "categorical": c})
            print(f"{name} seed {seed}: binary {b['test_nll']:.3f} +- {b['test_se']:.3f} "
                  f"({b['epochs']} epochs, {b['seconds']:.1f} s, invalid samples "
                  f"{b['invalid_sample_share']:.4f}); categorical {c['test_nll']:.3f} +- "
                  f"{c['test_se']:.3f} ({c['epochs']} epochs, {c['seconds']:.1f} s)", flush=True)
        summary = {}
        for kind in ("binary", "categorical"):
            v = np.array([r[kind]["test_nll"] for r in runs])
            summary[kind] = {"mean_test_nll": float(v.mean()),
                             "seed_sd": float(v.std(ddof=1)) if len(v) > 1 else None}
        record["datasets"][name] = {"rows": {k: len(v) for k, v in codes.items()},
                                    "features": {"binary": bits["train"].shape[1],
                                                 "categorical": codes["train"].shape[1]},
                                    "runs": runs, "summary": summary}
        print(f"{name}: mean test NLL binary {summary['binary']['mean_test_nll']:.3f}, "
              f"categorical {summary['categorical']['mean_test_nll']:.3f}", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(record, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
