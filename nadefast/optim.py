"""First-order optimizers over a dict of NumPy arrays, updated in place.

The estimator keeps its parameters in the kernels' padded layout and hands
those arrays here; padding entries have zero gradient and stay zero.
Updates avoid temporaries the size of the parameters where NumPy allows
(``out=`` arguments), since a step runs after every mini-batch.
"""

import numpy as np

from nadefast._validation import check_real

OPTIMIZERS = ("adam", "sgd")


class _WeightDecay:
    """Decoupled weight decay (Loshchilov & Hutter, 2019, "AdamW"): before each
    step, every array named in `decayed` shrinks to w (1 - learning_rate *
    weight_decay), learning_rate being the step size of this step (so a
    schedule scales the decay too).  Biases are left out by the caller.  For
    SGD without momentum this is the L2 penalty weight_decay / 2 |w|^2; for
    Adam it is not (the shrinkage bypasses Adam's per-coordinate scaling).
    """

    def _init_decay(self, weight_decay, decayed):
        self.weight_decay = check_real(weight_decay, "weight_decay", minimum=0)
        unknown = set(decayed) - set(self.params)
        if unknown:
            raise ValueError(f"weight decay names unknown parameters {sorted(unknown)}")
        self.decayed = tuple(decayed)

    def _decay(self):
        if not self.weight_decay:
            return
        for name in self.decayed:
            p = self.params[name]
            p *= p.dtype.type(1.0 - self.learning_rate * self.weight_decay)


class SGD(_WeightDecay):
    """Plain gradient descent with optional (heavy-ball) momentum.

    step(grads): p -= lr * (momentum * v + g), v = momentum * v + g
    (after the weight decay of `decayed`, if any).
    """

    def __init__(self, params, learning_rate=0.01, momentum=0.0, weight_decay=0.0, decayed=()):
        self.params = params
        self.learning_rate = check_real(learning_rate, "learning_rate", minimum=0, strict_minimum=True)
        self.momentum = check_real(momentum, "momentum", minimum=0, maximum=1)
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()} if self.momentum else None
        self._init_decay(weight_decay, decayed)
        self.n_steps = 0

    def step(self, grads):
        self._decay()
        for name, p in self.params.items():
            g = grads[name]
            f = p.dtype.type
            if self.velocity is not None:
                v = self.velocity[name]
                v *= f(self.momentum)
                v += g
                g = v
            p -= f(self.learning_rate) * g
        self.n_steps += 1

    def state_dict(self):
        state = {"n_steps": np.int64(self.n_steps)}
        if self.velocity is not None:
            state.update({f"velocity.{k}": v for k, v in self.velocity.items()})
        return state

    def load_state_dict(self, state):
        self.n_steps = int(state["n_steps"])
        if self.velocity is not None:
            _copy_into(self.velocity, state, "velocity.")


