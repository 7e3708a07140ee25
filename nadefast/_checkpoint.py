"""Checkpoint files: everything a fit needs to continue bit for bit.

A ``.npz`` (no pickle), written atomically, independent of the build (every
array in the public layout of docs/README.md).  Format version 2:

=====================  ==========================================================
key                    meaning
=====================  ==========================================================
``format``             always ``"nadefast.checkpoint"``
``format_version``     2
``settings``           JSON: the model's structure and the fit's settings; a fit
                       resumes only with equal settings (``MUST_MATCH``)
``progress``           JSON: epoch, early-stopping state, history, the shuffling
                       generator's state, the optimizer's scalars
``ordering``           (n,) int64: the model's ordering
``param.NAME``         the parameters now, public layout
``best.NAME``          the parameters of the best epoch so far (fits with
                       validation data only)
``opt.SLOT.NAME``      the optimizer's per-parameter state (Adam: m, v; SGD with
                       momentum: velocity), laid out like the parameters
=====================  ==========================================================

Version 1 (nadefast before the redesign) stored the compiled kernels'
padded arrays, which depend on the build; it is refused with a message.
"""

import json
import os

import numpy as np

from nadefast._atomic import write_npz_atomic
from nadefast.io import read_npz

FORMAT = "nadefast.checkpoint"
VERSION = 2
# settings that must match for a checkpoint to be resumed with these data
MUST_MATCH = ("model", "n_hidden", "n_layers", "output", "dtype", "optimizer", "momentum",
              "weight_decay", "learning_rate", "lr_schedule", "schedule_epochs", "batch_size",
              "n_features", "n_rows", "n_valid_rows", "data_digest", "valid_digest")


def save_checkpoint(path, settings, progress, ordering, params, best, optimizer_slots):
    """Write a checkpoint; `params`, `best` (or None) and the slots' arrays in the public layout."""
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(VERSION, dtype=np.int64),
        "settings": np.array(json.dumps(settings)),
        "progress": np.array(json.dumps(progress)),
        "ordering": np.asarray(ordering, dtype=np.int64),
    }
    arrays.update({f"param.{k}": v for k, v in params.items()})
    if best is not None:
        arrays.update({f"best.{k}": v for k, v in best.items()})
    for slot, named in optimizer_slots.items():
        arrays.update({f"opt.{slot}.{k}": v for k, v in named.items()})
    write_npz_atomic(path, arrays)


def load_checkpoint(path, settings):
    """Read a checkpoint and check that it belongs to this fit.

    Returns a dict: ordering, params, best (or None), slots ({slot: {name:
    array}}), progress -- arrays in the public layout.  Raises ValueError
    naming the file and the mismatch (different data, batch size, ...), or
    the format version it cannot read.
    """
    path = os.fspath(path)
    arrays = read_npz(path, "checkpoint")
    try:
        meta = {key: arrays[key] for key in ("format", "format_version", "settings", "progress",
                                             "ordering")}
    except KeyError as exc:
        raise ValueError(f"{path!r} is not a nadefast checkpoint: missing {exc}") from None
    if str(meta["format"]) != FORMAT:
        raise ValueError(f"{path!r} is not a nadefast checkpoint (format {meta['format']!r})")
    version = int(meta["format_version"])
    if version > VERSION:
        raise ValueError(f"{path!r} is a checkpoint of a newer nadefast (format version "
                         f"{version}); upgrade to resume it")
    if version < VERSION:
        raise ValueError(f"{path!r} is a checkpoint in format version {version}, which held the "
                         f"parameters in one build's internal layout; this nadefast reads version "
                         f"{VERSION}: start the fit afresh (without resume) or finish it with the "
                         f"nadefast that wrote it")
    saved = json.loads(str(meta["settings"]))
    for key in MUST_MATCH:
        if saved.get(key) != settings.get(key):
            raise ValueError(
                f"cannot resume from {path!r}: it was made with {key}={saved.get(key)!r}, "
                f"this fit has {key}={settings.get(key)!r}"
            )

    def prefixed(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    slots = {}
    for name, value in prefixed("opt.").items():
        slot, _, param = name.partition(".")
        slots.setdefault(slot, {})[param] = value
    best = prefixed("best.")
    return {"ordering": meta["ordering"], "params": prefixed("param."), "best": best or None,
            "slots": slots, "progress": json.loads(str(meta["progress"]))}
