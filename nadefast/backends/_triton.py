"""Fused Triton kernels of the fixed-order binary NADE (issue 19; docs/gpu.md).

Three kernels, each one launch for a whole chunk of rows:

* `_noise_kernel`: the logistic noise eps[r, k] = log(u) - log(1 - u) of docs/sampling.md
  §2-§3, u from Philox4x64-10 at counter (k // 8 + 1, row0 + r, 0, 0): bit for bit
  NumPy's Philox stream, so the draws are the compiled core's.  Fully parallel (one
  Philox block, eight draws, per row and program lane); written to a (rows, n) float64
  buffer that the sampler reads.
* `_sample_kernel`: the sequential sampler.  A program holds BLOCK_ROWS rows' hidden
  pre-activations a and activations h = sigmoid(a) (BLOCK_ROWS x BLOCK_D, on chip) and
  walks the n positions: z = V[k] . h + c_k, x = [z > eps] (or a kept prefix value),
  then a += W[:, k] for the rows that drew a 1.  Where none of the block's rows drew a
  1 the block's a and h are unchanged and the update (and its d sigmoids per row) is
  skipped: the economy of the CPU kernels (csrc/nade_impl.h, fixed_order.md §5).
* `_score_kernel`: log p(x) per row along the same walk, log-sigmoid in float64.

Precision.  a, h and the dot products in the model's dtype (float32 or float64), as the
compiled core; logits compared with the float64 noise after conversion to float64 (the
compiled core's rule), log-sigmoid and the per-row sum in float64.  The dot product's
summation order and the sigmoid's rounding differ from the CPU's, so a draw can differ
from the compiled core's only where a logit lies within rounding of its noise.

Layout (prepared by the caller, nadefast/backends/_torch.py `_fused_*`): W and V as
(n, d) rows by chain position (W's columns transposed), c (n,) by position, values
(rows, n) int8 by position.  All tensors contiguous, on one device.

Random numbers: why a separate noise kernel rather than Philox inside the sampler.  The
sampler's per-position work is a BLOCK_ROWS x d dot product; computing Philox there would
either repeat a 10-round block per position (8x the Philox work) or unroll 8 positions
per step.  The noise kernel is a parallel map (~0.1 ms per 65 536 x 784 on an H200, by
arithmetic: 6.4M Philox blocks), and reading its 8 bytes per draw back is another
~0.1 ms; the memory, rows x n x 8 bytes, is bounded by chunking rows (CHUNK_BYTES of
_torch.py).  The torch backend's limb arithmetic (`philox_bits`) gives the same bits but
costs ~400 element-wise launches per chunk; it remains the reference in the tests.

Triton's interpreter (TRITON_INTERPRET=1, set before this module is imported) runs these
kernels on CPU tensors; the tests do that (tests/test_triton_kernels.py).
"""

import os

import torch
import triton
import triton.language as tl

# whether the kernels were decorated for Triton's CPU interpreter (decided at import)
INTERPRETED = os.environ.get("TRITON_INTERPRET", "") not in ("", "0")

# Philox4x64-10's constants (csrc/philox.h), passed to the kernel as int64 bit patterns
# in a small tensor: literals above 2^63 are typed differently across Triton versions
_PHILOX = (0xD2E7470EE14C6C93, 0xCA5A826395121157, 0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)
_M64 = 2**64

# The launches' defaults: first guesses, not yet measured on a GPU (benchmarks/gpu.py sweeps
# them).  Compiled for sm_90 at d = 500 (BLOCK_D 512, float32; tools/triton_codegen.py), the
# sampler holds a and h in registers: 8 rows x 4 warps take 112 registers a thread and spill
# nothing (4 programs per SM); 16 x 4 take all 255; 32 x 8 spill.  Small requests get smaller
# blocks (at least PROGRAMS_PER_SM programs per multiprocessor) and SMALL_NUM_WARPS warps.
BLOCK_ROWS = 8
NUM_WARPS = 4
PROGRAMS_PER_SM = 4
SMALL_NUM_WARPS = 2  # for blocks of at most 2 rows: a shorter reduction per position
NOISE_BLOCK_ROWS = 32
NOISE_BLOCK_WORDS = 16  # Philox blocks (8 draws each) per program along a row
# Philox's 64-bit multiply-high: tl.umulhi (True), or built from 32-bit halves (False; for
# a Triton build whose umulhi does not take 64-bit operands).  Environment:
# NADEFAST_TRITON_MULHI=halves.  Both give NumPy's bits (tests/test_triton_kernels.py).
NATIVE_MULHI = os.environ.get("NADEFAST_TRITON_MULHI", "umulhi") != "halves"


