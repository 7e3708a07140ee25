"""The PyTorch backend: the estimators' arithmetic on torch tensors, on a GPU or the CPU.

Why PyTorch.  nadefast's gradients are written by hand (docs/fixed_order.md §7,
docs/order_agnostic.md §5), so autograd is not used; what PyTorch gives is one
array library for the CPU and CUDA with vendor GEMMs (cuBLAS), and the road to
CUDA graphs and Triton kernels for the sequential loops (sampling, the
order-agnostic sweep along an ordering).  The same code runs on PyTorch's CPU
tensors, which is how the tests check it against the compiled core.  PyTorch
is optional (``pip install "nadefast[gpu]"``) and imported only when this
backend is asked for (nadefast.backends.get_backend).

Layout.  A kernel object holds the parameters in the public layout
(docs/README.md §3-§4) as tensors on its device, in the model's dtype, with
no padding.  ``public()`` gives NumPy arrays: on the CPU views of the tensors'
memory (writing into them changes the model, as on the other backends), on a
GPU host copies (``shares_public`` False).

Arithmetic.  Hidden layers in the model's dtype (the matrix products); the
per-variable mathematics of the output distribution -- log-probabilities,
gradients of the logits, draws, modes, the reported distributions -- in
float64, by the torch twins of nadefast/_outputs.py's functions (`_OUTPUTS`
below: one class per output distribution, every method vectorised over any
leading axes, the variables' blocks padded to the widest).  Log-likelihoods
are float64.  What a chain position costs:

* fixed order, scoring, gradients, hidden states: every position at once --
  a_k = b + (the columns of x_<k) as a cumulative sum over positions,
  (rows, n, d) per chunk of rows, so one pass of batched products;
* fixed-order sampling and every order-agnostic sweep along an ordering: a
  Python loop over positions (each step a few products for all the rows of
  a chunk);
* except that on a CUDA device, with Triton installed, the fixed-order Bernoulli
  NADE's score (log p(x) alone), sample and gradient run as fused Triton kernels,
  one launch per chunk of rows for the whole chain (nadefast/backends/_triton.py,
  _triton_grad.py, docs/gpu.md), and the order-agnostic Bernoulli NADE's
  sweeps (score, ensembles, log_marginal, sampling) fuse each position's glue
  around the deeper layers' GEMMs into one step kernel (_triton_oa.py); `FUSED` below
  (environment: NADEFAST_FUSED) forces either path;
* the order-agnostic training objective: as the compiled backend's
  `_through_layers`, products for the layers, padded blocks for the outputs.

Random numbers.  Draws are the compiled backend's: row r of a request uses
the stream of numpy.random.Philox(key, counter=[0, row0 + r, 0, 0]) (32-bit
draws, low half of each word first; docs/sampling.md §3), computed here on
the device by `philox_bits` -- Philox4x64-10 in int64 arithmetic on 32-bit
limbs (torch has no 64-bit unsigned multiply-high).  Samples therefore equal
the other backends' except where a logit lies within rounding of its noise.
The order-agnostic training masks are the compiled core's (drawn on the CPU
from the same streams, then copied to the device).

Memory.  Each call works through chunks of rows whose temporaries take at
most about CHUNK_BYTES (a module setting: lower it if a GPU runs out of
memory); running out of device memory anyway raises MemoryError naming it.

Determinism.  No atomics: gradients are sums in products and ordered
reductions (index assignments hit each entry once), so a fit repeats bit for
bit on the same device.  Element-wise optimizer steps (Adam, SGD) round as
the compiled core's do.  n_threads arguments are ignored: PyTorch uses its
own thread pool on the CPU.
"""

import functools
import math
import os

import numpy as np
import torch

from nadefast._outputs import offsets
from nadefast.backends import Backend, Kernels

# the most bytes the temporaries of one chunk of rows should take (about)
CHUNK_BYTES = 256 * 2**20

# The fused Triton kernels of the fixed-order Bernoulli NADE (score, sample, gradient) and of
# the order-agnostic Bernoulli sweeps' per-position glue: "auto"
# uses them on CUDA devices when triton imports, "never" the torch code of this module,
# "always" the kernels on every device (CPU tensors need Triton's interpreter,
# TRITON_INTERPRET=1: what the tests use) and an ImportError without triton.
FUSED = os.environ.get("NADEFAST_FUSED", "auto")
_FUSED_MODES = ("auto", "always", "never")

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}

# ------------------------------------------------------------------ random numbers

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_PHILOX_MULTIPLIERS = (0xD2E7470EE14C6C93, 0xCA5A826395121157)
_PHILOX_WEYL = (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)


def _mul32(k, t):
    """k * t for a constant k < 2^32 and int64 values 0 <= t < 2^32: (high, low) 32-bit
    halves, exact (t is split in 16-bit halves so no product reaches 2^63)."""
    low = (t & 0xFFFF) * k  # < 2^48
    high = (t >> 16) * k  # < 2^48
    s = low + ((high & 0xFFFF) << 16)  # < 2^49
    return (high >> 16) + (s >> 32), s & _M32


def _mulhilo64(k, word):
    """k * word for a 64-bit constant k and a word given as (high, low) 32-bit limbs:
    (high word, low word) of the 128-bit product, each as limbs."""
    hi, lo = word
    k1, k0 = k >> 32, k & _M32
    h00, l00 = _mul32(k0, lo)
    h01, l01 = _mul32(k0, hi)
    h10, l10 = _mul32(k1, lo)
    h11, l11 = _mul32(k1, hi)
    mid = h00 + l01 + l10  # bits 32..63 of the product, and a carry
    top = l11 + h01 + h10 + (mid >> 32)  # bits 64..95, and a carry
    return ((h11 + (top >> 32)) & _M32, top & _M32), (mid & _M32, l00)


def _xor(word, k):
    return word[0] ^ (k >> 32), word[1] ^ (k & _M32)


def philox4x64(counter, key):
    """Philox4x64-10 (csrc/philox.h) of counters given as four (high, low) pairs of int64
    tensors (broadcastable) under a 128-bit key (two Python ints): four words as pairs."""
    c0, c1, c2, c3 = counter
    k0, k1 = int(key[0]), int(key[1])
    for round_ in range(10):
        if round_:
            k0, k1 = (k0 + _PHILOX_WEYL[0]) & _M64, (k1 + _PHILOX_WEYL[1]) & _M64
        hi0, lo0 = _mulhilo64(_PHILOX_MULTIPLIERS[0], c0)
        hi1, lo1 = _mulhilo64(_PHILOX_MULTIPLIERS[1], c2)
        c0, c1, c2, c3 = _xor((hi1[0] ^ c1[0], hi1[1] ^ c1[1]), k0), lo1, \
            _xor((hi0[0] ^ c3[0], hi0[1] ^ c3[1]), k1), lo0
    return c0, c1, c2, c3


