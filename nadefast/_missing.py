"""Training on rows with missing entries: the order-agnostic objective over each row's
observed entries only (docs/mixed.md §4).

A row x with observed set A (a = |A| entries; NaN marks the others) contributes

    L(m) = a / (a - s) * sum_{j in A, m_j = 0} -log p(x_j | x_m),

where the mask m (the conditioning set, s = |m| entries) is drawn among the
observed entries only: s uniform in 0..a-1, then m uniform among the s-subsets
of A.  Missing entries are neither inputs (m_j = 0 there) nor terms of the loss.
Averaged over the masks, L is the mean over the orderings o of A of
-log p_o(x_A) = sum_k -log p(x_{o[k]} | x_{o[<k]}): the order-agnostic training
objective of the marginal of the observed entries (with A the whole row it is the
usual one, a = n).  A row with nothing observed contributes 0 (log p of nothing).
"""

import numpy as np


def available_entries(X):
    """(rows, n) bool of the entries that are not NaN, or None when X has no NaN (or
    is not floating)."""
    if X.dtype.kind != "f":
        return None
    missing = np.isnan(X)
    return ~missing if missing.any() else None


def masks_among(available, rng):
    """Per row a training mask within its available entries: a split s uniform in
    0..a-1 (a the row's available count; 0 when a = 0), then s of the available
    entries, uniformly.  available (rows, n) bool -> (rows, n) bool."""
    rows, n = available.shape
    a = available.sum(axis=1)
    s = np.floor(rng.random(rows) * a).astype(np.intp)  # uniform in 0..a-1
    keys = np.where(available, rng.random((rows, n)), np.inf)  # unavailable: never chosen
    rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
    return rank < s[:, None]


def row_weights(available, masks):
    """a / (a - s) per row (0 for a row with nothing available), and the entries whose
    terms count: available and not in the mask.  ((rows,) float64, (rows, n) bool)."""
    a = available.sum(axis=1)
    s = (masks & available).sum(axis=1)
    weight = np.where(a > 0, a / np.maximum(a - s, 1), 0.0)
    return weight, available & ~masks
