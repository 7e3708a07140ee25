"""The fit loop: mini-batch descent on an objective, with early stopping and checkpoints.

A `Trainer` sees two things, never a model's internals:

* an **objective** (built by the model for one fit): ``arrays`` (the
  parameters, in the backend's layout, updated in place), ``public(arrays)``
  (such a dict in the public layout, NumPy), ``kernels`` (the kernel object,
  whose ``zeros_like``, ``copy``, ``all_finite`` and ``set_public`` are what
  the trainer does with those arrays, whatever their type), ``ordering``,
  ``loss_and_gradient(batch, grads, rng)`` -> mean training loss (gradient
  into ``grads``; ``draws`` says whether it uses ``rng``), and
  ``validation_loss(X)`` -> what early stopping watches;
* an **optimizer** from nadefast.optim.

The trainer owns everything a fit changes besides the parameters: optimizer
state, the shuffling generator, early-stopping bookkeeping and history.
All of it goes into a checkpoint (nadefast._checkpoint), so a fit resumed
from one continues exactly (bit for bit) as the uninterrupted fit would
have.  docs/training.md describes the schedule, early stopping and resume.
"""

import sys
import time
import warnings

import numpy as np

from nadefast._checkpoint import save_checkpoint
from nadefast._streaming import epoch_batches, training_rows
from nadefast._validation import check_int, check_real
from nadefast.optim import OPTIMIZERS

LR_SCHEDULES = ("constant", "linear", "plateau")

# The defaults of fit, one set for the Python API and the command line (nadefast train
# shows them in --help).  An epoch budget that early stopping, not the cap, ends; the
# "plateau" schedule; mini-batches of about 40 steps per epoch on small data ("auto").
# On the UCI sets, nips and binarized MNIST they reach the figures of
# benchmarks/reproduce.py, which tuned nips by hand (see results/README.md).
FIT_DEFAULTS = {"epochs": 1000, "batch_size": "auto", "optimizer": "adam", "learning_rate": 1e-3,
                "lr_schedule": "plateau", "momentum": 0.0, "weight_decay": 0.0, "patience": 30}
# batch_size="auto": rows per step, about 1/40 of the training rows, between these
AUTO_BATCH_RANGE = (10, 100)
# without validation rows, a fit must end better than the initial model on this many of
# its first training rows (else it diverged)
INITIAL_LOSS_ROWS = 1000


class ConvergenceWarning(UserWarning):
    """A fit stopped at its epoch budget while the validation loss was still improving."""


