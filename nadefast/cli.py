"""The ``nadefast`` command: demo, train, eval, sample.

This module is the parser and the entry point; the commands are in
nadefast/_commands.py.  Errors in arguments or files print one line on
stderr and exit with status 2 (usage) or 1 (anything else); never a
traceback.  Ctrl-C exits with 130 (train first saves the best model so far).
The defaults of train are fit's own (nadefast._training.FIT_DEFAULTS) and
every command's --help shows them.
"""

import argparse
import math
import os
import sys

from nadefast._commands import CliError, cmd_demo, cmd_eval, cmd_sample, cmd_train
from nadefast._impute_command import cmd_impute


def _one_line(text):
    """Messages echo user input (paths, arguments): keep them on one line."""
    return " ".join(str(text).replace("\r", "\n").split("\n"))


def _message(exc):
    """An exception as the one line to print: OSErrors without their "[Errno N]"."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f": {exc.filename!r}" if exc.filename is not None else "")
    return str(exc)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


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
_nonnegative_int = _int_where(lambda v: v >= 0, "an integer >= 0")
_seed = _int_where(lambda v: v >= 0, "a non-negative integer")


def _fold(text):
    from nadefast.datasets import RED_WINE_FOLDS

    return _int_where(lambda v: 1 <= v <= RED_WINE_FOLDS, f"a fold 1..{RED_WINE_FOLDS}")(text)


def _batch_size(text):
    return "auto" if text == "auto" else _positive_int(text)
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
    from nadefast._outputs import OUTPUTS
    from nadefast.backends import BACKENDS
    from nadefast._training import FIT_DEFAULTS, LR_SCHEDULES
    from nadefast.optim import OPTIMIZERS

    parser = _Parser(prog="nadefast", description="Fast NADE density estimation for binary, "
                                                  "categorical and real-valued data.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(name, func, help):
        p = sub.add_parser(name, help=help, description=help, formatter_class=_HelpFormatter)
        p.set_defaults(func=func)
        p.add_argument("--n-jobs", type=_n_jobs, default=None, metavar="N",
                       help="threads (default: all cores; -1 all CPUs, -2 all but one)")
        if name == "impute":
            p.add_argument("--backend", choices=BACKENDS, default=None,
                           help="where the arithmetic runs (default: numpy for a model with "
                                "per-column outputs, which have no compiled kernels yet; "
                                "else compiled)")
        elif name != "demo":
            p.add_argument("--backend", choices=BACKENDS, default=None,
                           help="how the arithmetic runs on the CPU: the compiled core (the "
                                "default), the plain NumPy reference (slow; the default for "
                                "CSV tables, whose per-column outputs have no compiled kernels "
                                "yet), or PyTorch tensors")
            p.add_argument("--device", default="cpu", metavar="DEVICE",
                           help="cpu, cuda, cuda:N or auto (a GPU when PyTorch sees one); a GPU "
                                "runs the torch backend (pip install \"nadefast[gpu]\")")
        return p

    def fit_options(p):
        """fit's settings, with fit's own defaults."""
        p.add_argument("--epochs", type=_positive_int, default=FIT_DEFAULTS["epochs"],
                       help="the most epochs: a budget for early stopping to end (a warning says "
                            "when it runs out first)")
        p.add_argument("--lr", type=_positive_float, default=FIT_DEFAULTS["learning_rate"],
                       help="learning rate")
        p.add_argument("--patience", type=_positive_int, default=FIT_DEFAULTS["patience"],
                       help="stop after this many epochs without a better validation NLL")

    p = command("demo", cmd_demo, "train on 5000 MNIST digits (the demo extra); print NLLs; "
                                  "write the model and samples")
    p.add_argument("--hidden", type=_positive_int, default=500, help="hidden units")
    fit_options(p)
    p.add_argument("--seed", type=_seed, default=0, help="random seed")
    p.add_argument("--out", default=os.path.join(os.path.expanduser("~"), "nadefast-demo"),
                   help="output folder")

    p = command("train", cmd_train, "train a model on DATA and save it")
    p.add_argument("data", metavar="DATA",
                   help="'demo', a benchmark name (file NAME.npz in $NADEFAST_DATA), a file "
                        "(.npz with train/valid/test splits, .npy, or text of 0/1), or a CSV "
                        "table with a header row (column types from its values; missing cells "
                        "empty or NA, for an --order-agnostic model; the pandas extra)")
    p.add_argument("--valid", help="validation rows (file), if DATA has no valid split")
    p.add_argument("--valid-fraction", type=_unit_interval, default=0.1, metavar="F",
                   help="a CSV table without --valid: hold out this share of its rows (drawn "
                        "from --seed) for validation and early stopping; 0: none")
    p.add_argument("--test", help="test rows (file), if DATA has no test split")
    p.add_argument("--hidden", type=_positive_int, default=500, help="hidden units (per layer)")
    p.add_argument("--output", choices=sorted(OUTPUTS) + ["auto"], default=None,
                   help="what each variable is: 0/1 (bernoulli, the default), a category code "
                        "0..K-1 (categorical; one-hot benchmarks such as connect4 and dna are "
                        "decoded) or a real number (gaussian_mixture: RNADE); auto (the "
                        "default and only choice for a CSV table): per column, from its values")
    p.add_argument("--components", type=_positive_int, default=None, metavar="C",
                   help="Gaussians per variable of --output gaussian_mixture (default: the "
                        "model's, 10)")
    p.add_argument("--activation", choices=("sigmoid", "relu"), default=None,
                   help="hidden units of a fixed-order --output gaussian_mixture model "
                        "(RNADE): sigmoid (the default) or relu")
    p.add_argument("--fold", type=_fold, default=None, metavar="K",
                   help="red_wine only: which of its 10 folds to train on (default 1)")
    fit_options(p)
    p.add_argument("--batch-size", type=_batch_size, default=FIT_DEFAULTS["batch_size"],
                   help="rows per step, or 'auto': about 40 steps per epoch, 10 to 100 rows")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=FIT_DEFAULTS["lr_schedule"],
                   help="'plateau': back to the best epoch with 10x smaller steps after 10 epochs "
                        "without improvement; 'linear': falls to zero over --epochs")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=FIT_DEFAULTS["optimizer"],
                   help="optimizer")
    p.add_argument("--momentum", type=_unit_interval, default=FIT_DEFAULTS["momentum"],
                   help="heavy-ball momentum of --optimizer sgd, in [0, 1)")
    p.add_argument("--weight-decay", type=_nonnegative_float, default=FIT_DEFAULTS["weight_decay"],
                   help="decoupled weight decay of the weight matrices (AdamW with adam)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the parameters")
    p.add_argument("--order-agnostic", action="store_true",
                   help="one network for every ordering (Uria et al. 2014; ReLU units)")
    p.add_argument("--layers", type=_positive_int, default=None,
                   help="hidden layers of an --order-agnostic model (default: "
                        "OrderAgnosticNADE's, 2)")
    p.add_argument("--ordering", choices=("identity", "random"), default=None,
                   help="the model's ordering (default: identity; random with --order-agnostic)")
    p.add_argument("--seed", type=_seed, default=None,
                   help="random seed (default: a fresh one, printed and recorded in the model file)")
    p.add_argument("--out", default="model.npz", help="model file to write")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="checkpoint file, written every --checkpoint-every epochs and kept; the "
                        "run resumes from it when it exists (same data and settings). Default: "
                        "OUT.ckpt, removed once the model is saved")
    p.add_argument("--no-checkpoint", action="store_true",
                   help="write no checkpoint (an interrupted run cannot be resumed)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=1, metavar="N",
                   help="epochs between checkpoints")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")

    p = command("eval", cmd_eval, "mean NLL (nats) of a saved model on DATA, with its standard error")
    p.add_argument("model", metavar="MODEL", help="a model file")
    p.add_argument("data", metavar="DATA", help="as for train")
    p.add_argument("--fold", type=_fold, default=None, metavar="K",
                   help="red_wine only: which of its 10 folds to score (default 1)")
    p.add_argument("--split", help="split of DATA to score (default: test if present, else train; "
                                   "all rows of a file without splits)")
    p.add_argument("--orderings", type=_positive_int, default=1, metavar="K",
                   help="order-agnostic models: score the ensemble of K orderings, the model's own "
                        "and K-1 drawn from --seed")
    p.add_argument("--seed", type=_seed, default=None,
                   help="seed of the drawn orderings (default: the model's own)")

    p = command("sample", cmd_sample, "draw samples from a saved model")
    p.add_argument("model", metavar="MODEL", help="a model file")
    p.add_argument("-n", type=_nonnegative_int, default=100, help="number of samples")
    p.add_argument("--out", help="write the samples to this .npy file (default: print as text)")
    p.add_argument("--png", help="also draw the first 100 as an image grid (needs --shape)")
    p.add_argument("--shape", help="image shape of one sample, e.g. 28x28")
    p.add_argument("--scale", type=_positive_int, default=2, help="pixel size in the PNG")
    p.add_argument("--seed", type=_seed, default=None,
                   help="random seed (default: a fresh one, printed)")

    p = command("impute", cmd_impute, "fill the missing cells of a CSV table from a saved model")
    p.add_argument("model", metavar="MODEL", help="a model file")
    p.add_argument("data", metavar="DATA", help="a CSV file with a header row; missing cells "
                                                "empty or NA")
    p.add_argument("--out", required=True, help="the filled CSV to write")
    p.add_argument("--method", choices=("mode", "mean", "median"), default="mode",
                   help="mode: the most probable completion; mean/median: each cell's mean or "
                        "median given the row's observed cells (the most probable value in "
                        "discrete columns)")
    p.add_argument("--samples", type=_positive_int, default=None,
                   help="for --method mean or median: estimate from this many draws per row "
                        "(default: exact, each cell's own conditional, in one pass)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed of the draws")
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
        print(f"nadefast: error: {_one_line(_message(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
