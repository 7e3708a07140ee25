"""How many threads the compiled core uses: scikit-learn's ``n_jobs`` rules.

OpenMP is optional in the build; this is the one place that knows.
"""

import os

from nadefast.backends._compiled import openmp_enabled, openmp_max_threads
from nadefast._validation import check_int


def cpu_count():
    """CPUs this process may run on (affinity and cgroup-limited where the OS says)."""
    if hasattr(os, "process_cpu_count"):  # Python >= 3.13
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return max(1, count or 1)


def effective_n_threads(n_jobs):
    """Threads for a kernel call given the estimator's `n_jobs`.

    None: OpenMP's default (all available cores, or OMP_NUM_THREADS, or a
    threadpoolctl limit).  A positive int: that many.  A negative int:
    counts back from the number of CPUs, -1 meaning all of them (as in
    scikit-learn).  0 is an error.  Without OpenMP: always 1.  At most
    4 threads per CPU: more only adds contention (results never depend on
    the thread count).
    """
    if n_jobs is not None:
        n_jobs = check_int(n_jobs, "n_jobs")
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 has no meaning; use None, a positive or a negative int")
    if not openmp_enabled():
        return 1
    limit = 4 * cpu_count()
    if n_jobs is None:
        return min(limit, max(1, openmp_max_threads()))
    if n_jobs < 0:
        return max(1, cpu_count() + 1 + n_jobs)
    return min(limit, n_jobs)


class blas_threads:
    """A context: NumPy's BLAS on at most `n` threads (None: as it is), through
    threadpoolctl when it is installed (scikit-learn depends on it), else no change.
    For the NumPy backend's many small products, where a second BLAS thread costs more
    than it gains."""

    def __init__(self, n):
        self.n, self.limits = n, None

    def __enter__(self):
        if self.n is not None:
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:
                return self
            self.limits = threadpool_limits(limits=self.n, user_api="blas")
        return self

    def __exit__(self, *exc):
        if self.limits is not None:
            self.limits.restore_original_limits()
        return False