def auto_batch_size(n_rows):
    """batch_size="auto": about 40 steps per epoch, within AUTO_BATCH_RANGE rows."""
    low, high = AUTO_BATCH_RANGE
    return min(high, max(low, n_rows // 40))
# An epoch is better than the best so far when its validation loss is lower by more than
# this fraction of the best (1e-4 of 88 nats: 0.009 nats).  Smaller gains, typical of the
# tiny steps late in a plateau schedule, neither replace the best parameters nor restart
# early stopping's patience, so that a fit ends once its gains are negligible.
IMPROVEMENT_TOLERANCE = 1e-4
# "plateau": after this many epochs in a row without a better validation loss, go back to
# the best parameters, start the optimizer afresh and take steps this many times smaller
PLATEAU_EPOCHS = 10
PLATEAU_FACTOR = 0.1
PLATEAU_RESET_OPTIMIZER = True


def check_fit_arguments(*, epochs, batch_size, optimizer, learning_rate, lr_schedule, momentum,
                        weight_decay, patience, checkpoint_every):
    """fit's training arguments checked; returns them normalised in a dict."""
    epochs = check_int(epochs, "epochs", minimum=0)
    if not (isinstance(batch_size, str) and batch_size == "auto"):
        if isinstance(batch_size, str):
            raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = check_real(learning_rate, "learning_rate", minimum=0, strict_minimum=True)
    if patience is not None:
        patience = check_int(patience, "patience", minimum=1)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", minimum=1)
    if not isinstance(lr_schedule, str) or lr_schedule not in LR_SCHEDULES:
        raise (TypeError if not isinstance(lr_schedule, str) else ValueError)(
            f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise (TypeError if not isinstance(optimizer, str) else ValueError)(
            f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    momentum = check_real(momentum, "momentum", minimum=0, maximum=1)
    weight_decay = check_real(weight_decay, "weight_decay", minimum=0)
    if weight_decay * learning_rate >= 1:
        raise ValueError(f"weight_decay * learning_rate must be below 1, got {weight_decay!r} * "
                         f"{learning_rate!r} (a step would flip or zero the weights)")
    if momentum >= 1:
        raise ValueError(f"momentum must be below 1, got {momentum!r} (the steps would not decay)")
    if momentum and optimizer.lower() != "sgd":
        raise ValueError(f"momentum={momentum!r} applies to optimizer='sgd' only; Adam keeps its "
                         f"own moment estimates")
    return {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer.lower(),
            "learning_rate": learning_rate, "lr_schedule": lr_schedule, "momentum": momentum,
            "weight_decay": weight_decay, "patience": patience,
            "checkpoint_every": checkpoint_every}


def scheduled_rate(settings, rows_seen, rows_per_epoch, scale=1.0):
    """The step size for the next batch, after `rows_seen` rows of the fit.

    "constant": learning_rate.  "linear": learning_rate * (1 - f), f the
    fraction of the fit's rows (schedule_epochs * rows_per_epoch) already seen.
    "plateau": learning_rate * scale, scale the product of the reductions so far.
    """
    rate = settings["learning_rate"] * scale
    if settings.get("lr_schedule", "constant") == "linear":
        total = settings["schedule_epochs"] * rows_per_epoch
        rate *= max(0.0, 1.0 - rows_seen / total) if total else 0.0
    return rate


class ProgressBar:
    """A one-line progress bar on stderr, redrawn in place (at most ~10 times a second)."""

    def __init__(self, label, total, width=30):
        self.label, self.total, self.width = label, max(1, total), width
        self.t0 = self.last = time.perf_counter()

    def update(self, done, loss):
        now = time.perf_counter()
        if now - self.last < 0.1 and done < self.total:
            return
        self.last = now
        filled = int(self.width * done / self.total)
        rate = done / max(now - self.t0, 1e-9)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                         f"{100 * done / self.total:3.0f}%  train NLL {loss:.4f}  {rate:,.0f} rows/s ")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\r" + " " * (self.width + 80) + "\r")
        sys.stderr.flush()


class Trainer:
    """One fit of an objective on X (and X_valid); `settings` as check_fit_arguments
    returns them plus the model's structure and the data's fingerprints.

    After `run` (or an exception from it) `history` and `best_epoch` say what
    happened, and the objective's arrays hold the parameters to keep: the best
    validation epoch's, else the last epoch's (last finite ones on divergence).
    """

    def __init__(self, objective, optimizer, X, X_valid, settings, rng, output, *, verbose):
        self.objective, self.optimizer = objective, optimizer
        self.X, self.X_valid, self.output = X, X_valid, output
        self.settings, self.rng = settings, rng
        self.patience = settings["patience"]
        self.verbose = int(verbose)
        self.params = objective.arrays
        self.kernels = objective.kernels  # zeros_like, copy, all_finite, set_public
        self.grads = self.kernels.zeros_like(self.params)
        self.epoch = 0
        self.history = []
        self.bad_epochs = 0
        self.best_epoch = 0
        self.lr_scale = 1.0  # the "plateau" schedule's reductions so far
        if X_valid is not None:
            self.best_nll = objective.validation_loss(X_valid)
            self.best_params = self.kernels.copy(self.params)
            self.initial_loss = self.best_nll
        else:
            self.best_nll = None
            self.best_params = None
            # what a fit without validation rows must improve on: the loss of its first rows
            self.head = training_rows(X, 0, min(X.shape[0], INITIAL_LOSS_ROWS), output)
            self.initial_loss = objective.validation_loss(self.head)
        self.epoch_start = self.kernels.copy(self.params)

    # ---------------------------------------------------------------- epochs

    def stopped_early(self):
        return self.patience is not None and self.bad_epochs >= self.patience

    def run(self, checkpoint=None):
        """Train until settings["epochs"] epochs in all have run or patience runs out."""
        epochs, every = self.settings["epochs"], self.settings["checkpoint_every"]
        try:
            while self.epoch < epochs and not self.stopped_early():
                self._one_epoch()
                last = self.epoch >= epochs or self.stopped_early()
                if checkpoint is not None and (self.epoch % every == 0 or last):
                    self.save_checkpoint(checkpoint)
        except KeyboardInterrupt:
            self._keep_best()
            kept = self.best_epoch if self.best_params is not None else "the last completed step"
            print(f"nadefast: fit interrupted in epoch {self.epoch + 1}; the model keeps the "
                  f"parameters of epoch {kept}", file=sys.stderr, flush=True)
            raise
        self._keep_best()
        self._check_outcome()

    def _check_outcome(self):
        """Divergence that stayed finite is an error; a budget that ran out first, a warning."""
        if not self.history:
            return
        # a blow-up: the loss more than doubled (plus a nat); far more than a learning rate on
        # the large side does in a few epochs (+1.1 nats from 1.8 was seen on a tiny model)
        margin = abs(self.initial_loss) + 1.0
        if self.X_valid is None:  # the kept (last) parameters, on the rows of the initial loss
            what, reached = "training", self.objective.validation_loss(self.head)
            diverged = reached > self.initial_loss + margin
        else:
            # no epoch better than the initial model, and the loss blew up on the way (on data
            # with nothing to learn the initial model stays the best, without the blow-up)
            what, reached = "validation", max(h["valid_nll"] for h in self.history)
            diverged = self.best_epoch == 0 and reached > self.initial_loss + margin
        if diverged:
            rate = self.settings["learning_rate"]
            raise FloatingPointError(
                f"training diverged: no epoch of {len(self.history)} improved on the initial "
                f"model ({what} loss {self.initial_loss:.6g} nats, up to {reached:.6g} in "
                f"training). The learning rate {rate:g} is too large: try {rate / 10:g}.")
        patience = self.settings["patience"]
        if (self.X_valid is not None and patience is not None
                and self.epoch >= self.settings["epochs"] and self.bad_epochs < patience):
            warnings.warn(
                f"training stopped at its budget of epochs={self.settings['epochs']} before early "
                f"stopping decided: the validation loss last improved at epoch {self.best_epoch} "
                f"and early stopping waits for {patience} epochs without improvement; allow more "
                f"epochs to train longer", ConvergenceWarning, stacklevel=4)  # at the fit call

    def _one_epoch(self):
        t0 = time.perf_counter()
        for k, v in self.params.items():
            self.epoch_start[k][...] = v
        m = self.X.shape[0]
        total = 0.0
        done = 0
        bar = ProgressBar(f"epoch {self.epoch + 1:4d}", m) if self.verbose >= 2 else None
        for batch in epoch_batches(self.X, self.settings["batch_size"], self.rng, self.output):
            loss = self.objective.loss_and_gradient(batch, self.grads, self.rng)
            if not np.isfinite(loss):
                self._diverged(f"loss {loss}")
            self.optimizer.learning_rate = scheduled_rate(self.settings, self.epoch * m + done, m,
                                                          self.lr_scale)
            self.optimizer.step(self.grads)
            total += loss * batch.shape[0]
            done += batch.shape[0]
            if bar is not None:
                bar.update(done, total / done)
        if bar is not None:
            bar.close()
        # overflowing parameters show up in the loss of the next batch, or here
        if not self.kernels.all_finite(self.params):
            self._diverged("non-finite parameters")
        self.epoch += 1
        valid = None if self.X_valid is None else self.objective.validation_loss(self.X_valid)
        record = {"epoch": self.epoch, "train_nll": total / m, "valid_nll": valid,
                  "seconds": time.perf_counter() - t0}
        self.history.append(record)
        if self.verbose:
            shown = "" if valid is None else f"  valid NLL {valid:.4f}"
            print(f"epoch {self.epoch:4d}  train NLL {record['train_nll']:.4f}{shown}"
                  f"  ({record['seconds']:.2f} s)", flush=True)
        if self.X_valid is not None:
            if valid < self.best_nll - IMPROVEMENT_TOLERANCE * abs(self.best_nll):
                self.best_nll, self.best_epoch = valid, self.epoch
                for k, v in self.params.items():
                    self.best_params[k][...] = v
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
                if (self.settings["lr_schedule"] == "plateau" and not self.stopped_early()
                        and self.bad_epochs % PLATEAU_EPOCHS == 0):
                    self._smaller_steps_from_the_best()
        if self.X_valid is None:
            self.best_epoch = self.epoch

    def _smaller_steps_from_the_best(self):
        """The "plateau" schedule's reduction: back to the best epoch's parameters, steps
        PLATEAU_FACTOR times smaller (and a fresh optimizer state)."""
        self.lr_scale *= PLATEAU_FACTOR
        for k, v in self.params.items():
            v[...] = self.best_params[k]
        if PLATEAU_RESET_OPTIMIZER:
            scalars, slots = self.optimizer.state_dict()
            self.optimizer.load_state_dict({**scalars, "n_steps": 0},
                                           {s: self.kernels.zeros_like(a)
                                            for s, a in slots.items()})
        if self.verbose:
            print(f"             no better validation loss for {self.bad_epochs} epochs: back to "
                  f"epoch {self.best_epoch}, learning rate x {self.lr_scale:g}", flush=True)

    def _keep_best(self):
        if self.best_params is not None:
            for k, v in self.params.items():
                v[...] = self.best_params[k]

    def _diverged(self, what):
        if self.best_params is not None:
            kept, saved = self.best_epoch, self.best_params
        else:
            kept, saved = self.epoch, self.epoch_start  # the last completed epoch
        for k, v in self.params.items():
            v[...] = saved[k]
        self.best_epoch = kept
        raise FloatingPointError(
            f"training diverged in epoch {self.epoch + 1} ({what}); the model keeps the parameters "
            f"of epoch {kept}. The learning rate {self.settings['learning_rate']:g} is too large: "
            f"try {self.settings['learning_rate'] / 10:g}."
        )

    # ------------------------------------------------------------ checkpoints

    def save_checkpoint(self, path):
        scalars, slots = self.optimizer.state_dict()
        progress = {
            "epoch": self.epoch,
            "bad_epochs": self.bad_epochs,
            "best_epoch": self.best_epoch,
            "best_nll": self.best_nll,
            "history": self.history,
            "rng": self.rng.bit_generator.state,
            "rng_class": type(self.rng.bit_generator).__name__,
            "optimizer": scalars,
            "lr_scale": self.lr_scale,
            "initial_loss": self.initial_loss,
        }
        public = self.objective.public
        best = None if self.best_params is None else public(self.best_params)
        save_checkpoint(path, self.settings, progress, self.objective.ordering, public(self.params),
                        best, {slot: public(arrays) for slot, arrays in slots.items()})

    def restore(self, saved):
        """Continue from a checkpoint (nadefast._checkpoint.load_checkpoint's dict); the
        objective's parameters must already hold saved["params"]."""
        progress = saved["progress"]
        self.epoch = int(progress["epoch"])
        self.bad_epochs = int(progress["bad_epochs"])
        self.best_epoch = int(progress["best_epoch"])
        self.best_nll = progress["best_nll"]
        self.history = list(progress["history"])
        self.lr_scale = float(progress["lr_scale"])
        self.initial_loss = progress["initial_loss"]
        bit_generator = getattr(np.random, progress["rng_class"])()
        bit_generator.state = progress["rng"]
        self.rng = np.random.Generator(bit_generator)
        if self.best_params is not None:
            _assign_public(self.objective, self.best_params, saved["best"], "best")
        slots = {}
        for slot, arrays in self.optimizer.state_dict()[1].items():
            slots[slot] = self.kernels.zeros_like(arrays)  # padding stays 0
            _assign_public(self.objective, slots[slot], saved["slots"].get(slot, {}),
                           f"optimizer {slot}")
        self.optimizer.load_state_dict(progress["optimizer"], slots)


def _assign_public(objective, arrays, saved, what):
    """Copy public-layout arrays into a dict of a backend's arrays, checking shapes."""
    for name, view in objective.public(arrays).items():
        source = None if saved is None else saved.get(name)
        if source is None or source.shape != view.shape:
            got = None if source is None else source.shape
            raise ValueError(f"checkpoint {what} parameter {name} has shape {got}, expected "
                             f"{view.shape}")
    objective.kernels.set_public(arrays, saved)
