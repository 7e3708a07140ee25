"""The order-agnostic Bernoulli NADE's sweep along orderings -- the exact score and the
sampler -- with its per-position glue fused (issue 19; docs/gpu.md §2, docs/order_agnostic.md
§7-§9).

The sweep along each row's ordering (rows: the (ordering, row) pairs of an ensemble, or the
rows of one ordering) is, per position k, with j_r = orders[r, k] (order_agnostic.md §7):

    h_1 = relu(A1);  h_l = relu(W_hidden[l-2] h_{l-1} + b_hidden[l-2])     l = 2 .. L
    z_r = V[j_r] . h_L,r + c[j_r];   loglik_r += logsigmoid((2 x_{r,j_r} - 1) z_r)
    A1_r += M[:, j_r] + x_{r,j_r} W[:, j_r]

The (L-1) d x d products over all rows are the work, and stay vendor GEMMs (cuBLAS through
torch).  Everything else -- the torch path's ~21 element-wise, gather and reduction launches
a position (docs/gpu.md §2 counts them) -- is one Triton kernel, `_oa_step_kernel`: the top layer's bias and ReLU, the per-row gather
of V[j_r] and c[j_r], the logit, the log-sigmoid term (with `stop`, log_marginal's prefix,
and the per-position `terms`), the first layer's update and the next position's
H1 = relu(A1) for the first GEMM.  `_oa_sample_kernel` is the same step drawing x_j instead
(x_j = [z > eps], eps the logistic noise of _triton.noise by position, the compiled core's
draws; greedy [z > 0]; a kept prefix keeps its values) and writing it into the values.
So a position costs:

    L = 1:  no GEMM; the whole sweep is one launch (a program keeps its rows' A1 on chip
            and walks the positions, as the fixed-order scorer);
    L = 2:  1 GEMM (H1 W_hidden[0]^T, no bias) + 1 step kernel;
    L >= 3: the first L-2 deeper layers as torch._addmm_activation (the GEMM with bias and
            ReLU: one launch where cuBLASLt takes the epilogue, else addmm + relu_), the last
            one a plain GEMM whose bias and ReLU the step kernel applies, + 1 step kernel.

Precision as the torch path: A1, the hidden layers and the dot products in the model's dtype,
the logit converted to float64, log-sigmoid and the per-row sum in float64 (`_log_sigmoid`
of _triton.py); A1's update adds M's column, then W's where x = 1, as the compiled core.

Layout (prepared by the caller, _torch.py `OrderlessKernels._fused`): M's and W's columns
transposed to rows (n, d), V (n, d), c (n,), b (d,), the deeper layers as the public
arrays; values (rows, n) int8 by feature; orders (rows, n) or (1, n) int32 (one ordering
shared: a row stride of 0).  A CUDA graph of one position's launches is not built: it cannot
be captured or tested without a GPU (docs/gpu.md §2).
"""

import torch
import triton
import triton.language as tl

from nadefast.backends._triton import _block_d, _check, _log_sigmoid

# The step kernel holds a block of rows' A1 and Z (BLOCK_ROWS x BLOCK_D) and gathers one row
# of V, M and W per row (64-bit addresses per element: most of its registers).  Compiled for
# sm_90 at d = 500 (tools/triton_codegen.py, Triton 3.9): 4 rows x 4 warps take 126-160
# registers a thread in float32 and 168-195 in float64, no spill; 8 x 4 spill in float64 (and
# in float32 with terms); 8 x 8 take 228-252.  Rows are plenty (an ensemble's sweep has up to
# 65 536), so small blocks cost no parallelism.  Not measured on a GPU yet.
BLOCK_ROWS = 4
NUM_WARPS = 4


