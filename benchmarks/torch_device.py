"""The torch backend on a device against the compiled core: agreement, then speed (issue 19).

    python benchmarks/torch_device.py [--device cuda] [--rows 2000] [--hidden 500]

Prepared for a GPU session: one short run that (1) checks the torch backend's results on
the device against the compiled core on MNIST-shaped random models (float32 and float64),
(2) times score_samples, sample, loss_and_gradient and a training epoch on both.  Prints
one line per measurement; no figure from it is recorded in the README yet (GPU speed is not
measured).  For the full agreement tests on the device:
NADEFAST_TORCH_DEVICE=cuda pytest tests/test_torch_backend.py.
"""

import argparse
import pickle
import time

import numpy as np

from nadefast import NADE, OrderAgnosticNADE


def timed(f, repeat=3):
    f()  # warm-up (CUDA context, kernels)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--features", type=int, default=784)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = (rng.random((args.rows, args.features)) < 0.11).astype(np.uint8)
    for Model, extra in ((NADE, {}), (OrderAgnosticNADE, {"n_layers": 2})):
        for dtype in ("float32", "float64"):
            cpu = Model(args.hidden, dtype=dtype, random_state=0, **extra).fit(
                X[:200], epochs=1, batch_size=100)
            dev = pickle.loads(pickle.dumps(cpu)).set_params(backend="torch", device=args.device)
            name = f"{Model.__name__} {dtype}"
            Y = X[:200]
            a, b = cpu.score_samples(Y), dev.score_samples(Y)
            same = cpu.sample(200, random_state=1) == dev.sample(200, random_state=1)
            print(f"{name}: score rel err {np.abs(a - b).max() / np.abs(a).max():.2e}; "
                  f"samples: {same.all(axis=1).mean():.3f} of the rows equal")
            rows = X if Model is NADE else X[: max(1, args.rows // 10)]
            for what, f in (
                ("score_samples", lambda m: m.score_samples(rows)),
                ("sample", lambda m: m.sample(len(rows), random_state=2)),
                ("loss_and_gradient(100)", lambda m: m.loss_and_gradient(X[:100], random_state=0)),
            ):
                t_cpu, t_dev = timed(lambda: f(cpu)), timed(lambda: f(dev))
                n = 100 if what.startswith("loss") else len(rows)
                print(f"  {what:24s} compiled {n / t_cpu:10.0f} rows/s   {args.device} "
                      f"{n / t_dev:10.0f} rows/s   ({t_cpu / t_dev:.2f}x)")
            for m, label in ((cpu, "compiled"), (dev, args.device)):
                t0 = time.perf_counter()
                m.set_params(warm_start=True).fit(X, epochs=1, batch_size=100)
                print(f"  fit epoch ({len(X)} rows, batch 100) {label}: "
                      f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