class Adam(_WeightDecay):
    """Adam (Kingma & Ba, 2015) with bias correction folded into the step size.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr_t m / (sqrt(v) + eps_t),  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t),
    eps_t = eps sqrt(1 - b2^t)  (the same update as the textbook form);
    with weight_decay, AdamW: the arrays in `decayed` first shrink by
    (1 - lr weight_decay).

    Subnormal numbers are kept out of the moments: a moment below the
    smallest normal number is stored as 0, and a gradient entry whose square
    would be subnormal (|g| < 2^-56 in float32, 2^-500 in float64) counts as
    0 -- moments decaying under zero gradients (dead ReLU units, pixels that
    are always 0) otherwise spend thousands of steps subnormal, and a step
    then runs several times slower.  The effect on the parameters is below
    eps-scaled rounding.

    The update runs in one pass over each array in the compiled core
    (nadefast._core.adam, `n_threads` threads); `step_numpy` is the same
    arithmetic in NumPy, kept as the reference the tests compare with.
    """

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, n_threads=1,
                 weight_decay=0.0, decayed=()):
        self.params = params
        self.learning_rate = check_real(learning_rate, "learning_rate", minimum=0, strict_minimum=True)
        self.beta1 = check_real(beta1, "beta1", minimum=0, maximum=1)
        self.beta2 = check_real(beta2, "beta2", minimum=0, maximum=1)
        self.eps = check_real(eps, "eps", minimum=0, strict_minimum=True)
        self.n_threads = n_threads
        for name, p in params.items():
            if not p.flags.c_contiguous:  # updated through flat views
                raise ValueError(f"Adam needs C-contiguous parameter arrays; {name!r} is not")
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self._init_decay(weight_decay, decayed)
        self.n_steps = 0

    def _scalars(self):
        t = self.n_steps
        corr2 = np.sqrt(1.0 - self.beta2**t)
        return self.learning_rate * corr2 / (1.0 - self.beta1**t), self.eps * corr2

    def step(self, grads):
        from nadefast import _core

        self._decay()
        self.n_steps += 1
        lr_t, eps_t = self._scalars()
        for name, p in self.params.items():
            _core.adam(p.reshape(-1), grads[name].reshape(-1), self.m[name].reshape(-1),
                       self.v[name].reshape(-1), self.beta1, self.beta2, lr_t, eps_t, self.n_threads)

    def step_numpy(self, grads):
        """The same step with NumPy operations (a reference; slower)."""
        self._decay()
        self.n_steps += 1
        lr_t, eps_t = self._scalars()
        b1, b2 = self.beta1, self.beta2
        for name, p in self.params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            f = p.dtype.type
            g = np.where(np.abs(g) < _tiny_gradient(p.dtype), f(0), g)
            normal = np.finfo(p.dtype).tiny  # the smallest normal number
            m *= f(b1)
            m += g * f(1.0 - b1)
            m[np.abs(m) < normal] = 0
            v *= f(b2)
            v += (g * g) * f(1.0 - b2)
            v[v < normal] = 0
            p -= f(lr_t) * (m / (np.sqrt(v) + f(eps_t)))

    def state_dict(self):
        state = {"n_steps": np.int64(self.n_steps)}
        state.update({f"m.{k}": v for k, v in self.m.items()})
        state.update({f"v.{k}": v for k, v in self.v.items()})
        return state

    def load_state_dict(self, state):
        self.n_steps = int(state["n_steps"])
        _copy_into(self.m, state, "m.")
        _copy_into(self.v, state, "v.")


def _tiny_gradient(dtype):
    """Gradient entries below this count as 0 in Adam (their square / 1000 is still normal)."""
    return np.ldexp(dtype.type(1), -56 if dtype == np.float32 else -500)


def _copy_into(arrays, state, prefix):
    """arrays[k][...] = state[prefix + k], checking that every array is there and fits."""
    for k, target in arrays.items():
        source = state.get(prefix + k)
        if source is None or source.shape != target.shape:
            raise ValueError(f"optimizer state {prefix + k!r} is missing or has the wrong shape")
        target[...] = source


def make_optimizer(name, params, learning_rate, n_threads=1, momentum=0.0, weight_decay=0.0,
                   decayed=()):
    """The optimizer called `name` ('adam' or 'sgd') over `params`; `momentum`
    is SGD's heavy-ball coefficient (Adam has its own moments: it must be 0);
    `weight_decay` shrinks the arrays named in `decayed` (see _WeightDecay)."""
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    key = name.lower()
    if key == "adam":
        if momentum:
            raise ValueError(f"momentum={momentum!r} applies to optimizer='sgd' only; Adam keeps "
                             f"its own moment estimates")
        return Adam(params, learning_rate=learning_rate, n_threads=n_threads,
                    weight_decay=weight_decay, decayed=decayed)
    if key == "sgd":
        return SGD(params, learning_rate=learning_rate, momentum=momentum,
                   weight_decay=weight_decay, decayed=decayed)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
