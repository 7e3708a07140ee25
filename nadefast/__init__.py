"""nadefast: a fast Neural Autoregressive Distribution Estimator for binary data.

>>> from nadefast import NADE
>>> model = NADE(n_hidden=100, random_state=0).fit(X_train, X_valid)   # doctest: +SKIP
>>> model.score_samples(X_test)          # exact log p(x), nats              # doctest: +SKIP
>>> model.sample(10)                     # (10, n_features) uint8             # doctest: +SKIP
"""

from nadefast.model import NADE, NotFittedError

__all__ = ["NADE", "NotFittedError", "__version__"]
__version__ = "0.1.0"
