#!/usr/bin/env python3
"""Categorical and mixture (RNADE) outputs: nadefast's kernels vs the same models in PyTorch.

    NADEFAST_DATA=../shared/data python benchmarks/output_speed.py --out results_outputs.md
    python benchmarks/output_speed.py --quick        # smoke run (~35 s; noisy figures)

Issue 17, "Speed".  For fixed-order NADEs with output="categorical" and
output="gaussian_mixture" (and the binary Bernoulli NADE as the reference), one
process times, on the same parameters and rows:

* nadefast (compiled backend, n_jobs=1): `score_samples`, `sample` and
  `loss_and_gradient`, the public calls;
* the same model written in PyTorch the way its users write it (`TorchNADE`
  below), with torch.set_num_threads(1): a softmax / mixture-of-Gaussians
  log-density through logsumexp, autograd of the mean NLL for the gradient, a
  loop over positions for sampling, and the hidden layer of score and gradient
  in the two forms users write: "cumsum", every position's pre-activation at
  once as a cumulative sum (B, n, d), and "loop", position by position (the
  O(n d) recurrence).  The target is judged against the faster of the two;

at batch 1 and 256, float32 (and float64 at n=64, d=500), at the sizes of the
issue's benchmarks: connect4 (42 cells x 3 states), dna (60 positions x 4
bases), red wine (11 real features, RNADE with 10 components, 50 and 100
hidden), and n=64, d=500 (categorical with 4 values; the mixture at that size
is the 8x8 natural-image patch model, on synthetic patches).  The categorical
benchmarks use 500 hidden units, as NADE's UCI experiments did.

Before any timing it checks, per size, that the PyTorch models and nadefast
agree: log-likelihoods and gradients of PyTorch float64 (both forms) against
nadefast float64 (to 1e-9), and of every float32 implementation against
nadefast float64 (to float32 precision); the mean log-likelihood of 512
samples of PyTorch's sampler within 5 standard errors of nadefast's.  A failed
check stops the run with exit status 1, before anything is timed.

Timing: the machine may be shared, so the implementations of one (size, op,
batch) are measured interleaved -- ours, PyTorch (each form), the binary
kernel, ours, PyTorch, ... -- over --repeats rounds after two warm-up calls,
each round calling each one for about --min-time seconds; the figures are
medians and the ratios are taken between medians of the same run.  ns / (row . position . hidden) =
seconds per call / (batch * n * d) * 1e9, beside the figure of nadefast's
binary kernel at the same n, d and batch on binary rows with the same fraction
of inputs that move the hidden state (categorical: codes other than 0; real
values: all).  The markdown report goes to stdout (and --out); progress to
stderr.  Speed is reported, never asserted.
"""

import argparse
import datetime
import math
import os
import platform
import resource
import statistics
import sys
import time
import warnings

import benchutil as bu  # pins the implicit thread pools (OMP, BLAS) to 1 before NumPy loads

import numpy as np  # noqa: E402

import nadefast  # noqa: E402
from nadefast import NADE  # noqa: E402
from nadefast.backends import _compiled  # noqa: E402

log = bu.log
BATCHES = (1, 256)
OPS = ("score", "sample", "gradient")
CHECK_ROWS, GRAD_ROWS, SAMPLE_ROWS = 64, 32, 512
TARGET = 10.0  # issue 17: PyTorch time / ours >= 10 at batch 256


class Size:
    """One benchmark configuration: output, n positions, d hidden, K values or C components."""

    def __init__(self, name, output, n, d, k=None, dtypes=("float32",)):
        self.name, self.output, self.n, self.d, self.k, self.dtypes = name, output, n, d, k, dtypes

    @property
    def label(self):
        what = {"categorical": f"K={self.k}", "gaussian_mixture": f"C={self.k}",
                "bernoulli": "binary"}[self.output]
        return f"{self.name} ({self.n}x{self.d}, {what})"


