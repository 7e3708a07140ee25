"""Fused Triton kernel of the fixed-order Bernoulli NADE's loss and gradient (issue 19,
docs/gpu.md §2; the arithmetic of docs/fixed_order.md §7-§8).

One program per block of BLOCK_ROWS rows, the CPU kernel's two sweeps (`grad` in
csrc/nade_impl.h) vectorised over the block:

* forward: a, h = sigmoid(a) walk the positions as in the sampler (the update skipped where
  no row of the block has x_k = 1); delta_k = sigmoid(z_k) - x_k goes to a scratch buffer
  (rows, n), the NLL terms into a float64 sum per row;
* backward, k = n-1 .. 0, the state rebuilt by subtraction (a -= W[:, k] where x_k = 1,
  the CPU's `step_down`) and the runs of zeros folded: U = sum delta_k V[k] over a run of
  constant h, folded into the suffix sum G = sum_{m>k} g_m as U * h (1 - h) only where some
  row's h is about to change.  Per position the block's rows are summed into the program's
  own slice of partial gradients: dV[k] = sum_r delta_k h, dc[k] = sum_r delta_k,
  dW[:, k] = sum_r x_k G (only where some row has x_k = 1), db = sum_r G at the end.

No atomics: every program writes its own (n, d) slices, and the caller sums the programs'
partials in a fixed order, so the result repeats bit for bit on one device (the torch
backend's determinism, docs/training.md).  Partials take 2 n d + n + d numbers a program:
a launch has at most MAX_PROGRAMS programs, and fewer where max_bytes says so.
"""

import torch
import triton
import triton.language as tl

from nadefast.backends._triton import _block_d, _check, _launch, _log_sigmoid

MAX_PROGRAMS = 256  # programs per launch: their partials take MAX_PROGRAMS x 2 n d numbers
# Rows a program at most (the defaults otherwise _triton's): the kernel holds five
# (BLOCK_ROWS, BLOCK_D) arrays (a, h, s, U, G).  At d = 500 for sm_90 (tools/triton_codegen.py):
# 4 rows x 4 warps take 142 registers (float32) and 240 (float64) and spill nothing; 8 x 4
# spill (float32 8 bytes, float64 912).
BLOCK_ROWS = 4


