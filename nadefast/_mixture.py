"""Real-valued variables: mixture-of-Gaussians outputs (RNADE; docs/mixture.md).

Each conditional is a mixture of C Gaussians whose parameters come from the
hidden state: 3C output units per variable, (alpha logits, means, sigma
pre-activations).  Data are standardised with the training statistics
(mean, standard deviation; a constant column keeps scale 1), the models
compute in those units, and the estimator adds the Jacobian to densities
and maps samples back.  sigma = exp(s) + SIGMA_FLOOR keeps every density
finite, duplicated values and constant columns included.
"""

import math

import numpy as np

from nadefast._outputs import Output, _log_softmax
from nadefast._validation import as_real_matrix

# the smallest component scale, in standardised units: a density of at most
# 1 / (SIGMA_FLOOR sqrt(2 pi)), however concentrated the data
SIGMA_FLOOR = 1e-3
# the largest scale pre-activation s (sigma = exp(s) + floor): exp(300) keeps sigma,
# 1 / sigma^2 and log sigma finite and normal (NADE_MIX_MAX_LOG_SIGMA of csrc/mix_math.h)
MAX_LOG_SIGMA = 300.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# the hidden units a fixed-order RNADE may have, h_k = act(rho_k a_k) (docs/mixture.md §3)
ACTIVATIONS = ("sigmoid", "relu")


def check_activation(activation):
    """`activation` checked: one of ACTIVATIONS."""
    if not isinstance(activation, str):
        raise TypeError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def _normal_cdf(t):
    """The standard normal distribution function Phi(t), elementwise: erfc by the
    Chebyshev fit of Numerical Recipes (2nd ed., section 6.2; relative error below
    1.2e-7 everywhere, so Phi's error is below 6e-8; not quite monotone at t = 0),
    Phi(t) = erfc(-t / sqrt(2)) / 2.  NumPy has no erf.  For the median of impute."""
    x = -np.asarray(t, dtype=np.float64) / math.sqrt(2.0)
    a = np.abs(x)
    k = 1.0 / (1.0 + 0.5 * a)
    poly = -1.26551223 + k * (1.00002368 + k * (0.37409196 + k * (0.09678418 + k * (
        -0.18628806 + k * (0.27886807 + k * (-1.13520398 + k * (1.48851587 + k * (
            -0.82215223 + k * 0.17087277))))))))
    tail = k * np.exp(-a * a + poly)  # erfc(|x|)
    return 0.5 * np.where(x >= 0.0, tail, 2.0 - tail)


