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


def _layers(r):
    """Hidden layers of a record's model ("order-agnostic NADE, 2 hidden layer(s) of ...")."""
    return int(r["model"].split(", ")[1].split()[0])


def _oa_label(r):
    """'2, 700 epochs' (', learning rate L' unless 1e-3, ', weight decay W' and ', continued'
    for a warm start) from a record, or its own "label" (a run made in stages)."""
    if r.get("label"):
        return r["label"]
    label = f"{_layers(r)}, {r['settings']['epochs']} epochs"
    if r["settings"].get("lr", 1e-3) != 1e-3:
        label += f", learning rate {r['settings']['lr']:g}"
    if r["settings"].get("weight_decay"):
        label += f", weight decay {r['settings']['weight_decay']:g}"
    return label + (", continued" if r.get("warm_start_from") else "")


def order_agnostic_table(folder="results"):
    """The order-agnostic rows: test NLL by number of (random) orderings in the ensemble,
    one row per results/binarized_mnist_oa*.json, below the published row of its depth."""
    folder = pathlib.Path(folder)
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("binarized_mnist_oa*.json"))]
    records.sort(key=lambda r: (r["model"], r["date"], bool(r.get("warm_start_from")),
                                r["settings"]["epochs"]))
    sizes = sorted({int(k) for r in records for k in (*r["ensembles"], *r.get("published_ensembles", {}))})
    print("| hidden layers, training | train time | raster ordering | "
          + " | ".join(f"{k} ordering{'s' if k > 1 else ''}" for k in sizes)
          + f" | evaluation time, 1 / {max(int(k) for r in records for k in r['ensembles'])} orderings |")
    print("|---" * (len(sizes) + 4) + "|")
    published_done = set()
    for r in records:
        layers = _layers(r)
        if layers not in published_done:
            published_done.add(layers)
            published = {1: r["published_test_nll"],
                         **{int(k): v for k, v in r.get("published_ensembles", {}).items()}}
            print(f"| {layers}, published | - | - | "
                  + " | ".join(f"{published[k]:.2f}" if k in published else "-" for k in sizes) + " | - |")
        ident = r.get("identity_ordering")
        cells = [f"{r['ensembles'][str(k)]['mean']:.2f} +- {r['ensembles'][str(k)]['stderr']:.2f}"
                 if str(k) in r["ensembles"] else "-" for k in sizes]
        largest = r["ensembles"][max(r["ensembles"], key=int)]
        print(f"| {_oa_label(r)} (ours) | {r['train_seconds'] / 60:.0f} min | "
              + (f"{ident['mean']:.2f}" if ident else "-") + " | " + " | ".join(cells)
              + f" | {r['ensembles']['1']['seconds']:.0f} s / {largest['seconds']:.0f} s |")


if __name__ == "__main__":
    main(*sys.argv[1:])
    print()
    order_agnostic_table(*sys.argv[1:])
