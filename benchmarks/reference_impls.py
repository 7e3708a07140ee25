"""NADE written the way a user would, in plain NumPy and in PyTorch.

These are the baselines nadefast is compared with (benchmarks/compare.py) and
checked against (the pytest-benchmark files).  Both take the public-layout
parameters W (d, n), b (d,), V (n, d), c (n,) (identity ordering) and offer
the same three calls as nadefast:

    score_samples(X) -> (rows,) float64 log p(x), nats
    sample(k, random_state=None) -> (k, n) uint8
    loss_and_gradient(X) -> (mean NLL, {"W", "b", "V", "c"})

`NumpyNADE` is vectorised over the batch and loops over the n positions; its
gradient is the hand-written backward pass of docs/fixed_order.md §7 (a backward
sweep with a running sum G, rebuilding h_k by subtracting W[:, k] x_k).
`TorchNADE` (see `torch_nade`) is an nn.Module with the incremental forward
over positions, autograd for the gradient and a batched sampling loop.
Torch is optional: it is imported only by `torch_nade`; `torch_available()`
says whether it is installed.  Neither is tuned beyond what a competent user
would write: no skipping of sigmoids after zeros, no custom kernels.
"""

import importlib.util

import numpy as np


def sigmoid(a):
    """Logistic function without overflow warnings (tanh form)."""
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def log_sigmoid_sum(Z, X):
    """sum_k log p(x_k | x_<k) per row from logits Z (rows, n): -sum softplus(-s z), s = 2x - 1."""
    S = 2.0 * X - 1.0
    return -np.logaddexp(0.0, -S * Z).sum(axis=1, dtype=np.float64)


class NumpyNADE:
    """Plain NumPy NADE (float32 or float64), identity ordering."""

    name = "numpy"

    def __init__(self, W, b, V, c, dtype="float32"):
        dt = np.dtype(dtype)
        self.dtype = dt
        self.W = np.asarray(W, dtype=dt)                 # (d, n)
        self.Wt = np.ascontiguousarray(self.W.T)          # (n, d): row k = W[:, k]
        self.b = np.asarray(b, dtype=dt)
        self.V = np.ascontiguousarray(V, dtype=dt)         # (n, d)
        self.c = np.asarray(c, dtype=dt)
        self.d, self.n = self.W.shape

    def _forward(self, X):
        """Logits Z (rows, n) and the final pre-activation a = b + W x."""
        rows = X.shape[0]
        a = np.tile(self.b, (rows, 1))
        Z = np.empty((rows, self.n), dtype=self.dtype)
        for k in range(self.n):
            h = sigmoid(a)
            Z[:, k] = h @ self.V[k] + self.c[k]
            a += X[:, k, None] * self.Wt[k]
        return Z, a

    def score_samples(self, X):
        X = np.asarray(X, dtype=self.dtype)
        Z, _ = self._forward(X)
        return log_sigmoid_sum(Z, X)

    def sample(self, n_samples, random_state=None):
        rng = np.random.default_rng(random_state)
        U = rng.random((n_samples, self.n), dtype=self.dtype)
        X = np.zeros((n_samples, self.n), dtype=np.uint8)
        a = np.tile(self.b, (n_samples, 1))
        for k in range(self.n):
            h = sigmoid(a)
            y = sigmoid(h @ self.V[k] + self.c[k])
            xk = U[:, k] < y
            X[:, k] = xk
            a += xk[:, None] * self.Wt[k]
        return X

    def loss_and_gradient(self, X):
        """Mean NLL and its gradient: forward sweep, then the backward sweep of docs/fixed_order.md §7."""
        X = np.asarray(X, dtype=self.dtype)
        rows = X.shape[0]
        Z, a = self._forward(X)
        loss = -float(np.mean(log_sigmoid_sum(Z, X)))
        delta = sigmoid(Z) - X                            # dL/dz_k, (rows, n)
        G = np.zeros((rows, self.d), dtype=self.dtype)    # sum_{m>k} g_m per row
        dW = np.empty((self.d, self.n), dtype=self.dtype)
        dV = np.empty((self.n, self.d), dtype=self.dtype)
        for k in range(self.n - 1, -1, -1):
            a -= X[:, k, None] * self.Wt[k]               # a is now a_k
            h = sigmoid(a)
            dk = delta[:, k]
            dV[k] = dk @ h
            dW[:, k] = X[:, k] @ G
            G += (dk[:, None] * self.V[k]) * h * (1.0 - h)
        scale = self.dtype.type(1.0 / rows)
        return loss, {"W": dW * scale, "b": G.sum(axis=0) * scale, "V": dV * scale,
                      "c": delta.sum(axis=0) * scale}


def torch_available():
    """Whether PyTorch can be imported (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def torch_nade(W, b, V, c, dtype="float32"):
    """A `TorchNADE` (defined on first use, so that torch stays optional)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class TorchNADE(nn.Module):
        """NADE as an nn.Module: incremental masked forward, autograd backward."""

        name = "pytorch"

        def __init__(self):
            super().__init__()
            self.tdtype = getattr(torch, np.dtype(dtype).name)
            as_param = lambda x: nn.Parameter(torch.tensor(np.asarray(x), dtype=self.tdtype))
            self.W, self.b, self.V, self.c = (as_param(x) for x in (W, b, V, c))
            self.n = self.V.shape[0]

        def logits(self, x):
            """(rows, n) logits z_k = c_k + V[k] . sigmoid(b + W[:, <k] x_<k).

            Per-position views come from unbind(): indexing self.W[:, k] in
            the loop would make autograd materialise a zero (d, n) gradient
            per position, an O(n^2 d) backward.
            """
            Wk, Vk, ck, xk = self.W.t().unbind(0), self.V.unbind(0), self.c.unbind(0), x.unbind(1)
            a = self.b.expand(x.shape[0], -1)
            out = []
            for k in range(self.n):
                h = torch.sigmoid(a)
                out.append(h @ Vk[k] + ck[k])
                a = a + xk[k][:, None] * Wk[k]
            return torch.stack(out, dim=1)

        def forward(self, x):
            """log p(x) per row."""
            z = self.logits(x)
            return -F.binary_cross_entropy_with_logits(z, x, reduction="none").sum(dim=1)

        # numpy-facing calls, as in nadefast
        def score_samples(self, X):
            with torch.inference_mode():
                return self(torch.from_numpy(np.asarray(X)).to(self.tdtype)).double().numpy()

        def sample(self, n_samples, random_state=None):
            gen = torch.Generator().manual_seed(0 if random_state is None else int(random_state))
            with torch.inference_mode():
                a = self.b.expand(n_samples, -1)
                x = torch.empty(n_samples, self.n, dtype=self.tdtype)
                Wk = self.W.t().unbind(0)
                for k in range(self.n):
                    y = torch.sigmoid(torch.sigmoid(a) @ self.V[k] + self.c[k])
                    xk = torch.bernoulli(y, generator=gen)
                    x[:, k] = xk
                    a = a + xk[:, None] * Wk[k]
                return x.to(torch.uint8).numpy()

        def loss_and_gradient(self, X):
            x = torch.from_numpy(np.asarray(X)).to(self.tdtype)
            self.zero_grad(set_to_none=True)
            loss = -self(x).mean()
            loss.backward()
            return loss.item(), {k: p.grad.numpy() for k, p in self.named_parameters()}

    return TorchNADE()