@triton.jit
def _grad_kernel(xs_ptr, delta_ptr, nll_ptr, gW_ptr, gV_ptr, gc_ptr, gb_ptr,
                 W_ptr, V_ptr, c_ptr, b_ptr, rows, n, d,
                 BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """nll (rows,) float64; partial gradients of this program: gW, gV (n, d) at
    pid * n * d, gc (n,) at pid * n, gb (d,) at pid * d; delta (rows, n) scratch."""
    pid = tl.program_id(0)
    r = pid * BLOCK_R + tl.arange(0, BLOCK_R)
    ok_r = r < rows
    cols = tl.arange(0, BLOCK_D)
    ok_c = cols < d
    row_at = r.to(tl.int64) * n
    b = tl.load(b_ptr + cols, mask=ok_c, other=0.0)
    a = tl.zeros((BLOCK_R, BLOCK_D), b.dtype) + b[None, :]
    h = tl.sigmoid(a)
    nll = tl.zeros((BLOCK_R,), tl.float64)
    # forward: the logits, delta_k and the loss; a ends as a_{n-1}
    for k in range(n):
        v = tl.load(V_ptr + k * d + cols, mask=ok_c, other=0.0)
        z = tl.sum(h * v[None, :], axis=1) + tl.load(c_ptr + k)
        x = (tl.load(xs_ptr + row_at + k, mask=ok_r, other=0) != 0) & ok_r
        nll -= _log_sigmoid(tl.where(x, z.to(tl.float64), -z.to(tl.float64)))
        delta = tl.where(ok_r, tl.sigmoid(z) - x.to(z.dtype), 0.0)
        tl.store(delta_ptr + row_at + k, delta, mask=ok_r)
        if k < n - 1:
            if tl.max(x.to(tl.int32), axis=0) > 0:
                w = tl.load(W_ptr + k * d + cols, mask=ok_c, other=0.0)
                a = tl.where(x[:, None], a + w[None, :], a)
                h = tl.sigmoid(a)
    tl.store(nll_ptr + r, nll, mask=ok_r)
    tl.debug_barrier()  # the deltas written above are read back below by other threads
    s = h * (1.0 - h)
    U = tl.zeros((BLOCK_R, BLOCK_D), b.dtype)
    G = tl.zeros((BLOCK_R, BLOCK_D), b.dtype)
    out_k = pid.to(tl.int64) * n
    out_kd = out_k * d
    for i in range(n):
        k = n - 1 - i
        x = (tl.load(xs_ptr + row_at + k, mask=ok_r, other=0) != 0) & ok_r & (k < n - 1)
        if tl.max(x.to(tl.int32), axis=0) > 0:
            # close the runs that used h_{k+1} in the rows whose h changes here
            G = tl.where(x[:, None], G + U * s, G)
            U = tl.where(x[:, None], 0.0, U)
            w = tl.load(W_ptr + k * d + cols, mask=ok_c, other=0.0)
            a = tl.where(x[:, None], a - w[None, :], a)
            h = tl.sigmoid(a)
            s = h * (1.0 - h)
            # dW[:, k] = x_k G, G = sum_{m>k} g_m in those rows
            gw = tl.sum(tl.where(x[:, None], G, 0.0), axis=0)
            tl.store(gW_ptr + out_kd + k * d + cols, gw, mask=ok_c)
        delta = tl.load(delta_ptr + row_at + k, mask=ok_r, other=0.0)
        tl.store(gV_ptr + out_kd + k * d + cols, tl.sum(delta[:, None] * h, axis=0), mask=ok_c)
        tl.store(gc_ptr + out_k + k, tl.sum(delta, axis=0))
        v = tl.load(V_ptr + k * d + cols, mask=ok_c, other=0.0)
        U += delta[:, None] * v[None, :]
    G += U * s  # the first run, h = h_0
    tl.store(gb_ptr + pid.to(tl.int64) * d + cols, tl.sum(tl.where(ok_r[:, None], G, 0.0),
                                                          axis=0), mask=ok_c)


def loss_and_gradient(xs, Wk, Vk, c, b, block_rows=None, num_warps=None, max_bytes=None):
    """Sum over rows of the NLL of xs (rows, n) int8 by chain position (float64) and the
    gradient sums (gW (n, d): W's columns by position, gV (n, d), gc (n,), gb (d,), in the
    model's dtype; not yet divided by rows).  Parameters as in _triton.sample; max_bytes
    bounds the programs' partials of one launch (at least one program)."""
    rows, n = xs.shape
    d = b.shape[0]
    dev, dt = xs.device, b.dtype
    gW = torch.zeros((n, d), dtype=dt, device=dev)
    gV = torch.zeros((n, d), dtype=dt, device=dev)
    gc = torch.zeros(n, dtype=dt, device=dev)
    gb = torch.zeros(d, dtype=dt, device=dev)
    if rows == 0 or n == 0:
        return 0.0, (gW, gV, gc, gb)
    _check(xs, Wk, Vk, c, b)
    if block_rows is None:
        block_rows = min(BLOCK_ROWS, _launch(rows, dev, None, None)[0])
    br, nw = _launch(rows, dev, block_rows, num_warps)
    nll = torch.empty(rows, dtype=torch.float64, device=dev)
    delta = torch.empty((rows, n), dtype=dt, device=dev)
    programs = MAX_PROGRAMS
    if max_bytes is not None:
        programs = max(1, min(programs, int(max_bytes // (2 * n * d * b.element_size()))))
    step = br * programs
    for start in range(0, rows, step):
        R = min(rows, start + step) - start
        P = triton.cdiv(R, br)
        # untouched entries of dW (positions where no row of a block has a one) stay 0
        pW = torch.zeros((P, n, d), dtype=dt, device=dev)
        pV = torch.empty((P, n, d), dtype=dt, device=dev)
        pc = torch.empty((P, n), dtype=dt, device=dev)
        pb = torch.empty((P, d), dtype=dt, device=dev)
        _grad_kernel[(P,)](xs[start:start + R], delta[start:start + R], nll[start:start + R],
                           pW, pV, pc, pb, Wk, Vk, c, b, R, n, d, BLOCK_R=br,
                           BLOCK_D=_block_d(d), num_warps=nw)
        gW += pW.sum(dim=0)
        gV += pV.sum(dim=0)
        gc += pc.sum(dim=0)
        gb += pb.sum(dim=0)
    return float(nll.sum()), (gW, gV, gc, gb)