SIZES = [
    Size("connect4", "categorical", 42, 500, 3),
    Size("dna", "categorical", 60, 500, 4),
    Size("n=64, d=500", "categorical", 64, 500, 4, ("float32", "float64")),
    Size("red wine", "gaussian_mixture", 11, 50, 10),
    Size("red wine", "gaussian_mixture", 11, 100, 10),
    Size("8x8 patches", "gaussian_mixture", 64, 500, 10, ("float32", "float64")),
    Size("n=64, d=500", "bernoulli", 64, 500),
]
# The fixed cost of a call, at batch 1 on models too small for their arithmetic to count:
# how much of the batch-1 figures is the call itself (Python, checks, dispatch).
TINY = [Size("tiny", output, 2, 32, k) for output, k in
        (("categorical", 4), ("gaussian_mixture", 10), ("bernoulli", None))]


# ---------------------------------------------------------------------- data

def benchmark_rows(size, rows, rng):
    """(X_fit, X, description) for a size: X_fit fixes what fit(epochs=0) learns from
    data (the categories, the standardisation, the initial output biases), X (rows, n)
    is what is checked and timed.  Real benchmark rows when the data folder has them,
    else synthetic rows (the description says which)."""
    from nadefast.datasets import load_dataset, load_red_wine

    n, missing = size.n, ""
    try:
        if size.name in ("connect4", "dna"):
            data = load_dataset(size.name, bu.data_dir(), categorical=True)
            return data["train"], data["test"][:rows], f"{size.name} train/test ({bu.data_dir()})"
        if size.name == "red wine":
            data = load_red_wine(1, bu.data_dir())
            return data["train"], data["train"][:rows], f"red wine fold 1 train ({bu.data_dir()})"
    except (FileNotFoundError, KeyError, ValueError) as exc:
        log(f"  {size.name}: data not found ({exc}); synthetic rows instead")
        missing = f" ({size.name} data not found)"
    if size.output == "categorical":
        X = rng.integers(0, size.k, size=(rows + 512, n)).astype(np.int32)
        return X[rows:], X[:rows], f"uniform random codes 0..{size.k - 1}{missing}"
    if size.output == "gaussian_mixture":  # correlated, unequal scales: patch-like enough
        X = rng.normal(size=(rows + 512, n))
        X[:, 1:] += 0.8 * X[:, :-1]
        X = X * (0.5 + 0.1 * np.arange(n)) + np.arange(n)
        return X[rows:], X[:rows], ("synthetic correlated Gaussian rows"
                                    + (missing or " (no patch data here)"))
    X = (rng.random((rows + 512, n)) < 0.5).astype(np.uint8)
    return X[rows:], X[:rows], "Bernoulli(0.5) rows"


def moving_fraction(size, X):
    """Fraction of inputs that change the hidden state: binary 1s, codes other than 0,
    every real value."""
    return 1.0 if size.output == "gaussian_mixture" else float(np.mean(X != 0))


# ------------------------------------------------------------------- models

