"""Reference density models for binary data, to compare NADE's NLL against.

* `IndependentBernoulli` - one Bernoulli per feature (a product model).
* `BernoulliMixture` - a K-component mixture of such product models, fitted
  by EM in log space.

Both follow a small scikit-learn-like interface: ``fit(X)`` returns the model,
``score_samples(X)`` gives log p(x) in nats for each row (shape (n_samples,),
float64) and ``score(X)`` its mean, so the NLL in nats is ``-score(X)``.
X is an (n_samples, n_features) array whose values are exactly 0 or 1
(bool, integer or float dtype).
"""

from __future__ import annotations

import numpy as np

from nadefast._random import make_rng
from nadefast._validation import NotFittedError, as_binary_matrix, check_int, check_real

__all__ = ["BernoulliMixture", "IndependentBernoulli", "NotFittedError"]


def _check_binary(X, name="X", n_features=None):
    """The shared 0/1 check, as float64 (X enters matrix products with log-probabilities)."""
    return as_binary_matrix(X, n_features, name=name, allow_empty=False).astype(np.float64)


def _check_real(value, name, *, positive):
    return check_real(value, name, minimum=0, strict_minimum=positive)


def _check_int(value, name, minimum):
    return check_int(value, name, minimum=minimum)


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=1)) for a (n, k) array, without overflow or underflow.

    Rows may contain -inf (a component with zero weight) but each row must
    have at least one finite entry, which holds here since weights sum to 1.
    """
    m = a.max(axis=1, keepdims=True)
    return m[:, 0] + np.log(np.exp(a - m).sum(axis=1))


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

class IndependentBernoulli:
    """Product of independent Bernoullis, one per feature.

    p(x) = prod_d mu_d^x_d (1 - mu_d)^(1 - x_d), with
    mu_d = (sum_n x_nd + alpha) / (n_samples + 2 alpha): alpha pseudo-counts
    added to both outcomes (additive smoothing; alpha = 1 is Laplace's rule).

    Parameters
    ----------
    alpha : float > 0
        Smoothing pseudo-count.  Must be positive so that every mu_d is
        strictly inside (0, 1) and every log-probability is finite; with
        alpha = 0 a feature constant in the training data would give
        log p(x) = -inf to any row that differs on it.

    Attributes
    ----------
    means_ : ndarray (n_features,), the fitted mu_d
    n_features_in_ : int
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = _check_real(alpha, "alpha", positive=True)

    def fit(self, X) -> IndependentBernoulli:
        """Fit to X, an (n_samples, n_features) 0/1 array.  Returns self."""
        X = _check_binary(X)
        n_samples, n_features = X.shape
        self.means_ = (X.sum(axis=0) + self.alpha) / (n_samples + 2.0 * self.alpha)
        self.n_features_in_ = n_features
        return self

    def score_samples(self, X) -> np.ndarray:
        """log p(x) in nats for each row of X: float64 array of shape (n_samples,)."""
        X = _check_binary(X, n_features=self._fitted_n_features())
        log_p = np.log(self.means_)
        log_q = np.log1p(-self.means_)
        # sum_d x_d log p_d + (1 - x_d) log q_d, as one matrix-vector product.
        return X @ (log_p - log_q) + log_q.sum()

    def score(self, X) -> float:
        """Mean log p(x) over the rows of X, in nats (the NLL is its negative)."""
        return float(self.score_samples(X).mean())

    def _fitted_n_features(self) -> int:
        if not hasattr(self, "means_"):
            raise NotFittedError("IndependentBernoulli is not fitted yet; call fit(X) first")
        return self.n_features_in_


class BernoulliMixture:
    """Mixture of K product-of-Bernoulli components, fitted by EM.

    p(x) = sum_k w_k prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d).

    All probabilities are handled as logs and combined with log-sum-exp, so
    784-dimensional data (where prod_d underflows float64) is fine.

    The M-step adds `alpha` pseudo-counts to both outcomes of every mu_kd:
    mu_kd = (sum_n r_nk x_nd + alpha) / (N_k + 2 alpha), with r_nk the
    responsibilities and N_k = sum_n r_nk.  This is the MAP estimate under a
    Beta(1 + alpha, 1 + alpha) prior on each mu_kd (weights get no prior), so
    EM increases the *penalised* log-likelihood

        L = (1 / n) [ sum_n log p(x_n) + alpha sum_kd log(mu_kd (1 - mu_kd)) ]

    at every iteration; that is what `lower_bound_history_` records (nats per
    sample).  It differs from the mean log-likelihood ``score(X)`` by the
    (small, negative) prior term.

    Parameters
    ----------
    n_components : int >= 1
    max_iter : int >= 1, maximum number of EM iterations
    tol : float >= 0
        Stop when one iteration improves L by less than `tol` nats per sample.
    alpha : float > 0, smoothing pseudo-count
    random_state : None, int or numpy.random.Generator, for the initialisation

    Attributes
    ----------
    weights_ : ndarray (n_components,), mixing weights, sum to 1
    means_ : ndarray (n_components, n_features), Bernoulli means mu_kd in (0, 1)
    n_features_in_ : int
    n_iter_ : int, number of EM iterations run
    lower_bound_history_ : ndarray (n_iter_ + 1,), L at the initial
        parameters (entry 0) and after each iteration
    valid_score_history_ : ndarray (n_iter_ + 1,) or None, mean log p(x) of
        X_valid at the same parameters (None if fit had no X_valid)
    best_iter_ : int, index into the histories of the returned parameters:
        n_iter_ without X_valid, else the argmax of valid_score_history_
    converged_ : bool, True if `tol` was reached before max_iter
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        max_iter: int = 100,
        tol: float = 1e-6,
        alpha: float = 1e-2,
        random_state=None,
    ):
        self.n_components = _check_int(n_components, "n_components", 1)
        self.max_iter = _check_int(max_iter, "max_iter", 1)
        self.tol = _check_real(tol, "tol", positive=False)
        self.alpha = _check_real(alpha, "alpha", positive=True)
        make_rng(random_state)  # type check now rather than at fit time
        self.random_state = random_state

    # ---------------------------------------------------------------- fitting

    def fit(self, X, X_valid=None) -> BernoulliMixture:
        """Fit by EM to X, (n_samples, n_features) of 0/1.  Returns self.

        Initialisation: uniform weights, and for each component
        mu_k = 0.5 x_i + 0.4 m + 0.1 u, with x_i a training row drawn without
        replacement, m the smoothed column means and u ~ U[0, 1) per feature.
        The row seeds distinct components; m and u keep mu_k strictly inside
        (0, 1) and break ties between identical rows.

        If X_valid is given, EM runs exactly as without it, but its mean
        log-likelihood is recorded after every iteration and the parameters
        with the highest one are returned (see `best_iter_`).  The validation
        curve of EM is often not unimodal, so this is preferred to stopping
        at its first decrease.
        """
        X = _check_binary(X)
        n_samples, n_features = X.shape
        K = self.n_components
        if n_samples < K:
            raise ValueError(f"n_samples = {n_samples} is less than n_components = {K}")
        if X_valid is not None:
            X_valid = _check_binary(X_valid, name="X_valid", n_features=n_features)

        rng = make_rng(self.random_state)
        mean = (X.sum(axis=0) + self.alpha) / (n_samples + 2.0 * self.alpha)
        rows = rng.choice(n_samples, size=K, replace=False)
        means = 0.5 * X[rows] + 0.4 * mean + 0.1 * rng.random((K, n_features))
        weights = np.full(K, 1.0 / K)

        log_resp, objective = self._e_step(X, weights, means)
        history = [objective]
        valid_history = None
        if X_valid is not None:
            valid_history = [self._mean_log_likelihood(X_valid, weights, means)]
            best = (0, weights, means)
        self.converged_ = False
        for n_iter in range(1, self.max_iter + 1):
            weights, means = self._m_step(X, log_resp)
            log_resp, objective = self._e_step(X, weights, means)
            history.append(objective)
            if X_valid is not None:
                valid_history.append(self._mean_log_likelihood(X_valid, weights, means))
                if valid_history[-1] > valid_history[best[0]]:
                    best = (n_iter, weights, means)
            if objective - history[-2] < self.tol:
                self.converged_ = True
                break
        if X_valid is not None:
            best_iter, weights, means = best
        else:
            best_iter = n_iter

        self.weights_ = weights
        self.means_ = means
        self.n_features_in_ = n_features
        self.n_iter_ = n_iter
        self.best_iter_ = best_iter
        self.lower_bound_history_ = np.array(history)
        self.valid_score_history_ = None if valid_history is None else np.array(valid_history)
        return self

    def _e_step(self, X, weights, means) -> tuple[np.ndarray, float]:
        """Log responsibilities (n_samples, K) and the penalised objective L."""
        log_joint = self._log_joint(X, weights, means)
        log_px = _logsumexp_rows(log_joint)
        log_resp = log_joint - log_px[:, None]
        prior = self.alpha * (np.log(means) + np.log1p(-means)).sum()
        return log_resp, float((log_px.sum() + prior) / X.shape[0])

    def _m_step(self, X, log_resp) -> tuple[np.ndarray, np.ndarray]:
        """MAP weights (K,) and means (K, n_features) given log responsibilities."""
        resp = np.exp(log_resp)
        counts = resp.sum(axis=0)                    # N_k, (K,)
        weights = counts / X.shape[0]
        means = (resp.T @ X + self.alpha) / (counts[:, None] + 2.0 * self.alpha)
        return weights, means

    @staticmethod
    def _log_joint(X, weights, means) -> np.ndarray:
        """log w_k + log p(x_n | k), shape (n_samples, K)."""
        log_mu = np.log(means)
        log_1m = np.log1p(-means)
        # A component whose weight underflowed to 0 gets log w = -inf and
        # simply drops out of the log-sum-exp.
        with np.errstate(divide="ignore"):
            log_w = np.log(weights)
        # sum_d x_d log mu_kd + (1 - x_d) log(1 - mu_kd), for all n, k at once.
        return X @ (log_mu - log_1m).T + log_1m.sum(axis=1) + log_w

    def _mean_log_likelihood(self, X, weights, means) -> float:
        return float(_logsumexp_rows(self._log_joint(X, weights, means)).mean())

    # ---------------------------------------------------------------- scoring

    def score_samples(self, X) -> np.ndarray:
        """log p(x) in nats for each row of X: float64 array of shape (n_samples,)."""
        if not hasattr(self, "means_"):
            raise NotFittedError("BernoulliMixture is not fitted yet; call fit(X) first")
        X = _check_binary(X, n_features=self.n_features_in_)
        return _logsumexp_rows(self._log_joint(X, self.weights_, self.means_))

    def score(self, X) -> float:
        """Mean log p(x) over the rows of X, in nats (the NLL is its negative)."""
        return float(self.score_samples(X).mean())
