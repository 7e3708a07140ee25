"""nadefast: fast Neural Autoregressive Distribution Estimators for binary data.

>>> from nadefast import NADE, OrderAgnosticNADE
>>> model = NADE(n_hidden=100, random_state=0).fit(X_train, X_valid)   # doctest: +SKIP
>>> model.score_samples(X_test)          # exact log p(x), nats              # doctest: +SKIP
>>> model.sample(10)                     # (10, n_features) uint8             # doctest: +SKIP
>>> nadefast.load("model.npz")           # whichever model the file holds     # doctest: +SKIP
"""

from nadefast._base import BaseNADE
from nadefast._fixed import NADE
from nadefast._orderless import OrderAgnosticNADE
from nadefast._training import ConvergenceWarning
from nadefast._validation import NotFittedError
from nadefast.impute import NADEImputer

__all__ = ["NADE", "OrderAgnosticNADE", "NADEImputer", "NotFittedError", "ConvergenceWarning",
           "load", "__version__"]
__version__ = "0.1.0"


def load(path, *, backend="compiled", device="cpu"):
    """The model saved at `path` (a NADE or an OrderAgnosticNADE; see nadefast.io),
    computing on `backend` and `device` (as the estimators' parameters of those names)."""
    return BaseNADE.load(path, backend=backend, device=device)
