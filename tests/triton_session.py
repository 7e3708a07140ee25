"""What the Triton kernel tests (test_triton_kernels.py, test_triton_oa.py) share, imported
first: Triton's CPU interpreter switched on before nadefast's Triton modules load (unless
NADEFAST_TORCH_DEVICE names a GPU), and torch and triton imported -- or the importing test
module skipped with a message, which NADEFAST_REQUIRE_TRITON=1 turns into a failure."""

import os

import pytest

DEVICE = os.environ.get("NADEFAST_TORCH_DEVICE", "cpu")
if DEVICE == "cpu":
    os.environ["TRITON_INTERPRET"] = "1"  # for the whole session: Triton reads it lazily

if os.environ.get("NADEFAST_REQUIRE_TRITON", "") not in ("", "0"):
    import torch  # CI installs the test extra, which holds torch and triton: must import
    import triton  # noqa: F401
else:
    torch = pytest.importorskip("torch", reason='the fused kernels need PyTorch: pip install '
                                "\"nadefast[gpu]\" (or the test extra)")
    pytest.importorskip("triton", reason='the fused kernels need Triton (Linux): pip install '
                        "\"nadefast[gpu]\" (or the test extra); NADEFAST_REQUIRE_TRITON=1 makes "
                        "this skip a failure")

from nadefast.backends import _triton  # noqa: E402

if DEVICE == "cpu" and not _triton.INTERPRETED:
    pytest.fail("nadefast.backends._triton was imported before TRITON_INTERPRET=1 was set: "
                "its kernels are compiled for a GPU", pytrace=False)

# relative tolerances against the compiled core
RTOL = {"float64": 1e-10, "float32": 1e-4}