def nadefast_model(size, X_fit, dtype, params=None, seed=0):
    """A fitted nadefast NADE (n_jobs=1): fit for zero epochs on X_fit (categories,
    standardisation, initial biases), then the public-layout `params` assigned, or, if
    None, random ones drawn here.  Returns (model, params as float64)."""
    kw = {"categorical": {"n_categories": size.k}, "gaussian_mixture": {"n_components": size.k},
          "bernoulli": {}}[size.output]
    model = NADE(size.d, output=size.output, dtype=dtype, n_jobs=1, random_state=seed, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero epochs: "did not converge"
        model.fit(X_fit, epochs=0)
    names = ("W", "b", "V", "c") + (("rho",) if size.output == "gaussian_mixture" else ())
    if params is None:
        rng = np.random.default_rng(seed)
        d = size.d
        params = {"W": rng.normal(0, 0.1, model.W_.shape), "b": rng.normal(0, 0.5, d),
                  "V": rng.normal(0, 1.0 / math.sqrt(d), model.V_.shape),
                  "c": model.c_.astype(np.float64) + rng.normal(0, 0.1, model.c_.shape)}
        if size.output == "gaussian_mixture":
            params["rho"] = 1.0 + rng.normal(0, 0.1, size.n)
        # float32-representable values, so that every implementation and dtype computes
        # with exactly the same parameters
        params = {k: params[k].astype(np.float32).astype(np.float64) for k in names}
    for name in names:
        setattr(model, name + "_", params[name])
    return model, params


def torch_model(size, params, model, dtype, form="cumsum"):
    """The PyTorch NADE of `size` with the public-layout `params` and the fitted `model`'s
    standardisation (mixture); `form` is how score and gradient compute the hidden layer
    ("cumsum": all positions at once, "loop": position by position).  Defined on first
    use, so that torch is imported only here."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    tdtype = getattr(torch, dtype)
    LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

    class Bernoulli:
        """x in {0, 1}: one input column and one logit per position."""
        w_in, w_out = 1, 1

        def tensor(self, X):
            return torch.from_numpy(np.asarray(X)).to(tdtype)

        def inputs(self, x):  # (..., ) -> (..., w_in)
            return x.unsqueeze(-1)

        def log_prob(self, y, x):  # y (..., w_out) outputs, x (...) values
            return -F.binary_cross_entropy_with_logits(y[..., 0], x, reduction="none")

        def draw(self, y, gen):
            return torch.bernoulli(torch.sigmoid(y[:, 0]), generator=gen)

        def to_numpy(self, x):
            return x.to(torch.uint8).numpy()

    class Categorical:
        """x in 0..K-1: one-hot inputs without value 0's column (value 0 adds nothing), K logits."""

        def __init__(self, K):
            self.K, self.w_in, self.w_out = K, K - 1, K

        def tensor(self, X):
            return torch.from_numpy(np.asarray(X)).long()

        def inputs(self, x):
            return F.one_hot(x, self.K)[..., 1:].to(tdtype)

        def log_prob(self, y, x):
            return torch.log_softmax(y, dim=-1).gather(-1, x.unsqueeze(-1)).squeeze(-1)

        def draw(self, y, gen):
            return torch.multinomial(torch.softmax(y, dim=-1), 1, generator=gen).squeeze(-1)

        def to_numpy(self, x):
            return x.to(torch.int32).numpy()

    class Mixture:
        """x real, standardised with the training means and scales; 3C outputs per position:
        C weight logits, C means, C scale pre-activations, sigma = exp(s) + 1e-3."""

        def __init__(self, C, means, scales):
            self.C, self.w_in, self.w_out = C, 1, 3 * C
            self.means, self.scales = means, scales
            self.log_jacobian = -float(np.log(scales).sum())  # density in the user's units

        def tensor(self, X):
            return torch.from_numpy((np.asarray(X) - self.means) / self.scales).to(tdtype)

        def inputs(self, z):
            return z.unsqueeze(-1)

        def _split(self, y):
            C = self.C
            return y[..., :C], y[..., C:2 * C], torch.exp(y[..., 2 * C:]) + 1e-3

        def log_prob(self, y, z):
            logits, mu, sigma = self._split(y)
            t = (z.unsqueeze(-1) - mu) / sigma
            terms = torch.log_softmax(logits, dim=-1) - torch.log(sigma) - 0.5 * t * t
            return torch.logsumexp(terms, dim=-1) - LOG_SQRT_2PI

        def draw(self, y, gen):
            logits, mu, sigma = self._split(y)
            comp = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen)
            normal = torch.randn(y.shape[0], 1, generator=gen, dtype=y.dtype)
            return (mu.gather(1, comp) + sigma.gather(1, comp) * normal).squeeze(1)

        def to_numpy(self, z):
            return z.double().numpy() * self.scales + self.means

    if size.output == "categorical":
        head = Categorical(size.k)
    elif size.output == "gaussian_mixture":
        head = Mixture(size.k, model.means_, model.scales_)
    else:
        head = Bernoulli()

    class TorchNADE(nn.Module):
        """Fixed-order NADE, identity ordering, public-layout parameters W (d, n w_in),
        b (d,), V (n w_out, d), c (n w_out,) and, for the mixture, rho (n,):
        h_k = sigmoid(rho_k a_k), a_k = b + sum_{m<k} W_m input(x_m)."""

        def __init__(self):
            super().__init__()
            for name, value in params.items():
                setattr(self, name, nn.Parameter(torch.tensor(value, dtype=tdtype)))
            self.n, self.d = size.n, size.d

        def blocks(self):
            """W as (n, w_in, d), V as (n, w_out, d), c as (n, w_out): per-position blocks."""
            n, d = self.n, self.d
            return (self.W.t().reshape(n, head.w_in, d), self.V.reshape(n, head.w_out, d),
                    self.c.reshape(n, head.w_out))

        def forward(self, x):
            """log p(x) per row in the model's units; x (B, n) as head.tensor makes it."""
            return self.forward_cumsum(x) if form == "cumsum" else self.forward_loop(x)

        def forward_cumsum(self, x):
            """Every position at once: a (B, n, d) tensor of pre-activations from a cumulative
            sum, then one batched product for all the outputs."""
            W, V, c = self.blocks()
            added = torch.einsum("bni,nid->bnd", head.inputs(x), W)  # what x_k adds, (B, n, d)
            before = torch.cumsum(added, dim=1)[:, :-1]               # sum over m < k, k >= 1
            a = self.b + torch.cat([torch.zeros_like(added[:, :1]), before], dim=1)
            if hasattr(self, "rho"):
                a = a * self.rho[:, None]
            y = torch.einsum("bnd,njd->bnj", torch.sigmoid(a), V) + c  # (B, n, w_out)
            return head.log_prob(y, x).sum(dim=1)

        def forward_loop(self, x):
            """Position by position, the O(n d) recurrence a_{k+1} = a_k + W_k input(x_k).
            Per-position views come from unbind(): indexing a parameter inside the loop
            would make autograd add a full-size zero gradient per position."""
            W, V, c = (t.unbind(0) for t in self.blocks())
            rho = self.rho.unbind(0) if hasattr(self, "rho") else None
            inputs, values = head.inputs(x).unbind(1), x.unbind(1)
            a = self.b.expand(x.shape[0], -1)
            total = 0.0
            for k in range(self.n):
                h = torch.sigmoid(a * rho[k] if rho is not None else a)
                total = total + head.log_prob(h @ V[k].t() + c[k], values[k])
                a = a + inputs[k] @ W[k]
            return total

        # numpy-facing calls, as nadefast's
        def score_samples(self, X):
            with torch.inference_mode():
                ll = self(head.tensor(X)).double().numpy()
            return ll + getattr(head, "log_jacobian", 0.0)

        def sample(self, n_samples, random_state=0):
            gen = torch.Generator().manual_seed(random_state)
            with torch.inference_mode():
                W, V, c = (t.unbind(0) for t in self.blocks())
                a = self.b.expand(n_samples, -1)
                xs = []
                for k in range(self.n):
                    h = torch.sigmoid(a * self.rho[k] if hasattr(self, "rho") else a)
                    xk = head.draw(h @ V[k].t() + c[k], gen)
                    xs.append(xk)
                    a = a + head.inputs(xk) @ W[k]
                return head.to_numpy(torch.stack(xs, dim=1))

        def loss_and_gradient(self, X):
            """Mean NLL in the model's units (nadefast's training loss) and its gradient."""
            self.zero_grad(set_to_none=True)
            loss = -self(head.tensor(X)).mean()
            loss.backward()
            return loss.item(), {k: p.grad.numpy() for k, p in self.named_parameters()}

    return TorchNADE()