class GaussianMixture(Output):
    """x_j real, p(x_j | .) = sum_c alpha_c N(x_j; mu_c, sigma_c^2), C = n_components."""

    name = "gaussian_mixture"
    sample_dtype = np.dtype(np.float64)
    impute_methods = ("mean", "mode", "median")
    uniforms = 3  # per position: the component, and two for a Box-Muller normal
    real_valued = True
    fixed_extras = ("rho",)  # NADE: the per-position activation rescaling of RNADE

    def __init__(self, n_components=10, means=None, scales=None, activation="sigmoid"):
        self.n_components = n_components
        self.means, self.scales = means, scales
        # a fixed-order NADE's hidden units, h_k = activation(rho_k a_k): RNADE's choice
        # of sigmoid or ReLU, kept with its other per-position extra (rho); order-agnostic
        # models' layers are ReLU whatever this says, and their outputs keep the default
        self.activation = check_activation(activation)

    def _C(self):
        C = self.n_components
        if isinstance(C, (bool, np.bool_)) or not isinstance(C, (int, np.integer)):
            raise TypeError(f"n_components must be an integer, got {C!r}")
        if C < 1:
            raise ValueError(f"n_components must be >= 1, got {C}")
        return int(C)

    def in_widths(self, n_features):
        return np.ones(n_features, dtype=np.intp)

    def out_widths(self, n_features):
        return np.full(n_features, 3 * self._C(), dtype=np.intp)

    def check_dtype(self, dtype, name="X"):
        if np.dtype(dtype).kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")

    def check_X(self, X, n_features=None, *, name="X", allow_empty=True):
        """X as finite float64 (in the user's units)."""
        return as_real_matrix(X, n_features, name=name, allow_empty=allow_empty)

    def fitted(self, X):
        from nadefast._streaming import column_moments

        self._C()
        mean, std = column_moments(X, self, X.shape[1])
        scale = np.where(std > 0, std, 1.0)  # a constant column stays put
        return GaussianMixture(self.n_components, mean, scale, self.activation)

    def prepare(self, X):
        """Checked values in the user's units -> standardised, as the model computes."""
        return (X - self.means) / self.scales

    def to_user(self, X):
        """Values in the model's (standardised) units -> the user's units."""
        return X * self.scales + self.means

    def log_jacobian(self):
        """Per feature, what a density in the user's units adds: -log scale_j."""
        return -np.log(self.scales)

    def state(self):
        state = {"n_components": np.asarray(self._C(), dtype=np.int64),
                 "means": np.asarray(self.means, dtype=np.float64),
                 "scales": np.asarray(self.scales, dtype=np.float64)}
        if self.activation != "sigmoid":  # (files of sigmoid models stay as they were)
            state["activation"] = np.asarray(self.activation)
        return state

    def fitted_attributes(self):
        return {"means_": np.array(self.means), "scales_": np.array(self.scales)}

    def constructor_params(self):
        params = {"n_components": self._C()}
        if self.activation != "sigmoid":  # only NADE takes activation
            params["activation"] = self.activation
        return params

    def initial_biases(self, X):
        """Per variable: alpha logits 0 (equal weights), means spread evenly over the
        standardised range, sigma a (C+1)-th of it (docs/mixture.md §4)."""
        from nadefast._streaming import column_range, is_out_of_core

        C = self._C()
        low, high = column_range(X, self, X.shape[1])
        if is_out_of_core(X):  # streamed rows come in the user's units; fit prepared in-memory X
            low, high = self.prepare(low), self.prepare(high)
        width = np.maximum(high - low, 1e-2)
        spots = (np.arange(1, C + 1) / (C + 1))[None, :]
        mu = low[:, None] + width[:, None] * spots
        s = np.repeat(np.log(np.maximum(width / (C + 1) - SIGMA_FLOOR, SIGMA_FLOOR))[:, None], C,
                      axis=1)
        return np.concatenate([np.zeros_like(mu), mu, s], axis=1).reshape(-1)

    # ---- the mathematics of variable j, rows at a time (z: (rows, 3C))

    def _split(self, z):
        """(weight logits, means, scales), each (rows, C), within the compiled kernels'
        bounds on what no fitted model reaches (csrc/mix_math.h): units to +-1e300, scale
        pre-activations to at most MAX_LOG_SIGMA, so finite parameters never give inf."""
        C = self._C()
        z = np.clip(z, -1e300, 1e300)
        return (z[:, :C], z[:, C:2 * C],
                np.exp(np.minimum(z[:, 2 * C:], MAX_LOG_SIGMA)) + SIGMA_FLOOR)

    @staticmethod
    def input(j, x):
        return np.zeros(len(x), dtype=np.intp), np.asarray(x, dtype=np.float64)

    def _component_terms(self, z, x):
        """log alpha_c + log N(x; mu_c, sigma_c), (rows, C), and its parts."""
        logits, mu, sigma = self._split(z)
        t = np.clip((x[:, None] - mu) / sigma, -1e150, 1e150)
        return _log_softmax(logits) - _HALF_LOG_2PI - np.log(sigma) - 0.5 * t * t, t, sigma

    def log_prob(self, j, z, x):
        terms = self._component_terms(z, x)[0]
        top = terms.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(terms - top).sum(axis=1, keepdims=True)))[:, 0]

    def grad_logits(self, j, z, x):
        """d(-log p)/dz through the responsibilities pi (docs/mixture.md §3)."""
        C = self._C()
        terms, t, sigma = self._component_terms(z, x)
        pi = np.exp(_log_softmax(terms))
        alpha = np.exp(_log_softmax(z[:, :C]))
        # d log sigma / ds; 0 where the scale pre-activation is clamped
        d_sigma = np.where(z[:, 2 * C:] > MAX_LOG_SIGMA, 0.0, (sigma - SIGMA_FLOOR) / sigma)
        return np.concatenate([alpha - pi, -pi * t / sigma, pi * (1.0 - t * t) * d_sigma], axis=1)

    def draw(self, j, z, u):
        """Component by inverse transform of u[:, 0]; a normal by Box-Muller from u[:, 1:3]."""
        logits, mu, sigma = self._split(z)
        cdf = np.cumsum(np.exp(_log_softmax(logits)), axis=1)
        c = np.minimum((cdf <= u[:, :1]).sum(axis=1), cdf.shape[1] - 1)
        normal = np.sqrt(-2.0 * np.log(u[:, 1])) * np.cos(2.0 * np.pi * u[:, 2])
        rows = np.arange(len(c))
        return mu[rows, c] + sigma[rows, c] * normal

    def mode(self, j, z, iterations=50):
        """The highest point of the mixture: fixed-point (mean-shift) iterations from every
        component's mean, the best end point kept."""
        logits, mu, sigma = self._split(z)
        x = mu.copy()  # (rows, C) starting points
        precision = 1.0 / (sigma * sigma)
        log_alpha = _log_softmax(logits)
        for _ in range(iterations):
            t = (x[:, :, None] - mu[:, None, :]) / sigma[:, None, :]  # (rows, start, comp)
            logw = log_alpha[:, None, :] - np.log(sigma)[:, None, :] - 0.5 * t * t
            w = np.exp(logw - logw.max(axis=2, keepdims=True)) * precision[:, None, :]
            x = (w * mu[:, None, :]).sum(axis=2) / w.sum(axis=2)
        density = np.stack([self.log_prob(j, z, x[:, s]) for s in range(x.shape[1])], axis=1)
        return x[np.arange(len(x)), np.argmax(density, axis=1)]

    def point(self, j, z, method):
        """The mixture's mean sum_c alpha_c mu_c (method="mean") or its median (where its
        distribution function is 1/2, to within 1e-7 in probability: 64 bisection steps
        from a bracket of every component's mean -+ 12 sigma, with _normal_cdf's error
        below 6e-8), standardised units, (rows,)."""
        logits, mu, sigma = self._split(z)
        alpha = np.exp(_log_softmax(logits))
        if method == "mean":
            return np.sum(alpha * mu, axis=1)
        low = np.min(mu - 12.0 * sigma, axis=1)
        high = np.max(mu + 12.0 * sigma, axis=1)
        for _ in range(64):
            middle = 0.5 * (low + high)
            below = np.sum(alpha * _normal_cdf((middle[:, None] - mu) / sigma), axis=1) < 0.5
            low = np.where(below, middle, low)
            high = np.where(below, high, middle)
        return 0.5 * (low + high)

    def distribution(self, j, z):
        """What conditionals() reports, in the user's units: the C weights, the C means and
        the C standard deviations, (rows, 3C)."""
        logits, mu, sigma = self._split(z)
        return np.concatenate([np.exp(_log_softmax(logits)), mu * self.scales[j] + self.means[j],
                               sigma * self.scales[j]], axis=1)
