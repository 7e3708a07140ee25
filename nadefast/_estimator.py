"""The scikit-learn estimator protocol, as nadefast's estimators implement it.

Constructor parameters (read from ``__init__``'s signature, as scikit-learn's
BaseEstimator does), ``repr``, estimator tags, and pickling through the
public layout.  scikit-learn is not a dependency: it is imported only when
it asks for the tags.
"""

import inspect

import numpy as np

from nadefast._outputs import output_from_state

# version of the state __getstate__ returns (pickle, copy.deepcopy)
STATE_VERSION = 3


class EstimatorProtocol:
    """Parameters, repr, tags and pickling; subclasses provide ``_set_fitted(params,
    ordering, output)``, ``_kernels`` (whose ``public()`` gives the fitted parameters),
    ``_output`` (the fitted output distribution) and ``__sklearn_is_fitted__``."""

    # ------------------------------------------------------------ estimator API

    @classmethod
    def _get_param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        """Constructor parameters, as scikit-learn's BaseEstimator does."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        names = self._get_param_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid "
                                 f"parameters are {names}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = []
        for name in self._get_param_names():
            value, default = getattr(self, name), defaults[name].default
            if isinstance(value, np.ndarray) or value is not default and value != default:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (scikit-learn is imported only when it asks).

        A density estimator of binary data: 2-D numeric input, no target,
        values 0/1 only (positive), no NaN.
        """
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=True, allow_nan=False))

    # pickle and copy.deepcopy: constructor parameters, fitted parameters in the
    # public layout and the training record -- never a backend's own arrays
    def __getstate__(self):
        state = {"params": self.get_params(), "format_version": STATE_VERSION}
        if self.__sklearn_is_fitted__():
            state["fitted"] = {k: np.array(v) for k, v in self._kernels.public().items()}
            state["ordering_"] = np.array(self.ordering_)
            state["output_"] = (self._output.name, self._output.state())
            for name in ("history_", "best_epoch_"):
                if hasattr(self, name):
                    state[name] = getattr(self, name)
        return state

    def __setstate__(self, state):
        version = state.get("format_version", 1)
        if version != STATE_VERSION:
            raise ValueError(f"this {type(self).__name__} was pickled by another nadefast (state "
                             f"version {version}, this one reads {STATE_VERSION}); save() it to a "
                             f"model file with that version and load() the file")
        self.__init__(**state["params"])
        if "fitted" in state:
            self._set_fitted(state["fitted"], state["ordering_"], output_from_state(*state["output_"]))
            for name in ("history_", "best_epoch_"):
                if name in state:
                    setattr(self, name, state[name])

    def __sklearn_is_fitted__(self):
        return "_kernels" in self.__dict__
