"""Shared fixtures.  The tests import the installed nadefast (pytest runs
with --import-mode=importlib, so the source tree is never imported by
accident); the first check below makes sure the compiled core is there."""

import os
import pathlib

import numpy as np
import pytest

import nadefast
import nadefast._core  # noqa: F401  (fails loudly if the extension is not built)

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def shared_data_dir():
    """NADEFAST_DATA, else ../shared/data next to the repository, else None."""
    env = os.environ.get("NADEFAST_DATA")
    candidates = [pathlib.Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    return None


def load_shared(name):
    """A benchmark dataset from the shared data folder, or skip the test."""
    folder = shared_data_dir()
    path = None if folder is None else folder / f"{name}.npz"
    if path is None or not path.exists():
        pytest.skip(f"{name}.npz not found (set NADEFAST_DATA to the folder holding it)")
    from nadefast.datasets import load_packed_npz

    return load_packed_npz(path)


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


# NADEFAST_TEST_BACKENDS=compiled,numpy,torch adds the torch backend (CPU tensors) to the
# behavioural tests; by default tests/test_torch_backend.py alone covers it
BACKENDS = os.environ.get("NADEFAST_TEST_BACKENDS", "compiled,numpy").split(",")


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def backend(request):
    """Each backend the behavioural tests run against (nadefast.backends): the
    compiled core always, the NumPy reference always -- tests that take this
    fixture keep their sizes small enough for the NumPy backend.  Tests about
    the compiled core itself (instruction sets, blocks, threads, raw kernels)
    do not take it."""
    if request.param == "torch":
        pytest.importorskip("torch", reason="the torch backend needs PyTorch (the gpu extra)")
    return request.param


def pytest_report_header(config):
    from nadefast import _core

    return (
        f"nadefast {nadefast.__version__} from {pathlib.Path(nadefast.__file__).parent}; "
        f"kernels: {_core.active_isa()}; OpenMP: {_core.openmp_enabled()} "
        f"(max threads {_core.openmp_max_threads()})"
    )