def _signed(v):
    """A 64-bit unsigned value as the int64 of the same bits."""
    v %= _M64
    return v - _M64 if v >= 2**63 else v


# --------------------------------------------------------------------- device functions

@triton.jit
def _mulhi64(a, b, NATIVE: tl.constexpr):
    """The high 64 bits of the 128-bit product of uint64 a and b: tl.umulhi, or (NATIVE
    False) from the four 32 x 32-bit partial products, for Triton builds without a 64-bit
    multiply-high."""
    if NATIVE:
        return tl.umulhi(a, b)
    else:
        m = tl.full(a.shape, 0xFFFFFFFF, tl.uint64)
        a0, a1 = a & m, a >> 32
        b0, b1 = b & m, b >> 32
        p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
        mid = (p00 >> 32) + (p01 & m) + (p10 & m)  # < 3 * 2^32: no overflow
        return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32)


@triton.jit
def _uniform_noise(bits):
    """eps = log(u) - log(1 - u), u = (bits + 1/2) / 2^32, float64 (1 - u is exact)."""
    u = (bits.to(tl.float64) + 0.5) * 2.3283064365386963e-10  # 2^-32
    return tl.log(u) - tl.log(1.0 - u)


@triton.jit
def _log_sigmoid(t):
    """log sigmoid(t) in float64, stable: min(t, 0) - log1p(exp(-|t|)), log1p by
    Goldberg's correction (exact where 1 + y rounds to 1)."""
    y = tl.exp(-tl.abs(t))
    s = 1.0 + y
    log1p = tl.where(s == 1.0, y, tl.log(s) * (y / tl.where(s == 1.0, 1.0, s - 1.0)))
    return tl.minimum(t, 0.0) - log1p


# --------------------------------------------------------------------------- kernels

@triton.jit
def _noise_kernel(out_ptr, consts_ptr, rows, n,
                  BLOCK_R: tl.constexpr, BLOCK_B: tl.constexpr, BITS: tl.constexpr,
                  NATIVE: tl.constexpr):
    """out (rows, n): the noise (float64; BITS: the raw 32-bit draws as int64) of draws
    0..n-1 of rows row0 .. row0 + rows - 1.  consts (int64 bit patterns): key0, key1,
    row0, then Philox's two multipliers and two Weyl increments."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    blk = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    k0 = tl.load(consts_ptr + 0).to(tl.uint64, bitcast=True)
    k1 = tl.load(consts_ptr + 1).to(tl.uint64, bitcast=True)
    row0 = tl.load(consts_ptr + 2).to(tl.uint64, bitcast=True)
    m0 = tl.load(consts_ptr + 3).to(tl.uint64, bitcast=True)
    m1 = tl.load(consts_ptr + 4).to(tl.uint64, bitcast=True)
    w0 = tl.load(consts_ptr + 5).to(tl.uint64, bitcast=True)
    w1 = tl.load(consts_ptr + 6).to(tl.uint64, bitcast=True)
    zero = tl.zeros((BLOCK_R, BLOCK_B), tl.uint64)
    # NumPy advances the counter before each block: block b is Philox((b + 1, row, 0, 0))
    c0 = zero + (blk + 1).to(tl.uint64)[None, :]
    c1 = zero + (row0 + r.to(tl.uint64))[:, None]  # wraps modulo 2^64, as NumPy's counter
    c2 = zero
    c3 = zero
    for i in tl.static_range(10):
        if i > 0:
            k0 = k0 + w0
            k1 = k1 + w1
        hi0 = _mulhi64(c0, zero + m0, NATIVE)
        lo0 = c0 * m0
        hi1 = _mulhi64(c2, zero + m1, NATIVE)
        lo1 = c2 * m1
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    ok_r = (r < rows)[:, None]
    base = out_ptr + r.to(tl.int64)[:, None] * n
    # word w of the block holds draws 8b + 2w (its low half) and 8b + 2w + 1 (high half)
    _store_word(base, ok_r, blk * 8 + 0, c0, n, BITS)
    _store_word(base, ok_r, blk * 8 + 2, c1, n, BITS)
    _store_word(base, ok_r, blk * 8 + 4, c2, n, BITS)
    _store_word(base, ok_r, blk * 8 + 6, c3, n, BITS)


@triton.jit
def _store_word(base, ok_r, k, word, n, BITS: tl.constexpr):
    """A Philox word's two 32-bit draws, low half first, at draws k and k + 1."""
    low = word & tl.full(word.shape, 0xFFFFFFFF, tl.uint64)
    high = word >> 32
    k = k[None, :]
    if BITS:
        tl.store(base + k, low.to(tl.int64), mask=ok_r & (k < n))
        tl.store(base + k + 1, high.to(tl.int64), mask=ok_r & (k + 1 < n))
    else:
        tl.store(base + k, _uniform_noise(low), mask=ok_r & (k < n))
        tl.store(base + k + 1, _uniform_noise(high), mask=ok_r & (k + 1 < n))


