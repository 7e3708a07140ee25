"""The fit loop of NADE: mini-batch descent over the compiled gradient.

A `Trainer` owns everything a fit changes besides the model's parameters:
optimizer state, the shuffling generator, early-stopping bookkeeping and
history.  All of it goes into a checkpoint, so a fit resumed from one
continues exactly (bit for bit) as the uninterrupted fit would have.

Checkpoint files are ``.npz`` (no pickle), written atomically; format 1:
``format`` ("nadefast.checkpoint"), ``format_version``, ``settings`` and
``progress`` (JSON strings), ``param.*``, ``best.*`` and ``opt.*`` arrays in
the kernels' padded layout, ``ordering``.
"""

import hashlib
import json
import os
import sys
import time

import numpy as np

from nadefast.io import read_npz, write_npz_atomic
from nadefast.optim import make_optimizer

CHECKPOINT_FORMAT = "nadefast.checkpoint"
CHECKPOINT_VERSION = 1
# settings that must match for a checkpoint to be resumed with these data
_MUST_MATCH = ("n_hidden", "dtype", "optimizer", "momentum", "weight_decay", "learning_rate",
               "lr_schedule", "schedule_epochs",
               "batch_size", "n_features", "n_rows", "n_valid_rows", "data_digest", "valid_digest",
               "order_agnostic", "n_layers")
# checkpoints written before a setting existed hold its default
_SETTING_DEFAULTS = {"lr_schedule": "constant", "schedule_epochs": None, "momentum": 0.0,
                     "weight_decay": 0.0}
# the parameters weight decay shrinks: weight matrices, not biases (both layouts)
DECAYED = ("W", "V", "Win", "Wmask", "Wdeep")
LR_SCHEDULES = ("constant", "linear")


def scheduled_rate(settings, rows_seen, rows_per_epoch):
    """The step size for the next batch, after `rows_seen` rows of the fit.

    "constant": learning_rate.  "linear": learning_rate * (1 - f), f the
    fraction of the fit's rows (schedule_epochs * rows_per_epoch) already seen.
    """
    rate = settings["learning_rate"]
    if settings.get("lr_schedule", "constant") == "linear":
        total = settings["schedule_epochs"] * rows_per_epoch
        rate *= max(0.0, 1.0 - rows_seen / total) if total else 0.0
    return rate