@triton.jit
def _rows_state(A1_ptr, rows, d, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """This program's block: rows r and which exist, hidden columns and which exist, the
    block's mask and offsets into (rows, d) arrays, and its A1 (BLOCK_R, BLOCK_D)."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    ok_r = r < rows
    cols = tl.arange(0, BLOCK_D)
    ok_c = cols < d
    ok = ok_r[:, None] & ok_c[None, :]
    at = r.to(tl.int64)[:, None] * d + cols[None, :]
    return r, ok_r, cols, ok_c, ok, at, tl.load(A1_ptr + at, mask=ok, other=0.0)


@triton.jit
def _logit(a, Z_ptr, bt_ptr, V_ptr, c_ptr, j, at, ok, ok_r, cols, ok_c, d, DEEP: tl.constexpr):
    """(the rows' logits z_r = V[j_r] . h_r + c[j_r] as float64, the gathers' offsets
    j_r d + cols): the top layer h = relu(Z + bt) (DEEP) or relu(a)."""
    if DEEP:
        bt = tl.load(bt_ptr + cols, mask=ok_c, other=0.0)
        h = tl.maximum(tl.load(Z_ptr + at, mask=ok, other=0.0) + bt[None, :], 0.0)
    else:
        h = tl.maximum(a, 0.0)
    feat = j[:, None] * d + cols[None, :]  # row j_r of the (n, d) tables
    v = tl.load(V_ptr + feat, mask=ok, other=0.0)
    z = (tl.sum(h * v, axis=1) + tl.load(c_ptr + j, mask=ok_r, other=0.0)).to(tl.float64)
    return z, feat


@triton.jit
def _reveal(a, MT_ptr, WT_ptr, feat, ok, x):
    """A1 after revealing x_j: its mask column, then its input column where x_j = 1, as the
    compiled core adds them (exact either way: one non-zero input a variable)."""
    a = a + tl.load(MT_ptr + feat, mask=ok, other=0.0)
    w = tl.load(WT_ptr + feat, mask=ok, other=0.0)
    return tl.where(x[:, None], a + w, a)


@triton.jit(do_not_specialize=["k0", "k1", "n_update"])
def _oa_step_kernel(A1_ptr, H1_ptr, Z_ptr, bt_ptr, xs_ptr, order_ptr, order_stride, stop_ptr,
                    ll_ptr, terms_ptr, MT_ptr, WT_ptr, V_ptr, c_ptr, rows, n, d, k0, k1,
                    n_update, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr,
                    DEEP: tl.constexpr, HAS_STOP: tl.constexpr, HAS_TERMS: tl.constexpr):
    """Scoring, positions k0 .. k1-1 of the sweep for rows of A1 (rows, d), in place; ll
    (rows,) float64 accumulates the terms (terms (rows, n) float64 gets them by position).
    DEEP (L >= 2): one position (k1 = k0 + 1), the top layer relu(Z + bt) from Z (rows, d),
    the last deeper layer's product without its bias, and H1 = relu(A1) written after the
    update for the next position's first GEMM; else the top layer is relu(A1) itself.
    A1 is updated after positions k < n_update only (not after the sweep's last)."""
    r, ok_r, cols, ok_c, ok, at, a = _rows_state(A1_ptr, rows, d, BLOCK_R, BLOCK_D)
    ll = tl.load(ll_ptr + r, mask=ok_r, other=0.0)
    if HAS_STOP:
        stop = tl.load(stop_ptr + r, mask=ok_r, other=0)
    row_x = r.to(tl.int64) * n
    row_o = r.to(tl.int64) * order_stride
    for k in range(k0, k1):
        j = tl.load(order_ptr + row_o + k, mask=ok_r, other=0).to(tl.int64)
        z, feat = _logit(a, Z_ptr, bt_ptr, V_ptr, c_ptr, j, at, ok, ok_r, cols, ok_c, d, DEEP)
        x = (tl.load(xs_ptr + row_x + j, mask=ok_r, other=0) != 0) & ok_r
        term = _log_sigmoid(tl.where(x, z, -z))
        if HAS_STOP:
            term = tl.where(k < stop, term, 0.0)  # log_marginal: the prefix only
        ll += term
        if HAS_TERMS:
            tl.store(terms_ptr + row_x + k, term, mask=ok_r)
        if k < n_update:
            a = _reveal(a, MT_ptr, WT_ptr, feat, ok, x)
    tl.store(A1_ptr + at, a, mask=ok)
    if DEEP:
        tl.store(H1_ptr + at, tl.maximum(a, 0.0), mask=ok)
    tl.store(ll_ptr + r, ll, mask=ok_r)


@triton.jit(do_not_specialize=["k0", "k1", "n_update"])
def _oa_sample_kernel(A1_ptr, H1_ptr, Z_ptr, bt_ptr, xs_ptr, order_ptr, order_stride, eps_ptr,
                      kept_ptr, MT_ptr, WT_ptr, V_ptr, c_ptr, rows, n, d, k0, k1, n_update,
                      BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr, DEEP: tl.constexpr,
                      GREEDY: tl.constexpr, HAS_KEPT: tl.constexpr):
    """Sampling, as _oa_step_kernel: x_j = [z > eps[r, k]] (eps (rows, n) float64 by
    position; GREEDY: [z > 0]), or with HAS_KEPT the value already in xs where k < kept[r];
    written into xs (rows, n) int8 by feature, then revealed."""
    r, ok_r, cols, ok_c, ok, at, a = _rows_state(A1_ptr, rows, d, BLOCK_R, BLOCK_D)
    if HAS_KEPT:
        kept = tl.load(kept_ptr + r, mask=ok_r, other=0)
    row_x = r.to(tl.int64) * n
    row_o = r.to(tl.int64) * order_stride
    for k in range(k0, k1):
        j = tl.load(order_ptr + row_o + k, mask=ok_r, other=0).to(tl.int64)
        z, feat = _logit(a, Z_ptr, bt_ptr, V_ptr, c_ptr, j, at, ok, ok_r, cols, ok_c, d, DEEP)
        if GREEDY:
            x = z > 0.0
        else:
            x = z > tl.load(eps_ptr + row_x + k, mask=ok_r, other=0.0)
        if HAS_KEPT:
            old = tl.load(xs_ptr + row_x + j, mask=ok_r, other=0) != 0
            x = tl.where(k < kept, old, x)
        x = x & ok_r
        tl.store(xs_ptr + row_x + j, x.to(tl.int8), mask=ok_r)
        if k < n_update:
            a = _reveal(a, MT_ptr, WT_ptr, feat, ok, x)
    tl.store(A1_ptr + at, a, mask=ok)
    if DEEP:
        tl.store(H1_ptr + at, tl.maximum(a, 0.0), mask=ok)


def _dense_relu(h, Wl, bl):
    """relu(h Wl^T + bl): the GEMM with its bias and ReLU in one call (cuBLASLt's epilogue
    where it applies; torch falls back to addmm + relu_ itself)."""
    fused = getattr(torch, "_addmm_activation", None)
    if fused is None:  # a PyTorch without it
        return torch.relu_(torch.addmm(bl, h, Wl.T))
    return fused(bl, h, Wl.T)


_INDEX_DTYPES = (torch.int32, torch.int64)
_FLOAT64 = (torch.float64,)


def _check_orders(xs, orders):
    """The shapes and dtypes every sweep takes: values (rows, n) int8 or uint8, orders
    (1, n) or (rows, n) int32 or int64."""
    rows, n = xs.shape
    if xs.dtype not in (torch.int8, torch.uint8):
        raise TypeError(f"the values must be int8 or uint8, got {xs.dtype}")
    if orders.dtype not in _INDEX_DTYPES:
        raise TypeError(f"orders must be int32 or int64, got {orders.dtype}")
    if orders.dim() != 2 or orders.shape[1] != n or orders.shape[0] not in (1, rows):
        raise ValueError(f"orders must be (1, {n}) or ({rows}, {n}), got {tuple(orders.shape)}")


def _check_arguments(xs, orders, model, optional):
    """The checks score and sample share: values and orders (_check_orders), the model
    (_check_model), and the optional tensors, (name, tensor or None, shape, dtypes) each:
    a wrong shape is a ValueError, a wrong dtype a TypeError.  Returns the tensors given."""
    _check_orders(xs, orders)
    given = []
    for name, t, shape, dtypes in optional:
        if t is None:
            continue
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must be {shape}, got {tuple(t.shape)}")
        if t.dtype not in dtypes:
            names = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
            raise TypeError(f"{name} must be {names}, got {t.dtype}")
        given.append(t)
    _check_model(*model)
    return given


def _check_model(MT, WT, V, c, b, W_hidden, b_hidden):
    """One float dtype for the whole model."""
    dtypes = {t.dtype for t in (MT, WT, V, c, b, W_hidden, b_hidden)}
    if len(dtypes) != 1 or dtypes.pop() not in (torch.float32, torch.float64):
        raise TypeError(f"the model's tensors must share float32 or float64, got {dtypes}")


def _sweep(xs, orders, positions, b, W_hidden, b_hidden, block_rows, num_warps, launch):
    """The sweep's GEMMs and launches over positions 0 .. positions-1: launch(grid, meta,
    A1, H1, Z, k0, k1) runs the step kernel with A1 (rows, d) the first layer's
    pre-activations (b to start), H1 = relu(A1) and Z the last deeper layer's product
    (rows, d) for L >= 2 (A1 itself where unused)."""
    rows, n = xs.shape
    d = b.shape[0]
    A1 = b.expand(rows, d).contiguous()
    deep = W_hidden.shape[0] > 0
    H1 = torch.relu(A1) if deep else A1
    Z = torch.empty_like(A1) if deep else A1
    br, nw = _settings(rows, xs.device, block_rows, num_warps)
    grid = (triton.cdiv(rows, br),)
    meta = dict(BLOCK_R=br, BLOCK_D=_block_d(d), DEEP=deep, num_warps=nw)
    if not deep:
        launch(grid, meta, A1, H1, Z, 0, positions)  # the whole sweep: one launch
        return
    for k in range(positions):
        h = H1
        for Wl, bl in zip(W_hidden[:-1], b_hidden[:-1]):
            h = _dense_relu(h, Wl, bl)
        torch.mm(h, W_hidden[-1].T, out=Z)  # its bias and ReLU: in the step kernel
        launch(grid, meta, A1, H1, Z, k, k + 1)


def score(xs, orders, positions, MT, WT, V, c, b, W_hidden, b_hidden, stop=None, terms=None,
          block_rows=None, num_warps=None):
    """(rows,) float64: the sum of the log-probabilities of positions 0 .. positions-1 along
    each row's ordering.

    xs (rows, n) int8 values by feature; orders (rows, n) or (1, n) int32, each row a
    permutation of range(n); MT, WT, V (n, d), c (n,), b (d,), W_hidden (L-1, d, d),
    b_hidden (L-1, d): the model in its dtype; stop (rows,) int32 or None: a row's terms at
    positions k >= stop[r] count 0; terms (rows, n) float64 or None: filled with the terms by
    position (positions must then be n).  block_rows, num_warps: None for the defaults
    (`_settings`)."""
    rows, n = xs.shape
    if not 0 <= positions <= n:
        raise ValueError(f"positions must lie in [0, {n}], got {positions}")
    if terms is not None and positions != n:
        raise ValueError(f"terms must come with positions {n}, got {positions}")
    model = (MT, WT, V, c, b, W_hidden, b_hidden)
    given = _check_arguments(xs, orders, model, (("stop", stop, (rows,), _INDEX_DTYPES),
                                                 ("terms", terms, (rows, n), _FLOAT64)))
    ll = torch.zeros(rows, dtype=torch.float64, device=xs.device)
    if rows == 0 or positions == 0:
        return ll
    _check(xs, orders, *model, *given)
    bt = b_hidden[-1] if W_hidden.shape[0] > 0 else b

    def launch(grid, meta, A1, H1, Z, k0, k1):
        _oa_step_kernel[grid](
            A1, H1, Z, bt, xs, orders, 0 if orders.shape[0] == 1 else n,
            xs if stop is None else stop, ll, ll if terms is None else terms, MT, WT, V, c,
            rows, n, b.shape[0], k0, k1, positions - 1, HAS_STOP=stop is not None,
            HAS_TERMS=terms is not None, **meta)

    _sweep(xs, orders, positions, b, W_hidden, b_hidden, block_rows, num_warps, launch)
    return ll


def sample(xs, orders, eps, kept, MT, WT, V, c, b, W_hidden, b_hidden, block_rows=None,
           num_warps=None):
    """Fill xs (rows, n) int8, values by feature, with draws along each row's ordering:
    x_j = [z > eps[r, k]] at position k (eps (rows, n) float64 noise by position, or None:
    the most probable values), keeping the values at positions k < kept[r] where `kept`
    (rows,) int32 is not None.  orders and the model as in `score`."""
    rows, n = xs.shape
    model = (MT, WT, V, c, b, W_hidden, b_hidden)
    given = _check_arguments(xs, orders, model, (("eps", eps, (rows, n), _FLOAT64),
                                                 ("kept", kept, (rows,), _INDEX_DTYPES)))
    if rows == 0 or n == 0:
        return xs
    _check(xs, orders, *model, *given)
    bt = b_hidden[-1] if W_hidden.shape[0] > 0 else b

    def launch(grid, meta, A1, H1, Z, k0, k1):
        _oa_sample_kernel[grid](
            A1, H1, Z, bt, xs, orders, 0 if orders.shape[0] == 1 else n,
            xs if eps is None else eps, xs if kept is None else kept, MT, WT, V, c,
            rows, n, b.shape[0], k0, k1, n - 1, GREEDY=eps is None,
            HAS_KEPT=kept is not None, **meta)

    _sweep(xs, orders, n, b, W_hidden, b_hidden, block_rows, num_warps, launch)
    return xs


def _settings(rows, device, block_rows, num_warps):
    """(block_rows, num_warps): the ones given, else _triton's rule (BLOCK_ROWS halved while
    a launch would give fewer than PROGRAMS_PER_SM programs per multiprocessor) from this
    module's BLOCK_ROWS and NUM_WARPS."""
    from nadefast.backends import _triton

    if block_rows is None:
        block_rows = BLOCK_ROWS
        sms = (torch.cuda.get_device_properties(device).multi_processor_count
               if device.type == "cuda" else 1)
        while block_rows > 1 and triton.cdiv(rows, block_rows) < _triton.PROGRAMS_PER_SM * sms:
            block_rows //= 2
    if num_warps is None:
        num_warps = _triton.SMALL_NUM_WARPS if block_rows <= 2 else NUM_WARPS
    return block_rows, num_warps