# ------------------------------------------------------------------- checks

def rel_err(x, ref):
    """max |x - ref| / max |ref|."""
    x, ref = np.asarray(x, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(x - ref)) / max(np.max(np.abs(ref)), 1e-300))


def run_checks(size, impls, X):
    """impls: name -> implementation, with "nadefast float64" the reference.  Returns a
    list of (check, detail, ok)."""
    out = []
    ref = impls["nadefast float64"]
    ll_ref = ref.score_samples(X[:CHECK_ROWS])
    loss_ref, g_ref = ref.loss_and_gradient(X[:GRAD_ROWS])
    for name, impl in impls.items():
        if name == "nadefast float64":
            continue
        f64 = "float64" in name
        tol, gtol = (1e-9, 1e-9) if f64 else (2e-5, 1e-3)
        e = rel_err(impl.score_samples(X[:CHECK_ROWS]), ll_ref)
        out.append((f"{size.label}: log p(x) of {name} vs nadefast float64 ({CHECK_ROWS} rows)",
                    f"max rel err {e:.1e} (tol {tol:g})", e <= tol))
        loss, g = impl.loss_and_gradient(X[:GRAD_ROWS])
        eg = max(rel_err(g[k], g_ref[k]) for k in g_ref)
        el = abs(loss - loss_ref) / abs(loss_ref)
        out.append((f"{size.label}: loss and gradient of {name} vs nadefast float64 "
                    f"({GRAD_ROWS} rows)",
                    f"gradient max rel err {eg:.1e} (tol {gtol:g}, worst parameter), loss "
                    f"{el:.1e}", eg <= gtol and el <= tol))
    # samplers (one per dtype: both PyTorch forms sample with the same loop): the same
    # distribution, judged by the mean log p (nadefast float64) of their samples
    def mean_log_p(impl):
        ll = ref.score_samples(impl.sample(SAMPLE_ROWS, random_state=3))
        return ll.mean(), ll.std(ddof=1) / math.sqrt(len(ll))

    for dtype in ("float32", "float64"):
        (m, s), (m0, s0) = (mean_log_p(impls[f"{who} {dtype}"]) for who in ("PyTorch cumsum",
                                                                             "nadefast"))
        z = abs(m - m0) / math.hypot(s, s0)
        out.append((f"{size.label}: mean log p of {SAMPLE_ROWS} samples, PyTorch {dtype} vs "
                    f"nadefast {dtype}", f"{m:.3f} vs {m0:.3f} ({z:.1f} standard errors; tol 5)",
                    z <= 5))
    return out