def philox_bits(key, row0, rows, m, device="cpu"):
    """(rows, m) int64: the first m 32-bit draws of rows row0 .. row0 + rows - 1 of a key's
    streams, those of numpy.random.Philox(key=key, counter=[0, row, 0, 0]).random_raw()
    (low half of each word first; docs/sampling.md §3)."""
    row0 = int(row0)
    blocks = -(-m // 8)
    r = torch.arange(rows, dtype=torch.int64, device=device)[:, None]
    row_lo = (row0 & _M32) + r
    row = ((((row0 >> 32) + (row_lo >> 32)) & _M32), row_lo & _M32)  # row0 + r, 64 bits
    b = torch.arange(1, blocks + 1, dtype=torch.int64, device=device)[None, :]
    zero = torch.zeros((rows, blocks), dtype=torch.int64, device=device)
    counter = ((b >> 32) + zero, (b & _M32) + zero), (row[0] + zero, row[1] + zero), \
        (zero, zero), (zero, zero)
    words = philox4x64(counter, key)
    halves = [half for hi, lo in words for half in (lo, hi)]  # per word: low half first
    return torch.stack(halves, dim=2).reshape(rows, 8 * blocks)[:, :m]


def _uniforms(key, row0, rows, n, per_position, device):
    """(rows, n, per_position) float64 uniforms u = (bits + 1/2) / 2^32 (docs/sampling.md §2):
    the draws of position k are per_position consecutive ones, from draw k * per_position."""
    bits = philox_bits(key, row0, rows, n * per_position, device)
    return ((bits.to(torch.float64) + 0.5) / 2.0**32).reshape(rows, n, per_position)


# ------------------------------------------------- output distributions, in torch

class _Bernoulli:
    """nadefast._outputs.Bernoulli's per-variable mathematics in torch (float64 logits z
    (..., 1), values x (...), features j broadcasting with x)."""

    value_dtype = torch.int64

    def __init__(self, output, n, device):
        self.in_width = self.out_width = 1

    def encode(self, x, j, dtype):
        """What x adds to the hidden layer, per input column of its block: (..., in_width)."""
        return x.to(dtype)[..., None]

    def log_prob(self, z, x, j):
        return torch.nn.functional.logsigmoid((2.0 * x.to(z.dtype) - 1.0) * z[..., 0])

    def grad(self, z, x, j):
        """d(-log p(x | z)) / dz."""
        return (torch.sigmoid(z[..., 0]) - x.to(z.dtype))[..., None]

    def draw(self, z, u, j):
        u = u[..., 0]
        return (z[..., 0] > torch.log(u) - torch.log1p(-u)).to(self.value_dtype)

    def mode(self, z, j):
        return (z[..., 0] > 0).to(self.value_dtype)

    def distribution(self, z, j):
        return torch.sigmoid(z)


class _Categorical:
    """nadefast._outputs.Categorical in torch: blocks padded to the largest K (the padding's
    logits are -inf, so its probabilities are 0)."""

    value_dtype = torch.int64

    def __init__(self, output, n, device):
        K = np.asarray(output.out_widths(n), dtype=np.int64)
        self.K = torch.as_tensor(K, device=device)
        self.out_width = int(K.max())
        self.in_width = self.out_width - 1
        self.columns = torch.arange(self.in_width, device=device)

    def encode(self, x, j, dtype):
        return (x[..., None] - 1 == self.columns).to(dtype)  # value v >= 1: column v - 1

    def log_prob(self, z, x, j):
        return torch.log_softmax(z, dim=-1).gather(-1, x[..., None])[..., 0]

    def grad(self, z, x, j):
        g = torch.softmax(z, dim=-1)
        return g - torch.nn.functional.one_hot(x, z.shape[-1]).to(g.dtype)

    def draw(self, z, u, j):
        """The smallest v with u < p_0 + ... + p_v, at most K_j - 1 (Categorical.draw)."""
        cdf = torch.cumsum(torch.softmax(z, dim=-1), dim=-1)
        return torch.minimum((cdf <= u[..., :1]).sum(dim=-1), self.K[j] - 1)

    def mode(self, z, j):
        return torch.argmax(z, dim=-1)

    def distribution(self, z, j):
        return torch.softmax(z, dim=-1)


class _Mixture:
    """nadefast._mixture.GaussianMixture in torch: 3C outputs per variable (weight logits,
    means, scale pre-activations), values standardised float64.  With the compiled kernels'
    bounds on what no fitted model reaches (csrc/mix_math.h, docs/mixture.md §2), so that
    finite parameters never give NaN: units to +-1e300, scale pre-activations to at most
    300 (d sigma / d s then 0), standardised distances to +-1e150, inputs to +-1e15."""

    value_dtype = torch.float64

    def __init__(self, output, n, device):
        from nadefast._mixture import SIGMA_FLOOR

        self.C = int(output.n_components)
        self.floor = SIGMA_FLOOR
        self.in_width, self.out_width = 1, 3 * self.C
        self.means = torch.as_tensor(np.asarray(output.means, np.float64), device=device)
        self.scales = torch.as_tensor(np.asarray(output.scales, np.float64), device=device)

    def _split(self, z):
        C = self.C
        return (z[..., :C].clamp(-1e300, 1e300), z[..., C:2 * C].clamp(-1e300, 1e300),
                torch.exp(z[..., 2 * C:].clamp_max(_MAX_LOG_SIGMA)) + self.floor)

    def encode(self, x, j, dtype):
        return x.clamp(-1e15, 1e15).to(dtype)[..., None]

    def _terms(self, z, x):
        logits, mu, sigma = self._split(z)
        t = ((x[..., None] - mu) / sigma).clamp(-1e150, 1e150)
        return (torch.log_softmax(logits, dim=-1) - 0.5 * math.log(2.0 * math.pi)
                - torch.log(sigma) - 0.5 * t * t), t, sigma

    def log_prob(self, z, x, j):
        return torch.logsumexp(self._terms(z, x)[0], dim=-1)

    def grad(self, z, x, j):
        terms, t, sigma = self._terms(z, x)
        pi = torch.softmax(terms, dim=-1)
        alpha = torch.softmax(z[..., :self.C], dim=-1)
        clamped = z[..., 2 * self.C:] > _MAX_LOG_SIGMA
        d_sigma = torch.where(clamped, 0.0, (sigma - self.floor) / sigma)
        return torch.cat([alpha - pi, -pi * t / sigma, pi * (1.0 - t * t) * d_sigma], dim=-1)

    def draw(self, z, u, j):
        """A component by inverse transform of u[..., 0], a normal by Box-Muller."""
        logits, mu, sigma = self._split(z)
        cdf = torch.cumsum(torch.softmax(logits, dim=-1), dim=-1)
        c = torch.clamp_max((cdf <= u[..., :1]).sum(dim=-1), self.C - 1)[..., None]
        normal = torch.sqrt(-2.0 * torch.log(u[..., 1])) * torch.cos(2.0 * math.pi * u[..., 2])
        return mu.gather(-1, c)[..., 0] + sigma.gather(-1, c)[..., 0] * normal

    def mode(self, z, j, iterations=50):
        """GaussianMixture.mode: mean-shift from every component's mean, the best end kept;
        z (rows, 3C)."""
        logits, mu, sigma = self._split(z)
        x = mu.clone()
        precision = 1.0 / (sigma * sigma)
        log_alpha = torch.log_softmax(logits, dim=-1)
        for _ in range(iterations):
            t = ((x[:, :, None] - mu[:, None, :]) / sigma[:, None, :]).clamp(-1e150, 1e150)
            logw = log_alpha[:, None, :] - torch.log(sigma)[:, None, :] - 0.5 * t * t
            w = torch.exp(logw - logw.amax(dim=2, keepdim=True)) * precision[:, None, :]
            x = (w * mu[:, None, :]).sum(dim=2) / w.sum(dim=2)
        density = torch.stack([self.log_prob(z, x[:, s], j) for s in range(x.shape[1])], dim=1)
        return x.gather(1, torch.argmax(density, dim=1, keepdim=True))[:, 0]

    def distribution(self, z, j):
        """The C weights, means and standard deviations, in the user's units."""
        logits, mu, sigma = self._split(z)
        scale, mean = self.scales[j][..., None], self.means[j][..., None]
        return torch.cat([torch.softmax(logits, dim=-1), mu * scale + mean, sigma * scale], dim=-1)


_MAX_LOG_SIGMA = 300.0

_OUTPUTS = {"bernoulli": _Bernoulli, "categorical": _Categorical, "gaussian_mixture": _Mixture}


class _Blocks:
    """Where each variable's blocks lie in the public arrays, padded to the widest: index
    (n, width) of W's columns / V's rows and whether each is real.  `widths` (n,) in the
    order of the blocks (chain positions for a NADE, features for an OrderAgnosticNADE)."""

    def __init__(self, widths, width, device):
        start = offsets(widths)[:-1]
        cols = np.arange(width)
        valid = cols[None, :] < widths[:, None]
        index = np.where(valid, start[:, None] + cols[None, :], 0)
        self.index = torch.as_tensor(index, dtype=torch.int64, device=device)
        self.valid = torch.as_tensor(valid, device=device)
        self.flat = self.index[self.valid]  # the real entries, in block order

    def gather(self, rows, fill=0.0):
        """rows[index] (n, width, ...), the padding set to `fill`."""
        out = rows[self.index]
        mask = self.valid.reshape(self.valid.shape + (1,) * (out.dim() - 2))
        return torch.where(mask, out, torch.full((), fill, dtype=out.dtype, device=out.device))

    def scatter(self, padded, out):
        """The real entries of padded (n, width, ...) into out[index]."""
        out[self.flat] = padded[self.valid]


# -------------------------------------------------------------------- helpers

def _fused_module(device):
    """nadefast.backends._triton when the fused kernels are to run on `device` (FUSED),
    else None."""
    if FUSED not in _FUSED_MODES:
        raise ValueError(f"nadefast.backends._torch.FUSED (NADEFAST_FUSED) must be one of "
                         f"{list(_FUSED_MODES)}, got {FUSED!r}")
    if FUSED == "never" or (FUSED == "auto" and device.type != "cuda"):
        return None
    try:
        from nadefast.backends import _triton
    except ImportError as exc:
        if FUSED == "always":
            raise ImportError(f"NADEFAST_FUSED=always needs Triton, which did not import "
                              f"({exc}); install it with the gpu extra: "
                              f"pip install \"nadefast[gpu]\"") from None
        return None
    return _triton


def _chunks(rows, bytes_per_row):
    """Slices of at most as many rows as CHUNK_BYTES allows (at least one)."""
    step = max(1, int(CHUNK_BYTES // max(1, bytes_per_row)))
    return [slice(s, min(rows, s + step)) for s in range(0, rows, step)]


# torch.OutOfMemoryError from PyTorch 2.5; torch.cuda.OutOfMemoryError (the same class there)
_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError


def _memory_guard(method):
    """Device out-of-memory -> MemoryError that says what to lower."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _OUT_OF_MEMORY as exc:
            raise MemoryError(
                f"the torch backend ran out of memory on {self.device} in {method.__name__}: "
                f"a chunk of rows takes up to nadefast.backends._torch.CHUNK_BYTES = "
                f"{CHUNK_BYTES / 2**20:.0f} MiB of temporaries; lower it, or ask for fewer rows "
                f"({str(exc).splitlines()[0]})") from None

    return guarded


def _sqrt(v):
    """The correctly rounded square root.  PyTorch's CPU sqrt is not (on large tensors it
    goes through MKL's vector library: ~1% of float64 and ~17% of float32 results one ulp
    off, PyTorch 2.13), so on the CPU NumPy's (IEEE) computes it in place of the tensor's
    memory; CUDA's sqrt is IEEE-rounded."""
    if v.device.type == "cpu":
        return torch.from_numpy(np.sqrt(v.numpy()))
    return torch.sqrt(v)


def _host(t):
    """A tensor as a NumPy array: a view on the CPU, a copy from a GPU."""
    if isinstance(t, np.ndarray):
        return t
    return t.detach().numpy() if t.device.type == "cpu" else t.detach().cpu().numpy()


class _TorchKernels(Kernels):
    backend = "torch"

    def __init__(self, params, names, output, device):
        self.device = torch.device(device)
        dtype = np.dtype(np.asarray(params["W"]).dtype)
        if dtype not in _TORCH_DTYPES:
            raise TypeError(f"the torch backend computes in float32 or float64, not {dtype}")
        self.tdtype = _TORCH_DTYPES[dtype]
        self.arrays = {k: torch.tensor(np.array(params[k], dtype=dtype), device=self.device)
                       for k in names}
        self.output = output
        self.shares_public = self.device.type == "cpu"
        self._ops = {}

    def ops(self, n):
        """The output distribution's torch functions for n features (cached)."""
        if n not in self._ops:
            self._ops[n] = _OUTPUTS[self.output.name](self.output, n, self.device)
        return self._ops[n]

    @property
    def dtype(self):
        return np.dtype(np.float32 if self.tdtype == torch.float32 else np.float64)

    # the Trainer's and the estimators' view of the arrays
    def public(self, arrays=None):
        return {k: _host(v) for k, v in (self.arrays if arrays is None else arrays).items()}

    def zeros_like(self, arrays=None):
        arrays = self.arrays if arrays is None else arrays
        return {k: torch.zeros_like(v) for k, v in arrays.items()}

    def copy(self, arrays):
        return {k: v.clone() for k, v in arrays.items()}

    def all_finite(self, arrays):
        return all(bool(torch.isfinite(v).all()) for v in arrays.values())

    def set_public(self, arrays, values):
        target = self.arrays if arrays is None else arrays
        for name, value in values.items():
            target[name].copy_(torch.as_tensor(np.asarray(value)).to(target[name].dtype))

    # data in, results out
    def _model(self, values):
        """float64 results in the model's dtype, within its range (as the compiled core's)."""
        top = torch.finfo(self.tdtype).max
        return values.clamp(-top, top).to(self.tdtype)

    def _tensor(self, X, ops):
        return torch.as_tensor(np.asarray(X)).to(device=self.device, dtype=ops.value_dtype)

    def _put(self, out, rows, values):
        """values (a tensor) into the NumPy array out[rows]."""
        out[rows] = _host(values).astype(out.dtype, copy=False)


class FixedKernels(_TorchKernels):
    """A fixed-order NADE (docs/fixed_order.md) on torch tensors: parameters in the public
    layout, blocks of W's columns and V's rows by chain position; every output."""

    def __init__(self, params, output, device="cpu"):
        super().__init__(params, ("W", "b", "V", "c") + output.fixed_extras, output, device)
        self._tables = {}

    def _layout(self, order):
        """Per ordering (cached): the output's functions, the blocks by chain position and
        the conditionals' columns (feature order) of each position's block."""
        key = np.asarray(order).tobytes()
        if key not in self._tables:
            n = len(order)
            ops = self.ops(n)
            o = np.asarray(order, dtype=np.intp)
            out_w = np.asarray(self.output.out_widths(n), dtype=np.intp)
            blocks_in = _Blocks(np.asarray(self.output.in_widths(n), dtype=np.intp)[o],
                                ops.in_width, self.device)
            blocks_out = _Blocks(out_w[o], ops.out_width, self.device)
            cond = np.where(blocks_out.valid.cpu().numpy(),
                            offsets(out_w)[o][:, None] + np.arange(ops.out_width), 0)
            self._tables[key] = (ops, torch.as_tensor(o, device=self.device), blocks_in, blocks_out,
                                 torch.as_tensor(cond, dtype=torch.int64, device=self.device))
        return self._tables[key]

    def _padded(self, blocks_in, blocks_out):
        """W by position (n, in_width, d), V (n, out_width, d), c (n, out_width; padding
        -inf), rho (n,) or None."""
        p = self.arrays
        return (blocks_in.gather(p["W"].T), blocks_out.gather(p["V"]),
                blocks_out.gather(p["c"], fill=-math.inf), p.get("rho"))

    def _row_bytes(self, n, ops, factor=4):
        d = self.arrays["b"].shape[0]
        item = self.dtype.itemsize
        return n * (factor * d * item + 8 * (ops.in_width + 4 * ops.out_width) + 32)

    def _activate(self, a):
        """The hidden units h = activation(a) (Output.activation; sigmoid but for RNADE's
        ReLU option)."""
        return torch.relu(a) if self.output.activation == "relu" else torch.sigmoid(a)

    def _slope(self, h):
        """d h / d a, from h."""
        return (h > 0).to(h.dtype) if self.output.activation == "relu" else h * (1.0 - h)

    def _forward(self, xs, ops, order_t, Wp, Vp, cp, rho):
        """Every position of a chunk at once: pre-activations A (rows, n, d), hidden states
        H and logits Z (rows, n, out_width) in the model's dtype; xs the values by position."""
        E = ops.encode(xs, order_t, self.tdtype)  # (rows, n, in_width)
        columns = torch.einsum("rkc,kcd->rkd", E, Wp)
        b = self.arrays["b"].expand(xs.shape[0], 1, -1)
        A = torch.cumsum(torch.cat([b, columns[:, :-1]], dim=1), dim=1)  # b + x_<k's columns
        H = self._activate(A if rho is None else A * rho[:, None])
        Z = torch.einsum("rkd,kwd->rkw", H, Vp) + cp
        return E, A, H, Z

    def _fused(self):
        """The fused kernels' module and the model by chain position (W's columns and V's
        rows (n, d), c (n,), b (d,), contiguous) when they serve this model, else None."""
        if self.output.name != "bernoulli" or "rho" in self.arrays:
            return None
        module = _fused_module(self.device)
        if module is None:
            return None
        p = self.arrays  # the public layout is by chain position already (docs/README.md)
        return module, (p["W"].T.contiguous(), p["V"].contiguous(), p["c"].contiguous(),
                        p["b"].contiguous())

    @_memory_guard
    def score(self, X, order, n_threads, cond=None, terms=None):
        rows, n = X.shape
        fused = None if cond is not None or terms is not None else self._fused()
        if fused is not None:
            return self._fused_score(X, order, *fused)
        ops, order_t, blocks_in, blocks_out, cond_cols = self._layout(order)
        params = self._padded(blocks_in, blocks_out)
        loglik = np.zeros(rows)
        for s in _chunks(rows, self._row_bytes(n, ops)):
            xs = self._tensor(X[s], ops)[:, order_t]
            Z = self._forward(xs, ops, order_t, *params)[3].to(torch.float64)
            logp = ops.log_prob(Z, xs, order_t)  # (rows, n), by position
            self._put(loglik, s, logp.sum(dim=1))
            if terms is not None:
                self._put(terms, s, logp)
            if cond is not None:
                dist = ops.distribution(Z, order_t)
                out = torch.zeros((dist.shape[0], cond.shape[1]), dtype=self.tdtype,
                                  device=self.device)
                out[:, cond_cols[blocks_out.valid]] = self._model(dist[:, blocks_out.valid])
                self._put(cond, s, out)
        return loglik

    @_memory_guard
    def hidden(self, X, order, n_threads):
        rows, n = X.shape
        ops, order_t, blocks_in, blocks_out, _ = self._layout(order)
        params = self._padded(blocks_in, blocks_out)
        out = np.empty((rows, n, self.arrays["b"].shape[0]), dtype=self.dtype)
        for s in _chunks(rows, self._row_bytes(n, ops)):
            xs = self._tensor(X[s], ops)[:, order_t]
            self._put(out, s, self._forward(xs, ops, order_t, *params)[2])
        return out

    def _fused_gradient(self, X, order, grads, params):
        """gradient() through the fused kernel (nadefast/backends/_triton_grad.py)."""
        from nadefast.backends import _triton_grad

        rows, n = X.shape
        order_t = self._layout(order)[1]
        for g in grads.values():
            g.zero_()
        nll = 0.0
        # the kernel's scratch: n deltas a row; its partials are bounded per launch
        for s in _chunks(rows, n * (self.dtype.itemsize + 2) + 16):
            part, (gW, gV, gc, gb) = _triton_grad.loss_and_gradient(
                self._by_position(X[s], order_t), *params, max_bytes=CHUNK_BYTES)
            nll += part
            grads["W"] += gW.T
            grads["V"] += gV
            grads["c"] += gc
            grads["b"] += gb
        scale = 1.0 / rows
        for g in grads.values():
            g *= scale
        return nll / rows

    @_memory_guard
    def gradient(self, X, order, grads, n_threads):
        """Mean NLL of X; its gradient (mean over rows) into `grads` (docs/fixed_order.md §7),
        every position at once: the output errors, then the errors reaching a_k from the
        later positions as a reversed cumulative sum (or, FUSED, the fused kernel's sweeps)."""
        rows, n = X.shape
        fused = self._fused()
        if fused is not None:
            return self._fused_gradient(X, order, grads, fused[1])
        ops, order_t, blocks_in, blocks_out, _ = self._layout(order)
        Wp, Vp, cp, rho = params = self._padded(blocks_in, blocks_out)
        for g in grads.values():
            g.zero_()
        gW = torch.zeros_like(Wp)
        gV = torch.zeros_like(Vp)
        gc = torch.zeros(cp.shape, dtype=self.tdtype, device=self.device)
        nll = 0.0
        for s in _chunks(rows, self._row_bytes(n, ops, factor=6)):
            xs = self._tensor(X[s], ops)[:, order_t]
            E, A, H, Z = self._forward(xs, ops, order_t, *params)
            Z = Z.to(torch.float64)
            nll -= float(ops.log_prob(Z, xs, order_t).sum())
            dZ = ops.grad(Z, xs, order_t).to(self.tdtype)  # (rows, n, width); padding 0
            gV += torch.einsum("rkw,rkd->kwd", dZ, H)
            gc += dZ.sum(dim=0)
            error = torch.einsum("rkw,kwd->rkd", dZ, Vp) * self._slope(H)  # at rho_k a_k
            if rho is not None:
                grads["rho"] += (error * A).sum(dim=(0, 2))
                error = error * rho[:, None]
            # later[k] = sum of the errors of positions after k: what x_k's columns receive
            reverse = torch.flip(torch.cumsum(torch.flip(error, [1]), dim=1), [1])
            later = torch.cat([reverse[:, 1:], torch.zeros_like(reverse[:, :1])], dim=1)
            gW += torch.einsum("rkc,rkd->kcd", E, later)
            grads["b"] += reverse[:, 0].sum(dim=0)
        blocks_in.scatter(gW, grads["W"].T)
        blocks_out.scatter(gV, grads["V"])
        blocks_out.scatter(gc, grads["c"])
        scale = 1.0 / rows
        for g in grads.values():
            g *= scale
        return nll / rows

    def _by_position(self, X, order_t):
        """Rows of X (NumPy, 0/1 values) on the device as (rows, n) int8 by chain position:
        sent in their own dtype (uint8 for samples: 1 byte a value), converted there."""
        values = torch.as_tensor(np.ascontiguousarray(X)).to(self.device)
        return values[:, order_t].to(torch.int8).contiguous()

    def _fused_score(self, X, order, module, params):
        rows, n = X.shape
        order_t = self._layout(order)[1]
        loglik = np.zeros(rows)
        for s in _chunks(rows, n * 10 + 16):
            self._put(loglik, s, module.score(self._by_position(X[s], order_t), *params))
        return loglik

    def _fused_sample(self, X, order, key, row0, given, greedy, module, params):
        rows, n = X.shape
        order_t = self._layout(order)[1]
        inverse = torch.argsort(order_t)  # position of each feature
        # the noise buffer (8 bytes a draw) dominates a chunk's memory
        for s in _chunks(rows, n * 12 + 16):
            R = s.stop - s.start
            if given is None:  # nothing to keep: X's contents are not read
                xs = torch.empty((R, n), dtype=torch.int8, device=self.device)
                kept = None
            else:
                xs = self._by_position(X[s], order_t)
                kept = torch.as_tensor(np.asarray(given[s], dtype=np.int32), device=self.device)
            eps = None if greedy else module.noise(key, row0 + s.start, R, n, self.device)
            module.sample(xs, eps, kept, *params)
            # back in feature order, one byte a value over the bus
            self._put(X, s, xs[:, inverse].to(torch.uint8))

    @_memory_guard
    def sample(self, X, order, key, row0, given, greedy, n_threads):
        rows, n = X.shape
        fused = self._fused()
        if fused is not None:
            return self._fused_sample(X, order, key, row0, given, greedy, *fused)
        ops, order_t, blocks_in, blocks_out, _ = self._layout(order)
        Wp, Vp, cp, rho = self._padded(blocks_in, blocks_out)
        per = self.output.uniforms
        for s in _chunks(rows, self._row_bytes(1, ops) + n * (per * 24 + 16)):
            Xc = self._tensor(X[s], ops)
            R = Xc.shape[0]
            u = None if greedy else _uniforms(key, row0 + s.start, R, n, per, self.device)
            kept = None if given is None else torch.as_tensor(given[s], device=self.device)
            a = self.arrays["b"].expand(R, -1).clone()
            for k, j in enumerate(np.asarray(order).tolist()):
                h = self._activate(a if rho is None else a * rho[k])
                z = (h @ Vp[k].T + cp[k]).to(torch.float64)
                x = ops.mode(z, j) if u is None else ops.draw(z, u[:, k], j)
                if kept is not None:
                    x = torch.where(kept > k, Xc[:, j], x.to(Xc.dtype))
                Xc[:, j] = x
                if k < n - 1:
                    a += ops.encode(Xc[:, j], j, self.tdtype) @ Wp[k]
            self._put(X, s, Xc)


class OrderlessKernels(_TorchKernels):
    """An order-agnostic NADE (docs/order_agnostic.md) on torch tensors: parameters in the
    public layout, blocks of W's columns and V's rows by feature; every output."""

    # ensembles: every (ordering, row) pair one row of a single sweep, a position's products
    # over all of them at once (a launch per position, not per position and ordering); equal
    # to the sweeps one ordering at a time but for rounding (BLAS may block a product of
    # more rows differently)
    batches_orderings = True

    def __init__(self, params, output, device="cpu"):
        super().__init__(params, ("W", "M", "b", "W_hidden", "b_hidden", "V", "c"), output,
                         device)
        n = self.arrays["M"].shape[1]
        self.n = n
        ops = self.ops(n)
        self.blocks_in = _Blocks(np.asarray(output.in_widths(n), dtype=np.intp), ops.in_width,
                                 self.device)
        self.blocks_out = _Blocks(np.asarray(output.out_widths(n), dtype=np.intp),
                                  ops.out_width, self.device)
        self.features = torch.arange(n, device=self.device)

    def _top(self, A1):
        """The top hidden layer from the first layer's pre-activations."""
        p = self.arrays
        h = torch.relu(A1)
        for Wl, bl in zip(p["W_hidden"], p["b_hidden"]):
            h = torch.relu(h @ Wl.T + bl)
        return h

    def _row_bytes(self, ops, per_row_orders):
        d = self.arrays["b"].shape[0]
        width = ops.in_width + ops.out_width if per_row_orders else 0
        return (self.n * 40 + (4 + len(self.arrays["W_hidden"])) * d * self.dtype.itemsize
                + width * d * self.dtype.itemsize + 64 * ops.out_width)

    def _along(self, X, orders, positions, on_position, extra_bytes=0):
        """The network along each row's ordering (orders (1, n) shared or (rows, n)), a chunk
        of rows at a time, for the first `positions` positions: on_position(s, k, j, z, Xc)
        gets the chunk's slice s, the position, the feature(s) j (an int when shared, else
        (rows,)), the float64 logits z (rows, out_width) and the chunk's values, and returns
        the values of x_j to go on with."""
        rows, n = X.shape
        ops = self.ops(n)
        p = self.arrays
        shared = orders.shape[0] == 1
        Wp = self.blocks_in.gather(p["W"].T)  # (n, in_width, d)
        Vp = self.blocks_out.gather(p["V"])  # (n, out_width, d)
        cp = self.blocks_out.gather(p["c"], fill=-math.inf)
        MT = p["M"].T
        for s in _chunks(rows, self._row_bytes(ops, not shared) + extra_bytes):
            Xc = self._tensor(X[s], ops)
            R = Xc.shape[0]
            order_c = None if shared else torch.as_tensor(orders[s], device=self.device)
            A1 = p["b"].expand(R, -1).clone()
            for k in range(positions):
                h = self._top(A1)
                j = int(orders[0, k]) if shared else order_c[:, k]
                # the logits as (rows, width, d) products summed over d, shared ordering or
                # not: a row's bits do not depend on which path it takes
                z = (h[:, None, :] * Vp[j]).sum(dim=-1) + cp[j]
                x = on_position(s, k, j, z.to(torch.float64), Xc)
                if k == positions - 1:
                    break
                # revealing x_j adds its mask column and its input column (one non-zero
                # input per variable: exact, in any order)
                A1 += MT[j]
                A1 += (ops.encode(x, j, self.tdtype)[:, :, None] * Wp[j]).sum(dim=1)
            yield s, Xc

    def _fused(self):
        """nadefast.backends._triton_oa and the model as its score takes it (M's and W's
        columns as rows (n, d), V (n, d), c, b, W_hidden, b_hidden; contiguous copies made
        per call, as a fit changes the arrays in place) when it serves this model, else
        None."""
        if self.output.name != "bernoulli" or _fused_module(self.device) is None:
            return None
        from nadefast.backends import _triton_oa

        p = self.arrays
        return _triton_oa, tuple(t.contiguous() for t in (
            p["M"].T, p["W"].T, p["V"], p["c"], p["b"], p["W_hidden"], p["b_hidden"]))

    def _fused_score(self, X, orders, stop, terms, positions, module, params):
        """score() through the fused per-position glue (nadefast/backends/_triton_oa.py):
        values up as int8 by feature, orderings as int32, a chunk of rows at a time."""
        rows, n = X.shape
        d = self.arrays["b"].shape[0]
        shared = orders.shape[0] == 1
        loglik = np.zeros(rows)
        layers = self.arrays["W_hidden"].shape[0]
        # A1, H1, Z and one temporary a deeper layer; values, orderings, terms
        row_bytes = (3 + layers) * d * self.dtype.itemsize + n * (1 + 4 * (not shared)) + 32
        order_all = torch.as_tensor(np.asarray(orders, dtype=np.int32), device=self.device) \
            if shared else None
        for s in _chunks(rows, row_bytes + (8 * n if terms is not None else 0)):
            xs = torch.as_tensor(np.ascontiguousarray(X[s])).to(self.device).to(torch.int8)
            order_c = order_all if shared else torch.as_tensor(
                np.ascontiguousarray(orders[s], dtype=np.int32), device=self.device)
            stop_c = None if stop is None else torch.as_tensor(
                np.asarray(stop[s], dtype=np.int32), device=self.device)
            terms_c = None if terms is None else torch.empty(
                (xs.shape[0], n), dtype=torch.float64, device=self.device)
            self._put(loglik, s, module.score(xs.contiguous(), order_c, positions, *params,
                                              stop=stop_c, terms=terms_c))
            if terms is not None:
                self._put(terms, s, terms_c)
        return loglik

    @_memory_guard
    def score(self, X, orders, n_threads, stop=None, cond=None, terms=None):
        rows, n = X.shape
        ops = self.ops(n)
        orders = np.asarray(orders)
        positions = n
        if stop is not None and cond is None and terms is None:
            positions = int(np.max(stop, initial=0))
        fused = None if cond is not None else self._fused()
        if fused is not None:
            return self._fused_score(X, orders, stop, terms, positions, *fused)
        loglik = torch.zeros(rows, dtype=torch.float64, device=self.device)
        stop_t = None if stop is None else torch.as_tensor(stop, device=self.device)
        terms_t = None if terms is None else torch.zeros((rows, n), dtype=torch.float64,
                                                        device=self.device)
        index, valid = self.blocks_out.index, self.blocks_out.valid
        written = {}

        def on_position(s, k, j, z, Xc):
            x = Xc[:, j] if isinstance(j, int) else Xc.gather(1, j[:, None])[:, 0]
            term = ops.log_prob(z, x, j)
            if stop_t is not None:
                term = torch.where(k < stop_t[s], term, torch.zeros_like(term))
            loglik[s] += term
            if terms_t is not None:
                terms_t[s, k] = term
            if cond is not None:
                dist = self._model(ops.distribution(z, j))
                out = written.setdefault(s.start, torch.zeros(
                    (z.shape[0], cond.shape[1]), dtype=self.tdtype, device=self.device))
                if isinstance(j, int):
                    out[:, index[j][valid[j]]] = dist[:, valid[j]]
                else:
                    r = torch.arange(z.shape[0], device=self.device)[:, None].expand(-1, z.shape[1])
                    out[r[valid[j]], index[j][valid[j]]] = dist[valid[j]]
            return x

        if positions > 0 and rows > 0:
            for s, _ in self._along(X, orders, positions, on_position,
                                    extra_bytes=0 if cond is None else cond.shape[1] * 8):
                if cond is not None:
                    self._put(cond, s, written.pop(s.start))
        if terms is not None:
            terms[...] = _host(terms_t)
        return _host(loglik).copy()

    def _fused_sample(self, X, orders, key, row0, given, greedy, module, params):
        """sample() through the fused per-position glue: the noise from _triton.noise (the
        same draws as `_uniforms`), values as int8 by feature, a chunk of rows at a time."""
        from nadefast.backends import _triton

        rows, n = X.shape
        d = self.arrays["b"].shape[0]
        shared = orders.shape[0] == 1
        layers = self.arrays["W_hidden"].shape[0]
        row_bytes = (3 + layers) * d * self.dtype.itemsize + n * (9 + 4 * (not shared)) + 32
        order_all = torch.as_tensor(np.asarray(orders, dtype=np.int32), device=self.device) \
            if shared else None
        for s in _chunks(rows, row_bytes):
            R = s.stop - s.start
            xs = torch.as_tensor(np.ascontiguousarray(X[s])).to(self.device).to(
                torch.int8).contiguous()  # filled in place
            order_c = order_all if shared else torch.as_tensor(
                np.ascontiguousarray(orders[s], dtype=np.int32), device=self.device)
            kept = None if given is None else torch.as_tensor(
                np.asarray(given[s], dtype=np.int32), device=self.device)
            eps = None if greedy else _triton.noise(key, row0 + s.start, R, n, self.device)
            module.sample(xs, order_c, eps, kept, *params)
            self._put(X, s, xs.to(torch.uint8))

    @_memory_guard
    def sample(self, X, orders, key, row0, given, greedy, n_threads):
        rows, n = X.shape
        if rows == 0:
            return
        ops = self.ops(n)
        orders = np.asarray(orders)
        fused = self._fused()
        if fused is not None:
            return self._fused_sample(X, orders, key, row0, given, greedy, *fused)
        per = self.output.uniforms
        kept = None if given is None else torch.as_tensor(given, device=self.device)
        state = {}

        def on_position(s, k, j, z, Xc):
            if k == 0:
                state["u"] = None if greedy else _uniforms(key, row0 + s.start, z.shape[0], n,
                                                           per, self.device)
            u = state["u"]
            x = ops.mode(z, j) if u is None else ops.draw(z, u[:, k], j)
            x = x.to(Xc.dtype)
            old = Xc[:, j] if isinstance(j, int) else Xc.gather(1, j[:, None])[:, 0]
            if kept is not None:
                x = torch.where(kept[s] > k, old, x)
            if isinstance(j, int):
                Xc[:, j] = x
            else:
                Xc.scatter_(1, j[:, None], x[:, None])
            return x

        for s, Xc in self._along(X, orders, n, on_position, extra_bytes=n * (per * 24 + 16)):
            self._put(X, s, Xc)

    def _masked_forward(self, Xc, m, Wp, ops):
        """The network with the entries where m (rows, n) is 1 as inputs: the first layer's
        inputs (rows, n * in_width), the pre-activations and outputs of every layer, and
        the output units Z = H_L V^T + c (rows, n_out), blocks by feature."""
        p = self.arrays
        inputs = (ops.encode(Xc, self.features, self.tdtype) * m[..., None]).reshape(
            Xc.shape[0], -1)
        A = [m @ p["M"].T]
        A[0] += p["b"]
        A[0] += inputs @ Wp
        H = [torch.relu(A[0])]
        for Wl, bl in zip(p["W_hidden"], p["b_hidden"]):
            A.append(H[-1] @ Wl.T + bl)
            H.append(torch.relu(A[-1]))
        return inputs, A, H, H[-1] @ p["V"].T + p["c"]

    @_memory_guard
    def outputs(self, X, masks, n_threads=1):
        """The output units given each row's observed entries, (rows, n_out) float64 on the
        host, blocks by feature: for every feature j, its conditional given the entries
        where masks (rows, n) is True."""
        rows, n = X.shape
        ops = self.ops(n)
        p = self.arrays
        d = p["b"].shape[0]
        Wp = self.blocks_in.gather(p["W"].T).reshape(n * ops.in_width, d)
        out = np.empty((rows, p["V"].shape[0]))
        item = self.dtype.itemsize
        row_bytes = n * (ops.in_width + 2) * item + 2 * (p["W_hidden"].shape[0] + 1) * d * item
        for s in _chunks(rows, row_bytes + p["V"].shape[0] * 16):
            m = torch.as_tensor(np.asarray(masks[s]), device=self.device).to(self.tdtype)
            self._put(out, s, self._masked_forward(self._tensor(X[s], ops), m, Wp, ops)[3]
                      .to(torch.float64))
        return out

    @_memory_guard
    def objective(self, X, masks, grads=None, n_threads=1):
        """The rescaled order-agnostic NLL of (X, masks), mean over rows
        (docs/order_agnostic.md §3), and its gradient into `grads` when given: the
        compiled backend's `_through_layers` in torch, the outputs in padded blocks."""
        rows, n = X.shape
        ops = self.ops(n)
        p = self.arrays
        masks = np.asarray(masks, dtype=bool)
        if rows and (masks.sum(axis=1) == n).any():
            raise ValueError("objective: a row of masks observes every feature; the objective "
                             "needs at least one unobserved feature per row")
        d = p["b"].shape[0]
        Wp = self.blocks_in.gather(p["W"].T).reshape(n * ops.in_width, d)
        if grads is not None:
            for g in grads.values():
                g.zero_()
            gWp = torch.zeros_like(Wp)
        layers = p["W_hidden"].shape[0] + 1
        total = 0.0
        item = self.dtype.itemsize
        row_bytes = (n * (ops.in_width + 2) * item + 2 * layers * d * item * 2
                     + n * ops.out_width * 40)
        for s in _chunks(rows, row_bytes):
            Xc = self._tensor(X[s], ops)
            m = torch.as_tensor(masks[s], device=self.device).to(self.tdtype)
            inputs, A, H, Z = self._masked_forward(Xc, m, Wp, ops)
            Zp = self.blocks_out.gather(Z.T, fill=-math.inf).permute(2, 0, 1).to(torch.float64)
            free = 1.0 - m.to(torch.float64)
            weight = n / free.sum(dim=1)  # n / (n - s)
            nll = -(free * ops.log_prob(Zp, Xc, self.features)).sum(dim=1)
            total += float((weight * nll).sum())
            if grads is None:
                continue
            dZp = ((free * (weight / rows)[:, None])[..., None]
                   * ops.grad(Zp, Xc, self.features)).to(self.tdtype)
            dZ = torch.zeros_like(Z)
            dZ[:, self.blocks_out.flat] = dZp[:, self.blocks_out.valid]
            grads["V"] += dZ.T @ H[-1]
            grads["c"] += dZ.sum(dim=0)
            dH = dZ @ p["V"]
            for l in range(layers - 2, -1, -1):
                dA = dH * (A[l + 1] > 0)
                grads["W_hidden"][l] += dA.T @ H[l]
                grads["b_hidden"][l] += dA.sum(dim=0)
                dH = dA @ p["W_hidden"][l]
            dA1 = dH * (A[0] > 0)
            gWp += inputs.T @ dA1
            grads["M"] += dA1.T @ m
            grads["b"] += dA1.sum(dim=0)
        if grads is not None:
            self.blocks_in.scatter(gWp.reshape(n, ops.in_width, d), grads["W"].T)
        return total / rows if rows else float("nan")


class TorchBackend(Backend):
    """The PyTorch backend on one device (see the module docstring)."""

    name = "torch"
    fixed_kernels = {"bernoulli": FixedKernels, "categorical": FixedKernels,
                     "gaussian_mixture": FixedKernels}
    orderless_kernels = {"bernoulli": OrderlessKernels, "categorical": OrderlessKernels,
                         "gaussian_mixture": OrderlessKernels}

    def __init__(self, device):
        self.device = torch.device(device)

    def __repr__(self):
        return f"TorchBackend({str(self.device)!r})"

    def fixed(self, params, output):
        cls = self._kernels(self.fixed_kernels, "NADE", output)
        return self._owned(cls(params, output, self.device))

    def orderless(self, params, output):
        cls = self._kernels(self.orderless_kernels, "OrderAgnosticNADE", output)
        return self._owned(cls(params, output, self.device))

    def training_masks(self, key, rows, n, n_threads=1):
        """The compiled core's masks (the same Philox streams), drawn on the CPU."""
        from nadefast.backends._compiled import BACKEND

        return BACKEND.training_masks(key, rows, n)

    # element-wise steps of the optimizers, rounding as the compiled core's
    @staticmethod
    def zeros_like(a):
        return torch.zeros_like(a)

    @staticmethod
    def scalar(a, x):
        # a Python float: torch rounds it to the tensor's dtype, as NumPy's a.dtype.type(x)
        return float(np.float32(x)) if a.dtype == torch.float32 else float(x)

    def adam_step(self, p, g, m, v, beta1, beta2, lr_t, eps_t, n_threads):
        """The compiled Adam step's arithmetic (NumpyBackend.adam_step, docs/training.md §2),
        each operation rounded as there: moments below the smallest normal number stored as
        0, and gradient entries whose square would be subnormal taken as 0."""
        single = p.dtype == torch.float32
        f = functools.partial(self.scalar, p)
        tiny = math.ldexp(1.0, -56 if single else -500)
        normal = float(np.finfo(np.float32 if single else np.float64).tiny)
        g = torch.where(g.abs() < tiny, torch.zeros_like(g), g)
        m *= f(beta1)
        m += g * f(1.0 - beta1)
        m[m.abs() < normal] = 0
        v *= f(beta2)
        v += (g * g) * f(1.0 - beta2)
        v[v < normal] = 0
        p -= f(lr_t) * (m / (_sqrt(v) + f(eps_t)))

    def max_threads(self):
        return torch.get_num_threads()


_BACKENDS = {}


def backend_on(device):
    """The torch backend of `device` ("cpu", "cuda", "cuda:N"), one object per device;
    RuntimeError when PyTorch sees no such GPU."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={str(device)!r}: PyTorch {torch.__version__} sees no CUDA GPU "
                f"(torch.cuda.is_available() is False: a CPU-only build of PyTorch, no driver, or "
                f"CUDA_VISIBLE_DEVICES hides them); use device='cpu', or 'auto' to take a GPU "
                f"only when there is one")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        elif device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device={str(device)!r}: PyTorch sees "
                               f"{torch.cuda.device_count()} CUDA GPU(s), numbered from 0")
    key = str(device)
    if key not in _BACKENDS:
        _BACKENDS[key] = TorchBackend(device)
    return _BACKENDS[key]