@triton.jit
def _row_block(rows, BLOCK_R: tl.constexpr):
    """This program's rows r (BLOCK_R,) and which of them exist."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    return r, r < rows


@triton.jit
def _start(b_ptr, d, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """The chain's start for a block of rows: a = b and h = sigmoid(a), (BLOCK_R, BLOCK_D),
    with the hidden columns and which of them exist (padding meets V's zero padding)."""
    cols = tl.arange(0, BLOCK_D)
    ok_c = cols < d
    b = tl.load(b_ptr + cols, mask=ok_c, other=0.0)
    a = tl.zeros((BLOCK_R, BLOCK_D), b.dtype) + b[None, :]
    return a, tl.sigmoid(a), cols, ok_c


@triton.jit
def _advance(a, h, x, W_ptr, k, d, cols, ok_c, SKIP: tl.constexpr):
    """(a, h) after position k: a + W[:, k] in the rows that drew x = 1 (exactly the CPU's
    a + w), h = sigmoid(a); with SKIP, a block where no row drew a 1 keeps both as they
    are (its sigmoids skipped)."""
    if SKIP:
        if tl.max(x.to(tl.int32), axis=0) > 0:
            w = tl.load(W_ptr + k * d + cols, mask=ok_c, other=0.0)
            a = tl.where(x[:, None], a + w[None, :], a)
            h = tl.sigmoid(a)
    else:
        w = tl.load(W_ptr + k * d + cols, mask=ok_c, other=0.0)
        a = tl.where(x[:, None], a + w[None, :], a)
        h = tl.sigmoid(a)
    return a, h


@triton.jit
def _sample_kernel(xs_ptr, eps_ptr, given_ptr, W_ptr, V_ptr, c_ptr, b_ptr, rows, n, d,
                   BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr, GREEDY: tl.constexpr,
                   HAS_GIVEN: tl.constexpr, SKIP: tl.constexpr):
    """Draws xs (rows, n) int8 by position: x_k = [z_k > eps_k] (GREEDY: [z_k > 0]), or,
    with HAS_GIVEN, the value already in xs where k < given[r]."""
    r, ok_r = _row_block(rows, BLOCK_R)
    a, h, cols, ok_c = _start(b_ptr, d, BLOCK_R, BLOCK_D)
    if HAS_GIVEN:
        kept = tl.load(given_ptr + r, mask=ok_r, other=0)
    row_at = r.to(tl.int64) * n
    for k in range(n):
        v = tl.load(V_ptr + k * d + cols, mask=ok_c, other=0.0)
        z = (tl.sum(h * v[None, :], axis=1) + tl.load(c_ptr + k)).to(tl.float64)
        if GREEDY:
            x = z > 0.0
        else:
            x = z > tl.load(eps_ptr + row_at + k, mask=ok_r, other=0.0)
        if HAS_GIVEN:
            old = tl.load(xs_ptr + row_at + k, mask=ok_r, other=0)
            x = tl.where(k < kept, old != 0, x)
        tl.store(xs_ptr + row_at + k, x.to(tl.int8), mask=ok_r)
        a, h = _advance(a, h, x & ok_r, W_ptr, k, d, cols, ok_c, SKIP)


@triton.jit
def _score_kernel(xs_ptr, out_ptr, W_ptr, V_ptr, c_ptr, b_ptr, rows, n, d,
                  BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr, SKIP: tl.constexpr):
    """out (rows,) float64: log p(x) of the rows of xs (rows, n) int8 by position."""
    r, ok_r = _row_block(rows, BLOCK_R)
    a, h, cols, ok_c = _start(b_ptr, d, BLOCK_R, BLOCK_D)
    ll = tl.zeros((BLOCK_R,), tl.float64)
    row_at = r.to(tl.int64) * n
    for k in range(n):
        v = tl.load(V_ptr + k * d + cols, mask=ok_c, other=0.0)
        z = (tl.sum(h * v[None, :], axis=1) + tl.load(c_ptr + k)).to(tl.float64)
        x = (tl.load(xs_ptr + row_at + k, mask=ok_r, other=0) != 0) & ok_r
        ll += _log_sigmoid(tl.where(x, z, -z))
        a, h = _advance(a, h, x, W_ptr, k, d, cols, ok_c, SKIP)
    tl.store(out_ptr + r, ll, mask=ok_r)


# ------------------------------------------------------------------------ launches

def _check(*tensors):
    device = tensors[0].device
    for t in tensors:
        if t.device != device:
            raise ValueError(f"the fused kernels' tensors must share one device, got "
                             f"{t.device} and {device}")
        if not t.is_contiguous():
            raise ValueError("the fused kernels take contiguous tensors")
    if device.type == "cpu" and not INTERPRETED:
        raise RuntimeError("the fused Triton kernels run on CUDA tensors; on CPU tensors only "
                           "under Triton's interpreter (TRITON_INTERPRET=1 set before "
                           "nadefast.backends._triton is imported)")


def _block_d(d):
    return max(16, triton.next_power_of_2(d))


def _launch(rows, device, block_rows, num_warps):
    """(block_rows, num_warps) of a launch over `rows`: the ones given, else BLOCK_ROWS
    halved while there would be fewer than PROGRAMS_PER_SM programs per multiprocessor."""
    if block_rows is None:
        block_rows = BLOCK_ROWS
        sms = (torch.cuda.get_device_properties(device).multi_processor_count
               if device.type == "cuda" else 1)
        while block_rows > 1 and triton.cdiv(rows, block_rows) < PROGRAMS_PER_SM * sms:
            block_rows //= 2
    if num_warps is None:
        num_warps = SMALL_NUM_WARPS if block_rows <= 2 else NUM_WARPS
    return block_rows, num_warps


def noise(key, row0, rows, n, device, bits=False, block_rows=None, block_words=None,
          native_mulhi=None):
    """(rows, n) float64 logistic noise of rows row0 .. row0 + rows - 1 of `key` (two
    uint64 words), draws 0..n-1: docs/sampling.md §3 (bits=True: the raw 32-bit draws,
    int64)."""
    out = torch.empty((rows, n), dtype=torch.int64 if bits else torch.float64, device=device)
    if rows == 0 or n == 0:
        return out
    consts = torch.tensor([_signed(int(key[0])), _signed(int(key[1])), _signed(int(row0)),
                           *(_signed(c) for c in _PHILOX)], dtype=torch.int64, device=device)
    _check(out, consts)
    br = block_rows or NOISE_BLOCK_ROWS
    bw = block_words or NOISE_BLOCK_WORDS
    grid = (triton.cdiv(rows, br), triton.cdiv(triton.cdiv(n, 8), bw))
    _noise_kernel[grid](out, consts, rows, n, BLOCK_R=br, BLOCK_B=bw, BITS=bits,
                        NATIVE=NATIVE_MULHI if native_mulhi is None else bool(native_mulhi))
    return out


def sample(xs, eps, given, Wk, Vk, c, b, block_rows=None, skip=True, num_warps=None):
    """Fill xs (rows, n) int8, values by chain position, with draws (eps (rows, n) float64
    noise, or None: the most probable values), keeping xs[r, :given[r]] where `given`
    (rows,) int32 is not None.  Wk, Vk (n, d), c (n,), b (d,): the model by position, one
    dtype.  block_rows, num_warps: None for the module's defaults (`_launch`)."""
    rows, n = xs.shape
    d = b.shape[0]
    if rows == 0 or n == 0:
        return xs
    tensors = [xs, Wk, Vk, c, b] + [t for t in (eps, given) if t is not None]
    _check(*tensors)
    br, nw = _launch(rows, xs.device, block_rows, num_warps)
    _sample_kernel[(triton.cdiv(rows, br),)](
        xs, xs if eps is None else eps, xs if given is None else given, Wk, Vk, c, b,
        rows, n, d, BLOCK_R=br, BLOCK_D=_block_d(d), GREEDY=eps is None,
        HAS_GIVEN=given is not None, SKIP=skip, num_warps=nw)
    return xs


def score(xs, Wk, Vk, c, b, block_rows=None, skip=True, num_warps=None):
    """(rows,) float64 log p(x) of xs (rows, n) int8 by chain position; parameters as in
    `sample`."""
    rows, n = xs.shape
    d = b.shape[0]
    out = torch.zeros(rows, dtype=torch.float64, device=xs.device)
    if rows == 0 or n == 0:
        return out
    _check(xs, out, Wk, Vk, c, b)
    br, nw = _launch(rows, xs.device, block_rows, num_warps)
    _score_kernel[(triton.cdiv(rows, br),)](
        xs, out, Wk, Vk, c, b, rows, n, d, BLOCK_R=br, BLOCK_D=_block_d(d), SKIP=skip,
        num_warps=nw)
    return out