def data_digest(X):
    """A short fingerprint of the training data (None for None): its bytes for
    arrays and memmaps (read in slices), its graph's name for a Dask array."""
    if X is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    h.update(np.asarray(X.shape, dtype=np.int64).tobytes())
    if is_dask_array(X):
        h.update(str(X.name).encode())
        return h.hexdigest()
    step = max(1, (64 << 20) // max(1, X.shape[1] * X.itemsize))
    for start in range(0, X.shape[0], step):
        h.update(np.ascontiguousarray(X[start : start + step]).data)
    return h.hexdigest()


# ------------------------------------------------------------------ batches


def is_dask_array(X):
    return hasattr(X, "chunks") and hasattr(X, "compute") and hasattr(X, "dask")


def is_out_of_core(X):
    """Data trained on chunk by chunk instead of being held in memory."""
    return isinstance(X, np.memmap) or is_dask_array(X)


def row_chunks(X, batch_size):
    """[(start, stop)] row ranges: a Dask array's own chunks, or about 64 MB of a memmap."""
    if is_dask_array(X):
        bounds = np.cumsum((0,) + tuple(X.chunks[0]))
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    rows = max(batch_size, (64 << 20) // max(1, X.shape[1] * X.itemsize))
    rows -= rows % batch_size
    return [(a, min(a + rows, X.shape[0])) for a in range(0, X.shape[0], rows)]


def load_chunk(X, start, stop, name="X"):
    """Rows start..stop-1 of an out-of-core matrix, in memory and checked to be 0/1."""
    from nadefast._validation import as_binary_matrix

    part = X[start:stop]
    if is_dask_array(part):
        part = part.compute()
    try:
        return as_binary_matrix(np.asarray(part), X.shape[1], name=f"{name}[{start}:{stop}]")
    except ValueError as exc:
        raise ValueError(f"{exc} (rows {start}..{stop - 1} of {name})") from None


def column_sums(X):
    """Sum of every column as float64: (n_features,); streams memmaps and Dask arrays."""
    if is_dask_array(X):
        return np.asarray(X.sum(axis=0, dtype=np.float64).compute())
    return np.asarray(X.sum(axis=0, dtype=np.float64))


def epoch_batches(X, batch_size, rng):
    """The mini-batches of one epoch.

    In-memory X: one permutation of all rows.  Memmaps and Dask arrays are
    streamed: the order of their row chunks is shuffled, then the rows within
    each chunk, so only one chunk is in memory at a time.
    """
    if not is_out_of_core(X):
        perm = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            yield X[perm[start : start + batch_size]]
        return
    chunks = row_chunks(X, batch_size)
    for c in rng.permutation(len(chunks)):
        rows = load_chunk(X, *chunks[c])
        perm = rng.permutation(rows.shape[0])
        for start in range(0, rows.shape[0], batch_size):
            yield rows[perm[start : start + batch_size]]


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
    """One fit of `model` on X (and X_valid); see NADE.fit for the meaning of the settings."""

    def __init__(self, model, X, X_valid, settings, rng, *, patience, n_threads, verbose):
        self.model = model
        self.X = X
        self.X_valid = X_valid
        self.settings = settings
        self.rng = rng
        self.patience = patience
        self.n_threads = n_threads
        self.verbose = int(verbose)
        self.params = model._params_padded()
        self.grads = {k: np.empty_like(v) for k, v in self.params.items()}
        self.optimizer = make_optimizer(settings["optimizer"], self.params, settings["learning_rate"],
                                        n_threads, momentum=settings.get("momentum", 0.0),
                                        weight_decay=settings.get("weight_decay", 0.0),
                                        decayed=[k for k in self.params if k in DECAYED])
        self.epoch = 0
        self.history = []
        self.bad_epochs = 0
        self.best_epoch = 0
        if X_valid is not None:
            self.best_nll = self.valid_nll()
            self.best_params = {k: v.copy() for k, v in self.params.items()}
        else:
            self.best_nll = None
            self.best_params = None
        self.epoch_start = {k: v.copy() for k, v in self.params.items()}

    # ---------------------------------------------------------------- epochs

    def valid_nll(self):
        if self.X_valid is None:
            return None
        return self.model._validation_nll(self.X_valid)

    def stopped_early(self):
        return self.patience is not None and self.bad_epochs >= self.patience

    def run(self, epochs, checkpoint=None, checkpoint_every=1):
        """Train until `epochs` epochs in all have run or patience runs out."""
        try:
            while self.epoch < epochs and not self.stopped_early():
                self._one_epoch()
                last = self.epoch >= epochs or self.stopped_early()
                if checkpoint is not None and (self.epoch % checkpoint_every == 0 or last):
                    self.save_checkpoint(checkpoint)
        except KeyboardInterrupt:
            self._keep_best()
            kept = self.best_epoch if self.best_params is not None else "the last completed step"
            print(f"nadefast: fit interrupted in epoch {self.epoch + 1}; the model keeps the "
                  f"parameters of epoch {kept}", file=sys.stderr, flush=True)
            raise
        self._keep_best()

    def _one_epoch(self):
        t0 = time.perf_counter()
        for k, v in self.params.items():
            self.epoch_start[k][...] = v
        m = self.X.shape[0]
        total = 0.0
        done = 0
        bar = ProgressBar(f"epoch {self.epoch + 1:4d}", m) if self.verbose >= 2 else None
        for batch in epoch_batches(self.X, self.settings["batch_size"], self.rng):
            loss = self.model._training_loss(batch, self.grads, self.n_threads, self.rng)
            if not np.isfinite(loss):
                self._diverged(f"loss {loss}")
            self.optimizer.learning_rate = scheduled_rate(self.settings, self.epoch * m + done, m)
            self.optimizer.step(self.grads)
            total += loss * batch.shape[0]
            done += batch.shape[0]
            if bar is not None:
                bar.update(done, total / done)
        if bar is not None:
            bar.close()
        # overflowing parameters show up in the loss of the next batch, or here
        if not all(np.isfinite(v).all() for v in self.params.values()):
            self._diverged("non-finite parameters")
        self.epoch += 1
        record = {"epoch": self.epoch, "train_nll": total / m, "valid_nll": self.valid_nll(),
                  "seconds": time.perf_counter() - t0}
        self.history.append(record)
        if self.verbose:
            valid = "" if record["valid_nll"] is None else f"  valid NLL {record['valid_nll']:.4f}"
            print(f"epoch {self.epoch:4d}  train NLL {record['train_nll']:.4f}{valid}"
                  f"  ({record['seconds']:.2f} s)", flush=True)
        if self.X_valid is not None:
            if record["valid_nll"] < self.best_nll:
                self.best_nll, self.best_epoch = record["valid_nll"], self.epoch
                for k, v in self.params.items():
                    self.best_params[k][...] = v
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
        self._publish()

    def _publish(self):
        self.model.history_ = list(self.history)
        self.model.best_epoch_ = self.best_epoch if self.X_valid is not None else self.epoch

    def _keep_best(self):
        if self.best_params is not None:
            for k, v in self.params.items():
                v[...] = self.best_params[k]
        self._publish()

    def _diverged(self, what):
        if self.best_params is not None:
            kept = self.best_epoch
            saved = self.best_params
        else:
            kept = self.epoch  # the last completed epoch
            saved = self.epoch_start
        for k, v in self.params.items():
            v[...] = saved[k]
        self._publish()
        self.model.best_epoch_ = kept
        raise FloatingPointError(
            f"training diverged in epoch {self.epoch + 1} ({what}); the model keeps the parameters "
            f"of epoch {kept}. Try a smaller learning_rate."
        )

    # ------------------------------------------------------------ checkpoints

    def save_checkpoint(self, path):
        progress = {
            "epoch": self.epoch,
            "bad_epochs": self.bad_epochs,
            "best_epoch": self.best_epoch,
            "best_nll": self.best_nll,
            "history": self.history,
            "rng": self.rng.bit_generator.state,
            "rng_class": type(self.rng.bit_generator).__name__,
        }
        arrays = {
            "format": np.array(CHECKPOINT_FORMAT),
            "format_version": np.array(CHECKPOINT_VERSION, dtype=np.int64),
            "settings": np.array(json.dumps(self.settings)),
            "progress": np.array(json.dumps(progress)),
            "ordering": np.asarray(self.model.ordering_, dtype=np.int64),
        }
        arrays.update({f"param.{k}": v for k, v in self.params.items()})
        if self.best_params is not None:
            arrays.update({f"best.{k}": v for k, v in self.best_params.items()})
        arrays.update({f"opt.{k}": np.asarray(v) for k, v in self.optimizer.state_dict().items()})
        write_npz_atomic(path, arrays)

    def load_progress(self, progress, arrays):
        """Continue from a checkpoint's progress and arrays (after load_checkpoint)."""
        self.epoch = int(progress["epoch"])
        self.bad_epochs = int(progress["bad_epochs"])
        self.best_epoch = int(progress["best_epoch"])
        self.best_nll = progress["best_nll"]
        self.history = list(progress["history"])
        bit_generator = getattr(np.random, progress["rng_class"])()
        bit_generator.state = progress["rng"]
        self.rng = np.random.Generator(bit_generator)
        if self.best_params is not None:
            for k, v in self.best_params.items():
                v[...] = arrays[f"best.{k}"]
        self.optimizer.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt.")})
        self._publish()


def load_checkpoint(path, settings):
    """Read a checkpoint and check that it belongs to this fit.

    Returns (ordering, params, progress, arrays).  Raises ValueError naming
    the file and the mismatch (different data, batch size, ...).
    """
    path = os.fspath(path)
    arrays = read_npz(path, "checkpoint")
    try:
        meta = {key: arrays[key] for key in ("format", "format_version", "settings", "progress",
                                             "ordering")}
    except KeyError as exc:
        raise ValueError(f"{path!r} is not a nadefast checkpoint: missing {exc}") from None
    if str(meta["format"]) != CHECKPOINT_FORMAT:
        raise ValueError(f"{path!r} is not a nadefast checkpoint (format {meta['format']!r})")
    if int(meta["format_version"]) > CHECKPOINT_VERSION:
        raise ValueError(f"{path!r} is a checkpoint of a newer nadefast (format version "
                         f"{int(meta['format_version'])}); upgrade to resume it")
    saved = {**_SETTING_DEFAULTS, **json.loads(str(meta["settings"]))}
    for key in _MUST_MATCH:
        if saved.get(key) != settings.get(key):
            raise ValueError(
                f"cannot resume from {path!r}: it was made with {key}={saved.get(key)!r}, "
                f"this fit has {key}={settings.get(key)!r}"
            )
    params = {k[6:]: v for k, v in arrays.items() if k.startswith("param.")}
    return arrays["ordering"], params, json.loads(str(meta["progress"])), arrays
