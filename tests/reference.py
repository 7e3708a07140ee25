"""Plain, slow references that the fast kernels are checked against.

Everything here is float64 NumPy written straight from the formulas of
docs/fixed_order.md (§1, §3-§4) and docs/order_agnostic.md, with no incremental tricks: the hidden state at position k is
recomputed from scratch as sigmoid(b + W[:, :k] x_<k) (the masked O(n^2 d)
form), probabilities come from enumeration, derivatives from central
differences.
"""

import itertools

import numpy as np


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def all_binary_vectors(n):
    """(2**n, n) uint8, every binary vector, in lexicographic order."""
    return np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.uint8)


def random_params(rng, n, d, scale=1.0):
    """Public-layout parameters W (d, n), b (d,), V (n, d), c (n,) in float64."""
    return (
        rng.normal(0.0, scale, size=(d, n)),
        rng.normal(0.0, scale, size=d),
        rng.normal(0.0, scale, size=(n, d)),
        rng.normal(0.0, scale, size=n),
    )


def masked_forward(W, b, V, c, X, ordering=None):
    """Per row: hidden states (n, d), logits (n,), chain order; the O(n^2 d) masked form."""
    W, b, V, c = (np.asarray(a, dtype=np.float64) for a in (W, b, V, c))
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[1]
    order = np.arange(n) if ordering is None else np.asarray(ordering)
    Xo = X[:, order]
    H = np.empty((X.shape[0], n, W.shape[0]))
    Z = np.empty((X.shape[0], n))
    for k in range(n):
        mask = np.zeros(n)
        mask[:k] = 1.0  # position k sees x at positions 0..k-1 only
        H[:, k, :] = sigmoid(b + (Xo * mask) @ W.T)
        Z[:, k] = c[k] + H[:, k, :] @ V[k]
    return H, Z, Xo


def log_likelihood(W, b, V, c, X, ordering=None):
    """log p(x) per row, nats."""
    _, Z, Xo = masked_forward(W, b, V, c, X, ordering)
    # log sigmoid(s z) = -log(1 + exp(-s z)), s = 2x - 1
    return -np.logaddexp(0.0, -(2.0 * Xo - 1.0) * Z).sum(axis=1)


def conditionals(W, b, V, c, X, ordering=None):
    """p(x_i = 1 | earlier variables) in feature order, (rows, n)."""
    _, Z, _ = masked_forward(W, b, V, c, X, ordering)
    n = np.asarray(X).shape[1]
    order = np.arange(n) if ordering is None else np.asarray(ordering)
    out = np.empty_like(Z)
    out[:, order] = sigmoid(Z)
    return out


