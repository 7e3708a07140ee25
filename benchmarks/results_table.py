"""Print the markdown table of results/README.md from results/*.json."""

import json
import pathlib
import sys

ORDER = ["adult", "connect4", "dna", "mushrooms", "nips", "ocr_letters", "rcv1", "binarized_mnist"]


def main(folder="results"):
    folder = pathlib.Path(folder)
    print("| dataset | rows used (train/valid/test) x features | hidden | lr, batch | epochs (kept) "
          "| train time | test NLL (ours, +- s.e.) | published NADE | difference | command |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ORDER:
        path = folder / f"{name}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        s = r["settings"]
        splits = r.get("splits_used", r["splits"])
        rows = "/".join(str(splits[k][0]) if k in splits else "-" for k in ("train", "valid", "test"))
        features = next(iter(splits.values()))[1]
        test = r["nll"]["test"]
        ours = f"{test['mean']:.2f} +- {test['stderr']:.3f}" + ("*" if "note" in r else "")
        diff = test["mean"] - r["published_test_nll"]
        print(f"| {name} | {rows} x {features} | {s['hidden']} | {s['lr']:g}, {s['batch_size']} "
              f"| {r['epochs_run']} ({r['best_epoch']}) | {r['train_seconds']:.0f} s "
              f"| {ours} | {r['published_test_nll']} | {diff:+.2f}{'*' if 'note' in r else ''} "
              f"| `{r['command']}` |")


def order_agnostic_table(folder="results"):
    """The order-agnostic rows: test NLL by number of (random) orderings in the ensemble."""
    folder = pathlib.Path(folder)
    print("| hidden layers | orderings | test NLL (ours, +- s.e.) | evaluation time (test set) | published |")
    print("|---|---|---|---|---|")
    for name in ("binarized_mnist_oa1", "binarized_mnist_oa2", "binarized_mnist_oa2_continued"):
        path = folder / f"{name}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        layers = "2, continued" if name.endswith("continued") else 2 if name.endswith("2") else 1
        published = {1: r["published_test_nll"], **{int(k): v for k, v in r.get("published_ensembles", {}).items()}}
        ident = r.get("identity_ordering")
        if ident:
            print(f"| {layers} | 1, the identity (raster) ordering | {ident['mean']:.2f} +- {ident['stderr']:.3f} "
                  f"| {ident['seconds']:.0f} s | - |")
        for k, e in r["ensembles"].items():
            print(f"| {layers} | {k} | {e['mean']:.2f} +- {e['stderr']:.3f} | {e['seconds']:.0f} s "
                  f"| {published.get(int(k), '-')} |")
        for k, v in r.get("published_ensembles", {}).items():
            if k not in r["ensembles"]:
                print(f"| {layers} | {k} | - | - | {v} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
    print()
    order_agnostic_table(*sys.argv[1:])
