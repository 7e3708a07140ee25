"""n_jobs follows scikit-learn's rules; OpenMP's environment is honoured."""

import os
import subprocess
import sys

import pytest

from nadefast.backends import _compiled
from nadefast._parallel import cpu_count, effective_n_threads


def test_n_jobs_rules():
    if not _compiled.openmp_enabled():
        assert effective_n_threads(None) == effective_n_threads(4) == 1
        return
    assert effective_n_threads(None) == _compiled.openmp_max_threads()
    assert effective_n_threads(3) == 3
    assert effective_n_threads(-1) == cpu_count()
    assert effective_n_threads(-2) == max(1, cpu_count() - 1)
    assert effective_n_threads(-1000) == 1
    # absurd requests are capped (4 threads per CPU), never passed on to overflow a C int
    assert effective_n_threads(10**30) == 4 * cpu_count()
    assert effective_n_threads(2**31) == 4 * cpu_count()
    with pytest.raises(ValueError, match="n_jobs == 0"):
        effective_n_threads(0)
    with pytest.raises(TypeError, match="n_jobs"):
        effective_n_threads("2")


@pytest.mark.skipif(not _compiled.openmp_enabled(), reason="built without OpenMP")
def test_omp_num_threads_is_the_default(tmp_path):
    code = "from nadefast._parallel import effective_n_threads; print(effective_n_threads(None))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    env["OMP_NUM_THREADS"] = "3"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.stdout.strip() == "3"


def test_isa_environment_variable(tmp_path):
    code = "from nadefast.backends import _compiled; print(_compiled.active_isa())"
    env = {**os.environ, "NADEFAST_ISA": "baseline"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.stdout.strip() == "baseline", out.stderr
    env["NADEFAST_ISA"] = "no-such-isa"
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=env,
                         capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode != 0 and "NADEFAST_ISA='no-such-isa' is not available" in out.stderr