def philox_bits(key, row, n):
    """The sampler's n 32-bit draws of a row (docs/sampling.md §2): the 64-bit words of
    numpy.random.Philox(key, counter=[0, row, 0, 0]), low half of each word first."""
    counter = np.array([0, row, 0, 0], dtype=np.uint64)
    words = np.random.Philox(key=key, counter=counter).random_raw((n + 1) // 2)
    bits = np.empty(n, dtype=np.uint32)
    bits[0::2] = (words & 0xFFFFFFFF)[: (n + 1) // 2]
    bits[1::2] = (words >> 32)[: n // 2]
    return bits


def philox_uniforms(key, row, n):
    """The uniforms u = (bits + 1/2) / 2^32 a row's draws are compared with: x = [p > u],
    i.e. x = [logit > log u - log(1 - u)]."""
    return (philox_bits(key, row, n).astype(np.float64) + 0.5) / 2.0**32


def mean_nll(W, b, V, c, X, ordering=None):
    return -float(np.mean(log_likelihood(W, b, V, c, X, ordering)))


def central_difference_gradient(f, params, eps=1e-6):
    """d f / d params[name] for every entry, by (f(p + eps) - f(p - eps)) / (2 eps)."""
    grads = {}
    for name, p in params.items():
        g = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = f()
            p[idx] = old - eps
            down = f()
            p[idx] = old
            g[idx] = (up - down) / (2.0 * eps)
        grads[name] = g
    return grads


def oa_log_likelihood(params, X, ordering):
    """Order-agnostic NADE: log p(x) along `ordering`, recomputing every layer at every
    position from the masked input (docs/order_agnostic.md §7).  params in the public layout:
    W, M (d, n), b (d,), W_hidden (L-1, d, d), b_hidden (L-1, d), V (n, d), c (n,)."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[1]
    out = np.zeros(X.shape[0])
    mask = np.zeros(n)
    for k in range(n):
        j = ordering[k]
        h = np.maximum((X * mask) @ P["W"].T + mask @ P["M"].T + P["b"], 0.0)
        for Wl, bl in zip(P["W_hidden"], P["b_hidden"]):
            h = np.maximum(h @ Wl.T + bl, 0.0)
        z = h @ P["V"][j] + P["c"][j]
        out += -np.logaddexp(0.0, -(2.0 * X[:, j] - 1.0) * z)
        mask[j] = 1.0
    return out


def oa_objective(params, X, masks):
    """The rescaled order-agnostic NLL n / (n - s) sum_{unobserved} -log p, mean over rows."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X = np.asarray(X, dtype=np.float64)
    m = np.asarray(masks, dtype=np.float64)
    n = X.shape[1]
    h = np.maximum((X * m) @ P["W"].T + m @ P["M"].T + P["b"], 0.0)
    for Wl, bl in zip(P["W_hidden"], P["b_hidden"]):
        h = np.maximum(h @ Wl.T + bl, 0.0)
    z = h @ P["V"].T + P["c"]
    nll = (1 - m) * np.logaddexp(0.0, -(2.0 * X - 1.0) * z)
    return float(np.mean(n / (n - m.sum(axis=1)) * nll.sum(axis=1)))


# ------------------------------------------------------------------ categorical outputs


def all_codes(n_categories):
    """(prod K, n) int, every configuration of codes x_j in 0..K_j - 1, lexicographic."""
    return np.array(list(itertools.product(*[range(k) for k in n_categories])), dtype=np.int64)


def _log_softmax_at(z, x):
    z = np.asarray(z, dtype=np.float64)
    top = z.max()
    return z[x] - top - np.log(np.exp(z - top).sum())


def categorical_log_likelihood(W, b, V, c, X, n_categories, ordering):
    """log p(x) per row of a fixed-order categorical NADE, the masked form written from
    docs: position k (feature o[k], K values) sees sigmoid(b + sum of the W columns of the
    values >= 1 before it); its K logits are c + V h.  W (d, sum K-1) and V (sum K, d),
    c in blocks by chain position."""
    W, b, V, c = (np.asarray(a, dtype=np.float64) for a in (W, b, V, c))
    K = np.asarray(n_categories)[np.asarray(ordering)]
    in_start = np.concatenate([[0], np.cumsum(K - 1)])
    out_start = np.concatenate([[0], np.cumsum(K)])
    out = np.zeros(len(X))
    for r, x in enumerate(np.asarray(X)):
        xo = x[np.asarray(ordering)]
        for k in range(len(K)):
            a = b.copy()
            for i in range(k):
                if xo[i] > 0:
                    a += W[:, in_start[i] + xo[i] - 1]
            h = sigmoid(a)
            z = c[out_start[k]:out_start[k + 1]] + V[out_start[k]:out_start[k + 1]] @ h
            out[r] += _log_softmax_at(z, xo[k])
    return out


def oa_categorical_log_likelihood(params, X, n_categories, ordering):
    """Order-agnostic categorical NADE: log p(x) along `ordering`, every layer recomputed
    at every position from the one-hot inputs of the observed values (blocks by feature)."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    K = np.asarray(n_categories)
    in_start = np.concatenate([[0], np.cumsum(K - 1)])
    out_start = np.concatenate([[0], np.cumsum(K)])
    out = np.zeros(len(X))
    for r, x in enumerate(np.asarray(X)):
        mask = np.zeros(len(K))
        for j in ordering:
            inputs = np.zeros(in_start[-1])
            for i in np.flatnonzero(mask):
                if x[i] > 0:
                    inputs[in_start[i] + x[i] - 1] = 1.0
            h = np.maximum(P["W"] @ inputs + P["M"] @ mask + P["b"], 0.0)
            for Wl, bl in zip(P["W_hidden"], P["b_hidden"]):
                h = np.maximum(Wl @ h + bl, 0.0)
            z = P["c"][out_start[j]:out_start[j + 1]] + P["V"][out_start[j]:out_start[j + 1]] @ h
            out[r] += _log_softmax_at(z, x[j])
            mask[j] = 1.0
    return out


SIGMA_FLOOR = 1e-3  # docs/mixture.md §2: sigma = exp(s) + 1e-3, standardised units


def mixture_parts(z, C):
    """A variable's 3C output units -> (weights, means, standard deviations), as docs/mixture.md
    §2 lays them out: C weight logits, C means, C log-scale pre-activations."""
    z = np.asarray(z, dtype=np.float64)
    logits = z[:C] - z[:C].max()
    weights = np.exp(logits) / np.exp(logits).sum()
    return weights, z[C:2 * C], np.exp(z[2 * C:]) + SIGMA_FLOOR


def mixture_log_density(z, C, x):
    """log sum_c w_c N(x; m_c, s_c^2) for one scalar x, written out term by term."""
    w, m, s = mixture_parts(z, C)
    terms = np.log(w) - 0.5 * np.log(2 * np.pi) - np.log(s) - 0.5 * ((x - m) / s) ** 2
    top = terms.max()
    return top + np.log(np.exp(terms - top).sum())


def mixture_cdf(z, C, x):
    """P(X <= x) of the mixture: sum_c w_c Phi((x - m_c) / s_c)."""
    from math import erf, sqrt

    w, m, s = mixture_parts(z, C)
    return sum(wc * 0.5 * (1.0 + erf((x - mc) / (sc * sqrt(2.0)))) for wc, mc, sc in zip(w, m, s))


def rnade_position_outputs(P, z_row, order, k, C, activation="sigmoid"):
    """Fixed-order RNADE: the 3C output units of chain position k for one standardised row,
    masked form: a = b + sum_{i<k} W[:, i] z_o[i], h = sigmoid(rho_k a) (or, activation
    "relu", max(rho_k a, 0))."""
    a = P["b"] + P["W"][:, :k] @ z_row[np.asarray(order)[:k]]
    if activation == "relu":
        h = np.maximum(P["rho"][k] * a, 0.0)
    else:
        h = sigmoid(P["rho"][k] * a)
    block = slice(3 * C * k, 3 * C * (k + 1))
    return P["c"][block] + P["V"][block] @ h


def rnade_log_density(params, X, means, scales, C, order, upto=None, activation="sigmoid"):
    """log p(x) per row of a fixed-order RNADE in the user's units: the chain of mixture
    conditionals on standardised values (x - means) / scales, minus sum log scales (the
    Jacobian).  upto=k: only the first k positions (a prefix marginal)."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    Z = (np.asarray(X, dtype=np.float64) - means) / scales
    n = Z.shape[1] if upto is None else upto
    out = np.zeros(len(Z))
    for r, z_row in enumerate(Z):
        for k in range(n):
            j = order[k]
            z = rnade_position_outputs(P, z_row, order, k, C, activation)
            out[r] += mixture_log_density(z, C, z_row[j]) - np.log(scales[j])
    return out


def oa_rnade_position_outputs(P, z_row, mask, j, C):
    """Order-agnostic RNADE: feature j's 3C output units given the features `mask` marks,
    every rectified layer computed from the inputs (z * mask) and the mask itself."""
    h = np.maximum(P["W"] @ (z_row * mask) + P["M"] @ mask + P["b"], 0.0)
    for Wl, bl in zip(P["W_hidden"], P["b_hidden"]):
        h = np.maximum(Wl @ h + bl, 0.0)
    block = slice(3 * C * j, 3 * C * (j + 1))
    return P["c"][block] + P["V"][block] @ h


def oa_rnade_log_density(params, X, means, scales, C, order, upto=None):
    """log p(x) per row of an order-agnostic RNADE along `order`, the user's units; upto=k:
    only the first k features of `order`."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    Z = (np.asarray(X, dtype=np.float64) - means) / scales
    n = Z.shape[1] if upto is None else upto
    out = np.zeros(len(Z))
    for r, z_row in enumerate(Z):
        mask = np.zeros(Z.shape[1])
        for j in order[:n]:
            z = oa_rnade_position_outputs(P, z_row, mask, j, C)
            out[r] += mixture_log_density(z, C, z_row[j]) - np.log(scales[j])
            mask[j] = 1.0
    return out


# ------------------------------------------------------------------ mixed tables


def mixed_table(rng, types, rows=60, K=3):
    """Rows of a table for the tests: 0/1, codes 0..K-1 and reals on their own offsets and
    scales, (rows, len(types)) float64."""
    columns = []
    for j, t in enumerate(types):
        if t == "bernoulli":
            columns.append(rng.integers(0, 2, rows))
        elif t == "categorical":
            columns.append(rng.integers(0, K, rows))
        else:
            columns.append(rng.normal(3.0 + 4 * j, 0.5 + j, rows))
    return np.column_stack(columns).astype(np.float64)


def _mixed_blocks(types, K, C):
    """Input and output widths per column of a mixed model: bernoulli 1 / 1, categorical
    K_j - 1 / K_j, gaussian_mixture 1 / 3C (docs/mixed.md §1)."""
    w_in = [1 if t != "categorical" else K[j] - 1 for j, t in enumerate(types)]
    w_out = [1 if t == "bernoulli" else K[j] if t == "categorical" else 3 * C
             for j, t in enumerate(types)]
    return w_in, w_out


def _mixed_input(t, value, width):
    """What one standardised value adds to the first layer through its block of W."""
    column = np.zeros(width)
    if t == "bernoulli":
        column[0] = value
    elif t == "categorical":
        if value >= 1:
            column[int(value) - 1] = 1.0
    else:
        column[0] = value
    return column


def _mixed_term(t, y, value, C):
    """log p(value | .) of one variable from its output units y, standardised units."""
    if t == "bernoulli":
        return -np.logaddexp(0.0, -(2.0 * value - 1.0) * y[0])
    if t == "categorical":
        return _log_softmax_at(y, int(value))
    return mixture_log_density(y, C, value)


def mixed_log_density(kind, params, X, types, K, C, means, scales, order, upto=None):
    """log p(x) per row of a mixed model in the user's units, the masked form written from
    the docs: kind "NADE" (blocks of W, V, c and rho by chain position; h =
    sigmoid(rho_k a_k)) or "OrderAgnosticNADE" (blocks by feature; rectified layers from
    the observed inputs and the mask).  Real columns are standardised and their -log
    scale added; upto=k: only the first k variables of `order`."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    Z = (np.asarray(X, dtype=np.float64) - means) / scales
    n = Z.shape[1]
    w_in, w_out = _mixed_blocks(types, K, C)
    order = np.asarray(order)
    upto = n if upto is None else upto
    out = np.zeros(len(Z))
    for r, z_row in enumerate(Z):
        if kind == "NADE":
            in_start = np.concatenate([[0], np.cumsum(np.array(w_in)[order])])
            out_start = np.concatenate([[0], np.cumsum(np.array(w_out)[order])])
            a = P["b"].copy()
            for k in range(upto):
                j = order[k]
                h = sigmoid(P["rho"][k] * a) if "rho" in P else sigmoid(a)
                y = P["c"][out_start[k]:out_start[k + 1]] + P["V"][out_start[k]:out_start[k + 1]] @ h
                out[r] += _mixed_term(types[j], y, z_row[j], C)
                a = a + P["W"][:, in_start[k]:in_start[k + 1]] @ _mixed_input(types[j], z_row[j],
                                                                               w_in[j])
        else:
            mask = np.zeros(n)
            for j in order[:upto]:
                y = mixed_oa_outputs(P, z_row, mask, types, K, C)[j]
                out[r] += _mixed_term(types[j], y, z_row[j], C)
                mask[j] = 1.0
        out[r] -= sum(np.log(scales[j]) for j in order[:upto] if types[j] == "gaussian_mixture")
    return out


def mixed_oa_outputs(P, z_row, mask, types, K, C):
    """An order-agnostic mixed model's output units given the features `mask` (n,) marks
    in one standardised row: a list, per feature j, of its block of units (rectified
    layers from the observed inputs and the mask)."""
    w_in, w_out = _mixed_blocks(types, K, C)
    in_start = np.concatenate([[0], np.cumsum(w_in)])
    out_start = np.concatenate([[0], np.cumsum(w_out)])
    inputs = np.zeros(in_start[-1])
    for i in np.flatnonzero(mask):
        inputs[in_start[i]:in_start[i + 1]] = _mixed_input(types[i], z_row[i], w_in[i])
    h = np.maximum(P["W"] @ inputs + P["M"] @ mask + P["b"], 0.0)
    for Wl, bl in zip(P["W_hidden"], P["b_hidden"]):
        h = np.maximum(Wl @ h + bl, 0.0)
    return [P["c"][out_start[j]:out_start[j + 1]] + P["V"][out_start[j]:out_start[j + 1]] @ h
            for j in range(len(types))]