# ------------------------------------------------------------------- timing

def interleaved(fns, repeats, min_time):
    """Time several callables in alternation: two warm-up calls each, then `repeats`
    rounds in which each is called for about `min_time` seconds (a number of calls
    calibrated on the warm-up).  Returns {name: (median s/call, spread, minor page
    faults per call)}, spread = (max - min) / median over the rounds.  (Page faults:
    large temporaries that the allocator returns to the system are faulted in afresh
    on every call, which costs system time.)"""
    calls = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        calls[name] = max(1, round(min_time / max(time.perf_counter() - t0, 1e-9)))
    per_call = {name: [] for name in fns}
    faults = dict.fromkeys(fns, 0)
    for _ in range(repeats):
        for name, fn in fns.items():
            f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            for _ in range(calls[name]):
                fn()
            per_call[name].append((time.perf_counter() - t0) / calls[name])
            faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    out = {}
    for name, t in per_call.items():
        med = statistics.median(t)
        out[name] = (med, (max(t) - min(t)) / med, faults[name] / (repeats * calls[name]))
    return out


def operation(impl, op, X, batch):
    if op == "score":
        return lambda: impl.score_samples(X[:batch])
    if op == "sample":
        return lambda: impl.sample(batch, random_state=0)
    return lambda: impl.loss_and_gradient(X[:batch])


# ------------------------------------------------------------------- report

def fmt(x, digits=3):
    if x is None or not math.isfinite(x):
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def machine_lines(start_load):
    import torch

    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- CPU: {bu.cpu_model()}; {os.cpu_count()} logical CPUs; load average at the start "
        f"{', '.join(f'{x:.2f}' for x in start_load)}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, PyTorch "
        f"{torch.__version__} (torch.set_num_threads(1)); nadefast {nadefast.__version__}, ISA "
        f"`{_compiled.active_isa()}`, n_jobs=1; "
        + ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in bu.THREAD_VARS[:3]),
    ]


