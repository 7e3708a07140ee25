"""First-order optimizers over a dict of arrays, updated in place.

An optimizer gets the arrays a model's kernel object computes with (the
backend's layout, keyed by public parameter name) and gradients laid out
like them; it only does element-wise arithmetic, so it works with any
backend's layout (padding entries have zero gradient and stay zero).  Its
state is ``state_dict()``: scalars, and per-parameter slots ("m", "v",
"velocity") laid out like the parameters, which checkpoints convert to the
public layout.  Updates avoid temporaries the size of the parameters where
NumPy allows (``out=`` arguments), since a step runs after every mini-batch.

Optimizers are found by name in ``OPTIMIZERS`` (the command line's choices
come from it): add a class there to add one.
"""

import functools

import numpy as np

from nadefast._validation import check_real


class Optimizer:
    """The shared protocol: parameters, step size, decoupled weight decay, state.

    Decoupled weight decay (Loshchilov & Hutter, 2019, "AdamW"): before each
    step, every array named in `decayed` shrinks to w (1 - learning_rate *
    weight_decay), learning_rate being the step size of this step (so a
    schedule scales the decay too).  Biases are left out by the caller.  For
    SGD without momentum this is the L2 penalty weight_decay / 2 |w|^2; for
    Adam it is not (the shrinkage bypasses Adam's per-coordinate scaling).
    """

    slots = ()  # names of the per-parameter state arrays

    def __init__(self, params, learning_rate, weight_decay=0.0, decayed=(), backend=None):
        from nadefast.backends import get_backend

        # the backend's element-wise helpers (zeros_like, scalar): its arrays may not be NumPy's
        self.backend = get_backend("compiled") if backend is None else backend
        self.params = params
        self.learning_rate = check_real(learning_rate, "learning_rate", minimum=0,
                                        strict_minimum=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", minimum=0)
        unknown = set(decayed) - set(params)
        if unknown:
            raise ValueError(f"weight decay names unknown parameters {sorted(unknown)}")
        self.decayed = tuple(decayed)
        self.n_steps = 0
        self.state = {slot: {k: self.backend.zeros_like(v) for k, v in params.items()}
                      for slot in self.slots}

    def _decay(self):
        if not self.weight_decay:
            return
        for name in self.decayed:
            p = self.params[name]
            p *= self.backend.scalar(p, 1.0 - self.learning_rate * self.weight_decay)

    def state_dict(self):
        """(scalars, slots): {"n_steps": int}, {slot: {parameter name: array}}."""
        return {"n_steps": self.n_steps}, self.state

    def load_state_dict(self, scalars, slots):
        """Continue from state_dict()'s output (slots: arrays shaped like the parameters)."""
        self.n_steps = int(scalars["n_steps"])
        for slot, arrays in self.state.items():
            for k, target in arrays.items():
                source = slots.get(slot, {}).get(k)
                if source is None or np.shape(source) != target.shape:
                    raise ValueError(f"optimizer state {slot}.{k} is missing or has the wrong shape")
                target[...] = source


class SGD(Optimizer):
    """Plain gradient descent with optional (heavy-ball) momentum.

    step(grads): p -= lr * (momentum * v + g), v = momentum * v + g
    (after the weight decay of `decayed`, if any).
    """

    def __init__(self, params, learning_rate=0.01, momentum=0.0, weight_decay=0.0, decayed=(),
                 backend=None, n_threads=1):
        self.momentum = check_real(momentum, "momentum", minimum=0, maximum=1)
        self.slots = ("velocity",) if self.momentum else ()
        super().__init__(params, learning_rate, weight_decay, decayed, backend)

    def step(self, grads):
        self._decay()
        for name, p in self.params.items():
            g = grads[name]
            f = functools.partial(self.backend.scalar, p)
            if self.momentum:
                v = self.state["velocity"][name]
                v *= f(self.momentum)
                v += g
                g = v
            p -= f(self.learning_rate) * g
        self.n_steps += 1


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction folded into the step size
    (docs/training.md §2).

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

    The element-wise update is the backend's ``adam_step`` (compiled: one pass
    per array on `n_threads` threads; NumPy: the same arithmetic in NumPy
    expressions, bit for bit).
    """

    slots = ("m", "v")

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, n_threads=1,
                 weight_decay=0.0, decayed=(), backend=None, momentum=0.0):
        if momentum:
            raise ValueError(f"momentum={momentum!r} applies to optimizer='sgd' only; Adam keeps "
                             f"its own moment estimates")
        self.beta1 = check_real(beta1, "beta1", minimum=0, maximum=1)
        self.beta2 = check_real(beta2, "beta2", minimum=0, maximum=1)
        self.eps = check_real(eps, "eps", minimum=0, strict_minimum=True)
        self.n_threads = n_threads
        for name, p in params.items():
            if isinstance(p, np.ndarray) and not p.flags.c_contiguous:  # updated as flat views
                raise ValueError(f"Adam needs C-contiguous parameter arrays; {name!r} is not")
        super().__init__(params, learning_rate, weight_decay, decayed, backend)

    def step(self, grads):
        self._decay()
        self.n_steps += 1
        t = self.n_steps
        corr2 = np.sqrt(1.0 - self.beta2**t)
        lr_t = self.learning_rate * corr2 / (1.0 - self.beta1**t)
        eps_t = self.eps * corr2
        for name, p in self.params.items():
            self.backend.adam_step(p, grads[name], self.state["m"][name], self.state["v"][name],
                                   self.beta1, self.beta2, lr_t, eps_t, self.n_threads)


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def make_optimizer(name, params, learning_rate, *, momentum=0.0, weight_decay=0.0, decayed=(),
                   backend=None, n_threads=1):
    """The optimizer called `name` (a key of OPTIMIZERS, any case) over `params`;
    `momentum` is SGD's heavy-ball coefficient (Adam has its own moments: it
    must be 0); `weight_decay` shrinks the arrays named in `decayed`."""
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    cls = OPTIMIZERS.get(name.lower())
    if cls is None:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return cls(params, learning_rate=learning_rate, momentum=momentum, weight_decay=weight_decay,
               decayed=decayed, backend=backend, n_threads=n_threads)