def results_table(rows):
    """Every measurement: seconds per call of each implementation, ratios, ns per unit."""
    lines = [
        "| model | dtype | operation | batch | ours µs | PyTorch cumsum µs | PyTorch loop µs "
        "| faster PyTorch / ours | ours ns | binary kernel ns | ours / binary "
        "| faster PyTorch ns | spread | page faults per call |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sec, work = r["sec"], r["work"]
        binary = sec["binary"] / work if "binary" in sec else None
        ours = sec["ours"] / work
        lines.append(
            f"| {r['label']} | {r['dtype']} | {r['op']} | {r['batch']} | {fmt(sec['ours'] * 1e6)} "
            f"| {fmt(sec.get('cumsum', math.nan) * 1e6)} | {fmt(sec['loop'] * 1e6)} "
            f"| **{fmt(r['best_torch'] / sec['ours'])}** | {fmt(ours)} | {fmt(binary)} "
            f"| {fmt(ours / binary) if binary else '-'} | {fmt(r['best_torch'] / work)} "
            f"| {r['spread']} | {r['faults']} |")
    return lines


def target_table(rows):
    """The summary: per model, dtype and operation, the ratios at batch 256 and 1, the cost
    per unit of work beside the binary kernel's, and the target's status."""
    lines = ["| model | dtype | operation | batch 256: cumsum / ours | batch 256: loop / ours "
             "| batch 1: faster PyTorch / ours | ours ns/(row·pos·hid), batch 256 "
             f"| binary kernel ns, batch 256 | {TARGET:g}x the faster PyTorch at batch 256 |",
             "|---|---|---|---|---|---|---|---|---|"]
    keyed = {(r["label"], r["dtype"], r["op"], r["batch"]): r for r in rows}
    for (label, dtype, op, batch), r in keyed.items():
        if batch != 256:
            continue
        one, sec = keyed.get((label, dtype, op, 1)), r["sec"]
        ratio = r["best_torch"] / sec["ours"]
        binary = sec["binary"] / r["work"] if "binary" in sec else None
        lines.append(f"| {label} | {dtype} | {op} "
                     f"| {fmt(sec.get('cumsum', math.nan) / sec['ours'])} "
                     f"| {fmt(sec['loop'] / sec['ours'])} "
                     f"| {fmt(one['best_torch'] / one['sec']['ours']) if one else '-'} "
                     f"| {fmt(sec['ours'] / r['work'])} | {fmt(binary)} "
                     f"| {'met' if ratio >= TARGET else '**NOT met**'} ({fmt(ratio)}x) |")
    return lines


# --------------------------------------------------------------------- main

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 short rounds per row")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds (7; quick 3)")
    ap.add_argument("--min-time", type=float, default=None,
                    help="seconds per implementation per round (0.1; quick 0.01)")
    ap.add_argument("--no-float64", action="store_true", help="float32 only")
    ap.add_argument("--out", help="also write the markdown report to this file")
    a = ap.parse_args(argv)
    a.repeats = a.repeats or (3 if a.quick else 7)
    a.min_time = a.min_time or (0.01 if a.quick else 0.1)
    return a


def build_and_check(sizes, rng):
    """Per size: the implementations (nadefast float32/64, PyTorch cumsum/loop float32/64,
    all on the same parameters) and the timed rows.  Returns (setups, checks, data notes)."""
    setups, checks, data_notes = [], [], []
    for size in sizes:
        X_fit, X, what = benchmark_rows(size, max(BATCHES), rng)
        data_notes.append(f"- {size.label}: {what}")
        ref, params = nadefast_model(size, X_fit, "float64")
        impls = {"nadefast float64": ref,
                 "nadefast float32": nadefast_model(size, X_fit, "float32", params)[0]}
        # PyTorch float64 is checked at every size (it pins the formulas down to 1e-9)
        for form in ("cumsum", "loop"):
            for dtype in ("float32", "float64"):
                impls[f"PyTorch {form} {dtype}"] = torch_model(size, params, ref, dtype, form)
        log(f"checking {size.label}")
        checks += run_checks(size, impls, X)
        setups.append((size, X, impls))
    return setups, checks, data_notes


def time_all(setups, args, batches=BATCHES, beside_binary=True):
    """One row per (size, dtype, op, batch): seconds per call of each implementation (and
    of the binary kernel at the same size if beside_binary)."""
    rows = []
    for size, X, impls in setups:
        # the binary kernel at the same n, d on rows with the same fraction of state moves
        p = moving_fraction(size, X)
        Xb = (np.random.default_rng(5).random(X.shape) < p).astype(np.uint8)
        bsize = Size("binary", "bernoulli", size.n, size.d)
        for dtype in ("float32",) if args.no_float64 else size.dtypes:
            binary = None
            if beside_binary and size.output != "bernoulli":
                binary = nadefast_model(bsize, Xb, dtype)[0]
            for op in OPS:
                for batch in batches:
                    fns = {"ours": operation(impls[f"nadefast {dtype}"], op, X, batch)}
                    # sampling is a loop over positions in either PyTorch form: timed once
                    for form in ("cumsum", "loop") if op != "sample" else ("loop",):
                        fns[form] = operation(impls[f"PyTorch {form} {dtype}"], op, X, batch)
                    if binary is not None:
                        fns["binary"] = operation(binary, op, Xb, batch)
                    t = interleaved(fns, args.repeats, args.min_time)
                    sec = {k: v[0] for k, v in t.items()}
                    best = min(sec.get("cumsum", math.inf), sec["loop"])
                    rows.append({"label": size.label, "dtype": dtype, "op": op, "batch": batch,
                                 "sec": sec, "best_torch": best,
                                 "work": batch * size.n * size.d / 1e9,
                                 "spread": " / ".join(f"{k} {t[k][1]:.0%}" for k in t),
                                 "faults": " / ".join(f"{t[k][2]:,.0f}" for k in t)})
                    log(f"{size.label} {dtype} {op} b{batch}: ours {sec['ours'] * 1e6:,.1f} µs, "
                        f"PyTorch {best * 1e6:,.1f} µs (x{best / sec['ours']:.1f})")
    return rows


def report(args, header, data_notes, checks, rows, tiny):
    out = ["# Categorical and mixture outputs: nadefast vs PyTorch (issue 17, Speed)", "",
           f"`python benchmarks/output_speed.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
           ""]
    out += header
    out.append(f"- timing: {args.repeats} interleaved rounds of ~{args.min_time:g} s per "
               f"implementation after two warm-up calls; medians")
    out += ["", "Data (speed does not depend on the parameters' values; on the data only "
            "through which inputs move the hidden state):", ""] + data_notes
    out += ["", "## Checks (before timing)", "", "| check | result | status |", "|---|---|---|"]
    out += [f"| {c} | {d} | {'ok' if ok else '**FAILED**'} |" for c, d, ok in checks]
    out += ["", "## PyTorch time / nadefast time", "",
            f"Issue 17's target: at least {TARGET:g}x PyTorch at batch 256, judged here against "
            f"the faster of PyTorch's two forms (cumsum: all positions at once; loop: position "
            f"by position; sampling is a loop in both). ns = nanoseconds per (row · position · "
            f"hidden unit).", ""]
    out += target_table(rows)
    out += ["", "## Every measurement", "",
            "µs per call (medians); ns = seconds per call / (batch · n · d) · 1e9. The binary "
            "kernel: nadefast's Bernoulli NADE at the same n, d and batch on binary rows with the "
            "same fraction of state-moving inputs (categorical: codes != 0; mixture: 1, every "
            "value moves the state). Spread = (max - min) / median over the rounds; minor page "
            "faults per call in the same order (ours / cumsum / loop / binary, those measured).",
            ""]
    out += results_table(rows)
    out += ["", "## The fixed cost of a call", "",
            "Batch 1 on models of n=2 positions, d=32 hidden units (float32), too small for "
            "their arithmetic to count: what every call costs whatever the size (Python, input "
            "checks, dispatch; for PyTorch also its per-operation overhead, once per position "
            "in the loop form and the sampler).", "",
            "| model | operation | ours µs | PyTorch cumsum µs | PyTorch loop µs |",
            "|---|---|---|---|---|"]
    for r in tiny:
        sec = r["sec"]
        out.append(f"| {r['label']} | {r['op']} | {fmt(sec['ours'] * 1e6)} "
                   f"| {fmt(sec.get('cumsum', math.nan) * 1e6)} | {fmt(sec['loop'] * 1e6)} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: pip install torch (a CPU build)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    start_load, start = os.getloadavg(), bu.cpu_snapshot()

    # every implementation is checked before anything is timed
    rng = np.random.default_rng(2026)
    setups, checks, data_notes = build_and_check(SIZES, rng)
    tiny_setups, tiny_checks, _ = build_and_check(TINY, rng)
    checks += tiny_checks
    failed = [c for c in checks if not c[2]]
    for c in failed:
        log(f"CHECK FAILED: {c[0]}: {c[1]}")
    if failed:
        return 1
    rows = time_all(setups, args)
    tiny = time_all(tiny_setups, args, batches=(1,), beside_binary=False)

    end_load, share = os.getloadavg(), bu.others_share(start, bu.cpu_snapshot())
    header = machine_lines(start_load)
    header.append(f"- load average at the end {', '.join(f'{x:.2f}' for x in end_load)}; other "
                  f"processes used {share:.0%} of the machine's CPU time during the run"
                  + (" (**shared machine: noisy figures**)" if share > 0.05 else ""))
    text = report(args, header, data_notes, checks, rows, tiny)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
